"""Window benchmarks: GUI stalls while batches stream in; opening a 1,000,000-record capture.

    uv run python benchmarks/gui.py [--batches 40] [--records 1000000]

1. Stall: a 10 ms QTimer in the real window (offscreen) records the longest gap between its ticks
   while another process posts 3000-record batches back to back to the window's own endpoint,
   with the Events tab showing and following the newest rows. Baseline, same run: the same
   timer while nothing arrives. Target: max stall <= 50 ms. Also the time from each batch's
   200 (the poster's clock) to its records counted in the window's tables (target <= 200 ms).
2. Open: time until a capture's rows are counted in the tables and the visible rows are rendered,
   and the process's RSS afterwards, for a capture of --records records; baseline: an empty
   capture in the same run. Also the time to render rows after jumping to random positions.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, make_capture

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Ticker:
    def __init__(self, app):
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer(app)
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self._last) * 1000)
        self._last = now

    def start(self) -> None:
        self.gaps.clear()
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> dict:
        self.timer.stop()
        gaps = sorted(self.gaps)
        return {"max_ms": gaps[-1] - 10, "p99_ms": gaps[int(len(gaps) * 0.99)] - 10,
                "ticks": len(gaps)}


def wait(app, predicate, timeout: float = 120.0) -> float:
    t0 = time.perf_counter()
    while not predicate():
        app.processEvents()
        time.sleep(0.001)
        if time.perf_counter() - t0 > timeout:
            raise SystemExit("timed out")
    return time.perf_counter() - t0


def visible_rendered(view) -> bool:
    model = view.model()
    top = view.rowAt(0)
    if top < 0:
        return model.rowCount() == 0
    bottom = view.rowAt(view.viewport().height() - 1)
    bottom = model.rowCount() - 1 if bottom < 0 else bottom
    return all(model.data(model.index(r, 0)) for r in (top, bottom))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--records", type=int, default=1_000_000)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="gui-bench-"))
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.cli.options import build_parser
    from app.replay.generator import Generator
    from app.ui.application import build

    app = QApplication([])
    big = tmp / "big.sqlite"
    print(f"writing a {args.records:,}-record capture ...", flush=True)
    took, _ = make_capture(big, args.records)
    print(f"  written in {took:.1f} s ({big.stat().st_size / 2**20:.0f} MiB)")

    rss_start = rss_mib()
    window = build(build_parser().parse_args(["--port", "0", "--capture",
                                              str(tmp / "live.sqlite")]), app)
    window.resize(1400, 900)
    wait(app, lambda: window.receiver.state == "listening")
    gc.freeze()
    ticker = Ticker(app)

    # 1. Stall while batches stream in.
    ticker.start()
    wait_until = time.perf_counter() + 3
    wait(app, lambda: time.perf_counter() > wait_until)
    idle = ticker.stop()
    body = tmp / "batch.json"
    body.write_text(json.dumps(Generator(sims=500, seed=1).records(3000)))
    window.tabs.setCurrentIndex(1)
    endpoint = window.receiver.endpoint
    settings = window.settings
    poster = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "poster.py"),
                               endpoint["url"], endpoint["ca_file"],
                               f"{settings.user}:{settings.password}", str(body),
                               str(args.batches), "--acks", str(tmp / "acks.txt")])
    shown_at: list[float] = []  # time.monotonic() when each batch's records were counted

    def note_shown() -> None:
        while window._counts["records"] >= (len(shown_at) + 1) * 3000:
            shown_at.append(time.monotonic())

    watcher = QTimer(app)
    watcher.setInterval(2)
    watcher.timeout.connect(note_shown)
    watcher.start()
    ticker.start()
    t0 = time.perf_counter()
    wait(app, lambda: poster.poll() is not None)
    expected = args.batches * 3000
    wait(app, lambda: window._counts["records"] >= expected)
    wait(app, lambda: visible_rendered(window.views["event"]))
    elapsed = time.perf_counter() - t0
    live = ticker.stop()
    watcher.stop()
    acks = [float(line) for line in (tmp / "acks.txt").read_text().split()]
    delays = sorted((s - a) * 1000 for a, s in zip(acks, shown_at, strict=False))
    print(f"\nstall while {args.batches} batches of 3000 records arrive back to back "
          f"({expected / elapsed:,.0f} records/s shown):")
    print(f"  idle baseline   max {idle['max_ms']:6.1f} ms  p99 {idle['p99_ms']:5.1f} ms")
    print(f"  while receiving max {live['max_ms']:6.1f} ms  p99 {live['p99_ms']:5.1f} ms"
          f"  (target max <= 50 ms)")
    print(f"  from a batch's 200 to its records counted in the window: p50 "
          f"{statistics.median(delays):.0f} ms, max {delays[-1]:.0f} ms ({len(delays)} "
          f"batches; target <= 200 ms)")

    # 2. Open the big capture.
    rss_before = rss_mib()
    ticker.start()
    t0 = time.perf_counter()
    window.open_capture(big)
    wait(app, lambda: window._counts["records"] >= args.records)
    counted = time.perf_counter() - t0
    wait(app, lambda: visible_rendered(window.views["event"]))
    shown = time.perf_counter() - t0
    opening = ticker.stop()
    gc.collect()
    rss_after = rss_mib()
    view = window.views["event"]
    model = view.model()
    jumps = []
    rnd = random.Random(1)
    ticker.start()
    for _ in range(20):
        row = rnd.randrange(model.rowCount())
        t1 = time.perf_counter()
        view.scrollTo(model.index(row, 0))
        jumps.append(wait(app, lambda: visible_rendered(view)) * 1000 + 0 * t1)
    scrolling = ticker.stop()
    print(f"\nopening a {args.records:,}-record capture:")
    print(f"  rows counted in the tables: {counted:.2f} s; visible rows rendered: {shown:.2f} s")
    print(f"  RSS: {rss_start:.0f} MiB at start, {rss_before:.0f} MiB before opening, "
          f"{rss_after:.0f} MiB after (+{rss_after - rss_before:.0f} MiB)")
    print(f"  GUI stall while opening: max {opening['max_ms']:.1f} ms")
    print(f"  jump to a random row, rows rendered: median {statistics.median(jumps):.0f} ms, "
          f"max {max(jumps):.0f} ms; stall while jumping max {scrolling['max_ms']:.1f} ms")
    window.close()


if __name__ == "__main__":
    main()
