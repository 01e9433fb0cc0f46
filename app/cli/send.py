"""``streamer-inspector send``: runs the client (:mod:`app.replay.sender`) for the command line
and prints its batches and report, as text or JSON lines for the window."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict

from app.capture.schema import CaptureError
from app.config import MAX_RECORDS_PER_POST
from app.db import sqlite3
from app.display import printable
from app.replay.sender import (
    BatchResult,
    SendOptions,
    SendReport,
    check_options,
    count_batches,
    generated_records,
    records_from_capture,
    records_from_file,
    records_from_sample,
    send,
    ssl_context,
)


def _load_records(args: argparse.Namespace) -> list:
    if args.sample is not None:
        return records_from_sample(args.sample)
    if args.file is not None:
        return records_from_file(args.file)
    if args.capture is not None:
        return records_from_capture(args.capture, args.filter)
    seed = 1 if args.seed is None else args.seed
    return generated_records(args.generate, seed, args.sims or 100)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def format_batch(result: BatchResult, total: int | None) -> str:
    """``batch 3/10  3000 records  200  0.41 s  1 attempt`` (and the error of a failure).

    ``total`` None (``--redeliver-unacked``: how many batches depends on the answers): ``batch
    3``. A batch carrying records again says how many (``8 records (4 redelivered)``), and an
    unacknowledged one whose records go back to the queue says so and when the next batch goes.
    """
    status = str(result.status) if result.status is not None else "---"
    number = f"{result.number}/{total}" if total is not None else str(result.number)
    records = _plural(result.records, "record")
    if result.redelivered:
        records += f" ({result.redelivered} redelivered)"
    line = (f"batch {number}  {records}  {status}  "
            f"{result.latency:.2f} s  {_plural(result.attempts, 'attempt')}")
    if result.error:
        line += f"  {printable(result.error)}"  # may quote the backend's answer
    if result.requeued:
        line += (f"  ({_plural(result.requeued, 'record')} back to the front of the queue, "
                 f"next batch in {result.delay:g} s)")
    return line


def format_report(report: SendReport, total_records: int, total_batches: int | None) -> str:
    """The summary line of a run (``total_batches`` None: the batches posted)."""
    acked = sum(b.acknowledged for b in report.batches)
    if total_batches is None:
        total_batches = len(report.batches)
    tail = (f"{report.records_acknowledged} of {total_records} records acknowledged in "
            f"{acked} of {total_batches} batches")
    if report.records_redelivered:
        tail += f", {report.records_redelivered} redelivered"
    tail += f", {report.elapsed:.2f} s"
    if report.state == "failed":
        failure = report.failure or f"batch {report.batches[-1].number} not acknowledged"
        return f"failed: {failure}; {tail}"
    return f"{report.state}: {tail}"


def _error(args: argparse.Namespace, message: str) -> int:
    print(f"streamer-inspector send: error: {message}", file=sys.stderr)
    if args.events == "jsonl":
        _emit({"event": "error", "message": message})
    return 2


def _emit(obj: dict) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def run_send(args: argparse.Namespace) -> int:
    """Run ``send``: 0 when done, 1 when failed, 130 when cancelled (SIGINT/SIGTERM), 2 on bad
    input."""
    parser = getattr(args, "send_parser", None)
    misuse = None
    if args.filter and args.capture is None:
        misuse = "--filter only goes with --capture"
    elif (args.seed is not None or args.sims is not None) and args.generate is None:
        misuse = "--seed and --sims only go with --generate"
    if misuse is not None:
        if parser is not None:
            parser.error(misuse)  # exits 2
        return _error(args, misuse)
    _use_running_endpoint(args)
    options = SendOptions(
        url=args.url, batch_size=args.batch, interval=args.interval, repeat=args.repeat,
        user=args.user, password=args.password, cacert=args.cacert, insecure=args.insecure,
        timeout=args.timeout, retries=args.retries, backoff=args.backoff,
        redeliver_unacked=getattr(args, "redeliver_unacked", False),
    )
    try:
        url = check_options(options)
        if url.scheme == "https":
            ssl_context(options)
        records = _load_records(args)
    except (ValueError, OSError, CaptureError, sqlite3.DatabaseError) as exc:
        return _error(args, _source_error(exc, args))
    if not records:
        return _error(args, "there are no records to send")
    if options.insecure:
        print("warning: --insecure: the server's certificate is not verified; the Data "
              "Streamer itself only delivers to endpoints with a valid, publicly trusted "
              "certificate", file=sys.stderr)
    if url.scheme == "http":
        print("note: plain HTTP; the Data Streamer only delivers to https:// endpoints",
              file=sys.stderr)
    if options.batch_size > MAX_RECORDS_PER_POST:
        print(f"note: --batch {options.batch_size} is more than the {MAX_RECORDS_PER_POST} "
              f"records the Data Streamer puts in one POST", file=sys.stderr)
    total_records = len(records) * options.repeat
    # With --redeliver-unacked, as many batches as when every one is acknowledged, at least.
    total = count_batches(total_records, options.batch_size)
    shown_total = None if options.redeliver_unacked else total
    jsonl = args.events == "jsonl"
    if jsonl:
        start = {"event": "start", "url": options.url, "records": total_records,
                 "batches": total, "batch_size": options.batch_size}
        if options.redeliver_unacked:
            start["redeliver_unacked"] = True
        _emit(start)

    def on_batch(result: BatchResult) -> None:
        if jsonl:
            _emit({"event": "batch", "total": total, **asdict(result)})
        else:
            print(format_batch(result, shown_total), flush=True)

    def on_retry(result: BatchResult, delay: float) -> None:
        if jsonl:
            # the delay before the retry (the batch's own ``delay`` is for redeliveries)
            _emit({"event": "retry", "total": total, **asdict(result), "delay": delay})
        else:
            print(f"  batch {result.number}/{total}: attempt {result.attempts} failed "
                  f"({printable(str(result.error))}); retrying in {delay:g} s", file=sys.stderr,
                  flush=True)

    report = asyncio.run(_run_with_signals(records, options, on_batch, on_retry))
    if jsonl:
        event = {"event": "report", "state": report.state, "records": total_records,
                 "records_sent": report.records_sent,
                 "records_acknowledged": report.records_acknowledged,
                 "records_redelivered": report.records_redelivered,
                 "batches": len(report.batches) if options.redeliver_unacked else total,
                 "batches_acknowledged": sum(b.acknowledged for b in report.batches),
                 "elapsed": report.elapsed}
        if report.failure:
            event["failure"] = report.failure
        _emit(event)
    else:
        print(format_report(report, total_records, shown_total), flush=True)
    return {"done": 0, "failed": 1}.get(report.state, 130)


def _use_running_endpoint(args: argparse.Namespace) -> None:
    """When ``args.url`` reaches a receiver running here (``serve`` or the window), take the
    credentials and the CA it registered (app/runtime.py) for those not given."""
    from app import runtime

    if args.user is not None and args.password is not None and (args.cacert or args.insecure):
        return
    endpoint = runtime.for_url(args.url)
    if endpoint is None:
        return
    used = []
    if args.user is None and args.password is None and endpoint.auth_enabled:
        if endpoint.password is None:
            print(f"note: {endpoint.password_note}", file=sys.stderr)
        else:
            args.user, args.password = endpoint.user, endpoint.password
            used.append("credentials")
    if (args.cacert is None and not args.insecure and endpoint.ca_file
            and args.url.lower().startswith("https:")):
        args.cacert = endpoint.ca_file
        used.append("CA")
    if used:
        print(f"note: using the {' and '.join(used)} of the running endpoint "
              f"{endpoint.describe()}", file=sys.stderr)


def _source_error(exc: BaseException, args: argparse.Namespace) -> str:
    from app.filters.parser import FilterError

    if isinstance(exc, FilterError):
        text = args.filter
        return (f"bad --filter: {exc.args[0]}\n  {text}\n  {' ' * exc.position}^")
    if isinstance(exc, sqlite3.DatabaseError):
        return f"{args.capture}: {exc}"
    if isinstance(exc, OSError):
        return f"{getattr(exc, 'filename', '') or ''} {exc.strerror or exc}".strip()
    return str(exc)


async def _run_with_signals(records: Sequence, options: SendOptions,
                            on_batch: Callable[[BatchResult], None],
                            on_retry: Callable[[BatchResult, float], None]) -> SendReport:
    """:func:`send`, cancelled by SIGINT (Ctrl+C) or SIGTERM."""
    loop = asyncio.get_running_loop()
    cancel = asyncio.Event()
    installed = []
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, cancel.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, not main thread
            with contextlib.suppress(ValueError, OSError):
                previous[sig] = signal.signal(
                    sig, lambda *_: loop.call_soon_threadsafe(cancel.set))
    try:
        return await send(records, options, on_batch, cancel, on_retry)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
