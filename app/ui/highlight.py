"""Search highlighting: the text a table's filter searches for (its bare words and quoted
phrases, :func:`app.filters.terms.search_terms`) marked in the cells where it shows.

The cell is painted as Qt paints it (background, selection, icon, the model's colour, font and
alignment, "…" when narrow), then each match gets an amber background and dark text, drawn
with QPainter runs over the plain text: nothing in a cell is ever read as markup.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from app.filters.terms import match_spans

# Amber under near-black text: readable on light and dark palettes, and on a selected row.
MATCH_BACKGROUND = QColor("#ffc83d")
MATCH_TEXT = QColor("#1b1b1b")

_Index = QModelIndex | QPersistentModelIndex
# Flags as ints: a paint handles hundreds of cells, and enum arithmetic is slow in Python.
_RIGHT = Qt.AlignmentFlag.AlignRight.value
_HCENTER = Qt.AlignmentFlag.AlignHCenter.value
_VCENTER = Qt.AlignmentFlag.AlignVCenter.value
_VERTICAL = Qt.AlignmentFlag.AlignVertical_Mask.value
_SINGLE_LINE = Qt.TextFlag.TextSingleLine.value
_ENABLED = QStyle.StateFlag.State_Enabled.value
_ACTIVE = QStyle.StateFlag.State_Active.value
_SELECTED = QStyle.StateFlag.State_Selected.value
_NORMAL, _DISABLED, _INACTIVE = (QPalette.ColorGroup.Normal, QPalette.ColorGroup.Disabled,
                                 QPalette.ColorGroup.Inactive)
_TEXT, _HIGHLIGHTED_TEXT = QPalette.ColorRole.Text, QPalette.ColorRole.HighlightedText


class SearchHighlightDelegate(QStyledItemDelegate):
    """Paints a table's cells with the matches of its filter's search terms highlighted."""

    def __init__(self, view: QAbstractItemView):
        super().__init__(view)
        self._view = view
        self._terms: tuple[str, ...] = ()

    @property
    def terms(self) -> tuple[str, ...]:
        return self._terms

    def set_terms(self, terms: tuple[str, ...]) -> None:
        """Highlight these (the filter's search terms); () highlights nothing."""
        terms = tuple(terms)
        if terms != self._terms:
            self._terms = terms
            self._view.viewport().update()

    def spans(self, text: str) -> list[tuple[int, int]]:
        """The character ranges of ``text`` that match a term."""
        return match_spans(text, self._terms)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        if not self._terms:
            super().paint(painter, option, index)
            return
        text = index.data(Qt.ItemDataRole.DisplayRole)
        spans = self.spans(text) if isinstance(text, str) else []
        if not spans:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget = opt.widget
        style = widget.style() if widget is not None else self._view.style()
        text_rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, opt, widget)
        full = opt.text
        opt.text = ""  # the background, selection, icon and focus, as Qt draws them
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, widget) + 1
        rect = text_rect.adjusted(margin, 0, -margin, 0)
        self.paint_text(painter, opt, rect, full, spans)

    def paint_text(self, painter: QPainter, opt: QStyleOptionViewItem, rect: QRect, text: str,
                   spans: list[tuple[int, int]]) -> None:
        """The cell's text in ``rect``, elided as Qt elides it, its matches highlighted."""
        metrics = QFontMetrics(opt.font)
        shown = metrics.elidedText(text, opt.textElideMode, rect.width())
        if shown != text:
            if opt.textElideMode == Qt.TextElideMode.ElideRight and shown.endswith("…"):
                kept = len(shown) - 1  # the matches in the part still shown
                spans = [(s, min(e, kept)) for s, e in spans if s < kept]
            else:
                spans = match_spans(shown, self._terms)
        align = int(opt.displayAlignment.value)
        width = metrics.horizontalAdvance(shown)
        if align & _RIGHT:
            left = rect.right() + 1 - width
        elif align & _HCENTER:
            left = rect.left() + (rect.width() - width) // 2
        else:
            left = rect.left()
        state = int(opt.state.value)
        group = _NORMAL if state & _ENABLED else _DISABLED
        if group == _NORMAL and not state & _ACTIVE:
            group = _INACTIVE
        role = _HIGHLIGHTED_TEXT if state & _SELECTED else _TEXT
        flags = (align if align & _VERTICAL else align | _VCENTER) | _SINGLE_LINE
        painter.save()
        painter.setClipRect(rect)
        painter.setFont(opt.font)
        # The match backgrounds, then the text over them, then the matched runs in dark text.
        runs = []
        for start, end in spans:
            x = left + metrics.horizontalAdvance(shown[:start])
            w = metrics.horizontalAdvance(shown[start:end])
            runs.append(QRect(x, rect.top() + 1, w, rect.height() - 2))
        for run in runs:
            painter.fillRect(run, MATCH_BACKGROUND)
        painter.setPen(opt.palette.color(group, role))
        painter.drawText(rect, flags, shown)
        painter.setPen(MATCH_TEXT)
        for run in runs:
            painter.save()
            painter.setClipRect(run.intersected(rect))
            painter.drawText(rect, flags, shown)
            painter.restore()
        painter.restore()
