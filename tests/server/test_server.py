"""The receiver as a user meets it: a real ``serve`` process, real TLS, real clients."""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import json
import os
import socket
import ssl
import subprocess
import threading
import zlib
from pathlib import Path

import aiohttp
import pytest

from app.capture.schema import open_reader, request_body
from app.db import sqlite3
from tests.conftest import (
    EVENT_SAMPLE,
    ROOT,
    USAGE_SAMPLE,
    SocketsKept,
    drain_events,
    folded,
    serve_command,
    start_receiver,
)

AUTH = "Basic " + base64.b64encode(b"streamer:test-password").decode()


def request(rec, method="POST", path="/", body=b"", headers=None, auth=AUTH):
    """Send one request with aiohttp over TLS, trusting only the local CA."""

    async def go():
        ctx = ssl.create_default_context(cafile=rec.ca_file) if rec.ca_file else None
        hdrs = {"Content-Type": "application/json"}
        if auth:
            hdrs["Authorization"] = auth
        hdrs.update(headers or {})
        # aiohttp wants large bodies as a stream rather than raw bytes (it warns otherwise).
        data = io.BytesIO(body) if len(body) > 512 * 1024 else body
        # The loop ends only once the connection's socket is closed: a receiver busy folding
        # the batch it just answered may take a moment to answer the TLS close, and a loop
        # that ended first left the socket open (a ResourceWarning in a later test).
        connector = SocketsKept()
        async with aiohttp.ClientSession(connector=connector) as session, session.request(
            method, rec.url.rstrip("/") + path, data=data, headers=hdrs, ssl=ctx,
            allow_redirects=False,
        ) as resp:
            answer = resp.status, dict(resp.headers), await resp.read()
        await connector.sockets_closed()
        return answer

    return asyncio.run(go())


def stored_rows(rec):
    db = open_reader(folded(rec.capture))  # (acknowledged, then folded right after)
    try:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM request ORDER BY id")]
        for row in rows:  # a compact body is stored once, as its records
            row["body"] = request_body(db, row["id"], row["body"], row["first_record"],
                                       row["record_count"])
        return rows
    finally:
        db.close()


