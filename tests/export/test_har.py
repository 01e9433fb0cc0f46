"""HAR 1.2 exports that other tools accept: valid against the HAR schema ``har-validator`` uses,
aimed at the endpoint that received each request with the target as it arrived, every entry
agreeing with itself, and an import that keeps every recorded answer.

One real receiver over TLS (small ``--max-body`` and three answer rules) gets every kind of
request from the real ``curl`` binary; its capture is exported, validated with ``jsonschema``
against the vendored ``har-schema`` (tests/data/har-schema), replayed, and imported again.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import subprocess
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.capture.importer import plan, run_import
from app.capture.schema import open_reader
from app.capture.writer import CaptureWriter
from app.export.common import ExportOptions
from app.export.registry import export
from tests.conftest import folded, start_receiver
from tests.export.har_schema import SCHEMA_DIR, VALIDATOR, validate
from tests.hostile import LATIN1_BODY, RECORDS, hostile_body
from tests.server.test_server import request

MAX_BODY = 65536
HOSTILE = hostile_body([n for n in RECORDS if n != "one_mb"])  # all but the 1 MB string
RULES = ("503 on /r503*", "drop on /drop*", "302 on /moved*")


# -- the schema ---------------------------------------------------------------------------------


def test_the_schema_checks_every_format_it_names():
    names = set()
    for path in SCHEMA_DIR.glob("*.json"):
        names |= set(re.findall(r'"format": "([^"]+)"', path.read_text()))
    assert names == {"uri", "date-time", "ipv4", "ipv6"}
    assert names <= set(VALIDATOR.format_checker.checkers)
    entry = {"startedDateTime": "2026-11-30T10:00:00.000Z", "time": 0, "cache": {},
             "timings": {"send": 0, "wait": 0, "receive": 0},
             "request": {"method": "POST", "url": "https://localhost:8443/p%20q/x%2Fy?a=1",
                         "httpVersion": "HTTP/1.1", "cookies": [], "headers": [],
                         "queryString": [], "headersSize": -1, "bodySize": 0},
             "response": {"status": 0, "statusText": "", "httpVersion": "", "cookies": [],
                          "headers": [], "content": {"size": 0, "mimeType": "x-unknown"},
                          "redirectURL": "", "headersSize": -1, "bodySize": -1}}
    validate({"log": {"version": "1.2", "creator": {"name": "x", "version": "1"},
                      "entries": [entry]}})
    # what the export wrote before format 7: a decoded path is no URI
    for url in ("https://localhost:8443/p q/x/y", "https://localhost:8443/a[1]",
                "https://localhost:8443/é", "https://localhost:8443/%zz", "/hook",
                "https://[nonsense]:8443/", "https://localhost:8443/a#b#c"):
        bad = json.loads(json.dumps(entry))
        bad["request"]["url"] = url
        with pytest.raises(AssertionError, match="is not a 'uri'"):
            validate({"log": {"version": "1.2", "creator": {"name": "x", "version": "1"},
                              "entries": [bad]}})
    bad["request"]["url"] = "https://localhost:8443/"
    bad["startedDateTime"] = "2026-11-30T25:00:00Z"
    with pytest.raises(AssertionError, match="is not a 'date-time'"):
        validate({"log": {"version": "1.2", "creator": {"name": "x", "version": "1"},
                          "entries": [bad]}})


# -- one capture holding every kind of request ----------------------------------------------------


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


BOMB = _gzip(b"[" + b" " * (4 * MAX_BODY) + b"]")  # small on the wire, too big decoded
SENT = [
    # (name, curl arguments after the URL's path, the status)
    ("gzip", dict(path="/hook%2Fa?x=%20&y=1+2&z=%C3%BC", body=_gzip(HOSTILE),
                  headers=["Content-Encoding: gzip"]), 200),
    ("deflate", dict(path="/hook", body=zlib.compress(HOSTILE),
                     headers=["Content-Encoding: deflate"]), 200),
    ("plain", dict(path="/p%20q/x%2Fy", body=HOSTILE), 200),
    ("gzip chunked", dict(path="/hook", body=_gzip(HOSTILE), chunked=True,
                          headers=["Content-Encoding: gzip"]), 200),
    ("not utf-8", dict(path="/hook", body=LATIN1_BODY), 400),
    ("empty", dict(path="/hook", body=b""), 400),
    ("status page", dict(path="/", method="GET", auth=False), 200),
    ("head", dict(path="/", method="HEAD", auth=False), 200),
    ("put", dict(path="/hook", method="PUT", body=HOSTILE), 405),
    ("get", dict(path="/hook?a=1", method="GET"), 405),
    ("missing credentials", dict(path="/hook", body=HOSTILE, auth=False), 401),
    ("wrong credentials gzip", dict(path="/hook", body=_gzip(HOSTILE), auth="wrong",
                                    headers=["Content-Encoding: gzip"]), 401),
    ("too big declared", dict(path="/hook", body=b"[" + b" " * MAX_BODY + b"]"), 413),
    ("too big chunked", dict(path="/hook", body=b"[" + b" " * (2 * MAX_BODY) + b"]",
                             chunked=True), 413),
    ("too big decoded", dict(path="/hook", body=BOMB, headers=["Content-Encoding: gzip"]),
     413),
    ("unknown coding", dict(path="/hook", body=b"\x8b\x03\x80[]\x03",
                            headers=["Content-Encoding: br"]), 415),
    ("rule 503 gzip", dict(path="/r503", body=_gzip(HOSTILE),
                           headers=["Content-Encoding: gzip"]), 503),
    ("rule drop", dict(path="/drop", body=HOSTILE), 0),
    ("rule redirect", dict(path="/moved?x=1", body=HOSTILE), 302),
    ("absolute form", dict(target="http://proxy.example/abs%2Fx?q=1", body=HOSTILE), 200),
    ("asterisk", dict(target="*", method="OPTIONS"), 405),
]
NAMES = [name for name, _, _ in SENT]


def send(rec, tmp: Path, *, path: str = "/", body: bytes | None = None, method: str = "POST",
         headers: tuple | list = (), auth: bool | str = True, chunked: bool = False,
         target: str | None = None) -> int:
    """One request with the real curl; the status it got (0: no answer)."""
    args = ["curl", "-sS", "--cacert", rec.ca_file, "-o", "/dev/null", "-w", "%{http_code}",
            "--path-as-is", "-X", method, "-H", "Content-Type: application/json"]
    if auth is True:
        args += ["-u", f"{rec.user}:{rec.password}"]
    elif auth:
        args += ["-u", f"{rec.user}:{auth}"]
    for header in headers:
        args += ["-H", header]
    if chunked:
        args += ["-H", "Transfer-Encoding: chunked"]
    if body is not None:
        file = tmp / f"body-{len(list(tmp.iterdir()))}"
        file.write_bytes(body)
        args += ["--data-binary", f"@{file}"]
    if method == "HEAD":
        args[args.index("-X"):args.index("-X") + 2] = ["-I"]
    if target is not None:
        args += ["--request-target", target]
    args.append(rec.url.rstrip("/") + ("" if target is not None else path))
    result = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return int(result.stdout[-3:] or 0)


@pytest.fixture(scope="module")
def received(tmp_path_factory):
    """The receiver after every kind of request (SENT), in that order."""
    tmp = tmp_path_factory.mktemp("har")
    args = ["--max-body", str(MAX_BODY)]
    for rule in RULES:
        args += ["--answer", rule]
    rec = start_receiver(tmp, *args)
    bodies = tmp / "bodies"
    bodies.mkdir()
    try:
        for name, kwargs, status in SENT:
            assert send(rec, bodies, **kwargs) == status, name
        yield rec
    finally:
        rec.stop()


def export_har(capture: Path, options: ExportOptions | None = None) -> dict:
    db = open_reader(capture)
    try:
        out = io.BytesIO()
        export(db, "har", out, options or ExportOptions())
    finally:
        db.close()
    har = json.loads(out.getvalue())
    validate(har)
    return har


@pytest.fixture(scope="module")
def har(received) -> dict:
    har = export_har(received.capture)
    assert len(har["log"]["entries"]) == len(SENT)
    return har


def entry_of(har: dict, name: str) -> dict:
    return har["log"]["entries"][NAMES.index(name)]


def posted(entry: dict) -> bytes:
    post = entry["request"].get("postData")
    if post is None:
        return b""
    if post.get("_encoding") == "base64":
        return base64.b64decode(post["text"])
    return post["text"].encode("utf-8")


def headers_of(pairs: list[dict]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        out.setdefault(pair["name"].lower(), pair["value"])
    return out


def check_consistent(entry: dict) -> None:
    """An entry agrees with itself: postData, bodySize and the headers describe the same bytes;
    the answer's content, size and redirect agree."""
    req = entry["request"]
    body = posted(entry)
    assert req["bodySize"] == len(body)
    headers = headers_of(req["headers"])
    if "content-length" in headers:
        assert int(headers["content-length"]) == len(body)
    coding = headers.get("content-encoding", "identity").lower()
    if coding in ("gzip", "x-gzip"):
        gzip.decompress(body)  # the body is what the header says: compressed
    elif coding == "deflate":
        zlib.decompress(body)
    else:
        assert coding == "identity" or entry["response"]["status"] == 415
    if "postData" in req:
        assert req["postData"]["mimeType"] == headers.get("content-type", "")
    query = urlsplit(req["url"]).query
    assert bool(req["queryString"]) == bool(query)
    res = entry["response"]
    if res["status"] == 0:
        assert res["bodySize"] == -1 and res["content"]["size"] == 0 and res["headers"] == []
        return
    content = res["content"]
    text = content.get("text", "")
    size = len(base64.b64decode(text)) if content.get("encoding") == "base64" else len(
        text.encode("utf-8"))
    assert content["size"] == res["bodySize"] == size
    assert bool(res["redirectURL"]) == (300 <= res["status"] < 400)
    answer = headers_of(res["headers"])
    if "content-type" in answer:
        assert content["mimeType"] == answer["content-type"]


