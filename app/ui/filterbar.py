"""The filter bar above each table: a filter line with completion, errors, counts and saved filters.

:class:`FilterBar` reads the filter language of :mod:`app.filters`. Typing applies after a short
pause and Enter applies at once; a text that does not parse never replaces the filter in force:
the bar marks the line red and says where the problem is. Completion works on the word under
the cursor (field names with their meaning in a tooltip, the redelivery ledger's words,
keywords, and after ``field ==`` the values seen in the capture).
Saved filters live in :attr:`app.config.Settings.saved_filters`.

Every value that comes from the user or the capture is shown as plain text.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent, QMetaMethod, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeyEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QCompleter,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.config import Settings
from app.filters.known import (
    CAPTURE_ENTRY,
    EXACT_ENTRY,
    KEYS_ENTRY,
    PATHS_ENTRY,
    KnownNames,
    closest,
    path_text,
)
from app.filters.lexer import value_literal, word_before, word_span
from app.filters.nodes import And, Or
from app.filters.parser import FilterError, parse
from app.filters.planner import Filter
from app.records.fields import (
    ALIASES,
    FIELDS,
    LEDGER_FIELDS,
    REQUEST_FIELDS,
    REQUEST_HELP,
    UNACKNOWLEDGED,
)
from app.ui.theme import set_tone_style
from app.ui.values import tooltip_text

DEBOUNCE_MS = 300
TABLES = ("records", "requests")
KEYWORDS = ("and", "or", "not", "last")
COMMON_PATHS = (
    "event_type.id", "event_severity.id", "detail.country.iso_code", "detail.country.name",
    "detail.pdp_context.apn", "detail.pdp_context.rat_type", "sim.iccid", "endpoint.imei",
    "operator.country.name", "traffic_type.id", "tariff.ratezone.name",
)
PLACEHOLDERS = {
    "records": "Filter: words, iccid == 8988…, type ~ PDP, volume > 1, unacked, seen > 1, last 15m",
    "requests": "Filter: words, status == 401, method ~ POST, rule ~ 503, unacked, last 15m",
}
_UNACKED_HELP = "not acked: its batch was not acknowledged (the streamer sends it again)"
# What a completed word means, shown as the completion's tooltip (records: the field catalogue).
_WORD_HELP = {
    **{name: LEDGER_FIELDS[name] for name in LEDGER_FIELDS},
    **dict.fromkeys(UNACKNOWLEDGED, _UNACKED_HELP),
    "family": "event, usage, sms_dr, sms_mo or unknown",
    "and": "both tests", "or": "either test", "not": "the test does not hold",
    "last": "received lately: last 15m (s, m, h, d)",
}
_REQUEST_HELP = {
    **REQUEST_HELP,
    **dict.fromkeys(UNACKNOWLEDGED, _UNACKED_HELP),
    "and": "both tests", "or": "either test", "not": "the test does not hold",
    "last": "received lately: last 15m (s, m, h, d)",
}
_EDIT_HINT = "Type a filter; it applies after a short pause, or at once with Enter."
# Colours readable on the theme's palette, light or dark (app.ui.theme.set_tone_style).
_ERROR_STYLE = "color: $error;"
_WARNING_STYLE = "color: $warning;"
_TAKE_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab)
_EDIT_STYLE = 'QLineEdit[invalid="true"] { border: 2px solid $error; border-radius: 3px; }'
_VALUE_OPS = ("==", "!=", "!~", "~", "=")
_SAVED_TEXT_MAX = 60


def value_field(text: str, start: int) -> str | None:
    """The field name when the word at ``start`` is the value of ``field ==`` (or ``!=``, ``~``)."""
    before = text[:start].rstrip()
    for op in _VALUE_OPS:
        if before.endswith(op):
            before = before[: -len(op)].rstrip()
            break
    else:
        return None
    return word_before(before, len(before)) or None


def _wrapped(text: str, table: str) -> bool:
    """Whether ``text`` is one parenthesised group, e.g. ``(a or b)`` but not ``(a) or (b)``."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    try:
        parse(text[1:-1], table)
    except FilterError:
        return False
    return True


