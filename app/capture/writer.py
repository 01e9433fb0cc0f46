"""Writing the capture: a batch is durable before it is acknowledged, and its records appear
in the capture all at once.

The receiver acknowledges a request once :meth:`CaptureWriter.accept` has judged its body and
appended it to the capture's inbox (:mod:`app.capture.inbox`), an append-only file beside the
capture; right after the answer, :meth:`CaptureWriter.fold` writes it into the capture in one
transaction (the request and its records split into rows). :meth:`CaptureWriter.store` does
both and returns once the transaction has committed. After a crash the next writer folds what
the inbox still holds before anything else. The format and the connections are in
:mod:`app.capture.schema`.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.capture.answers import Answer, derived_answer
from app.capture.inbox import Entry, Inbox, inbox_path
from app.capture.ledger import fill as fill_ledger
from app.capture.schema import (
    CHECKPOINT_BYTES,
    CaptureError,
    CaptureLockedError,
    check_sqlite,
    open_writer_db,
    roll_up,
    utc_now_iso,
)
from app.config import MAX_RECORDS_PER_POST, private_dir
from app.db import sqlite3
from app.records.fields import INDEXED, field_sql, index_column
from app.records.shape import BodyError, BodyShape, family_sql, inspect_body

if os.name == "nt":
    import msvcrt
else:
    import fcntl


# The key fields of records, for fast filtering, written after the batch was acknowledged (see
# CaptureWriter.index_pending): never on the acknowledgement path.
_INDEX_RECORDS = f"""
INSERT INTO record_index (id, family, received,
                          {", ".join(f'"{index_column(f.name)}"' for f in INDEXED)})
SELECT r.id, {family_sql("q.families", "r.idx")}, q.received_at,
       {", ".join(field_sql(f.name) for f in INDEXED)}
FROM record AS r JOIN request AS q ON q.id = r.request_id
WHERE r.id > ? ORDER BY r.id LIMIT ?
"""

_INSERT_RECORDS = (
    "INSERT INTO record (request_id, idx, json) "
    "SELECT :request_id, key, value FROM json_each(CAST(:body AS TEXT))"
)
_INSERT_REQUEST = """
INSERT INTO request (id, received_at, peer, method, path, query, http_version, headers, auth,
                     auth_user, status, reason, problems, content_type, content_encoding,
                     body_size, record_count, first_record, counts, families, duration_ms,
                     source, rule, acked, response_headers, response_body, target, endpoint,
                     body)
VALUES (:id, :received_at, :peer, :method, :path, :query, :http_version, :headers, :auth,
        :auth_user, :status, :reason, :problems, :content_type, :content_encoding, :body_size,
        :record_count, :first_record, :counts, :families, :duration_ms, :source,
        :rule, :acked, :response_headers, :response_body, :target, :endpoint, :body)
