"""The window edits the endpoint's answer rules live: the Pause acknowledgements switch and the
Answer rules dialog drive the real child receiver; real POSTs (aiohttp, real TLS) get the
answers; the Requests table and the request detail say which rule answered."""

from __future__ import annotations

import asyncio
import base64
import ssl

import aiohttp
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolBar, QToolButton

from app.capture.schema import open_reader
from app.ui.answers import PAUSED_TEXT, _window_left, remaining_text, rule_problem
from app.ui.reader import answered_text, status_text
from tests.conftest import EVENT_SAMPLE, folded
from tests.ui.conftest import WAIT

BODY = EVENT_SAMPLE.read_bytes()


def post(window, body: bytes = BODY, path: str = "hook/") -> int | str:
    """POST ``body`` with aiohttp over real TLS; the status, or the client error's name."""
    endpoint, settings = window.receiver.endpoint, window.settings
    auth = base64.b64encode(f"{settings.user}:{settings.password}".encode()).decode()

    async def run():
        context = ssl.create_default_context(cafile=endpoint["ca_file"])
        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                async with session.post(endpoint["url"] + path, data=body, ssl=context,
                                        allow_redirects=False,
                                        headers={"Authorization": f"Basic {auth}",
                                                 "Content-Type": "application/json"}) as resp:
                    await resp.read()
                    return resp.status
            except aiohttp.ClientError as exc:
                failed = type(exc).__name__
        # A dropped connection's TLS transport closes after the session: let it, before
        # asyncio.run closes the loop (else it is reported unclosed in a later test).
        await asyncio.sleep(0.25)
        return failed

    return asyncio.run(run())


def stored(window) -> list[tuple]:
    """(status, rule, acked) of every request in the capture, in order."""
    db = open_reader(folded(window.capture))
    try:
        return db.execute("SELECT status, rule, acked FROM request ORDER BY id").fetchall()
    finally:
        db.close()


def status_cell(window, row: int) -> str:
    model = window.requests_model
    return model.data(model.index(row, 4))


def wait_status(qtbot, window, row: int, text: str) -> None:
    model = window.requests_model
    qtbot.waitUntil(lambda: model.rowCount() > row and status_cell(window, row) == text,
                    timeout=WAIT)


def wait_answers(qtbot, window, check) -> None:
    qtbot.waitUntil(lambda: bool(window.receiver.answers) and check(window.receiver.answers),
                    timeout=WAIT)


def test_pause_switch_answers_503_and_stores_the_batch_unacknowledged(qtbot, window):
    pause = window.pause_action
    assert pause.isEnabled() and not pause.isChecked()
    assert pause.isCheckable()
    pause.trigger()  # as the toolbar button does
    wait_answers(qtbot, window, lambda event: event["paused"] is True)
    assert pause.isChecked()
    button = window.findChild(type(window.rules_indicator), "pause_button")
    assert button is not None and button.isChecked()
    assert button.text() == "Acks paused"
    assert window.answers.paused_label.isVisible()
    assert window.answers.paused_label.text() == PAUSED_TEXT
    assert post(window) == 503
    wait_status(qtbot, window, 0, "503 · paused")
    tip = window.requests_model.data(window.requests_model.index(0, 4),
                                     Qt.ItemDataRole.ToolTipRole)
    assert "while acknowledgements were paused" in tip
    # A rule added while paused waits; the toolbar still fits 1400 px with a dated capture name.
    assert window.answers.add("503 for 5")
    wait_answers(qtbot, window, lambda event: len(event["rules"]) == 1)
    assert window.rules_indicator.text() == "Rules: 1"
    assert "waiting: acknowledgements are paused" in window.rules_indicator.toolTip()
    qtbot.mouseClick(window.rules_indicator, Qt.MouseButton.LeftButton)  # opens the dialog
    dialog = window.answers.dialog
    assert dialog.isVisible() and dialog.paused_label.isVisible()
    assert dialog.list.topLevelItem(0).text(2) == "5 of 5 left (waits: paused)"
    assert dialog.empty_label.text().startswith("1 rule, waiting")
    window.capture_label.setText("capture-2026-11-30-164500.sqlite")
    window.counter_label.setText("12,345 requests · 123,456 records")
    window.resize(1400, 860)
    bar = window.findChild(QToolBar, "endpointToolbar")
    qtbot.waitUntil(lambda: bar.width() == 1400, timeout=WAIT)
    assert bar.sizeHint().width() < 1400
    more = bar.findChild(QToolButton, "qt_toolbar_ext_button")
    assert more is None or not more.isVisible()
    assert window.capture_label.isVisible() and window.capture_label.text().endswith(".sqlite")
    window.answers.receiver.send_answers(clear=True)
    wait_answers(qtbot, window, lambda event: not event["rules"])
    assert window.rules_indicator.text() == "Rules…"
    pause.trigger()
    wait_answers(qtbot, window, lambda event: event["paused"] is False)
    assert not window.answers.paused_label.isVisible()
    assert post(window) == 200
    wait_status(qtbot, window, 1, "200")
    assert stored(window) == [(503, "pause", 0), (200, None, 1)]
    # The request detail: how it was answered, and that the batch was not acknowledged.
    window.views["requests"].setCurrentIndex(window.requests_model.index(0, 0))
    qtbot.waitUntil(lambda: window.detail_title.text().startswith("Request 1 · 503 · paused"),
                    timeout=WAIT)
    info = window.info_text.toPlainText()
    assert "Answered 503 while acknowledgements were paused" in info
    assert "not acknowledged" in info


