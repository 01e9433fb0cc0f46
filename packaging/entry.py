"""Entry point of the frozen application (PyInstaller): the same command line as from source.

``streamer-inspector`` opens the window; ``streamer-inspector serve`` runs the endpoint. The
window starts its receiver as ``<this executable> serve …`` (see ``app.ui.receiver``).
"""

import multiprocessing
import sys

from app.cli.main import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # exports run worker processes (spawn)
    sys.exit(main())
