"""The capture file: one SQLite database (WAL) holding every request and every record.

It is the single source of truth. The receiver (``serve``) is its only writer; the window and the
command line read it, possibly while it grows. The format is documented in
``docs/capture-format.md``; ``PRAGMA user_version`` carries :data:`SCHEMA_VERSION`.

A batch is committed before it is acknowledged: :meth:`CaptureWriter.store` returns only after
the transaction holding the request and its records has committed, and the server answers 200
only after that. WAL with ``synchronous=NORMAL`` survives a killed process (the committed pages
are in the WAL file when COMMIT returns); ``synchronous=FULL`` also survives power loss.

Storing a batch does two things at once: SQLite's ``json_each`` cuts the body into records
(each record's text with every token as sent, only insignificant white space dropped) while
:func:`app.records.inspect_body` validates the body and classifies each record on a second
thread. SQLite releases the GIL, so the two really run in parallel; the family codes are stored
as one blob in the request row rather than one column per record row, so that the split does not
have to wait for them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from app import APP_NAME, __version__
from app.config import MAX_RECORDS_PER_POST, is_own, private_dir
from app.db import sqlite3
from app.filters.language import Filter
from app.records.fields import INDEXED, field_sql, index_column, regexp
from app.records.shape import FAMILIES, BodyError, BodyShape, family_sql, inspect_body

try:
    import fcntl
except ImportError:  # Windows: no advisory lock, SQLite still serialises writers
    fcntl = None

SCHEMA_VERSION = 4  # 2: record_index; 3: a body may be stored once, as its records;
# 4: record ids and type ids beyond 64 bits exact in record_keys and record_index
PAGE_SIZE = 65536
CHECKPOINT_BYTES = 64 * 1024 * 1024


# Key columns are derived when read, in the view ``record_keys``: anything computed on INSERT
# (generated columns, indexes) lengthens the acknowledgement path. ``body`` is the last column
# of ``request`` so that reading the small columns never walks its overflow pages.
_SCHEMA = f"""
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE request (
    id               INTEGER PRIMARY KEY,
    received_at      TEXT NOT NULL,
    peer             TEXT,
    method           TEXT NOT NULL,
    path             TEXT NOT NULL,
    query            TEXT NOT NULL DEFAULT '',
    http_version     TEXT,
    headers          TEXT NOT NULL,
    auth             TEXT NOT NULL,
    auth_user        TEXT,
    status           INTEGER NOT NULL,
    reason           TEXT,
    problems         TEXT,
    content_type     TEXT,
    content_encoding TEXT,
    body_size        INTEGER NOT NULL,
    record_count     INTEGER NOT NULL DEFAULT 0,
    first_record     INTEGER,
    counts           TEXT,
    families         BLOB,
    duration_ms      REAL,
    source           TEXT NOT NULL DEFAULT 'received',
    body             BLOB
);

CREATE TABLE record (
    id         INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES request(id),
    idx        INTEGER NOT NULL,
    json       TEXT NOT NULL
);

{{keys_view}}

{{index_table}}

PRAGMA user_version = {SCHEMA_VERSION};
"""
_INDEX_TABLE = f"""
CREATE TABLE {{schema}}record_index (
    id       INTEGER PRIMARY KEY,
    family   TEXT NOT NULL,
    received TEXT NOT NULL,
    {", ".join(f'"{index_column(f.name)}"' for f in INDEXED)}
);
"""
# record_id and type_id are exact: an integer beyond 64 bits is the text of its digits (since
# capture format 4; json_extract alone made it a lossy REAL).
_KEYS_VIEW = f"""
CREATE VIEW record_keys AS SELECT
    r.id, r.request_id, r.idx,
    {family_sql("q.families", "r.idx")} AS family,
    {field_sql("id")} AS record_id,
    {field_sql("time")} AS ts,
    {field_sql("iccid")} AS iccid,
    {field_sql("imsi")} AS imsi,
    {field_sql("type_id")} AS type_id,
    {field_sql("type")} AS type_name,
    r.json
