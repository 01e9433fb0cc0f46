"""The answer rules in the window: the toolbar's Pause acknowledgements switch, the rules
indicator beside it and the non-modal Answer rules dialog.

Everything here drives the running receiver through its control channel (``answers``
commands, :meth:`~app.ui.receiver.ReceiverProcess.send_answers`) and shows what the receiver
says in its ``answers`` events: the window never decides an answer itself, so what it shows is
what the endpoint does. A rule's text is checked as it is typed with the endpoint's own parser
(:func:`app.capture.rules.parse_rule`).

The rules live in the receiver: a new receiver (another port, another capture) starts with
none. The controller gives it the rules that were still active and the switch's state again
(:meth:`AnswersController.carried`); a counted rule starts its count again there.
"""

from __future__ import annotations

import re
import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.capture.rules import RuleError, format_duration, parse_rule
from app.ui.theme import set_tone_style
from app.ui.values import plain, tooltip_text

# Ready-made rules (the examples): each puts its text in the dialog's line.
PRESETS = ("503 for 2", "drop for 1", "delay 40s for 1", "302 for 1", "500 10%",
           "429 retry-after 30 for 3")
PAUSED_TEXT = "Acknowledgements paused: batches are stored and answered 503"
GRAMMAR = ("A rule is ACTION [SCOPE …]. ACTION: a status (503, 500, 401, 413, any 400 to 599; "
           "429 retry-after 30; 302 to /elsewhere, also 301, 303, 307, 308; 200), drop (close "
           "the connection without an answer), hang (no answer until the client gives up), "
           "delay 40s [STATUS] (wait, then answer; 200 by default). SCOPE: for 3 (the next 3 "
           "POSTs), for 5m (a time window), 10% (a share of POSTs), on /events/* (a path "
           "glob); none: every POST until removed. The first rule that matches answers; a "
           "counted rule leaves the list when it is used up. The whole grammar: "
           "docs/answer-rules.md.")


_LEFT_ROLE = Qt.ItemDataRole.UserRole + 1  # (the receiver's "left", when it said so, active)
_DURATION_LEFT = re.compile(r"((?:\d+(?:\.\d+)?(?:ms|s|m|h) ?)+) left")


def _window_left(part: str) -> float | None:
    """Seconds in one part of a rule's "left" ("4m 10s left"); None for a count ("1 of 2
    left") or "until removed"."""
    match = _DURATION_LEFT.fullmatch(part.strip())
    if match is None:
        return None
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(number) * units[unit] for number, unit in
               re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", match.group(1)))


def rule_problem(text: str) -> str:
    """Why ``text`` is not a rule, in words ("" when it is one, or is empty)."""
    if not text.strip():
        return ""
    try:
        parse_rule(text)
    except RuleError as exc:
        message = plain(str(exc)).strip()
        return message[:1].upper() + message[1:] if message else "Not a rule."
    return ""


def rules_of(event: dict) -> list[dict]:
    """The rules of an ``answers`` event (a used-up rule is no longer in it; while
    acknowledgements are paused they are all inactive, and wait)."""
    return [rule for rule in event.get("rules") or [] if isinstance(rule, dict)]


def remaining_text(rule: dict) -> str:
    """A rule's text for a new receiver: a counted rule (``for N``) with what was left of it
    (``503 for 2`` used once: ``503 for 1``); a time window starts again."""
    words = str(rule.get("text", "")).split()
    used = rule.get("used") or 0
    for i, word in enumerate(words[:-1]):
        if word.lower() == "for" and words[i + 1].isdigit() and isinstance(used, int):
            words[i + 1] = str(max(1, int(words[i + 1]) - used))
            break
    return " ".join(words)


