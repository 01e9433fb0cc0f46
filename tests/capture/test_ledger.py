"""The redelivery ledger (app/capture/ledger.py) against a plain-Python model of it.

Arrivals are stored through the real CaptureWriter (unacknowledged ones through a Responder, as
the answer rules do) and the ledger is filled by ``index_pending``, the receiver's idle step.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import sqlite3 as stdlib_sqlite3
import ssl
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.capture import ledger
from app.capture.answers import json_answer
from app.capture.schema import LEDGER_THROUGH, open_reader
from app.capture.writer import CaptureWriter, Incoming
from tests.conftest import ROOT, folded, start_receiver
from tests.hostile import BIG_UINT64, HOSTILE_RECORDS, hostile_body

BASE = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC).timestamp()
# Ids the streams draw from: integers, the same digits as text (another id), an integer beyond
# 64 bits, a float, and records without an id (None: the key is missing; "null": id is null).
ID_POOL = [1, 2, "1", BIG_UINT64, 1.5, None, "null"]


def record_text(ident, variant: int, reordered: bool) -> str:
    """An event record as exact text: ``variant`` is its content, ``reordered`` writes the same
    content with its keys in another order (never a conflict)."""
    parts = ['"event_type":{"id":1,"description":"Update location"}', f'"v":{variant}']
    if ident == "null":
        parts.append('"id":null')
    elif ident is not None:
        parts.append(f'"id":{json.dumps(ident)}')
    if reordered:
        parts.reverse()
    return "{" + ",".join(parts) + "}"


def store(writer: CaptureWriter, texts: list[str], *, acked: bool = True, when: float = 0.0):
    """Store one batch; an unacknowledged one is answered 503 by a Responder."""
    def respond(stored):
        if not acked:
            stored.status, stored.reason, stored.rule, stored.acked = (
                503, "paused", "503 for 1", False)
        return json_answer({"status": stored.status})

    incoming = Incoming("POST", "/", ("[" + ",".join(texts) + "]").encode(),
                        content_type="application/json")
    incoming.received_at = BASE + when
    return writer.store(incoming, respond=respond)


def drain(writer: CaptureWriter, step: int = 500) -> None:
    while writer.index_pending(step):
        pass


def model(batches):
    """The ledger as plain Python: per arrival (record id from 1) its attempt, previous,
    delay and conflict, and per key its first, seen, last and conflicts."""
    arrivals, keys = {}, {}
    rid = 0
    for batch_no, (records, _acked) in enumerate(batches):
        for ident, variant, _reordered in records:
            rid += 1
            if ident is None or ident == "null":
                continue
            key = ("text", ident) if isinstance(ident, str) or ident == BIG_UINT64 else \
                ("number", ident)
            if ident == BIG_UINT64:
                key = ("text", str(ident))  # as record_index has it: the digits
            state = keys.get(key)
            if state is None:
                keys[key] = {"first": rid, "seen": 1, "last": rid, "conflicts": 0,
                             "variant": variant, "last_variant": variant, "batch": batch_no}
                arrivals[rid] = (rid, 1, None, None, 0)
                continue
            # a conflict differs from the first arrival and from the previous one
            conflict = int(variant not in (state["variant"], state["last_variant"]))
            delay = (batch_no - state["batch"]) * 1500.0
            state["seen"] += 1
            arrivals[rid] = (state["first"], state["seen"], state["last"], delay, conflict)
            state["last"], state["batch"], state["last_variant"] = rid, batch_no, variant
            state["conflicts"] += conflict
    return arrivals, {k["first"]: (k["seen"], k["last"], k["conflicts"]) for k in keys.values()}


def ledger_rows(path):
    db = open_reader(path)
    try:
        arrivals = {row[0]: tuple(row[1:]) for row in db.execute(
            "SELECT id, first, attempt, previous, delay_ms, conflict FROM record_seen")}
        keys = {row[0]: tuple(row[1:]) for row in db.execute(
            "SELECT first, seen, last, conflicts FROM record_key")}
        return arrivals, keys, ledger.ledger_through(db)
    finally:
        db.close()


arrival_batches = st.lists(
    st.tuples(st.lists(st.tuples(st.sampled_from(ID_POOL), st.integers(0, 2), st.booleans()),
                       min_size=1, max_size=4),
              st.booleans()),
    min_size=1, max_size=8)


@given(arrival_batches, st.lists(st.integers(0, 5), min_size=8, max_size=8),
       st.integers(1, 6))
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_the_ledger_equals_the_model_whatever_the_steps(tmp_path_factory, batches, fills,
                                                         last_step):
    """Any interleaving of arrivals and fill steps (of any size) gives the model's ledger."""
    path = tmp_path_factory.mktemp("ledger") / "c.sqlite"
    writer = CaptureWriter(path)
    try:
        for n, (records, acked) in enumerate(batches):
            store(writer, [record_text(*r) for r in records], acked=acked, when=n * 1.5)
            if fills[n]:
                writer.index_pending(fills[n])  # a step between arrivals, of any size
        drain(writer, last_step)
    finally:
        writer.close()
    arrivals, keys, through = ledger_rows(path)
    want_arrivals, want_keys = model(batches)
    assert arrivals == want_arrivals
    assert keys == want_keys
    assert through == sum(len(records) for records, _ in batches)
    # the totals each step kept in meta are the tables' own
    db = open_reader(path)
    try:
        kept = json.loads(db.execute("SELECT value FROM meta WHERE key = 'ledger_counts'")
                          .fetchone()[0])
    finally:
        db.close()
    assert kept == {
        "through": through,
        "redeliveries": sum(1 for a in want_arrivals.values() if a[1] > 1 and not a[4]),
        "conflicts": sum(a[4] for a in want_arrivals.values()),
        "keys": len(want_keys), "conflicting": sum(1 for k in want_keys.values() if k[2])}
    # acknowledged is read from each arrival's request, never copied
    db = open_reader(path)
    try:
        seen = ledger.seen_of(db, range(1, through + 1))
    finally:
        db.close()
    rid = 0
    for records, acked in batches:
        for _ in records:
            rid += 1
            assert seen[rid].acked is acked
            if rid in want_arrivals:
                first, attempt, previous, delay, conflict = want_arrivals[rid]
                assert (seen[rid].first, seen[rid].attempt, seen[rid].previous,
                        seen[rid].delay_ms, seen[rid].conflict) == (
                    first, attempt, previous, delay, bool(conflict))
                assert seen[rid].seen == want_keys[first][0]
            else:
                assert seen[rid].seen is None and seen[rid].attempt is None


