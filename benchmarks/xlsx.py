"""XLSX export benchmark on a large capture, beside the CSV export of the same capture.

    uv run python benchmarks/xlsx.py [--records 1000000] [--profile]

Times `streamer-inspector export --format xlsx` and `--format csv` (the default columns) as
the commands a user runs, on one capture written the way the receiver writes one
(``benchmarks/common.make_capture``: 3000 realistic records a request, Events and Usage), and
prints the ratio. Target: the XLSX export of 1,000,000 records <= 60 s. ``--profile`` runs the
XLSX export once more in this process under cProfile and prints the top functions.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from common import ROOT, make_capture

TARGET_S = 60.0


def timed(*args: str) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system, the command and its workers) of a command:
    on a machine shared with other work, CPU seconds say more than the wall clock."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def profile(capture: Path, out: Path) -> None:
    import cProfile
    import pstats

    from app.export.transfer import ExportJob, run_export

    job = ExportJob(capture=capture, format="xlsx", output=out, events="jsonl")
    prof = cProfile.Profile()
    prof.runcall(run_export, job)
    pstats.Stats(prof).sort_stats("tottime").print_stats(18)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="xlsx-bench-"))
    capture = tmp / "big.sqlite"
    stored, _ = make_capture(capture, args.records)
    print(f"{args.records:,} records stored in {stored:.1f} s")
    results = {}
    for fmt in ("csv", "xlsx"):
        out = tmp / f"out.{fmt}"
        wall, cpu = timed("export", str(capture), "--format", fmt, "-o", str(out))
        results[fmt] = (wall, cpu, out.stat().st_size)
    with zipfile.ZipFile(tmp / "out.xlsx") as book:
        sheets = sorted(n for n in book.namelist() if n.startswith("xl/worksheets/sheet"))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for fmt, (wall, cpu, size) in results.items():
        print(f"export {fmt:5s} {wall:7.1f} s wall  {cpu:7.1f} s CPU  {size / 2**20:8.0f} MiB  "
              f"{args.records / wall:10,.0f} records/s")
    ratio = results["xlsx"][0] / results["csv"][0]
    print(f"xlsx / csv: {ratio:.1f}x wall, {results['xlsx'][1] / results['csv'][1]:.1f}x CPU "
          f"(CSV runs {2} processes from 100,000 records); {len(sheets)} sheets "
          f"(a sheet holds 1,048,576 rows with its header); "
          f"target {TARGET_S:.0f} s for 1,000,000 records: "
          f"{'met' if results['xlsx'][0] * 1_000_000 / args.records <= TARGET_S else 'MISSED'}")
    if args.profile:
        profile(capture, tmp / "profiled.xlsx")


if __name__ == "__main__":
    main()
