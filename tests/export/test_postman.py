"""Postman Collection v2.1 export: valid against the published schema, aimed at the endpoint that
recorded the capture, each item's auth, body and headers as recorded, and a test of its status.

One real receiver (``serve`` over TLS, Basic Auth, two answer rules) records what a real
aiohttp client sends: hostile bodies, a body that is not UTF-8, a gzip body, a target with
``%2F`` and ``%20``, wrong and missing credentials, a 400, a 405, a 413 and two batches an
answer rule answered (503, dropped). The export of that capture is read back with json and
validated with ``jsonschema`` against the vendored v2.1.0 schema (tests/data/postman). The slow
test replays it with the real ``newman`` against the same receiver and compares what the
receiver stored the second time with what it stored the first.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import gzip
import io
import json
import os
import shutil
import ssl
import subprocess
from pathlib import Path

import aiohttp
import jsonschema
import pytest
import yarl

from app.capture.schema import open_reader
from app.capture.writer import CaptureWriter, Incoming
from app.export.common import ExportOptions
from app.export.masking import Masker, new_key
from app.export.postman import POSTMAN_SCHEMA, WRONG_PASSWORD, write_postman
from app.export.registry import export
from app.export.rows import request_rows
from app.export.transfer import mask_transform
from tests.conftest import EVENT_SAMPLE, ROOT, USAGE_SAMPLE, folded, start_receiver
from tests.hostile import IDENTIFIERS, LATIN1_BODY, LATIN1_IDENTIFIERS, hostile_body

SCHEMAS = ROOT / "tests" / "data" / "postman"
USER, PASSWORD = "streamer", "test-password"
NEWMAN = "newman@6.2.2"
RULES = ("503 for 1", "drop for 1")  # the first two batches the endpoint accepts


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


RIGHT = basic(USER, PASSWORD)
JSON = {"Content-Type": "application/json"}
BATCH = EVENT_SAMPLE.read_bytes()
MUNICH = b'[{"x":"M\xfcnchen"}]'  # not UTF-8
CURLY = json.dumps([{"id": 7, "description": "{{password}} and {{baseUrl}}"}]).encode()
COMMENTED = b'[{"id": 1} // the second\n, {"id": 2}]'  # a JSON comment: invalid, 400


@dataclasses.dataclass(frozen=True)
class Sent:
    label: str
    method: str
    target: str
    body: bytes
    headers: dict
    auth: str | None
    status: int  # what the receiver stores (0: no answer)


SENT = [
    Sent("rule 503", "POST", "/hook", BATCH, JSON, RIGHT, 503),
    Sent("rule drop", "POST", "/hook", USAGE_SAMPLE.read_bytes(), JSON, RIGHT, 0),
    Sent("hostile", "POST", "/hook?x=%2F&y=%20z", hostile_body(), JSON, RIGHT, 200),
    Sent("raw target", "POST", "/p%20q/x%2Fy?a=%2F&b=%20c&d", BATCH, JSON, RIGHT, 200),
    Sent("braces", "POST", "/hook", CURLY, JSON, RIGHT, 200),
    Sent("gzip", "POST", "/hook", gzip.compress(BATCH), {**JSON, "Content-Encoding": "gzip"},
         RIGHT, 200),
    Sent("no content type", "POST", "/hook", BATCH, {}, RIGHT, 200),
    Sent("expect 100-continue", "POST", "/hook", BATCH, {**JSON, "Expect": "100-continue"},
         RIGHT, 200),
    Sent("text/plain", "POST", "/hook", b"[]", {"Content-Type": "text/plain"}, RIGHT, 200),
    Sent("not UTF-8", "POST", "/hook", MUNICH, JSON, RIGHT, 400),
    Sent("Latin-1", "POST", "/hook", LATIN1_BODY, JSON, RIGHT, 400),
    Sent("comment", "POST", "/hook", COMMENTED, JSON, RIGHT, 400),
    Sent("empty", "POST", "/hook", b"", JSON, RIGHT, 400),
    Sent("wrong password", "POST", "/hook", BATCH, JSON, basic(USER, "nope"), 401),
    Sent("wrong password, a long body", "POST", "/hook", b"[" + b" " * 6000 + b"{}]", JSON,
         basic(USER, "nope"), 401),  # stored: its first 4 KB; refused again all the same
    Sent("wrong user", "POST", "/hook", BATCH, JSON, basic("someone", PASSWORD), 401),
    Sent("bearer", "POST", "/hook", BATCH, JSON, "Bearer abc.def", 401),
    Sent("no credentials", "POST", "/hook", BATCH, JSON, None, 401),
    Sent("GET with a body", "GET", "/hook?a=1", b"[{}]", JSON, RIGHT, 405),
    Sent("PUT", "PUT", "/hook", BATCH, JSON, RIGHT, 405),
    Sent("status page", "GET", "/", b"", {}, RIGHT, 200),
    Sent("HEAD", "HEAD", "/", b"", {}, None, 200),
    Sent("too big", "POST", "/hook", b"[" + b" " * (3 << 20) + b"]", JSON, RIGHT, 413),
]
LABELS = [s.label for s in SENT]


def by_label(items: list) -> dict:
    return dict(zip(LABELS, items, strict=True))


async def _send_all(rec, sent: list[Sent]) -> list[int]:
    ctx = ssl.create_default_context(cafile=rec.ca_file)
    statuses = []
    for s in sent:
        headers = dict(s.headers)
        if s.auth:
            headers["Authorization"] = s.auth
        # aiohttp wants large bodies as a stream (it warns otherwise); the target as it is
        data = io.BytesIO(s.body) if len(s.body) > 512 * 1024 else (s.body or None)
        url = yarl.URL(rec.url.rstrip("/") + s.target, encoded=True)
        try:
            async with aiohttp.ClientSession(skip_auto_headers=("Content-Type",)) as session, \
                    session.request(s.method, url, data=data, headers=headers, ssl=ctx,
                                    allow_redirects=False) as resp:
                await resp.read()
                statuses.append(resp.status)
        except aiohttp.ClientError:  # dropped by a rule; a 413 that stopped the upload
            statuses.append(0)
    # A TLS transport given up on (a drop, the 413 answered while the body was still being
    # sent) closes after its session: let it, before asyncio.run closes the loop (else a later
    # test reports it unclosed).
    await asyncio.sleep(0.5)
    return statuses


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The receiver (still running, for the replay) and the capture's recorded requests."""
    tmp = tmp_path_factory.mktemp("postman")
    env = {**os.environ, **{k: str(tmp / "home" / k) for k in (
        "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")}}
    rules = [arg for rule in RULES for arg in ("--answer", rule)]
    rec = start_receiver(tmp, "--max-body", "2m", *rules, user=USER, password=PASSWORD,
                         env=env)
    try:
        answered = asyncio.run(_send_all(rec, SENT))
        db = open_reader(folded(rec.capture))
        try:
            rows = list(request_rows(db, range(1, len(SENT) + 1)))
        finally:
            db.close()
        assert [r.status for r in rows] == [s.status for s in SENT]
        assert [a for a, s in zip(answered, SENT, strict=True) if s.status != 413] == [
            s.status for s in SENT if s.status != 413]
        yield rec, rows
    finally:
        rec.stop()


