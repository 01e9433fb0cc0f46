"""``send --redeliver-unacked``: like the streamer's buffer, the records of an unacknowledged batch
go back to the front of the queue and come again in later batches together with new ones; and
plain ``send`` against the real ``serve --answer '503 for 2'`` retries as documented.

The test servers are real aiohttp servers (``tests.replay.test_sender.serving``) that note every
request; the end-to-end tests run the real receiver and read its capture with sqlite.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import time
from collections import Counter

import orjson
import pytest
from aiohttp import web

from app.capture.ledger import ledger_summary, ledger_through, redeliveries, seen_of
from app.capture.schema import open_reader
from app.cli.send import run_send
from app.replay.generator import Generator
from app.replay.sender import SendOptions, send
from tests.conftest import folded, start_receiver
from tests.replay.test_sender import numbered, parser, serving


def refuse(*numbers: int, status: int = 503):
    """An answer: ``status`` for the POSTs numbered ``numbers`` (from 1), else 200."""

    async def answer(n, ep):
        if n in numbers:
            return web.json_response({"ok": False, "error": "paused"}, status=status)
        return web.json_response({"ok": True})
    return answer


def ids_of(seen) -> list[list[int]]:
    return [[r["id"] for r in s.records] for s in seen]


def redelivering(url: str, **kw) -> SendOptions:
    kw.setdefault("backoff", 0.05)
    return SendOptions(url=url, redeliver_unacked=True, **kw)


# -- the queue -----------------------------------------------------------------------------------


def test_unacknowledged_records_come_again_first_together_with_new_ones():
    results = []

    async def scenario():
        async with serving(refuse(1, 2)) as ep:
            report = await send(numbered(20), redelivering(ep.url, batch_size=4),
                                on_batch=results.append)
            return report, ep.seen

    report, seen = asyncio.run(scenario())
    assert ids_of(seen) == [[0, 1, 2, 3],
                            [0, 1, 2, 3, 4, 5, 6, 7],  # the 4 refused, then 4 new ones
                            list(range(12)),
                            [12, 13, 14, 15],
                            [16, 17, 18, 19]]
    assert report.state == "done"
    assert (report.records_sent, report.records_acknowledged, report.records_redelivered) == (
        20, 20, 12)
    assert [(b.number, b.records, b.redelivered, b.status, b.acknowledged, b.requeued)
            for b in results] == [(1, 4, 0, 503, False, 4), (2, 8, 4, 503, False, 8),
                                  (3, 12, 8, 200, True, 0), (4, 4, 0, 200, True, 0),
                                  (5, 4, 0, 200, True, 0)]
    assert [b.attempts for b in results] == [1] * 5  # each batch posted once
    assert [b.delay for b in results] == [0.05, 0.1, None, None, None]
    # every record acknowledged exactly once: in the one 200 that carried it
    acked = Counter(i for s, got in zip(seen, results, strict=True) if got.acknowledged
                    for i in (r["id"] for r in s.records))
    assert acked == Counter(range(20))
    # the back-off before each redelivery, from the arrival times: 0.05 s, then 0.1 s
    gaps = [b.at - a.at for a, b in itertools.pairwise(seen[:3])]
    assert 0.04 <= gaps[0] < 1 and 0.09 <= gaps[1] < 1, gaps
    assert gaps[1] > gaps[0]


def test_without_the_flag_the_same_batch_is_posted_again():
    async def scenario():
        async with serving(refuse(1, 2)) as ep:
            report = await send(numbered(8), SendOptions(ep.url, batch_size=4, backoff=0.01))
            return report, ep.seen

    report, seen = asyncio.run(scenario())
    assert ids_of(seen) == [[0, 1, 2, 3]] * 3 + [[4, 5, 6, 7]]
    assert report.state == "done" and report.records_redelivered == 8
    assert [(b.attempts, b.redelivered) for b in report.batches] == [(3, 0), (1, 0)]


def test_a_record_unacknowledged_after_its_retries_fails_the_run_and_is_named():
    async def scenario():
        async with serving(refuse(*range(1, 100))) as ep:
            report = await send(numbered(6), redelivering(ep.url, batch_size=2, retries=2,
                                                          backoff=0.01))
            return report, ep.seen

    report, seen = asyncio.run(scenario())
    assert ids_of(seen) == [[0, 1], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5]]
    assert report.state == "failed"
    assert report.failure == ("record 1 of the stream (id 0) not acknowledged after 3 "
                              "deliveries (batches 1 to 3)")
    assert (report.records_sent, report.records_acknowledged, report.records_redelivered) == (
        6, 0, 6)
    last = report.batches[-1]
    assert not last.acknowledged and last.requeued == 0 and last.delay is None


def test_a_batch_never_exceeds_3000_records_however_many_wait():
    async def scenario():
        async with serving(refuse(1, 2)) as ep:
            report = await send(numbered(7000), redelivering(ep.url, backoff=0.01))
            return report, ep.seen

    report, seen = asyncio.run(scenario())
    sizes = [len(s.records) for s in seen]
    assert sizes == [3000, 3000, 3000, 3000, 1000]
    assert ids_of(seen)[1] == ids_of(seen)[0] == list(range(3000))  # full: the same again
    assert report.state == "done" and report.records_acknowledged == 7000
    assert [b.redelivered for b in report.batches] == [0, 3000, 3000, 0, 0]


def test_a_repeated_record_text_is_its_own_delivery():
    """``--repeat`` sends the list again as new records: they are never redeliveries."""
    async def scenario():
        async with serving(refuse(2)) as ep:
            report = await send(numbered(2), redelivering(ep.url, batch_size=2, repeat=3,
                                                          backoff=0.01))
            return report, ep.seen

    report, seen = asyncio.run(scenario())
    assert ids_of(seen) == [[0, 1], [0, 1], [0, 1, 0, 1]]
    assert [b.redelivered for b in report.batches] == [0, 0, 2]
    assert report.records_acknowledged == 6 and report.records_redelivered == 2


def test_cancel_during_the_backoff_stops_promptly():
    async def scenario():
        async with serving(refuse(*range(1, 100))) as ep:
            cancel = asyncio.Event()

            async def stop_after_first():
                while not ep.seen:
                    await asyncio.sleep(0.01)
                cancel.set()

            watcher = asyncio.create_task(stop_after_first())
            t0 = time.monotonic()
            report = await send(numbered(4), redelivering(ep.url, batch_size=2, backoff=30),
                                cancel=cancel)
            await watcher
            return report, time.monotonic() - t0, len(ep.seen)

    report, took, posts = asyncio.run(scenario())
    assert report.state == "cancelled" and took < 1.5 and posts == 1
    assert report.records_acknowledged == 0 and report.batches[0].requeued == 2


# -- the command line ----------------------------------------------------------------------------


def test_cli_lines_say_how_many_records_of_each_batch_are_redeliveries(capsys):
    async def scenario():
        async with serving(refuse(1, 2)) as ep:
            human = parser().parse_args(["send", ep.url, "--generate", "12", "--batch", "4",
                                         "--redeliver-unacked", "--backoff", "0.01"])
            code = await asyncio.to_thread(run_send, human)
            captured = capsys.readouterr()
            events = parser().parse_args(["send", ep.url, "--generate", "6", "--batch", "2",
                                          "--redeliver-unacked", "--retries", "1",
                                          "--backoff", "0.01", "--events", "jsonl"])
            ep.answer = refuse(*range(1, 100))
            code_jsonl = await asyncio.to_thread(run_send, events)
            return code, captured, code_jsonl, capsys.readouterr()

    code, human, code_jsonl, jsonl = asyncio.run(scenario())
    assert code == 0
    lines = human.out.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("batch 1  4 records  503  ")
    assert lines[0].endswith("  1 attempt  503 Service Unavailable: paused  (4 records back "
                             "to the front of the queue, next batch in 0.01 s)")
    assert lines[1].startswith("batch 2  8 records (4 redelivered)  503  ")
    assert lines[1].endswith("next batch in 0.02 s)")
    assert lines[2].startswith("batch 3  12 records (8 redelivered)  200  ")
    assert lines[2].endswith(" s  1 attempt")
    assert lines[3].startswith("done: 12 of 12 records acknowledged in 1 of 3 batches, "
                               "12 redelivered, ")
    assert code_jsonl == 1
    events = [json.loads(line) for line in jsonl.out.splitlines()]
    assert [e["event"] for e in events] == ["start", "batch", "batch", "report"]
    assert events[0]["redeliver_unacked"] is True and events[0]["batches"] == 3
    assert [(e["records"], e["redelivered"], e["requeued"], e["delay"])
            for e in events[1:3]] == [(2, 0, 2, 0.01), (4, 2, 0, None)]
    report = events[3]
    assert (report["state"], report["records_sent"], report["records_acknowledged"],
            report["records_redelivered"], report["batches"]) == ("failed", 4, 0, 2, 2)
    assert report["failure"].startswith("record 1 of the stream (id ")
    assert report["failure"].endswith(") not acknowledged after 2 deliveries (batches 1 to 2)")


def test_cli_retry_events_of_a_plain_run_carry_the_delay_before_the_retry(capsys):
    """Regression: the batch's own ``delay`` (None) hid the retry's, and the window's send
    dialog failed to format it."""
    async def scenario():
        async with serving(refuse(1, 2)) as ep:
            args = parser().parse_args(["send", ep.url, "--generate", "2", "--backoff", "0.01",
                                        "--events", "jsonl"])
            return await asyncio.to_thread(run_send, args), capsys.readouterr()

    code, captured = asyncio.run(scenario())
    assert code == 0
    events = [json.loads(line) for line in captured.out.splitlines()]
    assert [(e["event"], e.get("delay")) for e in events] == [
        ("start", None), ("retry", 0.01), ("retry", 0.02), ("batch", None), ("report", None)]


@pytest.mark.parametrize("argv", [["--redeliver-unacked"], []])
def test_the_option_parses(argv):
    args = parser().parse_args(["send", "https://localhost:8443/", "--generate", "1", *argv])
    assert args.redeliver_unacked is bool(argv)


# -- end to end: the real receiver answering by its rules ----------------------------------------

@pytest.fixture
def failing(tmp_path):
    """``serve --answer '503 for 2'``: the next 2 valid POSTs get 503, then 200 again."""
    rec = start_receiver(tmp_path, "--answer", "503 for 2")
    yield rec
    rec.stop()


def _ledger_ready(capture, last_record: int) -> None:
    """Wait until the receiver's idle step has put every record in the ledger."""
    deadline = time.monotonic() + 20
    while True:
        db = open_reader(capture)
        try:
            if ledger_through(db) >= last_record:
                return
        finally:
            db.close()
        assert time.monotonic() < deadline, "the ledger did not cover the records in time"
        time.sleep(0.05)


