"""Filters on acknowledgements and the redelivery ledger: SQL agrees with plain Python (whose
Meta carries the ledger's values), on every coverage of index and ledger, and on older
captures without a ledger."""

from __future__ import annotations

import sqlite3 as stdlib_sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.capture.ledger import seen_of
from app.capture.schema import has_ledger, open_reader
from app.capture.summary import summary
from app.capture.writer import CaptureWriter
from app.filters.nodes import Meta
from app.filters.parser import FilterError, parse
from app.records.shape import family_of, parse_record
from tests.capture.test_ledger import drain, record_text, store

# (records as (id, variant), acknowledged) per request
STREAM = [
    ([(1, 0), (2, 0), (3, 0)], False),
    ([(1, 0), (4, 0), (None, 0)], False),
    ([(1, 0), (2, 1), (5, 0)], True),
    ([(1, 0), (5, 0), ("1", 0)], True),
]


def make(path, indexed: int | None = None):
    """The stream stored; 0: nothing indexed; n: all indexed and the first n in the ledger;
    None: everything in both."""
    writer = CaptureWriter(path)
    try:
        for n, (records, acked) in enumerate(STREAM):
            store(writer, [record_text(i, v, False) for i, v in records], acked=acked,
                  when=n * 10.0)
        if indexed is None:
            drain(writer)
        elif indexed:
            writer.index_pending(12)
            writer.index_pending(indexed)
    finally:
        writer.close()


def sql_ids(path, text: str, table: str = "records") -> list[int]:
    db = open_reader(path)
    try:
        flt = parse(text, table)
        ledger = has_ledger(db)
        if table == "requests":
            where, params = flt.where(ledger=ledger)
            query = f"SELECT q.id FROM request AS q WHERE {where} ORDER BY q.id"
        else:
            query, params = flt.record_query(None, ledger=ledger)
        return [r[0] for r in db.execute(query, params)]
    finally:
        db.close()


def python_ids(path, text: str, table: str = "records") -> list[int]:
    flt = parse(text, table)
    db = open_reader(path)
    try:
        if table == "requests":
            ledger = has_ledger(db)
            rows = db.execute(
                "SELECT id, status, " + ("rule, acked" if ledger else "NULL, status = 200")
                + " FROM request ORDER BY id").fetchall()
            return [rid for rid, status, rule, acked in rows
                    if flt.matches({"id": rid, "status": status, "rule": rule,
                                    "acked": acked})]
        rows = db.execute("SELECT r.id, r.json, q.received_at FROM record AS r "
                          "JOIN request AS q ON q.id = r.request_id ORDER BY r.id").fetchall()
        ledger = seen_of(db, [rid for rid, _, _ in rows])
    finally:
        db.close()
    out = []
    for rid, text_json, received in rows:
        record = parse_record(text_json)
        seen = ledger[rid]
        meta = Meta(family=family_of(record), received_at=received, text=text_json,
                    acked=int(seen.acked), seen=seen.seen, attempt=seen.attempt,
                    conflict=None if seen.attempt is None else int(seen.conflict))
        if flt.matches(record, meta):
            out.append(rid)
    return out


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """The stream with index and ledger empty, half way, and complete."""
    out = {}
    for indexed in (0, 6, None):
        path = tmp_path_factory.mktemp("ledger-filters") / f"c{indexed}.sqlite"
        make(path, indexed)
        out[indexed] = path
    return out


# record ids: request 1: 1 (id 1), 2 (id 2), 3 (id 3); request 2: 4 (id 1), 5 (id 4), 6 (no
# id); request 3: 7 (id 1), 8 (id 2, other content), 9 (id 5); request 4: 10 (id 1),
# 11 (id 5), 12 (id "1")
EXAMPLES = [
    ("unacknowledged", list(range(1, 7))),
    ("unacked", list(range(1, 7))),
    ("acked", list(range(7, 13))),
    ("not unacknowledged", list(range(7, 13))),
    ("redelivered", [4, 7, 10, 11]),
    ("conflict", [8]),
    ("seen > 1", [1, 2, 4, 7, 8, 9, 10, 11]),
    ("seen == 4", [1, 4, 7, 10]),
    ("attempt == 1", [1, 2, 3, 5, 9, 12]),
    ("attempt >= 3", [7, 10]),
    ("redelivered and unacknowledged", [4]),
    ("not redelivered", [1, 2, 3, 5, 6, 8, 9, 12]),
    ("seen == null", [6]),
    ("conflict == false and id == 2", [2]),
    ("redelivered == true and family == event", [4, 7, 10, 11]),
]