# -- the export ----------------------------------------------------------------------------------


def test_every_entry_is_valid_and_agrees_with_itself(har):
    for name, entry in zip(NAMES, har["log"]["entries"], strict=True):
        try:
            check_consistent(entry)
        except (AssertionError, OSError, zlib.error) as exc:
            raise AssertionError(f"{name}: {exc}") from exc


def test_statuses_and_urls_are_the_recorded_ones(received, har):
    endpoint = received.url.rstrip("/")
    for (name, kwargs, status), entry in zip(SENT, har["log"]["entries"], strict=True):
        assert entry["response"]["status"] == status, name
        # the absolute form's path and query; the asterisk form as the endpoint's empty path
        path = {"*": "", None: kwargs.get("path")}.get(kwargs.get("target"), "/abs%2Fx?q=1")
        assert entry["request"]["url"] == endpoint + path, name
        assert entry["_streamer_inspector"]["endpoint"] == endpoint
        assert entry["_streamer_inspector"]["target"] == kwargs.get("target",
                                                                    kwargs.get("path"))
    assert entry_of(har, "gzip")["request"]["queryString"] == [
        {"name": "x", "value": " "}, {"name": "y", "value": "1 2"},
        {"name": "z", "value": "ü"}]


def test_a_compressed_body_is_described_decoded_and_the_wire_kept(har):
    for name, coding in (("gzip", "gzip"), ("deflate", "deflate"), ("rule 503 gzip", "gzip")):
        entry = entry_of(har, name)
        req = entry["request"]
        assert posted(entry) == HOSTILE, name
        names = [h["name"].lower() for h in req["headers"]]
        assert "content-encoding" not in names
        assert headers_of(req["headers"])["content-length"] == str(len(HOSTILE))
        wire = entry["_streamer_inspector"]["wire"]
        wire_headers = headers_of(wire["headers"])
        assert wire["contentEncoding"] == wire_headers["content-encoding"] == coding
        assert wire["bodySize"] == int(wire_headers["content-length"]) < len(HOSTILE)
        assert f"Content-Encoding {coding}" in entry["comment"]
    chunked = entry_of(har, "gzip chunked")
    assert "content-length" not in headers_of(chunked["request"]["headers"])
    assert chunked["_streamer_inspector"]["wire"]["bodySize"] == -1  # not known
    # an entry nothing changed in says nothing about the wire
    assert "wire" not in entry_of(har, "plain")["_streamer_inspector"]


