"""The Statistics view: charts of the capture's records (and requests), each with the table of
its numbers, live while records arrive and honouring a record table's filter.

The figures are aggregated in SQL (:mod:`app.capture.stats`) on a thread of its own with its
own read-only connection (:class:`StatsWorker`), only while the view is shown: fully when the
capture, the table or its filter changes, incrementally (``record_stats(after=, upto=)`` merged
into what was counted) as batches arrive. The GUI thread only shows the figure on screen.
Clicking a bar or a table row filters the record table it is about and switches to it.
"""

from __future__ import annotations

import contextlib
import csv
import heapq
import html
import logging
import math
import operator
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPointF,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.capture import stats as capstats
from app.capture.schema import HOUR_MS, open_reader
from app.db import sqlite3
from app.display import printable
from app.filters.lexer import filter_literal
from app.filters.planner import Filter
from app.records.columns import RECORD_TABS
from app.records.fields import time_key_sql
from app.ui.reader import error_text

log = logging.getLogger(__name__)

TOP = 15  # SIMs in the top-SIMs figures
MAX_BUCKETS = 2000  # time buckets at most, whatever the zoom asks for
_FAMILY_TABLE = {family: tab.key for tab in RECORD_TABS for family in tab.families}
_UNIX_EPOCH_JD = 2440587.5  # the Julian day of 1970-01-01T00:00:00Z
# Series colours (Tableau 10: distinct, readable on light and dark backgrounds).
COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
          "#ff9da7", "#9c755f", "#bab0ac")


def series_color(number: int) -> QColor:
    """The colour of the ``number``-th series."""
    return QColor(COLORS[number % len(COLORS)])
# What a `by` field is called in the filter language (click-through).
_FILTER_NAMES = {"family": "family", "event_type": "type", "severity": "severity",
                 "iccid": "iccid", "endpoint": "endpoint", "operator": "operator",
                 "country": "country", "rat": "rat", "alert": "alert"}
_TIME_FIGURES = ("family_time", "type_time", "alert_time")  # counted from TIMED
_MEASURE_TITLES = {"records": "Records", "data_mb": "Data (MB)", "sms": "SMS", "cost": "Cost"}


# -- the figures (Qt-free: computed on the worker thread) ---------------------------------------

@dataclass(frozen=True)
class Query:
    """What the figures count: the records of ``families`` (None: all) that ``flt`` keeps, with
    time buckets of ``every`` seconds (None: as the capture's span asks, :func:`auto_every`).
    ``window`` (Unix seconds, from, to): the stretch of time the chart shows (zoomed); with
    buckets finer than an hour the time figures count only the records of its buckets."""

    families: tuple[str, ...] | None = None
    flt: Filter | None = None
    every: float | None = None
    window: tuple[float, float] | None = None


def legend_text(name: object) -> str:
    """A series name as the chart's legend shows it: pyqtgraph's legend labels are HTML, and
    the names come from the wire (event types, operators): escaped, control characters and lone
    surrogates made visible, so they show as sent and never as markup."""
    return html.escape(printable(str(name)))


@dataclass
class Figure:
    """One chart and the table of its numbers.

    ``kind``: "stacked" (time buckets x series, stacked bars), "lines" (time buckets x series,
    lines) or "bars" (categories, one bar each). ``columns`` and ``rows`` are the table (the
    first ``keys`` columns name the row, the rest are numbers); ``series`` the chart's series
    (for time figures: the names of the number columns); ``table`` the record table a click
    filters, ``fields`` the `by` fields of the key columns, ``unit`` the chart's unit."""

    key: str
    title: str
    kind: str
    columns: list[str]
    rows: list[tuple]
    keys: int = 1
    fields: tuple[str, ...] = ()
    table: str = "event"
    unit: str = ""
    value_column: int = 1  # "bars": the column drawn
    every: float | None = None  # time figures: the bucket size, seconds
    window: tuple[float, float] | None = None  # time figures: the time counted (None: all)
    note: str = ""
    drawn: tuple[int, ...] = ()  # "lines": the columns drawn (the others: in the table only)

    def key_text(self, column: int, value: Any) -> str:
        """A key cell as shown (a RAT type's number with its name)."""
        if column < len(self.fields) and self.fields[column] == "rat" \
                and value in capstats.RAT_NAMES:
            return f"{value} ({capstats.RAT_NAMES[value]})"
        return _label(value)


@dataclass
class _State:
    """What the worker counted so far for one capture and query (merged as records arrive)."""

    query: Query
    every: float
    window: tuple[int, int] | None = None  # the time figures' stretch, Unix ms (None: all)
    through: int = 0
    tables: dict[str, Any] = field(default_factory=dict)
    merged: bool | None = None  # the wide count is by time too (filtered, not zoomed)


# The figures come from three counts (rollups of the capture, when unfiltered): one grouped by
# every small-valued field, one by the fields of the time figures and the time bucket (with
# buckets finer than an hour: only over the time shown, along the time index), each rolled up
# into the figures here (a few thousand groups), and one per SIM.
WIDE = ("family", "event_type", "alert", "severity", "operator", "country", "rat", "currency")
TIMED = ("family", "event_type", "alert")
_ROLLUPS: dict[str, tuple[tuple[str, ...], bool, tuple[str, ...] | None]] = {
    # name: (by, bucketed by time, only these families)
    "family_time": (("family",), True, None),
    "type_time": (("event_type",), True, None),
    "alert_time": (("alert", "event_type"), True, ("event",)),
    "operator": (("operator",), False, None),
    "country": (("country",), False, None),
    "rat": (("rat",), False, None),
    "cost": (("currency", "family"), False, None),
    "event_type": (("event_type",), False, ("event",)),
    "severity": (("severity",), False, ("event",)),
}


