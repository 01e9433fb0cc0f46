"""Filter benchmark on a large capture: typical field filters and full-text searches.

    uv run python benchmarks/filters.py [--records 1000000]

Times each filter the way the window runs it (``Follower.matching``: the ids of one table that
pass), on the indexed capture and with the index hidden (records read from their JSON, as for
records the receiver has not indexed yet). Baseline in the same run: one pass reading every
record's JSON text (``sum(length(json))``), the floor for any full-text search.
Target: <= 1 s for a typical field filter and a full-text search at 1,000,000 records.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import make_capture


def _iccid() -> str:
    from app.replay.generator import Generator

    # the SIM of the first record make_capture writes: it has events and usage records
    return Generator(sims=2000, seed=9).records(1)[0]["sim"]["iccid"]


ICCID = _iccid()
FILTERS = [
    ("events", f'iccid == "{ICCID}"', "one SIM's events"),
    ("events", "type ~ PDP and alert", "rejected PDP contexts"),
    ("events", "event_type.id == 3 and detail.country.iso_code == de", "JSON paths"),
    ("usage", "volume > 1 and country == Germany", "usage above 1 MB in Germany"),
    ("events", "severity != INFO or alert", "warnings"),
    ("events", "netherlands", "full text, a word"),
    ("usage", ICCID, "full text, an ICCID"),
]


def best_of(fn, n: int = 3) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    args = ap.parse_args()
    from app.capture.follow import Follower
    from app.filters.parser import parse

    path = Path(tempfile.mkdtemp(prefix="filter-bench-")) / "big.sqlite"
    stored, indexed = make_capture(path, args.records, index=True)
    print(f"{args.records:,} records: stored in {stored:.1f} s, indexed in {indexed:.1f} s "
          f"({indexed / args.records * 1e6:.1f} us a record, after the acknowledgements)")
    follower = Follower(path)
    follower.poll()
    db = follower._db
    db.execute("PRAGMA mmap_size = 0")
    last = db.execute("SELECT max(id) FROM record").fetchone()[0]
    baseline = best_of(lambda: db.execute("SELECT sum(length(json)) FROM record").fetchone())
    print(f"baseline, reading every record's JSON once: {baseline:.2f} s\n")
    print(f"{'filter':48s} {'matches':>8s} {'indexed':>8s} {'no index':>9s}")
    rows = []
    for table, text, what in FILTERS:
        table_key = "event" if table == "events" else "usage"
        flt = parse(text)
        hits = len(follower.matching(flt, table_key, 0, last))
        with_index = best_of(lambda f=flt, t=table_key: follower.matching(f, t, 0, last))
        rows.append((f"{text}  ({what})", hits, with_index))
    # Without the index: a temporary empty record_index shadows the real one.
    from app.capture.schema import _INDEX_TABLE

    db.execute(_INDEX_TABLE.replace("{schema}", "temp."))
    for n, (table, text, _what) in enumerate(FILTERS):
        table_key = "event" if table == "events" else "usage"
        flt = parse(text)
        without = best_of(lambda f=flt, t=table_key: follower.matching(f, t, 0, last), 1)
        label, hits, with_index = rows[n]
        print(f"{label[:48]:48s} {hits:8,d} {with_index:7.2f}s {without:8.2f}s")
        rows[n] = (label, hits, with_index, without)
    print(f"\nindexed, median {statistics.median(r[2] for r in rows):.2f} s, "
          f"max {max(r[2] for r in rows):.2f} s; "
          f"ratio to the baseline read: max {max(r[2] for r in rows) / baseline:.2f}")
    follower.close()


if __name__ == "__main__":
    main()