@pytest.fixture(scope="module")
def rows(recorded):
    return recorded[1]


def collection_of(rows, options: ExportOptions | None = None) -> dict:
    out = io.BytesIO()
    assert write_postman(rows, out, options or ExportOptions()) == len(rows)
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def collection(rows):
    return collection_of(rows)


def body_bytes(request: dict) -> bytes:
    """The bytes newman sends for an item's body (postman-runtime: raw text as UTF-8, file
    content decoded from base64)."""
    body = request.get("body")
    if body is None:
        return b""
    if body["mode"] == "raw":
        return body["raw"].encode()
    assert body["mode"] == "file" and set(body["file"]) == {"content"}
    return base64.b64decode(body["file"]["content"], validate=True)


def header_list(request: dict) -> list[tuple[str, str]]:
    return [(h["key"], h["value"]) for h in request["header"]]


def script_of(item: dict) -> str:
    [event] = item["event"]
    assert event["listen"] == "test" and event["script"]["type"] == "text/javascript"
    return "\n".join(event["script"]["exec"])


def validators():
    for name in ("collection-v2.1.0.json", "collection-v2.1.0.draft-04.json"):
        schema = json.loads((SCHEMAS / name).read_text())
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        yield name, cls(schema)


def check_collection(collection: dict) -> None:
    """Valid against the published Postman Collection v2.1.0 schema (draft-07 and -04)."""
    for name, validator in validators():
        errors = [f"{list(e.absolute_path)}: {e.message[:200]}"
                  for e in validator.iter_errors(collection)]
        assert not errors, (name, errors[:5])


