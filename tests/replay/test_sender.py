"""Sending like the Data Streamer: batches, Basic Auth, only 200 acknowledges, no redirects,
back-off retries until FAILED, pacing, cancel; record sources; the ``send`` command line.

Real servers on 127.0.0.1: small aiohttp apps in the test's own event loop (plain HTTP) for the
behaviour, and the real receiver over TLS end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import signal
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass

import orjson
import pytest
from aiohttp import web
from multidict import CIMultiDict

from app.capture.schema import open_reader
from app.capture.writer import CaptureWriter, Incoming
from app.cli.options import add_send_parser
from app.cli.send import run_send
from app.filters.parser import FilterError
from app.replay.generator import Generator
from app.replay.sender import (
    BatchResult,
    SendOptions,
    batches,
    generated_records,
    records_from_capture,
    records_from_file,
    records_from_sample,
    send,
)
from tests.conftest import EVENT_SAMPLE, ROOT, USAGE_SAMPLE, folded

EXPECTED_AUTH = "Basic " + base64.b64encode(b"streamer:s3cret").decode()


@dataclass
class Seen:
    """One request as a test server received it (``at``: time.monotonic() on arrival)."""

    at: float
    path: str
    headers: CIMultiDict
    body: bytes

    @property
    def records(self) -> list:
        return json.loads(self.body)


class Endpoint:
    """A test server: records every request, answers with ``answer(n, request)``."""

    def __init__(self, answer):
        self.answer = answer
        self.seen: list[Seen] = []
        self.release = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(time.monotonic(), request.path, request.headers.copy(), body))
        return await self.answer(len(self.seen), self)

    def on(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]


@contextlib.asynccontextmanager
async def serving(answer):
    endpoint = Endpoint(answer)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", endpoint.handle)
    runner = web.AppRunner(app, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    endpoint.url = f"http://127.0.0.1:{runner.addresses[0][1]}/ingest"
    try:
        yield endpoint
    finally:
        endpoint.release.set()
        await runner.cleanup()


async def ok(n, ep):
    return web.json_response({"ok": True})


def fail_first(*numbers: int, status: int = 500):
    async def answer(n, ep):
        if n in numbers:
            return web.json_response({"ok": False, "error": "storage busy"}, status=status)
        return web.json_response({"ok": True})
    return answer


def numbered(n: int) -> list[dict]:
    return [{"id": i, "iccid": f"8988228066{600000000 + i:09d}"} for i in range(n)]


def opts(url: str, **kw) -> SendOptions:
    kw.setdefault("backoff", 0.01)
    return SendOptions(url=url, **kw)


# -- delivery ------------------------------------------------------------------------------------


def test_7000_records_go_in_three_authenticated_json_list_posts():
    records = numbered(7000)
    seen_results: list[BatchResult] = []

    async def scenario():
        async with serving(ok) as ep:
            report = await send(records, opts(ep.url, user="streamer", password="s3cret"),
                                on_batch=seen_results.append)
            return ep.seen, report

    seen, report = asyncio.run(scenario())
    assert [len(s.records) for s in seen] == [3000, 3000, 1000]
    assert [r for s in seen for r in s.records] == records
    for s in seen:
        assert s.path == "/ingest"
        assert s.headers["Authorization"] == EXPECTED_AUTH
        assert s.headers["Content-Type"] == "application/json"
    assert report.state == "done"
    assert report.records_sent == report.records_acknowledged == 7000
    assert [(b.number, b.records, b.status, b.attempts, b.acknowledged, b.error)
            for b in report.batches] == [(1, 3000, 200, 1, True, None),
                                         (2, 3000, 200, 1, True, None),
                                         (3, 1000, 200, 1, True, None)]
    assert seen_results == report.batches
    assert report.elapsed > 0


def test_repeat_sends_the_list_again_as_one_stream_and_no_auth_without_user():
    records = numbered(5)

    async def scenario():
        async with serving(ok) as ep:
            report = await send(records, opts(ep.url, batch_size=3, repeat=2))
            return ep.seen, report

    seen, report = asyncio.run(scenario())
    assert [len(s.records) for s in seen] == [3, 3, 3, 1]
    assert [r for s in seen for r in s.records] == records + records
    assert all("Authorization" not in s.headers for s in seen)
    assert report.state == "done" and report.records_acknowledged == 10


def test_a_500_is_retried_and_every_record_is_acknowledged_exactly_once():
    records = numbered(25)

    async def scenario():
        async with serving(fail_first(2, 3)) as ep:  # batch 2 fails twice, then 200
            report = await send(records, opts(ep.url, batch_size=10, retries=3))
            return ep.seen, report

    seen, report = asyncio.run(scenario())
    statuses = [500 if n in (2, 3) else 200 for n in range(1, len(seen) + 1)]
    acknowledged = Counter(r["id"] for s, status in zip(seen, statuses, strict=True)
                           if status == 200 for r in s.records)
    assert acknowledged == Counter(range(25))  # each record once with a 200, none twice
    received = Counter(r["id"] for s in seen for r in s.records)
    assert all(received[i] == 3 for i in range(10, 20))  # batch 2 arrived three times
    assert len(seen) == 5
    assert report.state == "done"
    assert [(b.number, b.attempts, b.status) for b in report.batches] == [
        (1, 1, 200), (2, 3, 200), (3, 1, 200)]
    assert report.records_acknowledged == 25


def test_a_redirect_is_not_followed_and_the_stream_fails_after_its_retries():
    async def redirect(n, ep):
        raise web.HTTPFound(location="/elsewhere")

    retried: list[tuple[BatchResult, float]] = []

    async def scenario():
        async with serving(redirect) as ep:
            report = await send(numbered(5), opts(ep.url, batch_size=2, retries=2),
                                on_retry=lambda r, d: retried.append((r, d)))
            return ep, report

    ep, report = asyncio.run(scenario())
    assert ep.on("/elsewhere") == []
    assert len(ep.on("/ingest")) == 3 == len(ep.seen)  # first attempt and 2 retries of batch 1
    assert report.state == "failed"
    assert len(report.batches) == 1  # batches 2 and 3 were never sent
    batch = report.batches[0]
    assert batch.status == 302 and batch.attempts == 3 and not batch.acknowledged
    assert batch.error == "302 Found: redirects are not followed (Location: /elsewhere)"
    assert report.records_sent == 2 and report.records_acknowledged == 0
    assert [(r.attempts, d) for r, d in retried] == [(1, 0.01), (2, 0.02)]


@pytest.mark.parametrize(("status", "expected"), [
    (401, "401 Unauthorized: storage busy"),
    (204, "204 No Content: only 200 acknowledges a delivery"),
])
def test_other_answers_do_not_acknowledge(status, expected):
    async def answer(n, ep):
        if status == 204:
            return web.Response(status=204)
        return web.json_response({"ok": False, "error": "storage busy"}, status=status)

    async def scenario():
        async with serving(answer) as ep:
            return await send(numbered(3), opts(ep.url, retries=0))

    report = asyncio.run(scenario())
    assert report.state == "failed"
    assert report.batches[0].error == expected
    assert report.batches[0].attempts == 1


def test_a_server_that_never_answers_times_out_per_attempt():
    async def silent(n, ep):
        await ep.release.wait()
        return web.Response()

    async def scenario():
        async with serving(silent) as ep:
            report = await send(numbered(4), opts(ep.url, timeout=0.3, retries=1,
                                                  backoff=0.05))
            return ep.seen, report

    seen, report = asyncio.run(scenario())
    assert len(seen) == 2
    assert report.state == "failed"
    (batch,) = report.batches
    assert batch.status is None and batch.attempts == 2 and not batch.acknowledged
    assert batch.error == "timed out after 0.3 s"
    assert 0.25 <= batch.latency < 2
    assert seen[1].at - seen[0].at >= 0.3 + 0.05 - 0.02


def test_connection_refused_is_a_failed_attempt():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = asyncio.run(send(numbered(1), opts(f"http://127.0.0.1:{port}/", retries=1)))
    assert report.state == "failed"
    assert report.batches[0].error == (f"cannot connect to 127.0.0.1:{port}: connection "
                                       f"refused (is `streamer-inspector serve` running?)")
    assert report.batches[0].attempts == 2


def test_client_errors_read_as_text_never_as_python_reprs():
    """Regression (issue 10): aiohttp's text held ``ssl:<ssl.SSLContext object at 0x…>``."""
    import ssl as ssl_module

    from app.replay.sender import describe_client_error

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def refused(ctx):
        import aiohttp

        async with aiohttp.ClientSession() as session:
            try:
                await session.get(f"https://localhost:{port}/", ssl=ctx)
            except aiohttp.ClientError as exc:
                return exc
        raise AssertionError("connected to a closed port")

    exc = asyncio.run(refused(ssl_module.create_default_context()))
    assert "object at 0x" in str(exc)  # what aiohttp says
    text = describe_client_error(exc, f"https://localhost:{port}/")
    assert text == (f"cannot connect to localhost:{port}: connection refused "
                    f"(is `streamer-inspector serve` running?)")
    assert "object at" not in describe_client_error(ValueError("<a.B object at 0xdeadbeef>"))


