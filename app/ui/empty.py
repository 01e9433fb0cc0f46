"""What an empty table says: the true reason it has no rows.

A table can be empty because nothing has arrived at all, because nothing of its kind arrived
(the records are all in other tabs), or because its filter hides every row. :func:`empty_message`
tells these apart from the counts the window has; :class:`EmptyState` shows the sentence over the
table's viewport, with a *Clear filter* button when the filter is the reason.

Filter text is shown as plain text (it is typed, or remembered from an earlier session).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

FILTER_SHOWN = 120
"""Longest filter text quoted in the message (a longer one is cut with an ellipsis)."""


@dataclass(frozen=True)
class EmptyMessage:
    """The sentence an empty table shows; ``clearable``: its filter is why (offer to clear it).

    ``text`` None: nothing has arrived at all (the table shows the endpoint's hint)."""

    text: str | None
    clearable: bool = False


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _quoted(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= FILTER_SHOWN else text[:FILTER_SHOWN - 1] + "…"


def empty_message(table: str, title: str, *, requests: int, records: int,
                  totals: dict[str, int], titles: dict[str, str], filter_text: str,
                  ) -> EmptyMessage:
    """Why ``table`` (titled ``title``) shows no rows.

    ``requests``, ``records``: how many the capture holds; ``totals``: rows per table without
    its filter (as the reader last said); ``titles``: the record tables' titles by key;
    ``filter_text``: the filter in force on ``table`` ("" for none).
    """
    total = totals.get(table, 0)
    if table == "requests":
        if not requests and not total:
            return EmptyMessage(None)
    elif not requests and not records and not total:
        return EmptyMessage(None)
    if total and filter_text:
        what = "request" if table == "requests" else "record"
        return EmptyMessage(f"No {what} matches `{_quoted(filter_text)}` "
                            f"({total:,} hidden).", True)
    if total:  # rows are on their way (the model has not got them yet)
        return EmptyMessage("")
    if table == "requests":
        return EmptyMessage(None)
    if not records:
        many = "requests" if requests != 1 else "request"
        return EmptyMessage(f"No records yet: the {requests:,} {many} received held none "
                            "(see the Requests tab).")
    others = [titles[key] for key, count in totals.items()
              if key != table and key in titles and count]
    where = f" in {_join(others)}" if others else ""
    if records == 1:
        return EmptyMessage(f"No {title} records: the one record is{where}.")
    return EmptyMessage(f"No {title} records: the {records:,} records are{where}.")


class EmptyState(QWidget):
    """The sentence an empty table shows over its viewport, and a *Clear filter* button when
    its filter hides every row (``clear_filter_clicked``)."""

    clear_filter_clicked = Signal()

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("empty_state")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.setSpacing(10)
        self.label = QLabel(self)
        self.label.setObjectName("empty_text")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addWidget(self.label)
        self.clear_button = QPushButton("Clear filter", self)
        self.clear_button.setObjectName("clear_filter")
        self.clear_button.setToolTip("Remove this table's filter and show all its rows")
        self.clear_button.clicked.connect(self.clear_filter_clicked)
        self.clear_button.hide()
        layout.addWidget(self.clear_button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(1)

    def set_text(self, text: str, clearable: bool = False) -> None:
        """Say ``text`` (plain text); offer Clear filter when ``clearable``."""
        self.label.setText(text)
        self.clear_button.setVisible(clearable)
