"""Sorting benchmark: a table of 1,000,000 usage records sorted by time and by volume.

    uv run python benchmarks/sorting.py [--records 1000000] [--repeat 3]

Sorts the way a header click does (``app.capture.order.sorted_ids`` on the reader thread's
connection: one SQL ``ORDER BY`` over ``record_index``, the ids back as one JSON array), with
the whole table indexed and with the last 3,000 records not indexed yet (a batch just stored).
Baseline in the same run: reading the table's ids in arrival order the same way (no sort), the
floor of any order the model can be given. Target: <= 1 s at 1,000,000 records; the figures
to compare across machines are the ratios to the baseline.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import tempfile
import time
from array import array
from pathlib import Path

from common import ROOT  # noqa: F401  (puts the project on sys.path)


def best_of(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def make_usage_capture(path: Path, records: int) -> None:
    """``records`` usage records (3,000 a batch) with varied volumes and times, all indexed
    but the last batch."""
    from app.capture.writer import CaptureWriter, Incoming
    from app.replay.generator import Generator

    template = next(r for r in Generator(sims=50, seed=5).records(20) if "start_timestamp" in r)
    template = copy.deepcopy(template)
    template["volume"]["total"] = "@VOLUME@"
    template["start_timestamp"] = "@TIME@"
    text = json.dumps(template).replace('"@VOLUME@"', "@VOLUME@")
    rng = random.Random(7)
    writer = CaptureWriter(path)
    done = 0
    while done < records:
        batch = []
        for _ in range(min(3000, records - done)):
            second = rng.randrange(0, 90 * 86400)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1735689600 + second))
            batch.append(text.replace("@VOLUME@", str(round(rng.expovariate(1.0), 6)))
                         .replace("@TIME@", stamp))
        writer.store(Incoming("POST", "/", ("[" + ",".join(batch) + "]").encode(),
                              content_type="application/json"))
        done += len(batch)
    while writer.index_pending(20000):
        pass
    writer.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import orjson

    from app.capture.follow import Follower
    from app.capture.order import SortKey
    from app.capture.writer import CaptureWriter, Incoming

    path = Path(tempfile.mkdtemp(prefix="sort-bench-")) / "usage.sqlite"
    t0 = time.perf_counter()
    make_usage_capture(path, args.records)
    print(f"{args.records:,} usage records written and indexed in "
          f"{time.perf_counter() - t0:.0f} s")
    follower = Follower(path)
    follower.poll()
    db = follower._db
    ids = array("q", orjson.loads(db.execute(
        "SELECT json_group_array(id) FROM record_index WHERE family = 'usage'").fetchone()[0]))

    def baseline() -> None:
        text = db.execute("SELECT json_group_array(id) FROM record_index "
                          "WHERE family = 'usage'").fetchone()[0]
        array("q", orjson.loads(text))

    def run(column: str, descending: bool, shown: array = ids):
        return lambda: follower.sorted_ids(SortKey("usage", column, descending), shown)

    rows = [("baseline: the ids in arrival order, no sort", best_of(baseline, args.repeat))]
    for column, title in (("start", "time"), ("volume", "volume")):
        for descending in (False, True):
            what = f"by {title}, {'descending' if descending else 'ascending'}"
            rows.append((what, best_of(run(column, descending), args.repeat)))
    rows.append(("by volume, a filter showing every other row",
                 best_of(run("volume", False, ids[::2]), args.repeat)))
    rows.append(("by ICCID (text)", best_of(run("iccid", False), args.repeat)))
    # a batch the receiver has not indexed yet: its records sorted from their JSON
    writer = CaptureWriter(path)
    writer.store(Incoming("POST", "/", json.dumps([json.loads(r) for (r,) in db.execute(
        "SELECT json FROM record ORDER BY id DESC LIMIT 3000")]).encode(),
        content_type="application/json"))
    writer.close()
    follower.poll()
    more = array("q", ids)
    more.extend(r[0] for r in db.execute("SELECT id FROM record WHERE id > ?", (ids[-1],)))
    rows.append(("by time, the last 3,000 not indexed yet",
                 best_of(run("start", False, more), args.repeat)))
    base = rows[0][1]
    print(f"\n{'sort':48s} {'seconds':>8s} {'x baseline':>11s}")
    for what, seconds in rows:
        print(f"{what:48s} {seconds:8.2f} {seconds / base:11.1f}")
    follower.close()


if __name__ == "__main__":
    main()
