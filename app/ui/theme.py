"""Light and dark: the window's theme (View ▸ Theme: System, Light or Dark), applied live.

*System* follows the platform: its style and palette, and its light or dark setting where Qt
knows it. *Light* and *Dark* are explicit palettes on the Fusion style, which paints every
widget from the palette, so they look the same on every platform (the platform's own colour
scheme setting, ``QStyleHints.setColorScheme``, does nothing under X11 without a desktop,
offscreen or under Xvfb, and is only asked for as well, for the title bar where it counts).

Colours derived from the palette follow it: the tables' severity tones and muted rows
(:mod:`app.ui.models`) and the JSON colours (:mod:`app.ui.detail`) read the palette when they
paint. Text coloured by a style sheet (an error under a filter, a message bar's border) takes
its colour from :func:`tone` through :func:`set_tone_style`, which fills it in again when the
palette changes.
"""

from __future__ import annotations

from string import Template

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QPalette
from PySide6.QtWidgets import QApplication, QMainWindow, QMenu, QWidget

THEMES = {"system": "&System", "light": "&Light", "dark": "&Dark"}
"""The themes by their settings value, with their menu text."""

EXPLICIT_STYLE = "Fusion"
"""The style of the explicit themes: it paints everything from the palette."""

# Tones of text coloured on a window's background: (on a light palette, on a dark one). Each
# has a contrast of at least 4.5:1 (WCAG AA) on the palettes below and on white.
TONES = {"error": ("#b00020", "#ff7b72"), "warning": ("#8a5300", "#e3b341"),
         "ok": ("#116329", "#3fb950"), "muted": ("#59636e", "#9ba3ab")}

_TONE_STYLE = "toneStyle"  # the dynamic property holding a widget's style sheet template

# The explicit palettes: role -> colour (Active and Inactive), and the Disabled group's.
_R = QPalette.ColorRole
_LIGHT = {
    _R.Window: "#efefef", _R.WindowText: "#1f2328", _R.Base: "#ffffff",
    _R.AlternateBase: "#f6f8fa", _R.ToolTipBase: "#ffffdc", _R.ToolTipText: "#1f2328",
    _R.PlaceholderText: "#636c76", _R.Text: "#1f2328", _R.Button: "#efefef",
    _R.ButtonText: "#1f2328", _R.BrightText: "#ffffff", _R.Light: "#ffffff",
    _R.Midlight: "#e3e3e3", _R.Mid: "#b7b7b7", _R.Dark: "#9f9f9f", _R.Shadow: "#767676",
    _R.Highlight: "#0969da", _R.HighlightedText: "#ffffff", _R.Link: "#0969da",
    _R.LinkVisited: "#8250df", _R.Accent: "#0969da",
}
_LIGHT_DISABLED = {_R.WindowText: "#8c959f", _R.Text: "#8c959f", _R.ButtonText: "#8c959f",
                   _R.Base: "#efefef", _R.Highlight: "#919191"}
_DARK = {
    _R.Window: "#2d2d2d", _R.WindowText: "#e6e6e6", _R.Base: "#1e1e1e",
    _R.AlternateBase: "#262626", _R.ToolTipBase: "#3a3a3a", _R.ToolTipText: "#e6e6e6",
    _R.PlaceholderText: "#9a9a9a", _R.Text: "#e6e6e6", _R.Button: "#363636",
    _R.ButtonText: "#e6e6e6", _R.BrightText: "#ffffff", _R.Light: "#4a4a4a",
    _R.Midlight: "#3e3e3e", _R.Mid: "#262626", _R.Dark: "#1a1a1a", _R.Shadow: "#0a0a0a",
    _R.Highlight: "#2f65b1", _R.HighlightedText: "#ffffff", _R.Link: "#79c0ff",
    _R.LinkVisited: "#d2a8ff", _R.Accent: "#2f65b1",
}
_DARK_DISABLED = {_R.WindowText: "#7d7d7d", _R.Text: "#7d7d7d", _R.ButtonText: "#7d7d7d",
                  _R.Base: "#262626", _R.Highlight: "#4a4a4a"}


def _palette(colours: dict, disabled: dict) -> QPalette:
    palette = QPalette()
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role, colour in disabled.items():
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(colour))
    return palette


def light_palette() -> QPalette:
    """The Light theme's palette (every role set)."""
    return _palette(_LIGHT, _LIGHT_DISABLED)


