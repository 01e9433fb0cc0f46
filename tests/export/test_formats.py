"""Exports: records as JSON, NDJSON and CSV, requests as HAR 1.2 and Postman v2.1.

Real capture files written by the CaptureWriter (and, for the answers, by the real receiver);
exports are read back with the standard library's json and csv modules.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import subprocess
import sys
import tracemalloc
import uuid
from pathlib import Path

import pytest

from app import __version__
from app.capture.schema import open_reader
from app.capture.writer import CaptureWriter, Incoming
from app.export.common import ExportOptions, RecordRow
from app.export.postman import POSTMAN_SCHEMA
from app.export.registry import EXPORTERS, export
from app.export.rows import record_rows, request_rows
from app.records.columns import EVENT_COLUMNS
from app.replay.generator import Generator
from app.replay.sender import records_from_file
from tests.conftest import EVENT_SAMPLE, SAMPLES, USAGE_SAMPLE, folded
from tests.export.har_schema import validate as validate_har
from tests.server.test_server import AUTH, request

SPECIAL = [
    {"id": 1, "timestamp": "2025-03-18T07:00:00Z",
     "event_type": {"id": 1, "description": '=HYPERLINK("http://x")'},
     "alert": True, "description": "+1", "endpoint": {"name": "@x", "imei": "\tcmd"},
     "sim": {"iccid": "89882280666000000001"},
     "detail": {"country": {"name": "Zürich € 🚀"}, "volume": -2.5, "text": "-1+2",
                "minus": "-3", "mnc": [{"mnc": "01"}, {"mnc": "02"}], "empty": [],
                "obj": {}, "nothing": None, "no": False, "line": "a\nb;c,d\"e"}},
]
# Written by hand: escapes and number spellings that must survive byte for byte.
ESCAPED = (b'{"event_type": {"id": 2, "description": "caf\\u00e9 \\/ \\"q\\""}, '
           b'"id": 2, "cost": 1.50, "big": 1E2, "sim": {"iccid": "8988"}}')
SPECIAL_BODY = (b"[" + json.dumps(SPECIAL, ensure_ascii=False).encode()[1:-1] + b",\n  "
                + ESCAPED + b"]")
BAD_UTF8 = b'[{"a": "\xff"}]'
LEAKY = "Basic c2VjcmV0LXRva2Vu"  # an unmasked value (say, from an older tool's capture)


def _incoming(body: bytes, **kw) -> Incoming:
    kw.setdefault("content_type", "application/json")
    kw.setdefault("headers", [("Host", "localhost:8443"), ("Content-Type", "application/json"),
                              ("Authorization", "Basic ****"),
                              ("Content-Length", str(len(body)))])
    return Incoming(method="POST", path=kw.pop("path", "/hook"), body=body, auth="ok",
                    auth_user="streamer", peer="127.0.0.1", **kw)


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    """Generated batches, every shipped sample, special texts, and two rejected requests."""
    path = tmp_path_factory.mktemp("export") / "capture.sqlite"
    writer = CaptureWriter(path)
    try:
        gen = Generator(sims=40, seed=11)
        for _ in range(2):  # 2400 records: more than one read chunk
            writer.store(_incoming(json.dumps(gen.records(1200)).encode()))
        for sample in sorted(SAMPLES.glob("*.json")):
            if sample.name != "index.json":
                writer.store(_incoming(sample.read_bytes(), query="a=1&b=%C3%BC"))
        writer.store(_incoming(SPECIAL_BODY, headers=[("Authorization", LEAKY),
                                                      ("X-Note", "grüße")]))
        assert writer.store(_incoming(BAD_UTF8)).status == 400
        assert writer.store(_incoming(b'[\n  {"id": 1}\n  {"id": 2}\n]')).status == 400
    finally:
        writer.close()
    return path


@pytest.fixture
def db(capture):
    conn = open_reader(capture)
    yield conn
    conn.close()


def stored_texts(db, where: str = "1", params=()) -> list[tuple[int, str]]:
    return db.execute(f"SELECT id, json FROM record_keys WHERE {where} ORDER BY id",
                      params).fetchall()


def run(db, name: str, options: ExportOptions | None = None, **selection) -> tuple[int, bytes]:
    out = io.BytesIO()
    count = export(db, name, out, options, **selection)
    return count, out.getvalue()


def flat_paths(value, prefix=""):
    """The test's own flattening: dotted paths of a parsed record's leaves."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from flat_paths(item, f"{prefix}{key}.")
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from flat_paths(item, f"{prefix}{index}.")
    else:
        yield prefix[:-1]