class FilterBar(QWidget):
    """The filter line above a table, with the match count, saved filters and a syntax help.

    ``filter_changed`` carries the :class:`~app.filters.Filter` now in force; it is never
    emitted for a text that does not parse (that text is shown as an error instead).
    """

    filter_changed = Signal(object)
    # (capture path, [path steps]): the names a filter uses that the capture's sample lacks;
    # whether any record holds them comes back through take_names()
    names_wanted = Signal(str, object)

    def __init__(self, table: str, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        self._table = table
        self._settings = settings
        self._filter = parse("", table)
        self._values: dict[str, list[str]] = {}
        self._known: KnownNames | None = None  # the capture's keys and paths, once read
        self._sample: tuple[list[str], list[str]] | None = None  # the reader's sample of them
        self._capture = ""  # the capture they are of (its path)
        self._exact = False  # the sample read every record: a name it lacks, no record has
        self._found: set[tuple] = set()  # names beyond the sample some record holds
        self._absent: set[tuple] = set()  # names no record held when asked
        self._asked: set[tuple] = set()  # asked about, not answered yet
        self._unchecked: list[tuple] = []  # names the text being parsed waits for
        self._checking = False  # the text shown waits for an answer (not applied yet)
        self._counts: tuple[int, int, float | None] | None = None
        self._busy = False
        self._help_box: QMessageBox | None = None
        self._build()

    # -- construction --------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(row)

        self._edit = QLineEdit(self)
        self._edit.setObjectName("filter_edit")
        self._edit.setClearButtonEnabled(True)
        self._edit.setPlaceholderText(PLACEHOLDERS[self._table])
        self._edit.setToolTip(_EDIT_HINT)
        self._edit.setProperty("invalid", False)
        set_tone_style(self._edit, _EDIT_STYLE)
        row.addWidget(self._edit, 1)

        self._count = QLabel(self)
        self._count.setObjectName("filter_count")
        self._count.setTextFormat(Qt.TextFormat.PlainText)
        row.addWidget(self._count)

        self._saved_button = QToolButton(self)
        self._saved_button.setObjectName("saved_filters")
        self._saved_button.setText("Saved")
        self._saved_button.setToolTip("Saved filters: apply, save the current one, delete.")
        self._saved_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self._saved_menu = QMenu(self._saved_button)
        self._saved_menu.setObjectName("saved_filters_menu")
        self._saved_menu.setToolTipsVisible(True)
        self._saved_button.setMenu(self._saved_menu)
        self._save_action = QAction("Save current filter as…", self)
        self._save_action.setObjectName("save_filter")
        self._delete_menu = QMenu("Delete saved filter", self._saved_menu)
        self._delete_menu.setObjectName("delete_saved_filter_menu")
        row.addWidget(self._saved_button)

        self._help = QToolButton(self)
        self._help.setObjectName("filter_help")
        self._help.setText("?")
        self._help.setToolTip("The filter syntax")
        row.addWidget(self._help)

        self._error = QLabel(self)
        self._error.setObjectName("filter_error")
        self._error.setTextFormat(Qt.TextFormat.PlainText)
        set_tone_style(self._error, _ERROR_STYLE)
        self._error.setVisible(False)
        outer.addWidget(self._error)

        self._warning = QLabel(self)
        self._warning.setObjectName("filter_warning")
        self._warning.setTextFormat(Qt.TextFormat.PlainText)
        set_tone_style(self._warning, _WARNING_STYLE)
        self._warning.setVisible(False)
        outer.addWidget(self._warning)

        self._checking_label = QLabel(self)  # a name the sample lacks: asked of the capture
        self._checking_label.setObjectName("filter_checking")
        self._checking_label.setTextFormat(Qt.TextFormat.PlainText)
        self._checking_label.setVisible(False)
        outer.addWidget(self._checking_label)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)

        self._model = QStandardItemModel(self)
        self._completer = QCompleter(self._model, self)
        self._completer.setWidget(self._edit)
        self._completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self._completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        # Return, Enter and Tab take the highlighted suggestion (the first when none is)
        self._completer.popup().installEventFilter(self)

        self._edit.textEdited.connect(self._on_edit_text_edited)
        self._edit.returnPressed.connect(self._on_edit_return_pressed)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._completer.activated[str].connect(self._on_completer_activated)
        self._saved_menu.aboutToShow.connect(self._on_saved_menu_about_to_show)
        self._saved_menu.triggered.connect(self._on_saved_menu_triggered)
        self._delete_menu.triggered.connect(self._on_delete_menu_triggered)
        self._save_action.triggered.connect(self._on_save_action_triggered)
        self._help.clicked.connect(self._on_help_clicked)

    # -- public API ----------------------------------------------------------------------

    def text(self) -> str:
        """The filter line's text (not necessarily the filter in force)."""
        return self._edit.text()

    def current_filter(self) -> Filter:
        """The filter in force."""
        return self._filter

    def set_text(self, text: str) -> None:
        """Set the filter line's text and apply it at once."""
        self._edit.setText(text)
        self._apply()

    def add_condition(self, expr: str, exclude: bool = False) -> None:
        """Narrow the filter with ``expr`` ("Filter on this value"), or with ``not expr``."""
        current = self._edit.text().strip()
        expr = expr.strip()
        if not current:
            self.set_text(f"not ({expr})" if exclude else expr)
            return
        if self._needs_parens(current, Or):
            current = f"({current})"
        if exclude:
            condition = f"not ({expr})" if self._needs_parens(expr, None) else f"not {expr}"
        else:
            condition = f"({expr})" if self._needs_parens(expr, Or) else expr
        self.set_text(f"{current} and {condition}")

    def set_counts(self, shown: int, total: int, seconds: float | None = None) -> None:
        """Show how many rows match: ``shown of total`` while a filter is in force."""
        self._counts = (shown, total, seconds)
        self._show_counts()

    def set_busy(self, busy: bool) -> None:
        """Show "filtering…" in place of the count while a filter runs."""
        self._busy = busy
        self._show_counts()

    def set_completions(self, values: dict[str, list[str]]) -> None:
        """The values seen in the capture per field name, offered after ``field ==``; with the
        entries ``KEYS_ENTRY`` and ``PATHS_ENTRY`` also the capture's keys and paths (a
        sample of its records), which names in a filter are checked against (a filter shown
        now is checked again). A name the sample lacks is asked of the capture
        (``names_wanted``) unless ``EXACT_ENTRY`` says the sample read every record."""
        values = dict(values)
        keys, paths = values.pop(KEYS_ENTRY, None), values.pop(PATHS_ENTRY, None)
        exact = values.pop(EXACT_ENTRY, None) is not None
        capture = (values.pop(CAPTURE_ENTRY, None) or [""])[0]
        self._values = {name.lower(): list(items) for name, items in values.items()}
        if self._table != "records":
            return
        another = capture != self._capture
        if another:  # what was learnt of the last capture's names is not true of this one
            self._capture = capture
            self._found.clear()
            self._absent.clear()
            self._asked.clear()
        if keys is None and not another:
            return
        self._exact = exact
        self._sample = None if keys is None else (list(keys), list(paths or ()))
        if self._rebuild_known() and not self._timer.isActive() and self._edit.text().strip():
            self._apply()  # not while typing: the pause applies it

    def take_names(self, capture: str, answers: dict) -> None:
        """The capture's answer to ``names_wanted``: per name (path steps) whether a record
        holds it. Remembered (the next parse needs no question); the text shown is applied
        or refused if it waited for it. An answer for an older text changes nothing else: the
        text shown now is what is parsed again."""
        if self._table != "records" or capture != self._capture:
            return  # another capture's: its names are not this one's
        for steps, held in answers.items():
            self._asked.discard(steps)
            (self._found if held else self._absent).add(steps)
        if any(answers.values()):
            self._rebuild_known()
        if self._checking and not self._timer.isActive():
            self._apply()

    # -- applying ------------------------------------------------------------------------

    def _rebuild_known(self) -> bool:
        """The names to parse with: the sample's and those found beyond it; whether they
        changed."""
        known = None
        if self._sample is not None:
            keys, paths = self._sample
            found = [path_text(steps) for steps in self._found]
            known = KnownNames([*keys, *(path_text(s) for s in self._found if len(s) == 1)],
                               [*paths, *found], exact=self._lookup)
        changed = known != self._known
        self._known = known
        return changed

    def _lookup(self, steps: tuple[str | int, ...]) -> bool:
        """A name the sample lacks: what the capture answered; unknown yet, it is noted to be
        asked (and taken as known meanwhile, so that the parse goes on to the next name)."""
        if steps in self._found:
            return True
        if steps in self._absent or self._exact or not self._capture \
                or not self.isSignalConnected(QMetaMethod.fromSignal(self.names_wanted)):
            return False  # (without anyone to ask, the sample is all there is)
        self._unchecked.append(steps)
        return True

    def _apply(self) -> None:
        self._timer.stop()
        text = self._edit.text()
        self._unchecked = []
        try:
            new = parse(text, self._table, self._known)
        except FilterError as exc:
            self._show_checking([])
            self._show_error(text, exc)
            return
        unchecked = list(dict.fromkeys(self._unchecked))
        ask = [steps for steps in unchecked if steps not in self._asked]
        if ask:
            self._asked.update(ask)
            self.names_wanted.emit(self._capture, ask)
        self._show_checking(unchecked)
        if any(len(steps) == 1 for steps in unchecked):
            # A key the sample lacks: unknown, the text would be refused, so the filter in
            # force stays until the capture answers (a path no record has is only a warning:
            # that text is applied now and the warning, if any, follows the answer).
            self._clear_error()
            self._warning.setVisible(False)
            return
        self._clear_error()
        self._show_warnings(new.warnings)
        changed = new.root != self._filter.root
        self._filter = new
        if changed:
            self._show_counts()
            self.filter_changed.emit(new)

    def _show_checking(self, names: list[tuple]) -> None:
        """Say which names the capture is being asked about (none: hide it), each with the
        known name it is close to: a misspelling is hinted at before the answer comes (a
        name no record has takes a scan of the capture: ~1 s for 300,000 records)."""
        self._checking = bool(names)
        parts = []
        for steps in names[:3]:
            name, near = path_text(steps), None
            if self._known is not None:
                pool = [*FIELDS, *ALIASES, *LEDGER_FIELDS, "family", *self._known.keys] \
                    if len(steps) == 1 else self._known.paths
                near = closest(name, pool)
            parts.append(f'"{name}"' + (f' (did you mean "{near}"?)' if near else ""))
        shown = ", ".join(parts) + (", …" if len(names) > 3 else "")
        self._checking_label.setText(f"Checking whether any record has {shown}…")
        self._checking_label.setVisible(bool(names))

    def _show_error(self, text: str, exc: FilterError) -> None:
        self._error.setText(f"Column {exc.position + 1}: {exc.args[0]}")
        self._error.setVisible(True)
        self._warning.setVisible(False)
        caret = " " * exc.position + "^"
        self._edit.setToolTip(
            f"<pre>{html.escape(text)}\n{caret}\n{html.escape(str(exc.args[0]))}</pre>"
        )
        self._set_invalid(True)

    def _show_warnings(self, warnings: list[str]) -> None:
        """A doubtful part of a filter in force (a path no record has): said, not refused."""
        text = "\n".join(f"Warning: {w}" for w in warnings)
        self._warning.setText(text)
        self._warning.setVisible(bool(warnings))
        self._edit.setToolTip(f"{_EDIT_HINT}\n{text}" if warnings else _EDIT_HINT)

    def _clear_error(self) -> None:
        self._error.clear()
        self._error.setVisible(False)
        self._edit.setToolTip(_EDIT_HINT)
        self._set_invalid(False)

    def _set_invalid(self, invalid: bool) -> None:
        if bool(self._edit.property("invalid")) == invalid:
            return
        self._edit.setProperty("invalid", invalid)
        style = self._edit.style()
        style.unpolish(self._edit)
        style.polish(self._edit)
        self._edit.update()

    def _needs_parens(self, text: str, kind: type | None) -> bool:
        """Whether ``text`` must be bracketed: an ``or`` (kind Or), or any and/or (kind None)."""
        try:
            root = parse(text, self._table).root
        except FilterError:
            return not _wrapped(text, self._table)
        if _wrapped(text, self._table):
            return False
        if kind is None:
            return isinstance(root, (And, Or))
        return isinstance(root, kind)

    def _show_counts(self) -> None:
        if self._busy:
            self._count.setText("filtering…")
            return
        if self._counts is None:
            self._count.clear()
            self._count.setToolTip("")
            return
        shown, total, seconds = self._counts
        if self._filter.is_empty:
            self._count.setText(f"{total:,}")
        else:
            self._count.setText(f"{shown:,} of {total:,}")
        self._count.setToolTip("" if seconds is None else f"filtered in {seconds:.2f} s")

    # -- completion ----------------------------------------------------------------------

    def _names(self) -> list[str]:
        if self._table == "requests":
            return [*REQUEST_FIELDS, *UNACKNOWLEDGED, *KEYWORDS]
        return [*FIELDS, *ALIASES, "family", *LEDGER_FIELDS, *UNACKNOWLEDGED, *COMMON_PATHS,
                *KEYWORDS]

    def _word_help(self, name: str) -> str:
        """What a completed field name or keyword means (empty for a value)."""
        if self._table == "requests":
            return _REQUEST_HELP.get(name, "")
        target = ALIASES.get(name, name)
        spec = FIELDS.get(target)
        if spec is not None:
            text = spec.help or f"reads {', '.join(spec.paths)}"
            return text if target == name else f"{target}: {text}"
        if name in COMMON_PATHS or target != name:
            return f"the JSON path {target}"
        return _WORD_HELP.get(name, "")

    def _set_candidates(self, candidates: list[str], words: bool) -> None:
        self._model.clear()
        for text in candidates:
            item = QStandardItem(text)
            item.setEditable(False)
            if words and (tip := self._word_help(text)):
                item.setToolTip(tip)
            self._model.appendRow(item)

    def _field_values(self, name: str) -> list[str]:
        key = name.lower()
        if self._table == "records":  # a records alias first (``status`` is a record's type)
            key = ALIASES.get(key, key)
        values = self._values.get(key)
        return [value_literal(v) for v in values or ()]

    def _update_completion(self) -> None:
        text = self._edit.text()
        cursor = self._edit.cursorPosition()
        start, _end = word_span(text, cursor)
        prefix = text[start:cursor]
        name = value_field(text, start)
        if name is not None:
            candidates = self._field_values(name)
            self._completer.setFilterMode(Qt.MatchFlag.MatchContains)
            prefix = prefix.lstrip("\"'")
        else:
            candidates = self._names() if prefix else []
            self._completer.setFilterMode(Qt.MatchFlag.MatchStartsWith)
        self._set_candidates(candidates, words=name is None)
        self._completer.setCompletionPrefix(prefix)
        count = self._completer.completionCount()
        popup = self._completer.popup()
        if not candidates or count == 0 or (
            count == 1 and self._completer.currentCompletion().lower() == prefix.lower()
        ):
            popup.hide()
            return
        rect = self._edit.cursorRect()
        rect.setWidth(popup.sizeHintForColumn(0) + popup.verticalScrollBar().sizeHint().width())
        self._completer.complete(rect)

    # -- saved filters -------------------------------------------------------------------

    def _save_current(self) -> None:
        expression = self._filter.text.strip()
        if not expression:
            return
        name, ok = QInputDialog.getText(self, "Save filter", "Name for this filter:")
        name = name.strip()
        if not ok or not name:
            return
        self._settings.saved_filters[name] = expression
        self._settings.save()

    def _help_text(self) -> str:
        if self._table == "requests":
            fields = ", ".join(sorted(REQUEST_FIELDS))
            lines = [
                "Filter the requests (case is ignored):",
                "unauthorized — bare words search path, reason, problems, headers and body",
                "status == 401, method != POST — a field and a value (\"quote\" spaces)",
                "path ~ ^/hook — ~ matches a regular expression, !~ does not",
                "records > 100, received >= 2025-03-18T07:00 — < > <= >= for numbers, times",
                "a and b, a or b, not a, (a or b) and c — a b alone means a and b",
                "last 15m — received in the last 15 minutes (s, m, h, d)",
                "problems — a bare field: present and not empty, false or 0",
                "rule ~ 503, acked, unacknowledged (unacked) — the answer rule that answered it, "
                "whether its answer acknowledged the batch",
                f"Fields: {fields}",
            ]
        else:
            lines = [
                "Filter the records (case is ignored):",
                "netherlands — bare words search the whole record",
                "iccid == 8988228066600001234, severity != INFO — a field and a value",
                "detail.country.iso_code == nl — any JSON path of the record",
                "type ~ PDP — ~ matches a regular expression, !~ does not",
                "volume > 1.5, time >= 2025-03-18T07:00 — < > <= >= for numbers and times",
                "a and b, a or b, not a, (a or b) and c — a b alone means a and b",
                "last 15m — received in the last 15 minutes (s, m, h, d)",
                "alert — a bare field: present and not empty, false or 0",
                "unacknowledged (unacked), acked, redelivered, conflict, seen > 1, attempt == 1 "
                "— its batch's answer and the redelivery ledger",
                f"Fields: {', '.join(FIELDS)}, family",
            ]
        return "\n".join(lines)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Return, Enter and Tab in the completion popup take the highlighted suggestion, or
        the first one when none is highlighted (Tab would otherwise leave the line). When the
        word typed is already one of the suggestions and none is highlighted, Return applies
        the text as it is and Tab only closes the popup."""
        popup = self._completer.popup()
        if watched is popup and event.type() == QEvent.Type.KeyPress and popup.isVisible() \
                and isinstance(event, QKeyEvent) and event.key() in _TAKE_KEYS \
                and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            index = popup.currentIndex()
            model = self._completer.completionModel()
            if not index.isValid():
                typed = self._completer.completionPrefix().lower()
                offered = [str(model.index(row, 0).data()).lower()
                           for row in range(model.rowCount())]
                if typed in offered or not offered:
                    popup.hide()
                    if event.key() != Qt.Key.Key_Tab:
                        self._apply()
                    return True
                index = model.index(0, 0)
            popup.hide()
            self._on_completer_activated(str(index.data()))
            return True
        return super().eventFilter(watched, event)

    # -- slots ---------------------------------------------------------------------------

    @Slot(str)
    def _on_edit_text_edited(self, _text: str) -> None:
        self._timer.start()
        self._update_completion()

    @Slot()
    def _on_edit_return_pressed(self) -> None:
        popup = self._completer.popup()
        if popup.isVisible() and popup.currentIndex().isValid():
            return  # Enter chooses the completion (the completer's activated follows)
        self._apply()

    @Slot()
    def _on_timer_timeout(self) -> None:
        self._apply()

    @Slot(str)
    def _on_completer_activated(self, completion: str) -> None:
        text = self._edit.text()
        start, end = word_span(text, self._edit.cursorPosition())
        self._edit.setText(text[:start] + completion + text[end:])
        self._edit.setCursorPosition(start + len(completion))
        self._timer.start()

    @Slot()
    def _on_saved_menu_about_to_show(self) -> None:
        menu = self._saved_menu
        menu.clear()
        self._delete_menu.clear()
        saved = self._settings.saved_filters
        for name in sorted(saved, key=str.lower):
            expression = saved[name]
            short = expression
            if len(short) > _SAVED_TEXT_MAX:
                short = short[: _SAVED_TEXT_MAX - 1] + "…"
            action = QAction(f"{name} — {short}".replace("&", "&&"), menu)
            action.setData(name)
            action.setToolTip(tooltip_text(expression))
            menu.addAction(action)
            delete = QAction(name.replace("&", "&&"), self._delete_menu)
            delete.setData(name)
            self._delete_menu.addAction(delete)
        if not saved:
            empty = QAction("No saved filters", menu)
            empty.setEnabled(False)
            menu.addAction(empty)
        menu.addSeparator()
        self._save_action.setEnabled(not self._filter.is_empty)
        menu.addAction(self._save_action)
        menu.addMenu(self._delete_menu)
        self._delete_menu.setEnabled(bool(saved))

    @Slot(QAction)
    def _on_saved_menu_triggered(self, action: QAction) -> None:
        name = action.data()
        if action.parent() is not self._saved_menu or not isinstance(name, str):
            return
        expression = self._settings.saved_filters.get(name)
        if expression is not None:
            self.set_text(expression)

    @Slot(QAction)
    def _on_delete_menu_triggered(self, action: QAction) -> None:
        name = action.data()
        if isinstance(name, str) and name in self._settings.saved_filters:
            del self._settings.saved_filters[name]
            self._settings.save()

    @Slot()
    def _on_save_action_triggered(self) -> None:
        self._save_current()

    @Slot()
    def _on_help_clicked(self) -> None:
        if self._help_box is None:
            box = QMessageBox(QMessageBox.Icon.Information, "Filter syntax", self._help_text(),
                              QMessageBox.StandardButton.Ok, self)
            box.setObjectName("filter_help_box")
            box.setTextFormat(Qt.TextFormat.PlainText)
            self._help_box = box
        if self._help_box.isVisible():
            self._help_box.raise_()
        else:
            self._help_box.open()