def model_summary(batches, acked_after):
    """The figures of ``ledger_summary`` and the rows of ``redeliveries`` in plain Python, from
    the model's arrivals and each request's acknowledgement (``acked_after``: as read now)."""
    arrivals, keys = model(batches)
    request_of, rid = {}, 0
    for n, (records, _) in enumerate(batches):
        for _ in records:
            rid += 1
            request_of[rid] = n + 1
    acked = {n + 1: a for n, a in enumerate(acked_after)}
    following = {prev: (aid, delay) for aid, (_, _, prev, delay, conflict) in arrivals.items()
                 if prev is not None and not conflict}
    rows = []
    for n, (records, _) in enumerate(batches):
        if acked[n + 1] or not records:
            continue
        own = [a for a in arrivals if request_of[a] == n + 1]
        nexts = [following[a] for a in own if a in following]
        delays = sorted(d for _, d in nexts)
        rows.append((n + 1, len(records), len(own), len(nexts),
                     sorted({request_of[a] for a, _ in nexts}),
                     delays[0] / 1000 if delays else None,
                     statistics.median(delays) / 1000 if delays else None,
                     delays[-1] / 1000 if delays else None))
    by_first: dict[int, list[int]] = {}
    for aid in sorted(arrivals):
        by_first.setdefault(arrivals[aid][0], []).append(aid)
    repeats = [a for a, (_, attempt, _, _, conflict) in arrivals.items()
               if attempt > 1 and not conflict]
    after_ack = [a for a in repeats
                 if any(acked[request_of[e]] for e in by_first[arrivals[a][0]] if e < a)]
    all_delays = sorted(d for n, *_ in rows for a in arrivals
                        if request_of[a] == n and a in following for d in [following[a][1]])
    figures = {
        "unacknowledged_requests": len(rows),
        "unacknowledged_records": sum(r[1] for r in rows),
        "records_redelivered": sum(r[3] for r in rows),
        "never_redelivered": sum(r[2] - r[3] for r in rows),
        "median_delay_s": statistics.median(all_delays) / 1000 if all_delays else None,
        "max_delay_s": all_delays[-1] / 1000 if all_delays else None,
        "redeliveries": len(repeats), "duplicates_after_ack": len(after_ack),
        "conflicts": sum(a[4] for a in arrivals.values()),
        "conflicting_records": sum(1 for k in keys.values() if k[2]),
        "records_with_id": len(keys)}
    return figures, rows


