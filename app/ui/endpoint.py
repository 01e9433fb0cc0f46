"""The endpoint controller: start, stop and restart the receiver, its settings and Portal
dialogs, exposing it publicly, and what the window shows of its state (the state label, the
URL, the public URL and its state)."""

from __future__ import annotations

import socket
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal

from app.ui.dialogs import EndpointDialog, ExposeDialog, PortalDialog
from app.ui.receiver import ReceiverProcess
from app.ui.theme import set_tone_style
from app.ui.values import tooltip_text

# Each state's text and tone (app.ui.theme.TONES: readable on the theme's palette).
_STATE_TEXT = {
    "stopped": ("Stopped", "muted"),
    "starting": ("Starting…", "warning"),
    "listening": ("Listening", "ok"),
    "stopping": ("Stopping…", "warning"),
    "failed": ("Error", "error"),
}
_PUBLIC_TONES = {"starting": "warning", "public": "ok", "failed": "error"}


def public_state_text(event: dict) -> str:
    """The toolbar's plain text for a ``public_url`` event: its state, and why when failed."""
    provider = event.get("provider") or "tunnel"
    state = event.get("state")
    message = str(event.get("message") or "")
    if state == "starting":
        return f"Public: starting ({provider})…"
    if state == "public":
        return "Public:" if provider == "url" else f"Public ({provider}):"
    if state == "failed":
        return f"Public: failed: {message or 'the ' + provider + ' tunnel stopped'}"
    return "Not public"


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
        # The --public value the user asked for (kept across restarts of the receiver, until
        # Stop exposing or Stop endpoint); the public URL once the receiver says it is public.
        self.exposed_provider = ""
        self.public_url = ""
        window.expose_action.triggered.connect(self._on_expose_action_triggered)
        window.unexpose_action.triggered.connect(self._on_unexpose_action_triggered)
        window.copy_public_url_action.triggered.connect(
            self._on_copy_public_url_action_triggered)
        receiver.public_url_changed.connect(self._on_receiver_public_url_changed)
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
        text, tone = _STATE_TEXT.get(state, (state, "muted"))
        window.state_label.setText(f"● {text}")
        set_tone_style(window.state_label, f"color: ${tone}; font-weight: bold;")
        running = state in ("starting", "listening")
        window.start_action.setEnabled(state in ("stopped", "failed"))
        window.stop_action.setEnabled(running)
        if state != "listening":
            window.url_edit.clear()
            self._show_public({"state": "starting", "provider": self._provider_name()}
                              if self.exposed_provider and running else {})
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
        if self.exposed_provider:  # restarted (settings, another capture): expose it again
            self.receiver.send_command(self._expose_command())

    def _on_receiver_failed(self, message: str) -> None:
        window = self._window
        if window.quitting:
            return
        actions: list = [("Restart", self.start),
                         ("Settings…", window.settings_action.trigger)]
        # The receiver's advice is for the command line ("choose another with --port"): a
        # window user gets buttons instead.
        message = message.split(": choose another with --port", 1)[0]
        if "already in use" in message:
            port = free_port()
            actions.insert(0, (f"Use port {port}", lambda: self._use_port(port)))
            message += f": use port {port}, or choose one in Settings"
        elif "not allowed to listen" in message:
            message += ": choose another port in Settings"
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
        self.exposed_provider = ""
        self.receiver.stop()

    # -- exposing publicly ------------------------------------------------------------------

    def expose(self, provider: str) -> None:
        """Ask the receiver for a public URL through ``provider`` (a ``--public`` value); the
        answers arrive as ``public_url`` events. Starts the endpoint when it is not running."""
        self.exposed_provider = provider
        self._show_public({"state": "starting", "provider": self._provider_name()})
        running, settings = self.receiver.options, self._window.settings
        if provider == "ngrok" and self.receiver.state in ("starting", "listening") \
                and running is not None and (
                    getattr(running, "ngrok_authtoken", "") != settings.ngrok_authtoken
                    or getattr(running, "ngrok_domain", "") != settings.ngrok_domain):
            self.restart()  # the child reads the ngrok authtoken and domain when it starts
            return  # (and is exposed again once it listens)
        if self.receiver.state == "listening":
            self.receiver.send_command(self._expose_command())
        elif self.receiver.state in ("stopped", "failed"):
            self.start()

    def _expose_command(self) -> dict:
        command = {"command": "expose", "provider": self.exposed_provider}
        if self.exposed_provider.startswith("ssh:") and self._window.settings.public_url:
            command["url"] = self._window.settings.public_url  # the URL the server gives
        return command

    def unexpose(self) -> None:
        """Close the public URL (the endpoint goes on running locally)."""
        self.exposed_provider = ""
        self.receiver.send_command({"command": "unexpose"})
        self._show_public({})

    def _provider_name(self) -> str:
        provider = self.exposed_provider
        return ("ssh" if provider.startswith("ssh:") else
                "own URL" if provider.startswith("https://") else provider)

    def _on_expose_action_triggered(self) -> None:
        window = self._window
        dialog = ExposeDialog(window.settings, window)
        if dialog.exec():
            window.settings = dialog.settings()
            window.settings.save()  # serve reads the ngrok authtoken and domain from it
            self.expose(dialog.provider())
        dialog.deleteLater()

    def _on_unexpose_action_triggered(self) -> None:
        self.unexpose()

    def _on_copy_public_url_action_triggered(self) -> None:
        if self.public_url:
            self._window.copy_text(self.public_url, "Copied the public URL")

    def _on_receiver_public_url_changed(self, event: dict) -> None:
        if not self.exposed_provider and event.get("state") in ("starting", "public"):
            self.receiver.send_command({"command": "unexpose"})  # asked to stop meanwhile
            return
        self._show_public(event)
        if event.get("state") == "failed" and not self._window.quitting:
            self._window.show_error(f"Public URL: {event.get('message') or 'failed'}")

    def _show_public(self, event: dict) -> None:
        """Show the public URL's state in the toolbar (nothing when not exposed)."""
        window = self._window
        state = event.get("state")
        shown = state in ("starting", "public", "failed")
        self.public_url = str(event.get("url") or "") if state == "public" else ""
        for action in window.public_widgets:
            action.setVisible(shown)
        text = public_state_text(event) if shown else ""
        label = window.public_state_label  # a long reason is cut here; whole in the tooltip
        label.setText(label.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight,
                                                     label.maximumWidth()))
        label.setToolTip(tooltip_text(text))
        tone = _PUBLIC_TONES.get(state, "muted")
        set_tone_style(window.public_state_label, f"color: ${tone}; font-weight: bold;")
        window.public_url_edit.setText(self.public_url)
        window.public_url_edit.setCursorPosition(0)
        window.public_url_edit.setPlaceholderText("waiting for the URL" if state == "starting"
                                                  else "no public URL")
        window.public_widgets[1].setVisible(shown and state != "failed")  # the URL field
        window.copy_public_url_action.setEnabled(bool(self.public_url))
        window.public_widgets[2].setVisible(shown and state != "failed")
        window.unexpose_action.setEnabled(bool(self.exposed_provider))

    def _on_settings_action_triggered(self) -> None:
        window = self._window
        dialog = EndpointDialog(window.settings, window)
        if dialog.exec():
            window.settings = dialog.settings()
            window.settings.save()
            self.restart()
        dialog.deleteLater()

    def _on_portal_action_triggered(self) -> None:
        dialog = self.portal_dialog()
        if dialog is None:
            self._window.statusBar().showMessage("Start the endpoint first.", 4000)
            return
        dialog.exec()
        dialog.deleteLater()

    def portal_dialog(self) -> PortalDialog | None:
        """The 1NCE Portal setup dialog for the running endpoint (None when it is not)."""
        window = self._window
        endpoint = self.receiver.endpoint or {}
        if not endpoint:
            return None
        dialog = PortalDialog(endpoint["url"], endpoint.get("auth_header"), endpoint["curl"],
                              window.settings.path_hint, window,
                              masked=window.mask_action.isChecked(),
                              password=window.settings.password or None,
                              public_url=self.public_url or None,
                              check_args=self.check_args(endpoint))
        dialog.copied.connect(window.show_status)
        return dialog

    def check_args(self, endpoint: dict) -> list[str]:
        """``check`` and its options for the Portal dialog's Check button (the URL is added
        there). Through the public URL the check trusts only the system store, like the
        streamer; locally it trusts the local CA and lets ``localhost`` pass the URL step."""
        args = ["check", "--json"]
        if self._window.settings.auth_enabled and self._window.settings.user:
            args += ["--user", self._window.settings.user]
        if not self.public_url:
            args.append("--allow-local")
            if endpoint.get("ca_file"):
                args += ["--cacert", str(endpoint["ca_file"])]
        return args

    def _on_copy_url_action_triggered(self) -> None:
        if self._window.url_edit.text():
            self._window.copy_text(self._window.url_edit.text(), "Copied the endpoint URL")

    def _on_copy_curl_action_triggered(self) -> None:
        endpoint = self.receiver.endpoint
        if endpoint:
            self._window.copy_text(endpoint["curl"],
                                   "Copied a curl command that posts a sample event")
