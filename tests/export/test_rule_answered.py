"""Requests an answer rule answered, through every export format, masking and import.

A batch a rule answered 503 (or redirected) is stored with its records, status and rule, not
acknowledged; a dropped or hung one is stored with status 0 (no answer was sent); a delayed 200
whose client gave up is a 200 that did not acknowledge. The capture is written by the real
CaptureWriter with a responder that decides like the receiver's rules (no server needed);
exports are read back with json, csv and the HAR checks of test_formats.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.capture.answers import Answer
from app.capture.importer import plan, run_import
from app.capture.rules import RuleSet
from app.capture.schema import open_reader
from app.capture.writer import CaptureWriter, Incoming, Stored
from app.export.common import ExportOptions
from app.export.masking import Masker, new_key
from app.export.registry import export
from app.export.rows import request_rows
from app.export.transfer import mask_transform
from app.replay.generator import Generator
from app.server.receiver import _ruled
from tests.conftest import ROOT
from tests.export.test_formats import check_har
from tests.export.test_masking import identifiers

RECORDS = Generator(sims=6, seed=13).records(40)
A, B, C, D = RECORDS[:10], RECORDS[10:20], RECORDS[20:30], RECORDS[30:]


def body(records) -> bytes:
    return json.dumps(records, ensure_ascii=False).encode()


def incoming(records) -> Incoming:
    data = body(records)
    return Incoming("POST", "/hook", data, auth="ok", auth_user="streamer", peer="10.9.8.7",
                    content_type="application/json",
                    headers=[("Host", "localhost:8443"), ("Content-Type", "application/json"),
                             ("Authorization", "Basic ****"),
                             ("Content-Length", str(len(data)))])


def by_rule(text: str):
    """A responder deciding as the receiver does for a POST to /hook under the answer rule
    ``text`` (its RuleSet and its ``_ruled``: status, reason, rule, acked and the answer)."""
    rules = RuleSet()
    rules.add(text)

    def respond(stored: Stored) -> Answer:
        return _ruled(stored, rules.decide("/hook"))

    return respond


# (records, responder or None, expected status, rule, acked)
REFUSE = by_rule("503 for 2")
REDIRECT = "302 to https://elsewhere.example/ for 1"
STORY = [
    (A, None, 200, None, True),
    (B, REFUSE, 503, "503 for 2", False),
    (B, REFUSE, 503, "503 for 2", False),
    (B, None, 200, None, True),
    (C, by_rule("drop for 1"), 0, "drop for 1", False),
    (C, by_rule(REDIRECT), 302, REDIRECT, False),
    (C, None, 200, None, True),
    (D, by_rule("delay 40s for 1"), 200, "delay 40s for 1", False),  # client gave up waiting
    (D, by_rule("hang for 1"), 0, "hang for 1", False),
    (D, None, 200, None, True),
]


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "capture.sqlite"
    writer = CaptureWriter(path)
    try:
        for records, respond, status, rule, acked in STORY:
            stored = writer.store(incoming(records), respond=respond)
            assert (stored.status, stored.rule, stored.acknowledged) == (status, rule, acked)
            assert stored.record_count == len(records)  # stored WITH its records
        writer.store(incoming(A), respond=by_rule("503 retry-after 1 for 1"))
        assert writer.store(Incoming("POST", "/hook", b"[1,", content_type="application/json",
                                     auth="ok")).status == 400
    finally:
        writer.close()
    return path


@pytest.fixture
def db(capture):
    db = open_reader(capture)
    yield db
    db.close()


def stored_texts(db) -> list[str]:
    return [t for (t,) in db.execute("SELECT json FROM record ORDER BY id")]


def reason_of(db, request_id: int) -> str:
    return db.execute("SELECT reason FROM request WHERE id = ?", (request_id,)).fetchone()[0]


def facts(db) -> list[tuple]:
    """(status, rule, acked, records, reason) of each request, in order."""
    return db.execute("SELECT status, rule, acked, record_count, reason FROM request "
                      "ORDER BY id").fetchall()


def run(db, name: str, options: ExportOptions | None = None) -> tuple[int, bytes]:
    out = io.BytesIO()
    count = export(db, name, out, options or ExportOptions())
    return count, out.getvalue()


def test_request_rows_carry_the_rule_and_whether_acknowledged(db):
    rows = list(request_rows(db))
    assert [(r.status, r.rule, r.acked) for r in rows[:len(STORY)]] == [
        (status, rule, acked) for _, _, status, rule, acked in STORY]
    assert [r.answered for r in rows[:len(STORY)]] == [s != 0 for _, _, s, _, _ in STORY]
    assert (rows[-1].status, rows[-1].rule, rows[-1].acked) == (400, None, False)


@pytest.mark.parametrize("name", ["json", "ndjson"])
def test_json_and_ndjson_hold_every_stored_record_rule_answered_or_not(db, name):
    count, data = run(db, name)
    texts = stored_texts(db)
    assert count == len(texts) == sum(len(r) for r, *_ in STORY) + len(A)
    got = json.loads(data) if name == "json" else [json.loads(line) for line in
                                                   data.decode().splitlines()]
    assert got == [json.loads(t) for t in texts]
    assert sum(r == B[0] for r in got) == 3  # B came three times: 503, 503, 200


def test_csv_has_a_row_for_every_stored_record(db):
    count, data = run(db, "csv")
    table = list(csv.reader(io.StringIO(data.decode())))
    assert count == len(table) - 1 == len(stored_texts(db))
    request_of = {int(row[0]): int(row[1]) for row in table[1:]}
    dropped = db.execute("SELECT id FROM request WHERE status = 0 AND rule = 'drop for 1'"
                         ).fetchone()[0]
    assert sum(r == dropped for r in request_of.values()) == len(C)


def test_har_keeps_status_rule_and_acked_and_writes_no_answer_as_status_0(db):
    count, data = run(db, "har")
    har = json.loads(data)
    check_har(har)
    entries = har["log"]["entries"]
    assert count == len(entries) == len(STORY) + 2
    for entry, (records, _, status, rule, acked) in zip(entries, STORY, strict=False):
        ours = entry["_streamer_inspector"]
        assert (entry["response"]["status"], ours["rule"], ours["acked"]) == (status, rule,
                                                                              acked)
        assert ours["record_count"] == len(records)
        assert json.loads(entry["request"]["postData"]["text"]) == records
        if rule is None:
            assert "comment" not in entry
        else:
            assert entry["comment"] == (f"answered by the answer rule '{rule}'; the batch was "
                                        f"not acknowledged")
    refused = entries[1]["response"]
    assert refused["statusText"] == "Service Unavailable"
    assert {"name": "Retry-After", "value": "10"} in refused["headers"]
    answer = json.loads(refused["content"]["text"])
    assert answer["rule"] == "503 for 2" and answer["error"] == reason_of(db, 2)
    assert reason_of(db, 2).endswith("; the batch was stored with 10 records, not "
                                     "acknowledged")
    for entry, request_id in ((entries[4], 5), (entries[8], 9)):
        res = entry["response"]
        assert res == {"status": 0, "statusText": "", "httpVersion": "", "cookies": [],
                       "headers": [], "content": {"size": 0, "mimeType": "x-unknown"},
                       "redirectURL": "", "headersSize": -1, "bodySize": -1,
                       "_error": reason_of(db, request_id)}
    assert "the connection was closed without an answer" in entries[4]["response"]["_error"]
    assert "until the client gave up" in entries[8]["response"]["_error"]
    assert entries[5]["response"]["redirectURL"] == "https://elsewhere.example/"
    assert entries[0]["response"]["redirectURL"] == ""


def test_postman_names_the_answer_and_describes_the_rule(db):
    count, data = run(db, "postman", ExportOptions(base_url="https://127.0.0.1:8443"))
    items = json.loads(data)["item"]
    assert count == len(items) == len(STORY) + 2
    assert [i["name"] for i in items[:6]] == [
        "#1 POST /hook 200 (10 records)", "#2 POST /hook 503 (10 records)",
        "#3 POST /hook 503 (10 records)", "#4 POST /hook 200 (10 records)",
        "#5 POST /hook no answer (10 records)", "#6 POST /hook 302 (10 records)"]
    assert items[-1]["name"] == "#12 POST /hook 400"
    assert "description" not in items[0]
    assert items[1]["description"] == ("Answered by the answer rule '503 for 2': 503; the "
                                       "batch was not acknowledged.")
    assert items[4]["description"] == ("Answered by the answer rule 'drop for 1': no answer "
                                       "was sent; the batch was not acknowledged.")
    assert items[7]["description"] == "Answered by the answer rule 'delay 40s for 1': 200; " \
                                      "the batch was not acknowledged."
    for item, (records, *_) in zip(items, STORY, strict=False):
        assert json.loads(item["request"]["body"]["raw"]) == records


@pytest.mark.parametrize("name", ["json", "ndjson", "csv", "har", "postman"])
def test_masking_covers_the_records_of_rule_answered_requests(db, name):
    options = ExportOptions(transform=mask_transform(Masker(new_key())))
    count, data = run(db, name, options)
    assert count > 0
    for value in identifiers(RECORDS) | {"10.9.8.7"}:
        assert value.encode() not in data, value
    if name == "har":
        check_har(json.loads(data))
        entries = json.loads(data)["log"]["entries"]
        assert [e["_streamer_inspector"]["rule"] for e in entries[:2]] == [None, "503 for 2"]


# -- import --------------------------------------------------------------------------------------


def imported(tmp_path: Path, source: Path) -> Path:
    target = tmp_path / "target.sqlite"
    kind, planned = plan(source)
    writer = CaptureWriter(target)
    try:
        result = run_import(writer, kind, planned)
    finally:
        writer.close()
    assert result.state == "done"
    return target


def test_a_capture_imports_with_its_rule_answered_batches_and_their_records(tmp_path, capture,
                                                                            db):
    target = imported(tmp_path, capture)
    copy = open_reader(target)
    try:
        assert stored_texts(copy) == stored_texts(db)
        assert facts(copy) == facts(db)
        answers = copy.execute("SELECT response_headers, response_body FROM request "
                               "WHERE id IN (2, 5, 6) ORDER BY id").fetchall()
    finally:
        copy.close()
    assert ["Retry-After", "10"] in json.loads(answers[0][0])
    assert answers[1] == ("[]", b"")  # dropped: nothing was sent
    assert ["Location", "https://elsewhere.example/"] in json.loads(answers[2][0])


def test_a_har_export_imports_with_its_rule_answered_batches(tmp_path, capture, db):
    har = tmp_path / "export.har"
    result = subprocess.run([sys.executable, "-m", "app", "export", str(capture), "--format",
                             "har", "-o", str(har)], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    target = imported(tmp_path, har)
    copy = open_reader(target)
    try:
        assert stored_texts(copy) == stored_texts(db)
        got = facts(copy)
    finally:
        copy.close()
    want = facts(db)
    assert [f[:4] for f in got] == [f[:4] for f in want]
    assert [f[4] for f in got if f[1]] == [f[4] for f in want if f[1]]  # the rules' reasons


@pytest.mark.parametrize("name", ["json", "ndjson"])
def test_a_records_export_imports_every_record_as_acknowledged(tmp_path, db, name):
    out = tmp_path / f"export.{name}"
    with out.open("wb") as fh:
        export(db, name, fh, ExportOptions())
    target = imported(tmp_path, out)
    copy = open_reader(target)
    try:
        assert stored_texts(copy) == stored_texts(db)
        assert {(s, a) for s, _, a, _, _ in facts(copy)} == {(200, 1)}
    finally:
        copy.close()


def test_har_of_another_tool_with_a_503_post_is_judged_afresh(tmp_path):
    """Only this app's own entries (``_streamer_inspector.acked``) keep their answer."""
    entry = {"startedDateTime": "2026-01-01T00:00:00+00:00", "time": 1,
             "request": {"method": "POST", "url": "https://x.example/hook", "headers": [],
                         "postData": {"mimeType": "application/json",
                                      "text": body(A).decode()}},
             "response": {"status": 503, "headers": [], "content": {"text": ""}}}
    path = tmp_path / "other.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": [entry]}}))
    copy = open_reader(imported(tmp_path, path))
    try:
        assert [f[:4] for f in facts(copy)] == [(200, None, 1, len(A))]
    finally:
        copy.close()


