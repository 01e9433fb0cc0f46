"""Ingest benchmark: ``serve`` (storing everything) against a bare orjson receiver.

Posts N batches of realistic 3000-record bodies over HTTPS to each receiver, in alternating
rounds within one run (the machine is shared and noisy: compare ratios, not absolute times), and
reports records/s and acknowledgement latency (p50, p99) for both, and the ratio; for ``serve``
at one connection also the time from each 200 to its request being in the capture (serve's
``folded`` event line for it, which the window reads the capture on).

    uv run python benchmarks/ingest.py [--batches 30] [--rounds 3] [--concurrency 1 4]
                                       [--bodies pretty compact]
    uv run python benchmarks/ingest.py --profile [--pretty]
    uv run python benchmarks/ingest.py --cpu [--batches 30] [--concurrency 1 4]

``--profile``: where the time of one batch goes on the acknowledgement path (``accept``: the
body judged, the answer built, the body appended to the capture's inbox), in this process,
against ``orjson.loads`` of the same body (what the bare receiver does), then the fold that
follows the answer.

Each receiver runs in its own process; this script is the client (aiohttp).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.replay.generator import Generator  # noqa: E402

USER, PASSWORD = "streamer", "benchmark-password"


def make_bodies(size: int, distinct: int, pretty: bool, seed: int) -> list[bytes]:
    gen = Generator(sims=1000, seed=seed)
    opt = orjson.OPT_INDENT_2 if pretty else 0
    return [orjson.dumps(gen.records(size), option=opt) for _ in range(distinct)]


def start_serve(env: dict, capture: Path, sync: str) -> tuple[subprocess.Popen, str, Path,
                                                                Folds]:
    cmd = [sys.executable, "-m", "app", "serve", "--port", "0", "--events", "jsonl",
           "--capture", str(capture), "--user", USER, "--password", PASSWORD, "--sync", sync]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    line = orjson.loads(proc.stdout.readline())
    if line.get("event") != "listening":
        raise SystemExit(f"serve did not start: {line}")
    return proc, line["url"], Path(line["ca_file"]), Folds(proc)


class Folds:
    """Reads serve's event lines (so the pipe never fills up) and notes when each request was
    told to be in the capture (``{"event": "folded", "requests": 1}``, printed after its
    commit: what the window reads the capture on). A thread blocked on the pipe: it takes no
    turn from the client the way polling the capture would."""

    def __init__(self, proc: subprocess.Popen):
        self.at: list[float] = []  # when the n-th request (id n + 1) was folded in
        self._thread = threading.Thread(target=self._run, args=(proc,), daemon=True)
        self._thread.start()

    def _run(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            if '"folded"' in line:
                now = time.perf_counter()
                self.at.extend([now] * orjson.loads(line).get("requests", 1))

    def folded(self, request_id: int) -> float | None:
        return self.at[request_id - 1] if len(self.at) >= request_id else None

    def wait(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.perf_counter() + timeout
        while len(self.at) < count and time.perf_counter() < deadline:
            time.sleep(0.01)


def start_bare(tls_dir: Path) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bare_receiver.py"),
           str(tls_dir / "server.pem"), str(tls_dir / "server-key.pem")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline().split()[1])
    return proc, f"https://localhost:{port}/"


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


async def post_all(url: str, ca: Path, bodies: list[bytes], batches: int, concurrency: int,
                   records_per_batch: int) -> dict:
    ctx = ssl.create_default_context(cafile=str(ca))
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": auth}
    latencies: list[float] = []
    answered: list[float] = []  # when each answer was read (in order at one connection)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(batches):
        queue.put_nowait(i)
    conn = aiohttp.TCPConnector(ssl=ctx, limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        # One warm-up request per connection: TLS handshakes are not what is measured.
        await asyncio.gather(*(session.post(url, data=bodies[0], headers=headers)
                               for _ in range(concurrency)))

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                t0 = time.perf_counter()
                async with session.post(url, data=bodies[i % len(bodies)],
                                        headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise SystemExit(f"{url} answered {resp.status}")
                answered.append(time.perf_counter())
                latencies.append(answered[-1] - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "records_per_s": batches * records_per_batch / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "answered": answered,
    }


def profile(pretty: bool) -> None:
    """Where one batch's time goes on the acknowledgement path (see the module's docstring)."""
    import cProfile
    import pstats

    from app.capture.writer import CaptureWriter, Incoming
    from app.records.shape import inspect_body

    body = make_bodies(3000, 1, pretty, seed=7)[0]

    def best(fn, n=15) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000

    with tempfile.TemporaryDirectory() as tmp:
        writer = CaptureWriter(Path(tmp) / "p.sqlite")
        try:
            def accept():
                writer.accept(Incoming("POST", "/", body, content_type="application/json"))

            parts = {
                "orjson.loads (the bare receiver's work)": best(lambda: orjson.loads(body)),
                "accept: the whole acknowledgement path": best(accept),
                "  inspect_body (simdjson: valid, a list of objects, families)":
                    best(lambda: inspect_body(body)),
                "  the inbox append (body and meta, no fsync)":
                    best(lambda: writer._inbox.append({"request_id": 0}, body)),
                "fold (after the 200: records split into rows, committed)": best(
                    lambda: (accept(), writer.fold()), 8) - best(accept, 8),
            }
            writer.fold()
            print(f"one batch of 3000 records, {len(body) / 1e6:.2f} MB"
                  f"{' (indented)' if pretty else ''}: medians")
            for name, ms in parts.items():
                print(f"  {name:<64} {ms:6.1f} ms")
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(10):
                accept()
            prof.disable()
            writer.fold()
            print("\naccept() x10, by own time:")
            pstats.Stats(prof).sort_stats("tottime").print_stats(8)
        finally:
            writer.close()


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_budget(args, pretty: bool) -> None:
    """The CPU time a batch costs each receiver and the client, and the wall time a batch
    takes: on a machine of N cores a receiver cannot take batches faster than its CPU time
    and the client's, over N, allow."""
    bodies = make_bodies(args.size, 6, pretty, seed=7)
    print(f"\nCPU a batch ({args.batches} batches of {args.size} records, "
          f"{'indented' if pretty else 'compact'}; {os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, XDG_DATA_HOME=f"{tmp}/data", XDG_CONFIG_HOME=f"{tmp}/config")
        for conc in args.concurrency:
            for which in ("bare", "serve"):
                capture = Path(tmp) / f"cpu-{which}-{conc}.sqlite"
                proc, url, ca, folds = start_serve(env, capture, args.sync)
                if which == "bare":
                    stop(proc)
                    proc, url = start_bare(ca.parent)
                asyncio.run(post_all(url, ca, bodies, 2, 1, args.size))  # (start-up not counted)
                before, client = _cpu_seconds(proc.pid), os.times()
                t0 = time.perf_counter()
                asyncio.run(post_all(url, ca, bodies, args.batches, conc, args.size))
                if which == "serve":  # until the last one is in the capture
                    folds.wait(args.batches + 3 + conc)
                wall = time.perf_counter() - t0
                used = _cpu_seconds(proc.pid) - before
                mine = sum(os.times()[:2]) - sum(client[:2])
                print(f"  {conc} connection{'s' if conc > 1 else ''}  {which:5s}  receiver "
                      f"{used * 1000 / args.batches:5.1f} ms  client "
                      f"{mine * 1000 / args.batches:4.1f} ms  wall "
                      f"{wall * 1000 / args.batches:5.1f} ms")
                stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--size", type=int, default=3000, help="records per batch")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4],
                    help="connections posting at once (the Portal needs two streams, Events "
                         "and Usage, which may share one endpoint)")
    ap.add_argument("--bodies", nargs="+", choices=("pretty", "compact"),
                    default=["pretty", "compact"], help="indented and/or compact JSON bodies")
    ap.add_argument("--pretty", action="store_true", help="--profile: an indented body")
    ap.add_argument("--sync", choices=("normal", "full"), default="normal")
    ap.add_argument("--cpu", action="store_true",
                    help="only measure the CPU time each receiver and the client spend a batch")
    ap.add_argument("--profile", action="store_true",
                    help="only profile one batch on the acknowledgement path")
    args = ap.parse_args()
    if args.cpu:
        for kind in args.bodies:
            cpu_budget(args, kind == "pretty")
        return
    if args.profile:
        profile(args.pretty)
        return
    for kind in args.bodies:
        run(args, kind == "pretty")


