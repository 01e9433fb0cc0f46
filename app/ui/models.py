"""Table models over the capture: a compact list of row ids, cell text fetched in blocks.

A model holds only an ``array('q')`` of ids (8 bytes a row) and a bounded cache of rendered
blocks. ``data()`` never touches the disk: a block not in the cache is asked of the reader
thread and the cells show empty until it arrives (a queued signal), then ``dataChanged``.
New rows are appended in one ``beginInsertRows`` per poll.

Sorting (a header click: :meth:`CaptureTableModel.sort`) is done by the reader thread in SQL
(:mod:`app.capture.order`); the model then shows its rows in that order (a second id array)
with one ``layoutChanged``, so the selection and the current row stay on the same records.
Rows that arrive later are added at the bottom, outside the sort, and counted
(``outside_changed``) until the table is sorted again.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import OrderedDict

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPointF,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QApplication

from app.capture.order import SortKey, sortable
from app.records.columns import Column
from app.ui.reader import (
    CONFLICT,
    REQUEST_HEADERS,
    UNACKED,
    CaptureReader,
    LedgerAdvance,
    Rows,
    Sorted,
)
from app.ui.values import tooltip_text

# Rows are rendered (on the reader thread) a block at a time, for what a view shows. A table
# following its newest rows shows the end of blocks just made: each batch has the last two or
# three blocks rendered again, about 80 us a row of an Events table, while the GUI paints with
# the GIL the reader holds (128-row blocks: up to 256 rows, 20 ms; 32-row blocks: up to 96).
BLOCK = 32
CACHED_BLOCKS = 384  # (as many rows as before)

# A view asks data() for seven roles of every cell it paints (Qt passes them as ints): the roles
# answered here are told apart before anything else, the others (alignment, background, check
# state…) get None at once. A paint of the Events tab is ~2000 calls, on the GUI thread.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_DECORATION = int(Qt.ItemDataRole.DecorationRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_ANSWERED = frozenset({_DISPLAY, _TOOLTIP, _FOREGROUND, _FONT, _DECORATION, _ALIGNMENT})
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_ITEM_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

_Index = QModelIndex | QPersistentModelIndex


class CaptureTableModel(QAbstractTableModel):
    """Rows of one table of the capture (requests, or the records of one tab)."""

    # The table's order changed: a sort was asked for (``sorting``: True), applied or refused
    # (False); the text says so, for the status bar ("" when nothing needs saying).
    sort_changed = Signal(bool, str)
    outside_changed = Signal(int)  # rows that arrived after the sort, at the bottom

    def __init__(self, table: str, headers: tuple[str, ...], reader: CaptureReader,
                 parent: QObject):
        super().__init__(parent)
        self.table = table
        self._headers = headers
        self._reader = reader
        self._ids = array("q")  # every row's id, ascending (the arrival order)
        self._order: array | None = None  # the rows as shown when sorted, else None
        self._view = self._ids  # the rows as shown: _order when sorted, else _ids
        self._in_sort = 0  # when sorted: rows of _order in the sort; the others came later
        self.sort_key: SortKey | None = None  # the order asked for (None: arrival)
        self._sort_token = 0
        self._sort_asked: tuple[int, int, int] | None = None  # token, rows then, reshapes
        self._reshapes = 0  # changes other than rows appended (they upset a pending sort)
        self._shown_key: SortKey | None = None  # the order shown, when sorted
        self._cache: OrderedDict[int, Rows] = OrderedDict()
        self._asked: set[int] = set()
        self._stale: set[int] = set()  # cached blocks shown until their fresh copy arrives
        self._generation = 0
        self._right: frozenset[int] = frozenset()  # right-aligned columns (numbers)
        self._time_columns: frozenset[int] = frozenset()  # their headers name the zone
        self._zone = "UTC"
        reader.rows_ready.connect(self._on_reader_rows_ready)
        reader.blocks_dropped.connect(self._on_reader_blocks_dropped)
        reader.rows_sorted.connect(self._on_reader_rows_sorted)

    # -- contents ---------------------------------------------------------------------------

    def reset(self, ids: array | None = None) -> None:
        """Show these rows (a new capture, a new filter); a sort in force is asked again."""
        self.beginResetModel()
        self._ids = array("q", ids or ())
        self._order = None
        self._view = self._ids
        self._in_sort = 0
        self._reshapes += 1
        self._cache.clear()
        self._asked.clear()
        self._stale.clear()
        self._generation += 1
        self.endResetModel()
        if self.sort_key is not None:
            self._ask_sort()
        self.outside_changed.emit(0)

    def invalidate(self) -> None:
        """Forget the rendered cells (e.g. when masking is switched): they are fetched again."""
        self._cache.clear()
        self._asked.clear()
        self._stale.clear()
        self._generation += 1
        if self._ids:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self._ids) - 1, len(self._headers) - 1))

    def set_zone(self, zone: str) -> None:
        """The zone the time columns show (``UTC``, ``CET``): named in their headers."""
        if zone != self._zone:
            self._zone = zone
            for column in sorted(self._time_columns):
                self.headerDataChanged.emit(Qt.Orientation.Horizontal, column, column)

    def remove_ids(self, ids: array) -> None:
        """Take these rows out (a record that no longer passes a ledger filter)."""
        if self._order is not None:
            self._remove_sorted(ids)
            return
        rows = sorted((r for r in map(self.row_of, ids) if r is not None), reverse=True)
        if not rows:
            return
        self._reshapes += 1
        self._forget_from(rows[-1])
        at = 0
        while at < len(rows):  # one removal per stretch of adjacent rows, from the bottom
            last = first = rows[at]
            while at + 1 < len(rows) and rows[at + 1] == first - 1:
                at += 1
                first = rows[at]
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._ids[first:last + 1]
            self.endRemoveRows()
            at += 1

    def _forget_from(self, row: int) -> None:
        """Rows move from ``row`` on: the blocks from there are rendered again."""
        for block in [b for b in self._cache if b >= row // BLOCK]:
            del self._cache[block]
        self._asked = {b for b in self._asked if b < row // BLOCK}
        self._stale = {b for b in self._stale if b < row // BLOCK}

    def _insert_ids(self, ids: array) -> None:
        """Put ids that belong between the rows (sorted) in their places."""
        self._reshapes += 1
        self._forget_from(bisect_left(self._ids, ids[0]))
        at = 0
        while at < len(ids):  # one insertion per stretch that goes in the same place
            row = bisect_left(self._ids, ids[at])
            end = at + 1
            while end < len(ids) and (row == len(self._ids) or ids[end] < self._ids[row]):
                end += 1
            self.beginInsertRows(QModelIndex(), row, row + end - at - 1)
            self._ids[row:row] = ids[at:end]
            self.endInsertRows()
            at = end

    def append_ids(self, ids: array) -> None:
        if not ids:
            return
        if self._order is not None:
            self._append_outside(ids)
            return
        if self._ids and ids[0] <= self._ids[-1]:
            fresh = array("q", sorted(i for i in set(ids) if self.row_of(i) is None))
            if fresh:
                self._insert_ids(fresh)
            return
        first = len(self._ids)
        # The last block may have been rendered while incomplete: render it again, shown as
        # it is until then (a full one stays: a table following its newest rows keeps
        # showing rendered rows while the new ones are rendered).
        tail = (first - 1) // BLOCK if first else None
        if tail is not None and (rows := self._cache.get(tail)) is not None \
                and len(rows.texts) < BLOCK:
            self._stale.add(tail)
            self._asked.discard(tail)
        self.beginInsertRows(QModelIndex(), first, first + len(ids) - 1)
        self._ids.extend(ids)
        self.endInsertRows()

    def id_at(self, row: int) -> int:
        return self._view[row]

    def row_of(self, item_id: int) -> int | None:
        """The row showing ``item_id``, or None."""
        if self._order is not None:
            try:
                return self._order.index(item_id)  # one pass in C: ~10 ms for 1,000,000
            except ValueError:
                return None
        row = bisect_left(self._ids, item_id)
        if row < len(self._ids) and self._ids[row] == item_id:
            return row
        return None

    def rows_between(self, low: int, high: int) -> list[int]:
        """The rows showing ids in ``[low, high)``, in row order (e.g. a request's records)."""
        if self._order is None:
            return list(range(bisect_left(self._ids, low), bisect_left(self._ids, high)))
        start, stop = bisect_left(self._ids, low), bisect_left(self._ids, high)
        if stop - start == 1:
            return [self._order.index(self._ids[start])]
        if stop == start:
            return []
        return [row for row, item in enumerate(self._order) if low <= item < high]

    # -- sorting ----------------------------------------------------------------------------

    def sort_name(self, column: int) -> str | None:
        """The name the sort knows column ``column`` by (:mod:`app.capture.order`)."""
        if 0 <= column < len(self._headers):
            return self._headers[column]
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Qt's sort (a header click): asked of the reader thread, applied when it answers.
        Column -1: back to the arrival order."""
        if column < 0:
            self.set_sort_key(None)
            return
        name = self.sort_name(column)
        if name is None or not sortable(self.table, name):
            title = self._headers[column] if 0 <= column < len(self._headers) else "?"
            self.sort_changed.emit(False, f"The {title} column cannot be sorted.")
            return
        self.set_sort_key(SortKey(self.table, name,
                                  order == Qt.SortOrder.DescendingOrder))

    def sort_column(self) -> int:
        """The column the table is sorted by (asked for), or -1."""
        if self.sort_key is not None:
            for column in range(len(self._headers)):
                if self.sort_name(column) == self.sort_key.column:
                    return column
        return -1

    def set_sort_key(self, key: SortKey | None) -> None:
        """Sort by ``key`` (None: show the rows in the order they arrived)."""
        self.sort_key = key
        if key is None:
            self._sort_asked = None
            if self._order is not None:
                self._show_order(None, 0)
            self.sort_changed.emit(False, "")
            self.outside_changed.emit(0)
            return
        self._ask_sort()

    def sort_again(self) -> None:
        """Put the rows that came after the sort in their places."""
        if self.sort_key is not None:
            self._ask_sort()

    @property
    def outside(self) -> int:
        """Rows at the bottom that arrived after the sort."""
        return len(self._order) - self._in_sort if self._order is not None else 0

    def _ask_sort(self) -> None:
        self._sort_token += 1
        self._sort_asked = (self._sort_token, len(self._ids), self._reshapes)
        self.sort_changed.emit(True, f"Sorting {len(self._ids):,} rows…")
        self._reader.sort_rows(self.table, self._sort_token, self.sort_key, self._ids[:])

    def _on_reader_rows_sorted(self, answer: Sorted) -> None:
        asked = self._sort_asked
        if answer.table != self.table or asked is None or answer.token != asked[0]:
            return
        self._sort_asked = None
        if answer.error:  # the order shown stays
            self.sort_key = self._shown_key if self._order is not None else None
            self.sort_changed.emit(False, answer.error)
            return
        if asked[2] != self._reshapes:  # rows left or came between: sort what is there now
            self._ask_sort()
            return
        order = array("q", answer.ids)
        order.extend(self._ids[asked[1]:])  # appended since: outside the sort
        self._shown_key = answer.key
        self._show_order(order, len(answer.ids))
        column = self.sort_column()
        title = self._headers[column] if column >= 0 else answer.key.column
        way = "descending" if answer.key.descending else "ascending"
        rows = "1 row" if len(answer.ids) == 1 else f"{len(answer.ids):,} rows"
        self.sort_changed.emit(False, f"Sorted by {title}, {way}: {rows} in "
                                      f"{answer.seconds:.2f} s.")

    def _show_order(self, order: array | None, in_sort: int) -> None:
        """Show the rows in ``order`` (None: arrival order), keeping the selection, the
        current row and every other persistent index on its record."""
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        ids = [self._view[i.row()] if 0 <= i.row() < len(self._view) else None for i in old]
        self._order = order
        self._view = order if order is not None else self._ids
        self._in_sort = in_sort
        self._cache.clear()
        self._asked.clear()
        self._stale.clear()
        self._generation += 1
        if old:  # (a selected row holds a persistent index per column: the ids repeat)
            wanted = {i for i in ids if i is not None}
            if len(wanted) > 8:  # many (a large selection): one pass maps them all
                where = {item: row for row, item in enumerate(self._view) if item in wanted}
            else:  # a pass in C each: ~15 ms for 1,000,000 rows
                where = {i: self.row_of(i) for i in wanted}
            new = []
            for index, item in zip(old, ids, strict=True):
                row = where.get(item) if item is not None else None
                new.append(QModelIndex() if row is None else
                           self.index(row, index.column()))
            self.changePersistentIndexList(old, new)
        self.layoutChanged.emit()
        self.outside_changed.emit(self.outside)

    def _append_outside(self, ids: array) -> None:
        """New rows while sorted: kept in ``_ids`` and shown at the bottom, outside the sort."""
        if self._ids and ids[0] <= self._ids[-1]:
            fresh = [i for i in dict.fromkeys(ids) if self._id_position(i) is None]
            if not fresh:
                return
            self._reshapes += 1
            for item in sorted(fresh):
                self._ids.insert(bisect_left(self._ids, item), item)
        else:
            fresh = list(ids)
            self._ids.extend(ids)
        first = len(self._order)
        tail = (first - 1) // BLOCK if first else None
        if tail is not None:  # the last block may have been rendered while incomplete
            self._cache.pop(tail, None)
            self._asked.discard(tail)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        self._order.extend(fresh)
        self.endInsertRows()
        self.outside_changed.emit(self.outside)

    def _id_position(self, item_id: int) -> int | None:
        at = bisect_left(self._ids, item_id)
        return at if at < len(self._ids) and self._ids[at] == item_id else None

    def _remove_sorted(self, ids: array) -> None:
        gone = {i for i in ids if self._id_position(i) is not None}
        if not gone:
            return
        self._reshapes += 1
        for item in gone:
            del self._ids[bisect_left(self._ids, item)]
        rows = [row for row, item in enumerate(self._order) if item in gone]
        self._forget_from(rows[0])
        at = len(rows) - 1
        while at >= 0:  # one removal per stretch of adjacent rows, from the bottom
            last = first = rows[at]
            while at > 0 and rows[at - 1] == first - 1:
                at -= 1
                first = rows[at]
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._order[first:last + 1]
            if first < self._in_sort:
                self._in_sort -= min(last, self._in_sort - 1) - first + 1
            self.endRemoveRows()
            at -= 1
        self.outside_changed.emit(self.outside)

    # -- Qt model ---------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._view)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._headers)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            if not 0 <= section < len(self._headers):
                return None
            if section in self._time_columns:
                return f"{self._headers[section]} ({self._zone})"
            return self._headers[section]
        return str(section + 1)

    def data(self, index: _Index, role: int = _DISPLAY):
        if role not in _ANSWERED:
            return None
        if role == _ALIGNMENT:
            return _RIGHT if index.column() in self._right and index.isValid() else None
        row = index.row()  # -1: an invalid index
        if row < 0 or row >= len(self._view):
            return None
        block = row // BLOCK
        rows = self._cache.get(block)
        if rows is None:
            if role == _DISPLAY and block not in self._asked:
                self._ask(block)
            return None
        if block in self._stale and block not in self._asked:
            self._ask(block)  # the ledger changed: shown as it was until the new copy comes
        offset = row - block * BLOCK
        if offset >= len(rows.texts):  # rendered before this row came: ask again
            if role == _DISPLAY and block not in self._asked:
                self._ask(block)
            return None
        if role == _DISPLAY:
            return rows.texts[offset][index.column()]
        mark = rows.marks[offset] if rows.marks else 0
        if role == _FOREGROUND:
            if mark & CONFLICT and index.column() == rows.seen_column:
                return _flag_colour(1)
            tones = rows.tones[offset] if rows.tones else None
            if tones and index.column() in tones:
                return _tone_colour(tones[index.column()])
            if rows.flags[offset]:
                return _flag_colour(rows.flags[offset])
            if mark & UNACKED:
                return _unacked_colour()
            return None
        if role == _TOOLTIP:  # text from the wire: never rich text
            tip = rows.tips[offset]
            if index.column() == rows.seen_column and rows.seen_tips[offset]:
                tip = rows.seen_tips[offset]
            own = rows.cell_tips[offset] if rows.cell_tips else None
            if own and index.column() in own:
                tip = "\n\n".join(filter(None, (own[index.column()], tip)))
            return tooltip_text(tip) or None
        if role == _FONT and rows.tones and (tones := rows.tones[offset]) \
                and tones.get(index.column()) == "critical":
            return _bold()
        if mark & UNACKED:
            if role == _FONT:
                return _italic()
            if role == _DECORATION and index.column() == rows.seen_column:
                return _unacked_icon()
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return _ITEM_FLAGS

    # -- blocks -----------------------------------------------------------------------------

    def _ask(self, block: int) -> None:
        self._asked.add(block)
        ids = tuple(self._view[block * BLOCK:(block + 1) * BLOCK])
        self._reader.fetch_rows(self.table, self._generation, block, ids)

    def _on_reader_blocks_dropped(self, table: str, generation: int, blocks: list) -> None:
        """The reader gave up on these blocks (newer ones came first): ask again when shown."""
        if table == self.table and generation == self._generation:
            self._asked.difference_update(blocks)

    def on_ledger_advanced(self, advance: LedgerAdvance) -> None:
        """The ledger covers more records, or facts of older ones changed: the cached blocks
        holding such rows are fetched again when shown (they stay on screen until then)."""
        stale = []
        changed = advance.changed
        for block, rows in self._cache.items():
            if not rows.ids or block in self._stale:
                continue
            low, high = (rows.ids[0], rows.ids[-1]) if self._order is None else (
                min(rows.ids), max(rows.ids))
            hit = high > advance.after and low <= advance.through
            if not hit and changed is None:
                hit = low <= advance.after
            elif not hit:
                at = bisect_left(changed, low)
                hit = at < len(changed) and changed[at] <= high
            if hit:
                stale.append(block)
        if not stale or not self._view:
            return
        self._stale.update(stale)
        first, last = min(stale) * BLOCK, min((max(stale) + 1) * BLOCK, len(self._view)) - 1
        self.dataChanged.emit(self.index(first, 0), self.index(last, len(self._headers) - 1))

    def _on_reader_rows_ready(self, rows: Rows) -> None:
        if rows.table != self.table or rows.generation != self._generation:
            return
        self._asked.discard(rows.block)
        self._stale.discard(rows.block)
        start = rows.block * BLOCK
        if tuple(self._view[start:start + len(rows.ids)]) != rows.ids:
            return  # stale
        self._cache[rows.block] = rows
        self._cache.move_to_end(rows.block)
        while len(self._cache) > CACHED_BLOCKS:
            self._cache.popitem(last=False)
        last = start + len(rows.ids) - 1
        self.dataChanged.emit(self.index(start, 0), self.index(last, len(self._headers) - 1))


def _unacked_colour() -> QColor:
    """Text of records whose batch was not acknowledged: muted, still easy to read."""
    palette = QApplication.palette()
    cached = _STYLE.get("unacked")
    if isinstance(cached, tuple) and cached[0] == palette.cacheKey():
        return cached[1]  # asked for every cell of such a row at each paint
    text, base = palette.color(QPalette.ColorRole.Text), palette.color(QPalette.ColorRole.Base)
    mix = 0.62  # of the text colour: between the text and the background
    colour = QColor.fromRgbF(*(mix * a + (1 - mix) * b for a, b in (
        (text.redF(), base.redF()), (text.greenF(), base.greenF()),
        (text.blueF(), base.blueF()))))
    _STYLE["unacked"] = (palette.cacheKey(), colour)
    return colour


_STYLE: dict[str, object] = {}


def _italic() -> QFont:
    if "font" not in _STYLE:
        font = QFont(QApplication.font())
        font.setItalic(True)
        _STYLE["font"] = font
    return _STYLE["font"]


def _bold() -> QFont:
    if "bold" not in _STYLE:
        font = QFont(QApplication.font())
        font.setBold(True)
        _STYLE["bold"] = font
    return _STYLE["bold"]


def _unacked_icon() -> QIcon:
    """The marker in the first column of a record whose batch was not acknowledged: an amber
    ring, open at the top right, like a "will come again" arrow."""
    if "icon" not in _STYLE:
        size = 14
        pixmap = QPixmap(size * 2, size * 2)  # drawn at twice the size: sharp on HiDPI
        pixmap.setDevicePixelRatio(2.0)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QColor("#d29922"))
        pen.setWidthF(2.0)
        painter.setPen(pen)
        painter.drawArc(2, 2, size - 4, size - 4, 90 * 16, 270 * 16)
        painter.setBrush(QColor("#d29922"))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawPolygon([QPointF(size / 2 - 1, 0.5), QPointF(size / 2 + 3.5, 2.5),
                             QPointF(size / 2 - 1, 5.5)])
        painter.end()
        _STYLE["icon"] = QIcon(pixmap)
    return _STYLE["icon"]


# Severity tones: (light palette, dark palette).
# Each has a contrast of at least 4.5:1 (WCAG AA) on white and on a dark base (#1e1e1e);
# Critical is also bold.
_TONES = {"info": ("#0b5cad", "#79c0ff"), "warning": ("#9a6700", "#e3b341"),
          "error": ("#c62828", "#ff7b72"), "critical": ("#a21caf", "#f0abfc")}


def _tone_colour(tone: str) -> QColor | None:
    """A severity's colour, readable on the palette's background (light or dark)."""
    pair = _TONES.get(tone)
    if pair is None:
        return None
    dark = QApplication.palette().color(QPalette.ColorRole.Base).lightness() < 128
    return QColor(pair[1] if dark else pair[0])


def _flag_colour(flag: int) -> QColor:
    dark = QApplication.palette().color(QPalette.ColorRole.Base).lightness() < 128
    if flag == 1:
        return QColor("#ff7b72") if dark else QColor("#c62828")
    return QColor("#e3b341") if dark else QColor("#9a6700")


class RequestsModel(CaptureTableModel):
    """Every request of the capture, rejected ones marked in red, ones with notes in amber."""

    def __init__(self, reader: CaptureReader, parent: QObject):
        super().__init__("requests", REQUEST_HEADERS, reader, parent)
        self._time_columns = frozenset({REQUEST_HEADERS.index("Time")})


class RecordsModel(CaptureTableModel):
    """The records of one tab (Events, Usage, SMS, Other) with that tab's columns."""

    def __init__(self, tab_key: str, columns: tuple[Column, ...], reader: CaptureReader,
                 parent: QObject):
        super().__init__(tab_key, tuple(c.title for c in columns), reader, parent)
        self.columns = columns
        self._right = frozenset(n for n, c in enumerate(columns) if c.right_aligned)
        self._time_columns = frozenset(n for n, c in enumerate(columns) if c.kind == "time")
        reader.ledger_advanced.connect(self.on_ledger_advanced)

    def sort_name(self, column: int) -> str | None:
        return self.columns[column].name if 0 <= column < len(self.columns) else None
