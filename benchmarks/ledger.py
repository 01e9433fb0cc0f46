"""Redelivery ledger benchmark: filling it for a large capture, in the receiver's idle steps.

    uv run python benchmarks/ledger.py [--records 1000000] [--redelivered 0.10] [--step 500]
    uv run python benchmarks/ledger.py --summary [--records 1000000] [--unacked 0.01]
        [--batch 1000] [--capture PATH]

Stores ``--records`` realistic records (3000 a request) of which ``--redelivered`` are exact
copies of records sent before (a streamer's redeliveries), then runs the receiver's idle step
(``CaptureWriter.index_pending(500)``: at most 500 records, into ``record_index`` first, then,
with what is left, into the ledger; one transaction) until both are complete. Reports the
ledger's fill rate (records/s of the ledger's part alone), the time per step (steps that only
indexed, steps that filled the ledger, and the ledger's part: p50, p99, max), and the ledger
part's median in the first and the last tenth of the run: a step costs a probe of the unique
(family, key) index per record, so late steps must not be slower than early ones.

``--summary`` times what the window and ``summary`` read live, ``ledger_summary`` and
``redeliveries`` (best of 3), against a plain ``SELECT sum(attempt) FROM record_seen`` in the same
run, on a capture where ``--unacked`` of the requests were refused (their records come again in
the next batch), ``--redelivered`` of the other records are copies of recent ones (1 in 100 with
other content: a conflict). ``--capture PATH`` keeps the capture to time it again.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from common import ROOT  # noqa: F401  (puts the project on sys.path)


def bodies(records: int, redelivered: float, seed: int = 13):
    """Batches of 3000 records as (body, count): fresh ids, plus exact copies of earlier
    records (chosen among the last 20,000 sent)."""
    from app.replay.generator import Generator

    rng = random.Random(seed)
    base = Generator(sims=2000, seed=9).records(3000)
    recent: list[bytes] = []
    next_id = 1
    done = 0
    while done < records:
        n = min(3000, records - done)
        texts = []
        for i in range(n):
            if recent and rng.random() < redelivered:
                texts.append(recent[rng.randrange(len(recent))])
                continue
            rec = dict(base[i])
            rec["id"] = next_id
            next_id += 1
            texts.append(orjson.dumps(rec))
        recent = (recent + texts)[-20_000:]
        done += n
        yield b"[" + b",".join(texts) + b"]", n


def summary_bodies(records: int, redelivered: float, unacked: float, batch: int,
                   seed: int = 13):
    """Batches of ``batch`` records as (body, acknowledged): fresh ids; a share ``unacked`` of the
    requests is refused and its records come again at the head of the next batch (as the
    streamer redelivers); exact copies of recent records make up ``redelivered`` of the rest,
    and one copy in 100 has other content (a conflict)."""
    from app.replay.generator import Generator

    rng = random.Random(seed)
    base = Generator(sims=2000, seed=9).records(batch)
    recent: list[bytes] = []
    pending: list[bytes] = []
    next_id = 1
    done = 0
    while done < records:
        texts = pending[:batch]
        for i in range(len(texts), min(batch, records - done)):
            if recent and rng.random() < redelivered:
                text = recent[rng.randrange(len(recent))]
                if rng.random() < 0.01:
                    text = text[:-1] + b',"conflicting":true}'
                texts.append(text)
                continue
            rec = dict(base[i])
            rec["id"] = next_id
            next_id += 1
            texts.append(orjson.dumps(rec))
        acked = rng.random() >= unacked
        pending = [] if acked else texts
        recent = (recent + texts)[-20_000:]
        done += len(texts)
        yield b"[" + b",".join(texts) + b"]", acked


def build_summary_capture(path: Path, records: int, redelivered: float, unacked: float,
                          batch: int) -> None:
    """A capture of :func:`summary_bodies`, its index and ledger complete."""
    from app.capture.answers import json_answer
    from app.capture.writer import CaptureWriter, Incoming

    writer = CaptureWriter(path)
    start = time.time() - 86400
    try:
        for n, (body, acked) in enumerate(summary_bodies(records, redelivered, unacked, batch)):
            def respond(stored, acked=acked):
                if not acked:
                    stored.status, stored.reason, stored.rule, stored.acked = (
                        503, "refused", "503 for 1", False)
                return json_answer({"status": stored.status})

            incoming = Incoming("POST", "/", body, content_type="application/json")
            incoming.received_at = start + n * 0.5
            writer.store(incoming, respond=respond)
        while writer.index_pending(20_000):
            pass
    finally:
        writer.close()


def best_of(fn, runs: int = 3) -> float:
    """The fastest of ``runs`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_summary(args: argparse.Namespace) -> None:
    """``ledger_summary`` and ``redeliveries`` on a large capture, against a baseline read in
    the same run (``SELECT sum(attempt) FROM record_seen``: one pass over the ledger's arrivals)."""
    from app.capture import ledger as ledger_module
    from app.capture.schema import open_reader

    path = Path(args.capture) if args.capture else Path(
        tempfile.mkdtemp(prefix="ledger-bench-")) / "summary.sqlite"
    if not path.exists():
        t = time.perf_counter()
        build_summary_capture(path, args.records, args.redelivered, args.unacked, args.batch)
        print(f"built {path} in {time.perf_counter() - t:.1f} s")
    db = open_reader(path)
    try:
        requests, unacked = db.execute(
            "SELECT count(*), count(*) FILTER (WHERE NOT acked) FROM request").fetchone()
        got = ledger_module.ledger_summary(db)
        baseline = best_of(lambda: db.execute("SELECT sum(attempt) FROM record_seen").fetchone())
        summary_s = best_of(lambda: ledger_module.ledger_summary(db))
        rows_s = best_of(lambda: ledger_module.redeliveries(db))
    finally:
        db.close()
    print(f"{got.coverage.records:,} records in {requests:,} requests, {unacked:,} "
          f"unacknowledged; {got.redeliveries:,} repeated arrivals, {got.conflicts:,} "
          f"conflicts, {got.duplicates_after_ack:,} after an acknowledgement")
    print(f"baseline sum(attempt) FROM record_seen: {baseline * 1000:.1f} ms")
    print(f"ledger_summary: {summary_s * 1000:.1f} ms (ratio {summary_s / baseline:.2f})")
    print(f"redeliveries: {rows_s * 1000:.1f} ms (ratio {rows_s / baseline:.2f})")
    if not args.capture:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--redelivered", type=float, default=0.10)
    ap.add_argument("--step", type=int, default=500)
    ap.add_argument("--summary", action="store_true",
                    help="time ledger_summary and redeliveries instead of the fill")
    ap.add_argument("--unacked", type=float, default=0.01,
                    help="--summary: share of refused requests")
    ap.add_argument("--batch", type=int, default=1000, help="--summary: records a request")
    ap.add_argument("--capture", help="--summary: keep the capture here (reused if it exists)")
    args = ap.parse_args()
    if args.summary:
        bench_summary(args)
        return
    from app.capture import ledger as ledger_module
    from app.capture import writer as writer_module
    from app.capture.schema import open_reader
    from app.capture.writer import CaptureWriter, Incoming

    path = Path(tempfile.mkdtemp(prefix="ledger-bench-")) / "big.sqlite"
    writer = CaptureWriter(path)
    t0 = time.perf_counter()
    start = time.time() - 3600
    for n, (body, _count) in enumerate(bodies(args.records, args.redelivered)):
        incoming = Incoming("POST", "/", body, content_type="application/json")
        incoming.received_at = start + n * 0.5
        writer.store(incoming)
    stored = time.perf_counter() - t0

    fill_times: list[float] = []
    fill_cpu: list[float] = []  # the storage thread's CPU time: steadier on a shared machine
    fill = ledger_module.fill

    def timed_fill(db, limit):
        t, c = time.perf_counter(), time.thread_time()
        try:
            return fill(db, limit)
        finally:
            fill_times.append(time.perf_counter() - t)
            fill_cpu.append(time.thread_time() - c)

    writer_module.fill_ledger = timed_fill  # the writer's own step, its ledger part timed
    steps: list[float] = []
    index_steps: list[float] = []  # steps that only indexed (the ledger had to wait)
    ledger_steps: list[float] = []
    while True:
        filled = len(fill_times)
        t = time.perf_counter()
        done = writer.index_pending(args.step)
        if not done:
            break
        steps.append(time.perf_counter() - t)
        (ledger_steps if len(fill_times) > filled else index_steps).append(steps[-1])
    writer.close()
    fill_times, fill_cpu = fill_times[:len(ledger_steps)], fill_cpu[:len(ledger_steps)]

    db = open_reader(path)
    summary = ledger_module.ledger_summary(db)
    t = time.perf_counter()
    ledger_module.ledger_summary(db)
    summary_s = time.perf_counter() - t
    db.close()
    def spread(values: list[float]) -> str:
        ms = [v * 1000 for v in values]
        return (f"p50 {statistics.median(ms):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, "
                f"max {max(ms):.1f} ms")

    fill_ms = [s * 1000 for s in fill_times]
    cpu_ms = [s * 1000 for s in fill_cpu]
    tenth = max(1, len(fill_ms) // 10)
    early, late = statistics.median(fill_ms[:tenth]), statistics.median(fill_ms[-tenth:])
    early_cpu, late_cpu = statistics.median(cpu_ms[:tenth]), statistics.median(cpu_ms[-tenth:])
    print(f"{args.records:,} records ({args.redelivered:.0%} redelivered) stored in "
          f"{stored:.1f} s; {len(steps)} idle steps of {args.step}")
    print(f"ledger fill: {args.records / sum(fill_times):,.0f} records/s "
          f"({sum(fill_times):.1f} s in all)")
    print(f"index-only steps ({len(index_steps)}): {spread(index_steps)}")
    print(f"steps filling the ledger ({len(ledger_steps)}): {spread(ledger_steps)}")
    print(f"ledger part of those: {spread(fill_times)}")
    print(f"ledger part, median of the first tenth {early:.2f} ms, of the last tenth "
          f"{late:.2f} ms (ratio {late / early:.2f}); CPU time {early_cpu:.2f} ms and "
          f"{late_cpu:.2f} ms (ratio {late_cpu / early_cpu:.2f})")
    print(f"ledger: {summary.records_with_id:,} ids, {summary.redeliveries:,} repeated "
          f"arrivals, complete: {summary.coverage.complete}; summary read in {summary_s:.2f} s")
    path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
