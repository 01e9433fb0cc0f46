"""The SIM view: everything about one ICCID across Events, Usage and SMS in time order.

A timeline on top (a time axis; the SIM's data sessions as bars, an open one drawn up to the
next session or the last record and left without its closing edge; alerts as markers; every
record as a tick) and the table of its records below (time, family, type, volume, session).
Clicking a row or a marker selects that record in its table of the main window
(``record_activated``); clicking a bar selects the session's rows here.

The records and sessions come from :func:`app.capture.simview.sim_view`, run on a thread of
its own with its own read-only connection (a SIM of a 1,000,000-record capture: ~0.1 s); the
GUI thread only swaps the answer in. A failure is said in the view and in the window's message
bar. Text from the wire is plain text here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPointF,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.capture.schema import open_reader
from app.capture.simview import SimRecord, SimView, sim_of_record, sim_view
from app.display import counted
from app.records.cells import time_text, zone_name
from app.ui.theme import is_dark, set_tone_style, tone
from app.ui.values import plain

log = logging.getLogger(__name__)
_Index = QModelIndex | QPersistentModelIndex

HEADERS = ("Time", "Family", "Type", "Volume", "Session", "Alert")
FAMILY_NAMES = {"event": "Event", "usage": "Usage", "sms_dr": "SMS report", "sms_mo": "MO SMS",
                "unknown": "Other"}
# Family tick colours on a light and a dark background.
_FAMILY_COLOURS = {"event": ("#0969da", "#58a6ff"), "usage": ("#1a7f37", "#3fb950"),
                   "sms_dr": ("#8250df", "#bc8cff"), "sms_mo": ("#8250df", "#bc8cff"),
                   "unknown": ("#59636e", "#9ba3ab")}
_ROW_OF = {"event": 1, "usage": 2, "sms_dr": 3, "sms_mo": 3, "unknown": 1}  # timeline tick rows
_SPAN_COLOURS = (("#54aeff", "#1f6feb"), ("#4ac26b", "#238636"))  # alternating bars


def _colour(pair: tuple[str, str]) -> QColor:
    return QColor(pair[1] if is_dark() else pair[0])


def volume_text(value: float | None, unit: str) -> str:
    """A volume with its unit, all its digits (as the records carry them, to 6 places)."""
    if value is None:
        return ""
    text = f"{value:.6f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
    return f"{text} {unit}".strip()


def moment_text(seconds: float | None, local: bool) -> str:
    """Epoch seconds in the tables' time format, or "" when None."""
    if seconds is None:
        return ""
    try:
        return time_text(dt.datetime.fromtimestamp(seconds, dt.UTC), local)
    except (OverflowError, OSError, ValueError):
        return ""


def totals_text(view: SimView, local: bool = False) -> str:
    """The SIM's totals in one line, each with its unit."""
    t = view.totals
    order = list(FAMILY_NAMES)
    families = ", ".join(f"{n:,} {FAMILY_NAMES.get(f, f)}" for f, n in sorted(
        t.records.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99))
    parts = [f"{len(view.records):,} records ({families})" if view.records else "no records",
             f"data {volume_text(t.data_mb, 'MB') or '0 MB'}",
             f"SMS {volume_text(t.sms, '') or '0'} (usage) · {counted(t.sms_events, 'SMS event')}",
             f"{counted(t.sessions, 'session')} ({t.open_sessions:,} open)",
             counted(t.alerts, "alert")]
    if t.cost:
        parts.append("cost " + ", ".join(volume_text(v, plain(code) or "(no currency)")
                                         for code, v in sorted(t.cost.items())))
    if t.unreadable:
        parts.append(f"{t.unreadable:,} usage volumes unreadable (not summed)")
    if t.unreadable_times:
        parts.append(f"{t.unreadable_times:,} times unreadable (listed last)")
    line = " · ".join(parts)
    if view.first is not None:
        line = (f"{moment_text(view.first, local)} to {moment_text(view.last, local)}: "
                + line)
    return line


