"""Answer rules on a real ``serve`` over real TLS, seen by aiohttp and by the ``curl`` binary:
statuses and their headers, delays measured, drop and hang as client errors, every scope, the
pause switch through the control channel; every request stored with its rule (issue 13)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import ssl
import subprocess
import threading
import time
from queue import Empty, Queue

import aiohttp
import pytest

from app.capture.rules import RuleSet
from app.capture.schema import open_reader
from app.db import sqlite3
from tests.conftest import EVENT_SAMPLE, ROOT, ReceiverProcess, folded, serve_command

AUTH = "Basic " + base64.b64encode(b"streamer:test-password").decode()
BODY = EVENT_SAMPLE.read_bytes()
SEED = 7


class Controlled(ReceiverProcess):
    """A ``serve --events jsonl --stop-with-stdin`` child: commands in, events out."""

    def command(self, **change) -> dict:
        """Send an ``answers`` command; its ``answers`` event (other events skipped)."""
        self.proc.stdin.write(json.dumps({"command": "answers", **change}) + "\n")
        self.proc.stdin.flush()
        return self.wait_for("answers")

    def wait_for(self, kind: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            event = self.next_event(max(0.1, deadline - time.monotonic()))
            if event["event"] == kind:
                return event

    def drain(self) -> None:
        while True:
            try:
                self._lines.get(timeout=0.05)
            except Empty:
                return  # nothing printed for 50 ms: the events so far are drained


def start_controlled(tmp_path, *args: str) -> Controlled:
    capture = tmp_path / "capture.sqlite"
    proc = subprocess.Popen(
        serve_command("--port", "0", "--events", "jsonl", "--stop-with-stdin", "--capture",
                      str(capture), "--user", "streamer", "--password", "test-password", *args),
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    lines: Queue = Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    rec = Controlled(proc=proc, listening={}, capture=capture, user="streamer",
                     password="test-password", _lines=lines, _pump=thread)
    rec.listening = rec.next_event(30)
    assert rec.listening["event"] == "listening", rec.listening
    first = rec.next_event()
    assert first == {"event": "answers", "paused": False, "rules": []}
    return rec


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    """One controlled receiver for the module; each test starts from no rules, not paused."""
    child = start_controlled(tmp_path_factory.mktemp("answering"), "--answer-seed", str(SEED))
    yield child
    child.proc.stdin.close()
    assert child.proc.wait(timeout=20) == 0
    child._close()
    # drop, hang and clients that gave up leave nothing in stderr (no aiohttp error log)
    assert child.stderr_text == "", child.stderr_text


@pytest.fixture
def fresh(rec):
    rec.drain()
    assert rec.command(clear=True, paused=False)["rules"] == []
    return rec


def post(rec, path="/", body=BODY, timeout=None, auth=AUTH):
    """POST with aiohttp over TLS: (status, headers, JSON body, seconds)."""

    async def go():
        ctx = ssl.create_default_context(cafile=rec.ca_file)
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = auth
        started = time.monotonic()
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) \
                    as s, s.post(rec.url.rstrip("/") + path, data=body, headers=headers,
                                 ssl=ctx, allow_redirects=False) as resp:
                data = await resp.read()
                return resp.status, resp.headers, json.loads(data), time.monotonic() - started
        except BaseException:
            # A connection given up on (a timeout, a drop) closes its TLS transport after the
            # session: let that happen before asyncio.run closes the loop, or the transport is
            # reported unclosed when it is collected, in whichever test runs then (aiohttp's
            # "graceful shutdown" advice for SSL).
            await asyncio.sleep(0.25)
            raise

    return asyncio.run(go())


def curl(rec, *args, path="/", max_time=10):
    """POST with the curl binary: (exit code, status, headers text, body, seconds)."""
    cmd = ["curl", "-sS", "--cacert", rec.ca_file, "-u", "streamer:test-password",
           "-H", "Content-Type: application/json", "--data-binary", f"@{EVENT_SAMPLE}",
           "-D", "-", "--max-time", str(max_time), "-w", "\n%{http_code} %{time_total}",
           *args, rec.url.rstrip("/") + path]
    started = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=max_time + 10)
    seconds = time.monotonic() - started
    out, _, tail = result.stdout.rpartition("\n")
    status = int(tail.split()[0])
    head, _, body = out.partition("\n\n")  # text mode: CRLF read as LF
    return result.returncode, status, head, body, seconds


def rows(rec, last: int) -> list[dict]:
    db = open_reader(folded(rec.capture))
    try:
        db.row_factory = sqlite3.Row
        found = [dict(r) for r in db.execute(
            "SELECT id, path, status, reason, rule, acked, record_count, response_headers "
            "FROM request ORDER BY id DESC LIMIT ?", (last,))]
        return found[::-1]
    finally:
        db.close()


def wait_acked(rec, request_id: int, want: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db = open_reader(folded(rec.capture))
        try:
            acked = db.execute("SELECT acked FROM request WHERE id = ?",
                               (request_id,)).fetchone()[0]
        finally:
            db.close()
        if acked == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"request {request_id}: acked is not {want}")


# --- statuses and their headers ------------------------------------------------------------------

def test_503_for_2_then_the_normal_200(fresh):
    added = fresh.command(add="503 for 2")
    assert added["rules"] == [{"id": added["rules"][0]["id"], "text": "503 for 2",
                               "summary": "503 Service Unavailable for the next 2 POSTs",
                               "left": "2 of 2 left", "used": 0, "active": True}]
    seen = [post(fresh) for _ in range(3)]
    assert [s[0] for s in seen] == [503, 503, 200]
    assert [s[1].get("Retry-After") for s in seen] == ["10", "10", None]
    first = seen[0][2]
    assert first["ok"] is False and first["rule"] == "503 for 2"
    assert first["error"] == ("answer rule '503 for 2': 503 Service Unavailable; the batch was "
                              "stored with 1 record, not acknowledged")
    assert seen[2][2]["ok"] is True and "rule" not in seen[2][2]
    stored = rows(fresh, 3)
    assert [(r["status"], r["rule"], r["acked"], r["record_count"]) for r in stored] == [
        (503, "503 for 2", 0, 1), (503, "503 for 2", 0, 1), (200, None, 1, 1)]
    assert first["request_id"] == stored[0]["id"]
    assert json.loads(stored[0]["response_headers"])[1] == ["Retry-After", "10"]
    # the request events name the rule; each use is an answers event
    request = fresh.wait_for("request")
    assert (request["rule"], request["acked"], request["status"]) == ("503 for 2", False, 503)
    assert fresh.wait_for("answers")["rules"][0]["left"] == "1 of 2 left"
    assert fresh.wait_for("answers")["rules"] == []  # used up: it leaves the list


def test_retry_after_and_statuses_seen_by_curl(fresh):
    fresh.command(add=["429 retry-after 2m for 1", "401 for 1", "413 for 1"])
    code, status, head, body, _ = curl(fresh)
    assert (code, status) == (0, 429)
    assert re.search(r"^Retry-After: 120\r?$", head, re.MULTILINE | re.IGNORECASE), head
    assert json.loads(body)["rule"] == "429 retry-after 2m for 1"
    code, status, head, _, _ = curl(fresh)
    assert (code, status) == (0, 401)
    assert "WWW-Authenticate: Basic" in head
    assert curl(fresh)[:2] == (0, 413)
    assert curl(fresh)[:2] == (0, 200)
    assert [(r["status"], r["acked"]) for r in rows(fresh, 4)] == [
        (429, 0), (401, 0), (413, 0), (200, 1)]


def test_redirects_give_a_location(fresh):
    fresh.command(add=["302 for 1", "307 to https://backup.example/in for 1"])
    status, headers, body, _ = post(fresh, "/streamer/events")
    assert (status, headers["Location"]) == (302, "/moved/streamer/events")
    assert body["rule"] == "302 for 1"
    code, status, head, _, _ = curl(fresh, path="/x")
    assert (code, status) == (0, 307)  # curl does not follow (no -L), as the streamer
    assert re.search(r"^Location: https://backup\.example/in\r?$", head, re.MULTILINE), head
    assert [(r["status"], r["rule"]) for r in rows(fresh, 2)] == [
        (302, "302 for 1"), (307, "307 to https://backup.example/in for 1")]


# --- delay, drop, hang ---------------------------------------------------------------------------

def test_delay_is_measured_and_a_delivered_200_acknowledges(fresh):
    fresh.command(add=["delay 300ms for 1", "delay 300ms 503 for 1"])
    status, _, body, seconds = post(fresh)
    assert status == 200 and body["rule"] == "delay 300ms for 1"
    assert 0.3 <= seconds < 1.3
    (row,) = rows(fresh, 1)
    assert row["rule"] == "delay 300ms for 1"
    wait_acked(fresh, row["id"], 1)  # acknowledged once it reached the waiting client
    code, status, head, _, seconds = curl(fresh)
    assert (code, status) == (0, 503) and "Retry-After: 10" in head
    assert 0.3 <= seconds < 1.5
    assert rows(fresh, 1)[0]["acked"] == 0


def test_delay_whose_client_gave_up_does_not_acknowledge(fresh):
    fresh.command(add="delay 800ms for 1")
    with pytest.raises(TimeoutError):
        post(fresh, timeout=0.2)
    (row,) = rows(fresh, 1)
    assert (row["status"], row["rule"], row["acked"]) == (200, "delay 800ms for 1", 0)
    time.sleep(0.9)
    assert rows(fresh, 1)[0]["acked"] == 0
    assert post(fresh)[0] == 200  # the endpoint goes on as usual


def test_drop_closes_without_an_answer(fresh):
    fresh.command(add="drop for 2")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        post(fresh)
    code, status, _, _, _ = curl(fresh)
    assert (code, status) == (52, 0)  # curl: (52) Empty reply from server
    stored = rows(fresh, 2)
    assert [(r["status"], r["rule"], r["acked"], r["record_count"]) for r in stored] == [
        (0, "drop for 2", 0, 1)] * 2
    assert stored[0]["reason"].startswith("answer rule 'drop for 2': the connection was "
                                          "closed without an answer; the batch was stored")
    assert stored[0]["response_headers"] == "[]"
    assert post(fresh)[0] == 200


def test_hang_until_the_client_gives_up(fresh):
    fresh.command(add="hang for 2")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        post(fresh, timeout=0.4)
    assert time.monotonic() - started >= 0.4
    code, status, _, _, seconds = curl(fresh, max_time=0.5)
    assert (code, status) == (28, 0) and seconds >= 0.5  # curl: (28) timed out
    assert [(r["status"], r["rule"], r["acked"]) for r in rows(fresh, 2)] == [
        (0, "hang for 2", 0)] * 2
    assert post(fresh)[0] == 200


# --- scopes ------------------------------------------------------------------------------------

def test_a_share_is_reproducible_with_the_seed(fresh):
    fresh.command(add="500 40%")
    seen = [post(fresh)[0] for _ in range(12)]
    model = RuleSet(SEED)  # the child's draws are the seed's, as no other rule here draws
    model.add("500 40%")
    expected = [500 if model.decide("/") else 200 for _ in range(12)]
    assert seen == expected
    assert {200, 500} <= set(seen)
    assert [r["rule"] for r in rows(fresh, 12)] == [
        "500 40%" if s == 500 else None for s in seen]


def test_time_window_ends_by_itself(fresh):
    fresh.command(add="503 for 700ms")
    assert post(fresh)[0] == 503
    fresh.drain()
    ended = fresh.wait_for("answers", timeout=5)  # said when the window ends, without a POST
    assert ended["rules"] == []
    assert post(fresh)[0] == 200


def test_path_glob(fresh):
    fresh.command(add="503 on /events/*")
    assert post(fresh, "/events/a")[0] == 503
    assert post(fresh, "/usage")[0] == 200
    assert post(fresh, "/events/b")[0] == 503
    assert [(r["path"], r["rule"]) for r in rows(fresh, 3)] == [
        ("/events/a", "503 on /events/*"), ("/usage", None), ("/events/b", "503 on /events/*")]


# --- the pause switch, bad requests, refused commands -------------------------------------------

def test_pause_answers_503_and_uses_no_rule(fresh):
    fresh.command(add="502 for 1")
    state = fresh.command(paused=True)
    assert state["paused"] is True and state["rules"][0]["active"] is False
    status, headers, body, _ = post(fresh)
    assert (status, headers["Retry-After"], body["rule"]) == (503, "10", "pause")
    assert body["error"].startswith("acknowledgements paused: 503 Service Unavailable; the "
                                    "batch was stored with 1 record")
    assert curl(fresh)[:2] == (0, 503)
    assert fresh.command(paused=False)["rules"][0]["left"] == "1 of 1 left"
    assert post(fresh)[0] == 502
    assert post(fresh)[0] == 200
    assert [(r["status"], r["rule"], r["acked"]) for r in rows(fresh, 4)] == [
        (503, "pause", 0), (503, "pause", 0), (502, "502 for 1", 0), (200, None, 1)]


def test_bad_requests_keep_their_precise_answer_under_a_rule(fresh):
    fresh.command(add="503")
    status, _, body, _ = post(fresh, body=b"[1,")
    assert status == 400 and "rule" not in body
    assert post(fresh, auth=None)[0] == 401
    fresh.command(paused=True)
    assert post(fresh, body=b'{"not": "a list"}')[0] == 400
    assert [(r["status"], r["rule"]) for r in rows(fresh, 3)] == [
        (400, None), (401, None), (400, None)]
    assert fresh.command(paused=False, clear=True)["rules"] == []


def test_refused_commands_say_why(fresh):
    assert fresh.command(add="fail for 2")["error"] == (
        "'fail' is not an answer: expected a status (e.g. 503), drop, hang or delay DURATION")
    assert fresh.command(remove=99)["error"] == (
        "there is no answer rule 99 (it may have been used up)")
    assert fresh.command()["error"] == "an answers command needs add, remove, clear or paused"
    assert fresh.command(paused="yes")["error"] == "paused needs true or false"
    rule = fresh.command(add="500")["rules"][0]
    assert "error" not in rule
    assert fresh.command(remove=rule["id"])["rules"] == []


# --- the command line ----------------------------------------------------------------------------

def test_a_bad_rule_on_the_command_line_exits_2_before_listening(tmp_path):
    result = subprocess.run(
        serve_command("--port", "0", "--capture", str(tmp_path / "c.sqlite"),
                      "--answer", "503 for 2", "--answer", "delay 40"),
        cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "streamer-inspector serve: error: argument --answer: '40' is not a duration: "
        "expected a duration after 'delay' (300ms, 40s, 5m)")
    assert not (tmp_path / "c.sqlite").exists()


def test_rules_from_the_command_line_human_lines_and_a_quick_stop_during_a_hang(tmp_path,
                                                                              user_dirs):
    """``serve --answer '503 for 2' --answer hang``: 503, 503, then no answer, each change
    said on a line; SIGTERM while a client hangs stops the receiver at once."""
    capture = tmp_path / "c.sqlite"
    proc = subprocess.Popen(
        serve_command("--port", "0", "--capture", str(capture), "--user", "streamer",
                      "--password", "test-password", "--answer", "503 for 2", "--answer",
                      "hang"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **user_dirs})
    target = type("Target", (), {"capture": capture})
    try:
        seen = ""
        while "answer rules:" not in seen and proc.poll() is None:
            seen += proc.stdout.readline()
        assert "answer rules: #1 503 for 2 (2 of 2 left); #2 hang (until removed)" in seen
        target.url = re.search(r"Endpoint URL:\s+(\S+)", seen).group(1)
        target.ca_file = re.search(r"Local CA:\s+(\S+)", seen).group(1)
        assert [post(target)[0] for _ in range(2)] == [503, 503]
        first, second, changed = (proc.stdout.readline() for _ in range(3))
        assert "  503  POST /  " in first
        assert "answer rule '503 for 2': 503 Service Unavailable" in first
        assert "  503  POST /  " in second  # the first use left the rule: no line for it
        assert changed.strip() == "answer rules: #2 hang (until removed)"

        outcome: list = []

        def hang():
            try:
                outcome.append(post(target, timeout=30))
            except aiohttp.ClientError as exc:
                outcome.append(exc)

        client = threading.Thread(target=hang)
        client.start()
        assert "  ---  POST /  " in proc.stdout.readline()  # stored, with no answer
        assert rows(target, 1)[0]["rule"] == "hang"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert time.monotonic() - started < 5  # not aiohttp's 30 s shutdown timeout
        client.join(10)
        assert isinstance(outcome[0], aiohttp.ServerDisconnectedError), outcome
        assert proc.returncode == 0
        assert err.startswith("stopped: 3 requests") and len(err.splitlines()) == 1, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
