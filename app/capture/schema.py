"""The capture file: one SQLite database (WAL) holding every request and every record.

It is the single source of truth. The receiver (``serve``) is its only writer; the window and the
command line read it, possibly while it grows. The format is documented in
``docs/capture-format.md``; ``PRAGMA user_version`` carries :data:`SCHEMA_VERSION`.

WAL with ``synchronous=NORMAL`` survives a killed process (the committed pages are in the WAL
file when COMMIT returns); ``synchronous=FULL`` also survives power loss. The writer
(:mod:`app.capture.writer`) commits a batch before it is acknowledged.

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
import time
from collections.abc import Iterator
from pathlib import Path

from app import APP_NAME, __version__
from app.capture.answers import Answer, derived_answer, is_status_page
from app.config import is_own, private_dir
from app.db import sqlite3, sqlite_problem
from app.records.fields import (
    INDEXED,
    SORT_KEYS,
    field_sql,
    index_column,
    regexp,
    time_key_sql,
)
from app.records.shape import family_sql

SCHEMA_VERSION = 8  # 2: record_index; 3: a body may be stored once, as its records;
# 4: record ids and type ids beyond 64 bits exact in record_keys and record_index;
# 5: the answer sent is stored with the request (response_headers, response_body);
# 6: the answer rule and the acknowledgement of each request, the redelivery ledger;
# 7: the request target as it arrived and the endpoint that received it (target, endpoint);
# 8: record_index keeps the sort keys of time, volume, severity and ICCID in order (indexes)
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
    rule             TEXT,
    acked            INTEGER NOT NULL DEFAULT 0,
    response_headers TEXT,
    response_body    BLOB,
    target           TEXT,
    endpoint         TEXT,
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

{{ledger_tables}}

{{rollup_tables}}

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
# The redelivery ledger (filled like record_index, after the acknowledgement; see
# app/capture/ledger.py): one row per (family, record id) in record_key, one per arrival of a
# record that has an id in record_seen; meta 'ledger_through' is the last record.id it covers.
_LEDGER_TABLES = """
CREATE TABLE record_key (
    first     INTEGER PRIMARY KEY,
    family    TEXT NOT NULL,
    key       NOT NULL,  -- no type: no affinity, so '5' stays text and 2**64 stays its digits
    seen      INTEGER NOT NULL,
    last      INTEGER NOT NULL,
    digest    INTEGER NOT NULL,
    conflicts INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX record_key_family_key ON record_key (family, key);
CREATE TABLE record_seen (
    id       INTEGER PRIMARY KEY,
    first    INTEGER NOT NULL,
    attempt  INTEGER NOT NULL,
    previous INTEGER,
    delay_ms REAL,
    conflict INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX record_seen_previous ON record_seen (previous) WHERE previous IS NOT NULL;
"""
LEDGER_THROUGH = "ledger_through"  # meta key: the last record.id the ledger covers
# Format 8: each table sorts by these with no sort step (app.capture.order): per family, the
# key (an instant, a rank, or the value) then the value; the row id ends every index entry.
_SORT_INDEXES = "".join(
    f'CREATE INDEX IF NOT EXISTS record_index_by_{name} ON record_index (family, '
    + (f'{key(chr(34) + index_column(name) + chr(34))}, ' if key else "")
    + f'"{index_column(name)}");'
    for name, key in SORT_KEYS.items())
_SCHEMA = (_SCHEMA.replace("{index_table}", _INDEX_TABLE.replace("{schema}", "") + _SORT_INDEXES)
           .replace("{keys_view}", _KEYS_VIEW).replace("{ledger_tables}", _LEDGER_TABLES))
# Format 5 to 6: which rule answered, whether the answer acknowledged the batch (until 5 only a
# 200 was ever answered to a batch: acked is status = 200), and the empty ledger (the receiver
# fills it while idle).
_MIGRATE_TO_6 = {"rule": "ALTER TABLE request ADD COLUMN rule TEXT;",
                 "acked": "ALTER TABLE request ADD COLUMN acked INTEGER NOT NULL DEFAULT 0;"
                          "UPDATE request SET acked = (status = 200);"}


def _migrate_to_6(db: sqlite3.Connection) -> None:
    """Add the rule and acked columns (unless a file marked older by hand has them) and the
    empty ledger, in one transaction."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(request)")}
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type='table'")}
    script = "".join(sql for name, sql in _MIGRATE_TO_6.items() if name not in columns)
    if "record_key" not in tables:
        script += _LEDGER_TABLES
    db.executescript(f"BEGIN;{script}PRAGMA user_version = 6; COMMIT;")