"""


@dataclass
class Incoming:
    """One HTTP request as the server saw it, ready to be stored.

    ``path`` and ``query`` are decoded (what filters and rules compare); ``target`` is the
    request target exactly as it arrived (``/p%20q/x%2Fy?a=1``) and ``endpoint`` the scheme,
    host and port that received it (``https://localhost:8443``); None when not known (a
    request read from a records file)."""

    method: str
    path: str
    body: bytes = b""
    query: str = ""
    peer: str | None = None
    http_version: str | None = "1.1"
    headers: list[tuple[str, str]] = field(default_factory=list)
    auth: str = "off"  # ok | missing | invalid | off
    auth_user: str | None = None
    body_size: int | None = None  # bytes that arrived, when more than ``body`` holds
    content_type: str | None = None
    content_encoding: str | None = None
    received_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    source: str = "received"
    target: str | None = None
    endpoint: str | None = None


@dataclass
class Stored:
    """What storing a request produced: the status to answer and why, and the answer stored
    with it (``answer``: exactly what is to be sent)."""

    request_id: int
    status: int
    reason: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    error: BodyError | None = None
    answer: Answer | None = None
    # The answer rule that decided the answer (its text; None: the endpoint's own judgement)
    # and whether the answer acknowledges the batch. A responder may set them (and change
    # ``status``/``reason``) before the row is written; None: acknowledged when status is 200.
    rule: str | None = None
    acked: bool | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status == 200 if self.acked is None else self.acked

    @property
    def record_count(self) -> int:
        return sum(self.counts.values())

    def event(self) -> dict:
        """The ``--events jsonl`` line for this request."""
        out = {"event": "request", "request_id": self.request_id, "status": self.status,
               "records": self.record_count, "counts": self.counts}
        if self.reason:
            out["reason"] = self.reason
        if self.rule:
            out["rule"] = self.rule
        if not self.acknowledged:
            out["acked"] = False
        if self.problems:
            out["problems"] = self.problems
        return out


def contract_problems(incoming: Incoming, shape: BodyShape | None) -> list[str]:
    """Departures from the Data Streamer's contract worth showing, even on accepted requests."""
    problems = []
    if shape is not None:
        if shape.total > MAX_RECORDS_PER_POST:
            problems.append(
                f"{shape.total} records in one POST: the Data Streamer sends at most "
                f"{MAX_RECORDS_PER_POST}"
            )
        if shape.total == 0:
            problems.append("an empty list: the Data Streamer posts only when it has records")
        problems.extend(shape.notes)  # legal JSON that other parsers may refuse or misread
    ctype = (incoming.content_type or "").split(";")[0].strip().lower()
    if incoming.method == "POST" and ctype != "application/json":
        shown = ctype or "missing"
        problems.append(f"Content-Type is {shown}; the Data Streamer sends application/json")
    return problems


Responder = Callable[[Stored], Answer]  # the answer to a stored request, built in its transaction


