"""Export and import benchmark on a large capture.

    uv run python benchmarks/transfer.py [--records 1000000]

Times `streamer-inspector export` to NDJSON, JSON and CSV (and CSV masked) and
`streamer-inspector import` of the NDJSON file into a new capture, each as the command a user
runs. Baseline in the same run: reading every record's JSON text once in SQLite. Target:
CSV export <= 15 s for 1,000,000 records.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, make_capture


def timed(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="transfer-bench-"))
    capture = tmp / "big.sqlite"
    stored, _ = make_capture(capture, args.records)
    print(f"{args.records:,} records stored in {stored:.1f} s")
    from app.db import sqlite3

    db = sqlite3.connect(capture)
    t0 = time.perf_counter()
    db.execute("SELECT sum(length(json)) FROM record").fetchone()
    baseline = time.perf_counter() - t0
    db.close()
    print(f"baseline, reading every record's JSON once: {baseline:.2f} s\n")
    rows = []
    for fmt, extra in (("ndjson", []), ("json", []), ("csv", []), ("csv", ["--mask"])):
        if extra and args.records > 200_000:
            continue  # masking is per character: measured on the smaller runs
        out = tmp / f"out.{fmt}"
        seconds = timed("export", str(capture), "--format", fmt, "-o", str(out), *extra)
        label = f"export {fmt}{' masked' if extra else ''}"
        rows.append((label, seconds, out.stat().st_size))
    seconds = timed("import", str(tmp / "out.ndjson"), "--capture", str(tmp / "imported.sqlite"))
    rows.append(("import ndjson into a new capture", seconds, None))
    for label, seconds, size in rows:
        extra = f"  {size / 2**20:8.0f} MiB" if size else ""
        print(f"{label:36s} {seconds:7.1f} s  ({seconds / baseline:5.1f}x baseline){extra}")


if __name__ == "__main__":
    main()
