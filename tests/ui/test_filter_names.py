"""The window's filter bars check a name the capture's sample lacks against the whole capture
(issue 15): the reader thread is asked, the bar says it is checking, then applies the filter
or refuses it with its did-you-mean; what it learnt is remembered; a late answer for an older
text does not override the newer one."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QLabel

from app.capture.writer import CaptureWriter, Incoming
from app.filters import known
from app.ui.filterbar import FilterBar
from tests.ui.conftest import WAIT


def _event(number: int, **extra) -> dict:
    return {"id": number, "timestamp": "2026-11-30T10:00:00Z",
            "event_type": {"id": 1, "description": "Update location"},
            "event_severity": {"id": 0, "description": "INFO"},
            "sim": {"iccid": "8988228066600000001"}, **extra}


@pytest.fixture
def rare(request, tmp_path, monkeypatch):
    """The window on a capture of five events whose first alone has ``rare_key`` and
    ``rare_obj.deep``, with a sample of the latest two records (not 5,000)."""
    monkeypatch.setattr(known, "SAMPLE", 2)
    writer = CaptureWriter(tmp_path / "c.sqlite")  # the capture the window fixture opens
    records = [_event(1, rare_key=7, rare_obj={"deep": 1}), *(_event(n) for n in range(2, 6))]
    writer.store(Incoming("POST", "/hook", json.dumps(records).encode(),
                          content_type="application/json"))
    while writer.index_pending(500):
        pass
    writer.close()
    win = request.getfixturevalue("window")  # (after the capture is there)
    win.failures = []
    win.reader.job_failed.connect(win.failures.append)
    win.tabs.setCurrentIndex(1)
    events = win.record_models["event"]
    qtbot = request.getfixturevalue("qtbot")
    qtbot.waitUntil(lambda: events.rowCount() == 5, timeout=WAIT)
    yield win
    assert win.failures == []


def _label(bar: FilterBar, name: str) -> QLabel:
    return bar.findChild(QLabel, name)


def _ids(model) -> list[int]:
    return [model.id_at(row) for row in range(model.rowCount())]


def test_a_key_only_an_old_record_has_is_asked_of_the_capture_and_remembered(qtbot, rare):
    events, bar = rare.record_models["event"], rare.filter_bars["event"]
    error, warning = _label(bar, "filter_error"), _label(bar, "filter_warning")
    checking = _label(bar, "filter_checking")
    bar.set_text("sevrity == WARN")  # the names arrive with the completions: then refused
    qtbot.waitUntil(error.isVisible, timeout=WAIT)
    assert error.text() == 'Column 1: unknown field "sevrity": did you mean "severity"?'

    bar.set_text("rare_key == 7")  # beyond the sample: not refused, not applied yet
    assert checking.isVisible() and not error.isVisible()
    assert checking.text() == 'Checking whether any record has "rare_key"…'
    assert bar.current_filter().is_empty
    qtbot.waitUntil(lambda: _ids(events) == [1], timeout=WAIT)
    assert not checking.isVisible() and not error.isVisible() and not warning.isVisible()
    assert bar.current_filter().text == "rare_key == 7"

    bar.set_text("rare_kye == 7")  # no record has it: refused once the capture said so
    assert checking.isVisible() and not error.isVisible()
    assert checking.text() == ('Checking whether any record has "rare_kye" (did you mean '
                               '"rare_key"?)…')  # a hint at once: the answer may take a while
    qtbot.waitUntil(error.isVisible, timeout=WAIT)
    assert error.text() == 'Column 1: unknown field "rare_kye": did you mean "rare_key"?'
    assert not checking.isVisible()
    assert bar.current_filter().text == "rare_key == 7" and _ids(events) == [1]

    bar.set_text("")
    qtbot.waitUntil(lambda: len(_ids(events)) == 5, timeout=WAIT)
    bar.set_text("rare_key == 7")  # remembered: applied at once
    assert not checking.isVisible() and bar.current_filter().text == "rare_key == 7"
    bar.set_text("rare_kye == 7")  # remembered too: refused at once
    assert error.isVisible() and not checking.isVisible()
    qtbot.waitUntil(lambda: _ids(events) == [1], timeout=WAIT)


def test_a_path_beyond_the_sample_applies_at_once_and_is_warned_of_only_if_none_has_it(
        qtbot, rare):
    events, bar = rare.record_models["event"], rare.filter_bars["event"]
    warning, checking = _label(bar, "filter_warning"), _label(bar, "filter_checking")
    bar.set_text("sevrity == WARN")
    qtbot.waitUntil(_label(bar, "filter_error").isVisible, timeout=WAIT)  # names are known
    bar.set_text("rare_obj.deep == 1")  # a path: applied now, checked meanwhile
    assert bar.current_filter().text == "rare_obj.deep == 1" and checking.isVisible()
    qtbot.waitUntil(lambda: _ids(events) == [1] and not checking.isVisible(), timeout=WAIT)
    assert not warning.isVisible()
    bar.set_text("rare_obj.dep == 1")
    qtbot.waitUntil(warning.isVisible, timeout=WAIT)
    assert warning.text() == ('Warning: no record has the path "rare_obj.dep": did you mean '
                              '"rare_obj.deep"?')
    assert bar.current_filter().text == "rare_obj.dep == 1" and not checking.isVisible()


def test_a_late_answer_for_an_older_text_does_not_override_the_newer(qtbot, rare):
    events, bar = rare.record_models["event"], rare.filter_bars["event"]
    error, checking = _label(bar, "filter_error"), _label(bar, "filter_checking")
    bar.set_text("sevrity == WARN")
    qtbot.waitUntil(error.isVisible, timeout=WAIT)
    with qtbot.waitSignal(rare.reader.names_checked, timeout=WAIT) as answer:
        bar.set_text("rare_kyy == 1")  # asked (no record has it)...
        assert checking.isVisible()
        bar.set_text("event_severity.description == INFO")  # ...and replaced before the answer
        assert not checking.isVisible()
    assert answer.args[1] == {("rare_kyy",): False}
    assert not error.isVisible() and not checking.isVisible()
    assert bar.current_filter().text == "event_severity.description == INFO"
    qtbot.waitUntil(lambda: len(_ids(events)) == 5, timeout=WAIT)
    bar.set_text("rare_kyy == 1")  # the answer was kept: refused at once now
    assert error.isVisible() and not checking.isVisible()
    assert error.text() == ('Column 1: unknown field "rare_kyy": no named field and no key of '
                            'the records has that name')
