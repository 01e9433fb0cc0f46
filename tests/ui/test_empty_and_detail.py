"""Issue 15: an empty table says why it is empty; the detail follows the tab shown and its tree
keeps a usable Value column when narrow."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.conftest import EVENT_SAMPLE
from tests.ui.conftest import WAIT
from tests.ui.test_window import finish, post

HOSTILE_FILTER = 'severity == WARN or "<b>x</b>"'


def empty_text(window, table: str) -> str:
    """What the table shows in place of rows ("" when it shows nothing)."""
    state = window.views[table].empty_state
    return state.label.text() if not state.isHidden() else ""


def test_an_empty_table_says_why(qtbot, window):
    events = window.record_models["event"]
    # Nothing arrived at all: how to send something.
    assert empty_text(window, "event").startswith("Nothing has arrived yet.")
    assert empty_text(window, "requests").startswith("Nothing has arrived yet.")
    # A filter in force before anything arrives (as one remembered from an earlier session):
    # it is what hides the first records, and the table says so.
    window.filter_bars["event"].set_text(HOSTILE_FILTER)
    finish(post(window, EVENT_SAMPLE))
    expected = f"No record matches `{HOSTILE_FILTER}` (1 hidden)."
    qtbot.waitUntil(lambda: empty_text(window, "event") == expected, timeout=WAIT)
    state = window.views["event"].empty_state
    assert state.label.textFormat() == Qt.TextFormat.PlainText  # the filter's text as typed
    assert state.clear_button.isVisibleTo(window.views["event"])
    # Records exist, none of this tab's kind.
    assert empty_text(window, "other") == "No Other records: the one record is in Events."
    assert empty_text(window, "usage") == "No Usage records: the one record is in Events."
    assert not window.views["other"].empty_state.clear_button.isVisibleTo(window.views["other"])
    assert empty_text(window, "requests") == ""  # it has its row
    # Clear filter clears this table's filter (only) and shows the rows.
    window.filter_bars["usage"].set_text("severity == WARN")
    window.tabs.setCurrentIndex(1)
    qtbot.mouseClick(state.clear_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: events.rowCount() == 1, timeout=WAIT)
    assert window.filter_bars["event"].text() == ""
    assert window.filter_bars["usage"].text() == "severity == WARN"
    assert empty_text(window, "event") == ""
    # A filter typed while rows are shown that matches none of them.
    window.filter_bars["event"].set_text("severity == WARN")
    qtbot.waitUntil(lambda: empty_text(window, "event")
                    == "No record matches `severity == WARN` (1 hidden).", timeout=WAIT)
    window.filter_bars["requests"].set_text("status == 500")
    qtbot.waitUntil(lambda: empty_text(window, "requests")
                    == "No request matches `status == 500` (1 hidden).", timeout=WAIT)