def dark_palette() -> QPalette:
    """The Dark theme's palette (every role set): text of at least 4.5:1 on its bases."""
    return _palette(_DARK, _DARK_DISABLED)


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether ``palette`` (the application's by default) has a dark window background."""
    palette = palette if palette is not None else QApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def tone(name: str, palette: QPalette | None = None) -> str:
    """The colour (``#rrggbb``) of tone ``name`` (:data:`TONES`: ``error``, ``warning``,
    ``ok``, ``muted``) readable on the window background of ``palette`` (the application's by
    default)."""
    light, dark = TONES[name]
    return dark if is_dark(palette) else light


def set_tone_style(widget: QWidget, template: str) -> None:
    """Give ``widget`` the style sheet ``template`` with ``$error``, ``$warning``, ``$ok`` and
    ``$muted`` replaced by the tones readable on the palette now; they are filled in again on
    every palette change (:func:`refresh_tones`)."""
    widget.setProperty(_TONE_STYLE, template)
    widget.setStyleSheet(Template(template).substitute({name: tone(name) for name in TONES}))


def refresh_tones() -> None:
    """After a palette change: fill in the tones of every widget styled with
    :func:`set_tone_style` again, and polish every other widget with a style sheet again (a
    widget with a style sheet keeps the palette it was polished with: the toolbar's Pause
    button kept its light theme's black text on the dark toolbar)."""
    tones = {name: tone(name) for name in TONES}
    for widget in QApplication.allWidgets():
        template = widget.property(_TONE_STYLE)
        if isinstance(template, str):
            widget.setStyleSheet(Template(template).substitute(tones))
        elif sheet := widget.styleSheet():
            widget.setStyleSheet(sheet)  # (the same text: polished again)


class ThemeController(QObject):
    """View ▸ Theme: applies the theme chosen (System, Light or Dark) to the application at
    once, remembers it in the settings, and recolours what a palette change does not reach.

    Its actions (:attr:`actions`, by theme) are exclusive and checkable, in ``menu``.
    """

    def __init__(self, window: QMainWindow, menu: QMenu):
        super().__init__(window)
        self._window = window
        self._app = QApplication.instance()
        self._system_style = self._app.style().name()  # what System puts back
        self._applied = "system"  # nothing changed yet: the platform's own look
        group = QActionGroup(self)
        group.setExclusive(True)
        self.actions: dict[str, QAction] = {}
        for name, text in THEMES.items():
            action = QAction(text, self)
            action.setCheckable(True)
            action.setStatusTip("Follow the system's light or dark setting" if name == "system"
                                else f"A {name} window, whatever the system's setting")
            action.triggered.connect(lambda _=False, n=name: self.choose(n))
            group.addAction(action)
            menu.addAction(action)
            self.actions[name] = action
        window.installEventFilter(self)  # a top-level window is told of palette changes
        self.choose(window.settings.theme)

    @property
    def theme(self) -> str:
        """The theme in force: ``system``, ``light`` or ``dark``."""
        return self._applied

    def choose(self, theme: str) -> None:
        """Apply ``theme`` (an unknown value: System), check its action and remember it."""
        if theme not in THEMES:
            theme = "system"
        self.actions[theme].setChecked(True)
        settings = self._window.settings
        if settings.theme != theme:
            settings.theme = theme
            settings.save()
        if theme != self._applied:
            self._apply(theme)

    def _apply(self, theme: str) -> None:
        app, hints = self._app, self._app.styleHints()
        self._applied = theme
        if theme == "system":
            hints.unsetColorScheme()
            if app.style().name() != self._system_style:
                app.setStyle(self._system_style)
            app.setPalette(QPalette())  # no role set: each comes from the platform again
        else:
            hints.setColorScheme(Qt.ColorScheme.Dark if theme == "dark"
                                 else Qt.ColorScheme.Light)
            if app.style().name().lower() != EXPLICIT_STYLE.lower():
                app.setStyle(EXPLICIT_STYLE)
            app.setPalette(dark_palette() if theme == "dark" else light_palette())
        self._on_palette_changed()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ApplicationPaletteChange:
            self._on_palette_changed()
        return False

    def _on_palette_changed(self) -> None:
        refresh_tones()
        self._window.refresh_colours()