def curl(rec, *args):
    cmd = ["curl", "-sS", "--cacert", rec.ca_file, "-w", "\n%{http_code}", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    body, _, code = out.rpartition("\n")
    return int(code), body


def record_count(rec) -> int:
    db = open_reader(folded(rec.capture))
    try:
        return db.execute("SELECT count(*) FROM record").fetchone()[0]
    finally:
        db.close()


def test_curl_posts_both_documented_samples(shared_receiver):
    receiver = shared_receiver  # (its own two requests and records: those after the others)
    before, records_before = len(stored_rows(receiver)), record_count(receiver)
    for sample, family in ((EVENT_SAMPLE, "event"), (USAGE_SAMPLE, "usage")):
        code, body = curl(receiver, "-u", "streamer:test-password", "-H",
                          "Content-Type: application/json", "--data-binary", f"@{sample}",
                          receiver.url + "endpoint/")
        assert code == 200, body
        assert json.loads(body)["counts"] == {family: 1}
    rows = stored_rows(receiver)[before:]
    assert [(r["status"], r["path"], r["record_count"]) for r in rows] == [
        (200, "/endpoint/", 1), (200, "/endpoint/", 1)]
    assert rows[0]["body"] == EVENT_SAMPLE.read_bytes()
    db = open_reader(folded(receiver.capture))
    try:
        families = [r[0] for r in db.execute(
            "SELECT family FROM record_keys WHERE id > ? ORDER BY id", (records_before,))]
    finally:
        db.close()
    assert families == ["event", "usage"]


def test_aiohttp_client_and_event_lines(receiver):
    status, _, body = request(receiver, path="/any/path", body=EVENT_SAMPLE.read_bytes())
    assert status == 200
    answer = json.loads(body)
    assert answer == {"ok": True, "request_id": 1, "records": 1, "counts": {"event": 1}}
    assert receiver.next_event() == {"event": "request", "request_id": 1, "status": 200,
                                     "records": 1, "counts": {"event": 1}}
    # ... then, once it is written into the capture (the window reads it at that line)
    assert receiver.next_event(folded=True) == {"event": "folded", "requests": 1}
    db = open_reader(receiver.capture)
    try:
        assert db.execute("SELECT count(*) FROM record").fetchone()[0] == 1
    finally:
        db.close()


def test_a_reader_sees_each_batch_after_its_200(shared_receiver):
    # A reader opened after the answer sees the batch (folded into the capture right after
    # the 200: record_count waits for that; app.capture.inbox holds it until then).
    receiver = shared_receiver
    before = record_count(receiver)
    body = json.dumps([{"event_type": {"id": 1}, "id": i} for i in range(50)]).encode()
    for n in range(1, 4):
        assert request(receiver, body=body)[0] == 200
        assert record_count(receiver) == before + 50 * n


BAD_INPUT = [
    # (name, request kwargs, status, text in the answer's error, auth logged)
    ("no credentials", {"auth": None, "body": b"[{}]"}, 401, "authentication required",
     "missing"),
    ("wrong password", {"auth": "Basic " + base64.b64encode(b"streamer:nope").decode(),
                        "body": b"[{}]"}, 401, "wrong credentials", "invalid"),
    ("wrong scheme", {"auth": "Bearer abc", "body": b"[{}]"}, 401, "wrong credentials",
     "invalid"),
    ("GET elsewhere", {"method": "GET", "path": "/hook"}, 405, "method GET is not allowed", "ok"),
    ("PUT", {"method": "PUT", "body": b"[{}]"}, 405, "method PUT is not allowed", "ok"),
    ("DELETE", {"method": "DELETE"}, 405, "method DELETE is not allowed", "ok"),
    ("syntax error", {"body": b'[{"id": 1,}]'}, 400, "invalid JSON: Expecting property name "
     "enclosed in double quotes at line 1 column 11 (byte 10)", "ok"),
    ("object", {"body": b'{"id": 1}'}, 400, "the body is an object, not a list", "ok"),
    ("object with a null", {"body": b'{"id": null, "a": [1]}'}, 400,
     "the body is an object, not a list", "ok"),
    ("non-object element", {"body": b'[{}, "x"]'}, 400, "element 1 of the list is a string",
     "ok"),
    ("empty", {"body": b""}, 400, "the body is empty", "ok"),
    ("bad utf-8", {"body": b'[{"a": "\xff"}]'}, 400, "not valid UTF-8", "ok"),
    ("bad gzip", {"body": b"not gzip at all",
                  "headers": {"Content-Encoding": "gzip"}}, 400, "could not be read", "ok"),
]


@pytest.mark.parametrize(("kwargs", "status", "error", "auth"),
                         [case[1:] for case in BAD_INPUT], ids=[case[0] for case in BAD_INPUT])
def test_bad_input_gets_a_precise_answer_and_is_stored(shared_receiver, kwargs, status, error,
                                                      auth):
    receiver = shared_receiver  # (the cases' requests follow one another in one capture)
    drain_events(receiver)
    before = len(stored_rows(receiver))
    got, headers, body = request(receiver, **kwargs)
    assert got == status
    answer = json.loads(body)
    assert answer["ok"] is False
    assert error in answer["error"]
    rows = stored_rows(receiver)
    assert len(rows) == before + 1  # this request, stored once
    row = rows[-1]
    assert row["status"] == status
    assert error in row["reason"]
    assert row["auth"] == auth
    assert row["record_count"] == 0
    assert answer["request_id"] == row["id"]
    if status == 401:
        assert headers["WWW-Authenticate"].startswith('Basic realm="Streamer Inspector"')
    if status == 405:
        assert headers["Allow"] == "POST"
    if kwargs.get("body") and "Content-Encoding" not in kwargs.get("headers", {}):
        assert row["body"] == kwargs["body"]
    event = receiver.next_event()
    assert (event["status"], event["request_id"]) == (status, row["id"])


def test_syntax_error_answer_gives_the_position(shared_receiver):
    status, _, body = request(shared_receiver, body=b'[\n  {"id": 1}\n  {"id": 2}\n]')
    assert status == 400
    answer = json.loads(body)
    assert answer["position"] == {"line": 3, "column": 3, "offset": 16}


def test_status_page_on_get_root(receiver):
    request(receiver, body=EVENT_SAMPLE.read_bytes())
    status, headers, body = request(receiver, method="GET", auth=None)
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    text = body.decode()
    assert "mock endpoint for the 1NCE Data Streamer" in text
    assert "Requests so far: 1; records: 1." in text
    assert [r["method"] for r in stored_rows(receiver)] == ["POST", "GET"]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies_are_accepted(shared_receiver, encoding):
    receiver = shared_receiver
    raw = USAGE_SAMPLE.read_bytes()
    packed = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    before = len(stored_rows(receiver))
    status, _, body = request(receiver, body=packed, headers={"Content-Encoding": encoding})
    assert status == 200, body
    rows = stored_rows(receiver)
    assert len(rows) == before + 1 and rows[-1]["id"] == json.loads(body)["request_id"]
    row = rows[-1]
    assert (row["body"], row["content_encoding"], row["record_count"]) == (raw, encoding, 1)


def test_more_than_3000_records_are_flagged(shared_receiver):
    receiver = shared_receiver
    before = len(stored_rows(receiver))
    body = json.dumps([{"traffic_type": {"id": 5}, "id": i} for i in range(3500)]).encode()
    status, _, answer = request(receiver, body=body)
    assert status == 200
    problems = json.loads(answer)["problems"]
    assert problems == ["3500 records in one POST: the Data Streamer sends at most 3000"]
    (row,) = stored_rows(receiver)[before:]
    assert json.loads(row["problems"]) == problems
    assert row["record_count"] == 3500


def test_body_over_the_limit_gets_413_and_is_logged(tmp_path):
    rec = start_receiver(tmp_path, "--max-body", "1k")
    try:
        status, _, body = request(rec, body=b"[" + b"{}," * 600 + b"{}]")
        assert status == 413
        assert "exceeds this endpoint's limit of 1024 bytes" in json.loads(body)["error"]
        # Chunked upload without a Content-Length: the limit holds while reading.
        async def chunks():
            for _ in range(20):
                yield b" " * 200

        async def chunked():
            ctx = ssl.create_default_context(cafile=rec.ca_file)
            async with aiohttp.ClientSession() as s, s.post(
                rec.url, data=chunks(), headers={"Authorization": AUTH}, ssl=ctx
            ) as resp:
                return resp.status

        assert asyncio.run(chunked()) == 413
        rows = stored_rows(rec)
        assert [r["status"] for r in rows] == [413, 413]
        assert rows[0]["body_size"] == len(b"[" + b"{}," * 600 + b"{}]")
        assert rows[1]["body_size"] > 1024
    finally:
        rec.stop()


def test_no_auth_accepts_anything(tmp_path):
    rec = start_receiver(tmp_path, user=None)
    try:
        assert rec.listening["auth_header"] is None
        assert request(rec, body=b"[{}]", auth=None)[0] == 200
        assert stored_rows(rec)[0]["auth"] == "off"
    finally:
        rec.stop()


def test_answers_wait_for_the_capture_to_catch_up(tmp_path):
    """At most two accepted requests are outside the capture when one more is answered: while
    another process's write transaction holds the fold back, two batches are answered at
    once and the third only once the capture has the first (the inbox and the time from a
    200 to the window do not grow for as long as a load lasts). Each request folded in is
    told at once (``{"event": "folded", "requests": 1}``)."""
    rec = start_receiver(tmp_path)
    blocker = sqlite3.connect(rec.capture, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    third: list = []
    try:
        assert request(rec, body=b'[{"event_type": "a"}]')[0] == 200
        assert request(rec, body=b'[{"event_type": "b"}]')[0] == 200
        poster = threading.Thread(
            target=lambda: third.append(request(rec, body=b'[{"event_type": "c"}]')))
        poster.start()
        poster.join(1.5)
        assert poster.is_alive() and not third  # held back: the capture has none of them
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    poster.join(20)
    assert third and third[0][0] == 200
    # One fold took all three once the capture was free; each was told as it was in (the
    # window reads the capture on each such line), not once at the end
    told = []
    while sum(told) < 3:
        event = rec.next_event(folded=True)
        if event["event"] == "folded":
            told.append(event["requests"])
    assert told == [1, 1, 1]
    db = open_reader(folded(rec.capture))
    try:
        assert [r[0] for r in db.execute("SELECT json ->> 'event_type' FROM record ORDER BY id")] \
            == ["a", "b", "c"]
    finally:
        db.close()
        rec.stop()


def test_password_never_reaches_the_capture(receiver):
    request(receiver, body=b"[{}]")
    request(receiver, body=b"[{}]", auth="Basic " + base64.b64encode(b"mallory:guess").decode())
    receiver.stop()
    data = receiver.capture.read_bytes()
    assert b"test-password" not in data
    assert AUTH.split()[1].encode() not in data
    rows = stored_rows(receiver)
    headers = dict(json.loads(rows[0]["headers"]))
    assert headers["Authorization"] == "Basic ****"
    assert [r["auth_user"] for r in rows] == ["streamer", "mallory"]


def test_acknowledged_batch_survives_sigkill(tmp_path):
    """A 200 means the batch is durable: here the receiver is killed (-9) after the 200 while
    the batch is only in the capture's inbox (another process's write transaction keeps the
    receiver from folding it into the capture). The next receiver folds it in before it
    listens; a stopped receiver leaves the capture one file."""
    rec = start_receiver(tmp_path)
    body = json.dumps([{"event_type": {"id": 1}, "id": i} for i in range(3000)]).encode()
    inbox = Path(f"{rec.capture}-inbox")
    blocker = sqlite3.connect(rec.capture, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        status, _, _ = request(rec, body=body)
        assert status == 200
        rec.kill()
        assert rec.proc.returncode == -9
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    db = open_reader(rec.capture)
    assert db.execute("SELECT count(*) FROM record").fetchone()[0] == 0  # not folded: killed
    db.close()
    assert inbox.stat().st_size > len(body)  # ... but durable in the inbox
    # The receiver starts again on the same capture: the batch is in before anything else.
    rec = start_receiver(tmp_path, capture=rec.capture)
    try:
        db = open_reader(rec.capture)
        assert db.execute("SELECT count(*) FROM record").fetchone()[0] == 3000
        assert db.execute("SELECT status, acked FROM request").fetchall() == [(200, 1)]
        db.close()
        assert request(rec, body=b"[{}]")[0] == 200
        assert [r["id"] for r in stored_rows(rec)] == [1, 2]
        assert stored_rows(rec)[0]["body"] == body
    finally:
        rec.stop()
    assert not inbox.exists()  # a stopped receiver: the capture is one file again
    # and a batch folded before the kill is in the capture at once (no inbox left to fold)
    rec = start_receiver(tmp_path, capture=rec.capture)
    assert request(rec, body=body)[0] == 200
    folded(rec.capture)
    rec.kill()
    db = open_reader(rec.capture)
    assert db.execute("SELECT count(*) FROM record").fetchone()[0] == 6001
    db.close()


def test_port_taken_is_one_clear_line(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            serve_command("--port", str(port), "--capture", str(tmp_path / "c.sqlite")),
            cwd=ROOT, capture_output=True, text=True, timeout=30,
        )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"streamer-inspector: error: port {port} on 127.0.0.1 is already in use: choose "
        f"another with --port (or --port 0 for a free one)")


def test_human_banner_has_everything_to_copy(tmp_path, user_dirs):
    with subprocess.Popen(
        serve_command("--port", "0", "--capture", str(tmp_path / "c.sqlite"), "--password",
                      "s3cret"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:
        _banner_and_post(proc, user_dirs)


def _banner_and_post(proc, user_dirs):
    try:
        lines = []
        while not (lines and lines[-1].strip().startswith("curl ")):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        banner = "".join(lines)
        assert "Endpoint URL:       https://localhost:" in banner
        ca = os.path.join(user_dirs["XDG_DATA_HOME"], "streamer-inspector", "tls", "ca.pem")
        assert f"Local CA:           {ca}" in banner
        token = base64.b64encode(b"streamer:s3cret").decode()
        assert f"Basic Auth header:  Basic {token}" in banner
        # The printed curl command, run as a user would paste it into a shell.
        command = lines[-1].strip()
        run = subprocess.run(["bash", "-c", command + " -sS"], capture_output=True, text=True,
                             timeout=30)
        assert json.loads(run.stdout)["counts"] == {"event": 1}
        log = proc.stdout.readline()
        while not log.strip():
            log = proc.stdout.readline()
        assert " 200  POST /  " in log and "1 record (event 1)" in log
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert "stopped: 1 requests, 1 records" in proc.stderr.read()


def test_local_ca_is_reused_and_keys_are_private(tmp_path, user_dirs):
    tls = Path(user_dirs["XDG_DATA_HOME"]) / "streamer-inspector" / "tls"
    rec = start_receiver(tmp_path)
    rec.stop()
    first = (tls / "ca.pem").read_bytes()
    for key in ("ca-key.pem", "server-key.pem"):
        assert (tls / key).stat().st_mode & 0o777 == 0o600
    rec = start_receiver(tmp_path, capture=tmp_path / "second.sqlite")
    try:
        assert (tls / "ca.pem").read_bytes() == first
        assert request(rec, body=b"[{}]")[0] == 200
    finally:
        rec.stop()


def test_own_certificate_files(tmp_path):
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    cert, key, ca_pem = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    leaf.private_key_pem.write_to_path(str(key))
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    ca.cert_pem.write_to_path(str(ca_pem))
    rec = start_receiver(tmp_path, "--cert", str(cert), "--key", str(key))
    try:
        assert rec.listening["tls"] == "custom" and rec.ca_file is None
        rec.listening["ca_file"] = str(ca_pem)
        assert request(rec, body=b"[{}]")[0] == 200
    finally:
        rec.stop()


def test_unreadable_certificate_is_a_clear_error(tmp_path):
    result = subprocess.run(
        serve_command("--port", "0", "--capture", str(tmp_path / "c.sqlite"),
                      "--cert", str(tmp_path / "missing.pem"), "--key", str(tmp_path / "k.pem")),
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert f"the certificate file {tmp_path / 'missing.pem'} does not exist" in result.stderr


def test_plain_http_when_tls_is_off(tmp_path):
    rec = start_receiver(tmp_path, "--tls", "off")
    try:
        assert rec.url.startswith("http://localhost:")
        assert request(rec, body=USAGE_SAMPLE.read_bytes())[0] == 200
    finally:
        rec.stop()


def test_non_loopback_bind_warns(tmp_path):
    rec = start_receiver(tmp_path, "--host", "0.0.0.0")
    try:
        assert request(rec, body=b"[{}]")[0] == 200
    finally:
        rec.stop()
    assert "warning: listening on 0.0.0.0, reachable from other machines" in rec.stderr_text


def test_capture_locked_by_another_receiver(tmp_path, receiver):
    result = subprocess.run(
        serve_command("--port", "0", "--capture", str(receiver.capture)),
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "is being written by another Streamer Inspector receiver" in result.stderr


def test_concurrent_posts_are_all_stored(receiver):
    body = json.dumps([{"event_type": {"id": 2}, "id": i} for i in range(200)]).encode()

    async def many():
        ctx = ssl.create_default_context(cafile=receiver.ca_file)
        async with aiohttp.ClientSession() as s:
            async def one():
                async with s.post(receiver.url, data=body, ssl=ctx,
                                  headers={"Authorization": AUTH}) as resp:
                    return resp.status
            return await asyncio.gather(*(one() for _ in range(12)))

    assert asyncio.run(many()) == [200] * 12
    db = open_reader(folded(receiver.capture))
    assert db.execute("SELECT count(*) FROM record").fetchone()[0] == 2400
    firsts = db.execute("SELECT first_record, record_count FROM request ORDER BY id").fetchall()
    assert [f for f, _ in firsts] == [1 + 200 * i for i in range(12)]


def test_records_are_indexed_after_the_acknowledgement(receiver):
    import time

    body = json.dumps([{"event_type": {"id": 1}, "sim": {"iccid": f"89{i}"}, "id": i}
                       for i in range(1200)]).encode()
    assert request(receiver, body=body)[0] == 200
    deadline = time.monotonic() + 20
    indexed = 0
    while time.monotonic() < deadline:
        db = open_reader(folded(receiver.capture))
        indexed = db.execute("SELECT count(*) FROM record_index").fetchone()[0]
        iccid = db.execute("SELECT iccid FROM record_index WHERE own_id = 7").fetchone()
        db.close()
        if indexed == 1200:
            break
        time.sleep(0.1)
    assert indexed == 1200
    assert iccid == ("897",)