def test_a_rule_typed_in_the_dialog_answers_the_next_posts_then_leaves(qtbot, window):
    assert window.rules_indicator.text() == "Rules…"
    window.rules_action.trigger()
    dialog = window.answers.dialog
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    assert not dialog.add_button.isEnabled()  # nothing typed yet
    qtbot.keyClicks(dialog.edit, "503 for 2")
    assert dialog.add_button.isEnabled() and not dialog.error_label.isVisible()
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.rule_texts() == ["503 for 2"], timeout=WAIT)
    assert dialog.edit.text() == ""  # taken: the line is free for the next one
    item = dialog.list.topLevelItem(0)
    assert item.text(1) == "503 Service Unavailable for the next 2 POSTs"
    assert item.text(2) == "2 of 2 left"
    assert window.rules_indicator.text() == "Rules: 1"

    assert post(window) == 503
    qtbot.waitUntil(lambda: dialog.list.topLevelItemCount() == 1
                    and dialog.list.topLevelItem(0).text(2) == "1 of 2 left", timeout=WAIT)
    assert post(window) == 503
    qtbot.waitUntil(lambda: dialog.list.topLevelItemCount() == 0, timeout=WAIT)  # used up
    assert window.rules_indicator.text() == "Rules…"
    assert post(window) == 200
    wait_status(qtbot, window, 2, "200")
    assert status_cell(window, 0) == "503 · rule"
    tip = window.requests_model.data(window.requests_model.index(1, 4),
                                     Qt.ItemDataRole.ToolTipRole)
    assert "503 for 2" in tip
    assert stored(window) == [(503, "503 for 2", 0), (503, "503 for 2", 0), (200, None, 1)]
    window.views["requests"].setCurrentIndex(window.requests_model.index(1, 0))
    qtbot.waitUntil(lambda: window.detail_title.text().startswith("Request 2 · 503 · rule"),
                    timeout=WAIT)
    assert "Answered 503 by the answer rule “503 for 2”" in window.info_text.toPlainText()
    assert "not acknowledged" in window.info_text.toPlainText()

    # A drop: no HTTP answer at all; the row says so.
    dialog.preset_buttons["drop for 1"].click()
    assert dialog.edit.text() == "drop for 1"
    qtbot.keyClick(dialog.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.rule_texts() == ["drop for 1"], timeout=WAIT)
    assert dialog.isVisible()  # Enter added the rule and did nothing else
    assert isinstance(post(window), str)  # a client error, not a status
    wait_status(qtbot, window, 3, "no answer (dropped)")
    tip = window.requests_model.data(window.requests_model.index(3, 4),
                                     Qt.ItemDataRole.ToolTipRole)
    assert "drop for 1" in tip and "closed without an answer" in tip
    assert stored(window)[3] == (0, "drop for 1", 0)


def test_invalid_text_is_explained_and_cannot_be_added(qtbot, window):
    dialog = window.answers.show_dialog()
    qtbot.keyClicks(dialog.edit, "503 for zero")
    assert dialog.error_label.isVisible()
    assert dialog.error_label.text() == rule_problem("503 for zero")
    assert "'zero' is not a duration" in dialog.error_label.text()
    assert not dialog.add_button.isEnabled()
    qtbot.keyClick(dialog.edit, Qt.Key.Key_Return)  # refused here: nothing is sent
    assert dialog.isVisible()
    dialog.edit.clear()
    qtbot.keyClicks(dialog.edit, "302 retry-after")
    assert "needs a number of seconds" in dialog.error_label.text()
    assert not dialog.add_button.isEnabled()
    dialog.edit.clear()
    assert not dialog.error_label.isVisible() and not dialog.add_button.isEnabled()
    # Remove one rule, then Clear all.
    for text in ("500 10%", "429 retry-after 30 for 3", "302 for 1"):
        dialog.preset_buttons[text].click()
        qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda t=text: t in dialog.rule_texts(), timeout=WAIT)
    assert dialog.rule_texts() == ["500 10%", "429 retry-after 30 for 3", "302 for 1"]
    assert window.rules_indicator.text() == "Rules: 3"
    assert window.receiver.answers.get("error") is None
    dialog.list.topLevelItem(1).setSelected(True)
    assert dialog.remove_button.isEnabled()
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.rule_texts() == ["500 10%", "302 for 1"], timeout=WAIT)
    # A refused change (the rule went meanwhile) is said in words; the line stays usable.
    dialog.remove_requested.emit(999)
    qtbot.waitUntil(lambda: dialog.error_label.isVisible(), timeout=WAIT)
    assert dialog.error_label.text() == ("The endpoint refused: there is no answer rule 999 "
                                         "(it may have been used up)")
    qtbot.keyClicks(dialog.edit, "hang on /slow/*")
    assert dialog.add_button.isEnabled() and not dialog.error_label.isVisible()
    dialog.edit.clear()
    # A time window counts down in the dialog between the receiver's events.
    qtbot.keyClicks(dialog.edit, "503 for 5m")
    qtbot.keyClick(dialog.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "503 for 5m" in dialog.rule_texts(), timeout=WAIT)
    assert dialog.rule_texts() == ["500 10%", "302 for 1", "503 for 5m"]  # no Clear all
    item = dialog.list.topLevelItem(2)
    assert item.text(2) in ("5m left", "4m 59s left")
    qtbot.waitUntil(lambda: item.text(2) == "4m 58s left", timeout=5000)
    qtbot.mouseClick(dialog.clear_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.rule_texts() == [], timeout=WAIT)
    assert not dialog.clear_button.isEnabled()