class SimRecordsModel(QAbstractTableModel):
    """The SIM's records in time order: time, family, type, volume, session, alert."""

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self._view: SimView | None = None
        self._local = False

    def set_view(self, view: SimView | None, local: bool) -> None:
        self.beginResetModel()
        self._view, self._local = view, local
        self.endResetModel()

    def record_at(self, row: int) -> SimRecord | None:
        if self._view is None or not 0 <= row < len(self._view.records):
            return None
        return self._view.records[row]

    def row_of(self, record_id: int) -> int | None:
        if self._view is None:
            return None
        return next((n for n, r in enumerate(self._view.records) if r.id == record_id), None)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or self._view is None else len(self._view.records)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            if section == 0:
                return f"Time ({zone_name(self._local)})"
            return HEADERS[section] if 0 <= section < len(HEADERS) else None
        return str(section + 1)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        rec = self.record_at(index.row()) if index.isValid() else None
        if rec is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return moment_text(rec.time, self._local) if rec.time is not None \
                    else plain(rec.time_text) or "(no time)"
            if column == 1:
                return FAMILY_NAMES.get(rec.family, rec.family)
            if column == 2:
                return plain(rec.kind)
            if column == 3:
                return "(unreadable)" if rec.unreadable_volume else volume_text(rec.volume,
                                                                                rec.unit)
            if column == 4:
                return "" if rec.session is None else f"#{rec.session + 1}"
            if column == 5:
                return "alert" if rec.alert else ""
            return None
        if role == Qt.ItemDataRole.ToolTipRole and column == 0 and rec.time is None:
            return plain(f"As sent: {rec.time_text or '(none)'}\nNo clock reads this time: "
                         f"listed after the readable ones")
        if role == Qt.ItemDataRole.ToolTipRole and column == 4 and rec.session is not None:
            session = self._view.sessions[rec.session]
            return plain(f"Data session #{rec.session + 1}, joined by {session.rule}"
                         + (f": {session.session_id}" if session.session_id else ""))
        if role == Qt.ItemDataRole.ForegroundRole and rec.alert:
            return QColor(tone("error"))
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class SimTimeline(QWidget):
    """The time axis: data sessions as bars, alerts as markers, every record as a tick.

    Its geometry is computed by :meth:`span_rects` and :meth:`marker_points` (what it paints
    and what a click hits)."""

    record_clicked = Signal(int)  # a marker or tick: its record id
    session_clicked = Signal(int)  # a bar: the session's number

    MARGIN = 12
    LABELS = 64  # the lane names on the left
    AXIS_H = 22
    LANE_H = 16
    ROW_H = 14  # a row of ticks
    # rows of ticks below the session lanes: alerts, then each family's records
    ROWS = ("Alerts", "Events", "Usage", "SMS")

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self._view: SimView | None = None
        self._local = False
        self.selected: int | None = None  # the record shown selected (a ring)
        self._lanes = 1  # session lanes drawn (overlapping sessions: up to three)
        self.setMinimumHeight(int(self._ticks_y() + len(self.ROWS) * self.ROW_H
                                  + self.AXIS_H + 8))
        self.setMouseTracking(True)

    def sizeHint(self) -> QSize:
        return QSize(800, self.minimumHeight() + 10)

    def set_view(self, view: SimView | None, local: bool) -> None:
        self._view, self._local = view, local
        self._lanes = 1 + max((int((r.top() - self._lanes_top()) // (self.LANE_H + 3))
                               for _, r in self.span_rects()), default=0)
        self.setMinimumHeight(int(self._ticks_y() + len(self.ROWS) * self.ROW_H
                                  + self.AXIS_H + 8))
        self.update()

    # -- geometry ----------------------------------------------------------------------------

    def _range(self) -> tuple[float, float] | None:
        view = self._view
        if view is None or view.first is None or view.last is None:
            return None
        low, high = view.first, view.last
        if high - low < 1:
            low, high = low - 30, high + 30
        pad = (high - low) * 0.02
        return low - pad, high + pad

    def x_of(self, moment: float) -> float:
        """The x coordinate of a moment (epoch seconds) on the axis."""
        span = self._range()
        if span is None:
            return float(self.LABELS)
        low, high = span
        width = max(1, self.width() - self.LABELS - self.MARGIN)
        return self.LABELS + (moment - low) / (high - low) * width

    def _lanes_top(self) -> float:
        return 6.0

    def span_rects(self) -> list[tuple[int, QRectF]]:
        """Each data session's bar: (session number, rectangle), in its lane (sessions that
        overlap go to the lanes below)."""
        view = self._view
        if view is None or self._range() is None:
            return []
        lane_ends: list[float] = []
        out = []
        for session in view.sessions:
            if session.start is None:
                continue
            start = session.start
            end = session.until if session.until is not None else start
            lane = next((n for n, e in enumerate(lane_ends) if e <= start), len(lane_ends))
            if lane == len(lane_ends):
                lane_ends.append(end)
            lane_ends[lane] = max(end, start)
            lane = min(lane, 2)  # at most three lanes: a deeper overlap shares the last
            x0, x1 = self.x_of(start), self.x_of(end)
            top = self._lanes_top() + lane * (self.LANE_H + 3)
            out.append((session.number, QRectF(x0, top, max(3.0, x1 - x0), self.LANE_H)))
        return out

    def _ticks_y(self) -> float:
        return self._lanes_top() + self._lanes * (self.LANE_H + 3) + 4 + self.ROW_H / 2

    def marker_points(self) -> list[tuple[int, QPointF, bool]]:
        """Each record with a readable time: (record id, point, whether it is an alert);
        alerts on the Alerts row, the others on their family's row."""
        view = self._view
        if view is None or self._range() is None:
            return []
        y = self._ticks_y()
        return [(r.id, QPointF(self.x_of(r.time), y + self.ROW_H * (
            0 if r.alert else _ROW_OF.get(r.family, 1))), r.alert)
            for r in view.records if r.time is not None]

    # -- painting ----------------------------------------------------------------------------

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            palette = self.palette()
            painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
            text = palette.color(QPalette.ColorRole.Text)
            if self._range() is None:
                painter.setPen(QColor(tone("muted")))
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                                 "No record of this SIM has a time to draw."
                                 if self._view is not None else "")
                return
            self._paint_axis(painter, text)
            painter.setPen(QColor(tone("muted")))
            metrics = painter.fontMetrics()
            for n, name in enumerate(("Sessions", *self.ROWS)):
                y = (self._lanes_top() + self.LANE_H / 2) if n == 0 else \
                    self._ticks_y() + (n - 1) * self.ROW_H
                painter.drawText(QPointF(4, y + metrics.ascent() / 2 - 1), name)
            for number, rect in self.span_rects():
                session = self._view.sessions[number]
                fill = _colour(_SPAN_COLOURS[number % 2])
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(fill)
                painter.drawRoundedRect(rect, 3, 3)
                if session.open:  # no closing edge: a fading end
                    painter.setBrush(palette.color(QPalette.ColorRole.Base))
                    painter.setOpacity(0.55)
                    painter.drawRect(QRectF(rect.right() - min(12, rect.width() / 2),
                                            rect.top(), min(12, rect.width() / 2),
                                            rect.height()))
                    painter.setOpacity(1.0)
                label = f"#{number + 1}"
                if rect.width() > painter.fontMetrics().horizontalAdvance(label) + 6:
                    painter.setPen(QColor("#ffffff"))
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)
            for record_id, point, alert in self.marker_points():
                rec = self._view.record(record_id)
                if alert:
                    path = QPainterPath()
                    path.moveTo(point.x(), point.y() + 5)
                    path.lineTo(point.x() - 5, point.y() - 5)
                    path.lineTo(point.x() + 5, point.y() - 5)
                    path.closeSubpath()
                    painter.setPen(Qt.PenStyle.NoPen)
                    painter.setBrush(QColor(tone("error")))
                    painter.drawPath(path)
                else:
                    painter.setPen(QPen(_colour(_FAMILY_COLOURS.get(
                        rec.family if rec else "unknown", _FAMILY_COLOURS["unknown"])), 2))
                    painter.drawLine(QPointF(point.x(), point.y() - 4),
                                     QPointF(point.x(), point.y() + 4))
                if record_id == self.selected:
                    painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 2))
                    painter.setBrush(Qt.BrushStyle.NoBrush)
                    painter.drawEllipse(point, 7, 7)
        finally:
            painter.end()

    def _paint_axis(self, painter: QPainter, text: QColor) -> None:
        low, high = self._range()
        y = self.height() - self.AXIS_H
        painter.setPen(QPen(text, 1))
        painter.drawLine(QPointF(self.LABELS, y), QPointF(self.width() - self.MARGIN, y))
        metrics = painter.fontMetrics()
        ticks = max(2, min(8, self.width() // 160))
        right = -1.0  # the right edge of the last label drawn
        for n in range(ticks + 1):
            moment = low + (high - low) * n / ticks
            x = self.x_of(moment)
            painter.drawLine(QPointF(x, y), QPointF(x, y + 4))
            label = moment_text(moment, self._local)[:16 if high - low > 120 else 19]
            width = metrics.horizontalAdvance(label)
            left = min(max(float(self.LABELS) - 20, x - width / 2), self.width() - width)
            if left < right + 8:
                continue  # it would overlap the one before
            painter.drawText(QPointF(left, y + 4 + metrics.ascent()), label)
            right = left + width

    # -- clicks ------------------------------------------------------------------------------

    def item_at(self, pos: QPointF) -> tuple[str, int] | None:
        """What a click at ``pos`` hits: ("record", id) or ("session", number), or None."""
        best = None
        for record_id, point, _alert in self.marker_points():
            distance = abs(point.x() - pos.x()) + abs(point.y() - pos.y())
            if distance <= 8 and (best is None or distance < best[0]):
                best = (distance, record_id)
        if best is not None:
            return "record", best[1]
        for number, rect in self.span_rects():
            if rect.adjusted(-2, -2, 2, 2).contains(pos):
                return "session", number
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        hit = self.item_at(event.position())
        if hit is None:
            return super().mousePressEvent(event)
        kind, number = hit
        if kind == "record":
            self.record_clicked.emit(number)
        else:
            self.session_clicked.emit(number)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        hit = self.item_at(event.position())
        tip = ""
        if hit is not None and self._view is not None:
            kind, number = hit
            if kind == "record" and (rec := self._view.record(number)) is not None:
                tip = plain(f"{moment_text(rec.time, self._local)} · "
                            f"{FAMILY_NAMES.get(rec.family, rec.family)} · {rec.kind}"
                            + (f" · {volume_text(rec.volume, rec.unit)}" if rec.volume
                               is not None else "") + (" · alert" if rec.alert else ""))
            elif kind == "session":
                tip = session_text(self._view, number, self._local)
        self.setToolTip(tip)
        super().mouseMoveEvent(event)


def session_text(view: SimView, number: int, local: bool = False) -> str:
    """A data session in words: its times, volume, records and how it was joined."""
    s = view.sessions[number]
    end = moment_text(s.end, local) if s.end is not None else "open (no Delete PDP Context)"
    text = (f"Session #{number + 1}: {moment_text(s.start, local)} to {end}\n"
            f"{volume_text(s.volume, 'MB') or '0 MB'} in "
            f"{counted(s.usage_records, 'usage record')}; {counted(len(s.records), 'record')}, "
            f"joined by {s.rule}")
    if s.session_id:
        text += f" ({s.session_id})"
    if s.reported is not None:
        text += f"\nIts Delete PDP Context reports {volume_text(s.reported, 'MB')}"
    if s.create is None:
        text += "\nIts Create PDP Context was not seen"
    return plain(text)


class _Loader(QObject):
    """Runs :func:`sim_view` on a thread of its own with its own read-only connection;
    answers by ``loaded`` (token, view) or ``failed`` (token, message)."""

    loaded = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self.token = 0

    def start(self, path: Path, iccid: str | None, record_id: int | None) -> int:
        self.token += 1
        threading.Thread(target=self._run, args=(self.token, path, iccid, record_id),
                         name="sim-view", daemon=True).start()
        return self.token

    def _run(self, token: int, path: Path, iccid: str | None, record_id: int | None) -> None:
        try:
            db = open_reader(path)
            try:
                if iccid is None and record_id is not None:
                    iccid = sim_of_record(db, record_id)
                    if iccid is None:
                        raise LookupError(f"record {record_id} names no SIM (no sim.iccid, and "
                                          f"no other record has its endpoint name or MSISDN)")
                view = sim_view(db, iccid or "")
            finally:
                db.close()
        except Exception as exc:  # said in the view and the message bar
            from app.ui.reader import error_text

            log.warning("the SIM view: %s", exc)
            with contextlib.suppress(RuntimeError):  # (the view may be gone by now)
                self.failed.emit(token, error_text(exc))
            return
        with contextlib.suppress(RuntimeError):
            self.loaded.emit(token, view)


class SimViewDialog(QDialog):
    """One SIM's view (see the module's docstring); the window keeps one and shows it
    again for another SIM."""

    record_activated = Signal(int)  # select this record in its table of the main window
    failed = Signal(str)  # a message for the user

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setWindowTitle("SIM")
        self.resize(1000, 640)
        self._path: Path | None = None
        self._iccid: str | None = None
        self._record_id: int | None = None
        self._token = 0
        self._quiet = False
        self._label: str | None = None
        # identifiers masked (View ▸ Mask identifiers): the ICCID's pseudonym, as the tables
        self.mask: Callable[[str], str] | None = None
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(1000)
        self._refresh_timer.timeout.connect(self._on_refresh_timer_timeout)
        self.local = False
        self.view: SimView | None = None
        self.loader = _Loader(self)
        self.loader.loaded.connect(self._on_loader_loaded)
        self.loader.failed.connect(self._on_loader_failed)

        self.title = QLabel(self)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.totals = QLabel(self)
        self.totals.setTextFormat(Qt.TextFormat.PlainText)
        self.totals.setWordWrap(True)
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = QLabel(self)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.refresh_button = QPushButton("&Refresh", self)
        self.refresh_button.setToolTip("Read this SIM's records again (records that arrived "
                                       "since are added)")
        self.refresh_button.clicked.connect(self._on_refresh_button_clicked)
        self.timeline = SimTimeline(self)
        self.timeline.record_clicked.connect(self._on_timeline_record_clicked)
        self.timeline.session_clicked.connect(self._on_timeline_session_clicked)
        self.model = SimRecordsModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((190, 90, 260, 120, 70)):
            self.table.setColumnWidth(column, width)
        self.table.clicked.connect(self._on_table_clicked)
        self.table.activated.connect(self._on_table_clicked)

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.refresh_button)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.timeline)
        splitter.addWidget(self.table)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([self.timeline.minimumHeight(), 420])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.totals)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)

    # -- loading -----------------------------------------------------------------------------

    def show_sim(self, path: Path, iccid: str | None = None, record_id: int | None = None,
                 label: str | None = None) -> None:
        """Show the SIM ``iccid`` (or that of record ``record_id``) of the capture ``path``;
        ``label``: what the title calls it (a masked ICCID) instead of the ICCID."""
        self._path, self._iccid, self._record_id = Path(path), iccid, record_id
        self._label = label
        name = label or (self._name(iccid) if iccid else f"of record {record_id}")
        self.setWindowTitle(plain(f"SIM {name}"))
        self.title.setText(plain(f"SIM {name}"))
        self._load()
        self.show()
        self.raise_()
        self.activateWindow()

    def _load(self, quiet: bool = False) -> None:
        if self._path is None:
            return
        self._quiet = quiet
        if not quiet:
            self.status.setText("Reading this SIM's records…")
            set_tone_style(self.status, "color: $muted;")
            self.status.show()
        self.refresh_button.setEnabled(False)
        self._token = self.loader.start(self._path, self._iccid, self._record_id)

    def records_arrived(self) -> None:
        """Records arrived: while shown, the view is read again (at most once a second)."""
        if self.isVisible() and self.view is not None and not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _on_refresh_timer_timeout(self) -> None:
        if self.loading:
            self._refresh_timer.start()  # after the reading under way
        elif self.isVisible():
            self._load(quiet=True)

    def set_local(self, local: bool) -> None:
        """Times in local time (True) or UTC, at once."""
        self.local = local
        if self.view is not None:
            self.model.set_view(self.view, local)
            self.timeline.set_view(self.view, local)
            self.totals.setText(totals_text(self.view, local))

    def _name(self, iccid: str) -> str:
        return self.mask(iccid) if self.mask is not None else iccid

    @property
    def loading(self) -> bool:
        return not self.refresh_button.isEnabled()

    def _on_refresh_button_clicked(self) -> None:
        self._load()

    def _on_loader_loaded(self, token: int, view: SimView) -> None:
        if token != self._token:
            return  # an earlier SIM's answer
        self.refresh_button.setEnabled(True)
        keep = []  # the records selected before (read again as records arrived)
        if self.view is not None and self.view.iccid == view.iccid:
            keep = [r.id for r in (self.model.record_at(i.row()) for i in
                                   self.table.selectionModel().selectedRows()) if r]
        self.view = view
        self._iccid = view.iccid  # (a record's SIM: known now)
        if self._label is None:
            self.setWindowTitle(plain(f"SIM {self._name(view.iccid)}"))
            self.title.setText(plain(f"SIM {self._name(view.iccid)}"))
        self.model.set_view(view, self.local)
        self.timeline.set_view(view, self.local)
        self.totals.setText(totals_text(view, self.local))
        if not view.records:
            self.status.setText("No record of the capture names this SIM.")
        elif not self._quiet:
            self.status.hide()
        if self._record_id is not None:
            keep, self._record_id = [self._record_id], None  # (its SIM is known now)
        rows = [r for r in (self.model.row_of(i) for i in keep) if r is not None]
        if rows:
            self._select_rows(rows, scroll=not self._quiet)

    def _on_loader_failed(self, token: int, message: str) -> None:
        if token != self._token:
            return
        self.refresh_button.setEnabled(True)
        text = f"This SIM's records could not be read: {message}"
        self.status.setText(text)
        set_tone_style(self.status, "color: $error;")
        self.status.show()
        self.failed.emit(text)

    # -- clicks ------------------------------------------------------------------------------

    def _select_rows(self, rows: list[int], scroll: bool = True) -> None:
        selection = QItemSelection()
        for row in rows:
            selection.select(self.model.index(row, 0),
                             self.model.index(row, self.model.columnCount() - 1))
        self.table.selectionModel().select(
            selection, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        if rows:
            if scroll:
                self.table.scrollTo(self.model.index(rows[0], 0),
                                    QAbstractItemView.ScrollHint.PositionAtCenter)
            rec = self.model.record_at(rows[0])
            self.timeline.selected = rec.id if rec is not None and len(rows) == 1 else None
            self.timeline.update()

    def _on_table_clicked(self, index: QModelIndex) -> None:
        rec = self.model.record_at(index.row())
        if rec is not None:
            self.timeline.selected = rec.id
            self.timeline.update()
            self.record_activated.emit(rec.id)

    def _on_timeline_record_clicked(self, record_id: int) -> None:
        row = self.model.row_of(record_id)
        if row is not None:
            self._select_rows([row])
        self.record_activated.emit(record_id)

    def _on_timeline_session_clicked(self, number: int) -> None:
        if self.view is None or not 0 <= number < len(self.view.sessions):
            return
        rows = [r for r in (self.model.row_of(i) for i in self.view.sessions[number].records)
                if r is not None]
        self._select_rows(rows)
        self.status.setText(session_text(self.view, number, self.local))
        set_tone_style(self.status, "color: $muted;")
        self.status.show()


def sim_entry(model, row: int, masked: bool) -> tuple[str, str | None]:
    """The row context menu's entry for the SIM of a record row: its text, and the ICCID to
    show (None: the view finds the record's SIM itself: an SMS row, a masked table, a row
    without its ICCID)."""
    column = next((n for n, c in enumerate(getattr(model, "columns", ()))
                   if c.name == "iccid"), None)
    text = model.index(row, column).data() if column is not None else None
    if isinstance(text, str) and text.strip():
        return plain(f"Show SIM {text.strip()}…"), None if masked else text.strip()
    return "Show this record's SIM…", None