def _rollup(table, by: tuple[str, ...], timed: bool, families: tuple[str, ...] | None):
    """``table`` (grouped by WIDE or TIMED) summed over the fields not in ``by``."""
    picks = [table.by.index(name) for name in by]
    family = table.by.index("family")
    groups: dict[tuple, list] = {}
    for row in table.rows:
        if families is not None and row.key[family] not in families:
            continue
        group_key = (tuple(row.key[i] for i in picks), row.bucket if timed else None)
        group = groups.get(group_key)
        if group is None:
            group = groups[group_key] = [0, [], [], [], 0]
        group[0] += row.records
        group[1].append(row.data_mb)
        group[2].append(row.sms)
        if row.cost is not None:
            group[3].append(row.cost)
        group[4] += row.unreadable
    rows = [capstats.StatsRow(key, bucket, records, math.fsum(data), math.fsum(sms),
                              math.fsum(cost) if cost else None, unreadable)
            for (key, bucket), (records, data, sms, cost, unreadable) in groups.items()]
    rows.sort(key=lambda r: (r.bucket or "", -r.records))
    return capstats.StatsTable(by, table.every if timed else None, rows,
                               sum(r.unreadable for r in rows), table.through)


def _last_record(db: sqlite3.Connection) -> int:
    return db.execute("SELECT coalesce(max(id), 0) FROM record").fetchone()[0]


def _span(db: sqlite3.Connection, families: tuple[str, ...] | None) -> tuple[float, float] | None:
    """The first and last record times (Unix seconds) of the indexed records of ``families``:
    per family from the time index (a few lookups, not a scan; the filter is not applied:
    the bucket size follows the capture's span)."""
    key = time_key_sql('"time"')
    ends: list[float] = []
    for family in families or tuple(_FAMILY_TABLE):
        low = db.execute(f"SELECT min({key}) FROM record_index WHERE family = ? "
                         f"AND {key} IS NOT NULL", (family,)).fetchone()[0]
        high = db.execute(f"SELECT max({key}) FROM record_index WHERE family = ?",
                          (family,)).fetchone()[0]
        ends += [(v - _UNIX_EPOCH_JD) * 86400 for v in (low, high) if v is not None]
    return (min(ends), max(ends)) if ends else None


def _bucket_size(db: sqlite3.Connection, query: Query) -> float:
    """The bucket size: as asked, or a round one giving ~60 buckets over the records' span;
    never more than MAX_BUCKETS buckets (over the window when it is counted alone)."""
    span = _span(db, query.families)
    if span is None:
        return query.every or 60.0
    every = query.every or capstats.auto_every(*span)
    if query.window is not None:
        narrow = max(every, _round_up((query.window[1] - query.window[0]) / MAX_BUCKETS))
        if not _whole_hours(narrow):
            return narrow
    return max(every, _round_up((span[1] - span[0]) / MAX_BUCKETS))


def _whole_hours(every: float) -> bool:
    return round(every * 1000) % HOUR_MS == 0


def _window_ms(query: Query, every: float) -> tuple[int, int] | None:
    """The time figures' stretch (Unix ms, from included, to not): the whole buckets that
    overlap the query's window, when the buckets are finer than the capture's hourly rollups
    (whole hours: None, all of it)."""
    if query.window is None or _whole_hours(every):
        return None
    size = max(1, round(every * 1000))
    low, high = query.window
    return (math.floor(low * 1000 / size) * size, (math.floor(high * 1000 / size) + 1) * size)


def _round_up(seconds: float) -> float:
    """The smallest of the usual bucket sizes at least ``seconds`` (0: none needed)."""
    if seconds <= 1:
        return 0.0
    for size in (2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                 43200, 86400):
        if size >= seconds:
            return float(size)
    return 86400.0 * math.ceil(seconds / 86400)


def _parse_time(iso: str) -> datetime:
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def compute(db: sqlite3.Connection, query: Query, state: _State | None = None
            ) -> tuple[list[Figure], _State]:
    """Every figure for ``query``: from scratch, or from ``state`` (what was counted for the same
    query) plus the records since. The bucket size follows the capture's span: when it changes,
    the time figures are counted again."""
    upto = _last_record(db)
    every = _bucket_size(db, query)
    window = _window_ms(query, every)
    if state is None or (state.query.families, state.query.flt) != (query.families, query.flt):
        state = _State(query, every, window)
    flt = None if query.flt is None or query.flt.is_empty else query.flt
    after = state.through
    retimed = every != state.every or window != state.window
    # Filtered (no rollup counts most of it), the wide count is by time too and gives the time
    # figures as well: one pass fewer. A filter the rollups cannot count is run once for the
    # two passes from scratch (a text search reads every record's JSON; a regular expression
    # calls Python for each), its records' ids kept in a temporary table.
    merged = flt is not None and window is None
    if merged != state.merged:  # the wide count changes shape: counted again
        state.tables.clear()
        state.merged = merged
    passes = ((("wide", WIDE, True),) if merged else (("wide", WIDE, False), ("time", TIMED, True))
              ) + (("sims", ("iccid", "endpoint"), False),)
    ids = None
    # counted on the rollups (by whole hours): then only the SIMs are a pass
    rolled = flt is not None and capstats.on_rollups(flt) and _whole_hours(every)
    for name, by, timed in passes:
        old = None if timed and retimed else state.tables.get(name)
        if old is not None and after >= upto:
            continue
        since, until = window if timed and window is not None else (None, None)
        if old is None and ids is None and flt is not None and merged and not rolled:
            ids = capstats.select(db, flt, query.families, upto)
        table = capstats.record_stats(db, flt, by=by, every=every if timed else None,
                                      after=0 if old is None else after, upto=upto,
                                      families=query.families, since_ms=since, until_ms=until,
                                      ids=ids if old is None else None)
        state.tables[name] = table if old is None else capstats.merge(old, table)
    if ids is not None:
        db.execute(f"DROP TABLE temp.{ids}")
    if merged:
        state.tables["time"] = state.tables["wide"]
    state.query = query
    state.every = every
    state.window = window
    state.through = upto
    tables = {name: _rollup(state.tables["time" if timed else "wide"], by, timed, families)
              for name, (by, timed, families) in _ROLLUPS.items()}
    tables["sims"] = state.tables["sims"]
    first, last = db.execute("SELECT min(received_at), max(received_at) FROM request").fetchone()
    request_every = query.every or capstats.auto_every(first, last)
    requests = capstats.request_stats(db, request_every)
    figures = _figures(tables, every, requests, request_every)
    if window is not None:
        for figure in figures:
            if figure.key in _TIME_FIGURES:
                figure.window = (window[0] / 1000, window[1] / 1000)
    return figures, state