def test_a_restarted_receiver_gets_the_rules_and_the_switch_again(qtbot, window):
    dialog = window.answers.show_dialog()
    qtbot.keyClicks(dialog.edit, "503 for 3")
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.rule_texts() == ["503 for 3"], timeout=WAIT)
    assert post(window) == 503  # one of 3 used: 2 are left
    window.pause_action.trigger()
    wait_answers(qtbot, window, lambda event: event["paused"] is True)
    old = window.receiver.endpoint["url"]
    window.settings.port = 0
    window.endpoint.restart()  # as after a change of port in the settings
    qtbot.waitUntil(lambda: window.receiver.state == "listening"
                    and window.receiver.endpoint["url"] != old, timeout=WAIT)
    wait_answers(qtbot, window, lambda event: event["paused"] and [
        rule["text"] for rule in event["rules"]] == ["503 for 2"])
    assert window.pause_action.isChecked()
    assert dialog.rule_texts() == ["503 for 2"]
    assert post(window) == 503  # paused
    window.pause_action.trigger()
    wait_answers(qtbot, window, lambda event: not event["paused"])
    assert [post(window) for _ in range(3)] == [503, 503, 200]


def test_the_switch_is_off_and_disabled_while_no_receiver_runs(qtbot, window):
    window.pause_action.trigger()
    wait_answers(qtbot, window, lambda event: event["paused"] is True)
    window.stop_action.trigger()
    qtbot.waitUntil(lambda: window.receiver.state == "stopped", timeout=WAIT)
    assert not window.pause_action.isEnabled()
    assert not window.pause_action.isChecked()
    assert not window.answers.paused_label.isVisible()
    dialog = window.answers.show_dialog()
    assert "not running" in dialog.empty_label.text()
    qtbot.keyClicks(dialog.edit, "503")
    assert not dialog.add_button.isEnabled()


@pytest.mark.parametrize(("event", "text"), [
    ({"text": "503 for 2", "used": 1}, "503 for 1"),
    ({"text": "500 10% for 4", "used": 3}, "500 10% for 1"),
    ({"text": "503 for 5m", "used": 2}, "503 for 5m"),
    ({"text": "drop", "used": 9}, "drop"),
])
def test_a_counted_rule_is_given_again_with_what_was_left(event, text):
    assert remaining_text(event) == text


@pytest.mark.parametrize(("status", "rule", "text"), [
    (200, None, "200"), (503, "503 for 2", "503 · rule"), (503, "pause", "503 · paused"),
    (0, "drop for 1", "no answer (dropped)"), (0, "hang on /slow/*", "no answer (hang)"),
    (400, None, "400"),
])
def test_the_status_cell_names_what_answered(status, rule, text):
    assert status_text(status, rule) == text


def test_the_answer_line_of_a_hang_and_of_an_older_capture():
    row = {"status": 0, "rule": "hang for 1", "method": "POST", "record_count": 2, "acked": 0,
           "reason": "answer rule 'hang for 1': no answer, the connection was held open until "
                     "the client gave up (at most 10m); the batch was stored with 2 records, "
                     "not acknowledged"}
    assert answered_text(row) == (
        "No answer (hang) by the answer rule “hang for 1” · not acknowledged: the Data "
        "Streamer sends these records again\nNo answer, the connection was held open until the "
        "client gave up (at most 10m); the batch was stored with 2 records, not acknowledged")
    # A capture older than format 6 has no rule or acked: a 200 acknowledged its batch.
    older = {"status": 200, "method": "POST", "record_count": 1, "reason": None}
    assert answered_text(older) == "Answered 200 · acknowledged"
    assert answered_text({**older, "status": 400, "reason": "invalid JSON"}) == (
        "Answered 400: invalid JSON · not acknowledged: the Data Streamer sends these records "
        "again")


@pytest.mark.parametrize(("left", "seconds"), [
    ("4m 10s left", 250.0), ("300ms left", 0.3), ("1h left", 3600.0), ("1 of 2 left", None),
    ("until removed", None), ("2h 5m left", 7500.0),
])
def test_a_time_window_is_read_from_what_is_left(left, seconds):
    assert _window_left(left) == seconds
