"""The window's reader: a thread that follows the capture and fetches rows, so the GUI never waits.

The GUI thread only queues jobs (open a capture, fetch a block of rows, fetch one record) and gets
the results as queued Qt signals. The thread is a plain Python thread owning its own read-only
SQLite connection (``app.follow.Follower``); it parses JSON and renders cell text there, and
polls the capture for growth every 100 ms while idle.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import logging
import os
import queue
import re
import shlex
import threading
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.capture.checklist import Checklist
from app.capture.follow import TABLES, Follower, Growth
from app.capture.ledger import ledger_summary, redeliveries
from app.capture.order import SortError, SortKey
from app.capture.rules import PAUSE_RULE
from app.capture.schema import CaptureError, has_ledger, open_reader
from app.db import sqlite3
from app.display import human_size
from app.export.masking import Masker
from app.filters.known import CAPTURE_ENTRY, EXACT_ENTRY, KEYS_ENTRY, PATHS_ENTRY, occurs
from app.filters.lexer import filter_literal
from app.filters.planner import Filter
from app.net import client_address
from app.records.cells import payload_line, time_cell
from app.records.columns import RECORD_TABS, SEEN_COLUMN, cell_text
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
_TAB_COLUMNS = {tab.key: tab.view_columns for tab in RECORD_TABS}

REQUEST_HEADERS = ("Time", "Peer", "Method", "Path", "Status", "Records", "Size", "Duration",
                   "Auth", "Problems")


@dataclass(frozen=True)
class ChecklistRow:
    """One step of the Real SIM test as the panel shows it (the line masked when the view is)."""

    key: str
    title: str
    done: bool
    line: str


# A record row's ledger marks (Rows.marks): its batch was not acknowledged; it conflicts with
# its first arrival (same family and id, other content); the ledger has not covered it yet.
UNACKED, CONFLICT, PENDING = 1, 2, 4
TIMES = "\N{MULTIPLICATION SIGN}"  # the "Seen" cells: 1 of them, 3 of them


@dataclass
class Rows:
    """Cell texts for a block of rows, and per row a flag: 0 fine, 1 rejected, 2 has problems.

    Record rows also carry their ledger marks (``UNACKED | CONFLICT | PENDING``) and the
    tooltip of their "Seen" cell (column ``seen_column``)."""

    table: str
    generation: int
    block: int
    ids: tuple[int, ...]
    texts: list[tuple[str, ...]]
    flags: list[int]
    tips: list[str]
    marks: list[int] = field(default_factory=list)
    seen_tips: list[str] = field(default_factory=list)
    seen_column: int = -1
    # Per row, the cells with a tooltip of their own (the value as sent) and with a tone
    # (severity: info, warning, error, critical): column -> text; None when there are none.
    cell_tips: list[dict[int, str] | None] = field(default_factory=list)
    tones: list[dict[int, str] | None] = field(default_factory=list)


@dataclass
class RedeliveryReport:
    """The Redeliveries view's figures: the ledger's summary and, per unacknowledged request,
    what became of its records (``app.capture.ledger``); ``available``: the capture has a
    ledger (format 6 on)."""

    summary: Any
    requests: list
    available: bool = True


@dataclass
class LedgerAdvance:
    """The ledger now covers the records up to ``through`` (it covered ``after`` at the last
    look); ``changed``: sorted record ids up to ``after`` whose facts changed (their record
    came again, their batch was acknowledged late), None: any may have."""

    after: int
    through: int
    changed: array | None


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
    ledger: str = ""  # a record's redelivery facts: rich text (escaped), links "record:<id>"


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
    ledger_advanced = Signal(object)  # LedgerAdvance: "Seen" cells to fetch again
    redeliveries_ready = Signal(object)  # RedeliveryReport, while the view is shown
    names_checked = Signal(str, object)  # capture path, {path steps: whether a record has it}
    rows_sorted = Signal(object)  # Sorted: a table's rows in the order of a column

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self._lock = threading.Condition()
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._blocks: OrderedDict[tuple, tuple] = OrderedDict()
        self._stopping = False
        self._masker: Masker | None = None
        self._local_times = False  # times in the tables: local time (else UTC)
        self._checklist = Checklist()  # the Real SIM test, run on the thread as rows arrive
        self._checklist_db: tuple[Path, sqlite3.Connection] | None = None  # its connection
        self._redeliveries = _RedeliveryWorker(self)  # the Redeliveries view's figures
        self._redeliveries_wanted = False  # the Redeliveries view is shown
        self._completion_values: dict[str, list[str]] = {}  # what the filter bars offer
        self._visible: dict[str, frozenset[int]] = {}  # per table: the columns rendered
        self._latest_sort: dict[str, int] = {}  # per table: the newest sort asked for
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

    def set_visible_columns(self, table: str, columns: frozenset[int] | None) -> None:
        """Render only these columns of ``table`` from now on (the others: ""; None: all).
        Read when a block is rendered: a model that shows a column again invalidates its
        blocks (their next generation is rendered with it)."""
        if columns is None:
            self._visible.pop(table, None)
        else:
            self._visible[table] = frozenset(columns)

    def set_local_times(self, local: bool) -> None:
        """Show the tables' times in local time (else UTC) in everything rendered from now on."""
        self._put(("times", bool(local)))

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

    def check_names(self, capture: str, names: list) -> None:
        """Whether any record of ``capture`` holds each of these names (path steps, those a
        filter bar's sample lacks), exactly; answered by ``names_checked``, always."""
        self._put(("check_names", capture, list(names)))

    def _check_names_apart(self, capture: str, path: Path | None, names: list) -> None:
        """The check on a thread of its own, with its own connection: a name no record has
        costs a scan of every record's text (300,000 records: ~1.2 s), which the tables'
        rows must not wait behind. A name it cannot check is not called unknown."""
        answers = {tuple(steps): True for steps in names}
        try:
            if path is not None:
                db = open_reader(path)
                try:
                    answers = {steps: occurs(db, steps) for steps in answers}
                finally:
                    db.close()
        except Exception as exc:  # said, and the bar is answered all the same
            log.warning("checking the names in a filter: %s", exc)
        with contextlib.suppress(RuntimeError):  # (the window may be gone by now)
            self.names_checked.emit(capture, answers)

    def sort_rows(self, table: str, token: int, key: SortKey, ids: array) -> None:
        """Put ``ids`` (a table's rows, ascending) in the order ``key`` names, in SQL;
        answered by ``rows_sorted`` with ``token``. A newer request for the same table makes
        an older one still queued moot: it is skipped (typing a filter into a sorted table
        asks again at each key)."""
        self._latest_sort[table] = token
        self._put(("sort", table, token, key, ids))

    def watch_redeliveries(self, on: bool) -> None:
        """Compute the Redeliveries view's figures (now, and whenever the ledger advances)
        while ``on``: only while the view is shown."""
        self._put(("redeliveries", bool(on)))

    def stop(self) -> None:
        """Stop the thread (and wait for it): call before the application quits."""
        self._put(("stop",))
        self._thread.join(timeout=10)
        self._redeliveries.stop()

    def wake(self) -> None:
        """Look at the capture now (the receiver says it just wrote batches into it), not at
        the next poll."""
        with self._lock:
            self._lock.notify()

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
                    what = "Following the redelivery ledger"
                    self._follow_ledger(follower)
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
            self._state.through = follower.ledger_through()
            self._state.ledger = follower.has_ledger
            self._redeliveries.follow(follower.path if self._redeliveries_wanted else None)
            growth = follower.poll() or Growth()
            self._grow(follower, growth, reset=True)
            self._emit_completions(follower)
            self._checklist = Checklist(self._checklist.iccid)
            self._update_checklist(follower, always=True)
        elif kind == "redeliveries":
            self._redeliveries_wanted = job[1]
            self._redeliveries.follow(follower.path if job[1] and follower is not None
                                      else None)
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
        elif kind == "sort":
            table, token, key, ids = job[1:]
            if token < self._latest_sort.get(table, 0):
                return follower  # a newer sort of this table is queued
            started = time.perf_counter()
            try:
                if follower is None:
                    raise SortError("No capture is open.")
                ordered = follower.sorted_ids(key, ids)
            except SortError as exc:
                self.rows_sorted.emit(Sorted(table, token, key, array("q"), 0.0, str(exc)))
            else:
                self.rows_sorted.emit(Sorted(table, token, key, ordered,
                                             time.perf_counter() - started))
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
        elif kind == "times":
            self._local_times = job[1]
        elif kind == "ids":  # for an export of the selection: complete before it is named
            ids, path, table = job[1:]
            partial = path.with_name(path.name + ".partial")
            partial.write_text("".join(f"{i}\n" for i in ids), "utf-8")
            os.replace(partial, path)
            self.ids_written.emit(str(path), table)
        elif kind == "sample_curl":
            self.text_ready.emit(*_curl_for_sample(job[1], job[2]))
        elif kind == "curl" and follower is not None:
            self.text_ready.emit(*_curl_for(follower, *job[1:], masker=self._masker))
        elif kind == "write" and follower is not None:
            ids, path = job[1], job[2]
            found = follower.record_texts(ids)
            with path.open("w", encoding="utf-8") as fh:
                for record_id in ids:
                    if record_id in found:
                        fh.write(found[record_id][1] + "\n")
            self.records_written.emit(str(path), len(found))
        elif kind == "check_names":  # (another capture's: cannot tell, answered all the same)
            capture, names = job[1], job[2]
            path = follower.path if follower is not None and str(follower.path) == capture \
                else None
            threading.Thread(target=self._check_names_apart, args=(capture, path, names),
                             name="check-names", daemon=True).start()
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
        if not reset and growth.new_records and \
                self._completion_values.pop(EXACT_ENTRY, None) is not None:
            self._offer_completions()  # a name the sample lacks may be in the new records
        self._state.polls += 1
        if not reset and self._state.polls % 50 == 0 and growth.new_records:
            self._emit_completions(follower)
        elif not reset and growth.request_ids and follower.has_ledger:
            self._note_new_rules(follower, growth.request_ids)

    def _emit_completions(self, follower: Follower) -> None:
        self._completion_values = _completions(follower)
        self._offer_completions()

    def _offer_completions(self) -> None:  # copies: the lists grow on this thread
        self.completions_ready.emit({k: list(v) for k, v in self._completion_values.items()})

    def _note_new_rules(self, follower: Follower, request_ids: array) -> None:
        """Offer an answer rule's text as soon as a request it answered is in the capture
        (the other values are looked at every 50 batches: that reads the whole index)."""
        known = self._completion_values.setdefault("rule", [])
        rows = follower.request_rows(list(request_ids[-200:]))
        new = [rule for rule in dict.fromkeys(row.get("rule") for row in rows.values())
               if rule and rule not in known]
        if new:
            known.extend(new)
            self._offer_completions()

    def _follow_ledger(self, follower: Follower) -> None:
        """Look whether the ledger covers more records (or a late 200 acknowledged a batch):
        ledger filters get their held-back records, the tables their "Seen" cells again."""
        state = self._state
        appeared = False
        if not follower.has_ledger:
            if not follower.ledger_appeared():
                return
            state.ledger = appeared = True  # migrated while shown: everything anew
        through = follower.ledger_through()
        settled = state.settled(follower)
        if through == state.through and not settled and not appeared:
            return
        after = state.through
        changed = (follower.ledger_changes(after, through) if through >= after and not appeared
                   else None)
        if changed is not None and settled:
            changed = array("q", sorted({*changed, *settled}))
        updates = state.advance(follower, through, changed)
        if updates:
            self.tables_updated.emit(updates)
        self.ledger_advanced.emit(LedgerAdvance(after, through, changed))
        if self._redeliveries_wanted:
            self._redeliveries.poke()

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
        visible = self._visible.get(table)  # (set by the GUI thread: read once)
        if table == "requests":
            rows = _request_rows(follower, generation, block, ids, self._local_times, visible)
            if self._masker is not None:
                mask = self._masker.mask_text
                rows.texts = [tuple(mask(t) for t in row) for row in rows.texts]
                rows.tips = [mask(t) for t in rows.tips]
            return rows
        return _record_rows(follower, table, generation, block, ids, self._masker,
                            self._state.through, self._local_times, visible)