class CaptureWriter:
    """The capture's single writer.

    :meth:`accept` runs on the receiver's acknowledging thread, everything that writes the
    capture (:meth:`fold`, :meth:`index_pending`, :meth:`mark_acknowledged`) on its storage
    thread; requests get their ids in the order they are accepted and are folded in that
    order, so readers see them in id order as before. ``close`` may come from another thread
    (a shutdown, a test): the connection is used under one lock, so it is never closed under a
    statement that is running (SQLite would crash).
    """

    def __init__(self, path: Path, *, sync: str = "normal"):
        self.path = Path(path)
        self._closed = False
        self._using = threading.Lock()  # the connection: uncontended but for close()
        self._order = threading.RLock()  # request ids, the inbox and its pending entries
        self._lock_fd = _lock(self.path)
        try:
            self._db = open_writer_db(self.path, sync)
        except CaptureError:
            _unlock(self._lock_fd)
            raise
        self._checkpointer = Checkpointer(self.path)
        try:
            self._inbox = Inbox(inbox_path(self.path), sync=sync == "full")
            # acknowledged before a crash, not folded yet: into the capture before anything
            self._pending: deque[Entry] = deque(self._inbox.entries())
            self._fold()
        except BaseException:
            self._checkpointer.stop()
            self._db.close()
            _unlock(self._lock_fd)
            raise
        row = self._db.execute("SELECT count(*), coalesce(sum(record_count), 0), "
                               "coalesce(max(id), 0) FROM request")
        self.requests, self.records, self._last_id = row.fetchone()

    def store(self, incoming: Incoming, status: int | None = None,
              reason: str | None = None, respond: Responder | None = None) -> Stored:
        """Store ``incoming`` in the capture directly (not through the inbox: imports, tools,
        tests), after whatever was accepted before; returns only after the transaction holding
        it has committed. What :meth:`accept` says of the arguments holds here too. When the
        transaction fails, nothing of the request is kept (its id is given to the next)."""
        shape, status, reason, error = _judge(incoming, status, reason)
        with self._using:
            self._fold()
            with self._order:
                stored, meta = self._prepared(incoming, shape, status, reason, error, respond)
                self._fold_entry(Entry(meta, incoming.body))
                self._counted(stored, shape)
        self._checkpointer.wake()
        return stored

    def accept(self, incoming: Incoming, status: int | None = None,
               reason: str | None = None, respond: Responder | None = None) -> Stored:
        """Judge ``incoming`` (its body as a batch when ``status`` is None), build its answer
        and append it to the inbox; returns once it is durable there (the capture has it
        after :meth:`fold`).

        ``respond`` builds the answer from what was judged (the request id included); it is
        stored with the request, and the caller sends ``Stored.answer``. Without it, the
        answer this endpoint gives such a request is stored
        (:func:`app.capture.answers.derived_answer`; imports)."""
        shape, status, reason, error = _judge(incoming, status, reason)
        with self._order:
            stored, meta = self._prepared(incoming, shape, status, reason, error, respond)
            self._inbox.append(meta, incoming.body)
            meta["duration_ms"] = (time.perf_counter() - incoming.started) * 1000.0
            self._pending.append(Entry(meta, incoming.body))
            self._counted(stored, shape)
        return stored

    def _prepared(self, incoming: Incoming, shape: BodyShape | None, status: int | None,
                  reason: str | None, error: BodyError | None,
                  respond: Responder | None) -> tuple[Stored, dict]:
        """The request's Stored (with its answer) and its meta, under the next id (called
        with ``_order`` held)."""
        if self._closed:
            raise CaptureError(f"{self.path} is closed")
        stored = Stored(self._last_id + 1, 200 if shape is not None else status, reason,
                        dict(shape.counts) if shape is not None else {},
                        contract_problems(incoming, shape), error)
        stored = self._answered(incoming, stored, respond)
        return stored, _meta(incoming, stored, shape)

    def _counted(self, stored: Stored, shape: BodyShape | None) -> None:
        self._last_id = stored.request_id
        self.requests += 1
        self.records += shape.total if shape is not None else 0

    @property
    def unfolded(self) -> int:
        """How many accepted requests are not in the capture yet."""
        return len(self._pending)

    def fold(self, folded: Callable[[], None] | None = None) -> int:
        """Write the accepted requests into the capture, in order, each in a transaction of
        its own (a reader sees a request's records all at once); returns how many.
        ``folded`` is called (on this thread) as each one is in: under a steady load one
        call goes on folding what keeps coming."""
        with self._using:
            return self._fold(folded)

    def _fold(self, folded: Callable[[], None] | None = None) -> int:
        done = 0
        while True:
            with self._order:
                if not self._pending:
                    if self._inbox.size():
                        self._inbox.clear()  # all of it is in the capture
                    break
                entry = self._pending[0]
            self._fold_entry(entry)
            with self._order:
                self._pending.popleft()
            done += 1
            if folded is not None:
                folded()
        if done:
            self._checkpointer.wake()
        return done

    def _fold_entry(self, entry: Entry) -> None:
        meta, body = entry.meta, entry.body
        db = self._db
        request_id = meta["request_id"]
        if db.execute("SELECT 1 FROM request WHERE id = ?", (request_id,)).fetchone():
            return  # folded before a crash that came before the inbox was emptied
        db.execute("BEGIN IMMEDIATE")
        try:
            first, keep_body = None, True
            if meta.get("split"):
                total = meta["record_count"]
                try:
                    cur = db.execute(_INSERT_RECORDS, {"request_id": request_id, "body": body})
                    last, split = cur.lastrowid, cur.rowcount
                except (sqlite3.OperationalError, sqlite3.IntegrityError) as exc:
                    if isinstance(exc, sqlite3.OperationalError) and "JSON" not in str(exc):
                        raise
                    last, split = None, exc
                if split != total:  # acknowledged, so kept whole, with why it has no records
                    db.execute("ROLLBACK")
                    db.execute("BEGIN IMMEDIATE")
                    meta = {**meta, "record_count": 0, "counts": None, "families": None,
                            "problems": json.dumps([*json.loads(meta["problems"] or "[]"),
                                                    f"its records could not be split: "
                                                    f"{split}"], ensure_ascii=False)}
                elif total:
                    first = last - total + 1
                    keep_body = not self._body_is_its_records(body, first, last)
            db.execute(_INSERT_REQUEST, _row(meta, first, body if keep_body else None))
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise

    def _answered(self, incoming: Incoming, stored: Stored,
                  respond: Responder | None) -> Stored:
        """``stored`` with its answer: the caller's, or what this endpoint answers it."""
        if respond is not None:
            stored.answer = respond(stored)
        else:
            stored.answer = derived_answer(
                request_id=stored.request_id, method=incoming.method, path=incoming.path,
                status=stored.status, reason=stored.reason, auth=incoming.auth,
                record_count=stored.record_count, counts=stored.counts,
                problems=stored.problems, body=incoming.body, records_before=self.records)
        return stored

    def _body_is_its_records(self, body: bytes, first: int, last: int) -> bool:
        """Whether ``body`` is byte for byte ``[`` + its records' texts joined by ``,`` +
        ``]``, as a compact sender's is: then it is stored once, as its records (about a
        quarter of the acknowledgement path is writing the body a second time)."""
        if b"\n" in body:  # outside strings (a JSON string holds none): an indented body
            return False
        size = self._db.execute(
            "SELECT sum(length(CAST(json AS BLOB))) + count(*) + 1 FROM record "
            "WHERE id BETWEEN ? AND ?", (first, last)).fetchone()[0]
        if size != len(body):  # white space between tokens: keep the body as it came
            return False
        # group_concat over an ordered sub-query: SQLite keeps that order (documented as not
        # promised, but a different order could only make the test fail, which keeps the
        # body; request_body always rebuilds it in id order).
        return bool(self._db.execute(
            "SELECT CAST('[' || group_concat(json, ',') || ']' AS BLOB) = ? FROM "
            "(SELECT json FROM record WHERE id BETWEEN ? AND ? ORDER BY id)",
            (body, first, last)).fetchone()[0])

    def mark_acknowledged(self, request_id: int) -> None:
        """Record that the answer of ``request_id`` acknowledged its batch after all: a
        delayed 200 that reached a client still waiting for it (``request.acked``)."""
        with self._using:
            self._fold()  # (it is in the capture by now, unless a fold failed)
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("UPDATE request SET acked = 1 WHERE id = ?", (request_id,))
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise

    def index_pending(self, limit: int = 500) -> int:
        """Index up to ``limit`` records not yet in ``record_index`` (and add them to the
        statistics' rollups: :func:`app.capture.schema.roll_up`), then, with what is left of
        ``limit``, add indexed records to the redelivery ledger
        (:func:`app.capture.ledger.fill`), in one transaction; returns how many records it took
        (0: both are complete). The ledger catches up once the index has."""
        with self._using:
            return self._index_pending(limit)

    def _index_pending(self, limit: int) -> int:
        db = self._db
        done = db.execute("SELECT coalesce(max(id), 0) FROM record_index").fetchone()[0]
        db.execute("BEGIN IMMEDIATE")
        try:
            count = db.execute(_INDEX_RECORDS, (done, limit)).rowcount
            if count:  # the statistics' rollups: up to what is indexed, in the same commit
                roll_up(db)
            if count < limit:  # a step is at most ``limit`` records: a batch waits one step
                count += fill_ledger(db, limit - count)  # never beyond record_index
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        if count:
            self._checkpointer.wake()
        return count

    def close(self) -> None:
        """Checkpoint and close; a second call does nothing."""
        with self._using:
            if self._closed:
                return
            with self._order:
                self._closed = True  # nothing is accepted any more
            self._checkpointer.stop()
            with contextlib.suppress(sqlite3.Error, OSError):
                _rollback(self._db)  # e.g. left open by a failed write on a full disk
                self._fold()  # (what cannot be folded stays in the inbox for the next writer)
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._inbox.close(remove=not self._pending)
            self._db.close()
            _unlock(self._lock_fd)

    def remove(self) -> None:
        """Delete the (closed) capture and its WAL files: for a capture that was never used."""
        for suffix in ("", "-wal", "-shm", "-journal", "-inbox"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def _judge(incoming: Incoming, status: int | None, reason: str | None
           ) -> tuple[BodyShape | None, int | None, str | None, BodyError | None]:
    """The body's shape when it is judged as a batch (``status`` None) and is one; else the
    status and reason to store it with (a 400 and its error when it is no batch)."""
    if status is not None:
        return None, status, reason, None
    try:
        return inspect_body(incoming.body), None, None, None
    except BodyError as exc:
        return None, 400, str(exc), exc


def _meta(incoming: Incoming, stored: Stored, shape: BodyShape | None) -> dict:
    """What folding a request needs beside its body (an inbox entry's meta, JSON): its row of
    the request table but for the records' place and the body."""
    problems = stored.problems
    answer = stored.answer
    return {
        "request_id": stored.request_id,
        "split": shape is not None,  # the body is a batch: its records go into the capture
        "received_at": utc_now_iso(incoming.received_at),
        "peer": incoming.peer,
        "method": incoming.method,
        "path": incoming.path,
        "query": incoming.query,
        "http_version": incoming.http_version,
        "headers": json.dumps(incoming.headers, ensure_ascii=False),
        "auth": incoming.auth,
        "auth_user": incoming.auth_user,
        "status": stored.status,
        "reason": stored.reason,
        "problems": json.dumps(problems, ensure_ascii=False) if problems else None,
        "content_type": incoming.content_type,
        "content_encoding": incoming.content_encoding,
        "body_size": (incoming.body_size if incoming.body_size is not None
                      else len(incoming.body)),
        "record_count": shape.total if shape is not None else 0,
        "counts": json.dumps(shape.counts) if shape is not None and shape.counts else None,
        "families": shape.codes.decode("latin-1") if shape is not None else None,
        "duration_ms": (time.perf_counter() - incoming.started) * 1000.0,
        "source": incoming.source,
        "rule": stored.rule,
        "acked": int(stored.acknowledged),
        "response_headers": answer.headers_json() if answer is not None else None,
        "response_body": answer.body.decode("latin-1") if answer is not None else None,
        "target": incoming.target,
        "endpoint": incoming.endpoint,
    }


def _row(meta: dict, first_record: int | None, body: bytes | None) -> dict:
    """The request table's row of an inbox entry's ``meta``."""
    row = {key: meta[key] for key in _ROW_KEYS}
    row["id"] = meta["request_id"]
    row["first_record"] = first_record
    row["body"] = body
    if meta["families"] is not None:
        row["families"] = meta["families"].encode("latin-1")
    if meta["response_body"] is not None:
        row["response_body"] = meta["response_body"].encode("latin-1")
    return row


_ROW_KEYS = ("received_at", "peer", "method", "path", "query", "http_version", "headers", "auth",
             "auth_user", "status", "reason", "problems", "content_type", "content_encoding",
             "body_size", "record_count", "counts", "families", "duration_ms", "source", "rule",
             "acked", "response_headers", "response_body", "target", "endpoint")


def _rollback(db: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open: SQLite ends some itself (a full disk)."""
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")


# Windows locks are mandatory byte ranges: the lock takes one byte far beyond anything SQLite
# reads or locks in the file (its pages end below 2**48, its own locks sit at 1 GiB).
_WINDOWS_LOCK_OFFSET = 2**62


def _lock(path: Path) -> int:
    """Hold the capture for this writer: a second receiver on the same file is refused.

    POSIX: ``flock`` on the file. Windows: ``msvcrt.locking`` of one byte (see
    :data:`_WINDOWS_LOCK_OFFSET`); that path cannot run here, it mirrors the POSIX one."""
    check_sqlite()  # before the file is created: an unusable SQLite leaves nothing behind
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.name == "nt":
            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise CaptureLockedError(
            f"{path} is being written by another Streamer Inspector receiver"
        ) from None
    return fd


def _unlock(fd: int) -> None:
    """Release :func:`_lock`'s hold (closing the file releases a POSIX lock)."""
    try:
        if os.name == "nt":
            with contextlib.suppress(OSError):
                os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    finally:
        os.close(fd)


class Checkpointer:
    """Copies the WAL back into the database from its own thread and connection.

    The writer's automatic checkpoint would run inside a COMMIT and delay that batch's
    acknowledgement; here it runs beside the writer (SQLite releases the GIL while it works).
    """

    def __init__(self, path: Path, threshold: int = CHECKPOINT_BYTES):
        self._wal = Path(f"{path}-wal")
        self._path = path
        self._threshold = threshold
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        try:
            big = self._wal.stat().st_size >= self._threshold
        except OSError:
            big = False
        if big:
            self._wanted.set()

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping:
                    return
                with contextlib.suppress(sqlite3.Error):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        self._thread.join(timeout=10)
