"""The Redeliveries view: what the streamer sent again after a batch was not acknowledged.

One row per unacknowledged request with records (``app.capture.ledger.redeliveries``): when it
came, how it was answered (and by which rule), how many of its records came back, in which later
requests, after what delay, and how many never came back yet. A summary line on top
(``ledger_summary``). The figures are computed on the reader thread (``CaptureReader.
watch_redeliveries``, while the view is shown) and arrive as a :class:`RedeliveryReport`; the
GUI thread only swaps the rows in.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.capture.rules import PAUSE_RULE
from app.display import counted
from app.records.cells import time_cell, zone_name
from app.ui.reader import RedeliveryReport, answer_text, duration_text
from app.ui.values import plain, tooltip_text

_Index = QModelIndex | QPersistentModelIndex

HEADERS = ("Request", "Received", "Answer", "Records", "Came back", "In requests",
           "First after", "Median", "Max", "Not yet")
EMPTY_HINT = ("No batch was left unacknowledged — use Pause acknowledgements or an answer "
              "rule to see the streamer redeliver.")


def _seconds(value: float | None) -> str:
    return "" if value is None else duration_text(value)


def _later(ids: list[int], limit: int = 8) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f" … (+{len(ids) - limit})" if len(ids) > limit else "")


def answer_cell(status: int, rule: str | None) -> str:
    """How an unacknowledged batch was answered, short: ``503 · paused``, ``503 · '503 for 2'``,
    ``no answer · 'drop for 1'`` (the tooltip says it in full)."""
    what = str(status) if status else "no answer"
    if rule == PAUSE_RULE:
        return f"{what} · paused"
    return f"{what} · '{plain(rule)}'" if rule else what


def summary_line(report: RedeliveryReport) -> str:
    """The line above the table: the ledger's figures in words."""
    if not report.available:
        return ("This capture has no redelivery ledger (it was made before format 6; the "
                "endpoint adds one when it writes into it).")
    s = report.summary
    if not s.unacknowledged_requests and not s.conflicts and not s.duplicates_after_ack:
        line = "No batch was left unacknowledged."
    else:
        line = (f"{s.unacknowledged_requests:,} unacknowledged "
                f"{'batch' if s.unacknowledged_requests == 1 else 'batches'} "
                f"({counted(s.unacknowledged_records, 'record')}): "
                f"{s.records_redelivered:,} redelivered, {s.never_redelivered:,} not yet")
        if s.median_delay_s is not None:
            line += (f" · delay median {duration_text(s.median_delay_s)}, "
                     f"max {duration_text(s.max_delay_s)}")
    extras = []
    if s.conflicts:
        extras.append(f"{s.conflicts:,} conflicting "
                      f"{'arrival' if s.conflicts == 1 else 'arrivals'} (same id, other "
                      f"content) in {s.conflicting_records:,} "
                      f"{'record' if s.conflicting_records == 1 else 'records'}")
    if s.duplicates_after_ack:
        extras.append(f"{s.duplicates_after_ack:,} sent again after an acknowledgement")
    if extras:
        line += " · " + " · ".join(extras)
    note = s.coverage.sentence()
    if note:
        line += f" ({note})"
    return line


