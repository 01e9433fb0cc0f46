"""``streamer-inspector export``: what to export, masking, progress, and an all-or-nothing file.

The exporters themselves (``registry``) are pure functions of rows and a stream; this module
chooses the rows (all, a filter, a list of ids), plugs in masking, reports progress and writes
to a temporary name that is renamed only when the export is complete, so a cancelled or failed
export never leaves a half-written file under the chosen name.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from app.capture.schema import CaptureError, has_ledger, open_reader
from app.config import Settings
from app.export import xlsxfile
from app.export.common import ExportOptions
from app.export.masking import Masker, mask_transform, masker_for
from app.export.registry import EXPORTERS, requests_for
from app.export.rows import known_interop, record_rows, request_rows
from app.filters.parser import parse


class Cancelled(Exception):
    """The export was interrupted (SIGINT) before it completed."""


def _ids(path: Path | None) -> list[int] | None:
    if path is None:
        return None
    return [int(line) for line in path.read_text("utf-8").split() if line.strip()]


@dataclasses.dataclass(frozen=True)
class ExportJob:
    """One ``export``: the capture, the format and file, which rows, and how to write them."""

    capture: Path
    format: str  # a name in app.export.registry.EXPORTERS
    output: Path
    filter: str = ""
    ids_file: Path | None = None  # record ids, one a line
    request_ids_file: Path | None = None  # har/postman: request ids, one a line
    mask: bool = False
    strict_json: bool = False
    csv_bom: bool = False
    csv_all_fields: bool = False
    csv_delimiter: str = ","
    base_url: str | None = None  # har/postman/curl: instead of each request's endpoint
    events: str = "human"  # human | jsonl


def run_export(args: ExportJob) -> int:
    """Run an export; prints progress and the outcome (``events``); returns the exit code."""
    jsonl = args.events == "jsonl"

    def emit(event: dict, text: str = "", stream=sys.stdout) -> None:
        if jsonl:
            print(json.dumps(event, ensure_ascii=False), flush=True)
        elif text:
            print(text, file=stream, flush=True)

    try:
        db = open_reader(args.capture)
    except CaptureError as exc:
        emit({"event": "error", "message": str(exc)}, f"streamer-inspector: error: {exc}",
             sys.stderr)
        return 2
    exporter = EXPORTERS[args.format]
    options = ExportOptions(csv_bom=args.csv_bom, csv_all_fields=args.csv_all_fields,
                            csv_delimiter=args.csv_delimiter, strict_json=args.strict_json,
                            base_url=args.base_url)
    options.known = known_interop(db)
    if args.mask:
        options.transform = mask_transform(masker_for(db, Settings.load()))
    cancelled: list[bool] = []
    previous = signal.signal(signal.SIGINT, lambda *_: cancelled.append(True))
    target: Path = args.output
    tmp = target.with_name(f".{target.name}.part")
    try:
        record_ids = _ids(args.ids_file)
        if exporter.kind == "records":
            if exporter.with_requests:  # xlsx: the records and their requests
                record_ids = _with_requests(db, args, record_ids, options)
            elif record_ids is None and args.request_ids_file is not None:
                # the records of the chosen requests (the Requests table's selection)
                record_ids = _records_of_requests(db, _ids(args.request_ids_file) or [])
            total = (len(record_ids) if record_ids is not None else None)
            source = lambda: record_rows(db, record_ids, args.filter)  # noqa: E731
            if (args.format == "csv" or exporter.with_requests) and record_ids is None:
                options.families = _families(db, args.filter)
        else:
            request_ids = _ids(args.request_ids_file)
            if request_ids is None and (args.filter or record_ids is not None):
                request_ids = _requests_of(db, args.filter, record_ids)
            total = len(request_ids) if request_ids is not None else None
            source = lambda: request_rows(db, request_ids)  # noqa: E731
        if total is None:
            table = "record" if exporter.kind == "records" else "request"
            total = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        progress = _Progress(emit, total, cancelled, exporter.kind)
        target.parent.mkdir(parents=True, exist_ok=True)
        parallel = (args.format == "csv" and not args.csv_all_fields and total > PARALLEL_FROM
                    and options.families is not None)
        with tmp.open("wb") as out:
            if parallel:
                ids = record_ids if record_ids is not None else _record_ids(db, args.filter)
                count = _parallel_csv(args, options, ids, out, emit, cancelled)
            else:
                write = exporter.write
                if args.format == "xlsx" and total > xlsxfile.PARALLEL_FROM:
                    write = functools.partial(write, workers=xlsxfile.WORKERS)
                count = write(lambda: progress.watch(source()), out, options)
        if exporter.extension == "sh":  # a script: executable by whoever may read it
            mode = tmp.stat().st_mode
            tmp.chmod(mode | (mode & 0o444) >> 2)
        tmp.replace(target)
    except Cancelled:
        tmp.unlink(missing_ok=True)
        emit({"event": "cancelled"}, "cancelled: nothing was written", sys.stderr)
        return 130
    except (OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        emit({"event": "error", "message": str(exc)}, f"streamer-inspector: error: {exc}",
             sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, previous)
        db.close()
    note = options.stats.message()
    done = {"event": "done", "path": str(target), "items": count, "kind": exporter.kind,
            "bytes": target.stat().st_size}
    if note:
        done.update(non_interoperable=options.stats.non_interoperable,
                    rewritten=options.stats.rewritten, note=note)
    emit(done, f"exported {count:,} {exporter.kind} to {target} ({target.stat().st_size:,} "
               f"bytes)" + (f"\nnote: {note}" if note else ""))
    return 0


def _with_requests(db, args: ExportJob, record_ids: list[int] | None,
                   options: ExportOptions) -> list[int] | None:
    """Sets ``options.requests`` for an exporter that lists the records' requests (xlsx): the
    chosen requests (``--request-ids-file``) with all their records, or the requests of the
    chosen records, or every request for a whole-capture export. Returns the record ids."""
    request_ids = _ids(args.request_ids_file)
    if request_ids is None:
        options.requests = requests_for(db, record_ids is None and not args.filter.strip())
        return record_ids
    options.requests = lambda _seen: request_rows(db, request_ids)
    if record_ids is not None or args.filter.strip():
        return record_ids
    return _records_of_requests(db, request_ids)


def _records_of_requests(db, request_ids: list[int]) -> list[int]:
    """The record ids of these requests, in order."""
    found: list[int] = []
    for start in range(0, len(request_ids), 900):
        chunk = request_ids[start:start + 900]
        marks = ",".join("?" * len(chunk))
        found += [r for (r,) in db.execute(
            f"SELECT id FROM record WHERE request_id IN ({marks})", chunk)]
    return sorted(found)


def _families(db, filter_text: str) -> frozenset[str]:
    """The families of the records a filter selects, without reading their JSON."""
    if not filter_text.strip():
        found: set[str] = set()
        for (counts,) in db.execute("SELECT counts FROM request WHERE counts IS NOT NULL"):
            found.update(json.loads(counts))
        return frozenset(found)
    query, params = parse(filter_text).record_query(None, ledger=has_ledger(db))
    return frozenset(f for (f,) in db.execute(
        f"SELECT DISTINCT family FROM record_keys WHERE id IN ({query})", params))


def _requests_of(db, filter_text: str, record_ids: list[int] | None) -> list[int]:
    """The requests holding the chosen records, in order."""
    if record_ids is not None:
        found = set()
        for start in range(0, len(record_ids), 900):
            chunk = record_ids[start:start + 900]
            marks = ",".join("?" * len(chunk))
            found.update(r for (r,) in db.execute(
                f"SELECT DISTINCT request_id FROM record WHERE id IN ({marks})", chunk))
        return sorted(found)
    query, params = parse(filter_text).record_query(None, ledger=has_ledger(db))
    return [r for (r,) in db.execute(
        f"SELECT DISTINCT r.request_id FROM record AS r WHERE r.id IN ({query}) "
        f"ORDER BY 1", params)]


PARALLEL_FROM = 100_000  # records; below, one process is as quick
WORKERS = 2


def _record_ids(db, filter_text: str) -> list[int]:
    if not filter_text.strip():
        return [r for (r,) in db.execute("SELECT id FROM record ORDER BY id")]
    query, params = parse(filter_text).record_query(None, ledger=has_ledger(db))
    return [r for (r,) in db.execute(query, params)]


def _parallel_csv(args: ExportJob, options: ExportOptions, ids: list[int], out, emit,
                  cancelled) -> int:
    """CSV rows from ``WORKERS`` processes, each on a contiguous slice of the ids, joined in
    order under one header. Masking stays consistent: pseudonyms depend only on the value and
    the capture's key."""
    import multiprocessing

    header = io.BytesIO()
    head_options = dataclasses.replace(options, transform=None)
    EXPORTERS["csv"].write(lambda: iter(()), header, head_options)  # BOM + header only
    out.write(header.getvalue())
    if not ids:  # the filter matched nothing: the header alone
        return 0
    key = getattr(options.transform, "mask_key", None)
    size = -(-len(ids) // WORKERS)
    slices = [ids[i:i + size] for i in range(0, len(ids), size)]
    parts = [Path(f"{out.name}.{n}") for n in range(len(slices))]
    context = multiprocessing.get_context("spawn")
    done = context.Value("q", 0)
    jobs = [(str(args.capture), s, str(p), options.csv_delimiter, sorted(options.families),
             key) for s, p in zip(slices, parts, strict=True)]
    try:
        with context.Pool(len(jobs), initializer=_init_worker, initargs=(done,)) as pool:
            result = pool.map_async(_csv_part, jobs)
            while not result.ready():
                result.wait(0.25)
                if cancelled:
                    pool.terminate()
                    raise Cancelled
                emit({"event": "progress", "done": done.value, "total": len(ids)})
            counts = result.get()
        for part in parts:
            with part.open("rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    return sum(counts)


_DONE = None


def _init_worker(done) -> None:
    global _DONE
    _DONE = done
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides about cancelling


def _csv_part(job) -> int:
    capture, ids, part, delimiter, families, key = job
    db = open_reader(Path(capture))
    options = ExportOptions(csv_delimiter=delimiter, families=frozenset(families), csv_header=False)
    if key is not None:
        options.transform = mask_transform(Masker(key))
    counter = _DONE

    def rows():
        for n, row in enumerate(record_rows(db, ids), start=1):
            if n % 2000 == 0:
                with counter.get_lock():
                    counter.value += 2000
            yield row

    try:
        with open(part, "wb") as fh:
            return EXPORTERS["csv"].write(rows, fh, options)
    finally:
        db.close()


class _Progress:
    """Counts rows as the exporter reads them; says how far it is; stops on a cancel."""

    def __init__(self, emit, total: int, cancelled: list[bool], kind: str):
        self._emit = emit
        self._total = total
        self._cancelled = cancelled
        self._kind = kind
        self._passes = 0

    def watch(self, rows) -> Iterator:
        self._passes += 1
        last = time.monotonic()
        for done, row in enumerate(rows, start=1):
            if self._cancelled:
                raise Cancelled
            if time.monotonic() - last > 0.25:
                last = time.monotonic()
                self._emit({"event": "progress", "done": done, "total": self._total,
                            "pass": self._passes})
            yield row
