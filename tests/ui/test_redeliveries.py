"""The redelivery ledger in the window (issue 13): the "Seen" column, unacknowledged records,
ledger filters that wait for the ledger, the record's ledger facts and the Redeliveries view.

The capture is written here with the real :class:`CaptureWriter` (a Responder answers some
batches 503 under a rule, as the receiver's answer rules do) and its ledger is filled with
``index_pending``, as the receiver does while idle: each step is then visible in the window
exactly when the test makes it. The window's own receiver cannot write into a capture held
by this writer (it says so in the message bar), and its tables follow the file.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from app.capture.answers import json_answer
from app.capture.writer import CaptureWriter, Incoming, Stored
from app.cli.options import build_parser
from app.records.cells import zone_name
from app.records.columns import RECORD_TABS
from app.ui.application import build
from app.ui.reader import TIMES
from app.ui.redeliveries import EMPTY_HINT
from tests.hostile import hostile_body
from tests.ui.conftest import WAIT

EVENTS = next(t for t in RECORD_TABS if t.key == "event").view_columns
SEEN = [c.name for c in EVENTS].index("seen")
TYPE = [c.name for c in EVENTS].index("type")


def event(number: int, text: str = "Update location") -> dict:
    return {"id": number, "timestamp": "2026-11-30T10:00:00Z",
            "event_type": {"id": 1, "description": text},
            "event_severity": {"id": 0, "description": "INFO"}, "alert": False,
            "sim": {"iccid": "8988228066600000001"}}


class Capture:
    """A capture this test writes, batch by batch, like the receiver would."""

    def __init__(self, path):
        self.writer = CaptureWriter(path)

    def post(self, records: list[dict], status: int = 200, rule: str | None = None) -> Stored:
        def respond(stored: Stored):
            if status != 200:
                stored.status, stored.reason, stored.rule = status, f"rule {rule}", rule
                stored.acked = False
            return json_answer({"status": stored.status})

        body = json.dumps(records).encode()
        return self.writer.store(Incoming("POST", "/hook", body,
                                          content_type="application/json"), respond=respond)

    def fill(self) -> None:
        """What the receiver does while idle: the filter index, then the ledger."""
        while self.writer.index_pending(500):
            pass

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
def capture(tmp_path):
    cap = Capture(tmp_path / "held.sqlite")
    yield cap
    cap.close()


@pytest.fixture
def shown(qtbot, capture):
    """A window showing the capture the test writes."""
    args = build_parser().parse_args(["--port", "0", "--capture", str(capture.writer.path)])
    win = build(args, QApplication.instance())
    qtbot.addWidget(win)
    win.failures = []  # what the reader said failed (rendering, filtering, the ledger)
    win.reader.job_failed.connect(win.failures.append)
    yield win
    if win.isVisible():
        win.close()
    assert win.failures == []


def cell(model, row: int, column: int, role=Qt.ItemDataRole.DisplayRole):
    return model.data(model.index(row, column), role)


def times(count: int) -> str:
    """A "Seen" cell's text: 3 arrivals."""
    return f"{count}{TIMES}"


def tip(model, row: int, column: int) -> str:
    """A cell's tooltip as the user reads it (tooltips are escaped plain text)."""
    text = model.data(model.index(row, column), Qt.ItemDataRole.ToolTipRole) or ""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def test_seen_counts_arrivals_and_updates_live(qtbot, capture, shown, qtmodeltester):
    events = shown.record_models["event"]
    shown.tabs.setCurrentIndex(1)
    capture.post([event(1), event(2)], 503, "503 for 2")
    qtbot.waitUntil(lambda: events.rowCount() == 2, timeout=WAIT)
    # Not in the ledger yet: the cell says it is coming.
    qtbot.waitUntil(lambda: cell(events, 0, SEEN) == "…", timeout=WAIT)
    capture.fill()
    qtbot.waitUntil(lambda: cell(events, 0, SEEN) == times(1), timeout=WAIT)
    # Unacknowledged: italic, muted, a marker in the "Seen" cell, and said why.
    font = cell(events, 0, TYPE, Qt.ItemDataRole.FontRole)
    assert isinstance(font, QFont) and font.italic()
    assert cell(events, 0, SEEN, Qt.ItemDataRole.DecorationRole) is not None
    assert cell(events, 0, TYPE, Qt.ItemDataRole.ForegroundRole) is not None
    assert "503, rule '503 for 2'" in tip(events, 0, TYPE)
    # A view passes roles as ints (data() tells them apart first, for the paint's sake).
    assert cell(events, 0, TYPE, int(Qt.ItemDataRole.FontRole)) == font
    assert cell(events, 0, SEEN, int(Qt.ItemDataRole.DisplayRole)) == times(1)
    assert cell(events, 0, TYPE, Qt.ItemDataRole.TextAlignmentRole) is None

    capture.post([event(1), event(2)], 503, "503 for 2")
    capture.fill()
    capture.post([event(1), event(2), event(3)])
    capture.fill()
    qtbot.waitUntil(lambda: events.rowCount() == 7, timeout=WAIT)
    # The first arrival's cell changed after it was shown: 3 times everywhere, live.
    qtbot.waitUntil(lambda: [cell(events, r, SEEN) for r in range(7)]
                    == [times(3)] * 6 + [times(1)], timeout=WAIT)
    seen_tip = tip(events, 4, SEEN)
    assert seen_tip.splitlines()[:2] == [
        "Arrival 3 of 3", "First in request 1 (not acknowledged: 503, rule '503 for 2')"]
    assert "after the previous arrival" in seen_tip
    # The acknowledged arrivals look like any record.
    assert cell(events, 4, TYPE, Qt.ItemDataRole.FontRole) is None
    assert cell(events, 4, SEEN, Qt.ItemDataRole.DecorationRole) is None
    qtmodeltester.check(events, force_py=True)


