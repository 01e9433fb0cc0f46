"""Issue 15: the text a bare-word filter searches for is highlighted in the visible cells,
checked on the pixels the real window paints (``view.grab()``)."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QTableView

from app.records.columns import EVENT_COLUMNS
from app.ui.highlight import MATCH_BACKGROUND, SearchHighlightDelegate
from tests.conftest import EVENT_SAMPLE
from tests.ui.conftest import WAIT
from tests.ui.test_window import cell, column_of, finish, post


def marked(image: QImage, rect: QRect) -> list[int]:
    """The x of every column of ``rect`` (in the image) with a highlight pixel in it."""
    want = MATCH_BACKGROUND
    xs = []
    for x in range(max(rect.left(), 0), min(rect.right() + 1, image.width())):
        for y in range(max(rect.top(), 0), min(rect.bottom() + 1, image.height())):
            pixel = QColor(image.pixel(x, y))
            if abs(pixel.red() - want.red()) + abs(pixel.green() - want.green()) \
                    + abs(pixel.blue() - want.blue()) < 24:
                xs.append(x)
                break
    return xs


def shown(window, table: str, column: int):
    """The view of ``table`` scrolled to show ``column`` of its first row, and its picture."""
    view = window.views[table]
    view.scrollTo(view.model().index(0, column))
    view.viewport().repaint()
    return view, view.viewport().grab().toImage()


def test_a_bare_word_is_highlighted_in_the_cells_that_show_it(qtbot, window):
    finish(post(window, EVENT_SAMPLE))
    events = window.record_models["event"]
    country, kind = column_of(EVENT_COLUMNS, "country"), column_of(EVENT_COLUMNS, "type")
    qtbot.waitUntil(lambda: events.rowCount() == 1
                    and cell(events, 0, country) == "Netherlands / T-Mobile", timeout=WAIT)
    window.resize(1280, 800)
    window.show()
    window.tabs.setCurrentIndex(1)
    qtbot.waitExposed(window)
    view = window.views["event"]
    view.setColumnWidth(country, 260)
    delegate = window.highlighters["event"]
    assert not isinstance(view.itemDelegate(), SearchHighlightDelegate)  # Qt's own paints
    _, before = shown(window, "event", country)
    assert not marked(before, view.visualRect(events.index(0, country)))  # no filter: none

    window.filter_bars["event"].set_text("netherlands and not roaming")  # any letter case
    qtbot.waitUntil(lambda: delegate.terms == ("netherlands",), timeout=WAIT)
    qtbot.waitUntil(lambda: events.rowCount() == 1
                    and cell(events, 0, country) == "Netherlands / T-Mobile", timeout=WAIT)
    view, image = shown(window, "event", country)
    rect = view.visualRect(events.index(0, country))
    xs = marked(image, rect)
    metrics = QFontMetrics(view.font())
    word = metrics.horizontalAdvance("Netherlands")
    # One run, over "Netherlands" at the start of the cell, not over " / T-Mobile".
    assert xs and xs == list(range(xs[0], xs[-1] + 1))
    assert rect.left() <= xs[0] <= rect.left() + 8
    assert abs(len(xs) - word) <= 3, (len(xs), word)
    _, image = shown(window, "event", kind)
    assert not marked(image, view.visualRect(events.index(0, kind)))  # "Update location"

    # A selected row keeps its marks; a narrow cell marks the part still shown, before "…".
    view.selectRow(0)
    view.setColumnWidth(country, metrics.horizontalAdvance("Nether") + 24)
    view, image = shown(window, "event", country)
    rect = view.visualRect(events.index(0, country))
    xs = marked(image, rect)
    assert xs and len(xs) < word and xs[-1] < rect.right() - metrics.horizontalAdvance("…")

    # A comparison searches no text; clearing the filter takes the marks away.
    window.filter_bars["event"].set_text('country ~ netherlands')
    qtbot.waitUntil(lambda: delegate.terms == (), timeout=WAIT)
    view.setColumnWidth(country, 260)
    view, image = shown(window, "event", country)
    assert not marked(image, view.visualRect(events.index(0, country)))
    assert view.itemDelegate() is not delegate  # no words: Qt's own delegate paints again


def test_the_requests_table_marks_its_search_too(qtbot, window):
    finish(post(window, EVENT_SAMPLE, target="hook/Truck-7"))
    requests = window.requests_model
    qtbot.waitUntil(lambda: requests.rowCount() == 1
                    and cell(requests, 0, 3) == "/hook/Truck-7", timeout=WAIT)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    window.filter_bars["requests"].set_text('"truck"')
    delegate = window.highlighters["requests"]
    qtbot.waitUntil(lambda: delegate.terms == ("truck",), timeout=WAIT)
    assert window.views["requests"].itemDelegate() is delegate  # set while there are words
    qtbot.waitUntil(lambda: requests.rowCount() == 1
                    and cell(requests, 0, 3) == "/hook/Truck-7", timeout=WAIT)
    view, image = shown(window, "requests", 3)
    rect = view.visualRect(requests.index(0, 3))
    metrics = QFontMetrics(view.font())
    xs = marked(image, rect)
    assert xs and abs(len(xs) - metrics.horizontalAdvance("Truck")) <= 3
    # after "/hook/", not from the cell's start
    assert xs[0] >= rect.left() + metrics.horizontalAdvance("/hook/")
    assert delegate.spans(cell(requests, 0, 3)) == [(6, 11)]


def test_marks_follow_the_cell_alignment_and_font(qtbot):
    """Right-aligned numbers (italic, bold: the unacknowledged and critical rows) are marked
    where their text is drawn."""
    model = QStandardItemModel(2, 1)
    for row, text in enumerate(("0.001176 MB", "12.001176 MB")):
        item = QStandardItem(text)
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        font = QFont()
        font.setItalic(row == 0)
        font.setBold(row == 1)
        item.setFont(font)
        model.setItem(row, 0, item)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setColumnWidth(0, 200)
    delegate = SearchHighlightDelegate(view)
    view.setItemDelegate(delegate)
    delegate.set_terms(("1176",))
    view.show()
    qtbot.waitExposed(view)
    image = view.viewport().grab().toImage()
    for row in range(2):
        rect = view.visualRect(model.index(row, 0))
        metrics = QFontMetrics(model.item(row).font())
        xs = marked(image, rect)
        end = rect.right() - metrics.horizontalAdvance(" MB")  # the run ends before " MB"
        assert xs and abs(xs[-1] - end) <= 6, (row, xs[-1], end)
        assert abs(len(xs) - metrics.horizontalAdvance("1176")) <= 3
