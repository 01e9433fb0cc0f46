"""Per-SIM view benchmark: one SIM's view on a capture of 1,000,000 records.

    uv run python benchmarks/simview.py [--records 1000000] [--sims 5] [--capture PATH]

Builds the view the way the window's SIM view does (``app.capture.simview.sim_view`` on a
read-only connection of its own): the SIM's records across families in time order (one seek
per family in ``record_index``'s ``(family, iccid)`` index, plus the records not indexed yet),
its data sessions, alerts and totals. The capture is ``benchmarks.common.make_capture`` (2000
SIMs: ~500 records per SIM), all indexed, then (``--tail``, default 3000) on a copy whose last
records are not indexed yet (a batch just stored: read from their JSON). Baseline in the same
run: ``SELECT count(*) FROM record_index WHERE iccid = ?``. Target: <= 1 s. A given
``--capture`` is reused (made when missing).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from common import make_capture

from app.db import sqlite3


def best_of(fn, n: int = 3) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--sims", type=int, default=5, help="SIMs to time (each best of 3)")
    parser.add_argument("--capture", type=Path, help="reuse (or make) this capture")
    parser.add_argument("--tail", type=int, default=3000,
                        help="then this many last records not indexed yet (0: skip)")
    args = parser.parse_args()
    from app.capture.schema import open_reader
    from app.capture.simview import sim_view
    from app.replay.generator import Generator

    with tempfile.TemporaryDirectory() as tmp:
        path = args.capture or Path(tmp) / "simview.sqlite"
        if not path.exists():
            stored, indexed = make_capture(path, args.records, index=True)
            print(f"made {args.records:,} records: stored {stored:.1f} s, "
                  f"indexed {indexed:.1f} s")
        runs = [("indexed", path)]
        if args.tail:
            copy = Path(tmp) / "tail.sqlite"
            shutil.copyfile(path, copy)
            con = sqlite3.connect(copy)
            con.execute("DELETE FROM record_index WHERE id > (SELECT max(id) FROM record) - ?",
                        [args.tail])
            con.commit()
            con.close()
            runs.append((f"last {args.tail:,} not indexed", copy))
        iccids = [sim.iccid for sim in Generator(sims=2000, seed=9).sims][:: 2000 // args.sims]
        for what, capture in runs:
            db = open_reader(capture)
            total = db.execute("SELECT count(*) FROM record").fetchone()[0]
            print(f"capture: {total:,} records, {what}")
            for iccid in iccids[:args.sims]:
                base = best_of(lambda i=iccid, db=db: db.execute(
                    "SELECT count(*) FROM record_index WHERE iccid = ?", [i]).fetchone())
                first = time.perf_counter()
                view = sim_view(db, iccid)
                cold = time.perf_counter() - first
                warm = best_of(lambda i=iccid, db=db: sim_view(db, i))
                print(f"  SIM {iccid}: {len(view.records)} records, {len(view.sessions)} "
                      f"sessions, {view.totals.data_mb:.3f} MB: view {warm * 1000:.0f} ms "
                      f"(first {cold * 1000:.0f} ms), baseline count {base * 1000:.1f} ms")
            db.close()


if __name__ == "__main__":
    main()
