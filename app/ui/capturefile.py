"""The capture-file controller: which capture the window shows and the endpoint writes (new,
open, open recent, clear), saving a copy of it, and following it with the reader."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app import APP_TITLE
from app.config import new_capture_path
from app.ui.endpoint import EndpointController
from app.ui.reader import CaptureReader
from app.ui.values import plain

MAX_RECENT = 8


class CaptureFileController(QObject):
    """Switches the window to a capture (the tables follow it, the endpoint writes into it)
    and runs the File menu's capture actions."""

    changed = Signal(str)  # the path of the capture shown now

    def __init__(self, window, reader: CaptureReader, endpoint: EndpointController):
        super().__init__(window)
        self._window = window
        self._reader = reader
        self._endpoint = endpoint
        self.path: Path | None = None
        self._following: Path | None = None
        window.new_action.triggered.connect(self._on_new_action_triggered)
        window.open_action.triggered.connect(self._on_open_action_triggered)
        window.save_action.triggered.connect(self._on_save_action_triggered)
        window.clear_action.triggered.connect(self._on_clear_action_triggered)
        window.recent_menu.aboutToShow.connect(self._on_recent_menu_about_to_show)
        reader.opened.connect(self._on_reader_opened)
        reader.open_failed.connect(self._on_reader_open_failed)
        reader.saved.connect(self._on_reader_saved)
        endpoint.receiver.listening.connect(self._on_receiver_listening)
        endpoint.receiver.folded.connect(self._on_receiver_folded)
        endpoint.capture_needed.connect(self._on_endpoint_capture_needed)

    def open(self, path: Path, *, record: bool = True) -> None:
        """Show ``path`` and let the endpoint write into it (restarting it if it runs)."""
        window = self._window
        path = Path(path).resolve()
        self.path = path
        window.reset_tables()
        window.capture_label.setText(path.name)
        window.capture_label.setToolTip(str(path))
        window.setWindowTitle(f"{path.name} — {APP_TITLE}")
        if record:
            self._remember(path)
        self._following = None
        if path.exists():
            self._follow(path)
        self._endpoint.switch_to(path)
        self.changed.emit(str(path))

    def _follow(self, path: Path) -> None:
        self._following = path
        self._reader.open(path)

    def _remember(self, path: Path) -> None:
        settings = self._window.settings
        recent = [p for p in settings.recent_captures if p != str(path)]
        settings.recent_captures = [str(path), *recent][:MAX_RECENT]
        settings.last_capture = str(path)
        settings.save()

    def _on_receiver_folded(self) -> None:
        self._reader.wake()  # new batches are in the capture: read them now

    def _on_receiver_listening(self, endpoint: dict) -> None:
        # A new capture exists only once the receiver has made it: follow it from now on.
        if self.path is not None and self._following != self.path \
                and str(self.path) == str(Path(endpoint.get("capture", "")).resolve()):
            self._follow(self.path)

    def _on_endpoint_capture_needed(self) -> None:
        self.open(new_capture_path())

    def _on_reader_opened(self, path: str) -> None:
        self._window.statusBar().showMessage(f"Reading {path}", 3000)

    def _on_reader_open_failed(self, path: str, message: str) -> None:
        self._window.message_bar.show_message(f"Capture: {message}",
                                              [("New capture", self._window.new_action.trigger)])

    def _on_reader_saved(self, target: str, error: str) -> None:
        if error:
            box = QMessageBox(QMessageBox.Icon.Warning, "Save capture as",
                              plain(f"Could not save {target}:\n{error}"),
                              QMessageBox.StandardButton.Ok, self._window)
            box.setTextFormat(Qt.TextFormat.PlainText)
            box.exec()
            box.deleteLater()
        else:
            self._window.statusBar().showMessage(f"Saved a copy of the capture to {target}", 5000)

    def _on_new_action_triggered(self) -> None:
        self.open(new_capture_path())

    def _on_clear_action_triggered(self) -> None:
        old = self.path
        self.open(new_capture_path())
        if old is not None:
            self._window.statusBar().showMessage(
                f"Cleared; the previous capture stays in {old}", 6000)

    def _on_open_action_triggered(self) -> None:
        start = str(self.path.parent) if self.path else ""
        path, _ = QFileDialog.getOpenFileName(self._window, "Open capture", start,
                                              "Captures (*.sqlite *.db);;All files (*)")
        if path:
            self.open(Path(path))

    def _on_recent_menu_about_to_show(self) -> None:
        menu = self._window.recent_menu
        recent = self._window.settings.recent_captures
        menu.clear()
        for path in recent:
            action = menu.addAction(path)
            action.setEnabled(Path(path).exists())
            action.triggered.connect(lambda _=False, p=path: self.open(Path(p)))
        if not recent:
            menu.addAction("(none)").setEnabled(False)

    def _on_save_action_triggered(self) -> None:
        if self.path is None:
            return
        target, _ = QFileDialog.getSaveFileName(self._window, "Save capture as",
                                                str(self.path.with_name("copy.sqlite")),
                                                "Captures (*.sqlite)")
        if target:
            self._reader.save_as(Path(target))
