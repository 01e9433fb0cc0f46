"""Shared by the benchmarks: a large capture written the way the receiver writes one."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_capture(path: Path, records: int, index: bool = False) -> tuple[float, float]:
    """Write a capture of ``records`` realistic records (3000 a request); returns the seconds
    taken to store them and to index them (0 when ``index`` is false)."""
    from app.capture.writer import CaptureWriter, Incoming
    from app.replay.generator import Generator

    gen = Generator(sims=2000, seed=9)
    bodies = [json.dumps(gen.records(3000)).encode() for _ in range(4)]
    t0 = time.perf_counter()
    writer = CaptureWriter(path)
    done = i = 0
    while done < records:
        n = min(3000, records - done)
        body = bodies[i % len(bodies)] if n == 3000 else json.dumps(gen.records(n)).encode()
        writer.store(Incoming("POST", "/", body, content_type="application/json"))
        done += n
        i += 1
    stored = time.perf_counter() - t0
    t0 = time.perf_counter()
    while index and writer.index_pending(5000):
        pass
    indexed = time.perf_counter() - t0 if index else 0.0
    writer.close()
    return stored, indexed
