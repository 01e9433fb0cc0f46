"""Exposing the window's endpoint publicly (the Expose dialog, the toolbar's public URL and
state) and the Portal dialog's public API Callback: driven on a real window with its real
``serve`` child."""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import QDialogButtonBox

from app.config import Settings
from app.ui.dialogs import ExposeDialog
from app.ui.endpoint import public_state_text
from tests.ui.conftest import WAIT

OWN_URL = "https://inspector.example.com/"


def accept(dialog) -> None:
    dialog._buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def test_expose_dialog_remembers_the_choice_and_refuses_what_cannot_work(qtbot, monkeypatch):
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    settings = Settings(password="secret")
    dialog = ExposeDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.kind() == "cloudflared"  # nothing chosen before: the one without an account
    dialog.select("ngrok")
    accept(dialog)
    assert "ngrok authtoken" in dialog.error_text() and dialog.provider() == ""
    dialog.findChild(type(dialog._token), "ngrok_authtoken").setText("tok-123")
    dialog.findChild(type(dialog._token), "ngrok_domain").setText("me.ngrok.app")
    accept(dialog)
    assert dialog.provider() == "ngrok"
    chosen = dialog.settings()
    assert (chosen.public_provider, chosen.ngrok_authtoken, chosen.ngrok_domain) == (
        "ngrok", "tok-123", "me.ngrok.app")

    dialog = ExposeDialog(chosen)  # opened again: the last choice, ready
    qtbot.addWidget(dialog)
    assert dialog.kind() == "ngrok" and dialog._token.text() == "tok-123"
    dialog.select("ssh")
    dialog._ssh.setText("no host")
    accept(dialog)
    assert "USER@HOST" in dialog.error_text()
    dialog._ssh.setText("me@tunnel.example.com:2222")
    accept(dialog)
    assert dialog.provider() == "ssh:me@tunnel.example.com:2222"
    dialog = ExposeDialog(settings)
    qtbot.addWidget(dialog)
    dialog.select("url")
    dialog._own_url.setText("http://inspector.example.com/")
    accept(dialog)
    assert "https://" in dialog.error_text()
    dialog._own_url.setText(OWN_URL)
    accept(dialog)
    assert (dialog.provider(), dialog.settings().public_url) == (OWN_URL, OWN_URL)

    dialog = ExposeDialog(dataclasses.replace(settings, auth_enabled=False))
    qtbot.addWidget(dialog)
    accept(dialog)
    assert "Basic Auth" in dialog.error_text() and dialog.provider() == ""


def test_public_states_are_plain_lines():
    assert public_state_text({"provider": "ngrok", "state": "starting"}) == \
        "Public: starting (ngrok)…"
    assert public_state_text({"provider": "cloudflared", "state": "failed",
                              "message": "<b>cloudflared</b> is not on the PATH"}) == \
        "Public: failed: <b>cloudflared</b> is not on the PATH"


def test_the_window_exposes_its_endpoint_and_the_portal_shows_what_to_paste(qtbot, window):
    endpoint = window.endpoint
    bar_state = window.public_state_label
    assert not any(a.isVisible() for a in window.public_widgets)
    # A provider that cannot run here (no cloudflared on this machine's PATH) fails in words.
    endpoint.expose("cloudflared")
    qtbot.waitUntil(lambda: window.receiver.public is not None
                    and window.receiver.public["state"] == "failed", timeout=WAIT)
    assert "Public: failed: cloudflared" in bar_state.toolTip()  # whole there; the label
    assert bar_state.text().startswith("Public: failed: ")  # may cut a long reason
    assert not window.public_widgets[1].isVisible()  # no URL field while it failed
    # SSH with the URL the server gives (sent with the expose command): no server here.
    window.settings.public_url = "https://tunnel.example.com/"
    endpoint.expose("ssh:me@127.0.0.1:9")
    qtbot.waitUntil(lambda: window.receiver.public["provider"] == "ssh"
                    and window.receiver.public["state"] == "failed", timeout=WAIT)
    assert "Public: failed: ssh" in bar_state.toolTip()
    # The user's own URL: public at once, in the toolbar with a copy action.
    endpoint.expose(OWN_URL)
    qtbot.waitUntil(lambda: window.public_url_edit.text() == OWN_URL, timeout=WAIT)
    assert bar_state.text() == "Public:"
    assert window.copy_public_url_action.isEnabled() and window.unexpose_action.isEnabled()
    window.copy_public_url_action.trigger()
    from PySide6.QtGui import QGuiApplication
    assert QGuiApplication.clipboard().text() == OWN_URL

    window.settings.path_hint = "/1nce/events/"
    dialog = endpoint.portal_dialog()
    qtbot.addWidget(dialog)
    assert dialog.callback_url == "https://inspector.example.com/1nce/events/"
    assert dialog.findChild(type(dialog._url), "auth_header").text() == \
        window.receiver.endpoint["auth_header"]
    assert not dialog._local_note.isVisibleTo(dialog)
    assert dialog._public_note.isVisibleTo(dialog)
    dialog.close()

    with qtbot.waitSignal(window.receiver.listening, timeout=WAIT):
        endpoint.restart()  # new settings or another capture: the new child is exposed again
    qtbot.waitUntil(lambda: window.public_url_edit.text() == OWN_URL, timeout=WAIT)
    assert window.receiver.public["state"] == "public"

    window.unexpose_action.trigger()
    qtbot.waitUntil(lambda: window.receiver.public["state"] == "stopped", timeout=WAIT)
    assert not any(a.isVisible() for a in window.public_widgets)
    assert endpoint.portal_dialog().callback_url.startswith("https://localhost:")


def test_the_requests_table_names_the_client_a_tunnel_forwarded(qtbot, window):
    """A request that came through a tunnel or proxy shows its original client ("203.0.113.5
    via 127.0.0.1", from the stored forwarding headers), in the table and in the detail; a
    header that holds no IP address is not believed."""
    import subprocess

    from tests.ui.test_window import finish

    endpoint, settings = window.receiver.endpoint, window.settings
    for forwarded in ("203.0.113.5, 10.0.0.1", "<b>not an address</b>"):
        finish(subprocess.Popen(
            ["curl", "-sS", "--cacert", endpoint["ca_file"], "-u",
             f"{settings.user}:{settings.password}", "-H", "Content-Type: application/json",
             "-H", f"X-Forwarded-For: {forwarded}", "--data-binary", "[{}]", endpoint["url"]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    model = window.requests_model
    qtbot.waitUntil(lambda: model.rowCount() == 2 and all(  # rows render lazily
        model.data(model.index(row, 1)) for row in (0, 1)), timeout=WAIT)
    assert model.data(model.index(0, 1)) == "203.0.113.5 via 127.0.0.1"
    assert model.data(model.index(1, 1)) == "127.0.0.1"