def test_the_registry():
    assert {n: (e.kind, e.extension) for n, e in EXPORTERS.items()} == {
        "json": ("records", "json"), "ndjson": ("records", "ndjson"), "csv": ("records", "csv"),
        "har": ("requests", "har"), "postman": ("requests", "postman.json"),
        "curl": ("requests", "sh"), "xlsx": ("records", "xlsx")}
    assert all(e.name == n and e.title for n, e in EXPORTERS.items())


# ---------------------------------------------------------------------------------------------
# Reading


def test_record_rows_stream_all_records_in_order(db):
    rows = list(record_rows(db))
    assert [(r.id, r.text) for r in rows] == stored_texts(db)
    assert len(rows) > 2400
    families = dict(db.execute("SELECT id, family FROM record_keys"))
    assert all(r.family == families[r.id] for r in rows)
    requests = dict(db.execute("SELECT id, request_id FROM record"))
    assert all(r.request_id == requests[r.id] for r in rows)


def test_record_rows_by_filter_family_and_ids(db):
    iccid = db.execute("SELECT iccid FROM record_keys WHERE family = 'event' LIMIT 1").fetchone()
    got = [(r.id, r.text) for r in record_rows(db, filter_text=f'iccid == "{iccid[0]}"')]
    assert got == stored_texts(db, "iccid = ?", iccid)
    assert [(r.id, r.text) for r in record_rows(db, families=("usage",))] == stored_texts(
        db, "family = 'usage'")
    ids = [2401, 5, 2000, 2001, 1, 5]
    assert [r.id for r in record_rows(db, ids=iter(ids))] == [1, 5, 2000, 2001, 2401]
    usage = {i for (i,) in db.execute("SELECT id FROM record_keys WHERE family = 'usage'")}
    assert [r.id for r in record_rows(db, ids=ids, families=("usage",))] == sorted(
        set(ids) & usage)


def test_request_rows(db):
    rows = list(request_rows(db))
    assert [r.id for r in rows] == list(range(1, len(rows) + 1))
    assert [r.id for r in request_rows(db, ids=[3, 1])] == [1, 3]
    first = rows[0]
    assert (first.method, first.path, first.status, first.auth_user) == (
        "POST", "/hook", 200, "streamer")
    assert first.headers[2] == ("Authorization", "Basic ****")
    assert first.counts == {k: v for k, v in first.counts.items() if v} and first.record_count
    bad = rows[-2]
    assert (bad.status, bad.body, bad.record_count, bad.counts) == (400, BAD_UTF8, 0, {})


def test_answer_bodies_of_a_capture(db):
    rows = list(request_rows(db))
    accepted = json.loads(rows[0].answer.body)
    assert accepted == {"ok": True, "request_id": 1, "records": 1200,
                        "counts": rows[0].counts}
    assert json.loads(rows[-1].answer.body) == {
        "ok": False, "request_id": rows[-1].id, "error": rows[-1].reason,
        "position": {"line": 3, "column": 3, "offset": 16}}


# ---------------------------------------------------------------------------------------------
# Records: json and ndjson


def test_json_is_the_stored_texts_byte_for_byte(db, tmp_path):
    texts = [t for _, t in stored_texts(db)]
    count, data = run(db, "json")
    assert count == len(texts)
    assert data == ("[" + ",".join(texts) + "]\n").encode()
    assert ESCAPED.replace(b": ", b":").replace(b", ", b",") in data  # escapes kept
    assert len(json.loads(data)) == count
    # Sendable with the simulator: each record's exact text.
    target = tmp_path / "records.json"
    target.write_bytes(data)
    assert records_from_file(target) == [t.encode() for t in texts]
    # Stored again as a body, it gives the same records.
    writer = CaptureWriter(tmp_path / "again.sqlite")
    try:
        assert writer.store(_incoming(data)).status == 200
    finally:
        writer.close()
    again = open_reader(tmp_path / "again.sqlite")
    try:
        assert [t for (t,) in again.execute("SELECT json FROM record ORDER BY id")] == texts
    finally:
        again.close()


