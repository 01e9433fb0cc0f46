"""Statistics benchmark: every figure of the Statistics view and the ``stats`` command on
1,000,000 records (``app.capture.stats``).

    uv run python benchmarks/stats.py [--records 1000000] [--repeat 3] [--capture PATH]

The capture is written the way the receiver writes one (``common.make_capture``: generated
events and usage records, 3,000 a request), all indexed but a last batch of 3,000 (just
stored: those are read from their JSON). ``--capture`` keeps it in PATH and reuses it when it
is there. Baselines in the same run: ``SELECT count(*) FROM record_index`` and one pass over
the index reading a column (``total(volume)``), the floor of any aggregation over it.
Unfiltered figures from the first record on read the receiver's rollups (``record_rollup``,
``sim_rollup``) plus the records since. Targets: each figure <= 1 s, the ``stats`` command
<= 2 s, at 1,000,000 records.

    uv run python benchmarks/stats.py --idle-indexing 150000 [--repeat 3]

measures instead what keeping the rollups costs the receiver's idle indexing (the same records
indexed 500 a step with and without the rollup step, rounds alternating).

    uv run python benchmarks/stats.py --filtered --capture PATH [--repeat 3]

measures instead the Statistics view's full recompute under filters: filters naming only
the rollups' fields (counted on them), a text search (its ids selected once), broad ones on
other fields; against the same counts done as the view did them before (three passes over
the records with the filter, no rollups: the baseline, same run) and the unfiltered view.

    uv run python benchmarks/stats.py --zoom 6 --capture PATH [--repeat 3]

measures instead the Statistics view's full recompute (``app.ui.stats.compute``) zoomed to 6
hours in the middle of the capture at 1-minute buckets (the time figures count only the time
shown, along the time index), against the unfiltered full zoom-out (the baseline) and the same
1-minute bucket with no window (every record counted: what a zoom cost before).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, make_capture


def best_of(fn, n: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def build(path: Path, records: int) -> None:
    from app.capture.writer import CaptureWriter, Incoming
    from app.replay.generator import Generator

    t0 = time.perf_counter()
    stored, indexed = make_capture(path, records - 3000, index=True)
    writer = CaptureWriter(path)  # a last batch, not indexed yet
    body = json.dumps(Generator(sims=2000, seed=11).records(3000)).encode()
    writer.store(Incoming("POST", "/", body, content_type="application/json"))
    writer.close()
    print(f"capture: {records:,} records written in {stored:.1f} s, indexed in {indexed:.1f} s "
          f"({time.perf_counter() - t0:.1f} s in all)")


@contextlib.contextmanager
def opened(args):
    """The benchmark's capture (``--capture``, built there when missing; else a temporary
    one), open for reading: (its path, the connection, how many records)."""
    from app.capture.schema import open_reader

    with tempfile.TemporaryDirectory() as folder:
        path = args.capture or Path(folder) / "stats.sqlite"
        if not path.exists():
            build(path, args.records)
        db = open_reader(path)
        try:
            yield path, db, db.execute("SELECT count(*) FROM record").fetchone()[0]
        finally:
            db.close()


def zoom(args) -> int:
    """The Statistics view's full recompute, zoomed (see the module's docstring)."""
    from app.ui.stats import Query, _span, compute

    with opened(args) as (_, db, total):
        first, last = _span(db, None)
        low = (first + last) / 2 - args.zoom * 1800
        window = (low, low + args.zoom * 3600)
        print(f"{total:,} records; best of {args.repeat}")
        for name, query in (("baseline: full zoom-out (unfiltered)", Query()),
                            (f"zoomed to {args.zoom:g} h, 1-min buckets", Query(every=60,
                                                                               window=window)),
                            ("1-min buckets, no window (all records)", Query(every=60))):
            seconds, (figures, _) = best_of(lambda q=query: compute(db, q), args.repeat)
            shown = next(f for f in figures if f.key == "family_time")
            counted = sum(sum(row[1:]) for row in shown.rows)
            print(f"  {name:<42} {seconds:7.3f} s  buckets of {shown.every:g} s, "
                  f"{len(shown.rows):,} buckets, {counted:,} records in the time figures")
        db.close()
    return 0


FILTERS = ("family == usage", "type == \"Delete PDP Context\"", "severity == WARN",
           "operator == T-Mobile and not alert", "alert", "\"Update location\"",
           "iccid ~ 7$", "volume > 1")


def filtered(args) -> int:
    """The Statistics view's full recompute under filters (see the module's docstring)."""
    from app.capture import stats as capstats
    from app.filters.parser import parse
    from app.ui.stats import TIMED, WIDE, Query, _bucket_size, compute

    def before(db, flt) -> None:  # the three passes the view made before, with the filter
        every = _bucket_size(db, Query(flt=flt))
        for by, timed in ((WIDE, False), (TIMED, True), (("iccid", "endpoint"), False)):
            capstats.record_stats(db, flt, by=by, every=every if timed else None,
                                  rollups=False)

    with opened(args) as (_, db, total):
        print(f"{total:,} records; best of {args.repeat}; the view's full recompute")
        seconds, _ = best_of(lambda: compute(db, Query()), args.repeat)
        print(f"  {'unfiltered':<40} {seconds:7.3f} s")
        print(f"  {'filter':<40} {'now':>9} {'before':>9}  ratio  records kept")
        for text in FILTERS:
            flt = parse(text)
            now, (figures, _) = best_of(lambda f=flt: compute(db, Query(flt=f)), args.repeat)
            old, _ = best_of(lambda f=flt: before(db, f), args.repeat)
            shown = next(f for f in figures if f.key == "family_time")
            kept = sum(sum(row[1:]) for row in shown.rows)
            how = ("rollups" if flt.fields is not None and flt.fields <= {
                "family", "type", "severity", "alert", "operator", "country", "rat",
                "currency", "type_id"} else "ids once" if flt.reads_json else "passes")
            print(f"  {text:<40} {now:7.3f} s {old:7.3f} s  {old / now:5.1f}x  {kept:>9,}"
                  f"  ({how})")
        db.close()
    return 0


def idle_indexing(records: int, rounds: int) -> None:
    """What keeping the rollups costs the receiver's idle indexing: the same records indexed
    with and without the rollup step (rounds alternate the two; best of each)."""
    from unittest import mock

    from app.capture import writer as writer_module
    from app.capture.writer import CaptureWriter, Incoming
    from app.replay.generator import Generator

    gen = Generator(sims=2000, seed=9)
    bodies = [json.dumps(gen.records(3000)).encode() for _ in range(4)]
    batches = max(1, records // 3000)

    def run(rollups: bool) -> float:
        with tempfile.TemporaryDirectory() as folder:
            writer = CaptureWriter(Path(folder) / "c.sqlite")
            for i in range(batches):
                writer.store(Incoming("POST", "/", bodies[i % len(bodies)],
                                      content_type="application/json"))
            step = writer_module.roll_up if rollups else lambda db: 0
            with mock.patch.object(writer_module, "roll_up", step):
                t0 = time.perf_counter()
                while writer.index_pending(500):  # the receiver's step
                    pass
                took = time.perf_counter() - t0
            writer.close()
            return took

    best = {False: float("inf"), True: float("inf")}
    for _ in range(rounds):
        for rollups in (False, True):
            best[rollups] = min(best[rollups], run(rollups))
    n = batches * 3000
    print(f"{n:,} records indexed while idle, 500 a step (best of {rounds}):")
    print(f"  without the rollups (baseline) {best[False]:6.2f} s  "
          f"{best[False] / n * 1e6:5.1f} us a record")
    print(f"  with the rollups               {best[True]:6.2f} s  "
          f"{best[True] / n * 1e6:5.1f} us a record  ({best[True] / best[False]:.2f}x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--capture", type=Path)
    parser.add_argument("--idle-indexing", type=int, metavar="RECORDS",
                        help="only measure what the rollups cost idle indexing, on RECORDS")
    parser.add_argument("--filtered", action="store_true",
                        help="only measure the Statistics view under filters")
    parser.add_argument("--zoom", type=float, metavar="HOURS",
                        help="only measure the Statistics view zoomed to HOURS at 1-min buckets")
    args = parser.parse_args()
    if args.idle_indexing:
        idle_indexing(args.idle_indexing, args.repeat)
        return 0
    if args.zoom:
        return zoom(args)
    if args.filtered:
        return filtered(args)

    from app.capture.stats import auto_every, record_span, record_stats, request_stats
    from app.cli.main import main as cli
    from app.filters.parser import parse

    with opened(args) as (path, db, total):
        indexed = db.execute("SELECT count(*) FROM record_index").fetchone()[0]
        print(f"{total:,} records, {indexed:,} indexed; best of {args.repeat}")
        rows: list[tuple[str, float, str]] = []

        def measure(name: str, fn, describe=lambda out: "") -> object:
            seconds, out = best_of(fn, args.repeat)
            rows.append((name, seconds, describe(out)))
            return out

        measure("baseline: SELECT count(*) FROM record_index",
                lambda: db.execute("SELECT count(*) FROM record_index").fetchone())
        measure("baseline: total(volume) over record_index (one pass)",
                lambda: db.execute("SELECT total(volume) FROM record_index").fetchone())
        first, last = measure("span of the record times (for the bucket size)",
                              lambda: record_span(db))
        every = auto_every(first, last)
        groups = lambda table: f"{len(table.rows):,} groups"  # noqa: E731
        measure(f"records over time by family + event type (every {every:g} s)",
                lambda: record_stats(db, by=("family", "event_type"), every=every), groups)
        alerts = parse("alert")
        measure("alerts over time by event type",
                lambda: record_stats(db, alerts, by=("event_type",), every=every,
                                     families=("event",)), groups)
        measure("top SIMs: events, data, SMS per ICCID and family",
                lambda: record_stats(db, by=("iccid", "family")), groups)
        measure("top SIMs with their endpoint name",
                lambda: record_stats(db, by=("iccid", "endpoint")), groups)
        for name in ("operator", "country", "rat"):
            measure(f"volume and SMS by {name}", lambda n=name: record_stats(db, by=(n,)),
                    groups)
        measure("volume and SMS by operator, country and rat (one query)",
                lambda: record_stats(db, by=("operator", "country", "rat")), groups)
        measure("event-type histogram",
                lambda: record_stats(db, by=("event_type",), families=("event",)), groups)
        measure("severity split",
                lambda: record_stats(db, by=("severity",), families=("event",)), groups)
        measure(f"request buckets (every {every:g} s)", lambda: request_stats(db, every),
                lambda out: f"{len(out):,} buckets")
        usage = parse("family == usage and volume > 1")
        measure("filtered (family == usage and volume > 1) by operator",
                lambda: record_stats(db, usage, by=("operator",)), groups)
        measure("incremental: the records after the last count (none new)",
                lambda: record_stats(db, by=("family", "event_type"), every=every,
                                     after=total), groups)
        measure("incremental: the last 3,000 (not indexed) by family + event type",
                lambda: record_stats(db, by=("family", "event_type"), every=every,
                                     after=total - 3000), groups)
        db.close()

        def command(*extra: str) -> int:
            with contextlib.redirect_stdout(io.StringIO()):
                return cli(["stats", str(path), *extra])

        measure("stats CAPTURE (in-process)", command)
        measure("stats CAPTURE --by operator,country,rat", lambda: command(
            "--by", "operator,country,rat"))
        measure("stats CAPTURE --by iccid --every 1h --json", lambda: command(
            "--by", "iccid", "--every", "1h", "--json"))
        measure("stats CAPTURE (a new process, with its start-up)", lambda: subprocess.run(
            [sys.executable, "-m", "app", "stats", str(path)], cwd=ROOT, check=True,
            capture_output=True))

    width = max(len(name) for name, _, _ in rows)
    for name, seconds, note in rows:
        print(f"  {name:<{width}}  {seconds:7.3f} s  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