def _requests(db, since: int) -> list[tuple]:
    return db.execute("SELECT id, status, rule, acked, record_count, received_at FROM request "
                      "WHERE id > ? ORDER BY id", (since,)).fetchall()


def _arrivals(db, request_ids) -> dict[str, list[int]]:
    """Each record text: the acked flag of every request it arrived in, in order."""
    marks = ",".join("?" * len(request_ids))
    out: dict[str, list[int]] = {}
    for text, acked in db.execute(
            f"SELECT r.json, q.acked FROM record AS r JOIN request AS q ON q.id = r.request_id "
            f"WHERE q.id IN ({marks}) ORDER BY r.id", list(request_ids)):
        out.setdefault(text, []).append(acked)
    return out


def _at(received_at: str) -> float:
    return dt.datetime.fromisoformat(received_at.replace("Z", "+00:00")).timestamp()


def _max_request(capture) -> int:
    db = open_reader(capture)
    try:
        return db.execute("SELECT coalesce(max(id), 0) FROM request").fetchone()[0]
    finally:
        db.close()


def test_plain_send_retries_as_documented_and_the_ledger_sees_each_record_3_times(failing):
    records = [orjson.dumps(r) for r in Generator(sims=4, seed=21).records(10)]
    before = _max_request(failing.capture)
    retries: list[tuple] = []
    options = SendOptions(failing.url, user="streamer", password="test-password",
                          cacert=failing.ca_file, backoff=0.2, retries=5)
    report = asyncio.run(send(records, options,
                              on_retry=lambda b, delay: retries.append((b.status, delay))))
    assert report.state == "done" and report.records_acknowledged == 10
    assert retries == [(503, 0.2), (503, 0.4)]  # then the 200
    assert [(b.status, b.attempts) for b in report.batches] == [(200, 3)]
    assert report.records_redelivered == 20

    db = open_reader(folded(failing.capture))
    try:
        rows = _requests(db, before)
        assert [(s, rule, acked, n) for _, s, rule, acked, n, _ in rows] == [
            (503, "503 for 2", 0, 10), (503, "503 for 2", 0, 10), (200, None, 1, 10)]
        gaps = [_at(b[5]) - _at(a[5]) for a, b in itertools.pairwise(rows)]
        assert 0.19 <= gaps[0] < 1.2 and 0.39 <= gaps[1] < 1.4, gaps  # the back-off
        arrivals = _arrivals(db, [r[0] for r in rows])
        assert sorted(arrivals) == sorted(t.decode() for t in records)
        assert all(acks == [0, 0, 1] for acks in arrivals.values())  # 3x, acknowledged once
        ids = [i for (i,) in db.execute(
            "SELECT r.id FROM record AS r WHERE r.request_id > ? ORDER BY r.id", (before,))]
    finally:
        db.close()
    _ledger_ready(failing.capture, ids[-1])
    db = open_reader(folded(failing.capture))
    try:
        seen = seen_of(db, ids)
        summary = ledger_summary(db)
        later = [r for r in redeliveries(db) if r.request_id > before]
    finally:
        db.close()
    assert {(s.seen, s.conflict) for s in seen.values()} == {(3, False)}
    assert sorted((s.attempt, s.acked) for s in seen.values()) == sorted(
        [(1, False)] * 10 + [(2, False)] * 10 + [(3, True)] * 10)
    assert [(r.status, r.rule, r.records, r.redelivered, r.never_redelivered,
             r.later_requests) for r in later] == [
        (503, "503 for 2", 10, 10, 0, [rows[1][0]]),
        (503, "503 for 2", 10, 10, 0, [rows[2][0]])]
    assert 0.19 <= later[0].median_delay_s < 1.2 and 0.39 <= later[1].median_delay_s < 1.4
    assert (summary.unacknowledged_requests, summary.unacknowledged_records,
            summary.records_redelivered, summary.never_redelivered, summary.redeliveries,
            summary.duplicates_after_ack, summary.conflicts) == (2, 20, 20, 0, 20, 0, 0)


