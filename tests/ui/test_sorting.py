"""Sorting the window's tables by a header click: SQL order, selection kept, live rows
outside the sort until sorted again, and back to the arrival order."""

from __future__ import annotations

import copy
import json

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.replay.generator import Generator
from app.ui.widgets import SortBar
from tests.ui.conftest import WAIT
from tests.ui.test_window import cell, finish, post

_GENERATED = Generator(sims=5, seed=4).records(12)
USAGE = next(r for r in _GENERATED if "start_timestamp" in r)
VOLUMES = [5.5, 0.25, 120, 3, 0.000001, 77, 1e-06, 42.0, 9, 0.5]


def _usage_batch(volumes) -> bytes:
    batch = []
    for n, volume in enumerate(volumes):
        record = copy.deepcopy(USAGE)
        record["id"] = f"u{n}-{volume}"
        record["volume"]["total"] = volume
        batch.append(record)
    return json.dumps(batch).encode()


def _click_header(qtbot, view, column: int) -> None:
    header = view.horizontalHeader()
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))


def _shown(model) -> list[int]:
    return [model.id_at(row) for row in range(model.rowCount())]


def test_a_header_click_sorts_in_sql_keeps_the_selection_and_marks_later_rows(
        qtbot, window, qtmodeltester):
    usage = window.record_models["usage"]
    view = window.views["usage"]
    window.tabs.setCurrentIndex(2)
    finish(post(window, body=_usage_batch(VOLUMES)))
    qtbot.waitUntil(lambda: usage.rowCount() == len(VOLUMES), timeout=WAIT)
    volume = next(n for n, c in enumerate(usage.columns) if c.name == "volume")
    arrival = _shown(usage)
    by_id = dict(zip(arrival, VOLUMES, strict=True))
    view.selectRow(3)  # volume 3
    chosen = usage.id_at(3)

    _click_header(qtbot, view, volume)
    qtbot.waitUntil(lambda: usage.outside == 0 and usage._order is not None, timeout=WAIT)
    assert [by_id[i] for i in _shown(usage)] == sorted(VOLUMES)
    assert usage.id_at(view.currentIndex().row()) == chosen  # the same record stays current
    assert [usage.id_at(i.row()) for i in view.selectionModel().selectedRows()] == [chosen]
    assert window.statusBar().currentMessage().startswith("Sorted by Volume, ascending: 10 rows")
    qtbot.waitUntil(lambda: cell(usage, 0, volume) == "0.000001 MB", timeout=WAIT)
    qtmodeltester.check(usage, force_py=True)

    # Later rows go to the bottom, outside the sort, and the strip says so
    finish(post(window, body=_usage_batch([1000, 0.1])))
    qtbot.waitUntil(lambda: usage.rowCount() == 12, timeout=WAIT)
    bar = view.parent().findChild(SortBar)
    assert usage.outside == 2 and bar.isVisibleTo(window)
    assert "2 new rows arrived after sorting" in bar.label.text()
    later = _shown(usage)[-2:]
    by_id.update(zip(later, [1000, 0.1], strict=True))
    bar.sort_again.click()
    qtbot.waitUntil(lambda: usage.outside == 0 and not bar.isVisibleTo(window), timeout=WAIT)
    assert [by_id[i] for i in _shown(usage)] == sorted(by_id.values())

    # Second click: descending; third: back to the order they arrived in
    _click_header(qtbot, view, volume)
    qtbot.waitUntil(lambda: usage.sort_key is not None and usage.sort_key.descending
                    and usage._sort_asked is None, timeout=WAIT)
    assert [by_id[i] for i in _shown(usage)] == sorted(by_id.values(), reverse=True)
    _click_header(qtbot, view, volume)
    assert usage.sort_key is None and _shown(usage) == sorted(by_id)
    assert view.horizontalHeader().sortIndicatorSection() == -1
    assert usage.id_at(view.currentIndex().row()) == chosen


def test_sorted_tables_follow_filters_and_jumps_and_refuse_what_cannot_sort(qtbot, window):
    usage = window.record_models["usage"]
    finish(post(window, body=_usage_batch(VOLUMES)))
    finish(post(window, body=b"not json"))
    qtbot.waitUntil(lambda: usage.rowCount() == len(VOLUMES)
                    and window.requests_model.rowCount() == 2, timeout=WAIT)
    by_id = dict(zip(_shown(usage), VOLUMES, strict=True))
    volume = next(n for n, c in enumerate(usage.columns) if c.name == "volume")
    view = window.views["usage"]
    view.sortByColumn(volume, Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(lambda: usage._order is not None and usage._sort_asked is None,
                    timeout=WAIT)
    # a filter keeps the sort: the rows that pass, in the same order
    window.filter_bars["usage"].set_text("volume > 1")
    qtbot.waitUntil(lambda: usage.rowCount() == 6 and usage._order is not None
                    and usage._sort_asked is None, timeout=WAIT)
    assert [by_id[i] for i in _shown(usage)] == sorted((v for v in VOLUMES if v > 1),
                                                       reverse=True)
    window.filter_bars["usage"].set_text("")
    qtbot.waitUntil(lambda: usage.rowCount() == 10 and usage._sort_asked is None, timeout=WAIT)
    # "Show the records of a request" selects them wherever the sort put them
    first = min(by_id)
    window._select_records(first, 3)
    rows = sorted(i.row() for i in view.selectionModel().selectedRows())
    assert sorted(usage.id_at(r) for r in rows) == [first, first + 1, first + 2]
    assert rows != list(range(rows[0], rows[0] + 3))  # scattered by the sort
    # The Requests table sorts by status (the 400 first when descending)
    requests = window.requests_model
    status = list(requests._headers).index("Status")
    window.views["requests"].sortByColumn(status, Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(lambda: requests._order is not None and requests._sort_asked is None,
                    timeout=WAIT)
    qtbot.waitUntil(lambda: cell(requests, 0, status) == "400", timeout=WAIT)
    # A column with no value to sort by says so and leaves the order as it was
    other = window.record_models["other"]
    keys = next(n for n, c in enumerate(other.columns) if c.name == "keys")
    window.views["other"].sortByColumn(keys, Qt.SortOrder.AscendingOrder)
    assert "cannot be sorted" in window.statusBar().currentMessage()
    assert other.sort_key is None
    assert window.views["other"].horizontalHeader().sortIndicatorSection() == -1
