"""``summary``'s record time range: ordered by the time each record names, whatever its spelling."""

from __future__ import annotations

import json
import sqlite3 as stdlib_sqlite3

from app.capture.schema import SCHEMA_VERSION, open_reader
from app.capture.summary import summary
from app.capture.writer import CaptureWriter, Incoming
from app.cli.main import main
from app.filters.parser import parse
from app.records.fields import index_column

SIM = {"iccid": "8988228066602306710", "id": 1}
RECORDS = [
    # 12:49:57 UTC, spelt with an offset
    {"id": 1, "timestamp": "2024-12-13T14:49:57+02:00", "event_type": {"id": 1}, "sim": SIM},
    # the earliest: epoch milliseconds (2024-12-12T10:40:00Z); SQLite's min() put any number
    # first, and its max() any text last, whatever their dates
    {"id": 2, "start_timestamp": 1734000000000, "traffic_type": {"id": 5}, "volume": 1,
     "sim": SIM},
    # epoch seconds: 2024-12-14T18:13:20Z
    {"id": 3, "timestamp": 1734200000, "event_type": {"id": 1}, "sim": SIM},
    # the latest: a delivery report with only its final date (the record's time since format 7)
    {"id": 4, "final_date": "2024-12-15T00:00:00.000Z", "status": {"status": "DELIVERED",
                                                                   "id": 4}},
    # not a time at all
    {"id": 5, "timestamp": "yesterday", "event_type": {"id": 1}, "sim": SIM},
    # ISO text earlier than the numbers above sorted after them as text
    {"id": 6, "timestamp": "2024-12-12T11:00:00Z", "event_type": {"id": 1}, "sim": SIM},
]


def _capture(tmp_path):
    path = tmp_path / "c.sqlite"
    writer = CaptureWriter(path)
    try:
        stored = writer.store(Incoming(method="POST", path="/", content_type="application/json",
                                       body=json.dumps(RECORDS).encode()))
        assert stored.status == 200
        while writer.index_pending():
            pass
    finally:
        writer.close()
    return path


def test_the_record_time_range_is_ordered_by_time_not_by_sqlite_value_order(tmp_path):
    db = open_reader(_capture(tmp_path))
    info = summary(db)
    assert info["record_time"] == {"first": 1734000000000, "last": "2024-12-15T00:00:00.000Z",
                                   "unreadable": 1}
    # under a filter: only the matching records count
    events = summary(db, parse("family == event"))
    assert events["record_time"] == {"first": "2024-12-12T11:00:00Z", "last": 1734200000,
                                     "unreadable": 1}
    none = summary(db, parse("id == 5"))
    assert none["record_time"] == {"first": None, "last": None, "unreadable": 1}


def test_a_delivery_report_without_a_submit_date_has_its_final_date_as_its_time(tmp_path):
    db = open_reader(_capture(tmp_path))
    ts = db.execute("SELECT ts FROM record_keys WHERE family = 'sms_dr'").fetchone()[0]
    assert ts == "2024-12-15T00:00:00.000Z"
    # the filters' time field reads it too (through the index)
    flt = parse('time == "2024-12-15T00:00:00.000Z"')
    assert summary(db, flt)["records"] == 1


def test_the_summary_command_prints_the_range_and_the_unreadable_times(tmp_path, capsys):
    assert main(["summary", str(_capture(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "Record times:    1734000000000 .. 2024-12-15T00:00:00.000Z" in out
    assert "(1 record with a time that is not an ISO 8601 date or a Unix time: left out)" in out


def test_a_format_6_capture_gets_the_final_date_as_time_read_as_is_and_upgraded(tmp_path):
    path = _capture(tmp_path)
    # what format 6 stored: a view and an index without the final_date as a time
    db = stdlib_sqlite3.connect(path)
    view = db.execute("SELECT sql FROM sqlite_schema WHERE name = 'record_keys'").fetchone()[0]
    final = """, json_extract(r.json, '$."final_date"')"""
    assert final in view
    db.executescript(
        f"DROP VIEW record_keys; {view.replace(final, '')}; "
        f'UPDATE record_index SET "{index_column("time")}" = NULL WHERE family = \'sms_dr\'; '
        "ALTER TABLE request DROP COLUMN target; ALTER TABLE request DROP COLUMN endpoint; "
        "PRAGMA user_version = 6;")
    db.close()
    flt = parse('time == "2024-12-15T00:00:00.000Z"')
    reader = open_reader(path)  # read as it is: the view reads the final date, the index not yet
    try:
        assert summary(reader)["record_time"]["last"] == "2024-12-15T00:00:00.000Z"
        assert summary(reader, flt)["records"] == 0
    finally:
        reader.close()
    CaptureWriter(path).close()  # what a receiver does when it opens the capture
    reader = open_reader(path)
    try:
        assert reader.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert summary(reader)["record_time"]["last"] == "2024-12-15T00:00:00.000Z"
        assert summary(reader, flt)["records"] == 1
    finally:
        reader.close()
