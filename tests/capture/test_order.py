"""Sorting a table in SQL (app.capture.order), checked against a plain SQL ORDER BY over the
records' JSON and against Python's own reading of the values, on generated captures."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import math
from array import array

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.capture.order import SortError, SortKey, record_sort_sql, sortable, sorted_ids
from app.capture.schema import (
    SCHEMA_VERSION,
    has_sort_indexes,
    open_reader,
    open_writer_db,
)
from app.capture.writer import CaptureWriter, Incoming
from app.records.fields import time_key_sql
from app.replay.generator import Generator

_GENERATED = Generator(sims=5, seed=3).records(12)
EVENT = next(r for r in _GENERATED if "event_type" in r)
USAGE = next(r for r in _GENERATED if "start_timestamp" in r)

TIMES = st.one_of(
    st.datetimes(min_value=dt.datetime(2001, 1, 1), max_value=dt.datetime(2060, 1, 1),
                 timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=2)),
                                            dt.timezone(dt.timedelta(hours=-5))])
                 ).map(lambda d: d.isoformat()),
    st.integers(min_value=10**9, max_value=2 * 10**9),  # epoch seconds
    st.integers(min_value=10**12, max_value=2 * 10**12),  # epoch milliseconds
    st.sampled_from(["yesterday", "", "2025-13-45T99:00:00Z", None, "now", "NOW", -2**63,
                     2**63 - 1, 1e300, True]),
)
VOLUMES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e9),
    st.integers(min_value=-10**6, max_value=10**30),  # beyond 64 bits: stored as REAL
    st.sampled_from(["1.0", "lots", None]),
)
SEVERITIES = st.sampled_from(["INFO", "Info", "WARN", "WARNING", "ERROR", "CRITICAL", "weird",
                              None])


def _event(time, severity, iccid) -> dict:
    record = copy.deepcopy(EVENT)
    record["timestamp"] = time
    record["event_severity"]["description"] = severity
    record["sim"]["iccid"] = iccid
    return record


def _usage(volume, time) -> dict:
    record = copy.deepcopy(USAGE)
    record["volume"]["total"] = volume
    record["start_timestamp"] = time
    return record


def _capture(path, batches: list[list[dict]], index: int):
    """A capture of these batches, the first ``index`` records indexed (the rest are read
    from their JSON, as records the receiver has not indexed yet)."""
    writer = CaptureWriter(path)
    for batch in batches:
        writer.store(Incoming("POST", "/", json.dumps(batch).encode(),
                              content_type="application/json"))
    if index:
        writer.index_pending(index)
    writer.close()
    return open_reader(path)


def _reference(db, family: str, path: str, key: str, descending: bool) -> list[int]:
    """The plain SQL: every record of the family read from its JSON, no index."""
    d = " DESC" if descending else ""
    value = f"json_extract(r.json, '$.{path}')"
    keyed = key.replace("v", value) if key else ""
    order = (f"{keyed}{d}, " if keyed else "") + f"{value}{d}, r.id{d}"
    return [row[0] for row in db.execute(
        f"SELECT r.id FROM record AS r JOIN record_keys AS k ON k.id = r.id "
        f"WHERE k.family = ? ORDER BY {order}", (family,))]


_TIME = time_key_sql("v")  # the meaning of a time (the text "now" is no time: NULL)


def _instant(value) -> float | None:
    """What Python reads a time as (seconds since the epoch), or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str) and value.lower() == "now":
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) >= 1e11 else float(value)
        return seconds if -62135596800 <= seconds < 253402300800 else None  # years 1-9999
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=st.lists(st.tuples(TIMES, SEVERITIES, st.sampled_from(["8988", "8901", "8988a"])),
                       min_size=1, max_size=25),
       usages=st.lists(st.tuples(VOLUMES, TIMES), min_size=1, max_size=25),
       index=st.integers(min_value=0, max_value=60), split=st.integers(1, 10),
       descending=st.booleans(), keep=st.integers(min_value=1, max_value=3))
