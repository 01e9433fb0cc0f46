"""The curl export: a bash script run by bash with the real curl against the real receiver.

Requests of every awkward kind are sent to a real receiver (over TLS, with its CA) by Python's
http.client (a client unlike curl, which sends the target and headers as given); the capture is
exported as a curl script; bash runs the script against the same receiver; every request the
script sends is stored exactly as its original (method, target as it arrived, Content-Type,
Content-Encoding, its own headers, body bytes, authentication outcome, status).
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import os
import ssl
import subprocess
import sys
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.capture.schema import open_reader
from app.capture.writer import CaptureWriter, Incoming
from app.export.common import ExportOptions, RequestRow
from app.export.curlscript import encodings_to_apply, replay_url
from app.export.masking import Masker, new_key
from app.export.registry import export
from app.export.transfer import mask_transform
from app.replay.curl import parse_curl
from tests.conftest import EVENT_SAMPLE, ROOT, start_receiver
from tests.server.test_server import stored_rows

PASSWORD = "test-password"
RIGHT = "Basic " + base64.b64encode(f"streamer:{PASSWORD}".encode()).decode()
WRONG = "Basic " + base64.b64encode(b"streamer:nope").decode()
MAX_BODY = 300_000  # the receiver's --max-body: a 413 costs little
EVENT = EVENT_SAMPLE.read_bytes()
HOSTILE = (b'[{"id": 1, "s": "\\ud800", "big": 1e400, "huge": 1180591620717411303424, '
           b'"id": 2, "rtl": "\xe2\x80\xaeabc\xe2\x80\xac", "ctl": "\\u0001\\u001b[2J", '
           b'"q": "it\'s $HOME `id` $(id) \\\\ %s %b \\\\x41"}]')
NOT_UTF8 = b'[{"x":"M\xfcnchen"}]'
BIG = json.dumps([{"event_type": {"id": 1, "description": "Update location"}, "id": i,
                   "text": "ü \\ ' \" $x"} for i in range(1500)], ensure_ascii=False).encode()

# (method, target, headers, body, expected status)
REQUESTS = [
    ("POST", "/", {"Content-Type": "application/json"}, EVENT, 200),
    ("POST", "/hook?a=%2F%20&b=x+y", {"Content-Type": "application/json"}, HOSTILE, 200),
    ("POST", "/p%20q/x%2Fy?a=%2F%20", {"Content-Type": "application/json",
                                       "X-Note": "grüße"}, NOT_UTF8, 400),
    ("POST", "/gz", {"Content-Type": "application/json", "Content-Encoding": "gzip"},
     gzip.compress(EVENT), 200),
    ("POST", "/deflate", {"Content-Type": "application/json", "Content-Encoding": "deflate"},
     zlib.compress(HOSTILE), 200),
    ("PUT", "/put/it", {"Content-Type": "text/plain"}, b"plain text\nline 2\r\n\x00end", 405),
    ("GET", "/search?q=%2F%20&x", {}, b"", 405),
    ("HEAD", "/", {}, b"", 200),
    ("POST", "/wrong", {"Content-Type": "application/json", "Authorization": WRONG}, EVENT,
     401),
    ("POST", "/missing", {"Content-Type": "application/json", "Authorization": None}, EVENT,
     401),
    ("POST", "/bearer", {"Content-Type": "application/json", "Authorization": "Bearer abc"},
     b"[]", 401),
    ("POST", "/bad-json", {"Content-Type": "application/json"}, b'[{"a": 1,]', 400),
    ("POST", "/empty", {"Content-Type": "application/json"}, b"", 400),
    ("POST", "/no-type", {}, b"[]", 200),
    ("POST", "/big", {"Content-Type": "application/json; charset=utf-8"}, BIG, 200),
    ("POST", "/too-big", {"Content-Type": "application/json"}, b"[" + b" " * MAX_BODY + b"]",
     413),
    # answered by the receiver's answer rules (RULES): a 503, and no answer at all
    ("POST", "/ruled", {"Content-Type": "application/json"}, EVENT, 503),
    ("POST", "/dropped", {"Content-Type": "application/json"}, EVENT, 0),
    # targets a URL cannot carry as they are: curl sends them with --request-target
    ("OPTIONS", "*", {}, b"", 405),
    ("POST", "/frag?x=1#top", {"Content-Type": "application/json"}, b"[]", 200),
    # wrong credentials: the receiver keeps the first 4 KB, and those are sent again
    ("POST", "/wrong-cut", {"Content-Type": "application/json", "Authorization": WRONG},
     BIG[:6000], 401),
    # sent chunked: curl sends it with a Content-Length (the same body)
    ("POST", "/chunked", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
     EVENT, 200),
]
RULES = ("--answer", "503 on /ruled", "--answer", "drop on /dropped")


def send(rec, method: str, target: str, headers: dict, body: bytes) -> int:
    """Send one request with http.client over TLS: the target and headers go as given."""
    url = urlsplit(rec.url)
    conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=30,
                                       context=ssl.create_default_context(cafile=rec.ca_file))
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        sent = {"Authorization": RIGHT, **headers}
        for name, value in sent.items():
            if value is not None:
                conn.putheader(name, value.encode("latin-1") if isinstance(value, str) else value)
        if "Transfer-Encoding" in headers:
            conn.endheaders(iter([body[:100], body[100:]]), encode_chunked=True)
        else:
            if body or method not in ("GET", "HEAD"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
        try:
            response = conn.getresponse()
        except http.client.RemoteDisconnected:
            return 0  # dropped by a rule: no answer
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A receiver and the originals it stored (their rows)."""
    tmp = tmp_path_factory.mktemp("curl-export")
    rec = start_receiver(tmp, "--max-body", str(MAX_BODY), *RULES)
    try:
        for method, target, headers, body, status in REQUESTS:
            assert send(rec, method, target, headers, body) == status, target
        rows = stored_rows(rec)
        assert [r["status"] for r in rows] == [r[4] for r in REQUESTS]
        yield rec, rows, tmp
    finally:
        rec.stop()