def test_ndjson_is_one_stored_text_a_line(db, tmp_path):
    texts = [t for _, t in stored_texts(db, "family = 'event'")]
    count, data = run(db, "ndjson", families=("event",))
    assert count == len(texts)
    assert data.decode().split("\n") == [*texts, ""]
    target = tmp_path / "records.ndjson"
    target.write_bytes(data)
    assert records_from_file(target) == [t.encode() for t in texts]


def test_an_empty_selection(db):
    assert run(db, "json", filter_text='iccid == "nobody"') == (0, b"[]\n")
    assert run(db, "ndjson", ids=[]) == (0, b"")
    assert run(db, "csv", ids=[]) == (0, b"record,request,family,id\r\n")


# ---------------------------------------------------------------------------------------------
# Records: csv


def read_csv(data: bytes, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter))


ALL_FIELDS = ExportOptions(csv_all_fields=True)


def test_csv_header_and_rows(db):
    count, data = run(db, "csv", ALL_FIELDS, families=("event",))
    table = read_csv(data)
    texts = stored_texts(db, "family = 'event'")
    assert count == len(texts) == len(table) - 1
    header = table[0]
    present = {p for _, t in texts for p in flat_paths(json.loads(t))}
    own = [".".join(p) for c in EVENT_COLUMNS for p in c.paths if ".".join(p) in present]
    # this capture's numbers, then the record's own (1NCE) id, then the window's columns
    assert header[:9] == ["record", "request", "family", "id", "timestamp",
                          "event_type.description", "event_severity.description", "alert",
                          "sim.iccid"]
    assert header[4:4 + len(own)] == list(dict.fromkeys(own))
    rest = header[4 + len(own):]
    assert set(header[3:]) == present and len(header) == len(set(header))
    assert rest.index("detail.mnc.0.mnc") < rest.index("detail.volume")  # sorted by path
    assert [int(r[0]) for r in table[1:]] == [i for i, _ in texts]
    # Every cell is the record's value at that path.
    by_id = {int(r[0]): dict(zip(header, r, strict=True)) for r in table[1:]}
    some_id, some_text = texts[7]
    record = json.loads(some_text)
    assert by_id[some_id]["sim.iccid"] == record["sim"]["iccid"]
    assert by_id[some_id]["id"] == str(record["id"])
    assert by_id[some_id]["request"] == str(dict(db.execute(
        "SELECT id, request_id FROM record"))[some_id])
    assert by_id[some_id]["family"] == "event"


def test_csv_cells_are_safe_and_exact(db):
    _, data = run(db, "csv", ALL_FIELDS, filter_text="id == 1 or id == 2", families=("event",))
    table = read_csv(data)
    header = table[0]
    rows = {r[header.index("event_type.id")]: dict(zip(header, r, strict=True))
            for r in table[1:] if r[header.index("event_type.id")] in ("1", "2")}
    special, escaped = rows["1"], rows["2"]
    assert special["event_type.description"] == "'=HYPERLINK(\"http://x\")"
    assert special["description"] == "'+1"
    assert special["endpoint.name"] == "'@x"
    assert special["endpoint.imei"] == "'\tcmd"
    assert special["detail.text"] == "'-1+2"
    assert special["detail.volume"] == "-2.5"  # a number stays a number
    assert special["detail.minus"] == "-3"  # a plain number, even as a string, runs nothing
    assert special["detail.country.name"] == "Zürich € 🚀"
    assert special["detail.line"] == "a\nb;c,d\"e"
    assert (special["detail.mnc.0.mnc"], special["detail.mnc.1.mnc"]) == ("01", "02")
    assert (special["detail.empty"], special["detail.obj"]) == ("[]", "{}")
    assert (special["alert"], special["detail.no"], special["detail.nothing"]) == (
        "true", "false", "")
    assert escaped["event_type.description"] == 'café / "q"'
    assert (escaped["cost"], escaped["big"]) == ("1.50", "1E2")  # as spelt
    assert escaped["detail.volume"] == ""


