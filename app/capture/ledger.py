"""The redelivery ledger: every arrival of every record, keyed by (family, the record's own id).

The Data Streamer sends a batch again until it is acknowledged with a 200, so a record may arrive
several times. The receiver fills the ledger while idle, right after ``record_index`` and in the
same transaction (:func:`fill`, from :meth:`app.capture.writer.CaptureWriter.index_pending`),
never on the acknowledgement path and never beyond what ``record_index`` covers:

- ``record_key``: one row per (family, id): its first arrival (``first``), arrivals so far
  (``seen``), the latest one (``last``), a digest of the first arrival's text and how many
  arrivals were conflicts (``conflicts``);
- ``record_seen``: one row per arrival of a record that has an id: its attempt number, the
  previous arrival and the delay since it (from the requests' ``received_at``), and whether it
  is a **conflict** (same id, content that differs from both the first arrival's and the
  previous arrival's). An arrival with the content of the first or of the previous arrival is a
  redelivery: after a conflict (X, then Y), a resend of Y is a redelivery of Y, not another
  conflict.

Content is the same when the texts are token for token the same or, failing that, when the parsed
values are (so key order never makes a conflict). Whether an arrival was acknowledged is read
from its request (``request.acked``) when asked, never copied: a delayed 200 becomes
acknowledged after the fact. Records without an id (or with a null one) advance
``ledger_through`` but have no row. Totals that never change once counted (redeliveries,
conflicts, keys) are kept in meta ``ledger_counts`` with the ``ledger_through`` they are of, so
that :func:`ledger_summary` reads only the unacknowledged requests' arrivals. Readers use the
functions here, never their own SQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import statistics
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from app.capture.schema import LEDGER_THROUGH, has_ledger
from app.db import sqlite3
from app.records.shape import parse_record

# One step: the records after ``ledger_through`` that record_index holds, each with the state of
# its key before this step (a probe of the unique (family, key) index: no scan), the arrival
# time and the text of the key's latest arrival and the text of its first (row id lookups, no
# lookup per record in Python). The key is compared column to
# column (no affinity, so never converted) and never read into Python as text: an id with a
# lone surrogate is not UTF-8.
_STEP = """
SELECT k.id, k.family, typeof(k.own_id),
       CASE typeof(k.own_id) WHEN 'text' THEN CAST(k.own_id AS BLOB) ELSE k.own_id END,
       k.received, CAST(r.json AS BLOB),
       rk.first, rk.seen, rk.last, rk.digest, rk.conflicts, lk.received, CAST(fr.json AS BLOB),
       CAST(lr.json AS BLOB)
FROM record_index AS k
JOIN record AS r ON r.id = k.id
LEFT JOIN record_key AS rk ON rk.family = k.family AND rk.key = k.own_id
LEFT JOIN record_index AS lk ON lk.id = rk.last
LEFT JOIN record AS fr ON fr.id = rk.first
LEFT JOIN record AS lr ON lr.id = rk.last AND rk.last != rk.first
WHERE k.id > ? ORDER BY k.id LIMIT ?
"""
# A text key is bound as its bytes and cast (an id with a lone surrogate is not UTF-8); a number
# as the int or float SQLite gave (exact).
_NEW_KEY = ("INSERT INTO record_key (first, family, key, seen, last, digest, conflicts) "
            "VALUES (?, ?, {key}, ?, ?, ?, ?)")
_NEW_TEXT_KEY = _NEW_KEY.format(key="CAST(? AS TEXT)")
_NEW_NUMBER_KEY = _NEW_KEY.format(key="?")
_UPDATE_KEY = "UPDATE record_key SET seen = ?, last = ?, conflicts = ? WHERE first = ?"
_ARRIVAL = ("INSERT INTO record_seen (id, first, attempt, previous, delay_ms, conflict) "
            "VALUES (?, ?, ?, ?, ?, ?)")
_THROUGH = ("INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value")


@dataclass
class _Key:
    first: int
    seen: int
    last: int
    digest: int
    conflicts: int
    last_received: str
    first_text: bytes
    last_text: bytes | None  # None: the latest arrival is the first
    new: tuple | None = None  # a key first seen in this step: its (family, kind, value)
    conflicts_before: int = 0  # before this step


def digest(text: bytes) -> int:
    """The digest of a record's text kept in ``record_key.digest`` (CRC-32: cheap; content is
    always compared on the texts themselves)."""
    return zlib.crc32(text)


def _received(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _same_value(a: Any, b: Any) -> bool:
    """Whether two parsed JSON values are the same: ``true`` is not ``1``, key order and number
    spelling (``1.50``, ``1.5``) do not matter."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    return False