class _RedeliveryWorker:
    """Computes the Redeliveries view's figures on a thread of its own, with its own read-only
    connection: on a large capture they take a second or more (300,000 records: ~1.7 s), and
    the tables' rows must not wait behind them. Asked again while busy, it computes once more
    afterwards; never more often than every four times the last computation took (nor than
    every 0.3 s). Results go out as the reader's ``redeliveries_ready``; a failure as its
    ``job_failed`` (the thread carries on)."""

    def __init__(self, reader: CaptureReader):
        self._reader = reader
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._path: Path | None = None  # the capture to compute for (None: the view is hidden)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="redeliveries", daemon=True)
        self._thread.start()

    def follow(self, path: Path | None) -> None:
        """Compute for ``path`` from now on (None: stop computing), at once."""
        with self._lock:
            self._path = path
        self._wanted.set()

    def poke(self) -> None:
        """The ledger advanced: compute again (soon)."""
        self._wanted.set()

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        db: sqlite3.Connection | None = None
        db_path: Path | None = None
        next_at = 0.0
        try:
            while True:
                self._wanted.wait()
                if self._stopping:
                    return
                wait = next_at - time.monotonic()
                if wait > 0:
                    time.sleep(min(wait, 0.5))
                    continue
                self._wanted.clear()
                with self._lock:
                    path = self._path
                if path is None:
                    continue
                try:
                    if db_path != path:
                        if db is not None:
                            db.close()
                        db, db_path = None, None
                        db, db_path = open_reader(path), path
                    started = time.perf_counter()
                    report = RedeliveryReport(ledger_summary(db), redeliveries(db),
                                              has_ledger(db))
                    next_at = time.monotonic() + max(0.3, 4 * (time.perf_counter() - started))
                except Exception as exc:  # said, and tried again later
                    log.warning("Computing the redeliveries: %s", exc)
                    self._reader.job_failed.emit(
                        f"Computing the redeliveries failed: {error_text(exc)}")
                    next_at = time.monotonic() + 5
                    continue
                with self._lock:
                    if self._path != path:
                        continue  # another capture by now: its figures come next
                self._reader.redeliveries_ready.emit(report)
        finally:
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()