def test_interval_and_backoff_delays_from_arrival_times():
    async def scenario():
        async with serving(ok) as paced, serving(fail_first(1, 2)) as flaky:
            await send(numbered(6), opts(paced.url, batch_size=2, interval=0.2))
            await send(numbered(1), opts(flaky.url, backoff=0.1, retries=5))
            return [s.at for s in paced.seen], [s.at for s in flaky.seen]

    paced, flaky = asyncio.run(scenario())
    assert len(paced) == 3
    gaps = [b - a for a, b in itertools.pairwise(paced)]
    assert all(0.18 <= g < 2 for g in gaps), gaps
    assert len(flaky) == 3  # 500, 500, 200
    first, second = flaky[1] - flaky[0], flaky[2] - flaky[1]
    assert 0.09 <= first < 2 and 0.18 <= second < 2, (first, second)
    assert second > first


def _cancel_after_first_request(ep: Endpoint, cancel: asyncio.Event, delay: float = 0.1):
    async def watcher():
        while not ep.seen:
            await asyncio.sleep(0.01)
        await asyncio.sleep(delay)
        cancel.set()
    return asyncio.create_task(watcher())


@pytest.mark.parametrize("where", ["backoff", "interval", "in flight"])
def test_cancel_stops_promptly(where):
    async def answer(n, ep):
        if where == "backoff":
            return web.Response(status=503)
        if where == "in flight":
            await ep.release.wait()
        return web.Response()

    long = {"backoff": dict(backoff=30.0), "interval": dict(interval=30.0),
            "in flight": dict(timeout=30.0)}[where]

    async def scenario():
        async with serving(answer) as ep:
            cancel = asyncio.Event()
            watcher = _cancel_after_first_request(ep, cancel)
            t0 = time.monotonic()
            report = await send(numbered(4), opts(ep.url, batch_size=2, **long), cancel=cancel)
            took = time.monotonic() - t0
            await watcher
            return len(ep.seen), report, took

    requests, report, took = asyncio.run(scenario())
    assert report.state == "cancelled"
    assert took < 1.5
    assert requests == 1
    assert len(report.batches) == 1
    batch = report.batches[0]
    if where == "interval":
        assert batch.acknowledged and report.records_acknowledged == 2
    else:
        assert not batch.acknowledged and report.records_acknowledged == 0
        if where == "in flight":
            assert batch.error == "cancelled while waiting for the answer"