@given(arrival_batches, st.integers(0, 7))
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_summary_and_redeliveries_equal_plain_python(tmp_path_factory, batches, late):
    """``ledger_summary`` and ``redeliveries`` (a walk over the unacknowledged requests) give
    what plain Python computes from every arrival: unacknowledged requests, redeliveries,
    conflicts, resends after an acknowledgement, and a delayed 200 that acknowledges a request
    after the ledger was filled."""
    path = tmp_path_factory.mktemp("summary") / "c.sqlite"
    writer = CaptureWriter(path)
    acked_after = [acked for _, acked in batches]
    try:
        for n, (records, acked) in enumerate(batches):
            store(writer, [record_text(*r) for r in records], acked=acked, when=n * 1.5)
        drain(writer)
        if late < len(batches) and not acked_after[late]:
            writer.mark_acknowledged(late + 1)  # a delayed 200 reached the sender
            acked_after[late] = True
    finally:
        writer.close()
    db = open_reader(path)
    try:
        got = ledger.ledger_summary(db).as_json()
        rows = ledger.redeliveries(db)
        both = ledger.ledger_report(db)  # one walk gives the same
    finally:
        db.close()
    assert (both[0].as_json(), both[1]) == (got, rows)
    want, want_rows = model_summary(batches, acked_after)
    del got["coverage"]
    assert got == want
    assert [(r.request_id, r.records, r.tracked, r.redelivered, r.later_requests,
             r.first_delay_s, r.median_delay_s, r.max_delay_s) for r in rows] == want_rows


def test_totals_are_counted_on_the_tables_when_meta_does_not_have_them(tmp_path):
    """A ledger filled before its totals were kept in meta (or whose totals are of another
    ledger_through) is counted on the tables by a reader, and the receiver's next step keeps
    the right totals from then on."""
    path = tmp_path / "c.sqlite"
    summary_capture(path)
    db = open_reader(path)
    want = ledger.ledger_summary(db).as_json()
    db.close()
    for value in (None, '{"through": 3, "redeliveries": 99, "conflicts": 0, "keys": 1, '
                        '"conflicting": 0}', "not json"):
        raw = stdlib_sqlite3.connect(path)
        raw.execute("DELETE FROM meta WHERE key = 'ledger_counts'")
        if value:
            raw.execute("INSERT INTO meta VALUES ('ledger_counts', ?)", (value,))
        raw.commit()
        raw.close()
        db = open_reader(path)
        assert ledger.ledger_summary(db).as_json() == want, value
        db.close()
    writer = CaptureWriter(path)
    try:
        store(writer, [record_text(5, 0, False), record_text(6, 0, False)], when=80)
        drain(writer)
    finally:
        writer.close()
    db = open_reader(path)
    got = ledger.ledger_summary(db)
    kept = json.loads(db.execute("SELECT value FROM meta WHERE key = 'ledger_counts'")
                      .fetchone()[0])
    db.close()
    assert (got.redeliveries, got.records_with_id) == (want["redeliveries"] + 1, 6)
    assert kept == {"through": 13, "redeliveries": 5, "conflicts": 1, "keys": 6,
                    "conflicting": 1}


def test_same_content_in_another_key_order_is_a_redelivery_not_a_conflict(tmp_path):
    writer = CaptureWriter(tmp_path / "c.sqlite")
    try:
        store(writer, ['{"id":7,"a":{"x":1,"y":[1.50,true]}}'], acked=False)
        store(writer, ['{"a":{"y":[1.5,true],"x":1},"id":7}'], when=2.0)  # same value
        store(writer, ['{"id":7,"a":{"x":1,"y":[1.5,1]}}'], when=3.0)  # true is not 1
        drain(writer)
    finally:
        writer.close()
    db = open_reader(tmp_path / "c.sqlite")
    seen = ledger.seen_of(db, [1, 2, 3])
    assert [(s.attempt, s.conflict, s.redelivered) for s in seen.values()] == [
        (1, False, False), (2, False, True), (3, True, False)]
    assert (seen[2].previous, seen[2].delay_ms) == (1, 2000.0)
    assert (seen[3].previous, seen[3].delay_ms) == (2, 1000.0)
    assert [s.seen for s in seen.values()] == [3, 3, 3]