def test_a_refused_body_stays_as_it_was_sent_and_says_how_much_arrived(har):
    wrong = entry_of(har, "wrong credentials gzip")  # never decoded: still gzip, whole
    assert headers_of(wrong["request"]["headers"])["content-encoding"] == "gzip"
    assert gzip.decompress(posted(wrong)) == HOSTILE
    assert "wire" not in wrong["_streamer_inspector"]
    declared = entry_of(har, "too big declared")  # refused on its Content-Length: none read
    assert posted(declared) == b"" and declared["request"]["bodySize"] == 0
    assert headers_of(declared["request"]["headers"])["content-length"] == "0"
    assert declared["_streamer_inspector"]["wire"]["bodySize"] == MAX_BODY + 2
    assert "only the first 0 bytes" in declared["comment"]
    chunked = entry_of(har, "too big chunked")  # read until the limit was passed
    assert posted(chunked) == b"[" + b" " * (MAX_BODY - 1)  # its first --max-body bytes
    assert chunked["request"]["bodySize"] == MAX_BODY
    assert MAX_BODY < chunked["_streamer_inspector"]["wire"]["bodySize"] <= 2 * MAX_BODY + 2
    bomb = entry_of(har, "too big decoded")  # kept as sent, whole: compressed
    assert posted(bomb) == BOMB
    assert headers_of(bomb["request"]["headers"])["content-encoding"] == "gzip"
    assert "wire" not in bomb["_streamer_inspector"] and "comment" not in bomb
    unknown = entry_of(har, "unknown coding")
    assert posted(unknown) == b"\x8b\x03\x80[]\x03"
    assert unknown["request"]["postData"]["_encoding"] == "base64"


