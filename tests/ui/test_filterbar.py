"""FilterBar driven through its real widgets: typing, errors, completion, saved filters."""

from __future__ import annotations

import json
import subprocess

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QCompleter,
    QLabel,
    QLineEdit,
    QMessageBox,
    QToolButton,
)

from app.capture.answers import json_answer
from app.capture.writer import CaptureWriter, Incoming, Stored
from app.cli.options import build_parser
from app.config import Settings, settings_path
from app.filters.known import KEYS_ENTRY, PATHS_ENTRY
from app.filters.parser import parse
from app.ui import filterbar
from app.ui.application import build
from app.ui.filterbar import FilterBar
from tests.ui.conftest import WAIT

# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    return Settings(password="pw")


def _bar(qtbot, settings: Settings, table: str = "records") -> FilterBar:
    bar = FilterBar(table, settings)
    qtbot.addWidget(bar)
    bar.show()
    qtbot.waitExposed(bar)
    return bar


def _child(bar: FilterBar, cls, name: str):
    widget = bar.findChild(cls, name)
    assert widget is not None, f"no {cls.__name__} named {name!r}"
    return widget


def _edit(bar: FilterBar) -> QLineEdit:
    return _child(bar, QLineEdit, "filter_edit")


def _error(bar: FilterBar) -> QLabel:
    return _child(bar, QLabel, "filter_error")


def _count(bar: FilterBar) -> QLabel:
    return _child(bar, QLabel, "filter_count")


def _completer(bar: FilterBar) -> QCompleter:
    completer = bar.findChild(QCompleter)
    assert completer is not None
    return completer


def _offered(bar: FilterBar) -> list[str]:
    completer = _completer(bar)
    model = completer.completionModel()
    return [model.index(row, 0).data() for row in range(model.rowCount())]


def _choose(qtbot, bar: FilterBar, completion: str) -> None:
    """Pick ``completion`` in the open popup with the keyboard, as a user would."""
    popup = _completer(bar).popup()
    assert popup.isVisible()
    offered = _offered(bar)
    assert completion in offered
    for _ in range(offered.index(completion) + 1):
        qtbot.keyClick(popup, Qt.Key.Key_Down)
    assert popup.currentIndex().data() == completion
    qtbot.keyClick(popup, Qt.Key.Key_Return)


def _no_signal(qtbot, bar: FilterBar, action) -> None:
    with qtbot.assertNotEmitted(bar.filter_changed, wait=filterbar.DEBOUNCE_MS + 200):
        action()


def _open_saved_menu_and(qtbot, bar: FilterBar, pick) -> str:
    """Click "Saved"; while its menu is open, click the action ``pick(menu)`` returns.

    Says whether that action was enabled ("clicked") or not ("disabled").
    """
    button = _child(bar, QToolButton, "saved_filters")
    menu = button.menu()
    done: list[str] = []

    def click() -> None:
        action = pick(menu)
        target = menu
        if action not in menu.actions():  # in the "Delete saved filter" submenu
            sub = action.parent()
            qtbot.mouseClick(menu, Qt.MouseButton.LeftButton,
                             pos=menu.actionGeometry(sub.menuAction()).center())
            qtbot.waitUntil(sub.isVisible)
            target = sub
        qtbot.mouseClick(target, Qt.MouseButton.LeftButton,
                         pos=target.actionGeometry(action).center())
        done.append("clicked" if action.isEnabled() else "disabled")
        if menu.isVisible():  # a disabled action leaves the menu open
            qtbot.keyClick(target, Qt.Key.Key_Escape)
            if target is not menu:
                qtbot.keyClick(menu, Qt.Key.Key_Escape)

    QTimer.singleShot(50, click)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # the menu's own event loop
    qtbot.waitUntil(lambda: bool(done) and not menu.isVisible())
    return done[0]


def _action(menu, starts: str):
    for action in menu.actions():
        if action.text().startswith(starts):
            return action
    raise AssertionError(f"no action {starts!r} in {[a.text() for a in menu.actions()]}")


# -- typing and applying ---------------------------------------------------------------------