def write_script(capture: Path, path: Path, options: ExportOptions | None = None,
                 ids: list[int] | None = None) -> str:
    db = open_reader(capture)
    try:
        with path.open("wb") as out:
            export(db, "curl", out, options or ExportOptions(), ids=ids)
    finally:
        db.close()
    return path.read_text("utf-8")


def run(script: Path, rec, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "STREAMER_INSPECTOR_PASSWORD": PASSWORD,
                   "CURL_CA": rec.ca_file, **env}
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in environment.items() if v is not None},
                          check=False)


SAME = ("method", "target", "path", "query", "content_type", "content_encoding", "body",
        "auth", "auth_user", "status", "reason", "record_count", "endpoint")


def own_headers(row: dict) -> list[tuple[str, str]]:
    """The headers a client chose (curl and http.client differ in the rest)."""
    return [(k.lower(), v) for k, v in json.loads(row["headers"])
            if k.lower() not in ("host", "user-agent", "accept", "content-length",
                                 "transfer-encoding")]


def test_the_script_sends_every_request_again_as_it_was_received(recorded, tmp_path):
    rec, originals, _ = recorded
    script = tmp_path / "replay.sh"
    text = write_script(rec.capture, script, ids=[r["id"] for r in originals])
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -u\n" in text
    assert PASSWORD not in text and base64.b64encode(b"streamer:nope").decode() not in text
    before = len(stored_rows(rec))
    result = run(script, rec)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"All {len(REQUESTS)} requests got their recorded status." in result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("#")]
    assert lines[0] == f"#{originals[0]['id']} POST /: 200 (recorded 200)"
    assert any(line.endswith("GET /search?q=%2F%20&x: 405 (recorded 405)") for line in lines)
    replayed = stored_rows(rec)[before:]
    assert len(replayed) == len(originals)
    for original, again in zip(originals, replayed, strict=True):
        for name in SAME:
            assert again[name] == original[name], (original["target"], name)
        if original["path"] == "/wrong-cut":  # what the capture holds of it, no more
            assert (len(again["body"]), again["body_size"], original["body_size"]) == (
                4096, 4096, 6000)
        else:
            assert again["body_size"] == original["body_size"]
        assert own_headers(again) == own_headers(original), original["target"]
    # gzip went compressed again (the receiver inflated it), deflate too
    gz = next(r for r in replayed if r["path"] == "/gz")
    assert gz["content_encoding"] == "gzip" and gz["body"] == EVENT
    assert "gzip -c -n | curl" in text
    assert "answered by the answer rule 'drop on /dropped'" in text
    assert any(line.endswith("POST /dropped: 000 (recorded 000)") for line in lines)
    assert any(line.endswith("OPTIONS *: 405 (recorded 405)") for line in lines)


def test_a_status_that_differs_fails_the_script(recorded, tmp_path):
    rec, originals, _ = recorded
    first = [r["id"] for r in originals if r["auth"] == "ok"][:2]
    wrong_one = [r["id"] for r in originals if r["auth"] == "invalid"][:1]
    script = tmp_path / "replay.sh"
    write_script(rec.capture, script, ids=first + wrong_one)
    # The wrong password: the requests that carried the right one get 401 instead of 200;
    # the one that carried a wrong password still gets its 401.
    result = run(script, rec, STREAMER_INSPECTOR_PASSWORD="not-it")
    assert result.returncode == 1
    assert "2 of 3 requests got another status than the recorded one" in result.stderr
    assert f"#{first[0]} POST /: 401, recorded 200: DIFFERENT" in result.stdout
    assert f"#{wrong_one[0]} POST /wrong: 401 (recorded 401)" in result.stdout