def test_a_conflict_is_red_and_says_which_fields(qtbot, capture, shown):
    events = shown.record_models["event"]
    shown.tabs.setCurrentIndex(1)
    capture.post([event(7)], 503, "503 for 1")
    capture.post([event(7, "Purge location")])
    capture.fill()
    qtbot.waitUntil(lambda: events.rowCount() == 2
                    and cell(events, 1, SEEN) == times(2) + " ≠", timeout=WAIT)
    assert cell(events, 1, SEEN, Qt.ItemDataRole.ForegroundRole) is not None
    assert "CONFLICT" in tip(events, 1, SEEN)
    assert cell(events, 0, SEEN) == times(2)  # the first arrival is no conflict itself
    shown.views["event"].setCurrentIndex(events.index(1, 0))
    qtbot.waitUntil(lambda: shown.ledger_label.isVisible(), timeout=WAIT)
    text = shown.ledger_label.text()
    assert "Arrival 2 of 2" in text and "Conflict" in text
    assert "event_type.description" in text
    assert 'href="record:1"' in text
    # The link selects the first arrival; one the table's filter hides is said so.
    shown.ledger_label.linkActivated.emit("record:1")
    assert shown.views["event"].currentIndex().row() == 0
    shown.filter_bars["event"].set_text("conflict")
    qtbot.waitUntil(lambda: events.rowCount() == 1, timeout=WAIT)
    shown.ledger_label.linkActivated.emit("record:1")
    assert shown.statusBar().currentMessage() == "Record 1 is not in its table as filtered."


def test_ledger_filters_wait_for_the_ledger_and_follow_it(qtbot, capture, shown,
                                                          qtmodeltester):
    events = shown.record_models["event"]
    bar = shown.filter_bars["event"]
    bar.set_text("seen > 1")
    capture.post([event(1), event(2)], 503, "503 for 1")
    qtbot.waitUntil(lambda: shown._totals.get("event") == 2, timeout=WAIT)
    assert events.rowCount() == 0
    capture.post([event(1), event(4)])  # 1 comes again: not covered yet, so not judged yet
    qtbot.waitUntil(lambda: shown._totals.get("event") == 4, timeout=WAIT)
    assert events.rowCount() == 0
    capture.fill()
    # Both arrivals of 1 pass now, the first one though it was judged (seen 1) before.
    qtbot.waitUntil(lambda: [events.id_at(r) for r in range(events.rowCount())] == [1, 3],
                    timeout=WAIT)
    bar.set_text("unacknowledged")
    qtbot.waitUntil(lambda: events.rowCount() == 2
                    and [events.id_at(r) for r in range(2)] == [1, 2], timeout=WAIT)
    bar.set_text("redelivered")
    qtbot.waitUntil(lambda: [events.id_at(r) for r in range(events.rowCount())] == [3],
                    timeout=WAIT)
    capture.post([event(2)])
    qtbot.waitUntil(lambda: shown._totals.get("event") == 5, timeout=WAIT)
    assert events.rowCount() == 1  # held back until the ledger covers it
    capture.fill()
    qtbot.waitUntil(lambda: [events.id_at(r) for r in range(events.rowCount())] == [3, 5],
                    timeout=WAIT)
    qtmodeltester.check(events, force_py=True)