_JOB_TITLES = {
    "open": "Opening the capture", "record": "Showing record {}", "request": "Showing request {}",
    "save": "Saving a copy of the capture", "filter": "Filtering the {} table",
    "mask": "Switching the mask", "ids": "Writing the ids to export",
    "sample_curl": "Copying the sample {} as cURL", "curl": "Copying as cURL",
    "write": "Writing the records to send", "value": "Filter on this value",
    "checklist": "Following the Real SIM test",
    "redeliveries": "Computing the redeliveries",
    "check_names": "Checking the names in a filter",
    "sort": "Sorting the {} table",
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


def local_time(iso: str) -> str:
    """A request's UTC stamp in the user's local time, to the millisecond."""
    try:
        moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


# The Auth column shows the words the filter takes (``auth == invalid``): one vocabulary; what
# each means is the cell's tooltip. (It showed "wrong" for invalid, which no filter matched.)
AUTH_MEANING = {"ok": "the right Basic Auth credentials",
                "missing": "no Authorization header, while credentials are required",
                "invalid": "wrong credentials: the Authorization header does not match",
                "off": "no credentials required"}


def _no_answer(rule: str | None) -> str:
    """What happened to a request stored with status 0 (no HTTP answer was sent)."""
    return "no answer (hang)" if (rule or "").split()[:1] == ["hang"] else "no answer (dropped)"


def status_text(status: int, rule: str | None) -> str:
    """A request's Status cell: its status, and "rule" when an answer rule decided it (the
    rule's text is in the row's tooltip), "paused" when it was answered while acknowledgements
    were paused; "no answer (dropped)" or "(hang)" when none was sent (only a rule does that)."""
    if status == 0:
        return _no_answer(rule)
    return f"{status} · {'paused' if rule == PAUSE_RULE else 'rule'}" if rule else str(status)


def _decided_by(rule: str) -> str:
    return ("while acknowledgements were paused" if rule == PAUSE_RULE
            else f"by the answer rule “{rule}”")


def answered_text(row: dict) -> str:
    """The request detail's answer line: the answer, the rule that decided it and whether it
    acknowledged the batch (then, for a rule's answer, the receiver's words on a line)."""
    status, rule, reason = row["status"], row.get("rule"), row["reason"] or ""
    text = (f"{_no_answer(rule)[:1].upper()}{_no_answer(rule)[1:]}" if status == 0
            else f"Answered {status}")
    if rule:
        text += f" {_decided_by(rule)}"
        for who in ("acknowledgements paused: ", f"answer rule '{rule}': "):
            reason = reason.removeprefix(who)  # said just before
    elif reason:
        text += f": {reason}"
    if row["method"] == "POST" and row["record_count"]:
        text += (" · acknowledged" if row.get("acked", status == 200) else
                 " · not acknowledged: the Data Streamer sends these records again")
    if rule and reason:
        text += f"\n{reason[:1].upper()}{reason[1:]}"
    return text


def _request_rows(follower: Follower, generation: int, block: int,
                  ids: tuple[int, ...], local: bool = False,
                  visible: frozenset[int] | None = None) -> Rows:
    """``visible``: the columns to render (the others are ""; None: all)."""
    found = follower.request_rows(list(ids))
    texts, flags, tips, cell_tips = [], [], [], []
    for request_id in ids:
        row = found.get(request_id)
        if row is None:
            texts.append(("",) * len(REQUEST_HEADERS))
            flags.append(0)
            tips.append("")
            cell_tips.append(None)
            continue
        received = time_cell(row["received_at"], local)
        auth = row["auth"]
        cell_tips.append({0: plain(f"Received at {row['received_at']} (as stored, UTC)"),
                          8: plain(f"{AUTH_MEANING.get(auth, auth)} (filter: auth == {auth})")})
        problems = json.loads(row["problems"]) if row["problems"] else []
        status, rule = row["status"], row.get("rule")
        # the target as it arrived (%2F told apart from /; format 7 on), else path and query
        path = row.get("target") or row["path"] + (f"?{row['query']}" if row["query"] else "")
        records = str(row["record_count"]) if row["method"] == "POST" else ""
        duration = f"{row['duration_ms']:.0f} ms" if row["duration_ms"] is not None else ""
        shown_problems = row["reason"] or "; ".join(problems)
        peer = client_address(row["peer"], json.loads(row["headers"] or "[]")) \
            if visible is None or 1 in visible else ""  # (its headers parsed: only if shown)
        texts.append(tuple(plain(str(t)) if visible is None or n in visible else ""
                           for n, t in enumerate((
                               received.text, peer, row["method"], path,
                               status_text(status, rule), records,
                               human_size(row["body_size"]), duration, auth,
                               shown_problems))))
        # A rule's answer is amber, not red: the batch was fine and is stored.
        flags.append(2 if rule or status == 0 else 1 if status >= 400 else 2 if problems else 0)
        tips.append(plain("\n".join(filter(None, [
            f"Answered {_decided_by(rule)}" if rule else "", row["reason"],
            *problems]))))
    return Rows("requests", generation, block, ids, texts, flags, tips, cell_tips=cell_tips)


def _record_rows(follower: Follower, table: str, generation: int, block: int,
                 ids: tuple[int, ...], masker: Masker | None = None,
                 through: int | None = None, local: bool = False,
                 visible: frozenset[int] | None = None) -> Rows:
    """``through``: the ledger's coverage as the reader last looked (None: read it now); a
    block rendered just before the ledger advanced is fetched again on ``ledger_advanced``;
    ``local``: times in local time (else UTC); ``visible``: the columns to render (hidden
    ones are "", never rendered; None: all)."""
    columns = _TAB_COLUMNS[table]
    rendered = [(n, c) for n, c in enumerate(columns)
                if c is not SEEN_COLUMN and (visible is None or n in visible)]
    blank = [""] * len(columns)  # "Seen" is filled from the ledger below
    cell_tips: list[dict[int, str] | None] = []
    tones: list[dict[int, str] | None] = []
    found = follower.record_texts(list(ids))
    if masker is not None:
        found = {k: (r, masker.mask_record(t)) for k, (r, t) in found.items()}
    texts, flags, tips = [], [], []
    for record_id in ids:
        item = found.get(record_id)
        flag = 0
        tip = ""
        row_tips = row_tones = None
        if item is None:
            texts.append(("",) * len(columns))
        else:
            try:  # one record that cannot be shown never blanks the others
                record = load_json(item[1])
                if not isinstance(record, dict):
                    record = {}
                shown = blank.copy()
                for n, column in rendered:
                    text, cell_tip, tone = column.cell(record, local)
                    shown[n] = plain(text)
                    if cell_tip:
                        row_tips = row_tips or {}
                        row_tips[n] = plain(cell_tip)
                    if tone:
                        row_tones = row_tones or {}
                        row_tones[n] = tone
                texts.append(tuple(shown))
                flag = 2 if record.get("alert") is True else 0  # alerts in amber
            except (ValueError, RecursionError) as exc:
                texts.append(("",) * len(columns))
                flag, tip = 1, f"This record cannot be shown: {error_text(exc)}"
        flags.append(flag)
        tips.append(tip)
        cell_tips.append(row_tips)
        tones.append(row_tones)
    rows = Rows(table, generation, block, ids, texts, flags, tips, cell_tips=cell_tips,
                tones=tones)
    _add_ledger_cells(follower, rows, columns.index(SEEN_COLUMN), through,
                      {record_id: request_id for record_id, (request_id, _t) in found.items()})
    return rows


def duration_text(seconds: float) -> str:
    """A delay as people read it: ``0.4 s``, ``12.3 s``, ``3 min 20 s``, ``2 h 5 min``."""
    if seconds < 100:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def answer_text(status: int, rule: str | None, acked: bool) -> str:
    """How a batch was answered, for the ledger's texts: ``acknowledged`` or
    ``not acknowledged: 503, rule '503 for 2'`` (status 0: no answer was sent)."""
    if acked:
        return "acknowledged"
    what = "no answer" if not status else str(status)
    if rule == PAUSE_RULE:
        return f"not acknowledged: {what}, acknowledgements paused"
    return f"not acknowledged: {what}" + (f", rule '{plain(rule)}'" if rule else "")


def _add_ledger_cells(follower: Follower, rows: Rows, column: int, through: int | None = None,
                      request_of: dict[int, int] | None = None) -> None:
    """Fill the "Seen" cells of a block of record rows, their marks and tooltips.

    ``request_of``: the block's records' request ids (read with their texts): each request's
    answer is read once through one of its records, not joined per record (a block is
    rendered while batches stream in: the reader thread holds the GIL the GUI paints with)."""
    ids = rows.ids
    rows.seen_column = column
    rows.marks = [0] * len(ids)
    rows.seen_tips = [""] * len(ids)
    if not ids:
        return
    if through is None:
        through = follower.ledger_through()
    covered = [i for i in ids if i <= through]
    seen = follower.seen(covered) if covered else {}
    linked = {s.first for s in seen.values()} | {s.previous for s in seen.values()}
    if request_of is None:
        arrivals = follower.arrivals(sorted({*ids, *(i for i in linked if i is not None)}))
    else:
        one = {}  # a record of each request: its arrival says how the request was answered
        for record_id, request_id in request_of.items():
            one.setdefault(request_id, record_id)
        answers = {request_id: answer
                   for request_id, *answer in follower.arrivals(sorted(one.values())).values()}
        arrivals = {record_id: (request_id, *answers[request_id])
                    for record_id, request_id in request_of.items() if request_id in answers}
        others = sorted(i for i in linked if i is not None and i not in arrivals)
        if others:
            arrivals.update(follower.arrivals(others))
    for row, record_id in enumerate(ids):
        mark, text, tip = 0, "", ""
        own = arrivals.get(record_id)
        if own is not None and not own[3]:
            mark |= UNACKED
            rows.tips[row] = rows.tips[row] or (
                f"Its batch (request {own[0]}) was {answer_text(own[1], own[2], False)}: "
                f"the streamer sends such records again")
        if own is None or not follower.has_ledger:
            pass
        elif record_id > through:
            mark |= PENDING
            text = "…"
            tip = "The redelivery ledger has not looked at this record yet"
        elif (facts := seen.get(record_id)) is None or facts.seen is None:
            tip = "No id: the ledger cannot tell this record's arrivals apart"
        else:
            text = f"{facts.seen}{TIMES}"
            first = arrivals.get(facts.first)
            parts = [f"Arrival {facts.attempt} of {facts.seen}"]
            if first is not None:
                parts.append(f"First in request {first[0]} "
                             f"({answer_text(first[1], first[2], first[3])})")
            if facts.previous is not None and facts.delay_ms is not None:
                parts.append(f"{duration_text(facts.delay_ms / 1000)} after the previous arrival")
            if facts.conflict:
                mark |= CONFLICT
                text += " ≠"
                parts.append(f"CONFLICT: its content differs from the first arrival (record "
                             f"{facts.first}) and from the previous one: same id, not a "
                             f"redelivery")
            if facts.attempt > 1 and own is not None:
                parts.append(f"This arrival: request {own[0]} "
                             f"({answer_text(own[1], own[2], own[3])})")
            tip = "\n".join(parts)
        rows.marks[row] = mark
        rows.seen_tips[row] = tip
        cells = rows.texts[row]
        rows.texts[row] = (*cells[:column], text, *cells[column + 1:])


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
    # An MO SMS: its payload decoded as its dcs says (the JSON below has it as sent).
    info = plain(payload_line(value)) if family == "sms_mo" and isinstance(value, dict) else ""
    return Detail("record", record_id, title, value, text, request_id=request_id,
                  ledger=_ledger_facts(follower, record_id, value, masker), info=info)


def _record_link(record_id: int, request_id: int | None) -> str:
    where = f" (request {request_id})" if request_id is not None else ""
    return f'<a href="record:{record_id}">record {record_id}</a>{where}'


def _ledger_facts(follower: Follower, record_id: int, value: Any,
                  masker: Masker | None) -> str:
    """A record's redelivery facts as the detail pane shows them (rich text: every text in it
    is escaped; links ``record:<id>`` select that record)."""
    if not follower.has_ledger:
        return ""
    through = follower.ledger_through()
    own = follower.arrivals([record_id]).get(record_id)
    lines = []
    if own is not None and not own[3]:
        lines.append(f"<b>Not acknowledged</b>: its batch (request {own[0]}) was "
                     f"{html.escape(answer_text(own[1], own[2], False))}; the streamer "
                     f"sends such records again.")
    if record_id > through:
        lines.append("The redelivery ledger has not looked at this record yet (the receiver "
                     "fills it between batches).")
        return "<br>".join(lines)
    facts = follower.seen([record_id]).get(record_id)
    if facts is None or facts.seen is None:
        lines.append("No id: the ledger cannot tell this record's arrivals apart.")
        return "<br>".join(lines)
    linked = follower.arrivals([i for i in (facts.first, facts.previous) if i is not None])
    again = facts.seen - facts.attempt
    later = (f": it came again {again} {'time' if again == 1 else 'times'}" if again
             else ": the latest")
    lines.insert(0, f"<b>Arrival {facts.attempt} of {facts.seen}</b> of this id so far"
                    + (later if facts.seen > 1 else ": it came once")
                    + (f"; acknowledged in request {own[0]}"
                       if own is not None and own[3] else ""))
    if facts.attempt > 1 and facts.first is not None:
        first = linked.get(facts.first)
        answer = f", {answer_text(first[1], first[2], first[3])}" if first else ""
        lines.append(f"First arrival: {_record_link(facts.first, first and first[0])}"
                     f"{html.escape(answer)}")
    if facts.previous is not None:
        previous = linked.get(facts.previous)
        delay = (f", {duration_text(facts.delay_ms / 1000)} earlier"
                 if facts.delay_ms is not None else "")
        answer = f", {answer_text(previous[1], previous[2], previous[3])}" if previous else ""
        lines.append(f"Previous arrival: {_record_link(facts.previous, previous and previous[0])}"
                     f"{html.escape(delay + answer)}")
    if facts.conflict and facts.first is not None:
        first_row = follower.record(facts.first)
        which = ""
        if first_row is not None:
            try:
                paths = _differences(load_json(first_row[3]), value)
            except (ValueError, RecursionError):
                paths = []
            if paths:
                shown = [p if masker is None else masker.mask_text(p) for p in paths[:6]]
                which = ": " + ", ".join(shown) + (" …" if len(paths) > 6 else "")
        lines.append(f'<span style="color:#cf222e"><b>Conflict</b>: same id as record '
                     f'{facts.first}, other content{html.escape(plain(which))}</span>')
    return "<br>".join(lines)


def _differences(a: Any, b: Any, path: str = "", out: list[str] | None = None,
                 limit: int = 7) -> list[str]:
    """The paths (``detail.volume.total``, ``[2]``) where two parsed records differ."""
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            where = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(where + (" (only in the first)" if key in a else " (new)"))
            else:
                _differences(a[key], b[key], where, out, limit)
            if len(out) >= limit:
                break
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for number, (x, y) in enumerate(zip(a, b, strict=True)):
            _differences(x, y, f"{path}[{number}]", out, limit)
            if len(out) >= limit:
                break
    elif type(a) is not type(b) or a != b:
        out.append(path or "the whole record")
    return out


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
    # the request line as it arrived (format 7 on), else its decoded path and query
    target = row.get("target") or (row["path"] + (f"?{row['query']}" if row["query"] else ""))
    lines = [f"{row['method']} {target} HTTP/{row['http_version']}",
             f"From {client_address(row['peer'], headers)}"
             + (f" to {row['endpoint']}" if row.get("endpoint") else "")
             + f" at {row['received_at']}",
             answered_text(row),
             *(f"Note: {p}" for p in problems),
             "", *(f"{name}: {value}" for name, value in headers)]
    if row["body_size"] > len(body):
        lines.insert(3, f"Body: {row['body_size']} bytes arrived, {len(body)} kept")
    info = plain("\n".join(lines))
    noun = "record" if row["record_count"] == 1 else "records"
    title = (f"Request {request_id} · {status_text(row['status'], row.get('rule'))} · "
             f"{row['record_count']} {noun}")
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
class Sorted:
    """A table's rows in the order of one column (``ids``), or why they could not be
    (``error``); ``token`` tells the model which of its requests this answers."""

    table: str
    token: int
    key: SortKey
    ids: array
    seconds: float
    error: str = ""


@dataclass
class TableUpdate:
    """New rows for one table, or (``reset``) all of its rows under a new filter/capture.

    Not a reset: ``ids`` are added (usually after the last row; a record that now passes a
    ledger filter may go between), ``removed`` leave (they no longer pass)."""

    table: str
    ids: array
    reset: bool
    total: int  # rows without the table's filter
    filtered: bool = False
    seconds: float | None = None  # how long the filter took, for a full re-filter
    removed: array = field(default_factory=lambda: array("q"))


# Filter names whose truth comes from the redelivery ledger: a record the ledger has not covered
# yet cannot be judged, and is held back until it is (seen, attempt, redelivered, conflict).
LEDGER_NAMES = frozenset({"seen", "attempt", "redelivered", "conflict"})
# ...and those whose truth may change after a record was judged: later arrivals raise ``seen``;
# a delayed 200 is acknowledged once it reached the client (acked, unacknowledged).
CHANGING_NAMES = frozenset({"seen", "acked"})
MAX_CHANGED_RUNS = 400  # beyond this many runs of changed ids a ledger filter is run again


def filter_names(flt: Filter | None) -> set[str]:
    """The ledger fields a filter uses (its ``Ref`` nodes of kind ``ledger``)."""
    names: set[str] = set()
    if flt is None:
        return names
    stack: list[Any] = [flt.root]
    seen_nodes: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        name = getattr(node, "name", None)
        if isinstance(name, str) and getattr(node, "kind", None) == "ledger":
            names.add(name.lower())
        if hasattr(node, "__dataclass_fields__"):
            stack.extend(getattr(node, f) for f in node.__dataclass_fields__)
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return names


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
        self.through = 0  # the ledger's coverage at the last look
        self.ledger = False  # the capture has one (format 6 on)
        self.marks = {table: 0 for table in TABLES}  # a record table's filter ran up to here
        self.shown: dict[str, array] = {}  # the ids of a record table under a changing filter
        self.unsettled: dict[int, tuple[int, int, float]] = {}  # a 200 not acknowledged yet

    def holds(self, table: str) -> bool:
        return (self.ledger and table != "requests"
                and bool(filter_names(self.filters.get(table)) & LEDGER_NAMES))

    def changing(self, table: str) -> bool:
        return (self.ledger and table != "requests"
                and bool(filter_names(self.filters.get(table)) & CHANGING_NAMES))

    def _upto(self, table: str) -> int:
        if table == "requests":
            return self.request_mark
        return min(self.record_mark, self.through) if self.holds(table) else self.record_mark

    def grow(self, follower: Follower, growth: Growth, reset: bool) -> list[TableUpdate]:
        updates = []
        record_mark = self.record_mark
        for ids in growth.family_ids.values():
            if ids:
                record_mark = max(record_mark, ids[-1])
        self.record_mark = record_mark
        self.request_mark = growth.last_request or self.request_mark
        if follower.has_ledger and growth.request_ids:
            now = time.monotonic()
            for request_id, first, count in follower.unsettled(growth.first_request,
                                                                growth.last_request):
                self.unsettled[request_id] = (first, count, now)
        for table in TABLES:
            new = growth.table_ids(table)
            self.base[table].extend(new)
            flt = self.filters.get(table)
            if reset:
                updates.append(self.refilter(follower, table))
                continue
            total = len(self.base[table])
            if flt is None:
                if new:
                    updates.append(TableUpdate(table, new, False, total))
                continue
            if table == "requests":
                if new:
                    new = follower.matching(flt, table, growth.first_request,
                                            growth.last_request)
                    updates.append(TableUpdate(table, new, False, total, True))
                continue
            low, high = self.marks[table], self._upto(table)
            if high > low and (new or self.holds(table)):
                new = follower.matching(flt, table, low, high)
                self.marks[table] = high
                if table in self.shown:
                    self.shown[table].extend(new)
                updates.append(TableUpdate(table, new, False, total, True))
            elif new:  # held back: only the total changed
                updates.append(TableUpdate(table, array("q"), False, total, True))
        return updates

    def refilter(self, follower: Follower, table: str) -> TableUpdate:
        flt = self.filters.get(table)
        total = len(self.base[table])
        self.shown.pop(table, None)
        if flt is None:
            self.marks[table] = self.record_mark
            return TableUpdate(table, array("q", self.base[table]), True, total)
        started = time.perf_counter()
        upto = self._upto(table)
        ids = follower.matching(flt, table, 0, upto)
        if table != "requests":
            self.marks[table] = upto
            if self.changing(table):
                self.shown[table] = array("q", ids)
        return TableUpdate(table, ids, True, total, True, time.perf_counter() - started)

    def settled(self, follower: Follower) -> list[int]:
        """Record ids whose batch was acknowledged late since the last look (a delay rule's
        200 that reached its client); requests waiting longer than 10 minutes are let go."""
        if not self.unsettled:
            return []
        acked = follower.acknowledged(list(self.unsettled))
        now = time.monotonic()
        out: list[int] = []
        for request_id, (first, count, since) in list(self.unsettled.items()):
            if acked.get(request_id):
                out.extend(range(first, first + count))
            if acked.get(request_id) or now - since > 600:
                del self.unsettled[request_id]
        return out

    def advance(self, follower: Follower, through: int,
                changed: array | None) -> list[TableUpdate]:
        """The ledger covers records up to ``through`` now: a ledger filter's held-back
        records are judged, and those whose facts changed (``changed``) judged again."""
        self.through = through
        updates = []
        for table in TABLES:
            if table == "requests" or self.filters.get(table) is None:
                continue
            if changed is None and (self.changing(table) or self.holds(table)):
                updates.append(self.refilter(follower, table))  # anything may have changed
                continue
            flt = self.filters[table]
            done = self.marks[table]
            added, removed = array("q"), array("q")
            if self.changing(table) and changed:
                runs = _runs(changed, done)
                if len(runs) > MAX_CHANGED_RUNS:
                    updates.append(self.refilter(follower, table))
                    continue
                shown = self.shown.setdefault(table, array("q"))
                for low, high in runs:
                    now = set(follower.matching(flt, table, low - 1, high))
                    start, stop = bisect_left(shown, low), bisect_right(shown, high)
                    was = set(shown[start:stop])
                    added.extend(sorted(now - was))
                    removed.extend(sorted(was - now))
                for record_id in removed:
                    del shown[bisect_left(shown, record_id)]
                for record_id in added:
                    shown.insert(bisect_left(shown, record_id), record_id)
            high = self._upto(table)
            if self.holds(table) and high > done:
                new = follower.matching(flt, table, done, high)
                self.marks[table] = high
                if table in self.shown:
                    self.shown[table].extend(new)
                added.extend(new)
            if added or removed:
                updates.append(TableUpdate(table, added, False, len(self.base[table]), True,
                                           removed=removed))
        return updates


def _runs(ids: array, upto: int) -> list[tuple[int, int]]:
    """Consecutive stretches (first, last) of the sorted ``ids`` up to ``upto``."""
    runs: list[tuple[int, int]] = []
    for record_id in ids:
        if record_id > upto:
            break
        if runs and runs[-1][1] == record_id - 1:
            runs[-1] = (runs[-1][0], record_id)
        elif not runs or runs[-1][1] != record_id:
            runs.append((record_id, record_id))
    return runs


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
    out["acked"] = ["1", "0"]
    if follower.has_ledger:  # format 6 on: the answer rules that answered requests
        out["rule"] = follower.distinct_request_values("rule")
    names = follower.known_names()  # what a filter bar checks names against
    out[CAPTURE_ENTRY] = [str(follower.path)]
    if names is not None:
        out[KEYS_ENTRY], out[PATHS_ENTRY] = names.keys, names.paths
        if names.complete:  # the sample read every record: what it lacks, no record has
            out[EXACT_ENTRY] = []
    return out


REQUEST_COLUMN_FIELDS = ("received", "peer", "method", "target", "status", "records", "size",
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
        if field_name == "target":  # as the Path cell shows it (path and query before format 7)
            value = row.get("target") or row["path"] + (f"?{row['query']}" if row["query"] else "")
        else:
            value = row.get(REQUEST_FIELDS[field_name].removeprefix("q."))
        expr = f"{field_name} == {literal(value)}"
        if field_name == "status" and row.get("rule"):  # the cell says a rule answered: which
            expr += f" and rule == {literal(row['rule'])}"
        return expr
    found = follower.record(item_id)
    if found is None:
        return ""
    _request_id, _idx, family, text = found
    if field_name == "family":
        return f"family == {family}"
    if field_name == SEEN_COLUMN.name:  # from the ledger, not the record
        facts = follower.seen([item_id]).get(item_id) if item_id <= follower.ledger_through() \
            else None
        return f"seen == {facts.seen}" if facts is not None and facts.seen else ""
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


def _curl_for(follower: Follower, table: str, ids: list[int], target: dict,
              masker: Masker | None = None) -> tuple[str, str]:
    """Copy as cURL: a request as it was received (``app.export.curlscript.copy_command``:
    method, target, headers, exact body, credentials as judged), or records as one JSON list
    posted to ``target``; with identifiers masked while the view masks them."""
    from app.export.curlscript import copy_command, row_of_columns
    from app.export.transfer import mask_transform
    from app.replay.curl import build_curl

    if table == "requests":
        columns = follower.request(ids[0]) if ids else None
        if columns is None:
            return "", "Nothing to copy"
        return copy_command(row_of_columns(columns), target.get("url", ""),
                            user=target.get("user"), password=target.get("password"),
                            cacert=target.get("ca_file"),
                            transform=mask_transform(masker) if masker is not None else None)
    found = follower.record_texts(ids)
    texts = [found[i][1] for i in ids if i in found]
    if masker is not None:
        texts = [masker.mask_record(t) for t in texts]
    body = ("[" + ",".join(texts) + "]").encode("utf-8")
    noun = "record" if len(texts) == 1 else "records"
    message = (f"Copied {len(texts)} {noun} as a cURL command (one JSON list"
               + (", identifiers masked)" if masker is not None else ")"))
    command = build_curl(target.get("url", ""), body, user=target.get("user"),
                         password=target.get("password"), cacert=target.get("ca_file"))
    return command, message
