"""The composition root: builds the application's parts and wires them, explicitly, once.

``streamer-inspector`` (no sub-command) lands here: the same endpoint options as ``serve`` apply
to the endpoint the window starts as its child process.
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from app import APP_NAME, APP_TITLE, __version__
from app.config import Settings, new_capture_path
from app.resources import resources_dir
from app.ui.reader import CaptureReader
from app.ui.receiver import ReceiverProcess
from app.ui.window import MainWindow

APP_ID = "io.github.streamer_inspector.StreamerInspector"


def apply_arguments(settings: Settings, args: argparse.Namespace) -> None:
    """Command-line endpoint options override the settings for this run (and are kept)."""
    if args.host:
        settings.host = args.host
    if args.port is not None:
        settings.port = args.port
    if args.cert or args.key:
        settings.tls_mode = "custom"
        settings.cert_file = str(args.cert or "")
        settings.key_file = str(args.key or "")
    elif args.tls:
        settings.tls_mode = args.tls
    if args.user:
        settings.user = args.user
    if args.password:
        settings.password = args.password
    if args.no_auth:
        settings.auth_enabled = False
    if args.max_body:
        settings.max_body = args.max_body


def initial_capture(settings: Settings, args: argparse.Namespace) -> Path:
    if args.capture:
        return Path(args.capture)
    if settings.last_capture and Path(settings.last_capture).is_file():
        return Path(settings.last_capture)
    return new_capture_path()


def build(args: argparse.Namespace, app: QApplication) -> MainWindow:
    """Create the parts, wire them, open the first capture; returns the shown window."""
    settings = Settings.load_or_create()
    apply_arguments(settings, args)
    settings.save()
    icon = resources_dir() / "icons" / "streamer-inspector.svg"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    # The application is the parent of the reader and the receiver: they outlive the window
    # until it has stopped them (every QObject has a Qt parent).
    reader = CaptureReader(app)
    receiver = ReceiverProcess(app)
    window = MainWindow(settings, reader, receiver)
    window.show()
    window.open_capture(initial_capture(settings, args))
    return window


def run(argv: list[str] | None) -> int:
    from app.cli import build_parser

    args = build_parser().parse_args(argv)
    QGuiApplication.setDesktopFileName(APP_ID)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_TITLE)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_NAME)
    window = build(args, app)
    # Light and dark follow the system: Qt switches the palette; colours we derive from it
    # (marked rows, JSON highlighting) are recomputed on the next paint.
    app.styleHints().colorSchemeChanged.connect(window.refresh_colours)
    # Everything made at start-up lives as long as the app: keep it out of the collector's
    # generations so that its pauses stay short while rows stream in.
    QTimer.singleShot(0, gc.freeze)
    # SIGTERM / Ctrl+C close the window like its close button (stopping the receiver). Python
    # runs signal handlers only between bytecodes, so a timer gives it a moment now and then.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: window.close())
    wake = QTimer(app)
    wake.timeout.connect(lambda: None)
    wake.start(250)
    return app.exec()
