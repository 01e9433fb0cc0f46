"""The capture file: what a stored request and its records look like, and reopening it."""

import json

import pytest

from app.capture.schema import (
    SCHEMA_VERSION,
    CaptureError,
    CaptureLockedError,
    CaptureVersionError,
    open_reader,
    request_body,
)
from app.capture.summary import summary
from app.capture.writer import CaptureWriter, Incoming
from app.db import sqlite3
from app.replay.generator import Generator
from tests.conftest import EVENT_SAMPLE, USAGE_SAMPLE


def post(body: bytes, **kw) -> Incoming:
    kw.setdefault("content_type", "application/json")
    return Incoming(method="POST", path="/hook/", body=body, **kw)


@pytest.fixture
def writer(tmp_path):
    w = CaptureWriter(tmp_path / "c.sqlite")
    yield w
    w.close()


def test_accepted_batch_is_stored_with_its_records(writer, tmp_path):
    body = EVENT_SAMPLE.read_bytes()
    stored = writer.store(post(body, peer="127.0.0.1", headers=[("Host", "x")], auth="ok"))
    assert (stored.status, stored.counts, stored.problems) == (200, {"event": 1}, [])
    writer.store(post(USAGE_SAMPLE.read_bytes()))
    db = open_reader(tmp_path / "c.sqlite")
    req = db.execute("SELECT method, path, peer, status, body, body_size, record_count, "
                     "first_record, counts, auth FROM request WHERE id = 1").fetchone()
    assert req == ("POST", "/hook/", "127.0.0.1", 200, body, len(body), 1, 1,
                   '{"event": 1}', "ok")
    rows = db.execute("SELECT request_id, idx, family, record_id, ts, iccid, imsi, type_id, "
                      "type_name FROM record_keys ORDER BY id").fetchall()
    assert rows == [
        (1, 0, "event", 1234567890, "2019-01-21T09:36:17Z", "<iccid>", "<imsi>", 1,
         "Update location"),
        (2, 0, "usage", 1234567890, "2021-08-09T12:59:05Z", "<icc>", "<imsi>", 5, "Data"),
    ]
    record = json.loads(db.execute("SELECT json FROM record WHERE id = 1").fetchone()[0])
    assert record == json.loads(body)[0]


def test_record_text_keeps_every_token_as_sent(writer, tmp_path):
    body = '[ {"cost": 0.0011760000, "rx": 1.50, "big": 1E2, "s": "caf\\u00e9 \\/ €"} ]'.encode()
    writer.store(post(body))
    db = open_reader(tmp_path / "c.sqlite")
    text = db.execute("SELECT json FROM record").fetchone()[0]
    assert text == '{"cost":0.0011760000,"rx":1.50,"big":1E2,"s":"caf\\u00e9 \\/ €"}'


def test_large_batch_rows_are_contiguous_and_in_order(writer, tmp_path):
    records = Generator(sims=50, seed=5).records(3000)
    stored = writer.store(post(json.dumps(records).encode()))
    assert stored.record_count == 3000
    db = open_reader(tmp_path / "c.sqlite")
    first, count = db.execute("SELECT first_record, record_count FROM request").fetchone()
    ids = [r[0] for r in db.execute("SELECT id FROM record ORDER BY idx")]
    assert ids == list(range(first, first + count))
    back = [json.loads(t) for (t,) in db.execute("SELECT json FROM record ORDER BY id")]
    assert back == records


def test_more_than_3000_records_are_accepted_but_flagged(writer):
    body = json.dumps([{"id": i} for i in range(3001)]).encode()
    stored = writer.store(post(body))
    assert stored.status == 200
    assert stored.record_count == 3001
    assert any("3001 records in one POST" in p for p in stored.problems)


def test_rejected_body_is_stored_raw_without_records(writer, tmp_path):
    body = b'[{"a": 1},'
    stored = writer.store(post(body))
    assert stored.status == 400
    assert stored.error is not None and stored.error.offset == 10
    db = open_reader(tmp_path / "c.sqlite")
    assert db.execute("SELECT status, body, record_count, reason FROM request").fetchone() == (
        400, body, 0, stored.reason)
    assert db.execute("SELECT count(*) FROM record").fetchone()[0] == 0