def test_the_other_kinds_of_entry(har):
    latin = entry_of(har, "not utf-8")
    assert posted(latin) == LATIN1_BODY
    head = entry_of(har, "head")
    assert head["response"]["content"] == {"size": 0, "mimeType": "text/plain; charset=utf-8",
                                           "text": ""}
    assert "postData" not in head["request"] and head["request"]["bodySize"] == 0
    drop = entry_of(har, "rule drop")
    assert drop["response"]["_error"].startswith("answer rule 'drop on /drop*'")
    assert drop["_streamer_inspector"]["acked"] is False
    moved = entry_of(har, "rule redirect")
    location = headers_of(moved["response"]["headers"])["location"]
    assert moved["response"]["redirectURL"] == location == "/moved/moved"


def test_a_compressed_entry_replays_to_its_recorded_status(received, har, tmp_path):
    """The request a HAR entry describes, sent as it is (only the masked credentials filled
    in), gets the status recorded: a replay of a gzip entry is no longer a 400."""
    auth = "Basic " + base64.b64encode(f"{received.user}:{received.password}".encode()).decode()
    for name in ("gzip", "deflate", "gzip chunked", "plain"):
        req = entry_of(har, name)["request"]
        headers = {h["name"]: h["value"] for h in req["headers"]
                   if h["name"].lower() not in ("host", "authorization", "content-length",
                                                "transfer-encoding")}
        headers["Authorization"] = auth
        path = req["url"][len(received.url.rstrip("/")):]
        status, _, answer = request(received, req["method"], path, posted(
            entry_of(har, name)), headers)
        assert status == 200, (name, answer)
        assert json.loads(answer)["records"] == len(HOSTILE_NAMES)


HOSTILE_NAMES = [n for n in RECORDS if n != "one_mb"]


# -- import ---------------------------------------------------------------------------------------


def imported(tmp_path: Path, source: Path) -> Path:
    target = tmp_path / "imported.sqlite"
    kind, planned = plan(source)
    writer = CaptureWriter(target)
    try:
        assert run_import(writer, kind, planned).state == "done"
    finally:
        writer.close()
    return target


