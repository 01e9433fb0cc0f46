"""Exports: the formats (``formats``), the transfer driver that runs one (``transfer``) and the
masks applied to identifiers on the way out (``masking``)."""
