"""The JSON detail pane: one record (or one request body) as a tree and as coloured raw text.

:class:`JsonDetail` shows a value two ways: a lazy tree (:class:`JsonTreeModel`, columns Key,
Value, Type) and the JSON text pretty-printed in a read-only editor with syntax colours
(:class:`JsonHighlighter`). The text is pretty-printed by :func:`pretty_json`, which re-indents
the text as received and never re-serialises it, so every number keeps its token (``1.50``,
``1E2``) and every string its escapes.

A request body may hold 3000 records of ~40 nodes each; the tree builds a node only when the
view asks for it. Large texts switch the highlighter off, and very large ones are cut for the
editor (``Copy whole JSON`` still copies everything as received).

Payload text is always plain text: the editor is a ``QPlainTextEdit``, labels use
``Qt.PlainText`` and the tree's delegate never interprets markup.
"""

from __future__ import annotations

import json
import re
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QAction,
    QColor,
    QFontDatabase,
    QGuiApplication,
    QKeySequence,
    QPalette,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QToolBar,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.display import scalar_text

MIB = 1024 * 1024
HIGHLIGHT_LIMIT = 300 * 1024
"""Texts longer than this (characters) are shown without syntax colours."""
RAW_LIMIT = 2 * MIB
"""Texts longer than this (characters) are cut to this size for the raw pane."""
DISPLAY_LIMIT = 1000
"""Longest string the tree's Value column shows (the copy actions copy it whole)."""
EXPAND_LIMIT = 500
"""A record with more top-level members than this is not expanded by default."""

KEY_WIDTH = 220
"""The tree's Key column width while the pane has room (dragging it sets another)."""
NARROW = 360
"""Below this tree width (pixels) the Type column is hidden, leaving the room to Value."""

COLUMNS = ("Key", "Value", "Type")
KEY_COLUMN, VALUE_COLUMN, TYPE_COLUMN = range(3)

# One token of JSON text: a string (possibly unterminated), a structural character, or a run of
# anything else (numbers, literals, and whatever a broken text holds). Whitespace is dropped.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[{}\[\],:]|[^\s{}\[\],:"]+', re.S)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def pretty_json(text: str) -> str:
    """``text`` re-indented by two spaces per level, like ``json.dumps(..., indent=2)``.

    Tokens are kept exactly as written (numbers such as ``1.50`` or ``1E2``, string escapes),
    only whitespace between tokens changes. Empty containers stay ``{}`` and ``[]``. A text that
    is not valid JSON is re-indented as far as it goes and never raises.
    """
    return reindent(text)[0]