def same_content(a: bytes, b: bytes) -> bool:
    """Whether two stored record texts hold the same record: the same text, or the same value
    once parsed (:func:`app.records.parse_record`: integers exact, a key given twice by its
    first value)."""
    if a == b:
        return True
    try:
        return _same_value(parse_record(a), parse_record(b))
    except (ValueError, RecursionError):
        return False


def ledger_through(db: sqlite3.Connection) -> int:
    """The last ``record.id`` the ledger covers (records after it are not in it yet); 0 for a
    capture without a ledger."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (LEDGER_THROUGH,)).fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0]) if row else 0


def fill(db: sqlite3.Connection, limit: int) -> int:
    """Add the next ``limit`` records that ``record_index`` holds to the ledger; returns how
    many it covered (records without an id count, they only get no row).

    Runs inside the writer's transaction (:meth:`CaptureWriter.index_pending`). Each record costs
    one probe of the unique (family, key) index and a few row writes: a step takes the same time
    on a capture of a million records as on an empty one.
    """
    through = ledger_through(db)
    rows = db.execute(_STEP, (through, limit)).fetchall()
    if not rows:
        return 0
    counts = _counts(db, through)  # before this step's rows are written
    keys: dict[tuple, _Key] = {}  # the keys this step touched, by (family, kind, value)
    arrivals = []
    times: dict[str, dt.datetime] = {}

    def moment(text: str) -> dt.datetime:
        value = times.get(text)
        if value is None:
            value = times[text] = _received(text)
        return value

    for (rid, family, kind, value, received, text, first, seen, last, dig, conflicts,
         last_received, first_text, last_text) in rows:
        if kind == "null":
            continue
        ident = (family, "number" if kind in ("integer", "real") else kind, value)
        key = keys.get(ident)
        if key is None and first is not None:
            key = keys[ident] = _Key(first, seen, last, dig, conflicts, last_received,
                                     first_text, last_text, conflicts_before=conflicts)
        if key is None:
            keys[ident] = _Key(rid, 1, rid, digest(text), 0, received, text, None, new=ident)
            arrivals.append((rid, rid, 1, None, None, 0))
            continue
        # a redelivery repeats the first arrival or the previous one (a resend of a conflict)
        same = same_content(key.first_text, text) or (
            key.last_text is not None and same_content(key.last_text, text))
        conflict = 0 if same else 1
        delay = (moment(received) - moment(key.last_received)).total_seconds() * 1000.0
        key.seen += 1
        arrivals.append((rid, key.first, key.seen, key.last, delay, conflict))
        key.last, key.last_received, key.last_text = rid, received, text
        key.conflicts += conflict
    for text, statement in ((True, _NEW_TEXT_KEY), (False, _NEW_NUMBER_KEY)):
        db.executemany(statement, [(k.first, k.new[0], k.new[2], k.seen, k.last, k.digest,
                                    k.conflicts) for k in keys.values()
                                   if k.new is not None and (k.new[1] == "text") == text])
    db.executemany(_UPDATE_KEY, [(k.seen, k.last, k.conflicts, k.first)
                                 for k in keys.values() if k.new is None])
    db.executemany(_ARRIVAL, arrivals)
    counts.add(arrivals, keys.values())
    db.execute(_THROUGH, (LEDGER_THROUGH, str(rows[-1][0])))
    db.execute(_THROUGH, (LEDGER_COUNTS, counts.text(rows[-1][0])))
    return len(rows)


LEDGER_COUNTS = "ledger_counts"  # meta key: the totals of the ledger, as of its ledger_through


@dataclass
class _Counts:
    """Totals that never change once counted (the ledger only grows), kept in meta
    ``ledger_counts`` by every step, so that no reader scans the ledger for them: repeated
    arrivals that are redeliveries, conflicts, keys, keys with a conflict."""

    redeliveries: int = 0
    conflicts: int = 0
    keys: int = 0
    conflicting: int = 0

    def add(self, arrivals: list[tuple], keys: Iterable[_Key]) -> None:
        for _rid, _first, attempt, _previous, _delay, conflict in arrivals:
            self.redeliveries += attempt > 1 and not conflict
            self.conflicts += conflict
        for key in keys:
            self.keys += key.new is not None
            self.conflicting += key.conflicts > 0 and key.conflicts_before == 0

    def text(self, through: int) -> str:
        return json.dumps({"through": through, **asdict(self)})


def _counts(db: sqlite3.Connection, through: int) -> _Counts:
    """The totals as of ``through`` (the ledger's): from meta when they were written with it,
    else counted on the tables (a ledger filled before they were kept, or a reader's snapshot
    of an older file)."""
    if through == 0:
        return _Counts()
    row = db.execute("SELECT value FROM meta WHERE key = ?", (LEDGER_COUNTS,)).fetchone()
    if row:
        try:
            kept = json.loads(row[0])
            if kept.pop("through") == through:
                return _Counts(**kept)
        except (ValueError, KeyError, TypeError):
            pass
    again, conflicts = db.execute(
        "SELECT count(*) FILTER (WHERE attempt > 1 AND conflict = 0), "
        "count(*) FILTER (WHERE conflict) FROM record_seen").fetchone()
    keys, conflicting = db.execute(
        "SELECT count(*), count(*) FILTER (WHERE conflicts > 0) FROM record_key").fetchone()
    return _Counts(again, conflicts, keys, conflicting)


# ---------------------------------------------------------------------------------------------
# Readers


@dataclass(frozen=True)
class Seen:
    """A record's place in the ledger. ``seen`` (arrivals of its id so far), ``attempt`` (this
    arrival's number), ``first`` and ``previous`` (``record.id`` of the first and the previous
    arrival) and ``delay_ms`` (since the previous one) are None when the record is not in the
    ledger: it has no id, or the receiver has not covered it yet (see :func:`ledger_through`).
    ``conflict``: its content differs from the first arrival's and from the previous
    arrival's (a resend of a conflicting version is a redelivery). ``acked``: its own request was
    acknowledged (read now)."""

    seen: int | None
    attempt: int | None
    conflict: bool
    first: int | None
    previous: int | None
    delay_ms: float | None
    acked: bool

    @property
    def redelivered(self) -> bool:
        """A later arrival of an earlier record, with the same content."""
        return bool(self.attempt and self.attempt > 1 and not self.conflict)


def seen_of(db: sqlite3.Connection, record_ids: Iterable[int]) -> dict[int, Seen]:
    """The ledger's view of each of ``record_ids`` that exists (every one gets an entry; see
    :class:`Seen` for records the ledger does not hold)."""
    ids = sorted(set(record_ids))
    out: dict[int, Seen] = {}
    if has_ledger(db):
        sql = ("SELECT r.id, k.seen, s.attempt, s.conflict, s.first, s.previous, s.delay_ms, "
               "q.acked FROM record AS r JOIN request AS q ON q.id = r.request_id "
               "LEFT JOIN record_seen AS s ON s.id = r.id "
               "LEFT JOIN record_key AS k ON k.first = s.first "
               "WHERE r.id IN (SELECT value FROM json_each(?))")
    else:  # an older capture: every batch with records was answered 200
        sql = ("SELECT r.id, NULL, NULL, 0, NULL, NULL, NULL, q.status = 200 FROM record AS r "
               "JOIN request AS q ON q.id = r.request_id "
               "WHERE r.id IN (SELECT value FROM json_each(?))")
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        for rid, seen, attempt, conflict, first, previous, delay, acked in db.execute(
                sql, ("[" + ",".join(map(str, chunk)) + "]",)):
            out[rid] = Seen(seen, attempt, bool(conflict), first, previous, delay, bool(acked))
    return out


@dataclass
class Coverage:
    """How much of the capture the ledger covers: records ``1 .. through`` of ``records``
    (the highest ``record.id``). ``available`` is False for a capture older than format 6."""

    through: int
    records: int
    available: bool = True

    @property
    def complete(self) -> bool:
        return self.available and self.through >= self.records

    def as_json(self) -> dict:
        return {"through": self.through, "records": self.records,
                "available": self.available, "complete": self.complete}

    def sentence(self) -> str | None:
        """What a reader must say about figures from the ledger, or None when it is complete."""
        if not self.available:
            return ("this capture has no redelivery ledger (made before format 6; the "
                    "receiver adds it when it opens the capture)")
        if self.complete:
            return None
        return (f"the redelivery ledger covers records 1 to {self.through:,} of "
                f"{self.records:,} (the receiver fills it while idle): the redelivery figures "
                f"count only those")


def coverage(db: sqlite3.Connection) -> Coverage:
    """The ledger's :class:`Coverage` of the capture as it is now."""
    records = db.execute("SELECT coalesce(max(id), 0) FROM record").fetchone()[0]
    if not has_ledger(db):
        return Coverage(0, records, available=False)
    return Coverage(min(ledger_through(db), records), records)


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000.0, 3)