def test_csv_with_bom_and_semicolons(db):
    options = ExportOptions(csv_bom=True, csv_delimiter=";", csv_all_fields=True)
    count, data = run(db, "csv", options, filter_text="id == 1", families=("event",))
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert count == len(table) - 1 >= 1
    header = table[0]
    assert header[:4] == ["record", "request", "family", "id"]
    row = next(dict(zip(header, r, strict=True)) for r in table[1:]
               if r[header.index("event_type.id")] == "1")
    assert row["detail.line"] == "a\nb;c,d\"e"
    assert row["detail.country.name"] == "Zürich € 🚀"
    assert row["event_type.description"].startswith("'=")


def test_csv_of_mixed_families_puts_each_tabs_columns_first(db):
    _, data = run(db, "csv", ALL_FIELDS, filter_text='iccid == "<icc>" or iccid == "<iccid>"')
    header = read_csv(data)[0]
    assert header[:6] == ["record", "request", "family", "id", "timestamp",
                          "event_type.description"]
    assert header.index("start_timestamp") < header.index("currency.code")
    assert header.index("sim.iccid") < header.index("start_timestamp")


def test_csv_by_default_has_the_windows_columns(db):
    count, data = run(db, "csv", filter_text='iccid == "<icc>" or iccid == "<iccid>" or id == 1')
    table = read_csv(data)
    header = table[0]
    assert header[:9] == ["record", "request", "family", "id", "timestamp",
                          "event_type.description", "event_severity.description", "alert",
                          "sim.iccid"]
    assert "start_timestamp" in header and "tariff.ratezone.name" in header
    assert "detail.mnc.0.mnc" not in header  # not one of the window's columns
    rows = [dict(zip(header, r, strict=True)) for r in table[1:]]
    usage = next(r for r in rows if r["family"] == "usage")
    assert (usage["sim.iccid"], usage["volume.total"], usage["timestamp"]) == (
        "<icc>", "0.001176", "")
    special = next(r for r in rows if r["event_type.description"].startswith("'="))
    assert special["description"] == "'+1"  # neutralised: a spreadsheet runs none of them
    assert special["detail.country.name"] == "Zürich € 🚀"
    assert count == len(rows)
    # Every family's row has the record's own (1NCE) id, beside this capture's numbers (issue
    # 14: the default columns had no 1NCE id, and "id" was our row number).
    texts = dict(stored_texts(db))
    assert {r["family"] for r in rows} >= {"event", "usage"}
    for r in rows:
        own = json.loads(texts[int(r["record"])]).get("id")
        assert r["id"] == ("" if own is None else str(own))


# ---------------------------------------------------------------------------------------------
# Requests: HAR


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_pairs(items: list, key: str = "name") -> None:
    assert isinstance(items, list)
    for item in items:
        assert isinstance(item[key], str) and isinstance(item["value"], str)


def check_har(har: dict) -> None:
    """The fields HAR 1.2 requires (http://www.softwareishard.com/blog/har-12-spec/), and the
    HAR schema har-validator uses (tests/export/har_schema.py: URLs valid URIs too)."""
    validate_har(har)
    log = har["log"]
    assert log["version"] == "1.2"
    assert isinstance(log["creator"]["name"], str) and isinstance(log["creator"]["version"], str)
    assert isinstance(log["entries"], list)
    for entry in log["entries"]:
        started = dt.datetime.fromisoformat(entry["startedDateTime"])
        assert started.tzinfo is not None
        assert _is_number(entry["time"]) and entry["time"] >= 0
        assert isinstance(entry["cache"], dict)
        timings = entry["timings"]
        for key in ("send", "wait", "receive"):
            assert _is_number(timings[key]) and timings[key] >= 0
        assert entry["time"] == pytest.approx(sum(
            v for v in timings.values() if _is_number(v) and v > 0))
        req = entry["request"]
        for key in ("method", "url", "httpVersion"):
            assert isinstance(req[key], str)
        assert req["cookies"] == []
        _check_pairs(req["headers"])
        _check_pairs(req["queryString"])
        assert isinstance(req["headersSize"], int) and isinstance(req["bodySize"], int)
        if "postData" in req:
            assert isinstance(req["postData"]["mimeType"], str)
            assert isinstance(req["postData"]["text"], str)
            assert "params" not in req["postData"]  # text and params exclude each other
        res = entry["response"]
        assert isinstance(res["status"], int) and isinstance(res["statusText"], str)
        assert isinstance(res["httpVersion"], str) and isinstance(res["redirectURL"], str)
        assert res["cookies"] == []
        _check_pairs(res["headers"])
        assert isinstance(res["headersSize"], int) and isinstance(res["bodySize"], int)
        content = res["content"]
        assert isinstance(content["size"], int) and isinstance(content["mimeType"], str)
        assert isinstance(content.get("text", ""), str)