def test_typing_a_valid_filter_applies_once_after_the_pause(qtbot, settings):
    bar = _bar(qtbot, settings)
    assert bar.current_filter().is_empty
    emitted = []
    bar.filter_changed.connect(emitted.append)
    with qtbot.waitSignal(bar.filter_changed, timeout=2000) as blocker:
        qtbot.keyClicks(_edit(bar), "type ~ PDP")
        assert emitted == []  # nothing while typing
    new = blocker.args[0]
    assert new.text == "type ~ PDP"
    assert new.root == parse("type ~ PDP").root
    assert bar.current_filter() is new
    assert bar.text() == "type ~ PDP"
    qtbot.wait(filterbar.DEBOUNCE_MS + 100)
    assert len(emitted) == 1


def test_enter_applies_at_once(qtbot, settings):
    bar = _bar(qtbot, settings)
    qtbot.keyClicks(_edit(bar), "alert")
    with qtbot.waitSignal(bar.filter_changed, timeout=50) as blocker:
        qtbot.keyClick(_edit(bar), Qt.Key.Key_Return)
    assert blocker.args[0].text == "alert"
    # the pending pause does not apply the same filter a second time
    _no_signal(qtbot, bar, lambda: None)


def test_a_bad_filter_shows_where_and_keeps_the_filter_in_force(qtbot, settings):
    bar = _bar(qtbot, settings)
    bar.set_text("alert")
    before = bar.current_filter()
    edit = _edit(bar)
    _no_signal(qtbot, bar, lambda: qtbot.keyClicks(edit, " and (type))"))
    assert bar.text() == "alert and (type))"
    assert bar.current_filter() is before
    assert _error(bar).isVisible()
    assert _error(bar).text() == "Column 17: unexpected ')'"
    assert edit.property("invalid") is True
    tip = edit.toolTip()
    assert "alert and (type))\n" + " " * 16 + "^" in tip
    assert "<pre>" in tip

    # fixing it clears the error and applies
    with qtbot.waitSignal(bar.filter_changed, timeout=2000) as blocker:
        qtbot.keyClick(edit, Qt.Key.Key_Backspace)
    assert blocker.args[0].text == "alert and (type)"
    assert not _error(bar).isVisible()
    assert _error(bar).text() == ""
    assert edit.property("invalid") is False
    assert "^" not in edit.toolTip()


def test_an_error_in_a_quoted_text_is_escaped_in_the_tooltip(qtbot, settings):
    bar = _bar(qtbot, settings)
    _no_signal(qtbot, bar, lambda: bar.set_text('<b>x</b> "open'))
    assert _error(bar).text() == "Column 10: this quote is never closed"
    assert "&lt;b&gt;x&lt;/b&gt;" in _edit(bar).toolTip()
    assert bar.current_filter().is_empty


def test_set_text_applies_at_once_and_same_meaning_does_not_signal(qtbot, settings):
    bar = _bar(qtbot, settings)
    with qtbot.waitSignal(bar.filter_changed, timeout=50):
        bar.set_text("severity != INFO")
    _no_signal(qtbot, bar, lambda: bar.set_text("severity  !=  INFO"))
    assert bar.current_filter().text == "severity  !=  INFO"
    with qtbot.waitSignal(bar.filter_changed, timeout=50) as blocker:
        bar.set_text("")
    assert blocker.args[0].is_empty


def test_the_clear_button_clears_the_filter(qtbot, settings):
    bar = _bar(qtbot, settings)
    bar.set_text("alert")
    edit = _edit(bar)
    clear = next(b for b in edit.findChildren(QToolButton) if b.isVisible())
    with qtbot.waitSignal(bar.filter_changed, timeout=2000) as blocker:
        qtbot.mouseClick(clear, Qt.MouseButton.LeftButton)
    assert blocker.args[0].is_empty
    assert bar.text() == ""


# -- add_condition ---------------------------------------------------------------------------


def test_add_condition_builds_readable_filters(qtbot, settings):
    bar = _bar(qtbot, settings)
    with qtbot.waitSignal(bar.filter_changed, timeout=50):
        bar.add_condition("alert")
    assert bar.text() == "alert"
    with qtbot.waitSignal(bar.filter_changed, timeout=50) as blocker:
        bar.add_condition('type == "Update location"')
    assert bar.text() == 'alert and type == "Update location"'
    assert blocker.args[0].text == bar.text()

    bar.set_text("a or b")
    with qtbot.waitSignal(bar.filter_changed, timeout=50) as blocker:
        bar.add_condition("c", exclude=True)
    assert bar.text() == "(a or b) and not c"
    assert blocker.args[0].root == parse("(a or b) and not c").root

    bar.set_text("(a or b)")
    bar.add_condition("c or d")
    assert bar.text() == "(a or b) and (c or d)"
    bar.set_text("a")
    bar.add_condition("b and c", exclude=True)
    assert bar.text() == "a and not (b and c)"
    bar.set_text("")
    bar.add_condition("iccid == 1", exclude=True)
    assert bar.text() == "not (iccid == 1)"
    assert bar.current_filter().text == "not (iccid == 1)"