def test_redeliveries_view_is_live(qtbot, capture, shown, qtmodeltester):
    view = shown.redeliveries
    shown.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.summary.text() == "No batch was left unacknowledged.",
                    timeout=WAIT)
    assert view.table.hint == EMPTY_HINT
    capture.post([event(1), event(2)], 503, "503 for 2")
    capture.fill()
    qtbot.waitUntil(lambda: view.model.rowCount() == 1, timeout=WAIT)
    assert cell(view.model, 0, 2) == "503 · '503 for 2'"
    assert tip(view.model, 0, 2) == "Request 1 was not acknowledged: 503, rule '503 for 2'"
    assert cell(view.model, 0, 4) == "0"
    assert cell(view.model, 0, 9) == "2"
    # Received follows View > Times in local time, the zone in its header, like every table
    header = view.model.headerData(1, Qt.Orientation.Horizontal)
    assert header == "Received (UTC)"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", cell(view.model, 0, 1))
    utc = cell(view.model, 0, 1)
    shown.local_times_action.trigger()
    try:
        assert view.model.headerData(1, Qt.Orientation.Horizontal) == (
            f"Received ({zone_name(True)})")
        local = dt.datetime.strptime(utc, "%Y-%m-%d %H:%M:%S.%f").replace(
            tzinfo=dt.UTC).astimezone()
        assert cell(view.model, 0, 1) == local.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    finally:
        shown.local_times_action.trigger()
    assert cell(view.model, 0, 1) == utc
    capture.post([event(1), event(2), event(3)])
    capture.fill()
    qtbot.waitUntil(lambda: cell(view.model, 0, 4) == "2", timeout=WAIT)
    assert cell(view.model, 0, 5) == "2"
    assert cell(view.model, 0, 9) == "0"
    assert "2 redelivered, 0 not yet" in view.summary.text()
    assert "delay median" in view.summary.text()
    qtmodeltester.check(view.model, force_py=True)
    # Double-click: the request in the Requests table.
    qtbot.waitUntil(lambda: shown.requests_model.rowCount() == 2, timeout=WAIT)
    view.table.doubleClicked.emit(view.model.index(0, 0))
    assert shown.tabs.currentIndex() == 0
    assert shown.views["requests"].currentIndex().row() == 0
    # Show its records: the request's records selected in their table.
    shown.tabs.setCurrentWidget(view)
    view.table.selectionModel().clearCurrentIndex()
    with qtbot.waitSignal(view.request_selected, timeout=WAIT) as selected:
        view.table.setCurrentIndex(view.model.index(0, 0))
    assert selected.args == [1]
    qtbot.waitUntil(lambda: shown.detail_title.text().startswith("Request 1 · 503"),
                    timeout=WAIT)
    qtbot.mouseClick(view.records_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: shown.tabs.currentIndex() == 1, timeout=WAIT)
    selection = shown.views["event"].selectionModel()
    assert [selection.isRowSelected(r) for r in range(5)] == [True, True, False, False, False]


def test_hostile_records_render_select_and_filter_with_the_seen_column(qtbot, capture,
                                                                       shown):
    events = shown.record_models["event"]
    body = hostile_body()
    capture.writer.store(Incoming("POST", "/hook", body, content_type="application/json"))
    capture.writer.store(Incoming("POST", "/hook", body, content_type="application/json"))
    capture.fill()
    other = shown.record_models["other"]
    # Both posts are in (the tables get a request's records in the same poll as the request).
    qtbot.waitUntil(lambda: shown.requests_model.rowCount() == 2, timeout=WAIT)
    assert other.rowCount() > 0 and events.rowCount() > 0
    for model in shown.record_models.values():
        for row in range(model.rowCount()):
            model.data(model.index(row, 0))
    seen_other = [c.name for c in next(t for t in RECORD_TABS
                                       if t.key == "other").view_columns].index("seen")
    qtbot.waitUntil(lambda: all(cell(other, r, seen_other) not in (None, "…")
                                for r in range(other.rowCount())), timeout=WAIT)
    texts_before = [cell(other, r, seen_other) for r in range(other.rowCount())]
    assert times(2) in texts_before
    shown.tabs.setCurrentIndex(4)
    for row in range(other.rowCount()):  # every one selected, its detail asked for
        shown.views["other"].setCurrentIndex(other.index(row, seen_other))
    # The last one (of the second post) and its ledger facts are shown.
    qtbot.waitUntil(lambda: "Arrival 2 of 2" in shown.ledger_label.text()
                    or "No id" in shown.ledger_label.text(), timeout=WAIT)
    total = other.rowCount()
    shown.filter_bars["other"].set_text("seen == 2")
    qtbot.waitUntil(lambda: shown._filtered.get("other") and other.rowCount() == sum(
        1 for text in texts_before if text == times(2)), timeout=WAIT)
    assert other.rowCount() <= total
    assert shown.failures == []  # every hostile record rendered, its ledger facts too


