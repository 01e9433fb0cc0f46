"""Exports: one module a format (``jsonlist``, ``ndjson``, ``csvfile``, ``har``, ``postman``),
their registry (``registry``), what they share (``common``), reading a capture into rows
(``rows``), the driver that runs one (``transfer``) and the masks applied to identifiers on the
way out (``masking``)."""