# -- counts ----------------------------------------------------------------------------------


def test_counts_and_busy(qtbot, settings):
    bar = _bar(qtbot, settings)
    assert _count(bar).textFormat() == Qt.TextFormat.PlainText
    bar.set_counts(56789, 56789)
    assert _count(bar).text() == "56,789"
    assert _count(bar).toolTip() == ""
    bar.set_text("alert")
    bar.set_counts(1234, 56789, 0.4249)
    assert _count(bar).text() == "1,234 of 56,789"
    assert _count(bar).toolTip() == "filtered in 0.42 s"
    bar.set_busy(True)
    assert _count(bar).text() == "filtering…"
    bar.set_busy(False)
    assert _count(bar).text() == "1,234 of 56,789"


# -- completion ------------------------------------------------------------------------------


def test_completion_replaces_only_the_word_under_the_cursor(qtbot, settings):
    bar = _bar(qtbot, settings)
    edit = _edit(bar)
    qtbot.keyClicks(edit, "alert and sev")
    popup = _completer(bar).popup()
    qtbot.waitUntil(popup.isVisible)
    assert "severity" in _offered(bar)
    assert all(o.lower().startswith("sev") for o in _offered(bar))
    with qtbot.assertNotEmitted(bar.filter_changed):  # Enter chose; it did not apply "sev"
        _choose(qtbot, bar, "severity")
    assert bar.text() == "alert and severity"
    assert edit.cursorPosition() == len("alert and severity")
    assert not popup.isVisible()
    with qtbot.waitSignal(bar.filter_changed, timeout=2000) as blocker:
        pass  # the pause after choosing applies it
    assert blocker.args[0].text == "alert and severity"

    # Enter with the popup open but nothing highlighted takes the first suggestion (issue 15)
    qtbot.keyClicks(edit, " and ty")
    qtbot.waitUntil(popup.isVisible)
    assert _offered(bar)[0] == "type"
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert bar.text() == "alert and severity and type"
    assert not popup.isVisible()
    # ... unless the word typed is a suggestion already: then it applies the text as it is
    qtbot.keyClicks(edit, " and type")
    qtbot.waitUntil(popup.isVisible)
    assert _offered(bar) == ["type", "type_id"]
    with qtbot.waitSignal(bar.filter_changed, timeout=50) as blocker:
        qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert blocker.args[0].text == "alert and severity and type and type"
    assert not popup.isVisible()


def test_tab_and_return_take_the_highlighted_suggestion(qtbot, settings):
    """Regression (issue 15): Tab left the line instead of taking the suggestion."""
    bar = _bar(qtbot, settings)
    edit = _edit(bar)
    popup = _completer(bar).popup()
    qtbot.keyClicks(edit, "sev")
    qtbot.waitUntil(popup.isVisible)
    qtbot.keyClick(popup, Qt.Key.Key_Tab)  # nothing highlighted: the first suggestion
    assert bar.text() == "severity"
    assert not popup.isVisible()
    qtbot.keyClicks(edit, " == WARN and event_")
    qtbot.waitUntil(popup.isVisible)
    offered = _offered(bar)
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    assert popup.currentIndex().data() == offered[1]
    qtbot.keyClick(popup, Qt.Key.Key_Tab)
    assert bar.text() == f"severity == WARN and {offered[1]}"
    edit.setText("severity == WARN and ")
    qtbot.keyClicks(edit, "ale")
    qtbot.waitUntil(popup.isVisible)
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    with qtbot.assertNotEmitted(bar.filter_changed):  # Return took it; the pause applies it
        qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert bar.text() == "severity == WARN and alert"