def test_an_unreadable_answer_of_our_own_har_entry_says_which_entry(tmp_path):
    from app.capture.importer import ImportFileError

    entry = {"request": {"method": "POST", "url": "https://x.example/hook", "headers": [],
                         "postData": {"mimeType": "application/json", "text": "[]"}},
             "response": {"status": 503, "headers": [{"value": "1"}],
                          "content": {"text": ""}},
             "_streamer_inspector": {"rule": "503 for 1", "acked": False}}
    path = tmp_path / "broken.har"
    path.write_text(json.dumps({"log": {"entries": [entry]}}))
    with pytest.raises(ImportFileError, match=r"entry 0 has an answer this app cannot read "
                                              r"\(no name field\)"):
        plan(path)


def test_an_import_through_the_receivers_control_channel_keeps_the_rule_answers(tmp_path,
                                                                                 capture, db):
    """The window imports through its receiver (the ``import`` command on serve's stdin), not
    the command line: the rule-answered batches keep their status, rule and acknowledgement
    there too."""
    from tests.conftest import serve_command

    target = tmp_path / "through-serve.sqlite"
    proc = subprocess.Popen(
        serve_command("--port", "0", "--events", "jsonl", "--stop-with-stdin", "--capture",
                      str(target), "--no-auth"),
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        assert json.loads(proc.stdout.readline())["event"] == "listening"
        proc.stdin.write(json.dumps({"command": "import", "id": 1, "path": str(capture)}) + "\n")
        proc.stdin.flush()
        for line in proc.stdout:
            event = json.loads(line)
            if event.get("event") == "import" and event["state"] in ("done", "failed"):
                break
        assert event["state"] == "done", event
    finally:
        proc.stdin.close()
        proc.wait(timeout=20)
        proc.stdout.close()
        proc.stderr.close()
    copy = open_reader(target)
    try:
        assert facts(copy) == facts(db)
        assert stored_texts(copy) == stored_texts(db)
    finally:
        copy.close()


def test_hostile_records_of_a_refused_batch_go_everywhere(tmp_path):
    """The hostile corpus answered 503 by a rule, then again with 200 (a redelivery): every
    format exports both arrivals' records, masked too, the capture imports with the refused
    batch still refused, and the ledger sees each record twice, acknowledged once."""
    from app.capture import ledger
    from tests.capture.test_ledger import drain
    from tests.hostile import HOSTILE_RECORDS, IDENTIFIERS, hostile_body

    path = tmp_path / "hostile.sqlite"
    writer = CaptureWriter(path)
    try:
        data = hostile_body()
        refused = writer.store(Incoming("POST", "/hook", data, auth="ok",
                                        content_type="application/json"),
                               respond=by_rule("503 for 1"))
        again = writer.store(Incoming("POST", "/hook", data, auth="ok",
                                      content_type="application/json"))
        drain(writer)  # what the receiver does while idle: the filter index, then the ledger
    finally:
        writer.close()
    assert (refused.status, refused.acknowledged, again.status) == (503, False, 200)
    total = 2 * len(HOSTILE_RECORDS)
    db = open_reader(path)
    try:
        for name in ("json", "ndjson", "csv", "har", "postman"):
            count, out = run(db, name)
            assert out, name
            if name in ("json", "ndjson", "csv"):
                assert count == total, name
            masked_count, masked = run(db, name, ExportOptions(transform=mask_transform(
                Masker(new_key()))))
            assert masked_count == count and masked, name
            for value in IDENTIFIERS:
                assert value.encode() not in masked, (name, value)
            if name == "har":
                check_har(json.loads(masked))
        seen = ledger.seen_of(db, [i for (i,) in db.execute("SELECT id FROM record")])
        keyed = [s for s in seen.values() if s is not None]
        assert keyed and all(s.seen == 2 and not s.conflict for s in keyed)
        assert sum(s.acked for s in keyed) == len(keyed) // 2
    finally:
        db.close()
    copy = open_reader(imported(tmp_path, path))
    try:
        assert copy.execute("SELECT status, acked, record_count FROM request ORDER BY id"
                            ).fetchall() == [(503, 0, len(HOSTILE_RECORDS)),
                                             (200, 1, len(HOSTILE_RECORDS))]
    finally:
        copy.close()
