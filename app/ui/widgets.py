"""Reusable widgets of the main window: the message bar and the record table view."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QToolButton,
    QWidget,
)

from app.ui.empty import EmptyMessage, EmptyState
from app.ui.models import CaptureTableModel
from app.ui.theme import set_tone_style
from app.ui.values import one_line_safe


class MessageBar(QFrame):
    """A strip above the tables for things the user must see: the receiver died, port taken."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.label = QLabel(self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        layout.addWidget(self.label, 1)
        self._buttons: list[QPushButton] = []
        self._layout = layout
        # The last failure shown (Help ▸ Report a problem copies it), with its UTC time.
        self.last_error = ""
        self.last_error_at = ""
        close = QToolButton(self)
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(close)
        self.hide()

    def buttons(self) -> dict[str, QPushButton]:
        """The action buttons shown now, by their text."""
        return {button.text(): button for button in self._buttons}

    def show_message(self, text: str, actions: list[tuple[str, object]] = (), error=True) -> None:
        for button in self._buttons:
            button.deleteLater()
        self._buttons = []
        self.label.setText(one_line_safe(text))
        if error:
            self.last_error = self.label.text()
            self.last_error_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        for title, slot in actions:
            button = QPushButton(title, self)
            button.clicked.connect(slot)
            self._layout.insertWidget(self._layout.count() - 1, button)
            self._buttons.append(button)
        # (a tone readable on the theme's palette, light or dark: app.ui.theme)
        set_tone_style(self, "#messageBar { border: 1px solid %s; border-radius: 4px; }"
                       % ("$error" if error else "$warning"))
        self.show()


class RecordTableView(QTableView):
    """A table with fixed row heights that follows new rows while scrolled to the bottom."""

    def __init__(self, model: CaptureTableModel, widths: tuple[int, ...], parent: QWidget):
        super().__init__(parent)
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setCornerButtonEnabled(False)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vertical = self.verticalHeader()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(self.fontMetrics().height() + 6)
        vertical.hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        # A header click sorts (ascending, descending, then back to the arrival order): the
        # model asks the reader thread, which sorts in SQL (app.capture.order).
        header.setSortIndicatorShown(True)
        header.setSortIndicatorClearable(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.setSortingEnabled(True)
        for column, width in enumerate(widths):
            self.setColumnWidth(column, width)
        self._at_bottom = True
        self._empty_hint = ""
        self._empty_message = EmptyMessage(None)
        self.empty_state = EmptyState(self.viewport())
        self.empty_state.hide()
        model.rowsAboutToBeInserted.connect(self._on_model_rows_about_to_be_inserted)
        model.rowsInserted.connect(self._on_model_rows_inserted)
        model.rowsRemoved.connect(self._update_empty_state)
        model.modelReset.connect(self._update_empty_state)

    def set_empty_hint(self, text: str) -> None:
        """What to say while nothing at all has arrived (how to send something)."""
        self._empty_hint = text
        self._update_empty_state()

    def set_empty_message(self, message: EmptyMessage) -> None:
        """Why the table is empty when it is (:func:`app.ui.empty.empty_message`)."""
        self._empty_message = message
        self._update_empty_state()

    def _update_empty_state(self, *_args) -> None:
        message = self._empty_message
        text = self._empty_hint if message.text is None else message.text
        if self.model().rowCount() == 0 and text:
            self.empty_state.set_text(text, message.clearable and message.text is not None,
                                      first_start=message.text is None)
            self.empty_state.setGeometry(self.viewport().rect())
            self.empty_state.show()
        else:
            self.empty_state.hide()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.empty_state.setGeometry(self.viewport().rect())

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)  # (which moves the viewport's children)
        self.empty_state.setGeometry(self.viewport().rect())

    def _on_model_rows_about_to_be_inserted(self, *_args) -> None:
        bar = self.verticalScrollBar()
        self._at_bottom = bar.value() >= bar.maximum()

    def _on_model_rows_inserted(self, *_args) -> None:
        self._update_empty_state()
        if self._at_bottom:
            self.scrollToBottom()


def count_suffix(spin: QAbstractSpinBox, word: str, words: str | None = None) -> None:
    """Give ``spin`` the noun of its count in the right number, kept right as it changes
    (``1 retry``, ``5 retries``; it said ``1 retries``)."""
    def update(value: float) -> None:
        spin.setSuffix(f" {word}" if value == 1 else f" {words or word + 's'}")

    update(spin.value())
    spin.valueChanged.connect(update)


class SortBar(QFrame):
    """A strip above a sorted table when rows arrived after its sort: they are at the bottom,
    outside the sort, until it is sorted again."""

    sort_again_clicked = Signal()
    arrival_order_clicked = Signal()

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("sortBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 8, 2)
        self.label = QLabel(self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.label, 1)
        self.sort_again = QPushButton("Sort again", self)
        self.sort_again.setToolTip("Put the new rows in their places in the sort")
        self.sort_again.clicked.connect(self.sort_again_clicked)
        layout.addWidget(self.sort_again)
        self.arrival = QPushButton("Arrival order", self)
        self.arrival.setToolTip("Show every row in the order it arrived (no sort)")
        self.arrival.clicked.connect(self.arrival_order_clicked)
        layout.addWidget(self.arrival)
        self.hide()

    def set_outside(self, count: int) -> None:
        """How many rows arrived after the sort (0: hide the strip)."""
        if count <= 0:
            self.hide()
            return
        rows = "1 new row" if count == 1 else f"{count:,} new rows"
        self.label.setText(f"{rows} arrived after sorting: at the bottom, outside the sort.")
        self.show()