def test_a_resend_of_a_conflicting_version_is_a_redelivery(tmp_path):
    """Issue 13: X, then Y (a conflict), then Y again: the third arrival repeats the previous
    one, so it is a redelivery of Y (not a second conflict), and the figures count it; X after
    Y repeats the first arrival: a redelivery too; Z is a conflict."""
    path = tmp_path / "c.sqlite"
    writer = CaptureWriter(path)
    try:
        store(writer, [record_text(7, 0, False)], acked=False)  # X
        store(writer, [record_text(7, 1, False)], acked=False, when=2.0)  # Y: a conflict
        store(writer, [record_text(7, 1, True)], when=5.0)  # Y again (keys reordered)
        store(writer, [record_text(7, 1, False)], when=6.0)  # Y after an acknowledged Y
        store(writer, [record_text(7, 0, False)], when=7.0)  # X again
        store(writer, [record_text(7, 2, False)], when=8.0)  # Z: a conflict
        drain(writer, 2)  # the key's first and latest arrival read from earlier steps too
    finally:
        writer.close()
    db = open_reader(path)
    try:
        seen = ledger.seen_of(db, range(1, 7))
        got = ledger.ledger_summary(db)
        rows = ledger.redeliveries(db)
    finally:
        db.close()
    assert [(s.attempt, s.conflict, s.redelivered) for s in seen.values()] == [
        (1, False, False), (2, True, False), (3, False, True), (4, False, True),
        (5, False, True), (6, True, False)]
    assert [s.previous for s in seen.values()] == [None, 1, 2, 3, 4, 5]
    assert (got.redeliveries, got.conflicts, got.conflicting_records) == (3, 2, 1)
    assert got.duplicates_after_ack == 2  # the 4th and the 5th came after the acked 3rd
    # request 1's X came back as a conflict (not counted); request 2's Y came again 3 s later
    assert [(r.request_id, r.redelivered, r.later_requests, r.max_delay_s) for r in rows] == [
        (1, 0, [], None), (2, 1, [3], 3.0)]
    assert (got.records_redelivered, got.never_redelivered) == (1, 1)


def test_hostile_records_get_exact_keys(tmp_path):
    """Ids beyond 64 bits are the text of their digits, a string id is not the number with the
    same digits, a lone surrogate id works, a key given twice counts by its first value."""
    writer = CaptureWriter(tmp_path / "c.sqlite")
    extra = ['{"id":"\\ud83d","event_type":{"id":1}}', '{"id":"1","event_type":{"id":1}}',
             '{"id":1.0,"event_type":{"id":1}}', '{"event_type":{"id":1}}']
    try:
        for n in range(2):
            incoming = Incoming("POST", "/", hostile_body()[:-1] + b"," + ",".join(extra)
                                .encode() + b"]", content_type="application/json")
            incoming.received_at = BASE + n
            assert writer.store(incoming).status == 200
        drain(writer, 7)
    finally:
        writer.close()
    db = stdlib_sqlite3.connect(tmp_path / "c.sqlite")
    db.text_factory = bytes
    keys = db.execute("SELECT family, key, typeof(key), seen, conflicts FROM record_key "
                      "ORDER BY first").fetchall()
    db.close()
    by_key = {(fam.decode(), key): (kind.decode(), seen, conflicts)
              for fam, key, kind, seen, conflicts in keys}
    assert by_key[("event", str(BIG_UINT64).encode())] == ("text", 2, 0)
    assert by_key[("unknown", b"123456789012345678901234567890")] == ("text", 2, 0)
    assert by_key[("event", "\ud83d".encode("utf-8", "surrogatepass"))] == ("text", 2, 0)
    assert by_key[("event", b"1")] == ("text", 2, 0)  # the string "1"
    # the number 1: the duplicate-id record (1, then 2) and 1.0 are the same id
    assert by_key[("event", 1)] == ("integer", 4, 2)  # 1.0's record differs from the first
    assert all(seen == 2 for key, (_, seen, _) in by_key.items() if key != ("event", 1))
    total = len(HOSTILE_RECORDS) + len(extra)
    reader = open_reader(tmp_path / "c.sqlite")
    assert ledger.ledger_through(reader) == 2 * total
    assert ledger.coverage(reader).complete
    reader.close()