def test_sorting_agrees_with_plain_sql_and_with_python(tmp_path_factory, events, usages, index,
                                                       split, descending, keep):
    records = [_event(*e) for e in events] + [_usage(*u) for u in usages]
    batches = [records[i:i + split] for i in range(0, len(records), split)]
    db = _capture(tmp_path_factory.mktemp("order") / "c.sqlite", batches, index)
    try:
        ids = {family: array("q", (r[0] for r in db.execute(
            "SELECT id FROM record_keys WHERE family = ? ORDER BY id", (family,))))
            for family in ("event", "usage")}
        checks = [("event", "time", "timestamp", _TIME), ("event", "iccid", "sim.iccid", ""),
                  ("usage", "volume", "volume.total", ""),
                  ("usage", "start", "start_timestamp", _TIME)]
        for table, column, path, key in checks:
            got = sorted_ids(db, SortKey(table, column, descending), ids[table])
            assert list(got) == _reference(db, table, path, key, descending), (table, column)
            # a filtered table (every keep-th row) keeps its rows, in the same order
            some = array("q", ids[table][::keep])
            part = sorted_ids(db, SortKey(table, column, descending), some)
            assert list(part) == [i for i in got if i in set(some)]
        # Python's own reading: readable times in instant order, numbers in numeric order
        by_id = {r[0]: json.loads(r[1]) for r in db.execute("SELECT id, json FROM record")}
        order = sorted_ids(db, SortKey("event", "time", descending), ids["event"])
        instants = [t for t in (_instant(by_id[i]["timestamp"]) for i in order) if t is not None]
        assert instants == sorted(instants, reverse=descending)
        order = sorted_ids(db, SortKey("usage", "volume", descending), ids["usage"])
        numbers = [v for v in (by_id[i]["volume"]["total"] for i in order)
                   if isinstance(v, int | float) and not isinstance(v, bool)]
        assert all(math.isclose(a, b) or (a < b) != descending
                   for a, b in itertools.pairwise(numbers))
        order = sorted_ids(db, SortKey("event", "severity", descending), ids["event"])
        rank = {"INFO": 1, "WARN": 2, "WARNING": 2, "ERROR": 3, "CRITICAL": 4}
        ranks = [rank.get(str(by_id[i]["event_severity"]["description"]).upper(), 5)
                 for i in order]
        assert ranks == sorted(ranks, reverse=descending)
    finally:
        db.close()


def test_requests_sort_by_status_and_size_and_ties_keep_arrival(tmp_path):
    writer = CaptureWriter(tmp_path / "c.sqlite")
    for body, status in ((b"[]", 200), (b"x" * 50, 400), (b"[1,2]", 200), (b"{", 400)):
        writer.store(Incoming("POST", "/a%2Fb", body, content_type="application/json"),
                     status=status)
    writer.close()
    db = open_reader(tmp_path / "c.sqlite")
    try:
        ids = array("q", [1, 2, 3, 4])
        assert list(sorted_ids(db, SortKey("requests", "Status"), ids)) == [1, 3, 2, 4]
        assert list(sorted_ids(db, SortKey("requests", "Status", True), ids)) == [4, 2, 3, 1]
        assert list(sorted_ids(db, SortKey("requests", "Size", True), ids)) == [2, 3, 1, 4]
        assert list(sorted_ids(db, SortKey("requests", "Path"), array("q", [2, 4]))) == [2, 4]
    finally:
        db.close()


def test_what_cannot_be_sorted_says_so(tmp_path):
    assert not sortable("other", "keys")
    assert not sortable("requests", "Nonsense")
    assert sortable("event", "seen") and sortable("sms", "payload")
    writer = CaptureWriter(tmp_path / "c.sqlite")
    writer.store(Incoming("POST", "/", json.dumps([{"x": 1}]).encode(),
                          content_type="application/json"))
    writer.close()
    db = open_reader(tmp_path / "c.sqlite")
    try:
        with pytest.raises(SortError, match=r"keys.*cannot be sorted"):
            sorted_ids(db, SortKey("other", "keys"), array("q", [1]))
        assert list(sorted_ids(db, SortKey("other", "id"), array("q", [1]))) == [1]
    finally:
        db.close()


