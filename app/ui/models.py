"""Table models over the capture: a compact list of row ids, cell text fetched in blocks.

A model holds only an ``array('q')`` of ids (8 bytes a row) and a bounded cache of rendered
blocks. ``data()`` never touches the disk: a block not in the cache is asked of the reader
thread and the cells show empty until it arrives (a queued signal), then ``dataChanged``.
New rows are appended in one ``beginInsertRows`` per poll.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import OrderedDict

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from app.records.columns import Column
from app.ui.reader import REQUEST_HEADERS, CaptureReader, Rows
from app.ui.values import tooltip_text

BLOCK = 128
CACHED_BLOCKS = 96

_Index = QModelIndex | QPersistentModelIndex


class CaptureTableModel(QAbstractTableModel):
    """Rows of one table of the capture (requests, or the records of one tab)."""

    def __init__(self, table: str, headers: tuple[str, ...], reader: CaptureReader,
                 parent: QObject):
        super().__init__(parent)
        self.table = table
        self._headers = headers
        self._reader = reader
        self._ids = array("q")
        self._cache: OrderedDict[int, Rows] = OrderedDict()
        self._asked: set[int] = set()
        self._generation = 0
        reader.rows_ready.connect(self._on_reader_rows_ready)
        reader.blocks_dropped.connect(self._on_reader_blocks_dropped)

    # -- contents ---------------------------------------------------------------------------

    def reset(self, ids: array | None = None) -> None:
        self.beginResetModel()
        self._ids = array("q", ids or ())
        self._cache.clear()
        self._asked.clear()
        self._generation += 1
        self.endResetModel()

    def invalidate(self) -> None:
        """Forget the rendered cells (e.g. when masking is switched): they are fetched again."""
        self._cache.clear()
        self._asked.clear()
        self._generation += 1
        if self._ids:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self._ids) - 1, len(self._headers) - 1))

    def append_ids(self, ids: array) -> None:
        if not ids:
            return
        first = len(self._ids)
        # The last block may have been rendered while incomplete: render it again.
        tail = (first - 1) // BLOCK if first else None
        if tail is not None:
            self._cache.pop(tail, None)
            self._asked.discard(tail)
        self.beginInsertRows(QModelIndex(), first, first + len(ids) - 1)
        self._ids.extend(ids)
        self.endInsertRows()

    def id_at(self, row: int) -> int:
        return self._ids[row]

    def row_of(self, item_id: int) -> int | None:
        """The row showing ``item_id`` (ids are ascending), or None."""
        row = bisect_left(self._ids, item_id)
        if row < len(self._ids) and self._ids[row] == item_id:
            return row
        return None

    def first_row_at_or_after(self, item_id: int) -> int | None:
        row = bisect_left(self._ids, item_id)
        return row if row < len(self._ids) else None

    # -- Qt model ---------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._headers)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self._headers[section] if 0 <= section < len(self._headers) else None
        return str(section + 1)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = index.row()
        if row >= len(self._ids):
            return None
        block = row // BLOCK
        rows = self._cache.get(block)
        if rows is None:
            if role == Qt.ItemDataRole.DisplayRole and block not in self._asked:
                self._ask(block)
            return None
        offset = row - block * BLOCK
        if offset >= len(rows.texts):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return rows.texts[offset][index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:  # text from the wire: never rich text
            tip = rows.tips[offset]
            return tooltip_text(tip) or None
        if role == Qt.ItemDataRole.ForegroundRole and rows.flags[offset]:
            return _flag_colour(rows.flags[offset])
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # -- blocks -----------------------------------------------------------------------------

    def _ask(self, block: int) -> None:
        self._asked.add(block)
        ids = tuple(self._ids[block * BLOCK:(block + 1) * BLOCK])
        self._reader.fetch_rows(self.table, self._generation, block, ids)

    def _on_reader_blocks_dropped(self, table: str, generation: int, blocks: list) -> None:
        """The reader gave up on these blocks (newer ones came first): ask again when shown."""
        if table == self.table and generation == self._generation:
            self._asked.difference_update(blocks)

    def _on_reader_rows_ready(self, rows: Rows) -> None:
        if rows.table != self.table or rows.generation != self._generation:
            return
        self._asked.discard(rows.block)
        start = rows.block * BLOCK
        if tuple(self._ids[start:start + len(rows.ids)]) != rows.ids:
            return  # stale
        self._cache[rows.block] = rows
        self._cache.move_to_end(rows.block)
        while len(self._cache) > CACHED_BLOCKS:
            self._cache.popitem(last=False)
        last = start + len(rows.ids) - 1
        self.dataChanged.emit(self.index(start, 0), self.index(last, len(self._headers) - 1))


def _flag_colour(flag: int) -> QColor:
    dark = QApplication.palette().color(QPalette.ColorRole.Base).lightness() < 128
    if flag == 1:
        return QColor("#ff7b72") if dark else QColor("#c62828")
    return QColor("#e3b341") if dark else QColor("#9a6700")


class RequestsModel(CaptureTableModel):
    """Every request of the capture, rejected ones marked in red, ones with notes in amber."""

    def __init__(self, reader: CaptureReader, parent: QObject):
        super().__init__("requests", REQUEST_HEADERS, reader, parent)


class RecordsModel(CaptureTableModel):
    """The records of one tab (Events, Usage, SMS, Other) with that tab's columns."""

    def __init__(self, tab_key: str, columns: tuple[Column, ...], reader: CaptureReader,
                 parent: QObject):
        super().__init__(tab_key, tuple(c.title for c in columns), reader, parent)
        self.columns = columns
