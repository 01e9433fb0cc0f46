"""The columns of a table as the user chose them: right-click the header for a menu of every
column (checkable) and "Reset columns"; their visibility, order and widths are remembered per
table in ``Settings.ui`` (by column name, so a version with more columns keeps them).

The reader renders only the shown columns (``CaptureReader.set_visible_columns``): showing a
column again renders the table's blocks anew.
"""

from __future__ import annotations

import json

from PySide6.QtCore import QObject, QPoint, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHeaderView, QMenu, QTableView

from app.config import Settings
from app.records.columns import RECORD_TABS
from app.ui.models import CaptureTableModel, RecordsModel
from app.ui.reader import REQUEST_HEADERS, CaptureReader

_TABS = {tab.key: tab for tab in RECORD_TABS}


def layout_key(table: str) -> str:
    """The ``Settings.ui`` entry holding a table's columns."""
    return f"columns.{table}.layout"


def column_names(model: CaptureTableModel) -> tuple[str, ...]:
    """The names the columns are remembered by (a record table's column names; the Requests
    table's headers in lower case)."""
    if isinstance(model, RecordsModel):
        return tuple(c.name for c in model.columns)
    return tuple(h.lower() for h in REQUEST_HEADERS)


def default_hidden(table: str) -> frozenset[str]:
    """The columns a table hides until the user shows them."""
    tab = _TABS.get(table)
    return tab.hidden if tab is not None else frozenset()


class ColumnChooser(QObject):
    """One table's column chooser: the header's context menu, and the columns remembered."""

    columns_changed = Signal(str)  # table: a column was shown, hidden, moved or reset

    def __init__(self, table: str, view: QTableView, settings: Settings,
                 reader: CaptureReader, parent: QObject):
        super().__init__(parent)
        self.table = table
        self.view = view
        self._settings = settings
        self._reader = reader
        self._names = column_names(view.model())
        self._default_widths = tuple(view.columnWidth(n) for n in range(len(self._names)))
        self._restoring = True  # until :meth:`restore`: the window restores its header state
        header = self.header
        header.setSectionsMovable(True)
        header.setFirstSectionMovable(True)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._on_header_custom_context_menu_requested)
        header.sectionMoved.connect(self._on_header_section_moved)
        header.sectionResized.connect(self._on_header_section_resized)

    @property
    def header(self) -> QHeaderView:
        return self.view.horizontalHeader()

    # -- state ------------------------------------------------------------------------------

    def visible(self) -> frozenset[int]:
        """The logical numbers of the shown columns."""
        return frozenset(n for n in range(len(self._names))
                         if not self.header.isSectionHidden(n))

    def set_shown(self, column: int, shown: bool) -> None:
        """Show or hide one column (the last shown one stays)."""
        if shown == (not self.header.isSectionHidden(column)):
            return
        if not shown and len(self.visible()) <= 1:
            return
        self.header.setSectionHidden(column, not shown)
        self._changed(shown)

    def reset(self) -> None:
        """The columns as they come: the default ones shown in their order and widths."""
        self._restoring = True
        try:
            hidden = default_hidden(self.table)
            for visual, _name in enumerate(self._names):
                self.header.moveSection(self.header.visualIndex(visual), visual)
            for n, name in enumerate(self._names):
                self.header.setSectionHidden(n, name in hidden)
                self.header.resizeSection(n, self._default_widths[n])
        finally:
            self._restoring = False
        self._changed(True)

    def restore(self) -> None:
        """Apply the remembered columns (unknown names are skipped; columns not remembered,
        e.g. new in this version, take their defaults); call once the window has restored
        the header's state (its sort)."""
        try:
            saved = json.loads(self._settings.ui.get(layout_key(self.table), "[]"))
        except ValueError:
            saved = []
        entries = [e for e in saved if isinstance(e, list) and len(e) == 3
                   and e[0] in self._names] if isinstance(saved, list) else []
        at = {name: n for n, name in enumerate(self._names)}
        self._restoring = True
        try:
            hidden = default_hidden(self.table)
            for n, name in enumerate(self._names):
                self.header.setSectionHidden(n, name in hidden)
            for visual, (name, width, shown) in enumerate(entries):
                column = at[name]
                self.header.moveSection(self.header.visualIndex(column), visual)
                if isinstance(width, int) and width > 0:
                    self.header.resizeSection(column, width)
                self.header.setSectionHidden(column, not shown)
            if not self.visible():  # never a table without columns
                self.header.setSectionHidden(self.header.logicalIndex(0), False)
        finally:
            self._restoring = False
        self._reader.set_visible_columns(self.table, self.visible())

    def save(self) -> None:
        """Remember the columns (in visual order: name, width, shown) in ``Settings.ui``."""
        header = self.header
        entries = []
        for visual in range(header.count()):
            column = header.logicalIndex(visual)
            # (a hidden section's size reads 0: then its default width is remembered)
            width = header.sectionSize(column) or self._default_widths[column]
            entries.append([self._names[column], width, not header.isSectionHidden(column)])
        self._settings.ui = {**self._settings.ui,
                             layout_key(self.table): json.dumps(entries, separators=(",", ":"))}

    def _changed(self, shown: bool) -> None:
        self._reader.set_visible_columns(self.table, self.visible())
        if shown:  # its cells were not rendered: render the blocks anew
            self.view.model().invalidate()
        self.save()
        self.columns_changed.emit(self.table)

    # -- menu -------------------------------------------------------------------------------

    def menu(self) -> QMenu:
        """The header's context menu: a checkable entry per column (in the table's order),
        then "Reset columns"."""
        menu = QMenu(self.view)
        menu.setObjectName("column_menu")
        model = self.view.model()
        header = self.header
        shown = self.visible()
        for visual in range(header.count()):
            column = header.logicalIndex(visual)
            title = model.headerData(column, Qt.Orientation.Horizontal) or self._names[column]
            action = QAction(str(title), menu)
            action.setCheckable(True)
            action.setChecked(column in shown)
            action.setData(self._names[column])
            if shown == {column}:
                action.setEnabled(False)  # the last column shown stays
                action.setToolTip("A table shows at least one column")
            action.toggled.connect(lambda on, c=column: self.set_shown(c, on))
            menu.addAction(action)
        menu.addSeparator()
        reset = QAction("Reset columns", menu)
        reset.setObjectName("reset_columns")
        reset.triggered.connect(self.reset)
        menu.addAction(reset)
        return menu

    def _on_header_custom_context_menu_requested(self, pos: QPoint) -> None:
        menu = self.menu()
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.header.mapToGlobal(pos))

    def _on_header_section_moved(self, _logical: int, _old: int, _new: int) -> None:
        if not self._restoring:
            self.save()
            self.columns_changed.emit(self.table)

    def _on_header_section_resized(self, _logical: int, _old: int, _new: int) -> None:
        if not self._restoring:  # (a few microseconds: a drag may do it a hundred times)
            self.save()
