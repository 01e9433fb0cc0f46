"""The Statistics view (issue 16) in the real window: records posted to its real receiver over
TLS (curl) are counted by the view's own thread, live; the view honours a record table's
filter; a click on a top-SIM row (or its bar) filters the Events table; the chart exports as a
PNG and an SVG and its numbers as CSV."""

from __future__ import annotations

import csv
import datetime as dt
import json
import xml.etree.ElementTree as ET

from PySide6.QtCore import QPoint, Qt

from app.ui.shortcuts import shortcut_rows
from app.ui.stats import FigureModel, click_expression, number_text
from tests.ui.conftest import WAIT
from tests.ui.test_window import finish, post

SIM_A = "89882280666000000017"
SIM_B = "89882280666000000025"


def event(number: int, iccid: str, alert: bool = False, kind: str = "Update location") -> dict:
    return {"id": number, "timestamp": f"2026-11-30T10:00:{number:02d}Z",
            "event_type": {"id": 3 if alert else 1, "description": kind},
            "event_severity": {"id": 1 if alert else 0,
                               "description": "WARN" if alert else "INFO"},
            "alert": alert, "sim": {"iccid": iccid}, "endpoint": {"name": f"dev-{iccid[-2:]}"},
            "detail": {"country": {"name": "Germany"}, "name": "T-Mobile"}}


def usage(number: int, iccid: str, traffic: int, total, cost=None) -> dict:
    record = {"id": number, "start_timestamp": f"2026-11-30T10:01:{number:02d}Z",
              "end_timestamp": f"2026-11-30T10:01:{number:02d}Z", "sim": {"iccid": iccid},
              "traffic_type": {"id": traffic, "description": "Data" if traffic == 5 else "SMS"},
              "operator": {"name": "Orange", "country": {"name": "France"}},
              "volume": {"total": total}}
    if cost is not None:
        record["cost"] = cost
        record["currency"] = {"code": "EUR"}
    return record


