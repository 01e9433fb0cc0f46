"""The Real SIM test panel: the vendor's "1NCE SIM Device" steps, ticked as records arrive.

The steps are evaluated on the reader thread (:mod:`app.capture.checklist`); this dock only
shows the rows it is handed (plain text) and says which SIM to follow.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QGridLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.ui.reader import ChecklistRow
from app.ui.theme import set_tone_style

# Tones readable on the theme's palette, light or dark (app.ui.theme.set_tone_style).
_DONE_STYLE = "color: $ok; font-weight: bold;"
_WAIT_STYLE = "color: $muted; font-weight: bold;"


def _label(text: str, parent: QWidget, *, wrap: bool = True) -> QLabel:
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    label.setText(text)
    return label


class SimTestPanel(QDockWidget):
    """The "Real SIM test" dock: one row per step (a tick, its title, what was seen or a hint)
    and an optional ICCID to follow one SIM only; ``iccid_changed`` carries it."""

    iccid_changed = Signal(str)

    def __init__(self, parent: QWidget):
        super().__init__("Real SIM test", parent)
        self.setObjectName("simTestDock")
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(_label(
            "The 1NCE SIM Device test (vendor's steps): put a 1NCE SIM in a phone or device "
            "and point the Data Streamer at this endpoint's public URL. Each step ticks itself "
            "when its first record arrives (simulated records count too).", body))
        self.iccid_edit = QLineEdit(body)
        self.iccid_edit.setObjectName("simtest_iccid")
        self.iccid_edit.setPlaceholderText("ICCID to follow (empty: any SIM)")
        self.iccid_edit.setClearButtonEnabled(True)
        self.iccid_edit.setToolTip("Only records of this SIM count (the ICCID printed on the "
                                   "card). Empty: the first SIM seen in each step.")
        self.iccid_edit.editingFinished.connect(self._on_iccid_edit_editing_finished)
        layout.addWidget(self.iccid_edit)
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        grid.setVerticalSpacing(2)
        self.marks: list[QLabel] = []
        self.titles: list[QLabel] = []
        self.lines: list[QLabel] = []
        for number in range(3):
            mark = _label("", body, wrap=False)
            mark.setAlignment(Qt.AlignmentFlag.AlignTop)
            title = _label("", body)
            font = title.font()
            font.setBold(True)
            title.setFont(font)
            line = _label("", body)
            grid.addWidget(mark, number * 2, 0, 2, 1)
            grid.addWidget(title, number * 2, 1)
            grid.addWidget(line, number * 2 + 1, 1)
            self.marks.append(mark)
            self.titles.append(title)
            self.lines.append(line)
        layout.addLayout(grid)
        self.summary = _label("", body)
        layout.addWidget(self.summary)
        layout.addStretch(1)
        self._last_iccid = ""
        body.setMinimumWidth(340)
        self.setWidget(body)

    def show_steps(self, rows: list[ChecklistRow]) -> None:
        """Show the steps' states (from the reader thread's ``checklist_changed``)."""
        for number, row in enumerate(rows[:len(self.marks)]):
            self.marks[number].setText("✔" if row.done else "…")
            set_tone_style(self.marks[number], _DONE_STYLE if row.done else _WAIT_STYLE)
            self.marks[number].setToolTip("seen" if row.done else "waiting")
            self.titles[number].setText(row.title)
            self.lines[number].setText(row.line)
        done = sum(row.done for row in rows)
        self.summary.setText("All steps seen: the integration receives real traffic."
                             if rows and done == len(rows)
                             else f"{done} of {len(rows)} steps seen.")

    def iccid(self) -> str:
        """The ICCID followed (``""``: any SIM)."""
        return self._last_iccid

    def set_iccid(self, iccid: str) -> None:
        """Show the ICCID followed (without saying so: the caller tells the reader)."""
        self._last_iccid = iccid.strip()
        self.iccid_edit.setText(self._last_iccid)

    def step_texts(self) -> list[tuple[str, str, str]]:
        """(mark, title, line) per step, as shown."""
        return [(m.text(), t.text(), line.text())
                for m, t, line in zip(self.marks, self.titles, self.lines, strict=True)]

    def _on_iccid_edit_editing_finished(self) -> None:
        text = self.iccid_edit.text().strip()
        if text != self._last_iccid:
            self._last_iccid = text
            self.iccid_changed.emit(text)