# ---------------------------------------------------------------------------------------------
# The collection


def test_the_export_validates_against_the_published_v2_1_schema(rows, collection):
    check_collection(collection)
    assert collection["info"]["schema"] == POSTMAN_SCHEMA
    masked = collection_of(rows, ExportOptions(transform=mask_transform(Masker(new_key()))))
    check_collection(masked)
    # the schema is no formality: a body mode v2.1 does not have is refused
    broken = json.loads(json.dumps(collection))
    broken["item"][2]["request"]["body"] = {"mode": "base64", "raw": "W10="}
    for _name, validator in validators():
        assert not validator.is_valid(broken)


def test_the_registry_writes_the_same_collection(recorded):
    rec, rows = recorded
    db = open_reader(folded(rec.capture))
    try:
        out = io.BytesIO()
        assert export(db, "postman", out, ids=[r.id for r in rows]) == len(rows)
    finally:
        db.close()
    got = json.loads(out.getvalue())
    expected = collection_of(rows)
    for c in (got, expected):
        del c["info"]["_postman_id"]  # a fresh one each time
    assert got == expected


def test_base_url_is_the_endpoint_that_received_the_requests(recorded, collection):
    rec, rows = recorded
    endpoint = rec.url.rstrip("/")  # https://localhost:PORT
    assert collection["variable"] == [
        {"key": "baseUrl", "value": endpoint, "type": "string",
         "description": "the endpoint that received the requests using it"}]
    items = by_label(collection["item"])
    for label, item in items.items():
        sent = next(s for s in SENT if s.label == label)
        assert item["request"]["url"] == "{{baseUrl}}" + sent.target, label
        assert item["protocolProfileBehavior"]["disableUrlEncoding"] is True
    assert items["raw target"]["name"] == "#4 POST /p%20q/x%2Fy 200 (1 record)"
    # --base-url sends every request elsewhere: one variable
    other = collection_of(rows, ExportOptions(base_url="http://10.1.2.3:9000/"))
    assert [(v["key"], v["value"]) for v in other["variable"]] == [
        ("baseUrl", "http://10.1.2.3:9000")]


def test_requests_from_several_endpoints_get_a_variable_each(rows):
    """``baseUrl`` for the first endpoint met, ``baseUrl2``, ``baseUrl3`` for the next ones."""
    endpoints = ["https://localhost:8443", "http://192.0.2.7:8080", "https://localhost:8443",
                 "https://[::1]:9443", "http://192.0.2.7:8080"]
    mixed = [dataclasses.replace(row, endpoint=e) for row, e in zip(rows, endpoints,
                                                                    strict=False)]
    collection = collection_of(mixed)
    check_collection(collection)
    assert [(v["key"], v["value"]) for v in collection["variable"]] == [
        ("baseUrl", "https://localhost:8443"), ("baseUrl2", "http://192.0.2.7:8080"),
        ("baseUrl3", "https://[::1]:9443")]
    assert [i["request"]["url"].partition("}}")[0] + "}}" for i in collection["item"]] == [
        "{{baseUrl}}", "{{baseUrl2}}", "{{baseUrl}}", "{{baseUrl3}}", "{{baseUrl2}}"]


def test_no_password_variable_and_the_description_says_how_to_give_it(collection):
    assert all(v["key"] != "password" for v in collection["variable"])
    text = collection["info"]["description"]
    assert "--env-var password=" in text and "--ssl-extra-ca-certs ca.pem" in text