def test_a_ledger_step_never_passes_the_filter_index(tmp_path):
    writer = CaptureWriter(tmp_path / "c.sqlite")
    try:
        store(writer, [record_text(n, 0, False) for n in range(10)])
        assert writer.index_pending(4) == 4  # a step is 4 records: the index first
        db = open_reader(tmp_path / "c.sqlite")
        assert ledger.ledger_through(db) == 0
        db.close()
        assert writer.index_pending(8) == 8  # the last 6 indexed, then 2 in the ledger
        db = open_reader(tmp_path / "c.sqlite")
        assert ledger.ledger_through(db) == 2
        cover = ledger.coverage(db)
        assert (cover.through, cover.records, cover.complete) == (2, 10, False)
        assert "covers records 1 to 2 of 10" in cover.sentence()
        db.close()
        drain(writer)
        db = open_reader(tmp_path / "c.sqlite")
        assert ledger.coverage(db).complete and ledger.coverage(db).sentence() is None
        db.close()
        assert writer.index_pending(500) == 0
    finally:
        writer.close()


def test_a_delayed_acknowledgement_counts_after_the_fact(tmp_path):
    writer = CaptureWriter(tmp_path / "c.sqlite")
    try:
        store(writer, [record_text(1, 0, False)], acked=False)
        drain(writer)
        db = open_reader(tmp_path / "c.sqlite")
        assert not ledger.seen_of(db, [1])[1].acked
        db.close()
        writer.mark_acknowledged(1)
        db = open_reader(tmp_path / "c.sqlite")
        assert ledger.seen_of(db, [1])[1].acked
        assert ledger.ledger_summary(db).unacknowledged_requests == 0
        db.close()
    finally:
        writer.close()


def summary_capture(path):
    """A capture with known figures: request 1 (503) holds ids 1, 2, 3; request 2 (503) holds
    1 again and 4; request 3 (200) holds 1, 2 and 5 (2 with other content); request 4 (200)
    holds 1 and 5 again."""
    writer = CaptureWriter(path)
    try:
        store(writer, [record_text(i, 0, False) for i in (1, 2, 3)], acked=False, when=0)
        store(writer, [record_text(1, 0, True), record_text(4, 0, False)], acked=False, when=10)
        store(writer, [record_text(1, 0, False), record_text(2, 1, False),
                       record_text(5, 0, False)], when=30)
        store(writer, [record_text(1, 0, False), record_text(5, 0, False),
                       record_text(None, 0, False)], when=70)
        drain(writer)
    finally:
        writer.close()


def test_summary_figures_by_hand(tmp_path):
    summary_capture(tmp_path / "c.sqlite")
    db = open_reader(tmp_path / "c.sqlite")
    got = ledger.ledger_summary(db)
    rows = ledger.redeliveries(db)
    db.close()
    # Unacknowledged: requests 1 and 2, records 1, 2, 3 and 1', 4 (5 records).
    # Their next arrival with the same content: 1 -> 1' (10 s), 2 -> a conflict (not counted),
    # 3 never, 1' -> 1'' (20 s), 4 never: 2 redelivered, 3 never redelivered.
    assert (got.unacknowledged_requests, got.unacknowledged_records) == (2, 5)
    assert (got.records_redelivered, got.never_redelivered) == (2, 3)
    assert (got.median_delay_s, got.max_delay_s) == (15.0, 20.0)
    # Every repeat with the same content: 1 three times, 5 once; after an acknowledged
    # arrival: 1''' (after 1'') and 5' (after 5).
    assert (got.redeliveries, got.duplicates_after_ack) == (4, 2)
    assert (got.conflicts, got.conflicting_records, got.records_with_id) == (1, 1, 5)
    assert got.coverage.complete
    assert [(r.request_id, r.status, r.rule, r.records, r.tracked, r.redelivered,
             r.later_requests, r.first_delay_s, r.median_delay_s, r.max_delay_s,
             r.never_redelivered) for r in rows] == [
        (1, 503, "503 for 1", 3, 3, 1, [2], 10.0, 10.0, 10.0, 2),
        (2, 503, "503 for 1", 2, 2, 1, [3], 20.0, 20.0, 20.0, 1)]
    as_json = got.as_json()
    assert as_json["coverage"] == {"through": 11, "records": 11, "available": True,
                                   "complete": True}
    json.dumps(as_json)


