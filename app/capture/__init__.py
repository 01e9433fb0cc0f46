"""The capture file: its schema and connections (``schema``), the only writer (``writer``),
following it while it grows (``follow``), imports (``importer``) and its summary."""