def test_send_rejects_bad_options():
    with pytest.raises(ValueError, match="not an http"):
        asyncio.run(send(numbered(1), SendOptions(url="ftp://example.org/")))
    with pytest.raises(ValueError, match="batch size"):
        asyncio.run(send(numbered(1), SendOptions(url="http://x.test/", batch_size=0)))


# -- end to end over TLS, against the real receiver ----------------------------------------------


def test_end_to_end_over_tls_into_the_capture(receiver):
    texts = [orjson.dumps(r) for r in Generator(sims=5, seed=9).records(100)]

    async def scenario():
        base = dict(user="streamer", password="test-password", batch_size=40)
        trusted = await send(texts, SendOptions(receiver.url, cacert=receiver.ca_file, **base))
        db = open_reader(folded(receiver.capture))
        try:
            stored = [row[0].encode() for row in db.execute("SELECT json FROM record "
                                                            "ORDER BY id")]
            requests = db.execute("SELECT status, auth_user, content_type, record_count "
                                  "FROM request ORDER BY id").fetchall()
        finally:
            db.close()
        untrusted = await send(texts[:1], SendOptions(receiver.url, retries=0, **base))
        insecure = await send(texts[:1], SendOptions(receiver.url, insecure=True, **base))
        wrong = await send(texts[:1], SendOptions(receiver.url, cacert=receiver.ca_file,
                                                  user="streamer", password="nope",
                                                  retries=0))
        return trusted, stored, requests, untrusted, insecure, wrong

    trusted, stored, requests, untrusted, insecure, wrong = asyncio.run(scenario())
    assert trusted.state == "done" and trusted.records_acknowledged == 100
    assert stored == texts  # every record, byte for byte, in order
    assert requests == [(200, "streamer", "application/json", 40),
                        (200, "streamer", "application/json", 40),
                        (200, "streamer", "application/json", 20)]
    assert untrusted.state == "failed"
    assert untrusted.batches[0].error.startswith("TLS certificate of localhost:")
    assert "not trusted: unable to get local issuer certificate" in untrusted.batches[0].error
    assert insecure.state == "done"
    assert wrong.state == "failed"
    assert wrong.batches[0].status == 401
    assert "wrong credentials" in wrong.batches[0].error