# ---------------------------------------------------------------------------------------------
# Items: auth, body, headers, test


def test_each_item_carries_the_auth_it_was_recorded_with(collection):
    items = by_label(collection["item"])

    def auth(label):
        return items[label]["request"]["auth"]

    def basic_auth(user, password):
        return {"type": "basic", "basic": [
            {"key": "username", "value": user, "type": "string"},
            {"key": "password", "value": password, "type": "string"}]}

    for label in ("hostile", "not UTF-8", "too big", "GET with a body", "rule 503"):
        assert auth(label) == basic_auth(USER, "{{password}}"), label
    assert WRONG_PASSWORD.startswith("{{password}}") and WRONG_PASSWORD != "{{password}}"
    assert auth("wrong password") == basic_auth(USER, WRONG_PASSWORD)
    assert auth("wrong user") == basic_auth("someone", WRONG_PASSWORD)
    assert auth("no credentials") == auth("bearer") == auth("HEAD") == {"type": "noauth"}
    # a credential the receiver could not read is sent as recorded: refused again
    credentials = {label: [v for k, v in header_list(item["request"])
                           if k.lower() == "authorization"] for label, item in items.items()}
    assert credentials.pop("bearer") == ["Bearer ****"]
    assert not any(credentials.values())
    assert "wrong again" in items["wrong password"]["request"]["description"]


def test_an_endpoint_without_auth_replays_without_credentials(tmp_path):
    """``auth`` off: noauth. A credential kept as recorded is masked even when an older tool's
    capture holds it in clear."""
    path = tmp_path / "open.sqlite"
    writer = CaptureWriter(path)
    try:
        writer.store(Incoming("POST", "/", BATCH, auth="off", content_type="application/json",
                              headers=[("Content-Type", "application/json"),
                                       ("Authorization", "Basic c2VjcmV0OnRva2Vu")]))
        writer.store(Incoming("POST", "/", BATCH, auth="invalid", content_type="text/plain",
                              headers=[("Content-Type", "text/plain"),
                                       ("Authorization", "Bearer secret-token")]))
    finally:
        writer.close()
    db = open_reader(path)
    try:
        data = json.dumps(collection_of(list(request_rows(db))))
    finally:
        db.close()
    off, invalid = json.loads(data)["item"]
    assert off["request"]["auth"] == invalid["request"]["auth"] == {"type": "noauth"}
    assert ("Authorization", "Basic ****") in header_list(off["request"])
    assert ("Authorization", "Bearer ****") in header_list(invalid["request"])
    assert "c2VjcmV0OnRva2Vu" not in data and "secret-token" not in data


def test_the_transform_reaches_the_user(rows):
    """Masking sees the recorded user too; what Basic Auth cannot carry (":") is replaced."""
    changed = collection_of(rows, ExportOptions(transform=lambda t: t.replace(USER, "a:b")))
    users = {next(a["value"] for a in i["request"]["auth"]["basic"] if a["key"] == "username")
             for i in changed["item"] if i["request"]["auth"]["type"] == "basic"}
    assert users == {"a_b", "someone"}


def test_every_body_is_sent_byte_for_byte(rows, collection):
    items = by_label(collection["item"])
    for row, item in zip(rows, collection["item"], strict=True):
        assert body_bytes(item["request"]) == row.body, item["name"]
        if row.body:
            assert item["protocolProfileBehavior"]["disableBodyPruning"] is True
        else:
            assert "body" not in item["request"]
    mode = {label: item["request"].get("body", {}).get("mode") for label, item in items.items()}
    # raw text only when newman sends it unchanged; else base64 file content
    assert mode["not UTF-8"] == mode["Latin-1"] == "file"
    assert mode["braces"] == "file"  # "{{password}}" in raw text would be replaced
    assert mode["no content type"] == "file"  # raw would add a Content-Type
    assert mode["hostile"] == mode["gzip"] == mode["comment"] == mode["text/plain"] == "raw"
    language = {label: item["request"]["body"]["options"]["raw"]["language"]
                for label, item in items.items() if mode[label] == "raw"}
    assert language["hostile"] == "json"
    assert language["comment"] == "text"  # "json" makes newman strip the comment
    assert language["text/plain"] == "text"
    assert body_bytes(items["not UTF-8"]["request"]) == MUNICH
    assert body_bytes(items["gzip"]["request"]) == BATCH  # stored inflated