def _same_request(entry: dict) -> dict:
    """What an export → import → export round trip keeps of an entry."""
    req = entry["request"]
    ours = entry["_streamer_inspector"]
    return {"method": req["method"], "url": req["url"], "httpVersion": req["httpVersion"],
            "headers": req["headers"], "queryString": req["queryString"],
            "postData": req.get("postData"), "bodySize": req["bodySize"],
            "status": entry["response"]["status"], "target": ours["target"],
            "endpoint": ours["endpoint"], "wire": ours.get("wire"), "auth": ours["auth"],
            "reason": ours["reason"], "rule": ours["rule"], "acked": ours["acked"],
            "record_count": ours["record_count"], "counts": ours["counts"],
            "comment": entry.get("comment")}


def test_export_import_export_gives_the_same_requests(received, har, tmp_path):
    source = tmp_path / "first.har"
    source.write_text(json.dumps(har))
    copy = imported(tmp_path, source)
    again = export_har(copy)
    first = [_same_request(e) for e in har["log"]["entries"]]
    second = [_same_request(e) for e in again["log"]["entries"]]
    for name, a, b in zip(NAMES, first, second, strict=True):
        assert a == b, name
    db = open_reader(copy)
    try:
        got = db.execute("SELECT status, reason, record_count, auth, target, endpoint, "
                         "method, path, query FROM request ORDER BY id").fetchall()
        records = [t for (t,) in db.execute("SELECT json FROM record ORDER BY id")]
    finally:
        db.close()
    # (later tests of the module add requests: not those)
    db = open_reader(folded(received.capture))
    try:
        want = db.execute("SELECT status, reason, record_count, auth, target, endpoint, "
                          "method, path, query FROM request WHERE id <= ? ORDER BY id",
                          (len(SENT),)).fetchall()
        want_records = [t for (t,) in db.execute(
            "SELECT json FROM record WHERE request_id <= ? ORDER BY id", (len(SENT),))]
    finally:
        db.close()
    assert got == want
    assert records == want_records  # the hostile records, byte for byte
    by_name = dict(zip(NAMES, got, strict=True))
    for name in ("missing credentials", "wrong credentials gzip"):
        assert by_name[name][:3] == (401, want[NAMES.index(name)][1], 0)


def test_a_masked_export_imports_and_stays_valid(received, tmp_path):
    from app.export.masking import Masker, new_key
    from app.export.transfer import mask_transform

    options = ExportOptions(transform=mask_transform(Masker(new_key())))
    masked = export_har(received.capture, options)
    source = tmp_path / "masked.har"
    source.write_text(json.dumps(masked))
    copy = imported(tmp_path, source)
    db = open_reader(copy)
    try:
        statuses = [s for (s,) in db.execute("SELECT status FROM request ORDER BY id")]
    finally:
        db.close()
    assert statuses[:len(SENT)] == [status for _, _, status in SENT]


def test_another_tools_har_keeps_a_refusal_and_judges_an_acceptance(tmp_path):
    """A HAR this app did not write: a POST refused with a 4xx is stored refused, without
    records; a 200 is judged again and its records imported."""
    def entry(status: int) -> dict:
        return {"startedDateTime": "2026-01-01T00:00:00.000Z", "time": 1,
                "request": {"method": "POST", "url": "http://[2001:db8::5]:8080/in%2Fx?a=%20",
                            "httpVersion": "HTTP/1.1", "headers": [
                                {"name": "Authorization", "value": "Basic c2VjcmV0"}],
                            "postData": {"mimeType": "application/json",
                                         "text": HOSTILE.decode()}},
                "response": {"status": status, "headers": [], "content": {"text": ""}}}

    path = tmp_path / "other.har"
    path.write_text(json.dumps({"log": {"version": "1.2",
                                        "entries": [entry(401), entry(200), entry(413)]}}))
    db = open_reader(imported(tmp_path, path))
    try:
        rows = db.execute("SELECT status, record_count, reason, target, endpoint, path, query, "
                          "headers FROM request ORDER BY id").fetchall()
    finally:
        db.close()
    assert [r[:2] for r in rows] == [(401, 0), (200, len(HOSTILE_NAMES)), (413, 0)]
    assert rows[0][2] == "imported from a HAR file (answered 401)"
    assert rows[1][3:7] == ("/in%2Fx?a=%20", "http://[2001:db8::5]:8080", "/in/x", "a= ")
    assert "c2VjcmV0" not in rows[0][7]  # the credentials are masked, as the receiver does