# -- the command line ----------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="streamer-inspector")
    add_send_parser(p.add_subparsers(dest="command"))
    return p


def test_cli_prints_a_line_per_batch_and_exits_0_when_done(receiver, capsys):
    args = parser().parse_args([
        "send", receiver.url, "--generate", "7", "--seed", "3", "--sims", "2", "--batch", "3",
        "--user", "streamer", "--password", "test-password", "--cacert", receiver.ca_file])
    assert run_send(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4
    assert out[0].startswith("batch 1/3  3 records  200  ")
    assert out[0].endswith(" s  1 attempt")
    assert out[2].startswith("batch 3/3  1 record  200  ")
    assert out[3].startswith("done: 7 of 7 records acknowledged in 3 of 3 batches, ")
    db = open_reader(folded(receiver.capture))
    try:
        stored = [json.loads(t) for (t,) in db.execute("SELECT json FROM record ORDER BY id")]
    finally:
        db.close()
    assert stored == Generator(sims=2, seed=3).records(7)


def test_cli_exits_1_when_failed_and_jsonl_events(capsys):
    async def scenario():
        async with serving(fail_first(*range(1, 100))) as ep:
            human = parser().parse_args(["send", ep.url, "--sample", "usage-record",
                                         "--retries", "1", "--backoff", "0.01"])
            code = await asyncio.to_thread(run_send, human)
            captured = capsys.readouterr()
            events = parser().parse_args(["send", ep.url, "--generate", "5", "--batch", "2",
                                          "--retries", "1", "--backoff", "0.01",
                                          "--events", "jsonl", "--insecure"])
            code_jsonl = await asyncio.to_thread(run_send, events)
            return code, captured, code_jsonl, capsys.readouterr()

    code, human, code_jsonl, jsonl = asyncio.run(scenario())
    assert code == 1
    lines = human.out.splitlines()
    assert lines[0].startswith("batch 1/1  1 record  500  ")
    assert lines[0].endswith("  2 attempts  500 Internal Server Error: storage busy")
    assert lines[1].startswith("failed: batch 1 not acknowledged after 2 attempts; "
                               "0 of 1 records acknowledged in 0 of 1 batches")
    assert "retrying in 0.01 s" in human.err
    assert code_jsonl == 1
    events = [json.loads(line) for line in jsonl.out.splitlines()]
    assert [e["event"] for e in events] == ["start", "retry", "batch", "report"]
    assert events[0] == {"event": "start", "url": events[0]["url"], "records": 5,
                         "batches": 3, "batch_size": 2}
    assert events[2]["status"] == 500 and events[2]["attempts"] == 2
    assert events[2]["acknowledged"] is False and events[2]["records"] == 2
    assert events[3]["state"] == "failed" and events[3]["records_acknowledged"] == 0
    assert "warning: --insecure" in jsonl.err


def test_cli_needs_exactly_one_source(capsys):
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(["send", "https://localhost:8443/"])
    assert exc.value.code == 2
    assert "one of the arguments --sample --file --capture --generate is required" in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser().parse_args(["send", "https://x.test/", "--sample", "a", "--generate", "3"])
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser().parse_args(["send", "https://x.test/", "--generate", "1", "--cacert", "c",
                             "--insecure"])
    args = parser().parse_args(["send", "https://x.test/", "--generate", "3", "--filter", "a"])
    with pytest.raises(SystemExit):
        run_send(args)
    assert "--filter only goes with --capture" in capsys.readouterr().err


def test_cli_bad_sources_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert run_send(parser().parse_args(["send", "https://x.test/", "--file", str(bad)])) == 2
    assert "is neither a JSON list of records nor NDJSON" in capsys.readouterr().err
    assert run_send(parser().parse_args(["send", "https://x.test/", "--sample", "nope"])) == 2
    assert "no sample 'nope'" in capsys.readouterr().err
    capture = tmp_path / "c.sqlite"
    CaptureWriter(capture).close()
    args = parser().parse_args(["send", "https://x.test/", "--capture", str(capture),
                                "--filter", "type =="])
    assert run_send(args) == 2
    assert "bad --filter" in capsys.readouterr().err


def test_sigint_cancels_the_cli_with_exit_130():
    script = ("import argparse, sys\n"
              "from app.cli.options import add_send_parser\n"
              "from app.cli.send import run_send\n"
              "p = argparse.ArgumentParser()\n"
              "add_send_parser(p.add_subparsers(dest='command'))\n"
              "sys.exit(run_send(p.parse_args(sys.argv[1:])))\n")

    async def scenario():
        async with serving(fail_first(*range(1, 100), status=503)) as ep:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", script, "send", ep.url, "--generate", "3",
                "--backoff", "30", cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            try:
                while not ep.seen:
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.1)
                proc.send_signal(signal.SIGINT)
                t0 = time.monotonic()
                out, err = await asyncio.wait_for(proc.communicate(), 10)
                return proc.returncode, out.decode(), err.decode(), time.monotonic() - t0
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()

    code, out, err, took = asyncio.run(scenario())
    assert code == 130, err
    assert took < 3
    assert "batch 1/1  3 records  503" in out
    assert "cancelled: 0 of 3 records acknowledged" in out


