"""Sending records to an endpoint: the client (``sender``), curl commands (``curl``), the sample
library (``samples``) and the synthetic record generator (``generator``)."""