def _names(keys: list[str], paths: list[str]) -> dict:
    """Completion values as the reader sends them, with the capture's keys and paths."""
    return {"severity": ["INFO", "WARN"], KEYS_ENTRY: keys, PATHS_ENTRY: paths}


def test_a_misspelt_field_is_an_error_naming_the_closest_one(qtbot, settings):
    """Regression (issue 15): ``sevrity == WARN`` matched nothing, silently."""
    bar = _bar(qtbot, settings)
    bar.set_completions(_names(["event_severity", "detail", "sim"],
                               ["detail.country", "detail.country.name", "sim.iccid"]))
    _no_signal(qtbot, bar, lambda: bar.set_text("sevrity == WARN"))
    assert _error(bar).isVisible()
    assert _error(bar).text() == 'Column 1: unknown field "sevrity": did you mean "severity"?'
    assert _edit(bar).property("invalid") is True
    bar.set_text("sev != INFO")
    assert 'did you mean "severity"?' in _error(bar).text()
    assert bar.current_filter().is_empty  # the previous filter stays in force
    with qtbot.waitSignal(bar.filter_changed, timeout=50):  # a key of the records is fine
        bar.set_text("sim == null")
    assert not _error(bar).isVisible()


def test_a_path_no_record_has_is_a_warning(qtbot, settings):
    bar = _bar(qtbot, settings)
    bar.set_completions(_names(["detail"], ["detail.country", "detail.country.name"]))
    warning = _child(bar, QLabel, "filter_warning")
    with qtbot.waitSignal(bar.filter_changed, timeout=50):  # applied all the same
        bar.set_text("detail.contry == nl")
    assert warning.isVisible()
    assert warning.text() == ('Warning: no record has the path "detail.contry": did you mean '
                              '"detail.country"?')
    assert "detail.contry" in _edit(bar).toolTip()
    assert not _error(bar).isVisible()
    bar.set_text("detail.country.name == Germany")
    assert not warning.isVisible()


def test_names_are_checked_once_the_capture_is_read(qtbot, settings):
    """Before the capture's names are known every path is allowed; when they arrive, the
    filter shown is checked again (a remembered filter with a misspelt field)."""
    bar = _bar(qtbot, settings)
    with qtbot.waitSignal(bar.filter_changed, timeout=50):
        bar.set_text("sevrity == WARN")
    assert not _error(bar).isVisible()
    bar.set_completions(_names(["event_severity"], []))
    assert 'unknown field "sevrity"' in _error(bar).text()
    bar.set_completions(_names(["event_severity", "sevrity"], []))  # a sender that has it
    assert not _error(bar).isVisible()


def test_completion_offers_keywords_paths_and_aliases(qtbot, settings):
    bar = _bar(qtbot, settings)
    edit = _edit(bar)
    qtbot.keyClicks(edit, "detail.co")
    assert "detail.country.iso_code" in _offered(bar)
    edit.clear()
    qtbot.keyClicks(edit, "la")
    assert "last" in _offered(bar)
    edit.clear()
    qtbot.keyClicks(edit, "event_")
    assert {"event_type", "event_type.id", "event_severity.id"} <= set(_offered(bar))


def test_completion_offers_the_values_of_the_field(qtbot, settings):
    bar = _bar(qtbot, settings)
    bar.set_completions({"type": ["Update location", "Data", "PDP Context"],
                         "country": ["Germany"]})
    edit = _edit(bar)
    qtbot.keyClicks(edit, "alert and type == ")
    popup = _completer(bar).popup()
    qtbot.waitUntil(popup.isVisible)
    assert _offered(bar) == ['"Update location"', "Data", '"PDP Context"']
    _choose(qtbot, bar, '"PDP Context"')
    assert bar.text() == 'alert and type == "PDP Context"'

    # a started value narrows the list and is replaced, quote and all; aliases count
    edit.clear()
    qtbot.keyClicks(edit, 'event_type != "upd')
    qtbot.waitUntil(popup.isVisible)
    assert _offered(bar) == ['"Update location"']
    _choose(qtbot, bar, '"Update location"')
    assert bar.text() == 'event_type != "Update location"'
    with qtbot.waitSignal(bar.filter_changed, timeout=2000) as blocker:
        pass
    assert blocker.args[0].text == 'event_type != "Update location"'