@dataclass
class RequestRedelivery:
    """One unacknowledged request with records, and what became of them: how many came again
    (the next arrival of the same id with the same content), in which later requests, after
    what delay (seconds), and how many never came again yet."""

    request_id: int
    received_at: str
    status: int
    rule: str | None
    records: int  # in the request
    tracked: int  # of them in the ledger (they have an id, and it covers them)
    redelivered: int
    later_requests: list[int] = field(default_factory=list)
    first_delay_s: float | None = None
    median_delay_s: float | None = None
    max_delay_s: float | None = None

    @property
    def never_redelivered(self) -> int:
        return self.tracked - self.redelivered

    def as_json(self) -> dict:
        return {**asdict(self), "never_redelivered": self.never_redelivered}


# Every arrival in the records of the unacknowledged requests (few, as a rule: the walk is linear
# in their records, never in the capture): a range of record_seen's row ids per request.
_UNACKED_ARRIVALS = """
SELECT q.id, s.id, s.attempt, s.previous
FROM request AS q
CROSS JOIN record_seen AS s ON s.id BETWEEN q.first_record AND q.first_record + q.record_count - 1
WHERE NOT q.acked AND q.record_count > 0
ORDER BY q.id, s.id
"""
# The next arrival of each of those when it is a redelivery (not a conflict), and the request it
# came in: a range of the index on ``previous`` per request. CROSS JOIN and INDEXED BY keep
# this plan: the planner would otherwise build an automatic index on ``conflict`` over every
# arrival of the capture, on every call.
_UNACKED_NEXT = """
SELECT q.id, n.previous, n.delay_ms, nr.request_id
FROM request AS q
CROSS JOIN record_seen AS n INDEXED BY record_seen_previous
    ON n.previous BETWEEN q.first_record AND q.first_record + q.record_count - 1
    AND +n.conflict = 0
JOIN record AS nr ON nr.id = n.id
WHERE NOT q.acked AND q.record_count > 0
"""
# Unacknowledged requests with records that have no arrival in the ledger (no id, or not
# covered yet): they are rows of :func:`redeliveries` too.
_UNACKED_REQUESTS = """
SELECT q.id, q.received_at, q.status, q.rule, q.record_count FROM request AS q
WHERE NOT q.acked AND q.record_count > 0 ORDER BY q.id
"""


