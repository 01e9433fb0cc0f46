"""Idle indexing benchmark: what the sort indexes of capture format 8 cost the receiver.

    uv run python benchmarks/indexing.py [--records 150000] [--rounds 2]

The receiver indexes records while idle, after their batch was acknowledged
(``CaptureWriter.index_pending``): the key fields into ``record_index`` and, since format 8,
four sort indexes on it (time, volume, severity, ICCID). Baseline in the same run: the same
records indexed into a capture whose sort indexes were dropped. Rounds alternate the two.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import ROOT  # noqa: F401  (puts the project on sys.path)


def run(bodies: list[bytes], batches: int, drop: bool) -> tuple[float, float]:
    from app.capture.writer import CaptureWriter, Incoming
    from app.records.fields import SORT_KEYS

    writer = CaptureWriter(Path(tempfile.mkdtemp(prefix="index-bench-")) / "c.sqlite")
    if drop:
        for name in SORT_KEYS:
            writer._db.execute(f"DROP INDEX record_index_by_{name}")
    t0 = time.perf_counter()
    for i in range(batches):
        writer.store(Incoming("POST", "/", bodies[i % len(bodies)],
                              content_type="application/json"))
    stored = time.perf_counter() - t0
    t0 = time.perf_counter()
    while writer.index_pending(5000):
        pass
    indexed = time.perf_counter() - t0
    writer.close()
    return stored, indexed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=150_000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    from app.replay.generator import Generator

    gen = Generator(sims=2000, seed=9)
    bodies = [json.dumps(gen.records(3000)).encode() for _ in range(4)]
    batches = max(1, args.records // 3000)
    records = batches * 3000
    best = {True: float("inf"), False: float("inf")}
    for _ in range(args.rounds):
        for drop in (True, False):
            _, indexed = run(bodies, batches, drop)
            best[drop] = min(best[drop], indexed)
    base = best[True]
    print(f"{records:,} records indexed while idle (best of {args.rounds}):")
    print(f"  without sort indexes (baseline) {base:6.1f} s  {base / records * 1e6:5.1f} us a "
          f"record")
    print(f"  with the four sort indexes      {best[False]:6.1f} s  "
          f"{best[False] / records * 1e6:5.1f} us a record  ({best[False] / base:.2f}x)")


if __name__ == "__main__":
    main()