def test_filter_on_a_seen_value(qtbot, capture, shown):
    events = shown.record_models["event"]
    capture.post([event(1), event(2)], 503, "503 for 1")
    capture.post([event(1)])
    capture.fill()
    shown.tabs.setCurrentIndex(1)
    view = shown.views["event"]
    qtbot.waitUntil(lambda: events.rowCount() == 3 and cell(events, 0, SEEN) == times(2),
                    timeout=WAIT)
    menu = shown.context_menu(view, events.index(0, SEEN))
    action = next(a for a in menu.actions() if a.text() == "Filter on this value (seen)")
    action.trigger()
    menu.deleteLater()
    bar = shown.filter_bars["event"]
    qtbot.waitUntil(lambda: bar.text() == "seen == 2", timeout=WAIT)
    qtbot.waitUntil(lambda: [events.id_at(r) for r in range(events.rowCount())] == [1, 3],
                    timeout=WAIT)


def test_answers_in_words():
    from app.capture.rules import PAUSE_RULE
    from app.ui.reader import answer_text, duration_text

    assert answer_text(503, PAUSE_RULE, False) == ("not acknowledged: 503, acknowledgements "
                                                   "paused")
    assert answer_text(0, "drop for 1", False) == "not acknowledged: no answer, rule 'drop for 1'"
    assert answer_text(200, None, True) == "acknowledged"
    assert [duration_text(s) for s in (0.04, 12.345, 200, 7500)] == [
        "0.0 s", "12.3 s", "3 min 20 s", "2 h 5 min"]


def test_column_widths_saved_before_the_seen_column_are_not_shifted(qtbot, tmp_path):
    """A header state saved with the record tables' old columns would give each column its
    left neighbour's width (Seen as wide as Event type): it is dropped once; a state saved
    now is restored."""
    import base64

    from PySide6.QtGui import QStandardItemModel
    from PySide6.QtWidgets import QTableView

    from app.config import Settings

    old = QTableView()
    old.setModel(QStandardItemModel(1, len(EVENTS) - 1, old))
    for column in range(len(EVENTS) - 1):
        old.setColumnWidth(column, 200 + column)
    settings = Settings.load_or_create()
    settings.ui = {**settings.ui, "columns.event": base64.b64encode(
        bytes(old.horizontalHeader().saveState().data())).decode("ascii")}
    settings.port = 0
    settings.save()
    old.deleteLater()
    args = build_parser().parse_args(["--port", "0", "--capture", str(tmp_path / "c.sqlite")])
    win = build(args, QApplication.instance())
    qtbot.addWidget(win)
    view = win.views["event"]
    assert view.columnWidth(SEEN) == EVENTS[SEEN].width
    assert view.columnWidth(TYPE) == EVENTS[TYPE].width
    view.setColumnWidth(SEEN, 90)
    win.close()
    win = build(args, QApplication.instance())
    qtbot.addWidget(win)
    assert win.views["event"].columnWidth(SEEN) == 90
    win.close()


def test_real_receiver_answer_rule_seen_three_times_live(qtbot, window):
    """The window's own receiver answers '503 for 2' (its control channel), curl posts the
    same batch three times: the first row's Seen goes 1, 2, 3 times as it happens, the two
    refused arrivals are styled, and the Redeliveries view counts them."""
    from tests.ui.test_window import finish, post

    with qtbot.waitSignal(window.receiver.answers_changed, timeout=WAIT):
        window.receiver.send_answers(add="503 for 2")
    events = window.record_models["event"]
    window.tabs.setCurrentIndex(1)
    body = json.dumps([event(41), event(42)]).encode()
    for arrivals in (1, 2, 3):
        answer = finish(post(window, body=body))
        assert answer["ok"] is (arrivals == 3)
        qtbot.waitUntil(lambda n=arrivals: events.rowCount() == 2 * n
                        and cell(events, 0, SEEN) == times(n), timeout=WAIT)
    assert [cell(events, r, SEEN) for r in range(6)] == [times(3)] * 6
    styled = [cell(events, r, TYPE, Qt.ItemDataRole.FontRole) is not None for r in range(6)]
    assert styled == [True] * 4 + [False] * 2
    window.tabs.setCurrentWidget(window.redeliveries)
    model = window.redeliveries.model
    qtbot.waitUntil(lambda: model.rowCount() == 2 and cell(model, 0, 4) == "2", timeout=WAIT)
    assert cell(model, 0, 2) == "503 · '503 for 2'"
    assert [cell(model, r, 5) for r in range(2)] == ["2", "3"]


