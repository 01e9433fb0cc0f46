"""Reusable widgets of the main window: the message bar and the record table view."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QToolButton,
    QWidget,
)

from app.ui.models import CaptureTableModel
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
        for title, slot in actions:
            button = QPushButton(title, self)
            button.clicked.connect(slot)
            self._layout.insertWidget(self._layout.count() - 1, button)
            self._buttons.append(button)
        colour = "#cf222e" if error else "#9a6700"
        self.setStyleSheet(f"#messageBar {{ border: 1px solid {colour}; border-radius: 4px; }}")
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
        for column, width in enumerate(widths):
            self.setColumnWidth(column, width)
        self._at_bottom = True
        self._empty_hint = ""
        model.rowsAboutToBeInserted.connect(self._on_model_rows_about_to_be_inserted)
        model.rowsInserted.connect(self._on_model_rows_inserted)

    def set_empty_hint(self, text: str) -> None:
        self._empty_hint = text
        self.viewport().update()

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.model().rowCount() == 0 and self._empty_hint:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            rect = self.viewport().rect().adjusted(24, 24, -24, -24)
            painter.drawText(rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
                             | Qt.TextFlag.TextWordWrap, self._empty_hint)
            painter.end()

    def _on_model_rows_about_to_be_inserted(self, *_args) -> None:
        bar = self.verticalScrollBar()
        self._at_bottom = bar.value() >= bar.maximum()

    def _on_model_rows_inserted(self, *_args) -> None:
        if self._at_bottom:
            self.scrollToBottom()