def test_headers_as_recorded_but_those_newman_computes(rows, collection):
    for row, item in zip(rows, collection["item"], strict=True):
        dropped = {"content-length", "host", "transfer-encoding"}
        if not (row.auth == "invalid" and row.auth_user is None):  # else: sent as recorded
            dropped.add("authorization")
        if row.content_encoding == "gzip":  # the stored body is the inflated one
            dropped.add("content-encoding")
        expected = [(k, v) for k, v in row.headers if k.lower() not in dropped]
        assert header_list(item["request"]) == expected, item["name"]
        assert {"Accept", "User-Agent"} <= {k for k, _ in expected}, item["name"]
    gz = by_label(collection["item"])["gzip"]["request"]
    assert not any(k.lower() == "content-encoding" for k, _ in header_list(gz))
    assert "Content-Encoding gzip" in gz["description"]


def test_a_refused_gzip_body_keeps_its_content_encoding(rows):
    """A body the receiver did not decode (401: refused before reading it whole) is stored as
    sent: the item keeps Content-Encoding, so the bytes and the header agree."""
    row = dataclasses.replace(rows[LABELS.index("no credentials")],
                              body=gzip.compress(BATCH), content_encoding="gzip",
                              headers=[*rows[0].headers, ("Content-Encoding", "gzip")])
    [item] = collection_of([row])["item"]
    assert ("Content-Encoding", "gzip") in header_list(item["request"])
    assert body_bytes(item["request"]) == gzip.compress(BATCH)


def test_each_item_tests_the_status_it_should_get_again(rows, collection):
    items = by_label(collection["item"])
    cut = rows[LABELS.index("wrong password, a long body")]  # the credentials decide: 401
    assert len(cut.body) == 4096 < cut.body_size
    for sent in SENT:
        script = script_of(items[sent.label])
        if sent.label.startswith("rule"):
            assert "pm.response.to.have.status(200);" in script, sent.label
        elif sent.status == 413:
            assert script.startswith("pm.test.skip(") and "cannot be reproduced" in script
        else:
            assert f"pm.response.to.have.status({sent.status});" in script, sent.label
            assert script.startswith(f'pm.test("status {sent.status} as recorded"')
    assert items["rule 503"]["description"] == (
        "Answered by the answer rule '503 for 1': 503; the batch was not acknowledged.")
    assert "the test expects 200" in items["rule 503"]["request"]["description"]
    assert "with the same rule in force again, expect 503 Service Unavailable" in items[
        "rule 503"]["request"]["description"]
    assert "Recorded: no answer, answered by the answer rule 'drop for 1'" in items[
        "rule drop"]["request"]["description"]
    assert items["rule drop"]["name"] == "#2 POST /hook no answer (1 record)"


def test_no_answer_without_a_rule_is_skipped(rows):
    row = dataclasses.replace(rows[LABELS.index("hostile")], status=0)
    [item] = collection_of([row])["item"]
    assert script_of(item) == (
        'pm.test.skip("no answer was recorded: nothing to compare", function () {});')


def test_a_batch_answered_while_paused_expects_the_endpoints_own_200(rows):
    row = dataclasses.replace(rows[LABELS.index("hostile")], status=503, rule="pause",
                              acked=False)
    [item] = collection_of([row])["item"]
    assert item["description"] == ("Answered while acknowledgements were paused: 503; the "
                                   "batch was not acknowledged.")
    assert script_of(item).startswith(
        'pm.test("status 200, the endpoint\'s own answer (recorded: 503 Service Unavailable '
        'while acknowledgements were paused)"')
    assert "pm.response.to.have.status(200);" in script_of(item)