def _iso_seconds(iso: str | None) -> float:
    if not iso:
        return float("nan")
    try:
        return _parse_time(iso).timestamp()
    except ValueError:
        return float("nan")


def _label(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _time_figure(key: str, title: str, table, series_of: Callable[[tuple], str | None],
                 every: float, target: str, field_name: str, measure: str = "records",
                 unit: str = "records") -> Figure:
    buckets: dict[str, dict[str, float]] = {}
    names: dict[str, None] = {}
    for row in table.rows:
        name = series_of(row.key)
        if name is None:
            continue
        names.setdefault(name, None)
        cell = buckets.setdefault(row.bucket or "", {})
        cell[name] = cell.get(name, 0) + (getattr(row, measure) or 0)
    series = sorted(names, key=lambda n: -sum(b.get(n, 0) for b in buckets.values()))
    rows = [(bucket, *(cells.get(n, 0) for n in series)) for bucket, cells in sorted(
        buckets.items())]
    return Figure(key, title, "stacked", ["Bucket start (UTC)", *series], rows, keys=1,
                  fields=(field_name,), table=target, unit=unit, every=every)


def _category_figure(key: str, title: str, table, fields: tuple[str, ...], measure: str,
                     target: str, top: int | None = None, unit: str = "",
                     skip_zero: bool = False) -> Figure:
    rows = [r for r in table.rows if not skip_zero or (getattr(r, measure) or 0) != 0]
    pick = operator.attrgetter(measure)
    rows = heapq.nlargest(top, rows, key=pick) if top else sorted(rows, key=pick, reverse=True)
    headers = [f.replace("_", " ").capitalize() if f != "iccid" else "ICCID" for f in fields]
    if fields == ("rat",):
        headers = ["RAT type"]
    measures = ["records", "data_mb", "sms"]
    columns = [*headers, *(_MEASURE_TITLES[m] for m in measures)]
    out = [(*(_label(k) if k is None else k for k in r.key), *(getattr(r, m) for m in measures))
           for r in rows]
    note = f"{table.unreadable:,} records' volume could not be read" if table.unreadable else ""
    return Figure(key, title, "bars", columns, out, keys=len(fields), fields=fields,
                  table=target, unit=unit, value_column=len(fields) + measures.index(measure),
                  note=note)


def _per_sim(table):
    """``table`` (grouped by ICCID and endpoint name) per ICCID, named by the endpoint name
    most of its records carry (a SIM's usage records may carry none)."""
    groups: dict[str, list] = {}
    for row in table.rows:
        iccid, name = row.key
        if iccid is None:
            continue
        group = groups.setdefault(iccid, [{}, 0, [], [], [], 0])
        if name is not None:
            group[0][name] = group[0].get(name, 0) + row.records
        group[1] += row.records
        group[2].append(row.data_mb)
        group[3].append(row.sms)
        if row.cost is not None:
            group[4].append(row.cost)
        group[5] += row.unreadable
    rows = [capstats.StatsRow((iccid, max(names, key=names.get) if names else None), None,
                              records, math.fsum(data), math.fsum(sms),
                              math.fsum(cost) if cost else None, unreadable)
            for iccid, (names, records, data, sms, cost, unreadable) in groups.items()]
    return capstats.StatsTable(table.by, None, rows, sum(r.unreadable for r in rows),
                               table.through)


def _figures(t: dict, every: float, requests: list, request_every: float) -> list[Figure]:
    figures = [
        _time_figure("family_time", "Records over time, by family", t["family_time"],
                     lambda k: _label(k[0]), every, "event", "family"),
        _time_figure("type_time", "Records over time, by type (event, traffic, SMS status)",
                     t["type_time"], lambda k: _label(k[0]), every, "event", "event_type"),
        _time_figure("alert_time", "Alerts over time, by event type", t["alert_time"],
                     lambda k: _label(k[1]) if k[0] is True or k[0] == 1 else None, every,
                     "event", "event_type", unit="alerts"),
    ]
    sims_known = _per_sim(t["sims"])
    figures += [
        _category_figure("top_events", f"Top {TOP} SIMs by events", sims_known, ("iccid",
                         "endpoint"), "records", "event", TOP, "records", skip_zero=True),
        _category_figure("top_data", f"Top {TOP} SIMs by data volume", sims_known,
                         ("iccid", "endpoint"), "data_mb", "usage", TOP, "MB", skip_zero=True),
        _category_figure("top_sms", f"Top {TOP} SIMs by SMS count", sims_known,
                         ("iccid", "endpoint"), "sms", "usage", TOP, "SMS", skip_zero=True),
    ]
    for name, title in (("operator", "operator"), ("country", "country"), ("rat", "RAT type")):
        figures.append(_category_figure(f"{name}_data", f"Data volume by {title}", t[name],
                                        (name,), "data_mb", "usage", unit="MB"))
        figures.append(_category_figure(f"{name}_sms", f"SMS count by {title}", t[name],
                                        (name,), "sms", "usage", unit="SMS"))
    cost = t["cost"]
    cost_rows = [r for r in cost.rows if r.cost is not None]
    figures.append(Figure(
        "cost", "Cost, by currency and family", "bars", ["Currency", "Family", "Cost", "Records"],
        [(_label(r.key[0]), r.key[1], r.cost, r.records) for r in
         sorted(cost_rows, key=lambda r: -(r.cost or 0))],
        keys=2, fields=("currency", "family"), table="usage", unit="currency", value_column=2,
        note="" if cost_rows else "No record carries a cost"))
    figures.append(_category_figure("event_types", "Event types", t["event_type"],
                                    ("event_type",), "records", "event", unit="events"))
    severities = [r for r in t["severity"].rows if r.key[0] is not None]
    figures.append(_category_figure("severity", "Severity", type(t["severity"])(
        ("severity",), None, severities, 0, 0), ("severity",), "records", "event",
        unit="events"))
    req_rows = []
    lat_rows = []
    for b in requests:
        n = b.requests or 0
        req_rows.append((b.bucket, n, b.bytes / n if n else None, b.max_bytes, b.records))
        lat_rows.append((b.bucket, b.duration_ms / n if n and b.duration_ms is not None
                         else None, b.max_duration_ms, b.refused))
    figures.append(Figure("request_size", "Request sizes over time", "lines",
                          ["Bucket start (UTC)", "Requests", "Mean size (bytes)",
                           "Largest (bytes)", "Records"], req_rows, keys=1, fields=(), table="",
                          unit="bytes", every=request_every, drawn=(2, 3)))
    figures.append(Figure("ack_latency", "Acknowledgement latency over time", "lines",
                          ["Bucket start (UTC)", "Mean (ms)", "Longest (ms)", "Refused"],
                          lat_rows, keys=1, fields=(), table="", unit="ms",
                          every=request_every, drawn=(1, 2)))
    return figures


# -- the worker thread --------------------------------------------------------------------------

class StatsWorker(QObject):
    """Computes the Statistics view's figures on a thread of its own with its own read-only
    connection, while the view is shown: all at once when the capture or the query changes,
    then incrementally as records arrive (polled, and when poked). Never more often than every
    four times the last computation took (nor than every 0.3 s). Results go out as
    ``figures_ready``; a failure as ``failed`` (said, and tried again later)."""

    figures_ready = Signal(object)  # list[Figure]
    failed = Signal(str)  # readable

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._query = Query()
        self._shown = False
        self._stopping = False
        self.seconds = 0.0  # how long the last computation took
        self._thread = threading.Thread(target=self._run, name="statistics", daemon=True)
        self._thread.start()

    def set_capture(self, path: Path | None) -> None:
        with self._lock:
            self._path = None if path is None else Path(path)
        self._wanted.set()

    def set_query(self, query: Query) -> None:
        with self._lock:
            self._query = query
        self._wanted.set()

    def set_shown(self, shown: bool) -> None:
        with self._lock:
            self._shown = shown
        self._wanted.set()

    def poke(self) -> None:
        """Records arrived: count them (soon)."""
        self._wanted.set()

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        db_path: Path | None = None
        state: _State | None = None
        next_at = 0.0
        try:
            while True:
                self._wanted.wait(1.0)  # (also polled: another process may write the capture)
                if self._stopping:
                    return
                wait = next_at - time.monotonic()
                if wait > 0:
                    time.sleep(min(wait, 0.3))
                    continue
                self._wanted.clear()
                with self._lock:
                    path, query, shown = self._path, self._query, self._shown
                if path is None or not shown:
                    continue
                try:
                    if db_path != path:
                        if db is not None:
                            db.close()
                        db, db_path, state = None, None, None
                        db, db_path = open_reader(path), path
                    if state is not None and state.query == query \
                            and _last_record(db) == state.through:
                        next_at = time.monotonic() + 0.3
                        continue
                    started = time.perf_counter()
                    figures, state = compute(db, query, state)
                    self.seconds = time.perf_counter() - started
                    next_at = time.monotonic() + max(0.3, 4 * self.seconds)
                except Exception as exc:  # said, and tried again later
                    log.warning("Computing the statistics: %s", exc)
                    self.failed.emit(f"Computing the statistics failed: {error_text(exc)}")
                    state = None
                    next_at = time.monotonic() + 5
                    continue
                with self._lock:
                    if self._path != path or self._query != query:
                        continue  # asked for another by now: its figures come next
                self.figures_ready.emit(figures)
        finally:
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()


# -- the table of a figure's numbers ------------------------------------------------------------

def number_text(value: Any) -> str:
    """A number as the table shows it: grouped digits, at most six decimals (a byte of a MB, a
    nanosecond of a ms: the records carry no finer ones; sums may add float noise beyond them).
    The cell's tooltip and the CSV keep the number as counted."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return repr(value)
    text = f"{value:,.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


class FigureModel(QAbstractTableModel):
    """The numbers of one figure (:class:`Figure`): its keys, then its measures with units."""

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self.figure: Figure | None = None

    def set_figure(self, figure: Figure | None) -> None:
        self.beginResetModel()
        self.figure = figure
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or self.figure is None else len(self.figure.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or self.figure is None else len(self.figure.columns)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.figure is None:
            return None
        value = self.figure.rows[index.row()][index.column()]
        numeric = index.column() >= self.figure.keys
        if role == Qt.ItemDataRole.DisplayRole:
            return number_text(value) if numeric else self.figure.key_text(index.column(),
                                                                             value)
        if role == Qt.ItemDataRole.ToolTipRole:
            return None if value is None else str(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole or self.figure is None:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.figure.columns[section] if section < len(self.figure.columns) else None
        return section + 1


def write_csv(figure: Figure, path: Path) -> None:
    """The numbers of ``figure`` as CSV (numbers as exact as they were counted)."""
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(figure.columns)
        for row in figure.rows:
            writer.writerow(["" if v is None else (repr(v) if isinstance(v, float) else v)
                             for v in row])


def click_expression(figure: Figure, row: int, column: int | None = None) -> str | None:
    """The filter that keeps the records behind one row (or one series of a time figure's
    row) of ``figure``; None when there is none."""
    if not figure.fields or not 0 <= row < len(figure.rows):
        return None
    values = figure.rows[row]
    if figure.kind in ("stacked", "lines"):
        if column is None or column < figure.keys:
            return None
        pairs = [(figure.fields[0], figure.columns[column])]
    else:
        pairs = list(zip(figure.fields, values[:figure.keys], strict=True))
    parts = []
    for name, value in pairs:
        word = _FILTER_NAMES.get(name)
        if word is None:
            continue
        if value is None or value == "(none)":
            parts.append(f"not {word}")
        else:
            parts.append(f"{word} == {filter_literal(value)}")
        if name == "iccid":
            break  # one SIM: its endpoint's name adds nothing
    return " and ".join(parts) or None


def target_table(figure: Figure, row: int, column: int | None) -> str:
    """The record table a click on ``figure`` filters."""
    if figure.fields and figure.fields[0] == "family":
        family = figure.columns[column] if column is not None and figure.kind == "stacked" \
            else figure.rows[row][0]
        return _FAMILY_TABLE.get(str(family), "other")
    if figure.fields and figure.fields[-1] == "family" and figure.keys > 1:
        return _FAMILY_TABLE.get(str(figure.rows[row][figure.keys - 1]), "usage")
    if figure.key == "top_sms" or figure.key.endswith("_sms"):
        return "sms"
    return figure.table


# -- the chart ----------------------------------------------------------------------------------

class ChartWidget(pg.PlotWidget):
    """One figure drawn with pyqtgraph: stacked bars over time, lines over time, or one bar per
    category (horizontal, biggest on top). ``bar_clicked`` gives (row, column) of the
    figure's table behind the bar clicked."""

    bar_clicked = Signal(int, int)

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.figure: Figure | None = None
        self._hits: list[tuple[QRectF, int, int]] = []  # bar rectangle in data coordinates
        self._items: list = []  # what show_figure drew: updated while the figure stays
        self.setMenuEnabled(False)
        self.scene().sigMouseClicked.connect(self._on_scene_mouse_clicked)
        self._time_axis = pg.DateAxisItem(orientation="bottom", utcOffset=0)
        self._legend: pg.LegendItem | None = None
        self.apply_palette()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange) \
                and hasattr(self, "_items"):  # (not while pyqtgraph builds the widget)
            self.apply_palette()  # (View > Theme)

    def apply_palette(self) -> None:
        """Follow the window's palette (light or dark theme)."""
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        self.setBackground(base)
        for name in ("left", "bottom"):
            axis = self.getPlotItem().getAxis(name)
            axis.setPen(pg.mkPen(text))
            axis.setTextPen(pg.mkPen(text))
        if self.figure is not None:
            self._items = []  # drawn again, in the new colours
            self.show_figure(self.figure)

    def show_figure(self, figure: Figure | None) -> None:
        """Draw ``figure``; the same figure again (new numbers, the same series) updates the
        items it drew (a new legend and new items cost tens of ms on the GUI thread)."""
        plot = self.getPlotItem()
        old = self.figure
        self.figure = figure
        same = (figure is not None and old is not None and old.key == figure.key
                and old.columns == figure.columns and len(self._items) > 0)
        if not same:
            plot.clear()  # (its items leave the legend too)
            self._items = []
            if self._legend is not None:
                self._legend.clear()
                self._legend.hide()
        self._hits = []
        if figure is None:
            return
        text = self.palette().color(QPalette.ColorRole.Text)
        if figure.kind in ("stacked", "lines"):
            if plot.getAxis("bottom") is not self._time_axis:
                plot.setAxisItems({"bottom": self._time_axis})
                self._time_axis.setPen(pg.mkPen(text))
                self._time_axis.setTextPen(pg.mkPen(text))
            if not same:
                plot.getAxis("left").setTicks(None)
                base = self.palette().color(QPalette.ColorRole.Base)
                base.setAlpha(210)
                if self._legend is None:  # (one for the plot: addLegend returns it again)
                    self._legend = plot.addLegend(offset=(10, 10))
                self._legend.setLabelTextColor(text)
                self._legend.setBrush(pg.mkBrush(base))
                self._legend.show()
            self._draw_time(figure)
        else:
            self._draw_bars(figure)
        if not same:
            plot.setLabel("left", figure.unit if figure.kind != "bars" else "",
                          color=text.name())
            # (a zoomed time figure counts only the time shown: it stays shown)
            plot.enableAutoRange(x=figure.window is None, y=figure.kind != "bars")

    def _draw_time(self, figure: Figure) -> None:
        plot = self.getPlotItem()
        every = figure.every or 60.0
        x = np.array([_iso_seconds(r[0]) for r in figure.rows], dtype=float)
        values = np.array([[np.nan if v is None else v for v in r[1:]] for r in figure.rows],
                          dtype=float).reshape(len(figure.rows), len(figure.columns) - 1)
        if figure.kind == "lines" and len(x) > 1 and (x[-1] - x[0]) / every < MAX_BUCKETS:
            # Every bucket of the span, empty ones as gaps: a line does not bridge them.
            grid = x[0] + every * np.arange(round((x[-1] - x[0]) / every) + 1)
            slots = np.clip(np.round((x - x[0]) / every).astype(int), 0, len(grid) - 1)
            full = np.full((len(grid), values.shape[1]), np.nan)
            full[slots] = values
            x, values = grid, full
        if figure.kind == "lines":
            for n, column in enumerate(figure.drawn):
                if n < len(self._items):
                    self._items[n].setData(x + every / 2, values[:, column - 1])
                    continue
                color = series_color(n)
                self._items.append(plot.plot(
                    x + every / 2, values[:, column - 1], pen=pg.mkPen(color, width=2),
                    symbol="o", symbolSize=5, symbolBrush=color, symbolPen=None,
                    name=legend_text(figure.columns[column]), connect="finite"))
            return
        values = np.nan_to_num(values)
        base = np.zeros(len(x))
        for n, name in enumerate(figure.columns[1:]):
            options = {"x": x + every / 2, "height": values[:, n], "y0": base.copy(),
                       "width": every * 0.9}
            if n < len(self._items):
                self._items[n].setOpts(**options)
            else:
                color = series_color(n)
                item = pg.BarGraphItem(**options, brush=color, pen=pg.mkPen(None),
                                       name=legend_text(name))
                plot.addItem(item)  # (and to the legend, by its name)
                self._items.append(item)
            for i in np.flatnonzero(values[:, n]):
                self._hits.append((QRectF(x[i], base[i], every, values[i, n]), int(i), n + 1))
            base += values[:, n]

    def _draw_bars(self, figure: Figure) -> None:
        plot = self.getPlotItem()
        if plot.getAxis("bottom") is self._time_axis:
            plot.setAxisItems({"bottom": pg.AxisItem("bottom")})
            text = self.palette().color(QPalette.ColorRole.Text)
            plot.getAxis("bottom").setPen(pg.mkPen(text))
            plot.getAxis("bottom").setTextPen(pg.mkPen(text))
        count = len(figure.rows)
        widths = np.array([0 if r[figure.value_column] is None else r[figure.value_column]
                           for r in figure.rows], dtype=float)
        slots = max(count, 8)  # (a bar or two stay bars, not walls)
        y = np.arange(slots, slots - count, -1, dtype=float)  # the biggest on top
        options = {"x0": np.minimum(widths, 0), "y": y, "height": 0.7, "width": np.abs(widths)}
        if self._items:
            self._items[0].setOpts(**options)
        else:
            self._items.append(pg.BarGraphItem(**options, brush=series_color(0),
                                               pen=pg.mkPen(None)))
            plot.addItem(self._items[0])
        label = figure.columns[figure.value_column]
        currencies = {r[0] for r in figure.rows}
        if figure.key == "cost" and len(currencies) == 1:
            label = f"{label} ({currencies.pop()})"
        plot.setLabel("bottom", label)
        plot.setYRange(0.4, slots + 0.6, padding=0)
        labels = [(float(y[i]), _short(" · ".join(dict.fromkeys(  # (a name that repeats once)
            figure.key_text(c, v) for c, v in enumerate(r[:figure.keys]) if v is not None
            or c == 0))))
                  for i, r in enumerate(figure.rows)]
        plot.getAxis("left").setTicks([labels])
        for i in range(count):
            self._hits.append((QRectF(min(widths[i], 0), y[i] - 0.35, abs(widths[i]) or 1e-9,
                                      0.7), i, figure.value_column))

    def _on_scene_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or not self._hits:
            return
        point = self.getPlotItem().vb.mapSceneToView(event.scenePos())
        hit = self.hit(point)
        if hit is not None:
            self.bar_clicked.emit(*hit)

    def hit(self, point: QPointF) -> tuple[int, int] | None:
        """The (row, column) of the bar at ``point`` (data coordinates), if any."""
        for rect, row, column in self._hits:
            if rect.normalized().contains(point):
                return row, column
        return None

    def bar_center(self, row: int, column: int) -> QPointF | None:
        """The middle of the bar for (row, column), in data coordinates (tests click it)."""
        for rect, r, c in self._hits:
            if (r, c) == (row, column):
                return rect.normalized().center()
        return None


