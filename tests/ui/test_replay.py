"""Replay from the window: samples, Copy as cURL, Paste cURL, Send like the Data Streamer."""

from __future__ import annotations

import json
import socket
import subprocess

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from app.capture.schema import open_reader, request_body
from app.replay.samples import find
from app.ui.replay import CurlDialog, SendDialog
from tests.conftest import EVENT_SAMPLE, SAMPLES, folded
from tests.ui.conftest import WAIT


def bash(command: str) -> dict:
    """Run a copied command the way a user pastes it into a shell (on bash's input)."""
    out = subprocess.run(["bash", "-s"], input=command, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def stored_bodies(window) -> list[bytes]:
    db = open_reader(folded(window.capture))  # (acknowledged, then folded right after)
    try:
        ids = [i for (i,) in db.execute("SELECT id FROM request ORDER BY id")]
        return [request_body(db, i) for i in ids]
    finally:
        db.close()


def test_send_a_sample_from_the_menu(qtbot, window):
    action = next(a for a in window.samples_menu.actions() if a.text() == find(
        "attach-sequence").title)
    action.trigger()
    events = window.record_models["event"]
    qtbot.waitUntil(lambda: events.rowCount() == 4, timeout=WAIT)
    qtbot.waitUntil(lambda: "Sample sent: 4 of 4" in window.statusBar().currentMessage(),
                    timeout=WAIT)
    # The sender batches records as the streamer does: each record's exact text in a list.
    (body,) = stored_bodies(window)
    assert json.loads(body) == json.loads(find("attach-sequence").body())


def copied(qtbot, action) -> str:
    clipboard = QGuiApplication.clipboard()
    clipboard.clear()
    action()
    # "curl …", or "printf … | curl …" for a body too long for one argument
    qtbot.waitUntil(lambda: clipboard.text().startswith(("curl ", "printf ")), timeout=WAIT)
    return clipboard.text()


def test_copy_a_sample_as_curl_runs_in_bash(qtbot, window):
    command = copied(qtbot, lambda: window.transfers.copy_sample("usage-record"))
    assert "--data-binary @" in command and "--cacert" in command
    assert bash(command)["counts"] == {"usage": 1}
    assert stored_bodies(window) == [(SAMPLES / "usage-record.json").read_bytes()]


def test_copy_the_generated_full_batch_as_curl(qtbot, window):
    command = copied(qtbot, lambda: window.transfers.copy_sample("full-batch-3000"))
    assert bash(command)["records"] == 3000
    assert stored_bodies(window) == [find("full-batch-3000").body()]


def test_copy_selected_records_and_a_request_as_curl(qtbot, window):
    bash(copied(qtbot, lambda: window.transfers.copy_sample("attach-sequence")))  # its file, as is
    events = window.record_models["event"]
    qtbot.waitUntil(lambda: events.rowCount() == 4, timeout=WAIT)
    window.tabs.setCurrentIndex(1)
    view = window.views["event"]
    for row in (1, 3):
        view.selectionModel().select(events.index(row, 0),
                                     QItemSelectionModel.SelectionFlag.Select
                                     | QItemSelectionModel.SelectionFlag.Rows)
    clipboard = QGuiApplication.clipboard()
    clipboard.clear()
    window.copy_as_curl_action.trigger()
    qtbot.waitUntil(lambda: clipboard.text().startswith("curl"), timeout=WAIT)
    answer = bash(clipboard.text())
    assert answer["records"] == 2
    records = json.loads(find("attach-sequence").body())
    bodies = stored_bodies(window)
    assert json.loads(bodies[-1]) == [records[1], records[3]]
    # A request copies with its exact body, byte for byte.
    window.tabs.setCurrentIndex(0)
    requests = window.requests_model
    qtbot.waitUntil(lambda: requests.rowCount() == 2, timeout=WAIT)
    window.views["requests"].setCurrentIndex(requests.index(0, 0))
    clipboard.clear()
    window.copy_as_curl_action.trigger()
    qtbot.waitUntil(lambda: clipboard.text().startswith("curl"), timeout=WAIT)
    bash(clipboard.text())
    assert stored_bodies(window)[-1] == find("attach-sequence").body()


def test_paste_the_documented_command_and_send_it(qtbot, window):
    text = (SAMPLES / "update-location-event.curl").read_text()
    dialog = CurlDialog(window.receiver.endpoint, window.settings.user,
                        window.settings.password, window, text)
    qtbot.addWidget(dialog)
    assert dialog.method.text() == "POST"
    assert dialog.url.text() == window.receiver.endpoint["url"]
    assert "Content-Type: application/json" in dialog.headers.toPlainText()
    assert "this app's endpoint" in dialog.notes.text()
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.response.toPlainText() != "Sending…", timeout=WAIT)
    qtbot.waitUntil(lambda: dialog.response.toPlainText().startswith("200"), timeout=WAIT)
    qtbot.waitUntil(lambda: window.record_models["event"].rowCount() == 1, timeout=WAIT)
    # Regression (issue 14): the dialog showed the body re-indented and sent the editor's text,
    # so the documented 1,603-byte body was stored as 1,455 bytes. What was pasted is sent.
    assert stored_bodies(window)[0] == EVENT_SAMPLE.read_bytes()
    assert len(stored_bodies(window)[0]) == 1603
    # Once edited, the body is sent as typed.
    edited = '[{"id": 7,\n  "description": "typed"}]'
    dialog.body.setPlainText(edited)
    assert dialog.body_bytes() == edited.encode()
    qtbot.waitUntil(dialog.send_button.isEnabled, timeout=WAIT)  # the first run has ended
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(stored_bodies(window)) == 2, timeout=WAIT)
    assert stored_bodies(window)[1] == edited.encode()
    qtbot.waitUntil(lambda: dialog.send_button.isEnabled(), timeout=WAIT)
    # Bytes the editor cannot show as they are (CR LF, not UTF-8) still go as pasted.
    dialog.command.setPlainText(f"curl {window.receiver.endpoint['url']} -H 'Content-Type: "
                                "application/json' --data-raw $'[{\"a\": \"\\xff\"},\\r\\n {}]'")
    assert dialog.body_bytes() == b'[{"a": "\xff"},\r\n {}]'
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(stored_bodies(window)) == 3, timeout=WAIT)
    assert stored_bodies(window)[2] == b'[{"a": "\xff"},\r\n {}]'
    qtbot.waitUntil(lambda: dialog.send_button.isEnabled(), timeout=WAIT)
    dialog.command.setPlainText("curl --bogus https://x/")
    assert "--bogus" in dialog.problem.text()
    assert not dialog.send_button.isEnabled()
    dialog.close()