def test_har_of_a_capture(db):
    count, data = run(db, "har", ExportOptions(base_url="https://example.test:9443/"))
    har = json.loads(data)
    check_har(har)
    assert har["log"]["creator"] == {"name": "Streamer Inspector", "version": __version__}
    entries = har["log"]["entries"]
    rows = list(request_rows(db))
    assert count == len(entries) == len(rows)
    for entry, row in zip(entries, rows, strict=True):
        req = entry["request"]
        assert entry["startedDateTime"] == row.received_at
        assert entry["_streamer_inspector"]["request_id"] == row.id
        assert entry["_streamer_inspector"]["counts"] == row.counts
        assert req["method"] == "POST" and req["httpVersion"] == "HTTP/1.1"
        assert entry["response"]["content"]["text"].encode() == row.answer.body
        if row.body == BAD_UTF8:
            assert req["postData"]["_encoding"] == "base64"
            assert base64.b64decode(req["postData"]["text"]) == BAD_UTF8
        else:
            assert "_encoding" not in req["postData"]
            assert req["postData"]["text"].encode() == row.body
        assert req["bodySize"] == len(row.body)
    sample = next(e["request"] for e in entries if "?" in e["request"]["url"])
    assert sample["url"] == "https://example.test:9443/hook?a=1&b=%C3%BC"
    assert sample["queryString"] == [{"name": "a", "value": "1"}, {"name": "b", "value": "ü"}]
    assert {"name": "Authorization", "value": "Basic ****"} in entries[0]["request"]["headers"]
    assert "test-password" not in data.decode()
    bad = entries[-2]["response"]
    assert bad["status"] == 400 and bad["statusText"] == "Bad Request"
    assert json.loads(bad["content"]["text"])["position"] == {
        "line": 1, "column": 9, "offset": 8}


def test_har_answers_are_what_the_real_receiver_answered(receiver):
    sent = [
        {"path": "/hook?x=1", "body": EVENT_SAMPLE.read_bytes()},
        {"body": USAGE_SAMPLE.read_bytes(), "headers": {"Content-Type": "text/plain"}},
        {"body": b'[\n  {"id": 1}\n  {"id": 2}\n]'},
        {"body": BAD_UTF8},
        {"body": b"[{}]", "auth": "Basic " + base64.b64encode(b"streamer:nope").decode()},
        {"method": "PUT", "body": b"[{}]"},
        {"method": "GET", "auth": None},
    ]
    answers = [request(receiver, **kwargs) for kwargs in sent]
    db = open_reader(folded(receiver.capture))
    try:
        out = io.BytesIO()
        assert EXPORTERS["har"].write(lambda: request_rows(db), out, ExportOptions()) == 7
    finally:
        db.close()
    har = json.loads(out.getvalue())
    check_har(har)
    entries = har["log"]["entries"]
    for entry, kwargs, (status, headers, body) in zip(entries, sent, answers, strict=True):
        res = entry["response"]
        assert res["status"] == status
        assert res["content"]["text"].encode() == body
        assert res["content"]["size"] == res["bodySize"] == len(body)
        got = {h["name"]: h["value"] for h in res["headers"]}
        assert got["Content-Type"] == headers["Content-Type"]
        for name in ("Allow", "WWW-Authenticate"):
            assert got.get(name) == headers.get(name)
        req = entry["request"]
        assert req["method"] == kwargs.get("method", "POST")
        # the endpoint that received it: the receiver's own port, not a default
        assert req["url"] == receiver.url.rstrip("/") + kwargs.get("path", "/")
        names = {h["name"].lower(): h["value"] for h in req["headers"]}
        if kwargs.get("auth", AUTH):
            assert names["authorization"] == "Basic ****"
        if kwargs.get("body") == BAD_UTF8:
            assert base64.b64decode(req["postData"]["text"]) == BAD_UTF8
        elif kwargs.get("body"):
            assert req["postData"]["text"].encode() == kwargs["body"]
    assert json.loads(entries[0]["response"]["content"]["text"])["counts"] == {"event": 1}
    assert "problems" in json.loads(entries[1]["response"]["content"]["text"])


