"""The SIM view (app.ui.simview) in the real window: records sent through the real receiver,
opened from a row's context menu, rows in time order, sessions drawn as bars, clicks selecting
the record in its table of the main window."""

from __future__ import annotations

import json

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.records.cells import zone_name
from tests.capture.test_simview import SIM, _records, _usage
from tests.ui.conftest import WAIT
from tests.ui.test_window import column_of, finish, post


def _menu_action(menu, prefix: str):
    return next(a for a in menu.actions() if a.text().startswith(prefix))


def test_the_sim_view_from_a_row_its_order_spans_and_clicks(qtbot, window):
    records = _records()
    finish(post(window, body=json.dumps(records).encode()))
    events = window.record_models["event"]
    usage = window.record_models["usage"]
    sms = window.record_models["sms"]
    qtbot.waitUntil(lambda: usage.rowCount() == 8 and events.rowCount() == 8
                    and sms.rowCount() == 3, timeout=WAIT)
    iccid_column = column_of(events.columns, "iccid")
    qtbot.waitUntil(lambda: events.index(0, iccid_column).data() == SIM.iccid, timeout=WAIT)

    # From an event row: the entry names the row's ICCID and opens the view for it
    window.tabs.setCurrentIndex(1)
    menu = window.context_menu(window.views["event"], events.index(0, 0))
    action = _menu_action(menu, "Show SIM ")
    assert action.text() == f"Show SIM {SIM.iccid}…"
    action.trigger()
    menu.deleteLater()
    dialog = window.sim_view
    qtbot.waitUntil(lambda: dialog.isVisible() and not dialog.loading, timeout=WAIT)
    assert dialog.parent() is window and dialog.loader.parent() is dialog
    assert dialog.windowTitle() == f"SIM {SIM.iccid}"
    model = dialog.model
    assert model.rowCount() == len(records) - 3  # not the other SIM's
    times = [model.index(row, 0).data() for row in range(model.rowCount())]
    assert times == sorted(times) and times[0].startswith("2025-03-18 10:00:00")
    assert {model.index(row, 1).data() for row in range(model.rowCount())} == {
        "Event", "Usage", "SMS report", "MO SMS"}
    assert "data 5.125 MB" in dialog.totals.text() and "4 sessions (1 open)" in \
        dialog.totals.text()

    # Spans: four bars, in time order, left to right, the open one drawn up to the next
    dialog.resize(1000, 640)
    qtbot.waitUntil(lambda: dialog.timeline.width() > 600, timeout=WAIT)
    spans = dialog.timeline.span_rects()
    assert [n for n, _ in spans] == [0, 1, 2, 3]
    a, b, by_time, late = (rect for _, rect in spans)
    assert a.left() < b.left() < by_time.left() < late.left()
    assert a.top() != b.top()  # A and B overlap: two lanes
    assert abs(b.right() - by_time.left()) < 1  # open: up to the next session
    image = dialog.timeline.grab().toImage()
    centre = a.center().toPoint()
    assert image.pixelColor(centre) != dialog.timeline.palette().base().color()

    # A click on a bar selects its rows; on a row: the record in its table of the window
    QTest.mouseClick(dialog.timeline, Qt.MouseButton.LeftButton,
                     pos=QPoint(int(by_time.left() + 3), int(by_time.center().y())))
    selected = sorted(i.row() for i in dialog.table.selectionModel().selectedRows())
    assert [model.record_at(r).id for r in selected] == dialog.view.sessions[2].records
    usage_row = next(r for r in range(model.rowCount()) if model.index(r, 1).data() == "Usage")
    rect = dialog.table.visualRect(model.index(usage_row, 2))
    QTest.mouseClick(dialog.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    wanted = model.record_at(usage_row).id
    qtbot.waitUntil(lambda: window.tabs.currentIndex() == 2, timeout=WAIT)
    view = window.views["usage"]
    assert usage.id_at(view.currentIndex().row()) == wanted

    # A marker (an alert) selects its event
    alert = next(r for r in dialog.view.records if r.alert)
    point = next(p for i, p, _ in dialog.timeline.marker_points() if i == alert.id)
    QTest.mouseClick(dialog.timeline, Qt.MouseButton.LeftButton, pos=point.toPoint())
    qtbot.waitUntil(lambda: window.tabs.currentIndex() == 1, timeout=WAIT)
    assert events.id_at(window.views["event"].currentIndex().row()) == alert.id

    # An SMS row (no ICCID in it): the view finds its SIM through its endpoint or MSISDN
    window.tabs.setCurrentIndex(3)
    menu = window.context_menu(window.views["sms"], sms.index(0, 0))
    _menu_action(menu, "Show this record's SIM").trigger()
    menu.deleteLater()
    qtbot.waitUntil(lambda: not dialog.loading, timeout=WAIT)
    assert dialog.view.iccid == SIM.iccid
    shown = model.rowCount()

    # Records that arrive while it is shown are added (read again, at most once a second)
    finish(post(window, body=json.dumps([_usage(300, 310, 0.5)]).encode()))
    qtbot.waitUntil(lambda: model.rowCount() == shown + 1, timeout=WAIT)

    # Identifiers masked: neither the entry nor the title names the ICCID
    window.mask_action.trigger()
    qtbot.waitUntil(lambda: events.index(0, iccid_column).data() not in (None, SIM.iccid),
                    timeout=WAIT)
    pseudonym = events.index(0, iccid_column).data()
    window.tabs.setCurrentIndex(1)
    menu = window.context_menu(window.views["event"], events.index(0, 0))
    assert SIM.iccid not in " ".join(a.text() for a in menu.actions())
    _menu_action(menu, f"Show SIM {pseudonym}").trigger()
    menu.deleteLater()
    qtbot.waitUntil(lambda: not dialog.loading, timeout=WAIT)
    assert dialog.windowTitle() == f"SIM {pseudonym}" and dialog.view.iccid == SIM.iccid

    # Times in local time: at once
    window.local_times_action.trigger()
    assert model.headerData(0, Qt.Orientation.Horizontal) == f"Time ({zone_name(True)})"


def test_a_capture_that_cannot_be_read_is_said(qtbot, window, tmp_path):
    dialog = window._sim_view()
    dialog.show_sim(tmp_path / "missing.sqlite", iccid="8988")
    qtbot.waitUntil(lambda: not dialog.loading, timeout=WAIT)
    assert dialog.status.text().startswith("This SIM's records could not be read: ")
    assert "missing.sqlite does not exist" in dialog.status.text()
    assert "Traceback" not in dialog.status.text()
