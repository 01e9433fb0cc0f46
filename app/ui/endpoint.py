"""The endpoint controller: start, stop and restart the receiver, its settings and Portal
dialogs, and what the window shows of its state (the state label, the URL)."""

from __future__ import annotations

import socket
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.ui.dialogs import EndpointDialog, PortalDialog
from app.ui.receiver import ReceiverProcess

_STATE_TEXT = {
    "stopped": ("Stopped", "#8b949e"),
    "starting": ("Starting…", "#d29922"),
    "listening": ("Listening", "#2da44e"),
    "stopping": ("Stopping…", "#d29922"),
    "failed": ("Error", "#cf222e"),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EndpointController(QObject):
    """Drives the :class:`~app.ui.receiver.ReceiverProcess` from the window's Endpoint actions
    and shows its state; the receiver writes into :attr:`capture`, which the capture-file
    controller sets with :meth:`switch_to`."""

    capture_needed = Signal()  # start was asked for before any capture was chosen

    def __init__(self, window, receiver: ReceiverProcess):
        super().__init__(window)
        self._window = window
        self.receiver = receiver
        self.capture: Path | None = None
        self._pending_capture: Path | None = None
        window.start_action.triggered.connect(self._on_start_action_triggered)
        window.stop_action.triggered.connect(self._on_stop_action_triggered)
        window.settings_action.triggered.connect(self._on_settings_action_triggered)
        window.portal_action.triggered.connect(self._on_portal_action_triggered)
        window.copy_url_action.triggered.connect(self._on_copy_url_action_triggered)
        window.copy_curl_action.triggered.connect(self._on_copy_curl_action_triggered)
        receiver.state_changed.connect(self._on_receiver_state_changed)
        receiver.listening.connect(self._on_receiver_listening)
        receiver.failed.connect(self._on_receiver_failed)
        receiver.notice.connect(self._on_receiver_notice)
        self._on_receiver_state_changed(receiver.state)

    def switch_to(self, path: Path) -> None:
        """Let the endpoint write into ``path`` (restarting it if it runs)."""
        self.capture = path
        if self.receiver.state in ("starting", "listening", "stopping"):
            self._pending_capture = path
            if self.receiver.state != "stopping":
                self.receiver.stop()
        else:
            self.start()

    def start(self) -> None:
        if self.capture is None:
            self.capture_needed.emit()
            return
        if self.receiver.state in ("starting", "listening", "stopping"):
            return
        self._window.message_bar.hide()
        self.receiver.start(self._window.settings.serve_options(self.capture))

    def restart(self) -> None:
        if self.receiver.state in ("starting", "listening"):
            self._pending_capture = self.capture
            self.receiver.stop()
        else:
            self.start()

    def _on_receiver_state_changed(self, state: str) -> None:
        window = self._window
        text, colour = _STATE_TEXT.get(state, (state, "#8b949e"))
        window.state_label.setText(f"● {text}")
        window.state_label.setStyleSheet(f"color: {colour}; font-weight: bold;")
        running = state in ("starting", "listening")
        window.start_action.setEnabled(state in ("stopped", "failed"))
        window.stop_action.setEnabled(running)
        if state != "listening":
            window.url_edit.clear()
        if state == "stopped" and self._pending_capture is not None and not window.quitting:
            self._pending_capture = None
            self.start()

    def _on_receiver_listening(self, endpoint: dict) -> None:
        window = self._window
        window.url_edit.setText(endpoint["url"])
        hint = (f"Nothing has arrived yet.\n\nPost to {endpoint['url']} (any path), or copy a "
                f"ready-made curl command: Endpoint ▸ Copy curl test command (Ctrl+Shift+C).")
        for view in window.views.values():
            view.set_empty_hint(hint)
        window.url_edit.setCursorPosition(0)
        window.message_bar.hide()
        window.statusBar().showMessage(f"Listening on {endpoint['url']}", 5000)

    def _on_receiver_failed(self, message: str) -> None:
        window = self._window
        if window.quitting:
            return
        actions: list = [("Restart", self.start),
                         ("Settings…", window.settings_action.trigger)]
        if "already in use" in message:
            port = free_port()
            actions.insert(0, (f"Use port {port}", lambda: self._use_port(port)))
        if "being written by another" in message:
            message += ". Following it read-only; new data appears as the other receiver writes."
            actions = [("New capture", window.new_action.trigger)]
        window.message_bar.show_message(f"Endpoint: {message[:1].upper()}{message[1:]}", actions)

    def _on_receiver_notice(self, message: str) -> None:
        self._window.show_notice(message)

    def _use_port(self, port: int) -> None:
        self._window.settings.port = port
        self._window.settings.save()
        self.start()

    def _on_start_action_triggered(self) -> None:
        self.start()

    def _on_stop_action_triggered(self) -> None:
        self._pending_capture = None
        self.receiver.stop()

    def _on_settings_action_triggered(self) -> None:
        window = self._window
        dialog = EndpointDialog(window.settings, window)
        if dialog.exec():
            window.settings = dialog.settings()
            window.settings.save()
            self.restart()
        dialog.deleteLater()

    def _on_portal_action_triggered(self) -> None:
        window = self._window
        endpoint = self.receiver.endpoint or {}
        if not endpoint:
            window.statusBar().showMessage("Start the endpoint first.", 4000)
            return
        dialog = PortalDialog(endpoint["url"], endpoint.get("auth_header"), endpoint["curl"],
                              window.settings.path_hint, window,
                              masked=window.mask_action.isChecked(),
                              password=window.settings.password or None)
        dialog.copied.connect(window.show_status)
        dialog.exec()
        dialog.deleteLater()

    def _on_copy_url_action_triggered(self) -> None:
        if self._window.url_edit.text():
            self._window.copy_text(self._window.url_edit.text(), "Copied the endpoint URL")

    def _on_copy_curl_action_triggered(self) -> None:
        endpoint = self.receiver.endpoint
        if endpoint:
            self._window.copy_text(endpoint["curl"],
                                   "Copied a curl command that posts a sample event")