@dataclass
class _Unacked:
    """What the readers take from one walk over the unacknowledged requests' arrivals."""

    rows: list[RequestRedelivery]
    delays: list[float]  # ms, of every redelivery of those records
    # redeliveries whose earlier arrivals were all unacknowledged (their previous arrival is in
    # an unacknowledged request, and so were all before it)
    never_acked_before: int


def _walk_unacked(db: sqlite3.Connection) -> _Unacked:
    """One walk over the unacknowledged requests' arrivals and their next ones (run it in one
    read transaction: a delayed 200 may acknowledge a request in between)."""
    rows: dict[int, RequestRedelivery] = {
        rid: RequestRedelivery(rid, received, status, rule, records, 0, 0)
        for rid, received, status, rule, records in db.execute(_UNACKED_REQUESTS)}
    unacked_chain: set[int] = set()  # arrivals never acknowledged, nor any before them
    for rid, sid, attempt, previous in db.execute(_UNACKED_ARRIVALS):
        if rid in rows:
            rows[rid].tracked += 1
        if attempt == 1 or previous in unacked_chain:  # ids ascending: previous came first
            unacked_chain.add(sid)
    delays: dict[int, list[float]] = {}
    later: dict[int, set[int]] = {}
    never_acked_before = 0
    for rid, previous, delay, next_request in db.execute(_UNACKED_NEXT):
        if rid not in rows:
            continue
        rows[rid].redelivered += 1
        delays.setdefault(rid, []).append(delay)
        later.setdefault(rid, set()).add(next_request)
        never_acked_before += previous in unacked_chain
    for rid, row in rows.items():
        values = sorted(delays.get(rid, ()))
        row.later_requests = sorted(later.get(rid, ()))
        if values:
            row.first_delay_s = _seconds(values[0])
            row.median_delay_s = _seconds(statistics.median(values))
            row.max_delay_s = _seconds(values[-1])
    return _Unacked([rows[rid] for rid in sorted(rows)],
                    [ms for values in delays.values() for ms in values], never_acked_before)


