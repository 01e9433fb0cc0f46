"""Issue 15: the detail pane when a filter hides the selected row (it kept showing the hidden
row as if selected), and the Requests table's ``target`` filter in the window."""

from __future__ import annotations

import json

from app.ui.reader import REQUEST_COLUMN_FIELDS
from tests.conftest import EVENT_SAMPLE
from tests.ui.conftest import WAIT
from tests.ui.test_window import cell, finish, post


def two_events() -> bytes:
    sample = json.loads(EVENT_SAMPLE.read_text("utf-8"))[0]
    return json.dumps([{**sample, "id": 71}, {**sample, "id": 72}]).encode()


def current_id(window, table: str) -> int | None:
    index = window.views[table].currentIndex()
    return window.model(table).id_at(index.row()) if index.isValid() else None


def test_a_record_the_filter_hides_is_not_shown_as_selected(qtbot, window):
    finish(post(window, body=two_events()))
    events = window.record_models["event"]
    qtbot.waitUntil(lambda: events.rowCount() == 2, timeout=WAIT)
    window.tabs.setCurrentIndex(1)
    view, bar, title = window.views["event"], window.filter_bars["event"], window.detail_title.text
    view.setCurrentIndex(events.index(1, 0))
    second = events.id_at(1)
    qtbot.waitUntil(lambda: "event record 72" in title(), timeout=WAIT)

    # A filter that keeps it: it stays selected (on its new row) and shown.
    bar.set_text("id == 72")
    qtbot.waitUntil(lambda: events.rowCount() == 1 and current_id(window, "event") == second,
                    timeout=WAIT)
    assert view.selectionModel().isRowSelected(0)
    assert "event record 72" in title() and window.detail._model.rowCount() > 0

    # A filter that hides it: the detail says so, and shows nothing of it.
    bar.set_text("id == 71")
    expected = ("The selected record is hidden by the filter `id == 71`. Clear or change the "
                "filter to see it again.")
    qtbot.waitUntil(lambda: title() == expected, timeout=WAIT)
    assert window.detail._model.rowCount() == 0 and not window.detail._raw_edit.toPlainText()
    assert not window.jump_button.isVisible() and not window.ledger_label.isVisible()
    assert current_id(window, "event") is None

    # The filter cleared: the row is back, selected and shown again.
    bar.set_text("")
    qtbot.waitUntil(lambda: events.rowCount() == 2 and current_id(window, "event") == second,
                    timeout=WAIT)
    qtbot.waitUntil(lambda: "event record 72" in title(), timeout=WAIT)
    # ...and selecting rows works as before: another one, then this one again.
    view.setCurrentIndex(events.index(0, 0))
    qtbot.waitUntil(lambda: "event record 71" in title(), timeout=WAIT)
    view.setCurrentIndex(events.index(1, 0))
    qtbot.waitUntil(lambda: "event record 72" in title(), timeout=WAIT)
    assert window.detail._model.rowCount() > 0


def test_a_request_the_filter_hides_and_the_target_field(qtbot, window):
    finish(post(window, body=two_events(), target="x%2Fy"))
    finish(post(window, body=two_events(), target="x/y"))
    requests = window.requests_model
    qtbot.waitUntil(lambda: requests.rowCount() == 2 and cell(requests, 1, 3) == "/x/y",
                    timeout=WAIT)
    assert cell(requests, 0, 3) == "/x%2Fy"
    bar, title = window.filter_bars["requests"], window.detail_title.text
    view = window.views["requests"]
    view.setCurrentIndex(requests.index(0, 0))
    qtbot.waitUntil(lambda: title().startswith("Request 1 ·"), timeout=WAIT)

    # target is the target as it arrived: %2F told apart from / (path is decoded: both match)
    bar.set_text('target == "/x/y"')
    expected = ('Request 1 is hidden by the filter `target == "/x/y"`. Clear or change the '
                'filter to see it again.')
    qtbot.waitUntil(lambda: title() == expected, timeout=WAIT)
    assert requests.rowCount() == 1 and requests.id_at(0) == 2
    assert not window.info_text.isVisible() and not window.detail._raw_edit.toPlainText()
    bar.set_text("target ~ %2F")
    qtbot.waitUntil(lambda: requests.rowCount() == 1 and current_id(window, "requests") == 1,
                    timeout=WAIT)
    qtbot.waitUntil(lambda: title().startswith("Request 1 ·"), timeout=WAIT)
    bar.set_text("path == /x/y")
    qtbot.waitUntil(lambda: requests.rowCount() == 2, timeout=WAIT)
    assert current_id(window, "requests") == 1  # kept: the filter lets it through

    # Filter on this value on the Path cell: the target as the cell shows it.
    bar.set_text("")
    qtbot.waitUntil(lambda: requests.rowCount() == 2, timeout=WAIT)
    with qtbot.waitSignal(window.reader.value_filter_ready, timeout=WAIT) as blocker:
        window.reader.value_filter("requests", 1, REQUEST_COLUMN_FIELDS[3], False)
    assert blocker.args[1] == 'target == "/x%2Fy"'
    qtbot.waitUntil(lambda: requests.rowCount() == 1 and requests.id_at(0) == 1, timeout=WAIT)
