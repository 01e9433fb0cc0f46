"""The window's reader: a thread that follows the capture and fetches rows, so the GUI never waits.

The GUI thread only queues jobs (open a capture, fetch a block of rows, fetch one record) and gets
the results as queued Qt signals. The thread is a plain Python thread owning its own read-only
SQLite connection (``app.follow.Follower``); it parses JSON and renders cell text there, and
polls the capture for growth every 100 ms while idle.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import queue
import re
import shlex
import threading
import time
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.capture.checklist import Checklist
from app.capture.follow import TABLES, Follower, Growth
from app.capture.schema import CaptureError, open_reader
from app.db import sqlite3
from app.display import human_size
from app.export.masking import Masker
from app.filters.lexer import filter_literal
from app.filters.planner import Filter
from app.net import client_address
from app.records.columns import RECORD_TABS, cell_text
from app.records.fields import (
    ALIASES,
    FIELDS,
    REQUEST_FIELDS,
    field_value,
    index_column,
    lookup,
    parse_path,
    sql_value,
)
from app.ui.values import load_json, plain

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1
MAX_PENDING_BLOCKS = 48
DETAIL_PARSE_LIMIT = 16 * 1024 * 1024
_TAB_COLUMNS = {tab.key: tab.columns for tab in RECORD_TABS}

REQUEST_HEADERS = ("Time", "Peer", "Method", "Path", "Status", "Records", "Size", "Duration",
                   "Auth", "Problems")


@dataclass(frozen=True)
class ChecklistRow:
    """One step of the Real SIM test as the panel shows it (the line masked when the view is)."""

    key: str
    title: str
    done: bool
    line: str


@dataclass
class Rows:
    """Cell texts for a block of rows, and per row a flag: 0 fine, 1 rejected, 2 has problems."""

    table: str
    generation: int
    block: int
    ids: tuple[int, ...]
    texts: list[tuple[str, ...]]
    flags: list[int]
    tips: list[str]


@dataclass
class Detail:
    """What the detail pane shows for one record or one request."""

    kind: str  # record | request
    item_id: int
    title: str
    value: Any = None
    raw_text: str = ""
    is_json: bool = True
    note: str = ""
    request_id: int | None = None
    mask: str | None = None  # the mask key it was rendered with (None: not masked)
    info: str = ""  # request line, status, headers: shown above the JSON
    first_record: int | None = None  # a request's records: first id and how many
    record_count: int = 0


class CaptureReader(QObject):
    """Follows one capture on a worker thread; results arrive as signals on the GUI thread."""

    opened = Signal(str)  # path
    open_failed = Signal(str, str)  # path, message
    tables_updated = Signal(object)  # list[TableUpdate]
    counts_changed = Signal(int, int)  # requests, records in the capture
    rows_ready = Signal(object)  # Rows
    value_filter_ready = Signal(str, str, bool)  # table, expression, exclude
    completions_ready = Signal(object)  # dict[str, list[str]]
    text_ready = Signal(str, str)  # text for the clipboard, a message saying what it is
    identity_ready = Signal(str)  # the capture's identity (its creation time), for its key
    records_written = Signal(str, int)  # a file of records (NDJSON) for the sender, how many
    detail_ready = Signal(object)  # Detail
    saved = Signal(str, str)  # target path, error message ("" when it worked)
    ids_written = Signal(str, str)  # a complete ids file (for an export), its table
    blocks_dropped = Signal(str, int, object)  # table, generation, [block]: ask again
    job_failed = Signal(str)  # what failed, readable: the thread carries on
    notice = Signal(str)  # something the user should know that is not a failure
    checklist_changed = Signal(object)  # list[ChecklistRow]: the Real SIM test's steps

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self._lock = threading.Condition()
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._blocks: OrderedDict[tuple, tuple] = OrderedDict()
        self._stopping = False
        self._masker: Masker | None = None
        self._checklist = Checklist()  # the Real SIM test, run on the thread as rows arrive
        self._checklist_db: tuple[Path, sqlite3.Connection] | None = None  # its connection
        self._thread = threading.Thread(target=self._run, name="capture-reader", daemon=True)
        self._thread.start()

    # -- GUI thread API ---------------------------------------------------------------------

    def open(self, path: Path) -> None:
        self._put(("open", Path(path)))

    def fetch_rows(self, table: str, generation: int, block: int, ids: tuple[int, ...]) -> None:
        with self._lock:
            self._blocks[(table, generation, block)] = ids
            self._blocks.move_to_end((table, generation, block))
            dropped = []
            while len(self._blocks) > MAX_PENDING_BLOCKS:
                dropped.append(self._blocks.popitem(last=False)[0])
            self._lock.notify()
        for key in dropped:  # the models forget they asked, so they ask again when shown
            self.blocks_dropped.emit(key[0], key[1], [key[2]])

    def fetch_record(self, record_id: int) -> None:
        self._put(("record", record_id))

    def fetch_request(self, request_id: int) -> None:
        self._put(("request", request_id))

    def save_as(self, target: Path) -> None:
        self._put(("save", Path(target)))

    def set_filter(self, table: str, flt: Filter | None) -> None:
        """Show only the rows of ``table`` that pass ``flt`` (None or empty: all rows)."""
        self._put(("filter", table, None if flt is None or flt.is_empty else flt))

    def copy_as_curl(self, table: str, ids: list[int], target: dict) -> None:
        """Build a cURL command for these records (one JSON list) or this request (its exact
        body); ``target``: url, user, password, ca_file of the endpoint it should go to."""
        self._put(("curl", table, list(ids), dict(target)))

    def copy_sample_as_curl(self, name: str, target: dict) -> None:
        """Build a cURL command for a sample (a generated one is made here, off the GUI)."""
        self._put(("sample_curl", name, dict(target)))

    def write_records(self, ids: list[int], path: Path) -> None:
        """Write these records' exact texts to ``path``, one per line (NDJSON)."""
        self._put(("write", list(ids), Path(path)))

    def set_mask(self, key: str | None) -> None:
        """Mask identifiers in everything rendered from now on (None: show them)."""
        self._put(("mask", key))

    def write_ids(self, ids: list[int], path: Path, table: str = "") -> None:
        """Write ids one a line to ``path`` (through a temporary file renamed when complete);
        ``ids_written`` says when it is there."""
        self._put(("ids", list(ids), Path(path), table))

    def value_filter(self, table: str, item_id: int, field: str, exclude: bool) -> None:
        """Build ``field == <its value in this row>`` (for "filter on this value")."""
        self._put(("value", table, item_id, field, exclude))

    def set_checklist_sim(self, iccid: str) -> None:
        """Follow one SIM (its ICCID) in the Real SIM test; ``""``: any SIM."""
        self._put(("checklist", iccid.strip()))

    def stop(self) -> None:
        """Stop the thread (and wait for it): call before the application quits."""
        self._put(("stop",))
        self._thread.join(timeout=10)

    def _put(self, job: tuple) -> None:
        with self._lock:
            self._jobs.put(job)
            self._lock.notify()

    # -- worker thread ----------------------------------------------------------------------

    def _run(self) -> None:
        follower: Follower | None = None
        self._state = _Tables()
        last_failure = ("", 0.0)
        while True:
            with self._lock:
                if self._jobs.empty() and not self._blocks:
                    self._lock.wait(POLL_SECONDS)
                job = None if self._jobs.empty() else self._jobs.get()
                block = None
                if job is None and self._blocks:
                    block = self._blocks.popitem(last=True)  # newest first: what is on screen
            what = "Reading the capture"
            try:
                if job is not None:
                    if job[0] == "stop":
                        if follower is not None:
                            follower.close()
                        self._close_checklist_db()
                        return
                    what = _job_title(job)
                    follower = self._do_job(job, follower)
                elif block is not None and follower is not None:
                    (table, generation, number), ids = block
                    what = f"Showing rows of the {table} table"
                    self.rows_ready.emit(self._rows(follower, table, generation, number, ids))
                if follower is not None and job is None and block is None:
                    what = "Following the capture"
                    growth = follower.poll()
                    if growth is not None:
                        self._grow(follower, growth)
            except sqlite3.Error as exc:
                # A capture replaced or damaged under us: say so once, stop following it.
                log.warning("%s: %s", what, exc)
                if follower is not None:
                    path = str(follower.path)
                    with contextlib.suppress(sqlite3.Error):
                        follower.close()
                    self._close_checklist_db()
                    follower = None
                    self.open_failed.emit(path, f"the capture could not be read: {exc}")
            except Exception as exc:  # one job failed: say so, carry on
                message = f"{what} failed: {error_text(exc)}"
                now = time.monotonic()
                if message != last_failure[0] or now - last_failure[1] > 10:
                    # (the same failure again and again, e.g. on every poll: said once)
                    log.exception("%s failed", what)
                    self.job_failed.emit(message)
                    last_failure = (message, now)

    def _do_job(self, job: tuple, follower: Follower | None) -> Follower | None:
        kind = job[0]
        if kind == "open":
            self._close_checklist_db()
            if follower is not None:
                follower.close()
                follower = None
            with self._lock:
                self._blocks.clear()
            try:
                follower = Follower(job[1])
            except CaptureError as exc:
                self.open_failed.emit(str(job[1]), str(exc))
                return None
            self.opened.emit(str(job[1]))
            self.identity_ready.emit(follower.identity())
            self._state.reset()
            growth = follower.poll() or Growth()
            self._grow(follower, growth, reset=True)
            self.completions_ready.emit(_completions(follower))
            self._checklist = Checklist(self._checklist.iccid)
            self._update_checklist(follower, always=True)
        elif kind == "checklist":
            self._checklist = Checklist(job[1])
            self._update_checklist(follower, always=True)
        elif kind == "record" and follower is not None:
            detail = _record_detail(follower, job[1], self._masker)
            detail.mask = self._masker.key if self._masker is not None else None
            self.detail_ready.emit(detail)
        elif kind == "request" and follower is not None:
            detail = _request_detail(follower, job[1], self._masker)
            detail.mask = self._masker.key if self._masker is not None else None
            self.detail_ready.emit(detail)
        elif kind == "save":
            self.saved.emit(str(job[1]), _save(follower, job[1]))
        elif kind == "filter":
            table, flt = job[1], job[2]
            self._state.filters[table] = flt
            if follower is not None:
                self.tables_updated.emit([self._state.refilter(follower, table)])
        elif kind == "mask":
            self._masker = Masker(job[1]) if job[1] else None
            self._emit_checklist()
        elif kind == "ids":  # for an export of the selection: complete before it is named
            ids, path, table = job[1:]
            partial = path.with_name(path.name + ".partial")
            partial.write_text("".join(f"{i}\n" for i in ids), "utf-8")
            os.replace(partial, path)
            self.ids_written.emit(str(path), table)
        elif kind == "sample_curl":
            self.text_ready.emit(*_curl_for_sample(job[1], job[2]))
        elif kind == "curl" and follower is not None:
            self.text_ready.emit(*_curl_for(follower, *job[1:]))
        elif kind == "write" and follower is not None:
            ids, path = job[1], job[2]
            found = follower.record_texts(ids)
            with path.open("w", encoding="utf-8") as fh:
                for record_id in ids:
                    if record_id in found:
                        fh.write(found[record_id][1] + "\n")
            self.records_written.emit(str(path), len(found))
        elif kind == "value" and follower is not None:
            table, item_id, field_name, exclude = job[1:]
            expr = _value_expression(follower, table, item_id, field_name)
            if expr and self._masker is not None and _reveals(self._masker, expr):
                # The filter bar would show the identifier the table masks.
                self.notice.emit(
                    f"Filter on this value: not while identifiers are masked, the filter "
                    f"bar would show the real {field_name}. Switch off View ▸ Mask "
                    f"identifiers to filter on it.")
            elif expr:
                self.value_filter_ready.emit(table, expr, exclude)
        return follower

    def _grow(self, follower: Follower, growth: Growth, reset: bool = False) -> None:
        updates = self._state.grow(follower, growth, reset)
        self.tables_updated.emit(updates)
        self.counts_changed.emit(growth.requests, growth.records)
        if not reset:
            self._update_checklist(follower)
        self._state.polls += 1
        if not reset and self._state.polls % 50 == 0 and growth.new_records:
            self.completions_ready.emit(_completions(follower))

    def _update_checklist(self, follower: Follower | None, always: bool = False) -> None:
        """Look at the new records for the Real SIM test; say so when a step ticked."""
        changed = False
        if follower is not None and not self._checklist.done:
            if self._checklist_db is None or self._checklist_db[0] != follower.path:
                self._close_checklist_db()
                self._checklist_db = (follower.path, open_reader(follower.path))
            try:
                changed = self._checklist.update(self._checklist_db[1])
            except sqlite3.Error as exc:  # said (once), and the tables go on following
                raise RuntimeError(f"the Real SIM test could not read the capture: {exc}") \
                    from exc
        if changed or always:
            self._emit_checklist()

    def _close_checklist_db(self) -> None:
        if self._checklist_db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._checklist_db[1].close()
            self._checklist_db = None

    def _emit_checklist(self) -> None:
        mask = self._masker.mask_text if self._masker is not None else (lambda t: t)
        self.checklist_changed.emit([
            ChecklistRow(s.step.key, s.step.title, s.done, plain(mask(s.line())))
            for s in self._checklist.states])

    def _rows(self, follower: Follower, table: str, generation: int, block: int,
              ids: tuple[int, ...]) -> Rows:
        if table == "requests":
            rows = _request_rows(follower, generation, block, ids)
            if self._masker is not None:
                mask = self._masker.mask_text
                rows.texts = [tuple(mask(t) for t in row) for row in rows.texts]
                rows.tips = [mask(t) for t in rows.tips]
            return rows
        return _record_rows(follower, table, generation, block, ids, self._masker)


