"""The Help menu, and the window's small words (issue 15, item 10 and "Also expected")."""

import tomllib
from pathlib import Path

from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QToolBar, QToolButton

from app import APP_TITLE, __version__
from app.resources import HELP_DOCS
from app.ui.replay import SendDialog
from app.ui.shortcuts import window_actions
from tests.conftest import EVENT_SAMPLE
from tests.ui.conftest import WAIT
from tests.ui.test_window import finish, post


def test_counts_take_the_noun_in_the_right_number(qtbot, window):
    dialog = SendDialog(window.receiver.endpoint, "", "", {}, window)
    assert dialog.retries.text() == "5 retries"
    dialog.retries.setValue(1)
    assert dialog.retries.text() == "1 retry"
    dialog.sims.setValue(1)
    dialog.generate.setValue(1)
    assert (dialog.sims.text(), dialog.generate.text()) == ("1 SIM", "1 record")
    dialog.deleteLater()
    finish(post(window, EVENT_SAMPLE))
    qtbot.waitUntil(lambda: window.counter_label.text() == "1 request · 1 record", timeout=WAIT)


def test_help_menu_shows_shortcuts_pages_and_reports_a_problem(qtbot, window):
    (menu,) = [a.menu() for a in window.menuBar().actions() if a.text() == "&Help"]
    texts = [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]
    assert texts == ["Keyboard shortcuts", "Filter language", "Capture format",
                     "Vendor contract summary", "Report a problem", "About"]
    help_ = window.help
    help_.shortcuts_action.trigger()
    dialog = help_.show_shortcuts()
    assert dialog.isVisible()
    lines = dialog.text.toPlainText().splitlines()
    assert len(lines) == len(window_actions(window))
    assert any(line.startswith("Ctrl+E") and line.endswith("Export") for line in lines)
    dialog.close()
    want = {"filters.md": "bare word", "capture-format.md": "SQLite 3 database in WAL mode",
            "vendor-contract.md": "At most 3,000 records per POST"}
    for name, words in want.items():
        help_.page_actions[name].trigger()
        page = help_._dialogs[name]
        assert page.isVisible() and words in page.browser.toPlainText()
        assert "#" not in page.browser.toPlainText().splitlines()[0]  # rendered, not raw
        page.close()
    contract = help_._dialogs["vendor-contract.md"].browser.toPlainText()
    for fact in ("Basic Authentication", "Only HTTP 200 acknowledges", "Redirects (3xx) are not "
                 "followed", "delivered again"):
        assert fact in contract
    window.show_error("Endpoint: port 8443 on 127.0.0.1 is already in use")
    help_.report_action.trigger()
    report = QGuiApplication.clipboard().text()
    assert report.startswith(f"{APP_TITLE} {__version__}\nPython 3.")
    assert f"Qt {qVersion()}" in report and "\nOS: " in report
    assert "Last error shown: Endpoint: port 8443 on 127.0.0.1 is already in use (at " in report
    assert "Copied the version" in window.statusBar().currentMessage()


def test_help_pages_are_packaged():
    """A wheel and the frozen build carry the pages the Help menu shows."""
    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    included = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    spec = (root / "packaging" / "streamer-inspector.spec").read_text()
    for name in HELP_DOCS:
        if (root / "resources" / "docs" / name).is_file():
            continue  # resources/ is packaged whole
        assert (root / "docs" / name).is_file()
        assert included[f"docs/{name}"] == f"app/_resources/docs/{name}"
        assert f'"{name}"' in spec


def test_toolbar_fits_1024_pixels(qtbot, window):
    """At 1024x640 the toolbar showed about two thirds and hid the rest behind its » (issue 15,
    item 10); the counts and the capture's name now stand in the status bar."""
    window.resize(1024, 640)
    window.show()
    qtbot.waitExposed(window)
    window.counter_label.setText("132,000 requests · 1,234,567 records")
    window.rules_indicator.setText("Rules: 12")
    bar = window.findChild(QToolBar, "endpointToolbar")
    assert bar.sizeHint().width() <= window.width()
    extension = bar.findChild(QToolButton, "qt_toolbar_ext_button")
    qtbot.waitUntil(lambda: not extension.isVisible())
    assert window.counter_label.isVisible() and window.capture_label.isVisible()