def test_masking_reaches_raw_and_base64_bodies(rows):
    masked = collection_of(rows, ExportOptions(transform=mask_transform(Masker(new_key()))))
    check_collection(masked)
    sent = b"".join(body_bytes(i["request"]) for i in masked["item"])
    text = json.dumps(masked, ensure_ascii=False).encode()
    for value in IDENTIFIERS + LATIN1_IDENTIFIERS:
        assert value.encode() not in sent and value.encode() not in text, value
    latin1 = body_bytes(by_label(masked["item"])["Latin-1"]["request"])
    assert b"D\xfcsseldorf" in latin1  # still not UTF-8, byte for byte where not masked


# ---------------------------------------------------------------------------------------------
# newman against the real receiver


def newman_bin(cache_dir: Path) -> Path:
    """newman from npm, installed once into the pytest cache."""
    if not (shutil.which("node") and shutil.which("npm")):
        # newman is a Node program: a machine without Node cannot run it (the collection is
        # still checked against the published schema by the tests above, everywhere)
        pytest.skip("node and npm are needed to run newman (https://nodejs.org)")
    binary = cache_dir / "node_modules" / ".bin" / "newman"
    if not binary.exists():
        done = subprocess.run(["npm", "install", "--prefix", str(cache_dir), "--no-audit",
                               "--no-fund", NEWMAN], capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0 or not binary.exists():
            # no npm registry reachable: said with npm's own words, never a silent pass
            pytest.skip(f"npm could not install {NEWMAN}: {done.stderr.strip()[-300:]}")
    return binary


@pytest.mark.slow
def test_newman_replays_every_recorded_status_and_request(recorded, tmp_path, request):
    rec, rows = recorded
    newman = newman_bin(request.config.cache.mkdir("newman"))
    path = tmp_path / "capture.postman.json"
    path.write_text(json.dumps(collection_of(rows), ensure_ascii=False))

    def newman_run(password_option: str) -> dict:
        report = tmp_path / "report.json"
        done = subprocess.run(
            [str(newman), "run", str(path), password_option, f"password={PASSWORD}",
             "--ssl-extra-ca-certs", rec.ca_file, "--timeout-request", "60000",
             "--reporters", "cli,json", "--reporter-json-export", str(report)],
            capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        return json.loads(report.read_text())["run"]

    run = newman_run("--env-var")
    assert run["failures"] == []
    executions = run["executions"]
    assert [e["item"]["name"] for e in executions] == [r_item for r_item in (
        i["name"] for i in collection_of(rows)["item"])]
    # every recorded status again, in order (a rule's batch: the endpoint's own 200)
    expected = [200 if row.rule else row.status for row in rows]
    got = [e["response"]["code"] for e in executions]
    too_big = LABELS.index("too big")
    assert got[:too_big] + got[too_big + 1:] == expected[:too_big] + expected[too_big + 1:]
    skipped = [[a["skipped"] for a in e["assertions"]] for e in executions]
    assert skipped == [[i == too_big] for i in range(len(rows))]
    assert all("error" not in a for e in executions for a in e["assertions"])
    # what the receiver stored the second time is what it stored the first
    db = open_reader(folded(rec.capture))
    try:
        n = len(rows)
        replayed = list(request_rows(db, range(n + 1, 2 * n + 1)))
    finally:
        db.close()
    assert len(replayed) == n
    for first, again in zip(rows, replayed, strict=True):
        label = LABELS[first.id - 1]
        assert (again.method, again.path, again.query, again.target) == (
            first.method, first.path, first.query, first.target), label
        assert again.body == first.body, label
        assert (again.auth, again.auth_user, again.content_type) == (
            first.auth, first.auth_user, first.content_type), label
        assert again.status == (200 if first.rule else first.status) or label == "too big"
        assert again.content_encoding == (None if label == "gzip" else first.content_encoding)
    assert replayed[LABELS.index("raw target")].target == "/p%20q/x%2Fy?a=%2F&b=%20c&d"
    assert replayed[LABELS.index("not UTF-8")].body == MUNICH
    # a global variable gives the password too (no collection variable hides it)
    again = newman_run("--global-var")
    assert again["failures"] == []
    assert [e["response"]["code"] for e in again["executions"]] == got