def test_a_format_5_capture_gets_its_ledger_from_the_receiver(tmp_path):
    """Migration: an older capture opened by the writer has an empty ledger, which the idle
    steps fill for its old records (acked from status 200)."""
    path = tmp_path / "c.sqlite"
    summary_capture(path)
    db = stdlib_sqlite3.connect(path)  # make it a format-5 file again, records and all
    db.executescript("DROP TABLE record_key; DROP TABLE record_seen;"
                     "DELETE FROM meta WHERE key = 'ledger_through';"
                     "ALTER TABLE request DROP COLUMN rule; ALTER TABLE request DROP COLUMN acked;"
                     "PRAGMA user_version = 5;")
    db.close()
    reader = open_reader(path)  # read-only, as it is: no ledger, every 200 acknowledged
    cover = ledger.coverage(reader)
    assert not cover.available and "no redelivery ledger" in cover.sentence()
    assert ledger.ledger_summary(reader).redeliveries == 0
    assert [s.acked for s in ledger.seen_of(reader, [1, 6]).values()] == [False, True]
    assert ledger.redeliveries(reader) == []
    reader.close()
    copy = tmp_path / "copy.sqlite"
    shutil.copy(path, copy)
    writer = CaptureWriter(copy)
    try:
        assert writer.index_pending(500) == 11  # the index was complete: the ledger only
        assert writer.index_pending(500) == 0
    finally:
        writer.close()
    reader = open_reader(copy)
    got = ledger.ledger_summary(reader)
    reader.close()
    # 503s were answered with status 503: still unacknowledged after the upgrade
    assert (got.unacknowledged_requests, got.redeliveries, got.conflicts) == (2, 4, 1)
    assert got.coverage.complete


@pytest.mark.parametrize("step", [1, 3, 500])
def test_records_without_an_id_advance_the_ledger(tmp_path, step):
    writer = CaptureWriter(tmp_path / "c.sqlite")
    try:
        stored = store(writer, [record_text(None, 0, False), record_text("null", 0, False),
                                '{"id":{"a":null}}', '{"ID":1}', '{"x":{"id":1}}', "{}"])
        assert stored.status == 200
        drain(writer, step)
    finally:
        writer.close()
    db = open_reader(tmp_path / "c.sqlite")
    assert ledger.ledger_through(db) == 6
    # (an object as id is a key too: its JSON text, as record_index has it)
    assert db.execute("SELECT count(*) FROM record_seen").fetchone()[0] == 1
    assert db.execute("SELECT value FROM meta WHERE key = ?", (LEDGER_THROUGH,)).fetchone()
    db.close()


def run_cli(*args: str, capsys=None) -> subprocess.CompletedProcess:
    """The command line as a user runs it (a child process), or with ``capsys`` in this
    process: the same code without a Python start-up (~1 s)."""
    if capsys is None:
        return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    from app.cli.main import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out.out, out.err)


