"""``send --redeliver-unacked``: like the streamer's buffer, the records of an unacknowledged batch
go back to the front of the queue and come again in later batches together with new ones; and
plain ``send`` against the real ``serve --answer '503 for 2'`` retries as documented.

The test servers are real aiohttp servers (``tests.replay.test_sender.serving``) that note every
request; the end-to-end tests run the real receiver and read its capture with sqlite.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter

import pytest
from aiohttp import web

from app.cli.send import run_send
from app.replay.sender import SendOptions, send
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
    assert lines[0].endswith("  1 attempt  503 Service Unavailable: paused; 4 records back "
                             "to the front of the queue, next batch in 0.01 s")
    assert lines[1].startswith("batch 2  8 records (4 redelivered)  503  ")
    assert lines[1].endswith("next batch in 0.02 s")
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


@pytest.mark.parametrize("argv", [["--redeliver-unacked"], []])
def test_the_option_parses(argv):
    args = parser().parse_args(["send", "https://localhost:8443/", "--generate", "1", *argv])
    assert args.redeliver_unacked is bool(argv)