class AnswerRulesDialog(QDialog):
    """The answer rules of the running endpoint, live: what each does and what is left; a
    line to add one (checked while it is typed), presets, Remove and Clear all.

    The dialog only asks (its signals); the controller sends the commands and hands the
    receiver's answers back through :meth:`show_answers`.
    """

    add_requested = Signal(str)
    remove_requested = Signal(int)
    clear_requested = Signal()

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("answer_rules")
        self.setWindowTitle("Answer rules")
        self.setModal(False)
        self.resize(780, 480)
        self._running = False
        self._refused = ""  # why the receiver refused the last rule (until the text changes)
        self._clock = QTimer(self)  # counts the time windows down between events
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._on_clock_timeout)
        layout = QVBoxLayout(self)
        intro = QLabel("Rules decide how the endpoint answers valid, authenticated POSTs. "
                       "Whatever a rule answers, the batch is stored; a batch not answered "
                       "200 is unacknowledged, and the Data Streamer sends its records "
                       "again later.", self)
        intro.setTextFormat(Qt.TextFormat.PlainText)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.paused_label = QLabel(PAUSED_TEXT + " (the toolbar's switch); rules apply again "
                                   "once it is off.", self)
        self.paused_label.setObjectName("answers_paused")
        self.paused_label.setTextFormat(Qt.TextFormat.PlainText)
        self.paused_label.setWordWrap(True)
        set_tone_style(self.paused_label, "color: $warning; font-weight: bold;")
        self.paused_label.hide()
        layout.addWidget(self.paused_label)

        self.list = QTreeWidget(self)
        self.list.setObjectName("answer_rule_list")
        self.list.setHeaderLabels(["Rule", "What it does", "Left"])
        self.list.setRootIsDecorated(False)
        self.list.setUniformRowHeights(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.list.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.list.setColumnWidth(0, 170)
        self.list.itemSelectionChanged.connect(self._on_list_item_selection_changed)
        layout.addWidget(self.list, 1)
        self.empty_label = QLabel(self)
        self.empty_label.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_label.setWordWrap(True)
        layout.addWidget(self.empty_label)
        row = QHBoxLayout()
        self.remove_button = QPushButton("&Remove", self)
        self.remove_button.setToolTip("Remove the selected rule")
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.clear_button = QPushButton("Clear &all", self)
        self.clear_button.setToolTip("Remove every rule: each POST gets the usual answer")
        self.clear_button.clicked.connect(self._on_clear_button_clicked)
        row.addWidget(self.remove_button)
        row.addWidget(self.clear_button)
        row.addStretch(1)
        layout.addLayout(row)

        add_row = QHBoxLayout()
        self.edit = QLineEdit(self)
        self.edit.setObjectName("answer_rule_edit")
        self.edit.setPlaceholderText("A rule, e.g. 503 for 2")
        self.edit.setClearButtonEnabled(True)
        self.edit.textChanged.connect(self._on_edit_text_changed)
        self.add_button = QPushButton("A&dd", self)
        self.add_button.setToolTip("Give this rule to the endpoint (it applies to the next POST)")
        self.add_button.clicked.connect(self._on_add_button_clicked)
        add_row.addWidget(self.edit, 1)
        add_row.addWidget(self.add_button)
        layout.addLayout(add_row)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("answer_rule_error")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        set_tone_style(self.error_label, "color: $error;")
        policy = self.error_label.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # nothing below moves while one types
        self.error_label.setSizePolicy(policy)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        presets = QHBoxLayout()
        presets.addWidget(QLabel("Presets:", self))
        self.preset_buttons: dict[str, QToolButton] = {}
        for text in PRESETS:
            button = QToolButton(self)
            button.setText(text)
            button.setToolTip(f"Put “{text}” in the line above (then Add)")
            button.clicked.connect(lambda _=False, t=text: self._on_preset_clicked(t))
            presets.addWidget(button)
            self.preset_buttons[text] = button
        presets.addStretch(1)
        layout.addLayout(presets)
        grammar = QLabel(GRAMMAR, self)
        grammar.setObjectName("answer_rule_grammar")
        grammar.setTextFormat(Qt.TextFormat.PlainText)
        grammar.setWordWrap(True)
        grammar.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addWidget(grammar)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        # Enter in the rule line adds it (when it is a rule), never Clear all or Close.
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
        self.add_button.setDefault(True)
        self.show_answers({}, running=False)

    # -- what the receiver says -------------------------------------------------------------

    def show_answers(self, event: dict, running: bool) -> None:
        """Show an ``answers`` event of the running receiver (``running`` False: none runs)."""
        self._running = running
        selected = self.selected_rule()
        self.list.clear()
        dim = QBrush(self.palette().color(QPalette.ColorGroup.Disabled,
                                          QPalette.ColorRole.Text))
        for rule in rules_of(event):
            active = bool(rule.get("active", True))
            left = plain(str(rule.get("left", "")))
            item = QTreeWidgetItem([plain(str(rule.get("text", ""))),
                                    plain(str(rule.get("summary", ""))), ""])
            item.setData(0, Qt.ItemDataRole.UserRole, rule.get("id"))
            item.setData(2, _LEFT_ROLE, (left, time.monotonic(), active))
            self._show_left(item)
            used = rule.get("used")
            tip = plain(str(rule.get("summary", "")))
            if used is not None:
                tip += f"\nUsed {used} time{'s' if used != 1 else ''} so far."
            for column in range(3):
                item.setToolTip(column, tooltip_text(tip))
                if not active:
                    item.setForeground(column, dim)
            self.list.addTopLevelItem(item)
            if rule.get("id") == selected:
                item.setSelected(True)
        self.paused_label.setVisible(bool(event.get("paused")))
        count = len(rules_of(event))
        if not running:
            self.empty_label.setText("The endpoint is not running: start it to give it rules.")
        elif not count and event.get("paused"):
            self.empty_label.setText("No rules: once acknowledgements are no longer paused, "
                                     "every valid POST is answered 200 (acknowledged).")
        elif not count:
            self.empty_label.setText("No rules: every valid POST is answered 200 (acknowledged).")
        elif event.get("paused"):
            self.empty_label.setText(f"{count} rule{'s' if count != 1 else ''}, waiting: "
                                     f"while acknowledgements are paused no rule is used.")
        else:
            self.empty_label.setText(f"{count} rule{'s' if count != 1 else ''} in force, "
                                     f"in order: the first that matches answers. A rule "
                                     f"leaves the list once it is used up.")
        if event.get("error"):
            message = plain(str(event["error"]))
            self._refused = f"The endpoint refused: {message}"
        self._update_buttons()
        if any(_window_left(self.list.topLevelItem(i).data(2, _LEFT_ROLE)[0]) is not None
               for i in range(self.list.topLevelItemCount())):
            self._clock.start()
        else:
            self._clock.stop()

    @staticmethod
    def _show_left(item: QTreeWidgetItem) -> None:
        """The Left cell: what the receiver said, a time window counted down since."""
        left, since, active = item.data(2, _LEFT_ROLE)
        parts = []
        for part in left.split(", "):
            seconds = _window_left(part)
            if seconds is not None:
                remaining = max(1.0, round(seconds - (time.monotonic() - since)))
                part = f"{format_duration(remaining)} left"
            parts.append(part)
        text = ", ".join(parts)
        item.setText(2, text if active else f"{text} (waits: paused)")

    def _on_clock_timeout(self) -> None:
        for i in range(self.list.topLevelItemCount()):
            self._show_left(self.list.topLevelItem(i))

    def rule_added(self, text: str) -> None:
        """The receiver took ``text``: the line is free for the next rule."""
        if self.edit.text().strip() == text.strip():
            self.edit.clear()

    def selected_rule(self) -> int | None:
        """The id of the selected rule (None when none is)."""
        items = self.list.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def rule_texts(self) -> list[str]:
        """The texts of the listed rules, in order (for tests and the report)."""
        return [self.list.topLevelItem(i).text(0) for i in range(self.list.topLevelItemCount())]

    # -- the user's input -------------------------------------------------------------------

    def _update_buttons(self) -> None:
        text = self.edit.text()
        problem = rule_problem(text)
        shown = problem or self._refused  # the receiver's refusal, until the text changes
        self.error_label.setText(shown)
        self.error_label.setVisible(bool(shown))
        self.add_button.setEnabled(self._running and bool(text.strip()) and not problem)
        self.edit.setEnabled(self._running)
        self.remove_button.setEnabled(self._running and self.selected_rule() is not None)
        self.clear_button.setEnabled(self._running and self.list.topLevelItemCount() > 0)
        for button in self.preset_buttons.values():
            button.setEnabled(self._running)

    def _on_edit_text_changed(self, _text: str) -> None:
        self._refused = ""
        self._update_buttons()

    def _on_add_button_clicked(self) -> None:
        text = self.edit.text().strip()
        if text and not rule_problem(text):
            self.add_requested.emit(text)

    def _on_preset_clicked(self, text: str) -> None:
        self.edit.setText(text)
        self.edit.setFocus()

    def _on_list_item_selection_changed(self) -> None:
        self._update_buttons()

    def _on_remove_button_clicked(self) -> None:
        rule = self.selected_rule()
        if rule is not None:
            self.remove_requested.emit(int(rule))

    def _on_clear_button_clicked(self) -> None:
        self.clear_requested.emit()


class AnswersController(QObject):
    """Drives the receiver's answer rules from the window: the Pause acknowledgements switch,
    the rules indicator and the Answer rules dialog, all following the receiver's ``answers``
    events. After a restart (another port, another capture) it gives the new receiver the
    rules that were active and the switch's state again."""

    def __init__(self, window, receiver):
        super().__init__(window)
        self._window = window
        self.receiver = receiver
        self.event: dict = {}  # the running receiver's last answers event
        self.dialog: AnswerRulesDialog | None = None
        # What a new receiver is given again: the texts of the rules active when the last one
        # went away, and whether acknowledgements were paused.
        self.carried: list[str] = []
        self.carried_paused = False
        self._adding: str | None = None  # a rule sent, not confirmed yet
        bar = window.statusBar()
        self.paused_label = QLabel(PAUSED_TEXT, bar)
        self.paused_label.setObjectName("paused_status")
        self.paused_label.setTextFormat(Qt.TextFormat.PlainText)
        bar.addPermanentWidget(self.paused_label)
        self.paused_label.hide()
        window.pause_action.toggled.connect(self._on_pause_action_toggled)
        window.rules_action.triggered.connect(self._on_rules_action_triggered)
        window.rules_indicator.clicked.connect(self._on_rules_indicator_clicked)
        receiver.answers_changed.connect(self._on_receiver_answers_changed)
        receiver.state_changed.connect(self._on_receiver_state_changed)
        receiver.listening.connect(self._on_receiver_listening)
        self._on_receiver_state_changed(receiver.state)
        self._show({})

    @property
    def running(self) -> bool:
        return self.receiver.state == "listening"

    def show_dialog(self) -> AnswerRulesDialog:
        """Open (or raise) the Answer rules dialog."""
        if self.dialog is None:
            self.dialog = AnswerRulesDialog(self._window)
            self.dialog.add_requested.connect(self._on_dialog_add_requested)
            self.dialog.remove_requested.connect(self._on_dialog_remove_requested)
            self.dialog.clear_requested.connect(self._on_dialog_clear_requested)
            self.dialog.show_answers(self.event, self.running)
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()
        return self.dialog

    def add(self, text: str) -> bool:
        """Give the running receiver one more rule (its answer comes as an event)."""
        self._adding = text
        return self.receiver.send_answers(add=text)

    def set_paused(self, paused: bool) -> bool:
        """Pause (or resume) acknowledgements on the running receiver."""
        return self.receiver.send_answers(paused=paused)

    # -- the receiver -----------------------------------------------------------------------

    def _on_receiver_listening(self, _endpoint: dict) -> None:
        # A new receiver has no rules: give it those the last one had (a counted rule counts
        # again from its start there), then the switch's state.
        for text in self.carried:
            self.receiver.send_answers(add=text)
        if self.carried_paused:
            self.receiver.send_answers(paused=True)
        if self.carried or self.carried_paused:
            rules = len(self.carried)
            what = [f"{rules} answer rule{'s' if rules != 1 else ''}"] if rules else []
            what += ["paused acknowledgements"] if self.carried_paused else []
            self._window.show_status(f"Given again to the restarted endpoint: "
                                     f"{' and '.join(what)}")

    def _on_receiver_answers_changed(self, event: dict) -> None:
        if not event and self.event:  # the receiver went away: keep what it had for the next
            self.carried = [remaining_text(rule) for rule in rules_of(self.event)]
            self.carried_paused = bool(self.event.get("paused"))
        self.event = event
        if event and self._adding is not None:
            if event.get("error"):
                self._window.show_status(f"The endpoint refused the rule: "
                                         f"{plain(str(event['error']))}")
            elif self.dialog is not None:
                self.dialog.rule_added(self._adding)
            self._adding = None
        self._show(event)

    def _on_receiver_state_changed(self, state: str) -> None:
        self._window.pause_action.setEnabled(state == "listening")
        self._window.rules_action.setEnabled(True)  # the dialog says when nothing runs
        if state != "listening":
            self._show(self.event)

    def _show(self, event: dict) -> None:
        window = self._window
        paused = bool(event.get("paused"))
        action = window.pause_action
        if action.isChecked() != paused:
            blocked = action.blockSignals(True)
            action.setChecked(paused)
            action.blockSignals(blocked)
        action.setIconText("Acks paused" if paused else "Pause acks")
        # (tones readable on the theme's palette, light or dark: app.ui.theme)
        set_tone_style(self.paused_label, "color: $warning; font-weight: bold; padding: 0 6px;")
        self.paused_label.setVisible(paused)
        rules = rules_of(event)
        indicator = window.rules_indicator
        if rules:
            indicator.setText(f"Rules: {len(rules)}")  # short: the toolbar is full
            set_tone_style(indicator, "#rules_indicator { color: $warning; font-weight: bold; }")
            head = (f"{len(rules)} answer rule{'s' if len(rules) != 1 else ''} "
                    f"{'waiting: acknowledgements are paused' if paused else 'in force'}:\n")
            indicator.setToolTip(tooltip_text(head + "\n".join(
                f"{rule.get('text', '')}: {rule.get('summary', '')} ({rule.get('left', '')})"
                for rule in rules) + "\n\nClick to edit the answer rules."))
        else:
            indicator.setText("Rules…")
            set_tone_style(indicator, "")
            indicator.setToolTip("Answer rules: answer POSTs like a failing backend (errors, "
                                 "redirects, delays, dropped connections)")
        if self.dialog is not None:
            self.dialog.show_answers(event, self.running)

    # -- the user ---------------------------------------------------------------------------

    def _on_pause_action_toggled(self, on: bool) -> None:
        if not self.set_paused(on):  # nothing runs: the switch stays as the receiver is
            self._show(self.event)
            return
        self._window.show_status(PAUSED_TEXT if on else "Acknowledgements resumed: valid "
                                 "batches are answered 200 again (unless a rule says otherwise)")

    def _on_rules_action_triggered(self) -> None:
        self.show_dialog()

    def _on_rules_indicator_clicked(self) -> None:
        self.show_dialog()

    def _on_dialog_add_requested(self, text: str) -> None:
        if not self.add(text):
            self._window.show_status("Start the endpoint first: rules live in the endpoint.")

    def _on_dialog_remove_requested(self, rule: int) -> None:
        self.receiver.send_answers(remove=rule)

    def _on_dialog_clear_requested(self) -> None:
        self.receiver.send_answers(clear=True)