_JOB_TITLES = {
    "open": "Opening the capture", "record": "Showing record {}", "request": "Showing request {}",
    "save": "Saving a copy of the capture", "filter": "Filtering the {} table",
    "mask": "Switching the mask", "ids": "Writing the ids to export",
    "sample_curl": "Copying the sample {} as cURL", "curl": "Copying as cURL",
    "write": "Writing the records to send", "value": "Filter on this value",
    "checklist": "Following the Real SIM test",
}


def _job_title(job: tuple) -> str:
    title = _JOB_TITLES.get(job[0], "Reading the capture")
    return title.format(job[1]) if "{}" in title and len(job) > 1 else title


def error_text(exc: BaseException) -> str:
    """An exception as a user reads it: its message, never a repr or a traceback."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    if isinstance(exc, KeyError) and exc.args:
        return f"no {exc.args[0]}"
    if isinstance(exc, RecursionError):
        return "too deeply nested"
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = plain(str(exc)).strip()
    name = re.sub(r"(?<!^)(?=[A-Z])", " ", type(exc).__name__).lower()
    return text or name


def _reveals(masker: Masker, text: str) -> bool:
    """Whether ``text`` holds something ``masker`` hides (an identifier, an address)."""
    return masker.mask_text(text) != text


def _local_time(iso: str) -> str:
    """A request's UTC stamp in the user's local time, to the millisecond."""
    try:
        moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


_AUTH_TEXT = {"ok": "ok", "missing": "missing", "invalid": "wrong", "off": "off"}


def _request_rows(follower: Follower, generation: int, block: int,
                  ids: tuple[int, ...]) -> Rows:
    found = follower.request_rows(list(ids))
    texts, flags, tips = [], [], []
    for request_id in ids:
        row = found.get(request_id)
        if row is None:
            texts.append(("",) * len(REQUEST_HEADERS))
            flags.append(0)
            tips.append("")
            continue
        problems = json.loads(row["problems"]) if row["problems"] else []
        status = row["status"]
        path = row["path"] + (f"?{row['query']}" if row["query"] else "")
        records = str(row["record_count"]) if row["method"] == "POST" else ""
        duration = f"{row['duration_ms']:.0f} ms" if row["duration_ms"] is not None else ""
        shown_problems = row["reason"] or "; ".join(problems)
        texts.append(tuple(plain(str(t)) for t in (
            _local_time(row["received_at"]),
            client_address(row["peer"], json.loads(row["headers"] or "[]")), row["method"], path,
            str(status), records, human_size(row["body_size"]), duration,
            _AUTH_TEXT.get(row["auth"], row["auth"]), shown_problems)))
        flags.append(1 if status >= 400 else 2 if problems else 0)
        tips.append(plain("\n".join(filter(None, [row["reason"], *problems]))))
    return Rows("requests", generation, block, ids, texts, flags, tips)


def _record_rows(follower: Follower, table: str, generation: int, block: int,
                 ids: tuple[int, ...], masker: Masker | None = None) -> Rows:
    columns = _TAB_COLUMNS[table]
    found = follower.record_texts(list(ids))
    if masker is not None:
        found = {k: (r, masker.mask_record(t)) for k, (r, t) in found.items()}
    texts, flags, tips = [], [], []
    for record_id in ids:
        item = found.get(record_id)
        flag = 0
        tip = ""
        if item is None:
            texts.append(("",) * len(columns))
        else:
            try:  # one record that cannot be shown never blanks the others
                record = load_json(item[1])
                if not isinstance(record, dict):
                    record = {}
                texts.append(tuple(plain(c.text(record)) for c in columns))
                flag = 2 if record.get("alert") is True else 0  # alerts in amber
            except (ValueError, RecursionError) as exc:
                texts.append(("",) * len(columns))
                flag, tip = 1, f"This record cannot be shown: {error_text(exc)}"
        flags.append(flag)
        tips.append(tip)
    return Rows(table, generation, block, ids, texts, flags, tips)


def _record_detail(follower: Follower, record_id: int, masker: Masker | None = None) -> Detail:
    row = follower.record(record_id)
    if row is None:
        return Detail("record", record_id, f"Record {record_id} (not found)", None, "",
                      is_json=False, note="This record is not in the capture.")
    request_id, idx, family, text = row
    if masker is not None:
        text = masker.mask_record(text)
    title = f"{family} record · request {request_id}, position {idx}"
    try:
        value = load_json(text)
    except (ValueError, RecursionError) as exc:
        return Detail("record", record_id, title, None, text, is_json=False,
                      note=f"Not shown as a tree: {error_text(exc)}", request_id=request_id)
    own_id = value.get("id") if isinstance(value, dict) else None
    title = plain(f"{family} record {cell_text(own_id)} · request {request_id}, "
                  f"position {idx}")
    return Detail("record", record_id, title, value, text, request_id=request_id)


def _request_detail(follower: Follower, request_id: int, masker: Masker | None = None) -> Detail:
    detail = _request_detail_plain(follower, request_id)
    if masker is not None:
        detail.info = masker.mask_text(detail.info)
        detail.raw_text = masker.mask_text(detail.raw_text)
        if detail.is_json:
            detail.value = load_json(detail.raw_text)
    return detail


def _request_detail_plain(follower: Follower, request_id: int) -> Detail:
    row = follower.request(request_id)
    if row is None:
        return Detail("request", request_id, f"Request {request_id} (not found)", is_json=False)
    body: bytes = row["body"] or b""
    headers = json.loads(row["headers"])
    problems = json.loads(row["problems"]) if row["problems"] else []
    lines = [f"{row['method']} {row['path']}{'?' + row['query'] if row['query'] else ''} "
             f"HTTP/{row['http_version']} from {client_address(row['peer'], headers)} at "
             f"{row['received_at']}",
             f"Answered {row['status']}" + (f": {row['reason']}" if row["reason"] else ""),
             *(f"Note: {p}" for p in problems),
             "", *(f"{name}: {value}" for name, value in headers)]
    if row["body_size"] > len(body):
        lines.insert(2, f"Body: {row['body_size']} bytes arrived, {len(body)} kept")
    info = plain("\n".join(lines))
    noun = "record" if row["record_count"] == 1 else "records"
    title = f"Request {request_id} · {row['status']} · {row['record_count']} {noun}"
    detail = Detail("request", request_id, title, None,
                    plain(body.decode("utf-8", errors="replace")),
                    is_json=False, request_id=request_id, info=info,
                    first_record=row["first_record"], record_count=row["record_count"])
    if not body:
        detail.note = "No body."
    elif len(body) > DETAIL_PARSE_LIMIT:
        detail.note = "Too large to show as a tree; raw text only."
    else:
        try:
            detail.value = load_json(detail.raw_text)
            detail.is_json = True
        except ValueError as exc:
            detail.note = plain(f"Not JSON: {exc}")
        except RecursionError:
            detail.note = "Too deeply nested to show as a tree; raw text only."
    return detail


def _save(follower: Follower | None, target: Path) -> str:
    if follower is None:
        return "no capture is open"
    try:
        follower.backup(target)
    except (OSError, sqlite3.Error) as exc:
        return str(exc)
    return ""


@dataclass
class TableUpdate:
    """New rows for one table, or (``reset``) all of its rows under a new filter/capture."""

    table: str
    ids: array
    reset: bool
    total: int  # rows without the table's filter
    filtered: bool = False
    seconds: float | None = None  # how long the filter took, for a full re-filter


class _Tables:
    """The reader thread's view of the tables: every id per table, and their filters."""

    def __init__(self) -> None:
        self.filters: dict[str, Filter | None] = {}
        self.polls = 0
        self.reset()

    def reset(self) -> None:
        self.base = {table: array("q") for table in TABLES}
        self.record_mark = 0
        self.request_mark = 0

    def grow(self, follower: Follower, growth: Growth, reset: bool) -> list[TableUpdate]:
        updates = []
        record_mark = self.record_mark
        for ids in growth.family_ids.values():
            if ids:
                record_mark = max(record_mark, ids[-1])
        for table in TABLES:
            new = growth.table_ids(table)
            self.base[table].extend(new)
            flt = self.filters.get(table)
            if reset:
                updates.append(self.refilter(follower, table))
                continue
            if not new:
                continue
            if flt is not None:
                lo, hi = ((growth.first_request, growth.last_request) if table == "requests"
                          else (self.record_mark, record_mark))
                new = follower.matching(flt, table, lo, hi)
            updates.append(TableUpdate(table, new, False, len(self.base[table]),
                                       flt is not None))
        self.record_mark = record_mark
        self.request_mark = growth.last_request or self.request_mark
        return updates

    def refilter(self, follower: Follower, table: str) -> TableUpdate:
        flt = self.filters.get(table)
        total = len(self.base[table])
        if flt is None:
            return TableUpdate(table, array("q", self.base[table]), True, total)
        started = time.perf_counter()
        upto = self.request_mark if table == "requests" else self.record_mark
        ids = follower.matching(flt, table, 0, upto)
        return TableUpdate(table, ids, True, total, True, time.perf_counter() - started)