# What :func:`redeliveries` needs, grouped by request in SQL (the walk of ledger_summary needs
# each arrival; this one only counts): arrivals per unacknowledged request, and their next
# arrivals' delays and requests.
_UNACKED_TRACKED = """
SELECT q.id, count(*) FROM request AS q
CROSS JOIN record_seen AS s ON s.id BETWEEN q.first_record AND q.first_record + q.record_count - 1
WHERE NOT q.acked AND q.record_count > 0 GROUP BY q.id
"""
_UNACKED_NEXT_GROUPED = """
SELECT q.id, json_group_array(n.delay_ms), group_concat(DISTINCT nr.request_id)
FROM request AS q
CROSS JOIN record_seen AS n INDEXED BY record_seen_previous
    ON n.previous BETWEEN q.first_record AND q.first_record + q.record_count - 1
    AND +n.conflict = 0
JOIN record AS nr ON nr.id = n.id
WHERE NOT q.acked AND q.record_count > 0 GROUP BY q.id
"""


def _grouped_unacked(db: sqlite3.Connection) -> list[RequestRedelivery]:
    rows: dict[int, RequestRedelivery] = {
        rid: RequestRedelivery(rid, received, status, rule, records, 0, 0)
        for rid, received, status, rule, records in db.execute(_UNACKED_REQUESTS)}
    for rid, tracked in db.execute(_UNACKED_TRACKED):
        if rid in rows:
            rows[rid].tracked = tracked
    for rid, delays, later in db.execute(_UNACKED_NEXT_GROUPED):
        row = rows.get(rid)
        if row is None:
            continue
        values = sorted(json.loads(delays))
        row.redelivered = len(values)
        row.later_requests = sorted(int(x) for x in later.split(","))
        row.first_delay_s = _seconds(values[0])
        row.median_delay_s = _seconds(statistics.median(values))
        row.max_delay_s = _seconds(values[-1])
    return [rows[rid] for rid in sorted(rows)]