FROM record AS r JOIN request AS q ON q.id = r.request_id;
"""
_SCHEMA = (_SCHEMA.replace("{index_table}", _INDEX_TABLE.replace("{schema}", ""))
           .replace("{keys_view}", _KEYS_VIEW))
# Format 3 to 4: the exact view, and the index's integers beyond 64 bits read again exactly.
_MIGRATE_TO_4 = "DROP VIEW IF EXISTS record_keys;" + _KEYS_VIEW + "".join(
    f'UPDATE record_index SET "{index_column(name)}" = (SELECT {field_sql(name)} FROM record '
    f'AS r WHERE r.id = record_index.id) WHERE typeof("{index_column(name)}") = \'real\';'
    for name in ("id", "type_id")) + (
    # Requests from this one on carry notes on non-interoperable records (see INTEROP_FROM).
    "INSERT OR IGNORE INTO meta (key, value) "
    "SELECT 'interop_notes_from', coalesce(max(id), 0) + 1 FROM request;")
INTEROP_FROM = "interop_notes_from"  # meta key: the first request whose notes are complete

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
                     source, body)
VALUES (:id, :received_at, :peer, :method, :path, :query, :http_version, :headers, :auth,
        :auth_user, :status, :reason, :problems, :content_type, :content_encoding, :body_size,
        :record_count, :first_record, :counts, :families, :duration_ms, :source, :body)
"""


def request_body(db: sqlite3.Connection, request_id: int, body: bytes | None = None,
                 first_record: int | None = None, record_count: int = 0) -> bytes:
    """A request's body, byte for byte: as stored, or rebuilt from its records when it was
    stored once, as them (``body`` NULL: ``[`` + the record texts joined by ``,`` + ``]``).
    Pass the row's ``body``, ``first_record`` and ``record_count`` when you have them."""
    if first_record is None and body is None:
        row = db.execute("SELECT body, first_record, record_count FROM request WHERE id = ?",
                         (request_id,)).fetchone()
        if row is None:
            return b""
        body, first_record, record_count = row
    if body is not None:
        return body
    if not first_record or not record_count:
        return b""
    texts = [t for (t,) in db.execute(
        "SELECT json FROM record WHERE id BETWEEN ? AND ? ORDER BY id",
        (first_record, first_record + record_count - 1))]
    return ("[" + ",".join(texts) + "]").encode("utf-8")


class CaptureError(Exception):
    """A capture file that cannot be used; the message says which file and why."""


class CaptureVersionError(CaptureError):
    """The capture was written by a newer Streamer Inspector."""


class CaptureLockedError(CaptureError):
    """Another receiver is writing this capture."""