# Format 6 to 7: the request target as it arrived and the endpoint that received it. Requests
# stored before keep NULL in both: only their decoded path and query are known (a ``%2F`` in
# them cannot be told from ``/`` any more), and not the port or scheme they came in on.
_MIGRATE_TO_7 = {"target": "ALTER TABLE request ADD COLUMN target TEXT;",
                 "endpoint": "ALTER TABLE request ADD COLUMN endpoint TEXT;"}


def _migrate_to_7(db: sqlite3.Connection) -> None:
    """Add the target and endpoint columns (unless a file marked older by hand has them), in
    one transaction with whatever else format 7 corrects in the stored data."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(request)")}
    script = "".join(sql for name, sql in _MIGRATE_TO_7.items() if name not in columns)
    # A delivery report with only a final_date has it as its time (``ts``, the filters' time)
    # from format 7 on: the view reads it, and the index gets it for the reports indexed before.
    time = index_column("time")
    script += ("DROP VIEW IF EXISTS record_keys;" + _KEYS_VIEW
               + f'UPDATE record_index SET "{time}" = (SELECT {field_sql("time")} FROM record '
                 f'AS r WHERE r.id = record_index.id) WHERE "{time}" IS NULL '
                 f"AND family = 'sms_dr';")
    db.executescript(f"BEGIN;{script}PRAGMA user_version = 7; COMMIT;")


def _missing_index_columns(db: sqlite3.Connection, schema: str = "main") -> list[str]:
    """The fields of ``INDEXED`` that the capture's record_index lacks (format 8 added ``rat``
    and ``currency``; a capture of format 8 made before them lacks them too)."""
    have = {row[1] for row in db.execute(f"PRAGMA {schema}.table_info(record_index)")}
    if not have:  # no index (format 1, read-only): the temporary one has them all
        return []
    return [f.name for f in INDEXED if index_column(f.name) not in have]


def _index_columns_script(db: sqlite3.Connection) -> str:
    """SQL adding the index columns record_index lacks, filled from the records' JSON."""
    missing = _missing_index_columns(db)
    if not missing:
        return ""
    columns = [index_column(name) for name in missing]
    return ("".join(f'ALTER TABLE record_index ADD COLUMN "{c}";' for c in columns)
            + "UPDATE record_index SET " + ", ".join(f'"{c}" = x."{c}"' for c in columns)
            + " FROM (SELECT r.id, " + ", ".join(
                f'{field_sql(name)} AS "{c}"' for name, c in zip(missing, columns, strict=True))
            + " FROM record AS r) AS x WHERE x.id = record_index.id;")


def _migrate_to_8(db: sqlite3.Connection) -> None:
    """Add the sort indexes of record_index (a few seconds for 1,000,000 records), its columns
    of format 8 (``rat``, ``currency``) filled from the records, and the rollups summed over
    the records indexed so far (several seconds more), in one transaction."""
    db.executescript(f"BEGIN;{_index_columns_script(db)}{_SORT_INDEXES}")
    try:
        if not has_rollups(db):  # (executescript would commit: one statement at a time)
            for statement in _ROLLUP_TABLES.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '0')",
                       (ROLLUP_THROUGH,))
            roll_up(db)
        db.execute("PRAGMA user_version = 8")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


# ---------------------------------------------------------------------------------------------
# The rollups (format 8): records, data MB, SMS and cost pre-summed per group of the small-
# valued fields and hour of the record's time (record_rollup), and per SIM (sim_rollup), for
# the records in record_index up to meta 'rollup_through'. The receiver adds each range it
# indexes in the same transaction (roll_up); app.capture.stats reads them for the unfiltered
# figures, with the same measure expressions as its own (measures_sql), plus the records since.