def redeliveries(db: sqlite3.Connection) -> list[RequestRedelivery]:
    """Per unacknowledged request with records, when and where its records came back (the next
    arrival of each record when it is a redelivery). Reads only the unacknowledged requests'
    arrivals and their next ones: linear in those, whatever the size of the capture."""
    if not has_ledger(db):
        return []
    with _read_transaction(db):
        return _grouped_unacked(db)


@contextlib.contextmanager
def _read_transaction(db: sqlite3.Connection):
    """One snapshot for several queries (unless the caller holds a transaction already)."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("COMMIT")


@dataclass
class LedgerSummary:
    """The ledger's figures for a whole capture (``summary``, the Redeliveries view).

    ``records_redelivered``, ``never_redelivered`` and the delays (seconds) are about the
    records of unacknowledged requests, as :func:`redeliveries` has them; ``redeliveries`` counts
    every arrival that repeats an earlier one with the same content, ``duplicates_after_ack``
    those that came after an acknowledged arrival of the same record (a sender that resends
    what was acknowledged), ``conflicts`` the arrivals whose content differs from both the first
    and the previous arrival of their id (``conflicting_records``: ids with at least one)."""

    unacknowledged_requests: int
    unacknowledged_records: int
    records_redelivered: int
    never_redelivered: int
    median_delay_s: float | None
    max_delay_s: float | None
    redeliveries: int
    duplicates_after_ack: int
    conflicts: int
    conflicting_records: int
    records_with_id: int
    coverage: Coverage

    def as_json(self) -> dict:
        out = asdict(self)
        out["coverage"] = self.coverage.as_json()
        return out


def ledger_summary(db: sqlite3.Connection) -> LedgerSummary:
    """The figures of :class:`LedgerSummary`, read now (in one read transaction). The
    unacknowledged requests' figures come from one walk over their arrivals (linear in those);
    ``duplicates_after_ack`` is every redelivery but those whose earlier arrivals were all
    unacknowledged (found on the same walk: acknowledgement is read, never copied); the other
    totals are kept in meta by the fill steps."""
    return ledger_report(db)[0]


def ledger_report(db: sqlite3.Connection) -> tuple[LedgerSummary, list[RequestRedelivery]]:
    """:func:`ledger_summary` and :func:`redeliveries` from one walk, in one read transaction
    (the Redeliveries view shows both: the same snapshot, half the reading)."""
    with _read_transaction(db):
        cover = coverage(db)
        if not cover.available:
            return LedgerSummary(0, 0, 0, 0, None, None, 0, 0, 0, 0, 0, cover), []
        walk = _walk_unacked(db)
        counts = _counts(db, ledger_through(db))
    delays = sorted(walk.delays)
    return LedgerSummary(
        unacknowledged_requests=len(walk.rows),
        unacknowledged_records=sum(r.records for r in walk.rows),
        records_redelivered=sum(r.redelivered for r in walk.rows),
        never_redelivered=sum(r.never_redelivered for r in walk.rows),
        median_delay_s=_seconds(statistics.median(delays)) if delays else None,
        max_delay_s=_seconds(delays[-1]) if delays else None,
        redeliveries=counts.redeliveries,
        duplicates_after_ack=counts.redeliveries - walk.never_acked_before,
        conflicts=counts.conflicts, conflicting_records=counts.conflicting,
        records_with_id=counts.keys, coverage=cover), walk.rows
