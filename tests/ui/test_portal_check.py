"""The Portal dialog's Check button: ``streamer-inspector check --json`` run as a child
against the window's real endpoint, each step shown as it arrives."""

from __future__ import annotations

from app.ui.dialogs import PortalDialog, check_step_line
from tests.ui.conftest import WAIT


def test_portal_check_runs_against_the_local_endpoint_step_by_step(qtbot, window):
    dialog = window.endpoint.portal_dialog()
    qtbot.addWidget(dialog)
    assert dialog.check_button.isVisibleTo(dialog)
    dialog.check_button.click()
    qtbot.waitUntil(lambda: dialog.check_button.isEnabled(), timeout=WAIT)
    text = dialog.check_results.toPlainText()
    lines = text.splitlines()
    assert lines[0].startswith("Checking https://localhost:")
    assert any(line.startswith("PASS  tls") for line in lines), text
    assert any(line.startswith("PASS  post") for line in lines), text
    assert lines[-1] == "All steps passed: the Portal can use this URL.", text


def test_closing_the_dialog_cancels_a_running_check(qtbot, window):
    dialog = window.endpoint.portal_dialog()
    dialog.check_button.click()
    assert dialog.check_running
    run = dialog._check_run
    with qtbot.waitSignal(run.finished, timeout=WAIT):  # it ends (no Qt warning that a
        dialog.reject()  # process was destroyed while running: those fail the tests)
        assert run.parent() is window and not dialog.check_running
        dialog.deleteLater()  # as the window does once the dialog has closed


def test_portal_dialog_without_check_arguments_has_no_check_button(qtbot):
    dialog = PortalDialog("https://localhost:8443/", "Basic eA==", "curl", check_args=None)
    qtbot.addWidget(dialog)
    assert not dialog.check_button.isVisibleTo(dialog)


def test_a_failed_step_shows_its_fix_as_plain_text():
    assert check_step_line({"event": "step", "step": "tls", "ok": False,
                            "message": "self-signed <b>x</b>", "fix": "use Let's Encrypt"}) == (
        "FAIL  tls: self-signed <b>x</b>\n      fix: use Let's Encrypt")
    assert check_step_line({"event": "step", "step": "capture", "ok": None,
                            "message": "not this app's URL"}) == \
        "SKIP  capture: not this app's URL"