# -- record sources ------------------------------------------------------------------------------


def test_records_from_a_json_list_file_keep_each_records_exact_text(tmp_path):
    text = '[\n  {"id": 1,  "a": [1, 2]},\n  {"id":2,"s":"\\u00e9 ]["}\n , 3.50 ]\n'
    path = tmp_path / "list.json"
    path.write_text(text)
    records = records_from_file(path)
    assert records == [b'{"id": 1,  "a": [1, 2]}', b'{"id":2,"s":"\\u00e9 ]["}', b"3.50"]
    (body,) = batches(records, 3000)
    assert body == b'[{"id": 1,  "a": [1, 2]},{"id":2,"s":"\\u00e9 ]["},3.50]'
    assert json.loads(body) == json.loads(text)
    empty = tmp_path / "empty.json"
    empty.write_text("[ ]")
    assert records_from_file(empty) == []


def test_records_from_ndjson(tmp_path):
    path = tmp_path / "records.ndjson"
    path.write_text('{"id": 1}\n\n{"id": 2, "x": "é"}\r\n')
    assert records_from_file(path) == [b'{"id": 1}', '{"id": 2, "x": "é"}'.encode()]


@pytest.mark.parametrize(("content", "message"), [
    ("", "is empty"),
    ('[{"id": 1}, {"id": 2]', "neither a JSON list of records nor NDJSON"),
    ('{"id": 1}\n{"id": \n', "line 2"),
    ('{"id": 1}\n[1, 2]\n', "line 2 is not a JSON object"),
])
def test_a_bad_records_file_says_why(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as exc:
        records_from_file(path)
    assert str(path) in str(exc.value)
    with pytest.raises(ValueError, match="cannot read"):
        records_from_file(tmp_path / "missing.json")


def test_batches_serialise_dicts_compactly_and_cut_at_size():
    out = list(batches([{"a": 1, "b": "é"}, b'{"raw" : true}', {"c": None}], 2))
    assert out == ['[{"a":1,"b":"é"},{"raw" : true}]'.encode(), b'[{"c":null}]']
    with pytest.raises(ValueError):
        list(batches([{}], 0))


def test_records_from_a_capture_with_and_without_filter(tmp_path):
    generated = Generator(sims=3, seed=4).records(30)
    path = tmp_path / "c.sqlite"
    w = CaptureWriter(path)
    w.store(Incoming("POST", "/", EVENT_SAMPLE.read_bytes(), content_type="application/json"))
    w.store(Incoming("POST", "/", json.dumps(generated).encode(),
                     content_type="application/json"))
    w.store(Incoming("POST", "/", b"{not a list", content_type="application/json"))
    w.close()
    everything = [json.loads(t) for t in records_from_capture(path)]
    assert everything == json.loads(EVENT_SAMPLE.read_text()) + generated
    iccid = generated[0]["sim"]["iccid"]
    matched = records_from_capture(path, f'iccid == "{iccid}"')
    expected = [r for r in generated if r["sim"]["iccid"] == iccid]
    assert 0 < len(expected) < len(generated)
    assert [json.loads(t) for t in matched] == expected
    # each record's text as posted (json.dumps escapes non-ASCII), less its white space
    assert matched == [json.dumps(r, separators=(",", ":")).encode() for r in expected]
    assert records_from_capture(path, "family == nothing-like-this") == []
    with pytest.raises(FilterError):
        records_from_capture(path, "type ==")


def test_records_from_the_documented_samples():
    for name, sample, key in (("update-location-event", EVENT_SAMPLE, "event_type"),
                              ("usage-record.json", USAGE_SAMPLE, "traffic_type")):
        records = records_from_sample(name)
        assert len(records) == 1
        assert json.loads(records[0]) == json.loads(sample.read_text())[0]
        assert key in json.loads(records[0])
        assert records_from_sample(name.removesuffix(".json")) == records
    with pytest.raises(ValueError, match="update-location-event, usage-record"):
        records_from_sample("nope")


def test_every_sample_of_the_library_sends_and_the_help_lists_them(capsys):
    """Regression (issue 10): the help named two samples, the full batch was refused and
    ``--sample index`` posted the library's index file as records."""
    from app.replay.samples import library

    names = [s.name for s in library()]
    assert len(names) >= 9
    for sample in library():
        records = records_from_sample(sample.name)
        assert records and all(json.loads(r).keys() for r in records), sample.name
        assert [json.loads(r) for r in records] == json.loads(sample.body()), sample.name
    with pytest.raises(ValueError, match="no sample 'index'"):
        records_from_sample("index")
    with pytest.raises(SystemExit):
        parser().parse_args(["send", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for name in names:
        assert name in help_text, name


def test_generated_records_are_the_generators():
    assert generated_records(12, seed=5, sims=4) == Generator(sims=4, seed=5).records(12)