ROLLUP_THROUGH = "rollup_through"  # meta key: the last record.id the rollups cover
ROLLUP_FIELDS = ("family", "type", "type_id", "alert", "severity", "operator", "country", "rat",
                 "currency")  # record_rollup's groups (and ``hour``)
SIM_ROLLUP_FIELDS = ("family", "iccid", "endpoint")  # sim_rollup's groups
ROLLUP_MEASURES = ("records", "data_mb", "sms", "cost", "cost_records", "unreadable")
HOUR_MS = 3_600_000
_ROLLUP_COLUMNS = ("records INTEGER NOT NULL, data_mb REAL NOT NULL, sms REAL NOT NULL, "
                   "cost REAL NOT NULL, cost_records INTEGER NOT NULL, "
                   "unreadable INTEGER NOT NULL")
# ``key``: the group's values as a JSON array (a NULL value is a group too, which a primary key
# of the columns themselves would not find again); the columns hold the values as indexed (no
# type: no affinity). ``hour``: the Unix milliseconds of the start of the hour, NULL when the
# record's time is not readable.
_ROLLUP_TABLES = (
    "CREATE TABLE IF NOT EXISTS record_rollup (key TEXT PRIMARY KEY, "
    + ", ".join(f'"{name}"' for name in ROLLUP_FIELDS)
    + f", hour INTEGER, {_ROLLUP_COLUMNS}) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS sim_rollup (key TEXT PRIMARY KEY, "
    + ", ".join(f'"{name}"' for name in SIM_ROLLUP_FIELDS)
    + f", {_ROLLUP_COLUMNS}) WITHOUT ROWID;")
_SCHEMA = _SCHEMA.replace("{rollup_tables}", _ROLLUP_TABLES)
DATA, SMS = 5, 6  # traffic type ids of usage records
_UNIX_EPOCH_JD = 2440587.5  # the Julian day of 1970-01-01T00:00:00Z
_MS_OFFSET = 10**15  # added before the integer division: every bucket start is then positive
_MAX_FLOAT = "1.7976931348623157e308"
# A string that counts as its number: JSON number syntax, white space around allowed.
NUMBER_TEXT = r"^[ \t\r\n]*-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?[ \t\r\n]*$"
_WHITE = "' ' || char(9, 10, 13)"


def millis_sql(time_value: str, key_sql=time_key_sql) -> str:
    """SQL giving the Unix milliseconds of a time value's instant, or NULL."""
    return f"CAST(round(({key_sql(time_value)} - {_UNIX_EPOCH_JD}) * 86400000.0) AS INTEGER)"


