"""Issue 15: an empty table says why it is empty, and on first start offers the ways to get data
in; the detail follows the tab shown and its tree keeps a usable Value column when narrow."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from app.ui.detail import KEY_COLUMN, KEY_WIDTH, TYPE_COLUMN, VALUE_COLUMN
from app.ui.dialogs import ExposeDialog, PortalDialog
from app.ui.replay import CurlDialog
from tests.conftest import EVENT_SAMPLE, USAGE_SAMPLE
from tests.ui.conftest import WAIT
from tests.ui.test_window import finish, post

HOSTILE_FILTER = 'severity == WARN or "<b>x</b>"'


def empty_text(window, table: str) -> str:
    """What the table shows in place of rows ("" when it shows nothing)."""
    state = window.views[table].empty_state
    return state.label.text() if not state.isHidden() else ""


def opened_by(qtbot, button) -> type:
    """Click ``button``; the type of the modal dialog it opened (closed again at once)."""
    opened = []

    def close() -> None:
        dialog = QApplication.activeModalWidget()
        opened.append(type(dialog))
        if dialog is not None:
            dialog.reject()

    QTimer.singleShot(0, close)  # runs in the dialog's own event loop
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(opened), timeout=WAIT)
    return opened[0]


def test_an_empty_table_says_why(qtbot, window):
    events = window.record_models["event"]
    # Nothing arrived at all: how to send something, and buttons for each way to get data in.
    assert empty_text(window, "event").startswith("Nothing has arrived yet.")
    assert empty_text(window, "requests").startswith("Nothing has arrived yet.")
    start = window.views["requests"].empty_state
    assert start.start_row.isVisibleTo(window.views["requests"])
    assert opened_by(qtbot, start.curl_button) is CurlDialog
    assert opened_by(qtbot, start.expose_button) is ExposeDialog
    assert opened_by(qtbot, start.portal_button) is PortalDialog
    assert start.sample_button.menu() is window.samples_menu  # its arrow: every sample
    # A filter in force before anything arrives (as one remembered from an earlier session):
    # it is what hides the first records, and the table says so. The first record is sent
    # by the first-start button: the documented event, through the real receiver.
    window.filter_bars["event"].set_text(HOSTILE_FILTER)
    qtbot.mouseClick(start.sample_button, Qt.MouseButton.LeftButton)
    expected = f"No record matches `{HOSTILE_FILTER}` (1 hidden)."
    qtbot.waitUntil(lambda: empty_text(window, "event") == expected, timeout=WAIT)
    assert window.requests_model.rowCount() == 1
    assert not start.isVisibleTo(window.views["requests"])  # the table has its row
    state = window.views["event"].empty_state
    assert not state.start_row.isVisibleTo(window.views["event"])  # something has arrived
    assert state.label.textFormat() == Qt.TextFormat.PlainText  # the filter's text as typed
    assert state.clear_button.isVisibleTo(window.views["event"])
    # Records exist, none of this tab's kind.
    # (the counts that say so may come after the Events table's rows: waited for)
    qtbot.waitUntil(lambda: empty_text(window, "other")
                    == "No Other records: the one record is in Events.", timeout=WAIT)
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


def select(window, table: str, row: int) -> None:
    window.tabs.setCurrentIndex(list(window.views).index(table))
    view = window.views[table]
    view.setCurrentIndex(view.model().index(row, 0))


def test_the_detail_follows_the_tab_shown(qtbot, window):
    finish(post(window, EVENT_SAMPLE))
    finish(post(window, USAGE_SAMPLE))
    events, usage = window.record_models["event"], window.record_models["usage"]
    qtbot.waitUntil(lambda: events.rowCount() == 1 and usage.rowCount() == 1
                    and window.requests_model.rowCount() == 2, timeout=WAIT)
    title = window.detail_title.text
    select(window, "requests", 0)
    qtbot.waitUntil(lambda: title().startswith("Request 1 · 200"), timeout=WAIT)
    # A tab where nothing is selected says so (not the request of the other tab).
    window.tabs.setCurrentIndex(1)
    assert title() == "Nothing is selected in Events: select a row to see it here."
    assert window.detail._model.rowCount() == 0 and not window.info_text.isVisible()
    assert not window.jump_button.isVisible()
    select(window, "event", 0)
    qtbot.waitUntil(lambda: "event record 1234567890" in title(), timeout=WAIT)
    select(window, "usage", 0)
    qtbot.waitUntil(lambda: "usage record" in title(), timeout=WAIT)
    # Back to each tab: its own selected row.
    window.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: "event record 1234567890" in title(), timeout=WAIT)
    window.tabs.setCurrentIndex(0)
    qtbot.waitUntil(lambda: title().startswith("Request 1 · 200"), timeout=WAIT)
    # An answer that comes after the user moved on is not shown over the tab now shown.
    with qtbot.waitSignal(window.reader.detail_ready, timeout=WAIT):
        window.tabs.setCurrentIndex(1)  # asks for the event record...
        window.tabs.setCurrentIndex(4)  # ...and the Other tab, with nothing selected, is shown
    assert title() == "Nothing is selected in Other: select a row to see it here."
    assert window.detail._model.rowCount() == 0


def test_a_narrow_detail_keeps_the_value_column_readable(qtbot, window):
    finish(post(window, EVENT_SAMPLE))
    events = window.record_models["event"]
    qtbot.waitUntil(lambda: events.rowCount() == 1, timeout=WAIT)
    window.resize(1024, 640)
    window.show()
    window.splitter.setSizes([800, 224])
    select(window, "event", 0)
    qtbot.waitUntil(lambda: "event record" in window.detail_title.text(), timeout=WAIT)
    tree = window.detail._tree
    model = tree.model()
    qtbot.waitUntil(lambda: tree.viewport().width() < 300, timeout=WAIT)
    containers = [model.data(model.index(row, VALUE_COLUMN)) for row in range(model.rowCount())
                  if model.is_container(model.index(row, 0))]
    assert containers  # e.g. "{3 keys}": it showed "{…" in a narrow pane
    needed = max(tree.fontMetrics().horizontalAdvance(text) for text in containers) + 12
    assert tree.columnWidth(VALUE_COLUMN) >= needed
    assert tree.columnWidth(KEY_COLUMN) >= tree.fontMetrics().horizontalAdvance("event_type")
    header = tree.header()
    visible = sum(header.sectionSize(c) for c in range(3) if not tree.isColumnHidden(c))
    assert visible <= tree.viewport().width()  # no horizontal scrolling to read a value
    # Wide again: the Key column gets its width back, Type shows again.
    window.splitter.setSizes([500, 524])
    qtbot.waitUntil(lambda: not tree.isColumnHidden(TYPE_COLUMN)
                    and tree.columnWidth(KEY_COLUMN) == KEY_WIDTH, timeout=WAIT)