def test_requests_complete_request_fields(qtbot, settings):
    bar = _bar(qtbot, settings, "requests")
    qtbot.keyClicks(_edit(bar), "sta")
    assert _offered(bar) == ["status"]
    _edit(bar).clear()
    qtbot.keyClicks(_edit(bar), "ic")
    assert _offered(bar) == []


def _tips(bar: FilterBar) -> dict[str, str]:
    """The offered completions and their tooltips."""
    model = _completer(bar).completionModel()
    return {model.index(row, 0).data(): model.index(row, 0).data(Qt.ItemDataRole.ToolTipRole)
            for row in range(model.rowCount())}


def test_records_complete_the_ledger_words_with_their_meaning(qtbot, settings):
    bar = _bar(qtbot, settings)
    edit = _edit(bar)
    expected = {"unacknowledged": "not acked", "unacked": "not acked", "acked": "acknowledged",
                "redelivered": "later arrival", "conflict": "differs", "seen": "arrivals",
                "attempt": "which arrival"}
    for word, meaning in expected.items():
        edit.clear()
        qtbot.keyClicks(edit, f"alert and {word[:-1]}")
        tips = _tips(bar)
        assert word in tips, (word, tips)
        assert meaning in tips[word]
    # the other fields say what they are too: the catalogue's help, else the paths they read
    edit.clear()
    qtbot.keyClicks(edit, "sev")
    assert _tips(bar) == {"severity": "INFO, WARN, ..."}
    edit.clear()
    qtbot.keyClicks(edit, "icc")
    assert _tips(bar) == {"iccid": "reads sim.iccid"}
    edit.clear()
    qtbot.keyClicks(edit, "event_t")
    assert _tips(bar)["event_type"].startswith("type: event type")
    # a value offered after ``==`` has no word help
    bar.set_completions({"acked": ["1", "0"]})
    edit.clear()
    qtbot.keyClicks(edit, "acked == ")
    assert _tips(bar) == {"1": None, "0": None}
    assert "unacked" in _edit(bar).placeholderText() and "seen > 1" in edit.placeholderText()


def test_requests_complete_rule_acked_and_unacknowledged(qtbot, settings):
    bar = _bar(qtbot, settings, "requests")
    edit = _edit(bar)
    qtbot.keyClicks(edit, "ru")
    assert _tips(bar) == {"rule": "the text of the answer rule that answered it (null: the "
                                  "endpoint itself)"}
    edit.clear()
    qtbot.keyClicks(edit, "ack")
    assert list(_tips(bar)) == ["acked"] and "acknowledged the batch" in _tips(bar)["acked"]
    edit.clear()
    qtbot.keyClicks(edit, "unack")
    assert set(_tips(bar)) == {"unacknowledged", "unacked"}
    assert _tips(bar)["unacked"].startswith("not acked")
    assert "rule ~ 503" in edit.placeholderText() and "unacked" in edit.placeholderText()


def test_a_records_alias_completes_its_fields_values(qtbot, settings):
    """``status`` is a record's type (an alias): its values, not the requests' statuses."""
    bar = _bar(qtbot, settings)
    bar.set_completions({"type": ["Data"], "status": ["200", "401"]})
    qtbot.keyClicks(_edit(bar), "status == ")
    qtbot.waitUntil(_completer(bar).popup().isVisible)
    assert _offered(bar) == ["Data"]
    requests = _bar(qtbot, settings, "requests")
    requests.set_completions({"type": ["Data"], "status": ["200", "401"]})
    qtbot.keyClicks(_edit(requests), "status == ")
    assert _offered(requests) == ["200", "401"]


# -- the requests table ----------------------------------------------------------------------


def test_requests_table_reads_request_fields(qtbot, settings):
    bar = _bar(qtbot, settings, "requests")
    edit = _edit(bar)
    qtbot.keyClicks(edit, "status == 401")
    with qtbot.waitSignal(bar.filter_changed, timeout=50) as blocker:
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert blocker.args[0].table == "requests"
    assert not _error(bar).isVisible()

    edit.clear()
    qtbot.keyClicks(edit, "iccid == 1")
    _no_signal(qtbot, bar, lambda: qtbot.keyClick(edit, Qt.Key.Key_Return))
    assert _error(bar).isVisible()
    assert _error(bar).text().startswith("Column 1: requests have no field 'iccid'")
    assert bar.current_filter().text == "status == 401"


# -- saved filters ---------------------------------------------------------------------------