def test_a_request_the_filter_hides_is_said_so(qtbot, capture, shown):
    view = shown.redeliveries
    shown.filter_bars["requests"].set_text("status == 200")
    capture.post([event(1)], 503, "503 for 1")
    capture.fill()
    shown.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.model.rowCount() == 1, timeout=WAIT)
    view.table.doubleClicked.emit(view.model.index(0, 0))
    assert shown.tabs.currentWidget() is view  # stays, and says why
    assert shown.statusBar().currentMessage() == (
        "Request 1 is not in the Requests table as filtered.")


def test_a_late_acknowledgement_restyles_and_leaves_the_unacknowledged_filter(
        qtbot, capture, shown, qtmodeltester):
    """A delay rule's 200 is acknowledged only once it reached the client
    (``mark_acknowledged``): its records stop looking unacknowledged, live, and leave a table
    filtered on ``unacknowledged``."""
    events = shown.record_models["event"]
    shown.tabs.setCurrentIndex(1)

    def delayed(stored: Stored):
        stored.rule, stored.acked = "delay 40s for 2", False
        return json_answer({"status": 200})

    def italic() -> list[bool]:
        return [cell(events, r, TYPE, Qt.ItemDataRole.FontRole) is not None
                for r in range(events.rowCount())]

    capture.post([event(1)])
    late = [capture.writer.store(Incoming("POST", "/hook", json.dumps(records).encode(),
                                          content_type="application/json"), respond=delayed)
            for records in ([event(2), event(3)], [event(4)])]
    capture.fill()
    qtbot.waitUntil(lambda: events.rowCount() == 4 and cell(events, 3, SEEN) == times(1),
                    timeout=WAIT)
    assert italic() == [False, True, True, True]
    capture.writer.mark_acknowledged(late[0].request_id)  # on screen: restyled
    qtbot.waitUntil(lambda: italic() == [False, False, False, True], timeout=WAIT)
    shown.filter_bars["event"].set_text("unacknowledged")
    qtbot.waitUntil(lambda: [events.id_at(r) for r in range(events.rowCount())] == [4],
                    timeout=WAIT)
    qtmodeltester.check(events, force_py=True)
    capture.writer.mark_acknowledged(late[1].request_id)  # leaves the filtered table
    qtbot.waitUntil(lambda: events.rowCount() == 0, timeout=WAIT)


def test_a_capture_older_than_the_ledger_gets_it_while_shown(qtbot, tmp_path):
    """A format-5 capture opened in the window: read as it is at first (no ledger: the
    filters read acked as 200 and nothing as redelivered), then its receiver migrates it and
    fills the ledger, and the window takes the ledger in without being reopened."""
    import sqlite3 as stdlib_sqlite3

    path = tmp_path / "old.sqlite"
    cap = Capture(path)
    cap.post([event(1)], 503, "503 for 1")
    cap.post([event(1)])
    cap.close()
    db = stdlib_sqlite3.connect(path)
    db.executescript("DROP TABLE record_key; DROP TABLE record_seen;"
                     "DELETE FROM meta WHERE key = 'ledger_through';"
                     "ALTER TABLE request DROP COLUMN rule; ALTER TABLE request DROP COLUMN acked;"
                     "PRAGMA user_version = 5;")
    db.close()
    settings_args = ["--port", "0", "--capture", str(path)]
    win = build(build_parser().parse_args(settings_args), QApplication.instance())
    qtbot.addWidget(win)
    failures = []
    win.reader.job_failed.connect(failures.append)
    events = win.record_models["event"]
    win.filter_bars["event"].set_text("redelivered")
    qtbot.waitUntil(lambda: win._totals.get("event") == 2, timeout=WAIT)
    # The receiver migrates the file and fills the ledger: the filter finds the redelivery.
    qtbot.waitUntil(lambda: [events.id_at(r) for r in range(events.rowCount())] == [2],
                    timeout=WAIT)
    qtbot.waitUntil(lambda: cell(events, 0, SEEN) == times(2), timeout=WAIT)
    win.close()
    assert failures == []