def _short(text: str, limit: int = 36) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def export_image(widget: QWidget, path: Path) -> None:
    """Write ``widget`` as a PNG (pixels) or an SVG (vector), by ``path``'s suffix."""
    path = Path(path)
    if path.suffix.lower() == ".svg":
        generator = QSvgGenerator()
        generator.setFileName(str(path))
        generator.setSize(widget.size())
        generator.setViewBox(widget.rect())
        generator.setTitle("Streamer Inspector statistics")
        painter = QPainter(generator)
        try:
            widget.render(painter)
        finally:
            painter.end()
    elif not widget.grab().save(str(path), "PNG"):
        raise OSError(f"could not write {path}")
    if not path.is_file():
        raise OSError(f"could not write {path}")


# -- the view -----------------------------------------------------------------------------------

class StatsView(QWidget):
    """The Statistics tab: a figure chosen from a list, drawn next to the table of its numbers;
    counted over the records of a chosen record table under its filter (or all records).
    ``filter_wanted`` asks the window to filter a record table (table, expression, narrow:
    add to its filter rather than replace it) and show it; ``sim_wanted`` to show one SIM."""

    filter_wanted = Signal(str, str, bool)
    sim_wanted = Signal(str)
    failed = Signal(str)
    shown_changed = Signal(bool)

    SOURCES = (("", "All records"), *((tab.key, tab.title) for tab in RECORD_TABS))

    def __init__(self, filter_of: Callable[[str], Filter | None], parent: QWidget):
        super().__init__(parent)
        self._filter_of = filter_of
        self.figures: dict[str, Figure] = {}
        self.worker = StatsWorker(self)
        self.worker.figures_ready.connect(self._on_worker_figures_ready)
        self.worker.failed.connect(self.failed)
        self.updates = 0  # figures received (tests wait on it)
        self._sim_view = False  # "Show this SIM" offered (offer_sim_view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(4)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Figure:", self))
        self.figure_box = QComboBox(self)
        self.figure_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        bar.addWidget(self.figure_box)
        bar.addWidget(QLabel("of", self))
        self.source_box = QComboBox(self)
        for key, title in self.SOURCES:
            self.source_box.addItem(title, key)
        self.source_box.setToolTip("Count the records this table shows (under its filter), or "
                                   "all records")
        bar.addWidget(self.source_box)
        bar.addWidget(QLabel("Bucket:", self))
        self.every_box = QComboBox(self)
        self.every_box.addItem("Auto (follows the zoom)", None)
        for text in ("1s", "10s", "1m", "5m", "15m", "1h", "6h", "1d"):
            self.every_box.addItem(text, capstats.parse_every(text))
        bar.addWidget(self.every_box)
        bar.addStretch(1)
        self.status_label = QLabel(self)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        bar.addWidget(self.status_label)
        self.sim_button = QPushButton("Show this SIM", self)
        self.sim_button.setToolTip("Everything about the selected SIM, in time order")
        self.sim_button.hide()
        bar.addWidget(self.sim_button)
        self.export_button = QToolButton(self)
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("Chart as PNG…", lambda: self._export("png"))
        menu.addAction("Chart as SVG…", lambda: self._export("svg"))
        menu.addAction("Numbers as CSV…", lambda: self._export("csv"))
        self.export_button.setMenu(menu)
        bar.addWidget(self.export_button)
        layout.addLayout(bar)
        self.note_label = QLabel(self)
        self.note_label.setTextFormat(Qt.TextFormat.PlainText)
        self.note_label.hide()
        layout.addWidget(self.note_label)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.chart = ChartWidget(self.splitter)
        self.model = FigureModel(self)
        self.table = QTableView(self.splitter)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.setToolTip("Click a row to show its records")
        self.splitter.addWidget(self.chart)
        self.splitter.addWidget(self.table)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout.addWidget(self.splitter, 1)
        self._zoom_timer = QTimer(self)
        self._zoom_timer.setSingleShot(True)
        self._zoom_timer.setInterval(400)
        self._zoom_timer.timeout.connect(self._on_zoom_timer_timeout)
        self._zoom_every: float | None = None  # the bucket the zoom asks for
        self._window: tuple[float, float] | None = None  # the time the zoom asks to count
        self._asked: Query | None = None  # the query last sent to the worker
        self.figure_box.currentIndexChanged.connect(self._on_figure_box_current_index_changed)
        self.source_box.currentIndexChanged.connect(self._on_source_box_current_index_changed)
        self.every_box.currentIndexChanged.connect(self._on_every_box_current_index_changed)
        self.table.clicked.connect(self._on_table_clicked)
        self.chart.bar_clicked.connect(self._on_chart_bar_clicked)
        self.chart.getPlotItem().sigXRangeChanged.connect(self._on_chart_x_range_changed)
        self.sim_button.clicked.connect(self._on_sim_button_clicked)
        self.table.selectionModel().currentRowChanged.connect(self._update_sim_button)

    def sizeHint(self) -> QSize:
        return QSize(700, 400)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # The table beside the chart where there is room, under it where there is not.
        wide = event.size().width() >= 1000
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.splitter.orientation() != orientation:
            self.splitter.setOrientation(orientation)
            length = event.size().width() if wide else self.splitter.height()
            self.splitter.setSizes([length * 3 // 5, length * 2 // 5])

    # -- what to count --------------------------------------------------------------------

    def set_capture(self, path: str | Path | None) -> None:
        """Count the records of ``path`` from now on."""
        self.figures = {}
        self._show_current()
        self.worker.set_capture(None if path is None else Path(path))
        if self._window is not None:  # (another capture: another stretch of time)
            self._window = None
            self._ask()

    def source(self) -> str:
        """The record table whose filter the figures honour ("": all records)."""
        return self.source_box.currentData() or ""

    def set_source(self, table: str) -> None:
        index = self.source_box.findData(table)
        self.source_box.setCurrentIndex(max(index, 0))

    def filter_changed(self, table: str) -> None:
        """A record table's filter changed: count again if it is the one honoured."""
        if table == self.source():
            self._ask()

    def records_arrived(self) -> None:
        self.worker.poke()

    def query(self) -> Query:
        table = self.source()
        every = self.every_box.currentData() or self._zoom_every
        if not table:
            return Query(None, None, every, self._window)
        tab = next(t for t in RECORD_TABS if t.key == table)
        flt = self._filter_of(table)
        return Query(tuple(tab.families), None if flt is None or flt.is_empty else flt, every,
                     self._window)

    def _ask(self) -> None:
        self._asked = self.query()
        self.worker.set_query(self._asked)
        self.status_label.setText("Counting…")

    # -- showing ----------------------------------------------------------------------------

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.worker.set_query(self.query())
        self.worker.set_shown(True)
        self.shown_changed.emit(True)

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.worker.set_shown(False)
        self.shown_changed.emit(False)

    def stop(self) -> None:
        """Stop the worker thread (before the application quits)."""
        self.worker.stop()

    def _on_worker_figures_ready(self, figures: list[Figure]) -> None:
        self.updates += 1
        first = not self.figures
        self.figures = {f.key: f for f in figures}
        if first or self.figure_box.count() != len(figures):
            self.figure_box.blockSignals(True)
            current = self.figure_box.currentData()
            self.figure_box.clear()
            for f in figures:
                self.figure_box.addItem(f.title, f.key)
            self.figure_box.setCurrentIndex(max(self.figure_box.findData(current), 0))
            self.figure_box.blockSignals(False)
        self.status_label.setText(f"Counted in {self.worker.seconds:.2f} s")
        self._show_current()

    def current_figure(self) -> Figure | None:
        return self.figures.get(self.figure_box.currentData() or "")

    def select_figure(self, key: str) -> None:
        self.figure_box.setCurrentIndex(self.figure_box.findData(key))

    def _show_current(self) -> None:
        figure = self.current_figure()
        shown = self.model.figure
        self.model.set_figure(figure)
        if figure is not None and (shown is None or shown.key != figure.key
                                   or shown.columns != figure.columns):
            self.table.resizeColumnsToContents()  # (once a figure: it reads every cell)
        self.chart.getPlotItem().sigXRangeChanged.disconnect(self._on_chart_x_range_changed)
        try:
            self.chart.show_figure(figure)
        finally:
            self.chart.getPlotItem().sigXRangeChanged.connect(self._on_chart_x_range_changed)
        note = figure.note if figure is not None else ""
        if figure is not None and figure.every:
            buckets = f"Buckets of {_every_text(figure.every)}" + (
                ", counted over the time shown" if figure.window is not None else "")
            note = " · ".join(x for x in (buckets, note) if x)
        self.note_label.setText(note)
        self.note_label.setVisible(bool(note))
        self._update_sim_button()

    def _on_figure_box_current_index_changed(self, _index: int) -> None:
        self._show_current()

    def _on_source_box_current_index_changed(self, _index: int) -> None:
        self._ask()

    def _on_every_box_current_index_changed(self, _index: int) -> None:
        self._zoom_every = None
        figure = self.current_figure()
        fixed = self.every_box.currentData()
        self._window = None
        if fixed and figure is not None and figure.every:  # a time figure: the time it shows
            low, high = self.chart.getPlotItem().viewRange()[0]
            self._window = self._window_for(fixed, low, high)
        self._ask()

    def _on_chart_x_range_changed(self, _box, x_range) -> None:
        figure = self.current_figure()
        if figure is None or not figure.every:
            return
        self._pending_range = x_range
        self._zoom_timer.start()

    def _window_for(self, every: float, low: float, high: float) -> tuple[float, float] | None:
        """The time to count for buckets of ``every`` while the chart shows ``low``-``high``
        (Unix seconds): None (all of it, from the hourly rollups) for whole hours; else the
        window asked before if it holds the time shown, or the time shown and half as much
        again each side (a little panning or zooming counts nothing again)."""
        if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
            return None
        width = high - low
        if round(max(every, _round_up(2 * width / MAX_BUCKETS)) * 1000) % HOUR_MS == 0:
            return None
        if self._window is not None and self._window[0] <= low and high <= self._window[1] \
                and self._window[1] - self._window[0] <= 4 * width:
            return self._window
        return (low - width / 2, high + width / 2)

    def _on_zoom_timer_timeout(self) -> None:
        low, high = self._pending_range
        if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
            return
        figure = self.current_figure()
        if figure is None:
            return
        fixed = self.every_box.currentData()
        if not fixed:
            first = datetime.fromtimestamp(low, UTC).isoformat()
            last = datetime.fromtimestamp(high, UTC).isoformat()
            every = capstats.auto_every(first, last)
            if every != figure.every and every != self._zoom_every:
                self._zoom_every = every
        self._window = self._window_for(fixed or self._zoom_every or figure.every, low, high)
        if self.query() != self._asked:
            self._ask()

    # -- click-through ----------------------------------------------------------------------

    def _on_table_clicked(self, index: QModelIndex) -> None:
        self._click(index.row(), index.column())

    def _on_chart_bar_clicked(self, row: int, column: int) -> None:
        self.table.selectRow(row)
        self._click(row, column)

    def _click(self, row: int, column: int) -> None:
        figure = self.current_figure()
        if figure is None:
            return
        expr = click_expression(figure, row, column)
        if expr is None:
            return
        table = target_table(figure, row, column)
        source = self.source()
        if source:
            table = source
        self.filter_wanted.emit(table, expr, table == source)

    def _selected_iccid(self) -> str | None:
        figure = self.current_figure()
        index = self.table.currentIndex()
        if figure is None or "iccid" not in figure.fields or not index.isValid():
            return None
        value = figure.rows[index.row()][figure.fields.index("iccid")]
        return value if isinstance(value, str) else None

    def _update_sim_button(self, *_args) -> None:
        self.sim_button.setVisible(self._sim_view and self._selected_iccid() is not None)

    def offer_sim_view(self) -> None:
        """Offer "Show this SIM" (``sim_wanted``) for a selected SIM: someone shows it."""
        self._sim_view = True
        self._update_sim_button()

    def _on_sim_button_clicked(self) -> None:
        iccid = self._selected_iccid()
        if iccid is not None:
            self.sim_wanted.emit(iccid)

    # -- export -----------------------------------------------------------------------------

    def export(self, kind: str, path: Path) -> None:
        """Write the current figure: its chart as "png" or "svg", its numbers as "csv"."""
        figure = self.current_figure()
        if figure is None:
            raise ValueError("no figure counted yet")
        if kind == "csv":
            write_csv(figure, path)
        else:
            export_image(self.chart, path)

    def _export(self, kind: str) -> None:
        figure = self.current_figure()
        if figure is None:
            self.failed.emit("Nothing to export yet: the figures are still being counted")
            return
        filters = {"png": "PNG image (*.png)", "svg": "SVG image (*.svg)",
                   "csv": "CSV (*.csv)"}
        name = f"{figure.key}.{kind}"
        path, _ = QFileDialog.getSaveFileName(self, f"Export {figure.title}", name,
                                              filters[kind])
        if not path:
            return
        try:
            self.export(kind, Path(path))
        except (OSError, ValueError) as exc:
            self.failed.emit(f"Could not export to {path}: {error_text(exc)}")


def _every_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