def test_object_body_leaves_no_half_split_records(writer, tmp_path):
    # json_each would split an object into its members; the classifier's verdict rolls it back.
    writer.store(post(b'{"event_type": {"id": 1}, "id": 5}'))
    db = open_reader(tmp_path / "c.sqlite")
    assert db.execute("SELECT count(*) FROM record").fetchone()[0] == 0
    assert db.execute("SELECT status FROM request").fetchone()[0] == 400


def test_content_type_other_than_json_is_noted(writer):
    stored = writer.store(post(b"[{}]", content_type="application/x-www-form-urlencoded"))
    assert stored.status == 200
    assert stored.problems == [
        "Content-Type is application/x-www-form-urlencoded; the Data Streamer sends "
        "application/json"]


def test_reopening_appends(tmp_path):
    path = tmp_path / "c.sqlite"
    w = CaptureWriter(path)
    w.store(post(b"[{}]"))
    w.close()
    w = CaptureWriter(path)
    assert (w.requests, w.records) == (1, 1)
    stored = w.store(post(b"[{}, {}]"))
    w.close()
    assert stored.request_id == 2
    db = open_reader(path)
    assert db.execute("SELECT count(*) FROM record").fetchone()[0] == 3


def test_second_writer_is_refused(writer, tmp_path):
    with pytest.raises(CaptureLockedError, match="being written by another"):
        CaptureWriter(tmp_path / "c.sqlite")


def test_capture_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "c.sqlite"
    CaptureWriter(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(CaptureVersionError, match="newer Streamer Inspector"):
        CaptureWriter(path)
    with pytest.raises(CaptureVersionError):
        open_reader(path)


@pytest.mark.parametrize("content", [b"this is not a database at all" * 200, b""])
def test_other_files_are_refused(tmp_path, content):
    path = tmp_path / "other.sqlite"
    path.write_bytes(content)
    with pytest.raises(CaptureError):
        open_reader(path)


def test_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "foreign.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.close()
    with pytest.raises(CaptureError, match="not a Streamer Inspector capture"):
        CaptureWriter(path)


def test_summary_counts(writer, tmp_path):
    gen = Generator(sims=7, seed=11)
    records = gen.records(400)
    writer.store(post(json.dumps(records).encode()))
    writer.store(post(b"nope"))
    writer.store(Incoming(method="GET", path="/"), 200, None)
    info = summary(open_reader(tmp_path / "c.sqlite"))
    assert info["requests"] == 3
    assert info["requests_by_status"] == {200: 2, 400: 1}
    events = [r for r in records if "event_type" in r]
    assert info["records_by_family"] == {"event": len(events),
                                         "usage": len(records) - len(events)}
    assert info["distinct_iccids"] == len({r["sim"]["iccid"] for r in records})
    by_type = {t["id"]: t["count"] for t in info["event_types"]}
    for type_id in {e["event_type"]["id"] for e in events}:
        assert by_type[type_id] == sum(e["event_type"]["id"] == type_id for e in events)
    times = [r.get("timestamp") or r["start_timestamp"] for r in records]
    assert info["record_time"] == {"first": min(times), "last": max(times), "unreadable": 0}


def test_a_compact_body_is_stored_once_and_comes_back_byte_for_byte(writer, tmp_path):
    records = Generator(sims=10, seed=3).records(500)
    compact = json.dumps(records, separators=(",", ":"), ensure_ascii=False).encode()
    spaced = json.dumps(records).encode()
    escaped = compact.replace(b'"Data"', b'"D\\u0061ta"')  # escapes kept as sent
    for body in (compact, spaced, escaped):
        writer.store(post(body))
    db = open_reader(tmp_path / "c.sqlite")
    stored = [b for (b,) in db.execute("SELECT body FROM request ORDER BY id")]
    assert stored[0] is None  # stored once, as its records
    assert stored[1] == spaced  # white space: kept as it came
    assert stored[2] is None
    for request_id, body in ((1, compact), (2, spaced), (3, escaped)):
        assert request_body(db, request_id) == body
    from app.capture.follow import Follower

    follower = Follower(tmp_path / "c.sqlite")
    assert follower.request(1)["body"] == compact
    follower.close()