def test_send_like_the_streamer_with_progress(qtbot, window):
    dialog = SendDialog(window.receiver.endpoint, window.settings.user,
                        window.settings.password, {}, window)
    qtbot.addWidget(dialog)
    dialog.source.setCurrentIndex(dialog.source.findText("Generated records…"))
    dialog.generate.setValue(7000)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.state.text().startswith("DONE"), timeout=WAIT)
    assert dialog.results.rowCount() == 3
    assert [dialog.results.item(r, 1).text() for r in range(3)] == ["3000", "3000", "1000"]
    assert {dialog.results.item(r, 2).text() for r in range(3)} == {"200"}
    assert dialog.progress.value() == 3
    qtbot.waitUntil(lambda: window._counts["records"] == 7000, timeout=WAIT)
    dialog.close()


def test_send_fails_and_cancels_against_a_dead_backend(qtbot, window):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    dialog = SendDialog(window.receiver.endpoint, window.settings.user,
                        window.settings.password, {}, window)
    qtbot.addWidget(dialog)
    dialog.url.setText(f"http://127.0.0.1:{port}/")
    dialog.retries.setValue(1)
    dialog.backoff.setValue(0.05)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.state.text().startswith("FAILED"), timeout=WAIT)
    assert dialog.results.item(0, 4).text() == "2"  # the first attempt and one retry
    # Cancel during a long back-off.
    qtbot.waitUntil(dialog.start_button.isEnabled, timeout=WAIT)  # the run has ended
    dialog.retries.setValue(10)
    dialog.backoff.setValue(30)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "retrying in" in dialog.state.text(), timeout=WAIT)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.state.text().startswith("CANCELLED"), timeout=WAIT)
    dialog.close()


def test_send_redelivers_refused_records_with_new_ones(qtbot, window):
    """The dialog's redelivery switch sends like the streamer's buffer: a refused batch's
    records come first in the next POST, followed by new ones."""
    window.receiver.send_answers(add="503 for 1")
    qtbot.waitUntil(lambda: bool(window.receiver.answers.get("rules")), timeout=WAIT)
    dialog = SendDialog(window.receiver.endpoint, window.settings.user,
                        window.settings.password, {}, window)
    qtbot.addWidget(dialog)
    dialog.source.setCurrentIndex(dialog.source.findText("Generated records…"))
    dialog.generate.setValue(10)
    dialog.batch.setValue(4)
    dialog.backoff.setValue(0.05)
    dialog.redeliver.setChecked(True)
    assert "--redeliver-unacked" in dialog.arguments()
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.state.text().startswith("DONE"), timeout=WAIT)
    rows = [[dialog.results.item(r, c).text() for c in (1, 2)]
            for r in range(dialog.results.rowCount())]
    assert rows == [["4", "503"], ["8 (4 again)", "200"], ["2", "200"]]
    assert "10 of 10 records acknowledged" in dialog.state.text()
    assert "4 deliveries were redeliveries" in dialog.state.text()
    assert dialog.progress.value() == dialog.progress.maximum() == 3
    dialog.close()


def test_insecure_shows_a_warning(qtbot, window):
    dialog = SendDialog(window.receiver.endpoint, "u", "p", {}, window)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.warning.isVisible()
    dialog.insecure.setChecked(True)
    assert dialog.warning.isVisible()
    assert "--insecure" in dialog.arguments() and "--cacert" not in dialog.arguments()
    dialog.close()


def test_send_dialog_from_the_window_offers_the_filtered_view(qtbot, window):
    window.transfers.send_sample("quota-alerts")
    qtbot.waitUntil(lambda: window.record_models["event"].rowCount() == 2, timeout=WAIT)
    window.tabs.setCurrentIndex(1)
    window.filter_bars["event"].set_text("type_id == 19")
    seen = {}

    def look():
        dialog = QApplication.activeModalWidget()
        seen["sources"] = [dialog.source.itemText(i) for i in range(dialog.source.count())]
        dialog.reject()

    QTimer.singleShot(300, look)
    window.send_action.trigger()
    assert any(s.startswith("The Events table as filtered") for s in seen["sources"])
