"""Statistics view benchmarks (issue 16): its figures on a large capture; GUI stalls with it open.

    uv run python benchmarks/stats_view.py [--records 1000000] [--batches 30] [--skip-full]

1. Figures: the view's worker computes every figure (app.ui.stats.compute: two aggregation
   passes of app.capture.stats.record_stats, the roll-ups, the request figures) on a capture
   of --records records (indexed), from scratch; then again after a 3000-record batch is
   appended (incremental: only the new records are counted). Target: all figures <= 1 s.
2. Stall: a 10 ms QTimer in the real window (offscreen) records the longest gap between its
   ticks while another process posts 3000-record batches back to back to the window's own
   endpoint: first with the Statistics tab hidden (the Events tab showing: baseline, same run),
   then with it shown (its worker counting each batch, the chart redrawn), after its first
   figures were drawn (the stall of opening the tab is reported on its own). Target: max
   <= 50 ms.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, make_capture
from gui import Ticker, wait

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def figures(records: int, tmp: Path) -> None:
    from app.capture.schema import open_reader
    from app.capture.writer import CaptureWriter, Incoming
    from app.replay.generator import Generator
    from app.ui.stats import Query, compute

    path = tmp / "big.sqlite"
    print(f"writing a {records:,}-record capture (indexed) ...", flush=True)
    took, indexing = make_capture(path, records, index=True)
    print(f"  written in {took:.1f} s, indexed in {indexing:.1f} s")
    db = open_reader(path)
    t0 = time.perf_counter()
    result, state = compute(db, Query())
    full = time.perf_counter() - t0
    print(f"\nall {len(result)} figures on {records:,} records, from scratch: {full:.2f} s "
          f"(target <= 1 s)")
    writer = CaptureWriter(path)
    body = json.dumps(Generator(sims=500, seed=3).records(3000)).encode()
    writer.store(Incoming("POST", "/hook", body, content_type="application/json"))
    while writer.index_pending(5000):
        pass
    writer.close()
    t0 = time.perf_counter()
    result, state = compute(db, Query(), state)
    print(f"  after a 3000-record batch, incrementally: {time.perf_counter() - t0:.3f} s")
    db.close()


def stalls(batches: int, tmp: Path) -> None:
    from PySide6.QtWidgets import QApplication

    from app.cli.options import build_parser
    from app.replay.generator import Generator
    from app.ui.application import build

    app = QApplication.instance() or QApplication([])
    window = build(build_parser().parse_args(["--port", "0", "--capture",
                                              str(tmp / "live.sqlite")]), app)
    window.resize(1400, 900)
    window.show()
    wait(app, lambda: window.receiver.state == "listening")
    gc.freeze()  # as the app does once started (app.ui.application.run), and benchmarks/gui.py
    ticker = Ticker(app)
    body = tmp / "batch.json"
    body.write_text(json.dumps(Generator(sims=500, seed=1).records(3000)))
    endpoint = window.receiver.endpoint
    settings = window.settings
    results = {}
    sent = 0
    opening = None
    for name, page in (("Statistics hidden (Events shown)", window.views["event"].parentWidget()),
                       ("Statistics shown", window.statistics)):
        ticker.start()
        before = window.statistics.updates
        window.tabs.setCurrentWidget(page)
        if page is window.statistics:  # its first figures counted and drawn before
            wait(app, lambda b=before: window.statistics.updates > b)
        settle = time.perf_counter() + 1
        wait(app, lambda s=settle: time.perf_counter() > s)
        if page is window.statistics:
            opening = ticker.stop()
        updates = window.statistics.updates
        poster = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "poster.py"),
                                   endpoint["url"], endpoint["ca_file"],
                                   f"{settings.user}:{settings.password}", str(body),
                                   str(batches)])
        ticker.start()
        wait(app, lambda p=poster: p.poll() is not None)
        sent += batches * 3000
        wait(app, lambda n=sent: window._counts["records"] >= n)
        if page is window.statistics:  # the last batch counted and drawn
            wait(app, lambda n=sent, u=updates: window.statistics.updates > u
                 and sum(sum(r[1:]) for r in window.statistics.figures[
                     "family_time"].rows) >= n)
        results[name] = (ticker.stop(), window.statistics.updates - updates)
    print(f"\nGUI stall while {batches} batches of 3000 records arrive back to back:")
    for name, (stall, updates) in results.items():
        print(f"  {name:34s} max {stall['max_ms']:6.1f} ms  p99 {stall['p99_ms']:5.1f} ms"
              f"  ({updates} figure updates)")
    print("  (target max <= 50 ms)")
    if opening is not None:
        print(f"  opening the Statistics tab on {sent - batches * 3000:,} records (its first "
              f"figures counted and drawn; nothing arriving): max {opening['max_ms']:.1f} ms")
    window.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--skip-full", action="store_true", help="only the stall measurement")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="stats-bench-"))
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
    os.environ["XDG_STATE_HOME"] = str(tmp / "state")
    sys.path.insert(0, str(ROOT))
    if not args.skip_full:
        figures(args.records, tmp)
    stalls(args.batches, tmp)


if __name__ == "__main__":
    main()
