"""Streamer Inspector: a local HTTPS endpoint and live inspector for the 1NCE Data Streamer.

The package is split by domain. Everything at this level is Qt-free (records, capture, server,
tls, config, cli) so that the command line and the tests drive it without a display; the desktop
window lives in ``app.ui`` and is the only place that imports PySide6.
"""

__version__ = "0.1.0"
APP_NAME = "streamer-inspector"
APP_TITLE = "Streamer Inspector"