def reindent(text: str, limit: int | None = None) -> tuple[str, int]:
    """:func:`pretty_json`, stopping soon after the output reaches ``limit`` characters.

    Returns the output and how many characters of ``text`` it covers (``len(text)`` unless it
    stopped early).
    """
    out: list[str] = []
    append = out.append
    newlines = ["\n"]
    depth = 0
    opened = False  # the last token opened a container: its first member starts a new line
    size = flushed = 0
    for count, match in enumerate(_TOKEN.finditer(text), 1):
        token = match[0]
        first = token[0]
        if first in "}]":
            if depth:
                depth -= 1
            if opened:
                opened = False
            else:
                while len(newlines) <= depth:
                    newlines.append(newlines[-1] + "  ")
                append(newlines[depth])
            append(token)
        else:
            if opened:
                opened = False
                while len(newlines) <= depth:
                    newlines.append(newlines[-1] + "  ")
                append(newlines[depth])
            if first in "{[":
                append(token)
                depth += 1
                opened = True
            elif first == ",":
                while len(newlines) <= depth:
                    newlines.append(newlines[-1] + "  ")
                append(",")
                append(newlines[depth])
            elif first == ":":
                append(": ")
            else:
                append(token)
        if limit is not None and not count & 0xFFF:
            size += sum(map(len, out[flushed:]))
            flushed = len(out)
            if size >= limit:
                return "".join(out), match.end()
    return "".join(out), len(text)


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value: object, array, string, number, boolean, null."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def value_text(value: Any) -> str:
    """What ``Copy value`` copies: a scalar as text, a container as compact JSON."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return scalar_text(value)


def path_step(key: str | int) -> str:
    """One step of a JSON path in the filter language: ``.name``, ``["odd key"]``, ``[3]``."""
    if isinstance(key, int):
        return f"[{key}]"
    if _IDENTIFIER.fullmatch(key):
        return f".{key}"
    return f"[{json.dumps(key, ensure_ascii=False)}]"


def _mib(size: int) -> str:
    return f"{size / MIB:.1f} MiB"


class _Node:
    """A container that the view has opened: the parent of the indexes of its members.

    A model index points at its parent's node and knows its own row, so a member gets a node of
    its own only once something is asked about *its* children (the view expands it).
    """

    __slots__ = ("children", "key", "keys", "parent", "row", "value")

    def __init__(self, parent: _Node | None, row: int, key: str | int | None, value: Any):
        self.parent = parent
        self.row = row
        self.key = key
        self.value = value
        self.children: list[_Node | None] | None = None
        # An object's keys in order, so that a row finds its member without a walk.
        self.keys: list[str] | None = list(value) if isinstance(value, dict) else None

    def member(self, row: int) -> tuple[str | int, Any]:
        """Key (or index) and value of the member in ``row``."""
        if self.keys is not None:
            key = self.keys[row]
            return key, self.value[key]
        return row, self.value[row]


_NOTHING = object()


class JsonTreeModel(QAbstractItemModel):
    """A lazy tree over a parsed JSON value: nothing is built for rows the view never opens.

    The top-level rows are the members of an object or the items of an array (a request body);
    a scalar value is a single row. Columns: Key, Value (scalars, or ``{n keys}``/``[n items]``
    for containers) and Type (the JSON type name).
    """

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._root = _Node(None, -1, None, [])
        self._scalar_root = False
        self._node_count = 0

    # -- our API ---------------------------------------------------------------------------

    def set_value(self, value: Any = _NOTHING) -> None:
        """Show ``value`` (any parsed JSON value); without one, the model is empty."""
        self.beginResetModel()
        self._node_count = 0
        self._scalar_root = value is not _NOTHING and not isinstance(value, dict | list)
        if value is _NOTHING:
            value = []
        elif self._scalar_root:
            value = [value]
        self._root = _Node(None, -1, None, value)
        self.endResetModel()

    @property
    def node_count(self) -> int:
        """How many nodes (opened containers) have been built since the last :meth:`set_value`."""
        return self._node_count

    def value_at(self, index: QModelIndex | QPersistentModelIndex) -> Any:
        """The parsed value at ``index`` (``index`` must be valid)."""
        return index.internalPointer().member(index.row())[1]

    def is_container(self, index: QModelIndex | QPersistentModelIndex) -> bool:
        """Whether ``index`` is an object or an array."""
        return index.isValid() and isinstance(self.value_at(index), dict | list)

    def path(self, index: QModelIndex | QPersistentModelIndex) -> str | None:
        """The JSON path of ``index``: ``detail.mnc[0].mnc``, ``[12].sim.iccid``.

        ``None`` for no index, and for the single row of a scalar value (it has no path).
        """
        if not index.isValid() or self._scalar_root:
            return None
        node: _Node = index.internalPointer()
        steps = [path_step(node.member(index.row())[0])]
        while node.parent is not None:
            steps.append(path_step(node.key))
            node = node.parent
        return "".join(reversed(steps)).removeprefix(".")

    # -- QAbstractItemModel ----------------------------------------------------------------

    def index(self, row: int, column: int,
              parent: QModelIndex | QPersistentModelIndex | None = None) -> QModelIndex:
        parent = parent if parent is not None else QModelIndex()
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        return self.createIndex(row, column, self._node(parent))

    def parent(self, child: QModelIndex | QPersistentModelIndex | None = None) -> Any:
        if child is None:  # QObject.parent()
            return super().parent()
        if not child.isValid():
            return QModelIndex()
        node: _Node = child.internalPointer()
        if node.parent is None:
            return QModelIndex()
        return self.createIndex(node.row, 0, node.parent)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        if parent is None or not parent.isValid():
            return len(self._root.value)
        if parent.column() > 0:
            return 0
        value = self.value_at(parent)
        return len(value) if isinstance(value, dict | list) else 0

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        return len(COLUMNS)

    def hasChildren(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> bool:
        return self.rowCount(parent) > 0

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            key, value = index.internalPointer().member(index.row())
            column = index.column()
            if column == KEY_COLUMN:
                if self._scalar_root:
                    return "(value)"
                return f"[{key}]" if isinstance(key, int) else key
            if column == VALUE_COLUMN:
                return self._display_value(value)
            return json_type(value)
        if role == Qt.ItemDataRole.UserRole:
            return self.path(index)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole
                and 0 <= section < len(COLUMNS)):
            return COLUMNS[section]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # -- internals -------------------------------------------------------------------------

    def _node(self, index: QModelIndex | QPersistentModelIndex) -> _Node:
        """The node of the container at ``index`` (the root for no index), built on demand."""
        if not index.isValid():
            return self._root
        parent: _Node = index.internalPointer()
        row = index.row()
        children = parent.children
        if children is None:
            children = parent.children = [None] * len(parent.value)
        node = children[row]
        if node is None:
            key, value = parent.member(row)
            node = children[row] = _Node(parent, row, key, value)
            self._node_count += 1
        return node

    @staticmethod
    def _display_value(value: Any) -> str:
        if isinstance(value, dict):
            return f"{{{len(value)} {'key' if len(value) == 1 else 'keys'}}}"
        if isinstance(value, list):
            return f"[{len(value)} {'item' if len(value) == 1 else 'items'}]"
        text = scalar_text(value)
        if len(text) > DISPLAY_LIMIT:
            text = text[:DISPLAY_LIMIT] + "…"
        if isinstance(value, str):
            text = text.replace("\r\n", "↵").replace("\n", "↵").replace("\r", "↵")
        return text


# Group names are the format names of JsonHighlighter.
_HIGHLIGHT = re.compile(
    r'(?P<string>"[^"\\]*(?:\\.[^"\\]*)*"?)(?P<colon>\s*:)?'
    r"|(?P<number>-?(?:\d[0-9.eE+-]*|Infinity)|NaN)"
    r"|(?P<keyword>\b(?:true|false|null)\b)"
    r"|(?P<punctuation>[{}\[\],:])"
)
# Hue and saturation per format; lightness comes from the palette (dark or light).
_HUES = {"key": (212, 170), "string": (120, 150), "number": (28, 200), "keyword": (290, 140)}


class JsonHighlighter(QSyntaxHighlighter):
    """Colours JSON text line by line: keys, strings, numbers, true/false/null, punctuation.

    JSON strings never span lines, so every line (block) is coloured on its own.
    """

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._formats: dict[str, QTextCharFormat] = {}
        self.set_palette(QGuiApplication.palette())

    def set_palette(self, palette: QPalette) -> None:
        """Derive the colours from ``palette``: lighter ones on a dark base, darker on a light."""
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        dark = base.lightness() < 128
        formats: dict[str, QTextCharFormat] = {}
        for name, (hue, saturation) in _HUES.items():
            fmt = QTextCharFormat()
            fmt.setForeground(QColor.fromHsl(hue, saturation, 175 if dark else 85))
            formats[name] = fmt
        punctuation = QColor(
            (text.red() * 3 + base.red() * 2) // 5,
            (text.green() * 3 + base.green() * 2) // 5,
            (text.blue() * 3 + base.blue() * 2) // 5,
        )
        fmt = QTextCharFormat()
        fmt.setForeground(punctuation)
        formats["punctuation"] = fmt
        self._formats = formats
        if self.document() is not None:
            self.rehighlight()

    def highlightBlock(self, text: str) -> None:
        formats = self._formats
        astral = _ASTRAL.search(text) is not None

        def span(start: int, end: int, name: str) -> None:
            if astral:  # Qt counts UTF-16 code units, Python code points
                utf16_start = len(text[:start].encode("utf-16-le")) // 2
                utf16_end = len(text[:end].encode("utf-16-le")) // 2
                self.setFormat(utf16_start, utf16_end - utf16_start, formats[name])
            else:
                self.setFormat(start, end - start, formats[name])

        for match in _HIGHLIGHT.finditer(text):
            name = match.lastgroup
            if name == "colon":
                span(match.start("string"), match.end("string"), "key")
                span(match.end("colon") - 1, match.end("colon"), "punctuation")
            elif name is not None:
                span(match.start(), match.end(), name)


class JsonDetail(QWidget):
    """The detail pane: one record or request body as a lazy tree and as coloured JSON text.

    Copy actions (tool bar, the tree's context menu, Ctrl+C on the tree) put the selected value,
    its JSON path or the whole JSON as received on the clipboard and emit :attr:`copied`.
    """

    copied = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._source_text = ""

        self._title_label = QLabel(self)
        self._title_label.setObjectName("title_label")
        self._title_label.setTextFormat(Qt.TextFormat.PlainText)
        font = self._title_label.font()
        font.setBold(True)
        self._title_label.setFont(font)

        self._note_label = QLabel(self)
        self._note_label.setObjectName("note_label")
        self._note_label.setTextFormat(Qt.TextFormat.PlainText)
        self._note_label.setWordWrap(True)
        self._note_label.hide()

        self._copy_value_action = QAction("Copy value", self)
        self._copy_value_action.setObjectName("copy_value_action")
        self._copy_value_action.setShortcut(QKeySequence.StandardKey.Copy)
        self._copy_value_action.setShortcutContext(
            Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._copy_value_action.setToolTip("Copy the selected value (Ctrl+C)")
        self._copy_value_action.triggered.connect(self._on_copy_value_action_triggered)
        self._copy_path_action = QAction("Copy JSON path", self)
        self._copy_path_action.setObjectName("copy_path_action")
        self._copy_path_action.setToolTip("Copy the selected node's path, e.g. detail.country")
        self._copy_path_action.triggered.connect(self._on_copy_path_action_triggered)
        self._copy_all_action = QAction("Copy whole JSON", self)
        self._copy_all_action.setObjectName("copy_all_action")
        self._copy_all_action.setToolTip("Copy the JSON text exactly as it was received")
        self._copy_all_action.triggered.connect(self._on_copy_all_action_triggered)
        actions = (self._copy_value_action, self._copy_path_action, self._copy_all_action)

        self._tool_bar = QToolBar(self)
        self._tool_bar.setObjectName("detail_tool_bar")
        self._tool_bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self._tool_bar.addActions(actions)

        self._splitter = QSplitter(Qt.Orientation.Vertical, self)
        self._model = JsonTreeModel(self)
        self._tree = QTreeView(self._splitter)
        self._tree.setObjectName("json_tree")
        self._tree.setModel(self._model)
        self._tree.setUniformRowHeights(True)
        self._tree.setAlternatingRowColors(True)
        self._tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._tree.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self._tree.addActions(actions)
        # Fixed widths (no ResizeToContents: a body may hold 100,000 nodes): Key as wide as
        # the user left it while Value keeps a third of the tree (half when narrow, where
        # Type hides), Type fixed, Value the rest.
        header = self._tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(KEY_COLUMN, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(VALUE_COLUMN, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(TYPE_COLUMN, QHeaderView.ResizeMode.Fixed)
        metrics = self._tree.fontMetrics()
        header.resizeSection(TYPE_COLUMN, metrics.horizontalAdvance("boolean") + 24)
        header.resizeSection(KEY_COLUMN, KEY_WIDTH)
        self._key_width = KEY_WIDTH
        self._fitting = False
        header.sectionResized.connect(self._on_header_section_resized)
        self._tree.viewport().installEventFilter(self)
        self._selection_model = self._tree.selectionModel()
        self._selection_model.currentChanged.connect(
            self._on_selection_model_current_changed)

        self._raw_edit = QPlainTextEdit(self._splitter)
        self._raw_edit.setObjectName("raw_json")
        self._raw_edit.setReadOnly(True)
        self._raw_edit.setUndoRedoEnabled(False)
        self._raw_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._highlighter = JsonHighlighter(self)
        self._highlighter.set_palette(self.palette())

        self._splitter.addWidget(self._tree)
        self._splitter.addWidget(self._raw_edit)
        self._splitter.setStretchFactor(0, 3)
        self._splitter.setStretchFactor(1, 2)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self._title_label, 1)
        top.addWidget(self._tool_bar)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self._note_label)
        layout.addWidget(self._splitter, 1)
        self._update_actions()

    # -- public API ------------------------------------------------------------------------

    def show_value(self, value: Any, raw_text: str, title: str = "") -> None:
        """Show a parsed JSON ``value``; the raw pane shows ``raw_text`` re-indented.

        ``raw_text`` is the JSON text as received (``Copy whole JSON`` copies it unchanged);
        without it, ``value`` is serialised instead.
        """
        self._title_label.setText(title)
        self._model.set_value(value)
        if isinstance(value, dict) and len(value) <= EXPAND_LIMIT:
            for row in range(self._model.rowCount()):
                index = self._model.index(row, 0)
                if self._model.is_container(index):
                    self._tree.expand(index)
        if raw_text.strip():
            self._source_text = raw_text
            shown, consumed = reindent(raw_text, RAW_LIMIT)
            if len(shown) > RAW_LIMIT + RAW_LIMIT // 8:  # one huge token (a long string)
                consumed = consumed * RAW_LIMIT // len(shown)
                shown = shown[:RAW_LIMIT]
        else:
            self._source_text = json.dumps(value, indent=2, ensure_ascii=False)
            shown, consumed = self._cut(self._source_text)
        self._set_raw(shown, json_colours=True)
        self._set_note(self._cut_note(consumed, len(self._source_text)))
        self._update_actions()

    def show_text(self, text: str, title: str = "", note: str = "") -> None:
        """Show a body that is not JSON (or could not be parsed): the text as is, no tree."""
        self._title_label.setText(title)
        self._model.set_value()
        self._source_text = text
        shown, consumed = self._cut(text)
        self._set_raw(shown, json_colours=False)
        parts = (note or "Not JSON.", self._cut_note(consumed, len(text)))
        self._set_note(" ".join(part for part in parts if part))
        self._update_actions()

    def clear(self) -> None:
        """Show nothing."""
        self._title_label.clear()
        self._model.set_value()
        self._source_text = ""
        self._set_raw("", json_colours=False)
        self._set_note("")
        self._update_actions()

    def current_path(self) -> str | None:
        """The JSON path of the selected tree node (``detail.country.iso_code``), or ``None``."""
        return self._model.path(self._tree.currentIndex())

    # -- events and slots ------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._tree.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_columns(event.size().width())
        return super().eventFilter(watched, event)

    def _fit_columns(self, width: int) -> None:
        """Give the tree's Value column a usable width in a tree ``width`` pixels wide: narrow
        Key (down to a short key's width) and, when very narrow, hide Type."""
        header = self._tree.header()
        metrics = self._tree.fontMetrics()
        narrow = width < NARROW
        self._tree.setColumnHidden(TYPE_COLUMN, narrow)
        type_width = 0 if narrow else header.sectionSize(TYPE_COLUMN)
        value_min = max(metrics.horizontalAdvance("[1000 items]") + 16,
                        width // 2 if narrow else width // 3)
        key_min = metrics.horizontalAdvance("event_type") + self._tree.indentation() + 16
        key = max(key_min, min(self._key_width, width - type_width - value_min))
        self._fitting = True
        try:
            header.resizeSection(KEY_COLUMN, key)
        finally:
            self._fitting = False

    @Slot(int, int, int)
    def _on_header_section_resized(self, section: int, _old: int, new: int) -> None:
        if section == KEY_COLUMN and not self._fitting:
            self._key_width = new  # the user dragged it: kept while there is room

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._highlighter.set_palette(self.palette())
        super().changeEvent(event)

    @Slot(QModelIndex, QModelIndex)
    def _on_selection_model_current_changed(self, current: QModelIndex,
                                            previous: QModelIndex) -> None:
        self._update_actions()

    @Slot()
    def _on_copy_value_action_triggered(self) -> None:
        index = self._tree.currentIndex()
        if not index.isValid():
            return
        path = self._model.path(index)
        self._copy(value_text(self._model.value_at(index)),
                   f"Copied value of {path}" if path else "Copied value")

    @Slot()
    def _on_copy_path_action_triggered(self) -> None:
        path = self.current_path()
        if path:
            self._copy(path, f"Copied JSON path {path}")

    @Slot()
    def _on_copy_all_action_triggered(self) -> None:
        if self._source_text:
            self._copy(self._source_text,
                       f"Copied whole JSON ({len(self._source_text):,} characters)")

    # -- internals -------------------------------------------------------------------------

    def _copy(self, text: str, message: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.copied.emit(message)

    @staticmethod
    def _cut(text: str) -> tuple[str, int]:
        """The part of ``text`` the raw pane shows (ends at a line end if it can), its length."""
        if len(text) <= RAW_LIMIT:
            return text, len(text)
        end = text.rfind("\n", RAW_LIMIT - 64 * 1024, RAW_LIMIT) + 1 or RAW_LIMIT
        return text[:end], end

    @staticmethod
    def _cut_note(shown: int, total: int) -> str:
        """What the user reads when the raw pane shows only ``shown`` of ``total`` characters."""
        if shown >= total:
            return ""
        return (f"Large body: showing the first {_mib(shown)} of {_mib(total)} "
                "(Copy whole JSON copies all of it).")

    def _set_raw(self, text: str, *, json_colours: bool) -> None:
        document: QTextDocument | None = None
        if json_colours and len(text) <= HIGHLIGHT_LIMIT:
            document = self._raw_edit.document()
        # Detach first: setPlainText would otherwise colour the whole text once more.
        self._highlighter.setDocument(None)
        self._raw_edit.setLineWrapMode(
            QPlainTextEdit.LineWrapMode.WidgetWidth if len(text) <= HIGHLIGHT_LIMIT
            else QPlainTextEdit.LineWrapMode.NoWrap)
        self._raw_edit.setPlainText(text)
        if document is not None:
            self._highlighter.setDocument(document)

    def _set_note(self, note: str) -> None:
        self._note_label.setText(note)
        self._note_label.setVisible(bool(note))

    def _update_actions(self) -> None:
        index = self._tree.currentIndex()
        self._copy_value_action.setEnabled(index.isValid())
        self._copy_path_action.setEnabled(self._model.path(index) is not None)
        self._copy_all_action.setEnabled(bool(self._source_text))
