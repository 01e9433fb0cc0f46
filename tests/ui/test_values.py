"""Values as the tables show them (issue 15, items 5 and 6): times in one format in UTC or local
time, severity as one word with a colour, volumes right-aligned with a unit, SMS payloads decoded;
the value as sent in the tooltip. The renderers first (hostile values too), then the window."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFontMetrics
from PySide6.QtWidgets import QApplication

from app.config import Settings
from app.records.cells import (
    SAMPLE_TIME,
    Cell,
    alphabet,
    payload_cell,
    payload_line,
    severity_cell,
    time_cell,
    volume_cell,
    zone_name,
)
from app.records.columns import EVENT_COLUMNS, RECORD_TABS, SMS_COLUMNS, USAGE_COLUMNS
from app.records.shape import JsonFloat
from app.ui.models import _TONES
from tests.ui.conftest import WAIT
from tests.ui.test_window import cell, column_of, finish, post, wait_cell

USAGE_SMS = {"traffic_type": {"id": 6, "description": "SMS"}}
USAGE_DATA = {"traffic_type": {"id": 5, "description": "Data"}}


@pytest.mark.parametrize(("sent", "shown", "note"), [
    ("2024-12-13T12:49:57.000Z", "2024-12-13 12:49:57.000", ""),
    ("2024-12-13T13:49:57.5+01:00", "2024-12-13 12:49:57.500", ""),
    ("2024-12-13T12:49:57", "2024-12-13 12:49:57.000", "no time zone: read as UTC"),
    ("2024-12-13 12:49:57", "2024-12-13 12:49:57.000", "no time zone: read as UTC"),
    (1734094197, "2024-12-13 12:49:57.000", "epoch seconds"),
    (1734094197123, "2024-12-13 12:49:57.123", "epoch milliseconds"),
    ("1734094197123", "2024-12-13 12:49:57.123", "epoch milliseconds"),
    (1734094197.25, "2024-12-13 12:49:57.250", "epoch seconds"),
])
def test_times_are_shown_in_one_format_with_the_value_as_sent_in_the_tooltip(sent, shown, note):
    shown_cell = time_cell(sent, local=False)
    assert shown_cell.text == shown
    assert shown_cell.tip.startswith(f"As sent: {sent}")
    assert note in shown_cell.tip


@pytest.mark.parametrize("sent", [
    "yesterday", "", "1e400", 10 ** 400, float("nan"), float("inf"), True, [1], {"a": 1},
    "9" * 5000, -(10 ** 30), "NaN", "2024-13-45T99:99:99Z", "\u202e2024-12-13", "\x1b[31m",
    "\ud83d", "0000-00-00T00:00:00Z",
])
def test_a_time_that_cannot_be_read_is_shown_as_sent(sent):
    for local in (False, True):
        shown = time_cell(sent, local)
        assert "\x1b" not in shown.text and "\ud83d" not in shown.text + shown.tip
        if shown.text != "" and not shown.text[:4].isdigit():
            assert "Not a time this table reads" in shown.tip


def test_local_times_follow_the_zone_and_the_header_names_it(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        assert time_cell("2024-12-13T12:49:57Z", local=True).text == "2024-12-13 13:49:57.000"
        assert time_cell("2024-07-13T12:49:57Z", local=True).text == "2024-07-13 14:49:57.000"
        winter = dt.datetime(2024, 12, 13, tzinfo=dt.UTC)
        assert zone_name(True, winter) == "CET" and zone_name(False, winter) == "UTC"
        monkeypatch.setenv("TZ", "Asia/Kolkata")
        time.tzset()
        assert zone_name(True, winter) == "IST"
        monkeypatch.setenv("TZ", "<+0530>-5:30")
        time.tzset()
        assert zone_name(True, winter) == "UTC+05:30"
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(("sent", "word", "tone"), [
    ("INFO", "Info", "info"), ("Info", "Info", "info"), ("WARN", "Warning", "warning"),
    ("Warn", "Warning", "warning"), ("WARNING", "Warning", "warning"),
    ("ERROR", "Error", "error"), ("CRITICAL", "Critical", "critical"),
    ("Critical", "Critical", "critical"), ("Bogus", "Bogus", ""),
    ("\u202eOFNI", "\u202eOFNI", ""), ("A\x00B", "A\u2400B", ""),
])
def test_severity_is_one_word_per_level(sent, word, tone):
    shown = severity_cell(sent, {"event_severity": {"id": 9, "description": sent}})
    assert (shown.text, shown.tone) == (word, tone)
    assert shown.tip.startswith("As sent: ")


def test_severity_without_a_description_comes_from_its_id_but_2_is_not_guessed():
    assert severity_cell(None, {"event_severity": {"id": 1}}).text == "Warning"
    assert severity_cell(None, {"event_severity": {"id": 2}}) == Cell("id 2", "As sent: id 2")


@pytest.mark.parametrize(("sent", "record", "shown"), [
    (1.0, USAGE_SMS, "1 SMS"), (1, USAGE_SMS, "1 SMS"), (0.5, USAGE_SMS, "0.500000 SMS"),
    (-1e-06, USAGE_DATA, "-0.000001 MB"), (0.001176, USAGE_DATA, "0.001176 MB"),
    (12, USAGE_DATA, "12.000000 MB"), (1.23456789, USAGE_DATA, "1.234568 MB"),
    (0, {}, "0.000000 MB"),
])
def test_volumes_have_a_unit_and_fixed_decimals(sent, record, shown):
    shown_cell = volume_cell(sent, record)
    assert shown_cell.text == shown
    assert shown_cell.tip == f"As sent: {json.dumps(sent)}"


@pytest.mark.parametrize("sent", ["1.5", "NaN", True, [1], {"a": 1}, "\u202e12", "\ud83d"])
def test_a_volume_that_is_not_a_number_is_shown_as_sent(sent):
    shown = volume_cell(sent, USAGE_DATA)
    assert "MB" not in shown.text
    assert "Not a number: shown as sent" in shown.tip
    assert "\ud83d" not in shown.text + shown.tip


@pytest.mark.parametrize(("sent", "shown"), [
    (10 ** 400, "1" + "0" * 400 + " MB"), (1e308, "1e+308 MB"), (float("nan"), "nan MB"),
    (JsonFloat("-1e400"), "-1e400 MB"),
])
def test_a_number_beyond_6_decimals_is_shown_as_sent_with_its_unit(sent, shown):
    shown_cell = volume_cell(sent, USAGE_DATA)
    assert shown_cell.text == shown
    assert "Beyond what 6 decimals show: as sent" in shown_cell.tip


def test_data_coding_schemes_name_their_alphabet():
    assert [alphabet(d) for d in (0, 4, 8, 0x11, 0xF0, 0xF4, 0xC0, 0xE0, 0x80, 12, 0x20, -1,
                                  256, True, "0")] == [
        "gsm", "8bit", "ucs2", "gsm", "gsm", "8bit", "gsm", "ucs2", None, None, None, None,
        None, None, None]


@pytest.mark.parametrize(("payload", "dcs", "shown", "tip"), [
    ("STATUS OK", 0, "STATUS OK", "GSM 7-bit default alphabet (dcs 0): sent as text"),
    ("004800e9006c006c006f", 8, "Héllo", "UCS-2 (dcs 8), decoded from hex: 004800e9"),
    ("D83DDE00", 8, "\U0001f600", "UCS-2"),  # a surrogate pair: one emoji
    ("D83D0041", 8, "\ufffdA", "UCS-2"),  # a lone surrogate: U+FFFD
    ("001B0041", 8, "\u241bA", "UCS-2"),  # ESC: a symbol, never a terminal escape
    ("48656c6c6f00ff", 4, "48 65 6c 6c 6f 00 ff", "As ASCII: Hello.."),
    ("zz", 8, "zz", "Not decoded: UCS-2 (dcs 8) comes as hex, and this is not hex"),
    ("004", 8, "004", "not hex"),
    ("004800", 8, "004800", "needs an even number of bytes"),
    ("SGVsbG8=", 4, "SGVsbG8=", "Not decoded: 8-bit data"),
    ("hi", 0x80, "hi", "not a data coding scheme this reads"),
    ("hi", None, "hi", "dcs none"),
    (123, 0, "123", "the payload is not a string"),
    ("<b>x</b>\u202e", 0, "<b>x</b>\u202e", "GSM"),
])
def test_sms_payloads_are_decoded_as_their_dcs_says(payload, dcs, shown, tip):
    record = {"payload": payload} if dcs is None else {"payload": payload, "dcs": dcs}
    shown_cell = payload_cell(payload, record)
    assert shown_cell.text == shown
    assert tip in shown_cell.tip
    assert payload_line(record).startswith(f"Payload: {shown}\n")


def test_hostile_records_never_break_a_row():
    hostile = [None, 10 ** 400, "\ud800", "\x00\x1b", "\u202e", [], {}, True, 1e308, "9" * 10_000]
    for tab in RECORD_TABS:
        for value in hostile:
            record = {"timestamp": value, "event_severity": {"description": value, "id": value},
                      "volume": {"total": value, "rx": value}, "traffic_type": {"id": value},
                      "payload": value, "dcs": value, "submit_date": value}
            for column in tab.view_columns:
                for local in (False, True):
                    shown = column.cell(record, local)
                    assert "\ud800" not in shown.text + shown.tip


def _contrast(a: QColor, b: QColor) -> float:
    def lum(c: QColor) -> float:
        def ch(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * ch(c.redF()) + 0.7152 * ch(c.greenF()) + 0.0722 * ch(c.blueF())
    high, low = sorted((lum(a), lum(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_severity_colours_are_readable_on_light_and_dark_backgrounds():
    for light, dark in _TONES.values():
        assert _contrast(QColor(light), QColor("#ffffff")) >= 4.5
        assert _contrast(QColor(dark), QColor("#1e1e1e")) >= 4.5


def test_time_columns_are_wide_enough_for_a_time_and_the_zone(qtbot):
    metrics = QFontMetrics(QApplication.font())
    for tab in RECORD_TABS:
        for column in tab.view_columns:
            if column.kind == "time":
                needed = max(metrics.horizontalAdvance(SAMPLE_TIME),
                             metrics.horizontalAdvance(f"{column.title} (UTC+05:30)"))
                assert column.width >= needed + 2 * 8, column.title  # cell margins


SMS_MO = {"id": 3001, "submit_date": "2024-12-13T12:49:57.000Z", "organisation": {"id": 1},
          "endpoint": {"id": 2, "name": "Truck"}, "source_address": "882285",
          "dest_address": "338", "payload": "004800e9006c006c006f", "dcs": 8, "pid": 0}


def test_window_shows_values_readably_and_switches_utc_and_local(qtbot, window, qtmodeltester,
                                                                 monkeypatch):
    event = {"id": 7, "timestamp": 1734094197000,  # epoch milliseconds
             "event_type": {"id": 1, "description": "Update location"},
             "event_severity": {"id": 1, "description": "WARN"},
             "event_source": {"id": 0, "description": "Network"}, "alert": False,
             "organisation": {"id": 1, "name": "x"}, "description": "d"}
    usage = {"id": 8, "start_timestamp": "2024-12-13T12:49:57", "end_timestamp":
             "2024-12-13T12:50:57Z", "imsi": "1", "volume": {"total": 1.0, "rx": 1.0, "tx": 0},
             "traffic_type": {"id": 6, "description": "SMS"}}
    finish(post(window, body=json.dumps([event, usage, SMS_MO]).encode()))
    events, usages = window.record_models["event"], window.record_models["usage"]
    sms = window.record_models["sms"]
    severity = column_of(EVENT_COLUMNS, "severity")
    wait_cell(qtbot, events, 0, severity, "Warning")
    assert cell(events, 0, column_of(EVENT_COLUMNS, "time")) == "2024-12-13 12:49:57.000"
    tip = events.data(events.index(0, column_of(EVENT_COLUMNS, "time")),
                      Qt.ItemDataRole.ToolTipRole)
    assert "As sent: 1734094197000 (epoch milliseconds)" in tip
    assert events.data(events.index(0, severity), Qt.ItemDataRole.ToolTipRole) \
        .endswith("As sent: WARN</p>")
    colour = events.data(events.index(0, severity), Qt.ItemDataRole.ForegroundRole)
    assert colour.name() in _TONES["warning"]
    volume = column_of(USAGE_COLUMNS, "volume")
    wait_cell(qtbot, usages, 0, volume, "1 SMS")
    assert usages.data(usages.index(0, volume), Qt.ItemDataRole.TextAlignmentRole) \
        == Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
    assert usages.data(usages.index(0, column_of(USAGE_COLUMNS, "iccid")),
                       Qt.ItemDataRole.TextAlignmentRole) is None
    assert "no time zone: read as UTC" in usages.data(
        usages.index(0, column_of(USAGE_COLUMNS, "start")), Qt.ItemDataRole.ToolTipRole)
    wait_cell(qtbot, sms, 0, column_of(SMS_COLUMNS, "payload"), "Héllo")
    # The SMS record's detail has the decoded payload above its JSON as sent.
    window.tabs.setCurrentIndex(3)
    window.views["sms"].selectRow(0)
    qtbot.waitUntil(lambda: window.info_text.isVisibleTo(window), timeout=WAIT)
    assert window.info_text.toPlainText().startswith("Payload: Héllo\nUCS-2 (dcs 8)")

    # The switch: headers name the zone; the times are shown again in it; it is remembered.
    header = events.headerData(0, Qt.Orientation.Horizontal)
    assert header == "Time (UTC)"
    assert window.requests_model.headerData(0, Qt.Orientation.Horizontal) == "Time (UTC)"
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        qtmodeltester.check(events)
        window.local_times_action.trigger()
        wait_cell(qtbot, events, 0, 0, "2024-12-13 13:49:57.000")
        assert events.headerData(0, Qt.Orientation.Horizontal) in ("Time (CET)", "Time (CEST)")
        assert sms.headerData(column_of(SMS_COLUMNS, "final"), Qt.Orientation.Horizontal) \
            .startswith("Final (CE")
        assert Settings.load().local_times is True
        window.local_times_action.trigger()
        wait_cell(qtbot, events, 0, 0, "2024-12-13 12:49:57.000")
        assert events.headerData(0, Qt.Orientation.Horizontal) == "Time (UTC)"
        assert Settings.load().local_times is False
    finally:
        monkeypatch.undo()
        time.tzset()