# ---------------------------------------------------------------------------------------------
# Requests: Postman


def test_postman_collection(db):
    count, data = run(db, "postman", ExportOptions(base_url="https://127.0.0.1:8443"))
    assert LEAKY.split()[1] not in data.decode()
    assert "****" not in data.decode()
    collection = json.loads(data)
    info = collection["info"]
    assert info["schema"] == POSTMAN_SCHEMA
    assert uuid.UUID(info["_postman_id"]).version == 4
    assert info["name"] == "Streamer Inspector capture"
    # the endpoint is a variable; no empty password variable (it would hide --global-var)
    assert [(v["key"], v["value"]) for v in collection["variable"]] == [
        ("baseUrl", "https://127.0.0.1:8443")]
    items = collection["item"]
    rows = list(request_rows(db))
    assert count == len(items) == len(rows)
    assert items[0]["name"] == "#1 POST /hook 200 (1200 records)"
    assert items[2]["name"] == "#3 POST /hook 200 (4 records)"  # attach-sequence.json
    assert items[10]["name"] == "#11 POST /hook 200 (1 record)"  # usage-record.json
    assert items[-1]["name"] == "#14 POST /hook 400"
    for item, row in zip(items, rows, strict=True):
        req = item["request"]
        assert req["method"] == "POST"
        assert req["url"] == "{{baseUrl}}/hook" + (f"?{row.query}" if row.query else "")
        if row.body == BAD_UTF8 or row.id == 12:  # not UTF-8; no Content-Type recorded
            assert req["body"]["mode"] == "file"
            assert base64.b64decode(req["body"]["file"]["content"]) == row.body
        else:
            assert req["body"]["mode"] == "raw"
            assert req["body"]["options"] == {"raw": {"language": "json"}}
            assert req["body"]["raw"].encode() == row.body
        header_names = {h["key"].lower() for h in req["header"]}
        assert not header_names & {"authorization", "content-length", "host"}
        assert req["auth"] == {"type": "basic", "basic": [
            {"key": "username", "value": "streamer", "type": "string"},
            {"key": "password", "value": "{{password}}", "type": "string"}]}
        assert item["event"][0]["listen"] == "test"
    assert sum("?a=1&b=%C3%BC" in i["request"]["url"] for i in items) == 9
    assert {"key": "X-Note", "value": "grüße"} in items[-3]["request"]["header"]


# ---------------------------------------------------------------------------------------------
# Transform, streaming


def test_transform_reaches_every_written_text(db):
    upper = ExportOptions(transform=str.upper)
    texts = [t for _, t in stored_texts(db, "family = 'event'")]
    _, data = run(db, "json", upper, families=("event",))
    assert data == ("[" + ",".join(t.upper() for t in texts) + "]\n").encode()
    _, data = run(db, "ndjson", upper, families=("event",))
    assert data.decode().split("\n") == [*(t.upper() for t in texts), ""]
    _, data = run(db, "csv", upper, filter_text="id == 1", families=("event",))
    table = read_csv(data)
    row = dict(zip(table[0], table[-1], strict=True))
    assert table[0][3:5] == ["id", "timestamp"]  # names stay
    assert row["detail.country.name"] == "ZÜRICH € 🚀"
    assert row["event_type.description"] == "'=HYPERLINK(\"HTTP://X\")"
    assert row["family"] == "event"
    ids = [1, 3, 11, 12]
    rows = {r.id: r for r in request_rows(db, ids)}
    har = json.loads(run(db, "har", upper, ids=ids)[1])["log"]["entries"]
    postman = json.loads(run(db, "postman", upper, ids=ids)[1])["item"]
    for entry, item in zip(har, postman, strict=True):
        row = rows[entry["_streamer_inspector"]["request_id"]]
        headers = [{"name": k, "value": v.upper()} for k, v in row.headers]
        assert entry["request"]["headers"] == headers
        assert item["request"]["header"] == [{"key": h["name"], "value": h["value"]}
                                             for h in headers
                                             if h["name"] in ("Content-Type", "X-Note")]
        if row.body == BAD_UTF8:
            assert base64.b64decode(entry["request"]["postData"]["text"]) == BAD_UTF8
        else:
            assert entry["request"]["postData"]["text"] == row.body.decode().upper()
            body = item["request"]["body"]
            if body["mode"] == "raw":
                assert body["raw"] == row.body.decode().upper()
            else:  # no Content-Type recorded: base64 (a raw body would get one from newman)
                assert base64.b64decode(body["file"]["content"]).decode() == (
                    row.body.decode().upper())
    assert any("?A=1&B=%C3%BC" in e["request"]["url"] for e in har)