def test_the_script_stops_at_the_start_without_the_password_it_needs(recorded, tmp_path):
    rec, originals, _ = recorded
    script = tmp_path / "replay.sh"
    write_script(rec.capture, script, ids=[originals[0]["id"]])
    before = len(stored_rows(rec))
    result = run(script, rec, STREAMER_INSPECTOR_PASSWORD=None)
    assert result.returncode == 2
    assert "Set STREAMER_INSPECTOR_PASSWORD" in result.stderr and "1 of the 1" in result.stderr
    assert len(stored_rows(rec)) == before  # nothing was sent
    # Requests without the right credentials need no password.
    unneeded = [r["id"] for r in originals if r["auth"] in ("missing", "invalid")]
    write_script(rec.capture, script, ids=unneeded)
    result = run(script, rec, STREAMER_INSPECTOR_PASSWORD=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "STREAMER_INSPECTOR_PASSWORD" not in result.stderr


def test_base_url_sends_them_elsewhere(recorded, tmp_path):
    rec, originals, _ = recorded
    script = tmp_path / "replay.sh"
    # Exported for an endpoint that is not there; BASE_URL (with a trailing slash) overrides.
    text = write_script(rec.capture, script, ExportOptions(base_url="https://localhost:9"),
                        ids=[originals[1]["id"]])
    assert "BASE_URL_1=${BASE_URL_1:-${BASE_URL:-https://localhost:9}}" in text
    before = len(stored_rows(rec))
    result = run(script, rec, BASE_URL=rec.url.rstrip("/") + "/")
    assert result.returncode == 0, result.stdout + result.stderr
    (again,) = stored_rows(rec)[before:]
    assert (again["target"], again["body"]) == (originals[1]["target"], HOSTILE)
    # Without the override, curl reaches nothing: no answer, a difference, exit 1.
    result = run(script, rec)
    assert result.returncode == 1
    assert ": 000, recorded 200: DIFFERENT" in result.stdout


def test_masking_covers_what_the_script_takes_from_the_capture(recorded, tmp_path):
    rec, originals, _ = recorded
    transform = mask_transform(Masker(new_key()))
    text = write_script(rec.capture, tmp_path / "masked.sh", ExportOptions(transform=transform),
                        ids=[originals[0]["id"]])
    iccid = json.loads(EVENT)[0]["sim"]["iccid"]
    assert iccid not in text
    assert "--data-raw" in text
    assert subprocess.run(["bash", "-n", str(tmp_path / "masked.sh")],
                          check=False).returncode == 0


def test_each_command_reads_back_as_its_request(recorded, tmp_path):
    # parse_curl (Paste cURL) reads the commands as the requests they send.
    rec, originals, _ = recorded
    text = write_script(rec.capture, tmp_path / "r.sh", ids=[r["id"] for r in originals])
    commands = [part.partition(")\ncheck ")[0] for part in text.split("\ngot=$(")[1:]]
    commands = [c for c in commands if "/dev/zero" not in c]  # the 413, padded
    assert len(commands) == len(originals) - 1
    by_path = {}
    for command in commands:
        request = parse_curl(command.replace('"${CURL_OPTIONS[@]}" ', ""))
        by_path[urlsplit(request.url.replace('"${BASE_URL_1}"', "https://h")).path] = request
    put = by_path["/put/it"]
    assert (put.method, put.header("Content-Type"), put.body) == (
        "PUT", "text/plain", b"plain text\nline 2\r\n\x00end")
    assert by_path["/gz"].header("Content-Encoding") == "gzip"
    assert gzip.decompress(by_path["/gz"].body) == EVENT
    assert zlib.decompress(by_path["/deflate"].body) == HOSTILE
    assert by_path["/p%20q/x%2Fy"].body == NOT_UTF8
    # The header's bytes as they came (Latin-1 here), not re-encoded as UTF-8
    assert by_path["/p%20q/x%2Fy"].header("X-Note").encode("utf-8", "surrogateescape") == (
        "grüße".encode("latin-1"))
    assert by_path["/missing"].user is None and by_path["/missing"].header(
        "Authorization") is None
    assert by_path["/bearer"].header("Authorization") == "Bearer ****"


def test_an_empty_selection_is_a_script_that_does_nothing(recorded, tmp_path):
    rec, _, _ = recorded
    script = tmp_path / "none.sh"
    text = write_script(rec.capture, script, ids=[])
    assert "STREAMER_INSPECTOR_PASSWORD to" not in text
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30,
                            check=False)
    assert result.returncode == 0 and "All 0 requests" in result.stdout