def test_summary_reports_the_ledger_figures(tmp_path, capsys):
    """``summary`` and ``summary --json`` have the figures computed by hand above; a filter
    still narrows the rest, and the ledger's figures say they are of the whole capture."""
    path = tmp_path / "c.sqlite"
    summary_capture(path)
    text = run_cli("summary", str(path))
    assert text.returncode == 0, text.stderr
    assert "  Redeliveries:\n" in text.stdout
    assert "Unacknowledged:     2 requests, 5 records" in text.stdout
    assert "Came again:         2 of them (delay median 15 s, max 20 s); never yet: 3" \
        in text.stdout
    assert "Repeated arrivals:  4 (after an acknowledgement: 2)" in text.stdout
    assert "Conflicts:          1 (same id, other content; 1 ids)" in text.stdout
    assert "Incomplete" not in text.stdout
    info = json.loads(run_cli("summary", "--json", str(path), capsys=capsys).stdout)
    assert info["ledger"] == {
        "unacknowledged_requests": 2, "unacknowledged_records": 5, "records_redelivered": 2,
        "never_redelivered": 3, "median_delay_s": 15.0, "max_delay_s": 20.0,
        "redeliveries": 4, "duplicates_after_ack": 2, "conflicts": 1,
        "conflicting_records": 1, "records_with_id": 5,
        "coverage": {"through": 11, "records": 11, "available": True, "complete": True}}
    filtered = json.loads(run_cli("summary", "--json", "--filter", "redelivered",
                                  str(path), capsys=capsys).stdout)
    assert (filtered["records"], filtered["requests"]) == (4, 3)
    assert filtered["ledger"] == info["ledger"]
    assert "Redeliveries (whole capture):" in run_cli(
        "summary", "--filter", "unacknowledged", str(path), capsys=capsys).stdout


def test_summary_says_when_the_ledger_is_behind(tmp_path, capsys):
    """A receiver killed under load leaves records the ledger has not covered: the figures say
    so instead of being silently wrong."""
    path = tmp_path / "c.sqlite"
    writer = CaptureWriter(path)
    try:
        store(writer, [record_text(1, 0, False), record_text(2, 0, False)], acked=False)
        store(writer, [record_text(1, 0, False)], when=5)
        writer.index_pending(3)  # indexed
        writer.index_pending(2)  # the ledger holds the first request only
    finally:
        writer.close()
    out = run_cli("summary", str(path)).stdout
    assert ("Incomplete:         the ledger covers records 1 to 2 of 3 (the receiver fills it "
            "while idle): these figures count only those") in out
    info = json.loads(run_cli("summary", "--json", str(path), capsys=capsys).stdout)
    assert info["ledger"]["coverage"] == {"through": 2, "records": 3, "available": True,
                                          "complete": False}
    assert info["ledger"]["never_redelivered"] == 2  # of what the ledger holds so far


def test_a_real_receiver_fills_the_ledger_of_what_it_answered(tmp_path):
    """End to end over real TLS: ``serve --answer '503 for 1'`` refuses the first batch, the
    same batch comes again (with one new record) and is acknowledged; the receiver's idle steps
    fill the ledger: each record of the first batch seen twice, acknowledged the second time."""
    rec = start_receiver(tmp_path, "--answer", "503 for 1")
    try:
        ctx = ssl.create_default_context(cafile=rec.ca_file)
        auth = "Basic " + base64.b64encode(b"streamer:test-password").decode()
        first = [record_text(i, 0, False) for i in (1, 2)]
        statuses = []
        for texts in (first, [*first, record_text(3, 0, False)]):
            request = urllib.request.Request(
                rec.url, data=("[" + ",".join(texts) + "]").encode(), method="POST",
                headers={"Content-Type": "application/json", "Authorization": auth})
            try:
                with urllib.request.urlopen(request, context=ctx, timeout=10) as resp:
                    statuses.append(resp.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
        assert statuses == [503, 200]
        deadline = time.monotonic() + 20
        while True:
            db = open_reader(folded(rec.capture))
            try:
                if ledger.coverage(db).complete and ledger.ledger_through(db) == 5:
                    seen = ledger.seen_of(db, range(1, 6))
                    got = ledger.ledger_summary(db)
                    rows = ledger.redeliveries(db)
                    break
            finally:
                db.close()
            assert time.monotonic() < deadline, "the receiver did not fill the ledger"
            time.sleep(0.1)
    finally:
        rec.stop()
    assert [(s.attempt, s.seen, s.acked, s.redelivered) for s in seen.values()] == [
        (1, 2, False, False), (1, 2, False, False),
        (2, 2, True, True), (2, 2, True, True), (1, 1, True, False)]
    assert seen[3].previous == 1 and seen[3].delay_ms >= 0
    assert (got.unacknowledged_requests, got.unacknowledged_records, got.records_redelivered,
            got.never_redelivered, got.duplicates_after_ack) == (1, 2, 2, 0, 0)
    assert [(r.request_id, r.status, r.rule, r.later_requests) for r in rows] == [
        (1, 503, "503 for 1", [2])]