def test_redelivered_records_arrive_mixed_with_new_ones_and_each_is_acknowledged_once(
        failing, capsys, tmp_path):
    before = _max_request(failing.capture)
    sent = [orjson.dumps(r).decode() for r in Generator(sims=100, seed=22).records(20)]
    (tmp_path / "stream.ndjson").write_text("\n".join(sent) + "\n")
    args = parser().parse_args([
        "send", failing.url, "--file",
        str(tmp_path / "stream.ndjson"), "--batch", "4", "--redeliver-unacked", "--backoff",
        "0.1", "--user", "streamer", "--password", "test-password", "--cacert",
        failing.ca_file])
    assert run_send(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[:3] for line in out[:5]] == [
        ["batch 1", "4 records", "503"], ["batch 2", "8 records (4 redelivered)", "503"],
        ["batch 3", "12 records (8 redelivered)", "200"], ["batch 4", "4 records", "200"],
        ["batch 5", "4 records", "200"]]
    assert out[5].startswith("done: 20 of 20 records acknowledged in 3 of 5 batches, "
                             "12 redelivered, ")

    db = open_reader(folded(failing.capture))
    try:
        rows = _requests(db, before)
        assert [(s, rule, acked, n) for _, s, rule, acked, n, _ in rows] == [
            (503, "503 for 2", 0, 4), (503, "503 for 2", 0, 8),
            (200, None, 1, 12), (200, None, 1, 4), (200, None, 1, 4)]
        per_request = [[t for (t,) in db.execute(
            "SELECT json FROM record WHERE request_id = ? ORDER BY id", (r[0],))] for r in rows]
        arrivals = _arrivals(db, [r[0] for r in rows])
        ids = [i for (i,) in db.execute(
            "SELECT id FROM record WHERE request_id > ? ORDER BY id", (before,))]
    finally:
        db.close()
    # the refused records come first, then new ones, in the same POST
    assert per_request[1] == sent[:8] and per_request[2] == sent[:12]
    assert per_request[3] == sent[12:16] and per_request[4] == sent[16:]
    assert set(arrivals) == set(sent)
    assert all(acks.count(1) == 1 and acks[-1] == 1 for acks in arrivals.values())
    _ledger_ready(failing.capture, ids[-1])
    db = open_reader(folded(failing.capture))
    try:
        seen = seen_of(db, ids)
        text_of = dict(db.execute("SELECT id, json FROM record WHERE request_id > ?",
                                  (before,)).fetchall())
        summary = ledger_summary(db)
    finally:
        db.close()
    # 4 + 8 records refused, each came again in the next POST; none after its 200
    assert (summary.unacknowledged_requests, summary.unacknowledged_records,
            summary.records_redelivered, summary.never_redelivered, summary.redeliveries,
            summary.duplicates_after_ack, summary.conflicts) == (2, 12, 12, 0, 12, 0, 0)
    times = {text_of[i]: s.seen for i, s in seen.items()}
    assert times == {t: 3 if n < 4 else 2 if n < 8 else 1 for n, t in enumerate(sent)}
    acked_arrivals = Counter(text_of[i] for i, s in seen.items() if s.acked)
    assert acked_arrivals == Counter(sent)  # every record acknowledged exactly once