def bucket_of_millis_sql(millis: str, every: float | None) -> str:
    """SQL giving the start (Unix milliseconds) of the bucket of ``every`` seconds holding
    ``millis``; buckets start at whole multiples of their size since 1970. The bucket of an
    hour's start (a rollup's ``hour``) is that of every instant of the hour when the size is
    whole hours."""
    if every is None:
        return "NULL"
    size = max(1, round(every * 1000))
    offset = size * (_MS_OFFSET // size + 1)
    return f"((({millis}) + {offset}) / {size} * {size} - {offset})"


def number_sql(value: str, is_bool: str) -> str:
    """SQL giving ``value`` (as a field reads it) as a number, or NULL when it is not one: a
    numeric string counts as its number; ``is_bool`` is SQL true when the JSON value was a
    boolean (which reads as 1 or 0); text that is not JSON number syntax, and infinities, are
    not numbers."""
    text = f"trim({value}, {_WHITE})"
    return (f"(CASE typeof({value}) "
            f"WHEN 'integer' THEN CASE WHEN {value} IN (0, 1) AND {is_bool} THEN NULL "
            f"ELSE {value} END "
            f"WHEN 'real' THEN CASE WHEN {value} BETWEEN -{_MAX_FLOAT} AND {_MAX_FLOAT} "
            f"THEN {value} END "
            f"WHEN 'text' THEN CASE WHEN regexp('{NUMBER_TEXT}', {value}) AND CAST({text} AS "
            f"REAL) BETWEEN -{_MAX_FLOAT} AND {_MAX_FLOAT} THEN CAST({text} AS REAL) END END)")


def measures_sql(family: str, type_id: str, volume: str, cost: str, vol_bool: str,
                 cost_bool: str) -> str:
    """SQL of the six aggregates of a group (:data:`ROLLUP_MEASURES`): records, data MB, SMS,
    the sum of cost, how many records carry a cost, how many are unreadable."""
    vol = number_sql(volume, vol_bool)
    cst = number_sql(cost, cost_bool)
    usage = f"{family} = 'usage'"
    return (f"count(*), "
            f"total(CASE WHEN {usage} AND {type_id} = {DATA} THEN {vol} END), "
            f"total(CASE WHEN {usage} AND {type_id} = {SMS} THEN {vol} END), "
            f"total({cst}), count({cost}), "
            f"sum(CASE WHEN {usage} AND {vol} IS NULL THEN 1 "
            f"WHEN {cost} IS NOT NULL AND {cst} IS NULL THEN 1 ELSE 0 END)")


def index_measures_sql(alias: str = "k") -> str:
    """:func:`measures_sql` over record_index (``alias``): whether a volume or cost of 0 or 1
    was a JSON boolean is read from the record itself (only for those)."""
    one = f"(SELECT json_type(r1.json, '$.{{}}') FROM record AS r1 WHERE r1.id = {alias}.id)"
    vol_bool = (f"(coalesce(nullif({one.format('volume.total')}, 'null'), "
                f"nullif({one.format('detail.volume.total')}, 'null'), '') "
                f"IN ('true', 'false'))")
    cost_bool = f"(coalesce({one.format('cost')}, '') IN ('true', 'false'))"
    return measures_sql(f"{alias}.family", f'{alias}."type_id"', f'{alias}."volume"',
                        f'{alias}."cost"', vol_bool, cost_bool)


def _roll_up_sql(table: str, fields: tuple[str, ...], hour: bool) -> str:
    groups = [f'k."{index_column(name)}"' if name != "family" else "k.family"
              for name in fields]
    names = [*fields, *(("hour",) if hour else ())]
    if hour:
        groups.append(bucket_of_millis_sql(millis_sql(f'k."{index_column("time")}"'), 3600))
    quoted = ", ".join(f'"{name}"' for name in names)
    # the hour first: the groups of one indexing step (records arrive about in time order)
    # are then on a few pages of the table, not spread over all of it (each page a step
    # changes is written again)
    key = ", ".join(f'"{name}"' for name in (names[-1:] + names[:-1] if hour else names))
    update = ", ".join(f"{m} = {m} + excluded.{m}" for m in ROLLUP_MEASURES)
    return (f"INSERT INTO {table} (key, {quoted}, {', '.join(ROLLUP_MEASURES)}) "
            f"SELECT json_array({key}), * FROM (SELECT "
            + ", ".join(f'{sql} AS "{name}"' for sql, name in zip(groups, names, strict=True))
            + f", {index_measures_sql('k')} FROM record_index AS k WHERE k.id > ? AND k.id <= ? "
            f"GROUP BY {', '.join(str(n + 1) for n in range(len(names)))}) WHERE true "
            f"ON CONFLICT (key) DO UPDATE SET {update}")


_ROLL_UP = (_roll_up_sql("record_rollup", ROLLUP_FIELDS, True),
            _roll_up_sql("sim_rollup", SIM_ROLLUP_FIELDS, False))


def roll_up(db: sqlite3.Connection) -> int:
    """Add the records indexed since meta 'rollup_through' to the rollups (inside the
    writer's transaction; never beyond record_index); returns how many."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (ROLLUP_THROUGH,)).fetchone()
    if row is None:
        return 0
    through = int(row[0])
    last = db.execute("SELECT coalesce(max(id), 0) FROM record_index").fetchone()[0]
    if last <= through:
        return 0
    for sql in _ROLL_UP:
        db.execute(sql, (through, last))
    db.execute("UPDATE meta SET value = ? WHERE key = ?", (str(last), ROLLUP_THROUGH))
    return last - through


def has_rollups(db: sqlite3.Connection) -> bool:
    """Whether the capture keeps the rollups (format 8 since the Statistics view)."""
    return db.execute("SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                      "AND name IN ('record_rollup', 'sim_rollup')").fetchone()[0] == 2


def _index_view(db: sqlite3.Connection) -> str | None:
    """For a reader of a capture whose record_index lacks columns (one no writer upgraded
    yet): a temporary view of that name adding them, read from each record's JSON."""
    missing = _missing_index_columns(db)
    if not missing:
        return None
    extra = ", ".join(f'(SELECT {field_sql(name)} FROM record AS r WHERE r.id = k.id) AS '
                      f'"{index_column(name)}"' for name in missing)
    return f"CREATE TEMP VIEW record_index AS SELECT k.*, {extra} FROM main.record_index AS k"


def has_sort_indexes(db: sqlite3.Connection) -> bool:
    """Whether record_index keeps the sort keys in order (format 8 on)."""
    return db.execute("SELECT 1 FROM sqlite_schema WHERE type = 'index' "
                      "AND name = 'record_index_by_time'").fetchone() is not None


def has_targets(db: sqlite3.Connection) -> bool:
    """Whether the capture stores each request's target as it arrived and the endpoint that
    received it (format 7 on; NULL for the requests of an upgraded capture stored before)."""
    return any(row[1] == "endpoint" for row in db.execute("PRAGMA table_info(request)"))


def has_ledger(db: sqlite3.Connection) -> bool:
    """Whether the capture has the rule and acked columns and the ledger (format 6 on)."""
    return any(row[1] == "acked" for row in db.execute("PRAGMA table_info(request)"))
# Format 3 to 4: the exact view, and the index's integers beyond 64 bits read again exactly.
_MIGRATE_TO_4 = "DROP VIEW IF EXISTS record_keys;" + _KEYS_VIEW + "".join(
    f'UPDATE record_index SET "{index_column(name)}" = (SELECT {field_sql(name)} FROM record '
    f'AS r WHERE r.id = record_index.id) WHERE typeof("{index_column(name)}") = \'real\';'
    for name in ("id", "type_id")) + (
    # Requests from this one on carry notes on non-interoperable records (see INTEROP_FROM).
    "INSERT OR IGNORE INTO meta (key, value) "
    "SELECT 'interop_notes_from', coalesce(max(id), 0) + 1 FROM request;")
INTEROP_FROM = "interop_notes_from"  # meta key: the first request whose notes are complete
# Format 4 to 5: the answer of each request, as the exporters used to rebuild it (the columns are
# added after ``body``: SQLite appends them).
_MIGRATE_TO_5 = ("ALTER TABLE request ADD COLUMN response_headers TEXT;"
                 "ALTER TABLE request ADD COLUMN response_body BLOB;")
RESPONSE_COLUMNS = "id, method, path, status, reason, auth, record_count, counts, problems"


def has_responses(db: sqlite3.Connection) -> bool:
    """Whether the capture stores each request's answer (format 5 on)."""
    return any(row[1] == "response_body" for row in db.execute("PRAGMA table_info(request)"))


def derived_answer_of(db: sqlite3.Connection, row: tuple, records_before: int | None = None
                      ) -> Answer:
    """The answer of a request stored without it (``row``: :data:`RESPONSE_COLUMNS`), as this
    endpoint answers it (:func:`app.capture.answers.derived_answer`). ``records_before`` (the
    records stored before it, for the status page) is read when not given."""
    rid, method, path, status, reason, auth, record_count, counts, problems = row
    body = b""
    if status == 400 and not (reason or "").startswith("the body could not be read"):
        body = request_body(db, rid)  # judged again, for the error's position
    if records_before is None and is_status_page(method, path, status):
        records_before = db.execute(
            "SELECT coalesce(sum(record_count), 0) FROM request WHERE id < ?", (rid,)
        ).fetchone()[0]
    return derived_answer(
        request_id=rid, method=method, path=path, status=status, reason=reason,
        auth=auth or "off", record_count=record_count or 0,
        counts=json.loads(counts) if counts else {},
        problems=json.loads(problems) if problems else [], body=body,
        records_before=records_before or 0)


def _derived_answers(db: sqlite3.Connection) -> Iterator[tuple[str, bytes, int]]:
    records_before = 0
    for row in db.execute(f"SELECT {RESPONSE_COLUMNS}, response_headers IS NULL FROM request "
                          f"ORDER BY id").fetchall():
        if row[-1]:
            answer = derived_answer_of(db, row[:-1], records_before)
            yield answer.headers_json(), answer.body, row[0]
        records_before += row[6] or 0


def _migrate_to_5(db: sqlite3.Connection) -> None:
    """Add the answer columns and fill them with the answers rebuilt (one transaction)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if not has_responses(db):  # (a file marked older by hand may have them already)
            for statement in _MIGRATE_TO_5.split(";"):
                if statement.strip():
                    db.execute(statement)
        db.executemany("UPDATE request SET response_headers = ?, response_body = ? WHERE id = ?",
                       list(_derived_answers(db)))
        db.execute("PRAGMA user_version = 5")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise

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


def check_sqlite() -> None:
    """Refuse, in words, an SQLite too old for captures (see :func:`app.db.sqlite_problem`)."""
    problem = sqlite_problem()
    if problem:
        raise CaptureError(problem)


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
    check_sqlite()
    private_dir(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if not path.stat().st_size or is_own(path):
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.create_function("regexp", 2, regexp, deterministic=True)  # (the rollups' numbers)
    try:
        version = _check(db, path)
        if version == 0:
            db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise CaptureError(f"{path}: cannot switch the capture to WAL mode (got {mode})")
        db.execute(f"PRAGMA synchronous = {'FULL' if sync == 'full' else 'NORMAL'}")
        db.execute("PRAGMA wal_autocheckpoint = 0")  # the Checkpointer thread does it
        # 64 MiB of page cache (SQLite's default is 2 MiB): the sort indexes of format 8 take
        # index entries in many places at once, which a small cache reads and writes again
        # and again (idle indexing took twice as long; benchmarks/indexing.py).
        db.execute("PRAGMA cache_size = -65536")
        if 0 < version < 4:
            # 1: made before the filter index existed; 2: same tables, from 3 on a body may be
            # NULL (see request_body); 3: integers beyond 64 bits were REALs in the index.
            index = _INDEX_TABLE.replace("{schema}", "") if version == 1 else ""
            db.executescript("BEGIN;" + index + _MIGRATE_TO_4
                             + "PRAGMA user_version = 4; COMMIT;")
        if 0 < version < 5:  # 4: the answers were not stored
            _migrate_to_5(db)
        if 0 < version < 6:  # 5: no answer rules, no ledger
            _migrate_to_6(db)
        if 0 < version < 7:  # 6: no request target as it arrived, no endpoint
            _migrate_to_7(db)
        if 0 < version < 8 or (version == 8 and (_missing_index_columns(db)
                                                 or not has_rollups(db))):
            _migrate_to_8(db)  # 7: no sort indexes; 8 made before rat, currency, the rollups
        if version == 0:
            db.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("application", APP_NAME), ("created_by", __version__),
                 ("created_at", utc_now_iso()), (INTEROP_FROM, "1"), (ROLLUP_THROUGH, "0")],
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
    check_sqlite()
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
        if version < 7:  # the exact record_keys (4), a report's final_date as its time (7),
            # until a writer upgrades the file (its index still lacks those times)
            db.execute(_KEYS_VIEW.replace("CREATE VIEW", "CREATE TEMP VIEW"))
        view = _index_view(db)  # rat and currency, until a writer adds them (format 8)
        if view is not None:
            db.execute(view)
    except CaptureError:
        db.close()
        raise
    return db
