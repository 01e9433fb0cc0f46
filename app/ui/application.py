"""The composition root: builds the application's parts and wires them, explicitly, once.

``streamer-inspector`` (no sub-command) lands here: the same endpoint options as ``serve`` apply
to the endpoint the window starts as its child process.
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from app import APP_NAME, APP_TITLE, __version__
from app.config import Settings, new_capture_path
from app.resources import resources_dir
from app.ui.answers import AnswersController
from app.ui.capturefile import CaptureFileController
from app.ui.endpoint import EndpointController
from app.ui.reader import CaptureReader, error_text
from app.ui.receiver import ReceiverProcess
from app.ui.theme import ThemeController
from app.ui.transfers import TransferController
from app.ui.window import MainWindow

APP_ID = "io.github.streamer_inspector.StreamerInspector"
log = logging.getLogger("app.ui")


class ErrorReporter(QObject):
    """Nothing dies silently: an exception nobody caught, on the GUI thread (``sys.excepthook``)
    or on any other thread (``threading.excepthook``), is logged with its traceback and shown
    to the user in the window's message bar, in plain words.

    The hooks may run on any thread; ``error`` is a queued signal to the GUI thread.
    """

    error = Signal(str)

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self._previous: tuple | None = None
        self.where = "the log"  # where the tracebacks go (the log file, when there is one)

    def install(self) -> None:
        if self._previous is None:
            self._previous = (sys.excepthook, threading.excepthook)
            sys.excepthook = self.on_exception
            threading.excepthook = self.on_thread_exception

    def uninstall(self) -> None:
        """Put back the hooks found by :meth:`install` (if nobody replaced ours since)."""
        if self._previous is None:
            return
        if sys.excepthook == self.on_exception:
            sys.excepthook = self._previous[0]
        if threading.excepthook == self.on_thread_exception:
            threading.excepthook = self._previous[1]
        self._previous = None

    def on_exception(self, kind, value, traceback) -> None:
        if issubclass(kind, KeyboardInterrupt):
            return
        log.error("unexpected error", exc_info=(kind, value, traceback))
        self.error.emit(f"Something went wrong: {error_text(value)}. The window carries on; "
                        f"the details are in {self.where}.")

    def on_thread_exception(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "a worker"
        log.error("unexpected error in the thread %s", name,
                  exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
        self.error.emit(f"A background task ({name}) failed: {error_text(args.exc_value)}. "
                        f"The window carries on; the details are in {self.where}.")


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


def log_file() -> Path:
    """The window's log (errors with their tracebacks), private to the user."""
    import platformdirs

    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)) / "window.log"


def start_logging() -> Path | None:
    """Log warnings and errors to stderr and to :func:`log_file` (kept small, mode 0600)."""
    from logging.handlers import RotatingFileHandler

    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    root.addHandler(logging.StreamHandler())
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=1 << 20, backupCount=2, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    return path


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
    # The controllers act on the window's actions; the window is their Qt parent.
    window.endpoint = EndpointController(window, receiver)
    window.capture_file = CaptureFileController(window, reader, window.endpoint)
    window.transfers = TransferController(window, reader, receiver, window.capture_file)
    window.answers = AnswersController(window, receiver)
    # View ▸ Theme, applied before the window is first shown (the setting remembered).
    window.theme = ThemeController(window, window.theme_menu)
    reporter = ErrorReporter(window)
    reporter.error.connect(window.show_error)
    reporter.install()
    window.closed.connect(reporter.uninstall)
    window.error_reporter = reporter
    window.show()
    window.capture_file.open(initial_capture(settings, args))
    return window


def run(argv: list[str] | None) -> int:
    from app.cli.options import build_parser

    args = build_parser().parse_args(argv)
    QGuiApplication.setDesktopFileName(APP_ID)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_TITLE)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_NAME)
    where = start_logging()
    window = build(args, app)
    if where is not None:
        window.error_reporter.where = str(where)
    # Under View ▸ Theme ▸ System, light and dark follow the system: Qt switches the palette;
    # colours we derive from it (marked rows, JSON highlighting) are recomputed on the next
    # paint, style-sheet tones by the theme controller.
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