@pytest.mark.parametrize(("text", "expected"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_ledger_filters_mean_the_same_in_sql_and_python(captures, text, expected):
    assert sql_ids(captures[None], text) == python_ids(captures[None], text) == expected
    for partial in (0, 6):  # the ledger holds no record, or the first 6: the rest are NULL
        assert sql_ids(captures[partial], text) == python_ids(captures[partial], text)


def test_request_fields_rule_and_acked(captures):
    path = captures[None]
    for text, want in (("acked", [3, 4]), ("unacknowledged", [1, 2]), ("not acked", [1, 2]),
                       ("rule ~ 503", [1, 2]), ("rule == null", [3, 4]),
                       ('rule == "503 for 1" and status == 503', [1, 2]),
                       ("acked == 1", [3, 4])):
        assert sql_ids(path, text, "requests") == python_ids(path, text, "requests") == want


def test_unacknowledged_is_a_test_on_its_own():
    with pytest.raises(FilterError, match="'unacked' is a test on its own") as info:
        parse("unacked == 1")
    assert info.value.position == 8
    assert parse("seen > 1").reads_ledger and parse("not unacknowledged").reads_ledger
    assert parse("acked", "requests").reads_ledger and not parse("status == 200").reads_ledger


def as_format_5(path) -> None:
    """Turn a capture into what format 5 was: no rule, acked or ledger tables."""
    db = stdlib_sqlite3.connect(path)
    db.executescript("DROP TABLE record_key; DROP TABLE record_seen;"
                     "ALTER TABLE request DROP COLUMN rule; ALTER TABLE request DROP COLUMN acked;"
                     "PRAGMA user_version = 5;")
    db.close()


def test_a_capture_without_the_ledger_still_filters(tmp_path):
    """Format 5, read as it is: acked is status 200, the ledger's fields are NULL."""
    path = tmp_path / "c.sqlite"
    make(path)
    as_format_5(path)
    for text in ("unacknowledged", "acked", "redelivered", "not conflict", "seen > 1",
                 "attempt == 1 or id == 1", "not seen == 2"):
        assert sql_ids(path, text) == python_ids(path, text), text
    assert sql_ids(path, "unacknowledged") == list(range(1, 7))  # answered 503
    assert sql_ids(path, "redelivered") == [] and sql_ids(path, "seen == null") == list(
        range(1, 13))
    for text, want in (("acked", [3, 4]), ("rule == null", [1, 2, 3, 4])):
        assert sql_ids(path, text, "requests") == python_ids(path, text, "requests") == want
    db = open_reader(path)  # summary --filter too
    try:
        info = summary(db, parse("unacknowledged and not redelivered"))
    finally:
        db.close()
    assert (info["records"], info["requests"]) == (6, 2)
    assert not info["ledger"]["coverage"]["available"]


WORDS = ["unacknowledged", "acked", "redelivered", "conflict", "seen > 1", "seen == 4",
         "seen <= 2", "attempt == 1", "attempt > 2", "seen != 2", "conflict == 0",
         "redelivered == false", "id == 1", "id == 2", "family == event", "seen == null"]


def ledger_expressions():
    def extend(inner):
        return st.one_of(st.builds(lambda a, b: f"{a} and {b}", inner, inner),
                         st.builds(lambda a, b: f"({a} or {b})", inner, inner),
                         st.builds(lambda a: f"not {a}", inner))

    return st.recursive(st.sampled_from(WORDS), extend, max_leaves=4)


@given(ledger_expressions(), st.sampled_from([0, 6, None]))
@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_sql_agrees_with_python_on_generated_ledger_filters(captures, text, indexed):
    path = captures[indexed]
    assert sql_ids(path, text) == python_ids(path, text), text


def test_every_reader_takes_ledger_words_on_a_capture_without_the_ledger(tmp_path):
    """Export (each format), send from a capture and the Real SIM checklist build their filter
    queries for what the capture has: a format-5 file read as it is, no 'no such column'."""
    from app.capture.checklist import Checklist
    from app.export.transfer import ExportJob, run_export
    from app.replay.sender import records_from_capture

    path = tmp_path / "c.sqlite"
    make(path)
    as_format_5(path)
    want = sql_ids(path, "unacknowledged")
    assert want
    for name in ("json", "ndjson", "csv", "har", "postman"):
        out = tmp_path / f"out.{name}"
        code = run_export(ExportJob(path, name, out, filter="unacknowledged and seen == null"))
        assert code == 0 and out.stat().st_size > 0, name
    assert len(records_from_capture(path, "unacknowledged")) == len(want)
    checklist = Checklist()
    reader = open_reader(path)
    try:
        checklist.update(reader)  # every step's filter runs on the records
    finally:
        reader.close()