_COMPLETION_FIELDS = ("type", "severity", "country", "operator", "ratezone", "family")


def _completions(follower: Follower) -> dict[str, list[str]]:
    """Values seen in the capture for the fields people filter on (from the index)."""
    out: dict[str, list[str]] = {}
    for name in _COMPLETION_FIELDS:
        column = "family" if name == "family" else index_column(name)
        out[name] = follower.distinct_index_values(column)
    out["status"] = [str(v) for v in follower.distinct_request_values("status")]
    out["method"] = follower.distinct_request_values("method")
    out["auth"] = follower.distinct_request_values("auth")
    return out


REQUEST_COLUMN_FIELDS = ("received", "peer", "method", "path", "status", "records", "size",
                          "duration", "auth", "reason")


def literal(value: Any) -> str:
    """A value written as a filter literal (quoted when it must be)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return filter_literal(value)  # exact: integers of any size, 1e400 as spelt
    text = str(value)
    if text and re.fullmatch(r"[A-Za-z0-9_.:+\-]+", text) and text.lower() not in (
            "and", "or", "not", "null", "true", "false", "last"):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value_expression(follower: Follower, table: str, item_id: int, field_name: str) -> str:
    if table == "requests":
        row = follower.request_rows([item_id]).get(item_id)
        if row is None or field_name not in REQUEST_FIELDS:
            return ""
        column = REQUEST_FIELDS[field_name].removeprefix("q.")
        return f"{field_name} == {literal(row.get(column))}"
    found = follower.record(item_id)
    if found is None:
        return ""
    _request_id, _idx, family, text = found
    if field_name == "family":
        return f"family == {family}"
    record = load_json(text)
    target = ALIASES.get(field_name, field_name)
    if target in FIELDS:
        value = field_value(record, target)
    else:
        value = sql_value(lookup(record, parse_path(target)))
    if field_name == "alert":
        return "alert" if value else "not alert"
    return f"{field_name} == {literal(value)}"


def _curl_for_sample(name: str, target: dict) -> tuple[str, str]:
    from app.replay.curl import build_curl
    from app.replay.samples import find

    sample = find(name)
    auth = {"user": target.get("user"), "password": target.get("password"),
            "cacert": target.get("ca_file")}
    if sample.path.is_file():  # refer to the file, byte for byte, rather than inlining it
        command = build_curl(target["url"], b"", **auth).replace(
            "--data-raw ''", f"--data-binary @{shlex.quote(str(sample.path))}")
    else:
        command = build_curl(target["url"], sample.body(), **auth)
    return command, f"Copied the sample {sample.title} as a cURL command"


def _curl_for(follower: Follower, table: str, ids: list[int], target: dict) -> tuple[str, str]:
    from app.replay.curl import build_curl

    if table == "requests":
        row = follower.request(ids[0]) if ids else None
        if row is None:
            return "", "Nothing to copy"
        body = row["body"] or b""
        message = f"Copied request {ids[0]} as a cURL command (its exact body)"
    else:
        found = follower.record_texts(ids)
        texts = [found[i][1] for i in ids if i in found]
        body = ("[" + ",".join(texts) + "]").encode("utf-8")
        noun = "record" if len(texts) == 1 else "records"
        message = f"Copied {len(texts)} {noun} as a cURL command (one JSON list)"
    command = build_curl(target.get("url", ""), body, user=target.get("user"),
                         password=target.get("password"), cacert=target.get("ca_file"))
    return command, message