class RedeliveriesModel(QAbstractTableModel):
    """The rows of the Redeliveries view: one per unacknowledged request with records."""

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self._rows: list = []
        self._local = False  # Received in local time (View ▸ Times in local time), else UTC

    def set_local_times(self, local: bool) -> None:
        """Show Received in local time or UTC (the header names the zone)."""
        self._local = local
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, 1, 1)
        if self._rows:
            self.dataChanged.emit(self.index(0, 1), self.index(len(self._rows) - 1, 1))

    def set_rows(self, rows: list) -> None:
        """Swap in new rows: rows that stay keep their place (requests only get added, and
        the figures of a row change), so a selection survives."""
        old = {r.request_id: n for n, r in enumerate(self._rows)}
        same = len(rows) >= len(self._rows) and all(
            old.get(r.request_id) == n for n, r in enumerate(rows[:len(self._rows)]))
        if not same:
            self.beginResetModel()
            self._rows = list(rows)
            self.endResetModel()
            return
        before = len(self._rows)
        if len(rows) > before:
            self.beginInsertRows(QModelIndex(), before, len(rows) - 1)
            self._rows = list(rows)
            self.endInsertRows()
        else:
            self._rows = list(rows)
        if before:
            self.dataChanged.emit(self.index(0, 0), self.index(before - 1, len(HEADERS) - 1))

    def request_at(self, row: int):
        return self._rows[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            if section == 1:
                return f"{HEADERS[1]} ({zone_name(self._local)})"
            return HEADERS[section] if 0 <= section < len(HEADERS) else None
        return str(section + 1)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip_text(self._tip(row, column)) or None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 3, 4, 6, 7, 8, 9):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _text(self, row, column: int) -> str:
        if column == 0:
            return str(row.request_id)
        if column == 1:
            return time_cell(row.received_at, self._local).text
        if column == 2:
            return answer_cell(row.status, row.rule)
        if column == 3:
            return f"{row.records:,}"
        if column == 4:
            return f"{row.redelivered:,}"
        if column == 5:
            return _later(row.later_requests)
        if column == 6:
            return _seconds(row.first_delay_s)
        if column == 7:
            return _seconds(row.median_delay_s)
        if column == 8:
            return _seconds(row.max_delay_s)
        return f"{row.never_redelivered:,}"

    @staticmethod
    def _tip(row, column: int) -> str:
        if column == 5 and row.later_requests:
            return "Came back in requests " + ", ".join(map(str, row.later_requests))
        if column == 9:
            untracked = row.records - row.tracked
            extra = (f"; {untracked:,} not tracked (no id, or not looked at yet)"
                     if untracked else "")
            return f"{row.never_redelivered:,} of its records never came back yet{extra}"
        if column == 2:
            return f"Request {row.request_id} was {answer_text(row.status, row.rule, False)}"
        return ("Double-click: show this request in the Requests table; Show its records: "
                "select its records in their table")

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


class RedeliveriesView(QWidget):
    """The Redeliveries tab: a summary line and, per unacknowledged request, its fate."""

    request_activated = Signal(int)  # show this request in the Requests table
    request_selected = Signal(int)  # this request is the current row: show its detail
    records_wanted = Signal(int)  # select the records of this request
    shown_changed = Signal(bool)  # the view became visible (True) or hidden

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(4)
        head = QHBoxLayout()
        self.summary = QLabel(self)
        self.summary.setObjectName("redeliverySummary")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.summary.setText("Computing…")
        head.addWidget(self.summary, 1)
        self.records_button = QPushButton("Show its records", self)
        self.records_button.setToolTip("Select the records of the chosen request")
        self.records_button.setEnabled(False)
        self.records_button.clicked.connect(self._on_records_button_clicked)
        head.addWidget(self.records_button)
        layout.addLayout(head)
        self.model = RedeliveriesModel(self)
        self.table = _HintTable(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        vertical = self.table.verticalHeader()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        vertical.hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        for column, width in enumerate((62, 165, 120, 62, 70, 80, 72, 72, 72, 60)):
            self.table.setColumnWidth(column, width)
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        self.table.selectionModel().currentRowChanged.connect(
            self._on_table_current_row_changed)
        layout.addWidget(self.table, 1)
        self.available = True

    def show_report(self, report: RedeliveryReport) -> None:
        """Show freshly computed figures (from the reader thread)."""
        self.available = report.available
        self.summary.setText(summary_line(report))
        self.model.set_rows(report.requests)
        self.table.hint = "" if self.model.rowCount() else (
            EMPTY_HINT if report.available else "")
        self.table.viewport().update()

    def clear(self) -> None:
        """Another capture is shown: nothing until its figures arrive."""
        self.model.set_rows([])
        self.summary.setText("Computing…")

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.shown_changed.emit(True)

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.shown_changed.emit(False)

    def _current(self):
        index = self.table.currentIndex()
        return self.model.request_at(index.row()) if index.isValid() else None

    def _on_table_current_row_changed(self, current: QModelIndex, _previous) -> None:
        self.records_button.setEnabled(current.isValid())
        if current.isValid():
            self.request_selected.emit(self.model.request_at(current.row()).request_id)

    def _on_table_double_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.request_activated.emit(self.model.request_at(index.row()).request_id)

    def _on_records_button_clicked(self) -> None:
        row = self._current()
        if row is not None:
            self.records_wanted.emit(row.request_id)


class _HintTable(QTableView):
    """A table that says why it is empty."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.hint = ""

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.model().rowCount() == 0 and self.hint:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            rect = self.viewport().rect().adjusted(24, 24, -24, -24)
            painter.drawText(rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
                             | Qt.TextFlag.TextWordWrap, self.hint)
            painter.end()