def test_save_apply_and_delete_a_saved_filter(qtbot, settings, monkeypatch):
    asked = []

    def get_text(parent, title, label, *args, **kwargs):
        asked.append(label)
        return ("rejected PDP", True)

    monkeypatch.setattr(filterbar.QInputDialog, "getText", get_text)
    bar = _bar(qtbot, settings)
    # nothing to save while no filter is in force, and nothing saved yet
    assert _open_saved_menu_and(
        qtbot, bar, lambda menu: _action(menu, "Save current filter as")) == "disabled"
    assert _open_saved_menu_and(
        qtbot, bar, lambda menu: _action(menu, "No saved filters")) == "disabled"
    assert asked == []

    bar.set_text("type ~ PDP and not alert")
    _open_saved_menu_and(qtbot, bar, lambda menu: _action(menu, "Save current filter as"))
    assert len(asked) == 1
    assert settings.saved_filters == {"rejected PDP": "type ~ PDP and not alert"}
    assert Settings.load().saved_filters == {"rejected PDP": "type ~ PDP and not alert"}

    bar.set_text("")
    with qtbot.waitSignal(bar.filter_changed, timeout=2000) as blocker:
        _open_saved_menu_and(qtbot, bar, lambda menu: _action(menu, "rejected PDP — "))
    assert blocker.args[0].text == "type ~ PDP and not alert"
    assert bar.text() == "type ~ PDP and not alert"

    # saving under an existing name overwrites it
    bar.set_text("alert")
    _open_saved_menu_and(qtbot, bar, lambda menu: _action(menu, "Save current filter as"))
    assert Settings.load().saved_filters == {"rejected PDP": "alert"}

    def delete(menu):
        sub = _action(menu, "Delete saved filter").menu()
        return _action(sub, "rejected PDP")

    _open_saved_menu_and(qtbot, bar, delete)
    assert settings.saved_filters == {}
    assert Settings.load().saved_filters == {}


def test_cancelling_the_name_saves_nothing(qtbot, settings, monkeypatch):
    monkeypatch.setattr(filterbar.QInputDialog, "getText", lambda *a, **k: ("x", False))
    bar = _bar(qtbot, settings)
    bar.set_text("alert")
    _open_saved_menu_and(qtbot, bar, lambda menu: _action(menu, "Save current filter as"))
    assert settings.saved_filters == {}
    assert not settings_path().exists()


# -- help ------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["records", "requests"])
def test_help_lists_the_syntax(qtbot, settings, table):
    bar = _bar(qtbot, settings, table)
    qtbot.mouseClick(_child(bar, QToolButton, "filter_help"), Qt.MouseButton.LeftButton)
    box = _child(bar, QMessageBox, "filter_help_box")
    qtbot.waitUntil(box.isVisible)
    text = box.text()
    assert 8 <= len(text.splitlines()) <= 12
    assert box.textFormat() == Qt.TextFormat.PlainText
    for needed in ("==", "~", "and", "or", "not", "last 15m", "Fields:"):
        assert needed in text
    assert "unacknowledged (unacked)" in text and "acked" in text
    if table == "records":
        assert "detail.country.iso_code" in text
        assert "severity" in text and "alert" in text
        assert "redelivered" in text and "conflict" in text and "seen > 1" in text
    else:
        assert "status" in text and "iccid" not in text
        assert "rule ~ 503" in text and "seen" not in text
    box.close()


# -- in the window: the ledger words and the answer rules on a real capture ------------------


def _event(number: int) -> dict:
    return {"id": number, "timestamp": "2026-11-30T10:00:00Z",
            "event_type": {"id": 1, "description": "Update location"},
            "event_severity": {"id": 0, "description": "INFO"}, "alert": False,
            "sim": {"iccid": "8988228066600000001"}}


def _store(writer: CaptureWriter, records: list[dict], status: int = 200,
           rule: str | None = None) -> None:
    """Store a batch as the receiver does, answered ``status`` under ``rule`` (a Responder)."""
    def respond(stored: Stored):
        if rule is not None:
            stored.status, stored.reason, stored.rule = status, f"answer rule '{rule}'", rule
            stored.acked = False
        return json_answer({"status": stored.status})

    writer.store(Incoming("POST", "/hook", json.dumps(records).encode(),
                          content_type="application/json"), respond=respond)


