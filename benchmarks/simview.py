"""Per-SIM view benchmark: one SIM's view on a capture of 1,000,000 records.

    uv run python benchmarks/simview.py [--records 1000000] [--sims 5] [--capture PATH]

Builds the view the way the window's SIM view does (``app.capture.simview.sim_view`` on a
read-only connection of its own): the SIM's records across families in time order (one seek
per family in ``record_index``'s ``(family, iccid)`` index, plus the records not indexed yet),
its data sessions, alerts and totals. The capture is ``benchmarks.common.make_capture`` (2000
SIMs: ~500 records per SIM), all indexed. Baseline in the same run:
``SELECT count(*) FROM record_index WHERE iccid = ?`` (the seek alone). Target: <= 1 s.
A given ``--capture`` is reused (made when missing).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import make_capture


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
        db = open_reader(path)
        total = db.execute("SELECT count(*) FROM record").fetchone()[0]
        print(f"capture: {total:,} records, {path}")
        iccids = [sim.iccid for sim in Generator(sims=2000, seed=9).sims][:: 2000 // args.sims]
        for iccid in iccids[:args.sims]:
            base = best_of(lambda i=iccid: db.execute(
                "SELECT count(*) FROM record_index WHERE iccid = ?", [i]).fetchone())
            first = time.perf_counter()
            view = sim_view(db, iccid)
            cold = time.perf_counter() - first
            warm = best_of(lambda i=iccid: sim_view(db, i))
            print(f"SIM {iccid}: {len(view.records)} records, {len(view.sessions)} sessions, "
                  f"{view.totals.data_mb:.3f} MB: view {warm * 1000:.0f} ms "
                  f"(first {cold * 1000:.0f} ms), baseline count {base * 1000:.1f} ms")
        db.close()


if __name__ == "__main__":
    main()
