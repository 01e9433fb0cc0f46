"""What an empty table says: the true reason it has no rows.

A table can be empty because nothing has arrived at all, because nothing of its kind arrived
(the records are all in other tabs), or because its filter hides every row. :func:`empty_message`
tells these apart from the counts the window has; :class:`EmptyState` shows the sentence over the
table's viewport, with a *Clear filter* button when the filter is the reason, and, when nothing
has arrived at all (first start), buttons for the ways to get data in: send a sample, paste a
cURL command, expose the endpoint publicly, the 1NCE Portal setup; each triggers the window's
own action.

Filter text is shown as plain text (it is typed, or remembered from an earlier session).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

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
    its filter hides every row (``clear_filter_clicked``).

    On first start (nothing has arrived) it also offers the ways to get data in, once the
    window has handed over its actions (:meth:`set_start_actions`).
    """

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
        self.start_row = QWidget(self)
        self.start_row.setObjectName("first_start")
        row = QHBoxLayout(self.start_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        row.addStretch(1)
        self._samples: QMenu | None = None
        self.sample_button = self._start_button("Send a sample", row)
        self.sample_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.sample_button.clicked.connect(self._on_sample_button_clicked)
        self.curl_button = self._start_button("Paste a cURL…", row)
        self.expose_button = self._start_button("Expose publicly…", row)
        self.portal_button = self._start_button("1NCE Portal setup…", row)
        row.addStretch(1)
        self.start_row.hide()
        layout.addWidget(self.start_row)
        layout.addStretch(1)

    def _start_button(self, text: str, row: QHBoxLayout) -> QToolButton:
        button = QToolButton(self.start_row)
        button.setText(text)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setEnabled(False)  # until set_start_actions
        row.addWidget(button)
        return button

    def set_start_actions(self, samples: QMenu, paste_curl: QAction, expose: QAction,
                          portal: QAction) -> None:
        """The window's ways to get data in, for the first-start buttons: the Send a sample
        menu (the button sends its first sample, the documented event; its arrow opens the
        menu), Paste a cURL command, Expose publicly and the 1NCE Portal setup."""
        self._samples = samples
        self.sample_button.setMenu(samples)
        self.sample_button.setToolTip("Post the vendor's documented event to this endpoint "
                                      "(the arrow: every sample, as in Replay ▸ Send a sample)")
        self.sample_button.setEnabled(True)
        for button, action in ((self.curl_button, paste_curl), (self.expose_button, expose),
                               (self.portal_button, portal)):
            button.setToolTip(action.statusTip())
            button.clicked.connect(action.trigger)
            button.setEnabled(True)

    def _on_sample_button_clicked(self) -> None:
        actions = [a for a in self._samples.actions() if not a.isSeparator()] \
            if self._samples is not None else []
        if actions:
            actions[0].trigger()

    def set_text(self, text: str, clearable: bool = False, first_start: bool = False) -> None:
        """Say ``text`` (plain text); offer Clear filter when ``clearable``, the ways to get
        data in when ``first_start`` (nothing has arrived)."""
        self.label.setText(text)
        self.clear_button.setVisible(clearable)
        self.start_row.setVisible(first_start and self._samples is not None)