class Sink:
    """A binary file that keeps only a count of what was written to it."""

    def __init__(self):
        self.size = 0
        self.writes = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self.writes += 1
        return len(data)


_TEXTS = [json.dumps(r, separators=(",", ":")) for r in Generator(sims=50, seed=5).records(400)]


def generated_rows(count: int, small: bool = False):
    """A row source that is a generator function: no len(), nothing kept."""
    for n in range(1, count + 1):
        text = (f'{{"id":{n},"event_type":{{"id":1}},"description":"{"x" * 300}"}}'
                if small else _TEXTS[n % len(_TEXTS)])
        yield RecordRow(n, 1 + n // 3000, "event", text)


@pytest.mark.parametrize("name", ["json", "ndjson", "csv"])
def test_20000_records_stream_from_a_generator(name):
    n = 20_000
    small = name == "csv"  # few cells a record: tracing every allocation of CSV is slow
    sink = Sink()
    tracemalloc.start()
    try:
        count = EXPORTERS[name].write(lambda: generated_rows(n, small), sink, ExportOptions())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    assert sink.size > 6_000_000 and sink.writes > 5  # written in chunks
    assert peak < sink.size / 3  # never the whole output in memory


def test_csv_refuses_a_one_shot_iterator_json_takes_it():
    with pytest.raises(TypeError, match="twice"):
        EXPORTERS["csv"].write(generated_rows(3), io.BytesIO(), ExportOptions())
    out = io.BytesIO()
    assert EXPORTERS["json"].write(generated_rows(3), out, ExportOptions()) == 3
    assert len(json.loads(out.getvalue())) == 3
    out = io.BytesIO()
    assert EXPORTERS["csv"].write(list(generated_rows(3)), out, ExportOptions()) == 3


def test_requests_exporters_take_no_filter(db):
    with pytest.raises(ValueError, match="by ids"):
        run(db, "har", filter_text="alert")


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_a_records_format_of_chosen_requests_holds_their_records_only(tmp_path, fmt):
    """The Requests table's selection exported as records: only the records of those
    requests (--request-ids-file was ignored: every record of the capture was written)."""
    capture = tmp_path / "c.sqlite"
    writer = CaptureWriter(capture)
    try:
        for first in (1, 11, 21):
            body = json.dumps([{"id": first + i, "timestamp": "2024-12-13T12:49:57Z",
                                "event_type": {"id": 1}} for i in range(10)]).encode()
            writer.store(Incoming("POST", "/", body, content_type="application/json"))
    finally:
        writer.close()
    ids = tmp_path / "requests.txt"
    ids.write_text("2\n", "utf-8")
    out = tmp_path / f"out.{fmt}"
    result = subprocess.run(
        [sys.executable, "-m", "app", "export", str(capture), "--format", fmt, "-o", str(out),
         "--request-ids-file", str(ids)], capture_output=True, text=True, timeout=60,
        check=False)
    assert result.returncode == 0, result.stderr
    assert "exported 10 records" in result.stdout
    text = out.read_text("utf-8")
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert sorted(int(r["id"]) for r in rows) == list(range(11, 21))
    else:
        values = (json.loads(text) if fmt == "json"
                  else [json.loads(line) for line in text.splitlines()])
        assert sorted(v["id"] for v in values) == list(range(11, 21))
