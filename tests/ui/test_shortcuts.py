"""Window shortcuts work whatever has focus (issue 15, item 3), and the Help menu lists them."""

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QLineEdit

from app.ui.shortcuts import shortcut_rows, window_actions


class _Claims(QObject):
    """Makes a text field claim every key, as a QLineEdit under the X11, GNOME and KDE key
    schemes claims Ctrl+E (end of line): the offscreen test platform has no Emacs bindings."""

    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.ShortcutOverride:
            event.accept()
            return True
        return False


class _Shortcuts(QObject):
    """Notes the shortcut events that reach an action, and keeps them from running it (its
    slot would open a modal dialog): the event is what triggers the action."""

    def __init__(self, parent):
        super().__init__(parent)
        self.hits = []

    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Shortcut:
            self.hits.append((watched, event.isAmbiguous()))
            return True
        return False


def test_every_window_shortcut_works_while_a_filter_bar_has_focus(window, qtbot):
    window.show()
    qtbot.waitExposed(window)
    actions = [a for a in window_actions(window) if a.isEnabled()]
    assert window.export_action in actions and len(actions) > 20
    spy = _Shortcuts(window)
    for action in actions:
        action.installEventFilter(spy)
    for table in ("requests", "usage"):
        window.tabs.setCurrentIndex(list(window.filter_bars).index(table))
        edit = window.filter_bars[table].findChild(QLineEdit, "filter_edit")
        window.views[table].setFocus()
        edit.installEventFilter(_Claims(edit))  # before it takes focus, as the field's own code
        edit.setFocus()
        for action in actions:
            spy.hits.clear()
            combination = action.shortcut()[0]
            qtbot.keyClick(edit, combination.key(), combination.keyboardModifiers())
            assert spy.hits == [(action, False)], (table, action.text(),
                                                   action.shortcut().toString())
            assert QApplication.focusWidget() is edit


def test_no_window_shortcut_takes_a_text_editing_key(window):
    editing = set()
    for key in (QKeySequence.StandardKey.Copy, QKeySequence.StandardKey.Cut,
                QKeySequence.StandardKey.Paste, QKeySequence.StandardKey.Undo,
                QKeySequence.StandardKey.Redo, QKeySequence.StandardKey.SelectAll,
                QKeySequence.StandardKey.Delete, QKeySequence.StandardKey.DeleteStartOfWord,
                QKeySequence.StandardKey.DeleteEndOfWord, QKeySequence.StandardKey.MoveToNextWord,
                QKeySequence.StandardKey.MoveToPreviousWord, QKeySequence.StandardKey.Find):
        editing.update(seq.toString() for seq in QKeySequence.keyBindings(key))
    shortcuts = {seq.toString() for a in window_actions(window) for seq in a.shortcuts()}
    assert editing and not shortcuts & editing


def test_shortcut_list_names_every_shortcut(window):
    rows = shortcut_rows(window)
    assert ("Ctrl+E", "Export") in rows
    assert len(rows) == len(window_actions(window))
    assert all(keys and what and "&" not in what for keys, what in rows)
