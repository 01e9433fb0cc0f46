"""The window's keyboard shortcuts: they work whatever has focus, and they can be listed.

A text field claims some Ctrl+letter keys for itself before the window's shortcuts see them
(Qt sends it a ``ShortcutOverride`` event first): under the X11, GNOME and KDE key schemes a
``QLineEdit`` takes Ctrl+E as "end of line" (an Emacs binding), so with a filter bar focused,
which is the state after start and after switching tabs, Ctrl+E (Export) did nothing.
:class:`ShortcutRouter` refuses the override for every key that is one of the window's action
shortcuts, on whichever widget of the window takes focus, so the action gets the key. The
standard editing keys (copy, paste, undo, select all, …) are no window shortcut, so a text field
keeps them (``tests/ui/test_shortcuts.py`` checks that none collides).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QKeyCombination, QObject, Qt
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QWidget

_WINDOW_CONTEXTS = (Qt.ShortcutContext.WindowShortcut, Qt.ShortcutContext.ApplicationShortcut)


def window_actions(window: QWidget) -> list[QAction]:
    """The actions of ``window`` with a window-wide keyboard shortcut, in creation order,
    without duplicates (one action can stand in a menu and in the toolbar)."""
    seen: set[int] = set()
    actions = []
    for action in window.findChildren(QAction):
        if action.shortcut().isEmpty() or action.shortcutContext() not in _WINDOW_CONTEXTS:
            continue
        if id(action) not in seen:
            seen.add(id(action))
            actions.append(action)
    return actions


def shortcut_rows(window: QWidget) -> list[tuple[str, str]]:
    """(keys, what they do) for every window action with a shortcut, keys in the platform's
    native text (``Ctrl+E``; ``⌘E`` on macOS), sorted by what they do."""
    rows = []
    for action in window_actions(window):
        what = action.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
        what = what.rstrip("…").rstrip(".")
        keys = ", ".join(seq.toString(QKeySequence.SequenceFormat.NativeText)
                         for seq in action.shortcuts() if not seq.isEmpty())
        rows.append((keys, what))
    return sorted(rows, key=lambda row: row[1].casefold())


def _combination(event: QKeyEvent) -> QKeyCombination:
    modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    return QKeyCombination(modifiers, Qt.Key(event.key()))


class ShortcutRouter(QObject):
    """Gives the window's shortcut keys to its actions whatever widget has focus (see the
    module's docstring): an event filter on each widget of the window that takes focus."""

    def __init__(self, window: QWidget):
        super().__init__(window)
        self._window = window
        app = QApplication.instance()
        app.focusChanged.connect(self._on_app_focus_changed)
        focused = app.focusWidget()
        if focused is not None:
            self._on_app_focus_changed(None, focused)

    def _on_app_focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        # Installing again moves the filter to the front: it runs before the widget's own
        # handling and before filters installed earlier (a completer's).
        if new is not None and new.window() is self._window:
            new.installEventFilter(self)

    def _claims(self, event: QKeyEvent) -> bool:
        combination = _combination(event)
        for action in window_actions(self._window):
            if action.isEnabled() and any(seq.count() == 1 and seq[0] == combination
                                          for seq in action.shortcuts()):
                return True
        return False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and self._claims(event):
            event.ignore()  # not the text field's: the shortcut map gives it to the action
            return True
        return False