def test_the_command_line_writes_it(recorded, tmp_path):
    rec, _, _ = recorded
    out = tmp_path / "cli.sh"
    result = subprocess.run(
        [sys.executable, "-m", "app", "export", str(rec.capture), "--format", "curl", "-o",
         str(out)], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert out.read_text("utf-8").count("\ngot=$(") == len(stored_rows(rec))
    # executable by whoever may read it
    mode = out.stat().st_mode
    assert os.access(out, os.X_OK) and mode & 0o111 == (mode & 0o444) >> 2


def _row(target: str | None, **kw) -> RequestRow:
    return RequestRow(id=1, received_at="", peer=None, method="POST", path="/x", query="",
                      http_version="1.1", headers=[], status=200, reason=None, problems=[],
                      body=b"[]", record_count=0, counts={}, duration_ms=None,
                      source="received", target=target, **kw)


@pytest.mark.parametrize(("url", "target", "expected"), [
    # this app's endpoint (no path of its own): the recorded target, query included
    ("https://localhost:8443/", "/p%20q/x%2Fy?a=%2F", ("https://localhost:8443/p%20q/x%2Fy?a=%2F",
                                                       None)),
    ("http://127.0.0.1:9000", "/h?b=1", ("http://127.0.0.1:9000/h?b=1", None)),
    # a backend URL with its own path keeps it, with the recorded query unless it has one
    ("https://backend.example/hook", "/p?a=1", ("https://backend.example/hook?a=1", None)),
    ("https://backend.example/hook?k=2", "/p?a=1", ("https://backend.example/hook?k=2", None)),
    # what a URL cannot carry goes as --request-target
    ("https://localhost:8443/", "*", ("https://localhost:8443", "*")),
    ("https://localhost:8443/", "/f?x#top", ("https://localhost:8443/f?x", "/f?x#top")),
])
def test_copy_as_curl_aims_at_the_chosen_url(url, target, expected):
    assert replay_url(url, _row(target), lambda text: text) == expected


def test_gzip_is_applied_again_only_where_the_receiver_decoded_it():
    assert encodings_to_apply(_row("/", content_encoding="gzip", auth="ok")) == ["gzip"]
    assert encodings_to_apply(_row("/", content_encoding="deflate, gzip", auth="off")) == [
        "deflate", "gzip"]
    # a 401 keeps the body as it came; so does a 415 and a body that would not inflate
    assert encodings_to_apply(_row("/", content_encoding="gzip", auth="invalid")) == []
    assert encodings_to_apply(_row("/", content_encoding="br", auth="ok")) == []
    broken = _row("/", content_encoding="gzip", auth="ok")
    broken.status, broken.reason = 400, "the body could not be read as Content-Encoding gzip"
    assert encodings_to_apply(broken) == []
    # a body cut off in transit (a chunked body that broke) is stored as it came too
    cut = _row("/", content_encoding="gzip", auth="ok")
    cut.status, cut.reason = 400, "the body could not be read: Not enough data for satisfy"
    assert encodings_to_apply(cut) == []
    # a batch an answer rule answered (503) was accepted and decoded first
    ruled = _row("/", content_encoding="gzip", auth="ok", rule="503 for 1")
    ruled.status = 503
    assert encodings_to_apply(ruled) == ["gzip"]


def test_one_variable_per_endpoint_and_base_url_for_all(recorded, tmp_path):
    rec, _, _ = recorded
    capture = tmp_path / "two.sqlite"
    writer = CaptureWriter(capture)
    try:
        # (port 9, discard: nothing listens there; nor should a stray request reach another
        # test's receiver on a real port)
        for endpoint, target in (("https://localhost:9", "/one?a=%2F"),
                                 ("http://localhost:8080", "/two%20x")):
            stored = writer.store(Incoming(
                "POST", "/", EVENT, auth="ok", auth_user="streamer", peer="127.0.0.1",
                content_type="application/json", target=target, endpoint=endpoint,
                headers=[("Content-Type", "application/json"), ("Authorization", "Basic ****")]))
            assert stored.status == 200
    finally:
        writer.close()
    script = tmp_path / "two.sh"
    text = write_script(capture, script)
    assert "BASE_URL_1=${BASE_URL_1:-${BASE_URL:-https://localhost:9}}" in text
    assert "BASE_URL_2=${BASE_URL_2:-${BASE_URL:-http://localhost:8080}}" in text
    assert "\"${BASE_URL_2}\"/two%20x" in text
    before = len(stored_rows(rec))
    result = run(script, rec, BASE_URL=rec.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [r["target"] for r in stored_rows(rec)[before:]] == ["/one?a=%2F", "/two%20x"]
    # BASE_URL_<n> moves one endpoint's requests only: the other one's go nowhere.
    result = run(script, rec, BASE_URL_2=rec.url)
    assert result.returncode == 1
    assert "1 of 2 requests got another status" in result.stderr