@pytest.fixture
def ruled(qtbot, tmp_path):
    """A window on a capture whose batches a '503 for 2' and a 'drop for 1' rule answered:
    request 1 (503, records 1-2), request 2 (200, record 3 is record 1 again, record 4) and
    request 3 (no answer, record 5); its ledger filled as the receiver does while idle."""
    path = tmp_path / "ruled.sqlite"
    writer = CaptureWriter(path)
    _store(writer, [_event(1), _event(2)], 503, "503 for 2")
    _store(writer, [_event(1), _event(3)])
    _store(writer, [_event(5)], 0, "drop for 1")
    while writer.index_pending(500):
        pass
    writer.close()
    args = build_parser().parse_args(["--port", "0", "--capture", str(path)])
    win = build(args, QApplication.instance())
    qtbot.addWidget(win)
    win.failures = []
    win.reader.job_failed.connect(win.failures.append)
    qtbot.waitUntil(lambda: win.receiver.state == "listening", timeout=WAIT)
    qtbot.waitUntil(lambda: win.requests_model.rowCount() == 3
                    and win.record_models["event"].rowCount() == 5, timeout=WAIT)
    yield win
    if win.isVisible():
        win.close()
    assert win.failures == []


def _ids(model) -> list[int]:
    return [model.id_at(row) for row in range(model.rowCount())]


def _complete(qtbot, bar: FilterBar, typed: str, completion: str) -> None:
    """Type ``typed`` in a cleared filter line and choose ``completion`` in the popup."""
    edit = _edit(bar)
    edit.clear()
    qtbot.keyClicks(edit, typed)
    qtbot.waitUntil(_completer(bar).popup().isVisible, timeout=WAIT)
    _choose(qtbot, bar, completion)


def test_the_window_completes_ledger_words_that_filter_its_tables(qtbot, ruled):
    ruled.tabs.setCurrentIndex(1)
    events, bar = ruled.record_models["event"], ruled.filter_bars["event"]
    for typed, word, ids in (("unac", "unacknowledged", [1, 2, 5]), ("redel", "redelivered", [3]),
                             ("confl", "conflict", []), ("ack", "acked", [3, 4])):
        _complete(qtbot, bar, typed, word)
        qtbot.waitUntil(lambda w=word: bar.current_filter().text == w, timeout=WAIT)
        qtbot.waitUntil(lambda i=ids: _ids(events) == i, timeout=WAIT)
    _complete(qtbot, bar, "se", "seen")
    qtbot.keyClicks(_edit(bar), " > 1")
    qtbot.keyClick(_edit(bar), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: _ids(events) == [1, 3], timeout=WAIT)
    assert _count(bar).text() == "2 of 5"

    ruled.tabs.setCurrentIndex(0)
    requests, bar = ruled.requests_model, ruled.filter_bars["requests"]
    _complete(qtbot, bar, "ru", "rule")
    qtbot.keyClicks(_edit(bar), " == ")
    qtbot.waitUntil(lambda: set(_offered(bar)) == {'"503 for 2"', '"drop for 1"'}, timeout=WAIT)
    _choose(qtbot, bar, '"503 for 2"')
    qtbot.waitUntil(lambda: _ids(requests) == [1], timeout=WAIT)
    assert bar.current_filter().text == 'rule == "503 for 2"'
    _complete(qtbot, bar, "ack", "acked")
    qtbot.waitUntil(lambda: _ids(requests) == [2], timeout=WAIT)
    _complete(qtbot, bar, "unacked or ru", "rule")
    qtbot.waitUntil(lambda: _ids(requests) == [1, 3], timeout=WAIT)


def test_the_window_refuses_a_misspelt_field_and_warns_of_an_unknown_path(qtbot, ruled):
    """Issue 15, on a real capture: the names come from the reader with the completions."""
    ruled.tabs.setCurrentIndex(1)
    events, bar = ruled.record_models["event"], ruled.filter_bars["event"]
    error, warning = _error(bar), _child(bar, QLabel, "filter_warning")
    bar.set_text("sevrity == WARN")
    assert error.isVisible() and not warning.isVisible()
    assert error.text() == 'Column 1: unknown field "sevrity": did you mean "severity"?'
    assert bar.current_filter().is_empty and _ids(events) == [1, 2, 3, 4, 5]
    bar.set_text("event_severity.descripton == INFO")
    qtbot.waitUntil(lambda: _ids(events) == [], timeout=WAIT)  # applied, and said why
    assert not error.isVisible() and warning.isVisible()
    assert warning.text() == ('Warning: no record has the path "event_severity.descripton": '
                              'did you mean "event_severity.description"?')
    bar.set_text("event_severity.description == INFO and sim.iccid ~ 8988")
    qtbot.waitUntil(lambda: _ids(events) == [1, 2, 3, 4, 5], timeout=WAIT)
    assert not error.isVisible() and not warning.isVisible()


