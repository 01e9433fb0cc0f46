"""The column chooser: right-click a table's header, show or hide columns, remembered per table;
every catalogue field available; hidden columns not rendered."""

from __future__ import annotations

import json

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QMenu

from app.capture.follow import Follower
from app.config import Settings
from app.records.columns import RECORD_TABS
from app.ui.columns import layout_key
from app.ui.reader import CaptureReader, _record_rows
from app.ui.receiver import ReceiverProcess
from app.ui.window import MainWindow
from tests.conftest import USAGE_SAMPLE
from tests.ui.conftest import WAIT
from tests.ui.test_window import cell, finish, post

USAGE = next(t for t in RECORD_TABS if t.key == "usage")
NAMES = [c.name for c in USAGE.view_columns]
HUGE_ID = 2 ** 70 + 1  # beyond 64 bits: shown with every digit


def usage_body() -> bytes:
    sample = json.loads(USAGE_SAMPLE.read_text())[0]
    truck = {**sample, "id": HUGE_ID, "endpoint": {**sample["endpoint"], "name": "Truck 7"}}
    named = {**sample, "id": "u-42", "endpoint": {**sample["endpoint"], "name": "Van"}}
    return json.dumps([truck, named]).encode()


def header_menu(qtbot, view) -> QMenu:
    """Right-click the header (a real context menu event) and return the menu it opens."""
    header = view.horizontalHeader()
    pos = QPoint(header.sectionViewportPosition(0) + 5, header.height() // 2)
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, header.mapToGlobal(pos))
    QApplication.sendEvent(header.viewport(), event)
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu), timeout=WAIT)
    return QApplication.activePopupWidget()


def entry(menu: QMenu, title: str):
    return next(a for a in menu.actions() if a.text() == title)


def test_usage_shows_the_endpoint_and_the_record_id_when_chosen(qtbot, window, qtmodeltester):
    finish(post(window, body=usage_body()))
    usage = window.record_models["usage"]
    endpoint, record_id = NAMES.index("endpoint"), NAMES.index("id")
    qtbot.waitUntil(lambda: usage.rowCount() == 2 and cell(usage, 0, endpoint) == "Truck 7",
                    timeout=WAIT)
    header = window.views["usage"].horizontalHeader()
    assert not header.isSectionHidden(endpoint)  # shown by default
    assert header.isSectionHidden(record_id)  # a further column: hidden until chosen
    assert cell(usage, 0, record_id) == ""  # ... and not rendered while hidden
    assert record_id not in window.reader._visible["usage"]

    window.column_choosers["usage"].set_shown(record_id, True)
    assert not header.isSectionHidden(record_id)
    qtbot.waitUntil(lambda: cell(usage, 0, record_id) == str(HUGE_ID), timeout=WAIT)
    assert cell(usage, 1, record_id) == "u-42"
    assert cell(usage, 1, endpoint) == "Van"
    qtmodeltester.check(usage)

    # "Filter on this value" on the further column: the record's own id, exactly.
    menu = window.context_menu(window.views["usage"], usage.index(0, record_id))
    assert any(a.text() == "Filter on this value (id)" for a in menu.actions())
    menu.deleteLater()

    # Hidden again: the next rendering leaves it out ("" from the reader), the others stay.
    window.column_choosers["usage"].set_shown(record_id, False)
    usage.invalidate()
    qtbot.waitUntil(lambda: cell(usage, 0, endpoint) == "Truck 7", timeout=WAIT)
    assert cell(usage, 0, record_id) == ""

    # The reader's rendering itself: only the columns asked for, "" for the others.
    follower = Follower(window.capture)
    try:
        ids = tuple(follower.poll().table_ids("usage"))
        everything = _record_rows(follower, "usage", 1, 0, ids)
        shown = frozenset({NAMES.index("start"), endpoint})
        some = _record_rows(follower, "usage", 1, 0, ids, visible=shown)
    finally:
        follower.close()
    assert everything.texts[0][record_id] == str(HUGE_ID)
    for full, part in zip(everything.texts, some.texts, strict=True):
        assert len(part) == len(full) == len(NAMES)
        for n, text in enumerate(part):
            if n in shown:
                assert text == full[n] != ""
            elif NAMES[n] != "seen":  # (from the ledger, beside the row's marks)
                assert text == ""


def test_the_header_menu_hides_columns_and_a_second_window_restores_them(qtbot, window):
    view = window.views["usage"]
    header = view.horizontalHeader()
    menu = header_menu(qtbot, view)
    titles = [a.text() for a in menu.actions() if a.isCheckable()]
    assert titles == [window.record_models["usage"].headerData(n, Qt.Orientation.Horizontal)
                      for n in range(len(NAMES))]
    assert "Record id" in titles and "Endpoint" in titles
    assert [a.text() for a in menu.actions() if not a.isCheckable() and a.text()] \
        == ["Reset columns"]
    assert not entry(menu, "Record id").isChecked()
    entry(menu, "Record id").trigger()  # shown
    entry(menu, "Rate zone").trigger()  # hidden
    menu.close()
    ratezone, record_id = NAMES.index("ratezone"), NAMES.index("id")
    assert header.isSectionHidden(ratezone) and not header.isSectionHidden(record_id)
    header.moveSection(header.visualIndex(record_id), 0)  # dragged to the front
    header.resizeSection(NAMES.index("iccid"), 222)
    # The Requests table has a chooser too.
    requests = window.views["requests"].horizontalHeader()
    menu = header_menu(qtbot, window.views["requests"])
    entry(menu, "Peer").trigger()
    menu.close()
    assert requests.isSectionHidden(1)

    # The last column shown stays; a damaged entry in the settings never breaks a table.
    chooser = window.column_choosers["sms"]
    sms = window.views["sms"].horizontalHeader()
    for column in range(sms.count()):
        chooser.set_shown(column, False)
    assert len(chooser.visible()) == 1
    menu = chooser.menu()
    left = [a for a in menu.actions() if a.isCheckable() and a.isChecked()]
    assert len(left) == 1 and not left[0].isEnabled()
    menu.deleteLater()
    window.settings.ui = {**window.settings.ui, layout_key("sms"): '[["time", "x", false], 7'}
    chooser.restore()
    assert not sms.isSectionHidden(0)
    window.settings.ui = {**window.settings.ui, layout_key("sms"): '[["time", 100, false]]'}
    chooser.restore()
    assert sms.isSectionHidden(0) and len(chooser.visible()) > 1

    window.close()  # remembers the layout in the settings file
    settings = Settings.load()
    assert layout_key("usage") in settings.ui
    app = QApplication.instance()
    second = MainWindow(settings, CaptureReader(app), ReceiverProcess(app))
    qtbot.addWidget(second)
    again = second.views["usage"].horizontalHeader()
    assert again.isSectionHidden(ratezone) and not again.isSectionHidden(record_id)
    assert again.logicalIndex(0) == record_id
    assert again.sectionSize(NAMES.index("iccid")) == 222
    assert second.views["requests"].horizontalHeader().isSectionHidden(1)
    assert record_id in second.reader._visible["usage"]
    assert ratezone not in second.reader._visible["usage"]

    # Reset: the columns as they come.
    menu = second.column_choosers["usage"].menu()
    entry(menu, "Reset columns").trigger()
    assert not again.isSectionHidden(ratezone) and again.isSectionHidden(record_id)
    assert [again.logicalIndex(v) for v in range(again.count())] == list(range(len(NAMES)))
    assert again.sectionSize(NAMES.index("iccid")) == USAGE.view_columns[NAMES.index("iccid")].width

