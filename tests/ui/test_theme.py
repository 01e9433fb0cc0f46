"""Issue 15: View ▸ Theme (System, Light, Dark) applies at once to the running window, is
remembered, and everything coloured follows it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QMenu, QToolButton

from app.config import Settings
from app.records.columns import EVENT_COLUMNS
from app.ui.models import _TONES
from app.ui.theme import TONES, ThemeController, dark_palette, light_palette
from tests.conftest import EVENT_SAMPLE
from tests.ui.conftest import WAIT
from tests.ui.test_values import _contrast
from tests.ui.test_window import column_of, finish, post, wait_cell

_R = QPalette.ColorRole


def base_lightness() -> int:
    return QApplication.palette().color(_R.Base).lightness()


def test_the_palettes_text_is_readable():
    for palette in (light_palette(), dark_palette()):
        for text, background in ((_R.Text, _R.Base), (_R.Text, _R.AlternateBase),
                                 (_R.WindowText, _R.Window), (_R.ButtonText, _R.Button),
                                 (_R.HighlightedText, _R.Highlight),
                                 (_R.ToolTipText, _R.ToolTipBase)):
            assert _contrast(palette.color(text), palette.color(background)) >= 4.5
        assert _contrast(palette.color(_R.PlaceholderText), palette.color(_R.Base)) >= 4.5
    # The severity tones on the tables' rows, the style-sheet tones on the windows.
    for number, palette in enumerate((light_palette(), dark_palette())):
        for tones in _TONES.values():
            for background in (_R.Base, _R.AlternateBase):
                assert _contrast(QColor(tones[number]), palette.color(background)) >= 4.5
        for tones in TONES.values():
            assert _contrast(QColor(tones[number]), palette.color(_R.Window)) >= 4.5


def test_the_theme_switches_live_and_is_remembered(qtbot, window):
    app = QApplication.instance()
    system_base = app.palette().color(_R.Base).name()
    system_style = app.style().name()
    actions = window.theme.actions
    assert window.theme_menu.actions() == list(actions.values())
    assert actions["system"].isChecked() and window.theme.theme == "system"
    finish(post(window, EVENT_SAMPLE))
    events = window.record_models["event"]
    severity = column_of(EVENT_COLUMNS, "severity")
    wait_cell(qtbot, events, 0, severity, "Info")

    def tone() -> str:
        return events.data(events.index(0, severity), Qt.ItemDataRole.ForegroundRole).name()

    pause = window.findChild(QToolButton, "pause_button")  # it has a style sheet of its own
    bar = window.filter_bars["event"]
    bar.set_text("severity ==")  # an error under the filter, in the error tone
    qtbot.waitUntil(lambda: bar._error.isVisibleTo(bar), timeout=WAIT)
    try:
        actions["dark"].trigger()
        assert actions["dark"].isChecked() and not actions["system"].isChecked()
        assert base_lightness() < 60
        view = window.views["event"]  # (the widgets are told in posted events)
        qtbot.waitUntil(lambda: view.palette().color(_R.Base).lightness() < 60, timeout=WAIT)
        assert app.style().name() == "fusion"
        assert tone() == _TONES["info"][1]  # the dark palette's tone
        assert TONES["error"][1] in bar._error.styleSheet()
        assert TONES["ok"][1] in window.state_label.styleSheet()  # ● Listening
        assert pause.palette().color(_R.ButtonText).lightness() > 160  # polished again
        assert Settings.load().theme == "dark"

        actions["light"].trigger()
        assert base_lightness() > 200
        assert tone() == _TONES["info"][0]
        assert TONES["error"][0] in bar._error.styleSheet()
        assert pause.palette().color(_R.ButtonText).lightness() < 80
        assert Settings.load().theme == "light"

        # The theme remembered is the one a window starts with.
        window.settings.theme = "dark"
        started = ThemeController(window, QMenu(window))
        assert started.actions["dark"].isChecked() and base_lightness() < 60
        started.choose("light")
        started.deleteLater()
    finally:
        actions["system"].trigger()
    assert actions["system"].isChecked()
    assert app.palette().color(_R.Base).name() == system_base
    assert app.style().name() == system_style
    assert Settings.load().theme == "system"