def _cell_filter(qtbot, window, row: int, column: int, action: str) -> None:
    view = window.views["requests"]
    menu = window.context_menu(view, window.requests_model.index(row, column))
    chosen = [a for a in menu.actions() if a.text().startswith(action)]
    assert len(chosen) == 1, [a.text() for a in menu.actions()]
    chosen[0].trigger()
    menu.deleteLater()


def test_filter_on_the_status_of_a_rule_answered_request(qtbot, ruled):
    """The Status cell says a rule answered ("503 · rule"): its filter names that rule."""
    requests, bar = ruled.requests_model, ruled.filter_bars["requests"]
    qtbot.waitUntil(lambda: requests.data(requests.index(0, 4)) == "503 · rule", timeout=WAIT)
    _cell_filter(qtbot, ruled, 0, 4, "Filter on this value (status)")
    qtbot.waitUntil(lambda: bar.text() == 'status == 503 and rule == "503 for 2"',
                    timeout=WAIT)
    qtbot.waitUntil(lambda: _ids(requests) == [1], timeout=WAIT)
    assert not _error(bar).isVisible()

    bar.set_text("")
    qtbot.waitUntil(lambda: _ids(requests) == [1, 2, 3], timeout=WAIT)
    qtbot.waitUntil(lambda: requests.data(requests.index(2, 4)) == "no answer (dropped)",
                    timeout=WAIT)  # the rows' texts are read again after a filter
    _cell_filter(qtbot, ruled, 2, 4, "Exclude this value (status)")
    qtbot.waitUntil(lambda: bar.text() == 'not (status == 0 and rule == "drop for 1")',
                    timeout=WAIT)
    qtbot.waitUntil(lambda: _ids(requests) == [1, 2], timeout=WAIT)
    # a request no rule answered: its status alone
    _cell_filter(qtbot, ruled, 1, 4, "Filter on this value (status)")
    qtbot.waitUntil(lambda: bar.text()
                    == 'not (status == 0 and rule == "drop for 1") and status == 200',
                    timeout=WAIT)
    qtbot.waitUntil(lambda: _ids(requests) == [2], timeout=WAIT)


def test_a_rule_that_just_answered_is_offered_at_once(qtbot, window, tmp_path):
    """A rule added while the window runs: its text is offered after ``rule ==`` as soon as a
    request it answered arrives (not only when the other values are looked at again)."""
    window.receiver.send_answers(add="503 for 1")
    qtbot.waitUntil(lambda: len(window.receiver.answers.get("rules", ())) == 1, timeout=WAIT)
    endpoint, settings = window.receiver.endpoint, window.settings
    body = tmp_path / "batch.json"
    body.write_text(json.dumps([_event(7)]))
    curl = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
         endpoint["ca_file"], "-u", f"{settings.user}:{settings.password}", "-H",
         "Content-Type: application/json", "--data-binary", f"@{body}",
         endpoint["url"] + "hook/"], capture_output=True, text=True, timeout=30, check=True)
    assert curl.stdout == "503"
    requests, bar = window.requests_model, window.filter_bars["requests"]
    qtbot.waitUntil(lambda: requests.rowCount() == 1
                    and requests.data(requests.index(0, 4)) == "503 · rule", timeout=WAIT)
    edit = _edit(bar)
    qtbot.keyClicks(edit, "rule == ")
    qtbot.waitUntil(lambda: _offered(bar) == ['"503 for 1"'], timeout=WAIT)
    _choose(qtbot, bar, '"503 for 1"')
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bar.current_filter().text == 'rule == "503 for 1"', timeout=WAIT)
    qtbot.waitUntil(lambda: _count(bar).text() == "1 of 1", timeout=WAIT)
