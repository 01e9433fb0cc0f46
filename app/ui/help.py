"""The Help menu: keyboard shortcuts, the documentation pages, and "Report a problem".

The shortcut list is generated from the window's actions (:func:`app.ui.shortcuts.shortcut_rows`),
so it cannot go stale. The pages are Markdown files found by :func:`app.resources.doc_path` in a
checkout, a wheel and a frozen build alike, shown read-only. "Report a problem" puts the
version, the platform and the last error the message bar showed on the clipboard: plain text to
paste into an issue.
"""

from __future__ import annotations

import platform
import sys

from PySide6 import __version__ as PYSIDE_VERSION
from PySide6.QtCore import QObject, QUrl, qVersion
from PySide6.QtGui import QAction, QDesktopServices, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMainWindow,
    QMenu,
    QPlainTextEdit,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app import APP_TITLE, __version__
from app.resources import doc_path
from app.ui.shortcuts import shortcut_rows

# (menu text, file, window title)
PAGES = (
    ("&Filter language", "filters.md", "The filter language"),
    ("&Capture format", "capture-format.md", "The capture file format"),
    ("&Vendor contract summary", "vendor-contract.md", "The Data Streamer's HTTP contract"),
)


def shortcuts_text(window: QWidget) -> str:
    """The window's keyboard shortcuts, one a line: keys, then what they do."""
    rows = shortcut_rows(window)
    width = max((len(keys) for keys, _ in rows), default=0)
    return "\n".join(f"{keys:<{width}}  {what}" for keys, what in rows)


def problem_report(window: QMainWindow) -> str:
    """Version, platform and the last error the window showed: plain text for an issue."""
    bar = getattr(window, "message_bar", None)
    error = getattr(bar, "last_error", "")
    lines = [
        f"{APP_TITLE} {__version__}",
        f"Python {platform.python_version()} ({platform.python_implementation()}, "
        f"{sys.platform})",
        f"Qt {qVersion()}, PySide6 {PYSIDE_VERSION}, platform plugin "
        f"{QGuiApplication.platformName()}",
        f"OS: {platform.platform()}",
        "Last error shown: " + (f"{error} (at {bar.last_error_at})" if error else "none"),
    ]
    return "\n".join(lines)


class ShortcutsDialog(QDialog):
    """Every keyboard shortcut of the window, as plain text generated from its actions."""

    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        layout = QVBoxLayout(self)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setPlainText(shortcuts_text(window))
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(480, 560)


class DocumentDialog(QDialog):
    """A Markdown page shown read-only (links to web pages open in the browser)."""

    def __init__(self, title: str, name: str, parent: QWidget):
        super().__init__(parent)
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        self.browser = QTextBrowser(self)
        self.browser.setOpenLinks(False)  # a relative link would blank the page
        self.browser.anchorClicked.connect(self._on_browser_anchor_clicked)
        path = doc_path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            self.browser.setPlainText(f"The page {name} is missing from this installation "
                                      f"({exc.strerror or 'cannot be read'}).")
        else:
            self.browser.setMarkdown(text)
        layout.addWidget(self.browser)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(760, 640)

    def _on_browser_anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() in ("http", "https"):
            QDesktopServices.openUrl(url)
        elif url.hasFragment() and not url.path():
            self.browser.scrollToAnchor(url.fragment())


class HelpController(QObject):
    """The Help menu's entries above About: shortcuts, the pages, Report a problem. The
    dialogs are non-modal and kept (one of each), so they can stay open beside the window."""

    def __init__(self, window: QMainWindow, menu: QMenu):
        super().__init__(window)
        self._window = window
        self._dialogs: dict[str, QDialog] = {}
        self.shortcuts_action = QAction("&Keyboard shortcuts", window)
        self.shortcuts_action.setStatusTip("Every keyboard shortcut of this window")
        self.shortcuts_action.triggered.connect(self._on_shortcuts_action_triggered)
        menu.addAction(self.shortcuts_action)
        self.page_actions: dict[str, QAction] = {}
        for text, name, title in PAGES:
            action = QAction(text, window)
            action.triggered.connect(lambda _=False, n=name, t=title: self.show_page(n, t))
            menu.addAction(action)
            self.page_actions[name] = action
        menu.addSeparator()
        self.report_action = QAction("&Report a problem", window)
        self.report_action.setStatusTip("Copy the version, the platform and the last error to "
                                        "the clipboard, to paste into a problem report")
        self.report_action.triggered.connect(self._on_report_action_triggered)
        menu.addAction(self.report_action)
        menu.addSeparator()

    def _show(self, key: str, make) -> QDialog:
        dialog = self._dialogs.get(key)
        if dialog is None:
            dialog = self._dialogs[key] = make()
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def show_shortcuts(self) -> ShortcutsDialog:
        """Show the keyboard shortcuts (made afresh: actions may have changed)."""
        old = self._dialogs.pop("shortcuts", None)
        if old is not None:
            old.deleteLater()
        return self._show("shortcuts", lambda: ShortcutsDialog(self._window))

    def show_page(self, name: str, title: str) -> DocumentDialog:
        """Show the page ``name`` (a file :func:`app.resources.doc_path` finds)."""
        return self._show(name, lambda: DocumentDialog(title, name, self._window))

    def _on_shortcuts_action_triggered(self) -> None:
        self.show_shortcuts()

    def _on_report_action_triggered(self) -> None:
        QGuiApplication.clipboard().setText(problem_report(self._window))
        self._window.statusBar().showMessage(
            "Copied the version, the platform and the last error to the clipboard: paste "
            "them into your problem report.", 8000)