def run(args, pretty: bool) -> None:
    bodies = make_bodies(args.size, 6, pretty, seed=7)
    print(f"\n{args.batches} batches of {args.size} records, body {len(bodies[0]) / 1e6:.2f} MB"
          f"{' (indented)' if pretty else ' (compact)'}, {args.rounds} rounds, "
          f"sync={args.sync}")
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, XDG_DATA_HOME=f"{tmp}/data", XDG_CONFIG_HOME=f"{tmp}/config")
        for conc in args.concurrency:
            visible: list[float] = []  # seconds from a 200 to its request in the capture
            results: dict[str, list[dict]] = {"serve": [], "bare": []}
            for rnd in range(args.rounds):
                order = ("bare", "serve") if rnd % 2 == 0 else ("serve", "bare")
                for which in order:
                    capture = Path(tmp) / f"bench-{conc}-{rnd}.sqlite"
                    proc, url, ca, folds = start_serve(env, capture, args.sync)
                    if which == "bare":
                        stop(proc)
                        proc, url = start_bare(ca.parent)
                    res = asyncio.run(post_all(url, ca, bodies, args.batches, conc, args.size))
                    if which == "serve" and conc == 1:
                        # ids 2...: the first request warmed the connection
                        folds.wait(args.batches + 1)
                        visible += [folds.folded(i + 2) - at for i, at in
                                    enumerate(res["answered"]) if folds.folded(i + 2)]
                    stop(proc)
                    results[which].append(res)
                    if capture.exists():
                        for suffix in ("", "-wal", "-shm"):
                            Path(f"{capture}{suffix}").unlink(missing_ok=True)
            ratios = [s["records_per_s"] / b["records_per_s"]
                      for s, b in zip(results["serve"], results["bare"], strict=True)]
            print(f"\nconcurrency {conc}:")
            for which in ("bare", "serve"):
                rs = results[which]
                rate = statistics.median(r["records_per_s"] for r in rs)
                print(f"  {which:5s}  records/s {rate:>9,.0f}"
                      f"  p50 {statistics.median(r['p50_ms'] for r in rs):6.1f} ms"
                      f"  p99 {statistics.median(r['p99_ms'] for r in rs):6.1f} ms")
            print(f"  ratio serve/bare (records/s): median {statistics.median(ratios):.2f}"
                  f"  (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")
            if visible:
                visible.sort()
                print(f"  from a 200 to its request in the capture: p50 "
                      f"{statistics.median(visible) * 1000:.1f} ms, p99 "
                      f"{visible[min(len(visible) - 1, int(len(visible) * 0.99))] * 1000:.1f} ms"
                      f", max {visible[-1] * 1000:.1f} ms ({len(visible)} requests)")


if __name__ == "__main__":
    main()