def test_format_8_indexes_the_sort_keys_and_older_captures_sort_without_them(tmp_path):
    path = tmp_path / "c.sqlite"
    records = [_event(t, s, "89") for t, s in (("2025-01-02T00:00:00+02:00", "ERROR"),
                                                (1735689600, "INFO"), ("now", "WARN"),
                                                (-2**63, None), ("2025-01-01T23:30:00Z", "x"))]
    db = _capture(path, [records], index=100)  # hostile times are indexed without an error
    try:
        assert has_sort_indexes(db)
        ids = array("q", range(1, 6))
        # "now" and -2**63 ms (before the year 0) are no time (NULL: first, by their value);
        # the offset counts
        oldest_first = [4, 3, 2, 1, 5]
        assert list(sorted_ids(db, SortKey("event", "time"), ids)) == oldest_first
        sql, params = record_sort_sql("event", "time", True, 5)
        plan = " ".join(r[3] for r in db.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        assert "record_index_by_time" in plan  # read in index order, no sort of the indexed
        assert list(sorted_ids(db, SortKey("event", "severity"), ids)) == [2, 3, 1, 4, 5]
    finally:
        db.close()
    # A format-7 capture (no sort indexes) sorts the same, read as it is; upgraded, it has them
    writer = open_writer_db(path)
    for name in ("time", "volume", "severity", "iccid"):
        writer.execute(f"DROP INDEX record_index_by_{name}")
    writer.execute("PRAGMA user_version = 7")
    writer.close()
    db = open_reader(path)
    try:
        assert not has_sort_indexes(db)
        assert list(sorted_ids(db, SortKey("event", "time"), ids)) == oldest_first
    finally:
        db.close()
    open_writer_db(path).close()
    db = open_reader(path)
    try:
        assert has_sort_indexes(db)
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
    finally:
        db.close()


def test_every_column_of_every_table_sorts_or_says_why(tmp_path):
    """Each table's columns (the chooser's further ones too) sort both ways into a
    permutation of the rows, on a capture with records of every family and hostile values."""
    from app.records.columns import RECORD_TABS
    from app.ui.reader import REQUEST_HEADERS
    from tests.hostile import hostile_body

    sms = {"submit_date": "2025-01-01T00:00:00Z", "payload": "hi", "dcs": 0}
    writer = CaptureWriter(tmp_path / "c.sqlite")
    for body in (json.dumps([*_GENERATED, sms]).encode(), hostile_body()):
        writer.store(Incoming("POST", "/", body, content_type="application/json"))
    writer.index_pending(10)  # the rest is read from the JSON
    writer.close()
    db = open_reader(tmp_path / "c.sqlite")
    try:
        for tab in RECORD_TABS:
            ids = array("q", (r[0] for r in db.execute(
                f"SELECT id FROM record_keys WHERE family IN ({', '.join('?' * len(tab.families))})"
                f" ORDER BY id", tab.families)))
            for column in tab.view_columns:
                for descending in (False, True):
                    key = SortKey(tab.key, column.name, descending)
                    if not sortable(tab.key, column.name):
                        with pytest.raises(SortError):
                            sorted_ids(db, key, ids)
                        continue
                    assert sorted(sorted_ids(db, key, ids)) == list(ids), key
        requests = array("q", (r[0] for r in db.execute("SELECT id FROM request ORDER BY id")))
        for header in REQUEST_HEADERS:
            got = sorted_ids(db, SortKey("requests", header, True), requests)
            assert sorted(got) == list(requests), header
    finally:
        db.close()