def _seconds(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def send(window, records: list[dict]) -> None:
    answer = finish(post(window, body=json.dumps(records).encode()))
    assert answer  # the receiver answered (and stored the batch before)


def rows(view, key: str) -> list[tuple]:
    figure = view.figures.get(key)
    return [] if figure is None else figure.rows


def test_statistics_view_live_filtered_click_through_and_export(
        qtbot, window, tmp_path, qtmodeltester):
    view = window.statistics
    window.show()
    qtbot.waitExposed(window)
    window.statistics_action.trigger()
    assert window.tabs.currentWidget() is view
    # Its own shortcut (Redeliveries keeps Ctrl+6: it took the tab count, Ctrl+7, once the
    # Statistics tab came after it), in the generated list too.
    assert window.statistics_action.shortcut().toString() == "Ctrl+7"
    assert ("Ctrl+7", "Statistics") in shortcut_rows(window)
    assert ("Ctrl+6", "Redeliveries") in shortcut_rows(window)
    send(window, [event(1, SIM_A), event(2, SIM_A, alert=True, kind="Quota used up"),
                  event(3, SIM_A), event(4, SIM_B),
                  usage(5, SIM_A, 5, 1.5, cost=0.25), usage(6, SIM_A, 5, "2.25", cost=0.5),
                  usage(7, SIM_B, 6, 1), usage(8, SIM_B, 6, 1.0), usage(9, SIM_B, 5, -0.5)])
    qtbot.waitUntil(lambda: [r[:3] for r in rows(view, "top_events")]
                    == [(SIM_A, "dev-17", 5), (SIM_B, "dev-25", 4)], timeout=WAIT)
    top_data = {r[0]: r[3] for r in rows(view, "top_data")}
    assert top_data == {SIM_A: 3.75, SIM_B: -0.5}  # a numeric string counts, negatives too
    assert {r[0]: r[4] for r in rows(view, "top_sms")} == {SIM_B: 2.0}  # 1 and 1.0
    assert rows(view, "cost") == [("EUR", "usage", 0.75, 2)]
    assert dict((r[0], r[1]) for r in rows(view, "severity")) == {"INFO": 3, "WARN": 1}
    alerts = view.figures["alert_time"]
    assert alerts.columns[1:] == ["Quota used up"] and sum(r[1] for r in alerts.rows) == 1
    family = view.figures["family_time"]
    assert sum(sum(r[1:]) for r in family.rows) == 9
    assert {r[0]: r[2] for r in rows(view, "operator_data")}["Orange"] == 3.25
    request = view.figures["request_size"]
    assert sum(r[1] for r in request.rows) == 1 and request.rows[0][3] > 1000

    # A time figure's legend names its series, after another figure was shown too.
    view.select_figure("type_time")
    view.select_figure("family_time")
    legend = view.chart.getPlotItem().legend
    assert legend.scene() is view.chart.scene() and legend.isVisible()
    assert len(legend.items) == len(family.columns) - 1

    # The table of the figure on screen, with units; a sound Qt model.
    view.select_figure("top_data")
    assert view.model.headerData(3, Qt.Orientation.Horizontal) == "Data (MB)"
    assert view.model.data(view.model.index(0, 3)) == "3.75"
    qtmodeltester.check(view.model)
    assert number_text(15121.363446999992) == "15,121.363447"
    assert number_text(1234567) == "1,234,567"

    # Live: the next batch is counted (incrementally) while the view is shown.
    send(window, [event(10, SIM_B), event(11, SIM_B)])
    qtbot.waitUntil(lambda: [r[:3] for r in rows(view, "top_events")]
                    == [(SIM_B, "dev-25", 6), (SIM_A, "dev-17", 5)], timeout=WAIT)

    # The Events table's filter, honoured when the view counts the Events table.
    view.set_source("event")
    window.filter_bars["event"].set_text(f'iccid == "{SIM_A}"')
    qtbot.waitUntil(lambda: [r[0] for r in rows(view, "top_events")] == [SIM_A]
                    and view.source() == "event", timeout=WAIT)
    assert rows(view, "top_data") == []  # (the Events table holds no usage)
    window.filter_bars["event"].set_text("")
    view.set_source("")
    qtbot.waitUntil(lambda: len(rows(view, "top_events")) == 2, timeout=WAIT)

    # Click-through: a top-SIM row filters the Events table and shows it.
    window.tabs.setCurrentWidget(view)
    view.select_figure("top_events")
    qtbot.waitUntil(lambda: view.model.rowCount() == 2, timeout=WAIT)
    view.table.selectRow(0)  # a SIM chosen: its own view is a click away (app.ui.simview)
    assert view.sim_button.isVisibleTo(view) == hasattr(window, "show_sim")
    if hasattr(window, "show_sim"):
        view.sim_button.click()
        qtbot.waitUntil(lambda: getattr(window, "sim_view", None) is not None
                        and window.sim_view.isVisible(), timeout=WAIT)
        window.sim_view.close()
    second = view.table.visualRect(view.model.index(1, 0)).center()
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=second)
    assert window.filter_bars["event"]._edit.text() == f'iccid == "{SIM_A}"'
    assert window.tabs.currentWidget() is window.views["event"].parentWidget()
    qtbot.waitUntil(lambda: window.record_models["event"].rowCount() == 3, timeout=WAIT)

    # ... and so does its bar in the chart.
    window.filter_bars["event"].set_text("")
    window.tabs.setCurrentWidget(view)
    view.select_figure("top_events")
    chart = view.chart
    centre = chart.bar_center(0, view.current_figure().value_column)
    scene = chart.getPlotItem().vb.mapViewToScene(centre)
    point = chart.mapFromScene(scene)
    qtbot.mouseClick(chart.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(point.x(),
                                                                              point.y()))
    assert window.filter_bars["event"]._edit.text() == f'iccid == "{SIM_B}"'

    # The bucket follows the zoom: ten seconds of the chart count in 1 s buckets.
    window.tabs.setCurrentWidget(view)
    view.select_figure("family_time")
    coarse = view.current_figure().every
    start = min(_seconds(r[0]) for r in view.current_figure().rows)
    view.chart.getPlotItem().setXRange(start, start + 10, padding=0)
    qtbot.waitUntil(lambda: view.figures["family_time"].every == 1.0, timeout=WAIT)
    assert coarse > 1.0
    # ... and counts only the time shown (and as much again around it): the events of
    # 10:00:01-11, not the usage records of 10:01; the other figures count everything still.
    zoomed = view.figures["family_time"]
    assert zoomed.window[0] <= start and start + 10 <= zoomed.window[1] < start + 60
    assert sum(sum(r[1:]) for r in zoomed.rows) == 6
    assert "counted over the time shown" in view.note_label.text()
    assert [r[:3] for r in rows(view, "top_events")] == [(SIM_B, "dev-25", 6),
                                                         (SIM_A, "dev-17", 5)]
    assert {r[0]: r[2] for r in rows(view, "operator_data")}["Orange"] == 3.25
    # Live while zoomed: a record of the time shown counts in both, a later one only in the
    # others.
    send(window, [event(12, SIM_B), {**event(13, SIM_B), "timestamp": "2026-11-30T11:00:00Z"}])
    qtbot.waitUntil(lambda: [r[:3] for r in rows(view, "top_events")[:1]]
                    == [(SIM_B, "dev-25", 8)], timeout=WAIT)
    assert sum(sum(r[1:]) for r in view.figures["family_time"].rows) == 7
    assert view.figures["family_time"].every == 1.0
    # A bucket chosen (finer than an hour): over the time shown too, in whole buckets.
    view.every_box.setCurrentIndex(view.every_box.findText("10s"))
    qtbot.waitUntil(lambda: view.figures["family_time"].every == 10.0, timeout=WAIT)
    assert sum(sum(r[1:]) for r in view.figures["family_time"].rows) == 7  # 09:59:50-10:00:20
    assert view.figures["family_time"].window is not None
    view.every_box.setCurrentIndex(0)

    # Exports: the numbers read back; the chart as a real PNG and a well-formed SVG.
    window.tabs.setCurrentWidget(view)
    view.select_figure("top_data")
    view.export("csv", tmp_path / "top.csv")
    with open(tmp_path / "top.csv", newline="", encoding="utf-8") as fh:
        read = list(csv.reader(fh))
    assert read[0] == ["ICCID", "Endpoint", "Records", "Data (MB)", "SMS"]
    assert read[1][:4] == [SIM_A, "dev-17", "5", "3.75"]
    view.export("png", tmp_path / "top.png")
    assert (tmp_path / "top.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    view.export("svg", tmp_path / "top.svg")
    root = ET.parse(tmp_path / "top.svg").getroot()
    assert root.tag.endswith("svg") and len(list(root.iter())) > 10


    # A failure reaches the message bar, readable; the thread carries on.
    view.set_capture(tmp_path / "gone.sqlite")
    qtbot.waitUntil(lambda: "Computing the statistics failed" in window.message_bar.last_error,
                    timeout=WAIT)
    assert "does not exist" in window.message_bar.last_error
    assert view.worker._thread.is_alive()


def test_click_expressions_quote_what_they_match(qtbot):
    """A value with quotes and backslashes, a missing value, and a series of a time figure
    become filters that match exactly them."""
    from app.ui.stats import Figure

    figure = Figure("top_events", "t", "bars", ["ICCID", "Endpoint", "Records"],
                    [('89"4\\2', "x", 1), (None, None, 2)], keys=2,
                    fields=("iccid", "endpoint"))
    assert click_expression(figure, 0) == 'iccid == "89\\"4\\\\2"'
    assert click_expression(figure, 1) == "not iccid"
    timed = Figure("type_time", "t", "stacked", ["Bucket", "Quota used up"],
                   [("2026-11-30T10:00:00Z", 1)], fields=("event_type",))
    assert click_expression(timed, 0, 1) == 'type == "Quota used up"'
    assert click_expression(timed, 0, 0) is None
    model = FigureModel(None)
    model.set_figure(figure)
    assert model.data(model.index(1, 0)) == "(none)"


def test_chart_follows_the_theme(qtbot):
    """View > Theme changes the application's palette: the chart's background and axes follow
    (they kept the light background under the dark theme)."""
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication, QWidget

    from app.ui.stats import ChartWidget
    from app.ui.theme import dark_palette, light_palette

    holder = QWidget()
    qtbot.addWidget(holder)
    chart = ChartWidget(holder)
    app = QApplication.instance()
    before = app.palette()
    try:
        for palette in (dark_palette(), light_palette()):
            app.setPalette(palette)
            base = palette.color(QPalette.ColorRole.Base)
            qtbot.waitUntil(lambda b=base: chart.backgroundBrush().color() == b, timeout=WAIT)
            axis = chart.getPlotItem().getAxis("left")
            assert axis.textPen().color() == palette.color(QPalette.ColorRole.Text)
    finally:
        app.setPalette(before)


def test_series_names_from_the_wire_show_as_sent_never_as_markup(qtbot):
    """The legend's labels are HTML in pyqtgraph: an event type with markup, a control
    character, RTL text and a lone surrogate is shown as text."""
    from PySide6.QtWidgets import QWidget

    from app.ui.stats import ChartWidget, Figure

    holder = QWidget()
    qtbot.addWidget(holder)
    chart = ChartWidget(holder)
    hostile = "<b>Bold</b> &amp;\x1b\u202eTRL \ud800"
    chart.show_figure(Figure("type_time", "t", "stacked", ["Bucket", hostile, "Plain"],
                             [("2026-11-30T10:00:00Z", 1, 2)], fields=("event_type",)))
    labels = [label.text for _sample, label in chart.getPlotItem().legend.items]
    assert labels[1] == "Plain"
    assert labels[0].startswith("&lt;b&gt;Bold&lt;/b&gt; &amp;amp;")  # shown, not applied
    assert "\x1b" not in labels[0] and "\ud800" not in labels[0]


# ---------------------------------------------------------------------------------------------
# The view's counts under a filter (app.ui.stats.compute): the wide count is by time too, a
# filter on the rollups' fields is counted on them, one reading the JSON is run once; the
# figures are those of a capture holding only the records the filter keeps.


def _record_figures(figures) -> dict:
    """The figures of records, their numbers to 12 significant digits (sums added up in
    another order differ in the last bits)."""
    def cell(value):
        return float(f"{value:.12g}") if isinstance(value, float) else value

    return {f.key: (f.every, sorted(repr(tuple(map(cell, row))) for row in f.rows))
            for f in figures if f.key not in ("request_size", "ack_latency")}


def test_filtered_figures_are_those_of_the_records_the_filter_keeps(tmp_path):
    from app.capture.schema import open_reader
    from app.capture.writer import CaptureWriter, Incoming
    from app.filters.nodes import Meta
    from app.filters.parser import parse
    from app.records.shape import family_of
    from app.replay.generator import Generator
    from app.ui.stats import Query, compute
    from tests.capture.test_stats import awkward, texts_of, write_capture

    gen = Generator(sims=30, seed=8)
    records = gen.records(1500)
    # (not the record of 1969: the bucket size follows the whole capture's span, which the
    # capture of the kept records would not have)
    shapes = [r for r in awkward(gen) if r.get("start_timestamp") != -86400]
    records = records[:700] + shapes + records[700:]
    path = tmp_path / "all.sqlite"
    write_capture(path, records, indexed=1200)
    texts = texts_of(path)
    db = open_reader(path)
    try:
        for text in ("family == usage", "type == \"Delete PDP Context\" or alert",
                     "\"Update\"", "iccid ~ \"[13579]$\" and not operator ~ tele",
                     "detail.name ~ a"):
            flt = parse(text)
            kept = [json.loads(t) for t in texts if flt.matches(
                json.loads(t), Meta(family=family_of(json.loads(t)), text=t))]
            assert 0 < len(kept) < len(texts), text
            alone = tmp_path / f"kept-{len(kept)}.sqlite"
            write_capture(alone, kept, indexed=len(kept) // 2)
            reference = open_reader(alone)
            try:
                want = _record_figures(compute(reference, Query(every=3600))[0])
            finally:
                reference.close()
            query = Query(flt=flt, every=3600)
            figures, state = compute(db, query)
            assert _record_figures(figures) == want, text
            # zoomed in (the time figures over a window) and out again, from the same state
            window = (_seconds("2025-03-18T08:00:00Z"), _seconds("2025-03-18T09:00:00Z"))
            zoomed, state = compute(db, Query(flt=flt, every=60, window=window), state)
            assert sum(sum(r[1:]) for r in next(
                f for f in zoomed if f.key == "family_time").rows) <= len(kept)
            figures, state = compute(db, query, state)
            assert _record_figures(figures) == want, text
        # a batch arrives: counted incrementally, the same as from scratch
        writer = CaptureWriter(path)
        writer.store(Incoming("POST", "/", json.dumps(gen.records(300)).encode(),
                              content_type="application/json"))
        writer.close()
        figures, state = compute(db, query, state)
        assert _record_figures(figures) == _record_figures(compute(db, query)[0])
        assert db.execute("SELECT count(*) FROM temp.sqlite_schema WHERE name = 'stats_ids'"
                          ).fetchone()[0] == 0  # the JSON filter's ids are dropped after
    finally:
        db.close()
