"""The answer stored with each request is what the client received, and HAR exports it.

One real receiver (``serve`` over TLS) answers a real aiohttp client 200, 400, 401, 405, 413,
415 and its status page; the HAR export of its capture must hold those answers byte for byte.
The same capture made format 4 (the answer columns dropped) exports the same HAR, read as it is
and after the receiver's migration.
"""

from __future__ import annotations

import io
import json
import shutil

import pytest

from app.capture.schema import SCHEMA_VERSION, open_reader
from app.capture.writer import CaptureWriter
from app.db import sqlite3
from app.export.common import ExportOptions
from app.export.registry import export
from tests.conftest import start_receiver
from tests.server.test_server import request

BATCH = json.dumps([{"id": 1, "event_type": {"id": 1, "description": "Création"},
                     "sim": {"iccid": "8988228066600000000"}}]).encode()
# (label, method, path, body, headers, auth) -> expected status
SENT = [
    ("status page", "GET", "/", b"", {}, True, 200),
    ("status page, headers only", "HEAD", "/", b"", {}, True, 200),
    ("a batch", "POST", "/hook", BATCH, {}, True, 200),
    ("a batch, a note", "POST", "/hook", b"[]", {"Content-Type": "text/plain"}, True, 200),
    ("not JSON", "POST", "/hook", b'[{"a": 1},\n  {"b": ]', {}, True, 400),
    ("no list", "POST", "/hook", b'{"a": 1}', {}, True, 400),
    ("no password", "POST", "/hook", BATCH, {}, False, 401),
    ("wrong password", "POST", "/hook", BATCH, {}, "Basic d3Jvbmc6d3Jvbmc=", 401),
    ("not POST", "PUT", "/hook", BATCH, {}, True, 405),
    ("too big", "POST", "/hook", b"[" + b"{}," * 600 + b"{}]", {}, True, 413),
    ("unknown coding", "POST", "/hook", BATCH, {"Content-Encoding": "br"}, True, 415),
    ("bad gzip", "POST", "/hook", b"not gzip", {"Content-Encoding": "gzip"}, True, 400),
]


@pytest.fixture(scope="module")
def answered(tmp_path_factory):
    """The capture of one receiver and what its client received, in order."""
    tmp = tmp_path_factory.mktemp("answers")
    rec = start_receiver(tmp, "--max-body", "1k")
    received = []
    try:
        for _label, method, path, body, headers, auth, _status in SENT:
            kwargs = {} if auth is True else {"auth": auth or None}
            received.append(request(rec, method, path, body, headers, **kwargs))
    finally:
        rec.stop()
    return rec.capture, received


def _har(capture) -> bytes:
    db = open_reader(capture)
    try:
        out = io.BytesIO()
        export(db, "har", out, ExportOptions())
        return out.getvalue()
    finally:
        db.close()


def test_the_har_holds_the_answers_byte_for_byte(answered):
    capture, received = answered
    entries = json.loads(_har(capture))["log"]["entries"]
    assert len(entries) == len(SENT)
    for entry, sent, (status, headers, body) in zip(entries, SENT, received, strict=True):
        assert status == sent[-1], sent[0]
        response = entry["response"]
        assert response["status"] == status, sent[0]
        content = response["content"]
        assert content["text"].encode("utf-8") == body, sent[0]
        assert content["size"] == response["bodySize"] == len(body), sent[0]
        assert content["mimeType"] == headers["Content-Type"], sent[0]
        for header in response["headers"]:  # the answer's own ones; aiohttp adds the rest
            assert headers[header["name"]] == header["value"], (sent[0], header)
        own = {"Content-Type", "Allow", "WWW-Authenticate"} & set(headers)
        assert {h["name"] for h in response["headers"]} == own, sent[0]
    stored = dict(zip((s[0] for s in SENT), received, strict=True))
    assert b"Requests so far: 0; records: 0." in stored["status page"][2]
    assert stored["status page, headers only"][2] == b""
    assert json.loads(stored["not JSON"][2])["position"]  # re-judged the same way


def test_the_receiver_sends_the_stored_answer(answered):
    capture, received = answered
    db = open_reader(capture)
    try:
        rows = db.execute("SELECT method, status, response_headers, response_body FROM request "
                          "ORDER BY id").fetchall()
    finally:
        db.close()
    for (method, status, headers, body), (got_status, got_headers, got_body) in zip(
            rows, received, strict=True):
        assert status == got_status
        assert got_body == (b"" if method == "HEAD" else body)  # to a HEAD: headers only
        for name, value in json.loads(headers):
            assert got_headers[name] == value
    head = rows[1]
    assert head[0] == "HEAD" and head[3].startswith(b"Streamer Inspector")  # the GET's answer


def test_a_format_4_capture_is_migrated_and_exports_the_same_har(answered, tmp_path):
    capture, _ = answered
    before = _har(capture)
    old = tmp_path / "format4.sqlite"
    shutil.copy(capture, old)
    db = sqlite3.connect(old)
    db.executescript("ALTER TABLE request DROP COLUMN response_headers; "
                     "ALTER TABLE request DROP COLUMN response_body; PRAGMA user_version = 4;")
    db.close()
    assert _har(old) == before  # read as it is: the answers rebuilt
    CaptureWriter(old).close()  # the receiver migrates it
    db = open_reader(old)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
        assert db.execute("SELECT count(*) FROM request WHERE response_body IS NULL "
                          "OR response_headers IS NULL").fetchone()[0] == 0
    finally:
        db.close()
    assert _har(old) == before
