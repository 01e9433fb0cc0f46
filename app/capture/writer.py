"""Writing the capture: one batch a transaction, committed before it is acknowledged.

A batch is committed before it is acknowledged: :meth:`CaptureWriter.store` returns only after
the transaction holding the request and its records has committed, and the server answers 200
only after that. The format and the connections are in :mod:`app.capture.schema`.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from app.capture.answers import Answer, derived_answer
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
    """The capture's single writer, used from one thread (the receiver's storage thread).

    ``close`` may come from another thread (a shutdown, a test): the connection is used under
    one lock, so it is never closed under a statement that is running (SQLite would crash).
    """

    def __init__(self, path: Path, *, sync: str = "normal"):
        self.path = Path(path)
        self._closed = False
        self._using = threading.Lock()  # uncontended but for close(): costs nothing per batch
        self._lock_fd = _lock(self.path)
        try:
            self._db = open_writer_db(self.path, sync)
        except CaptureError:
            _unlock(self._lock_fd)
            raise
        row = self._db.execute("SELECT count(*), coalesce(sum(record_count), 0) FROM request")
        self.requests, self.records = row.fetchone()
        self._classifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classifier")
        self._checkpointer = Checkpointer(self.path)

    def store(self, incoming: Incoming, status: int | None = None,
              reason: str | None = None, respond: Responder | None = None) -> Stored:
        """Store ``incoming``; when ``status`` is None the body is judged as a batch.

        ``respond`` builds the answer from what storing produced (the request id is known
        only inside the transaction); it is stored in the same row, and the caller sends
        ``Stored.answer``. Without it, the answer this endpoint gives such a request is
        stored (:func:`app.capture.answers.derived_answer`; imports). Returns only after the
        transaction has committed.
        """
        with self._using:
            return self._store(incoming, status, reason, respond)

    def _store(self, incoming: Incoming, status: int | None, reason: str | None,
               respond: Responder | None) -> Stored:
        if status is not None:
            return self._store_plain(incoming, status, reason, None, respond)
        shape_future = self._classifier.submit(inspect_body, incoming.body)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            request_id = self._next_request_id()
            split_error = None
            try:
                cur = db.execute(_INSERT_RECORDS, {"request_id": request_id,
                                                   "body": incoming.body})
                first_record, split = cur.lastrowid, cur.rowcount
            except (sqlite3.OperationalError, sqlite3.IntegrityError) as exc:
                # Malformed JSON, or a body that is no list (an object's members are split
                # instead, and a null member breaks NOT NULL): the classifier will say what.
                if isinstance(exc, sqlite3.OperationalError) and "JSON" not in str(exc):
                    raise
                split_error = exc
            try:
                shape = shape_future.result()
            except BodyError as exc:
                db.execute("ROLLBACK")
                return self._store_plain(incoming, 400, str(exc), exc, respond)
            if split_error is not None or split != shape.total:
                # simdjson or the stdlib took what SQLite would not (nested deeper than its
                # JSON limit): a bad batch, stored whole like any other.
                db.execute("ROLLBACK")
                error = BodyError(f"the records could not be split: {split_error or split}")
                return self._store_plain(incoming, 400, str(error), error, respond)
            problems = contract_problems(incoming, shape)
            first = first_record - shape.total + 1 if shape.total else None
            once = first is not None and self._body_is_its_records(incoming.body, first,
                                                                   first_record)
            stored = self._answered(incoming, Stored(request_id, 200, None, dict(shape.counts),
                                                     problems, None), respond)
            self._insert_request(incoming, stored, shape, first, store_body=not once)
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        return self._stored(stored, shape)

    def _store_plain(self, incoming: Incoming, status: int, reason: str | None,
                     error: BodyError | None, respond: Responder | None) -> Stored:
        problems = contract_problems(incoming, None)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            request_id = self._next_request_id()
            stored = self._answered(incoming, Stored(request_id, status, reason, {}, problems,
                                                     error), respond)
            self._insert_request(incoming, stored, None, None)
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        return self._stored(stored, None)

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

    def _next_request_id(self) -> int:
        # Only called inside the writer's own IMMEDIATE transaction: nobody else inserts.
        return self._db.execute("SELECT coalesce(max(id), 0) + 1 FROM request").fetchone()[0]

    def _body_is_its_records(self, body: bytes, first: int, last: int) -> bool:
        """Whether ``body`` is byte for byte ``[`` + its records' texts joined by ``,`` +
        ``]``, as a compact sender's is: then it is stored once, as its records (about a
        quarter of the acknowledgement path is writing the body a second time)."""
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

    def _insert_request(self, incoming: Incoming, stored: Stored, shape: BodyShape | None,
                        first_record: int | None, store_body: bool = True) -> None:
        counts = shape.counts if shape is not None else {}
        problems = stored.problems
        answer = stored.answer
        self._db.execute(_INSERT_REQUEST, {
            "id": stored.request_id,
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
            "first_record": first_record,
            "counts": json.dumps(counts) if counts else None,
            "families": shape.codes if shape is not None else None,
            "duration_ms": (time.perf_counter() - incoming.started) * 1000.0,
            "source": incoming.source,
            "rule": stored.rule,
            "acked": int(stored.acknowledged),
            "response_headers": answer.headers_json() if answer is not None else None,
            "response_body": answer.body if answer is not None else None,
            "target": incoming.target,
            "endpoint": incoming.endpoint,
            "body": incoming.body if store_body else None,
        })

    def _stored(self, stored: Stored, shape: BodyShape | None) -> Stored:
        self.requests += 1
        self.records += shape.total if shape is not None else 0
        self._checkpointer.wake()
        return stored

    def mark_acknowledged(self, request_id: int) -> None:
        """Record that the answer of ``request_id`` acknowledged its batch after all: a
        delayed 200 that reached a client still waiting for it (``request.acked``)."""
        with self._using:
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
            self._closed = True
            self._classifier.shutdown(wait=True)
            self._checkpointer.stop()
            with contextlib.suppress(sqlite3.Error):
                _rollback(self._db)  # e.g. left open by a failed write on a full disk
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
            _unlock(self._lock_fd)

    def remove(self) -> None:
        """Delete the (closed) capture and its WAL files: for a capture that was never used."""
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


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
