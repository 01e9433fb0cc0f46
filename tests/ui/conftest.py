"""Fixtures of the window tests: a real window with its real child receiver."""

import pytest
from PySide6.QtWidgets import QApplication

from app.cli.options import build_parser
from app.ui.application import build

WAIT = 20000  # ms: generous, the machines are shared


@pytest.fixture
def window(qtbot, tmp_path):
    args = build_parser().parse_args(["--port", "0", "--capture", str(tmp_path / "c.sqlite")])
    win = build(args, QApplication.instance())
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.receiver.state == "listening", timeout=WAIT)
    yield win
    if win.isVisible():
        win.close()