def utc_now_iso(ts: float | None = None) -> str:
    moment = dt.datetime.fromtimestamp(time.time() if ts is None else ts, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _check(db: sqlite3.Connection, path: Path) -> int:
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise CaptureError(f"{path} is not a capture file ({exc})") from None
    if version > SCHEMA_VERSION:
        raise CaptureVersionError(
            f"{path} was written by a newer Streamer Inspector (capture format {version}; "
            f"this version reads up to {SCHEMA_VERSION}): update the app to open it"
        )
    if tables and not {"request", "record", "meta"} <= tables:
        raise CaptureError(f"{path} is an SQLite database but not a Streamer Inspector capture")
    return version


def open_writer_db(path: Path, sync: str = "normal") -> sqlite3.Connection:
    """Open (creating if new) a capture for writing; existing captures are appended to.

    A new capture and the folders created for it are private (0600 / 0700): it holds ICCIDs.
    SQLite gives the -wal and -shm files the database file's mode.
    """
    path = Path(path)
    private_dir(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if not path.stat().st_size or is_own(path):
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        version = _check(db, path)
        if version == 0:
            db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise CaptureError(f"{path}: cannot switch the capture to WAL mode (got {mode})")
        db.execute(f"PRAGMA synchronous = {'FULL' if sync == 'full' else 'NORMAL'}")
        db.execute("PRAGMA wal_autocheckpoint = 0")  # the Checkpointer thread does it
        if 0 < version < SCHEMA_VERSION:
            # 1: made before the filter index existed; 2: same tables, from 3 on a body may be
            # NULL (see request_body); 3: integers beyond 64 bits were REALs in the index.
            index = _INDEX_TABLE.replace("{schema}", "") if version == 1 else ""
            db.executescript("BEGIN;" + index + _MIGRATE_TO_4
                             + f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        if version == 0:
            db.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("application", APP_NAME), ("created_by", __version__),
                 ("created_at", utc_now_iso()), (INTEROP_FROM, "1")],
            )
    except sqlite3.DatabaseError as exc:
        db.close()
        raise CaptureError(f"{path}: {exc}") from None
    except CaptureError:
        db.close()
        raise
    return db


def _text(data: bytes) -> str:
    """TEXT from SQLite as str. ``json_extract`` of a string holding a lone surrogate escape
    (legal JSON) gives bytes that are not UTF-8 (the surrogate, CESU-8 style): read back as
    that same lone surrogate, as Python's json reads it, instead of failing the query."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return data.decode("utf-8", "replace")


def open_reader(path: Path) -> sqlite3.Connection:
    """Open a capture read-only (it may be growing in another process)."""
    path = Path(path)
    if not path.is_file():
        raise CaptureError(f"{path} does not exist")
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                         check_same_thread=False)
    db.create_function("regexp", 2, regexp, deterministic=True)
    db.text_factory = _text
    try:
        version = _check(db, path)
        if version == 0:
            raise CaptureError(f"{path} is not a capture file (it is empty)")
        if version < 2:  # no filter index: an empty one, so every record is read from JSON
            db.execute(_INDEX_TABLE.replace("{schema}", "temp."))
        if version < 4:  # the exact record_keys, until a writer migrates the file
            db.execute(_KEYS_VIEW.replace("CREATE VIEW", "CREATE TEMP VIEW"))
    except CaptureError:
        db.close()
        raise
    return db


@dataclass
class Incoming:
    """One HTTP request as the server saw it, ready to be stored."""

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


@dataclass
class Stored:
    """What storing a request produced: the status to answer and why."""

    request_id: int
    status: int
    reason: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    error: BodyError | None = None

    @property
    def record_count(self) -> int:
        return sum(self.counts.values())

    def event(self) -> dict:
        """The ``--events jsonl`` line for this request."""
        out = {"event": "request", "request_id": self.request_id, "status": self.status,
               "records": self.record_count, "counts": self.counts}
        if self.reason:
            out["reason"] = self.reason
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


class CaptureWriter:
    """The capture's single writer, used from one thread (the receiver's storage thread)."""

    def __init__(self, path: Path, *, sync: str = "normal"):
        self.path = Path(path)
        self._closed = False
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
              reason: str | None = None) -> Stored:
        """Store ``incoming``; when ``status`` is None the body is judged as a batch.

        Returns only after the transaction has committed.
        """
        if status is not None:
            return self._store_plain(incoming, status, reason, None)
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
                return self._store_plain(incoming, 400, str(exc), exc)
            if split_error is not None or split != shape.total:
                # simdjson or the stdlib took what SQLite would not (nested deeper than its
                # JSON limit): a bad batch, stored whole like any other.
                db.execute("ROLLBACK")
                error = BodyError(f"the records could not be split: {split_error or split}")
                return self._store_plain(incoming, 400, str(error), error)
            problems = contract_problems(incoming, shape)
            first = first_record - shape.total + 1 if shape.total else None
            once = first is not None and self._body_is_its_records(incoming.body, first,
                                                                   first_record)
            self._insert_request(incoming, request_id, 200, None, problems, shape, first,
                                 store_body=not once)
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        return self._stored(request_id, 200, None, problems, shape, None)

    def _store_plain(self, incoming: Incoming, status: int, reason: str | None,
                     error: BodyError | None) -> Stored:
        problems = contract_problems(incoming, None)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            request_id = self._next_request_id()
            self._insert_request(incoming, request_id, status, reason, problems, None, None)
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        return self._stored(request_id, status, reason, problems, None, error)

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

    def _insert_request(self, incoming: Incoming, request_id: int, status: int,
                        reason: str | None, problems: list[str], shape: BodyShape | None,
                        first_record: int | None, store_body: bool = True) -> None:
        counts = shape.counts if shape is not None else {}
        self._db.execute(_INSERT_REQUEST, {
            "id": request_id,
            "received_at": utc_now_iso(incoming.received_at),
            "peer": incoming.peer,
            "method": incoming.method,
            "path": incoming.path,
            "query": incoming.query,
            "http_version": incoming.http_version,
            "headers": json.dumps(incoming.headers, ensure_ascii=False),
            "auth": incoming.auth,
            "auth_user": incoming.auth_user,
            "status": status,
            "reason": reason,
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
            "body": incoming.body if store_body else None,
        })

    def _stored(self, request_id, status, reason, problems, shape, error) -> Stored:
        self.requests += 1
        self.records += shape.total if shape is not None else 0
        self._checkpointer.wake()
        return Stored(request_id=request_id, status=status, reason=reason,
                      counts=dict(shape.counts) if shape is not None else {},
                      problems=problems, error=error)

    def index_pending(self, limit: int = 500) -> int:
        """Index up to ``limit`` records not yet in ``record_index``; returns how many."""
        db = self._db
        done = db.execute("SELECT coalesce(max(id), 0) FROM record_index").fetchone()[0]
        db.execute("BEGIN IMMEDIATE")
        try:
            count = db.execute(_INDEX_RECORDS, (done, limit)).rowcount
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        if count:
            self._checkpointer.wake()
        return count

    def close(self) -> None:
        """Checkpoint and close; a second call does nothing."""
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


def _lock(path: Path) -> int | None:
    if fcntl is None:
        return None
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise CaptureLockedError(
            f"{path} is being written by another Streamer Inspector receiver"
        ) from None
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
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


# ---------------------------------------------------------------------------------------------
# Reading


def summary(db: sqlite3.Connection, flt: Filter | None = None) -> dict:
    """What a capture holds: requests by status, records by family, event types, time, SIMs.

    With a filter, only its matching records count, and the requests they came in.
    """
    one = db.execute
    if flt is not None and not flt.is_empty:
        query, params = flt.record_query(None)
        one("CREATE TEMP TABLE IF NOT EXISTS matched (id INTEGER PRIMARY KEY)")
        one("DELETE FROM temp.matched")
        one(f"INSERT INTO temp.matched {query}", params)
        records = "record_keys WHERE id IN temp.matched"
        requests = ("request WHERE id IN (SELECT DISTINCT request_id FROM record "
                    "WHERE id IN temp.matched)")
        families = dict(one(f"SELECT family, count(*) FROM {records} GROUP BY family"))
    else:
        records, requests = "record_keys WHERE 1", "request WHERE 1"
        families = {}
        for (counts,) in one("SELECT counts FROM request WHERE counts IS NOT NULL"):
            for fam, n in json.loads(counts).items():
                families[fam] = families.get(fam, 0) + n
    statuses = dict(one(f"SELECT status, count(*) FROM {requests} GROUP BY status "
                        f"ORDER BY status"))
    families = {f: families[f] for f in FAMILIES if f in families}
    event_types = [
        {"id": tid, "description": name, "count": n}
        for tid, name, n in one(
            f"SELECT type_id, type_name, count(*) AS n FROM {records} AND family = 'event' "
            "GROUP BY type_id ORDER BY n DESC, type_id"
        )
    ]
    first, last, n_requests = one(
        f"SELECT min(received_at), max(received_at), count(*) FROM {requests}"
    ).fetchone()
    rec_first, rec_last = one(f"SELECT min(ts), max(ts) FROM {records}").fetchone()
    iccids = one(f"SELECT count(DISTINCT iccid) FROM {records}").fetchone()[0]
    meta = dict(one("SELECT key, value FROM meta"))
    return {
        "filter": flt.text if flt is not None and not flt.is_empty else None,
        "requests": n_requests,
        "requests_by_status": statuses,
        "records": sum(families.values()),
        "records_by_family": families,
        "event_types": event_types,
        "received": {"first": first, "last": last},
        "record_time": {"first": rec_first, "last": rec_last},
        "distinct_iccids": iccids,
        "meta": meta,
    }
