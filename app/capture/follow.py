"""Reading a capture that may still be growing: what is new since the last look, rows by id.

Qt-free; the window runs a :class:`Follower` on its reader thread, as Wireshark's GUI follows
the file dumpcap writes. Row ids are kept in compact ``array('q')`` lists, never as one Python
object per record.
"""

from __future__ import annotations

import heapq
import json
from array import array
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from app.capture.ledger import ledger_through, seen_of
from app.capture.order import SortKey, sorted_ids
from app.capture.schema import has_ledger, has_targets, open_reader, request_body
from app.db import sqlite3
from app.filters.known import Sample, sample_names
from app.filters.planner import Filter
from app.records.columns import RECORD_TABS
from app.records.shape import CODE_FAMILIES, FAMILIES

TAB_FAMILIES = {tab.key: tab.families for tab in RECORD_TABS}
SPLIT_FROM = 100_000  # records: filter a longer range that reads JSON in two halves
TABLES = ("requests", *TAB_FAMILIES)

REQUEST_COLUMNS = ("id", "received_at", "peer", "method", "path", "query", "status", "reason",
                   "problems", "record_count", "body_size", "duration_ms", "auth", "auth_user",
                   "counts", "content_type", "first_record", "source", "headers")
LEDGER_REQUEST_COLUMNS = ("rule", "acked")  # format 6 on
TARGET_REQUEST_COLUMNS = ("target",)  # format 7 on: the request target as it arrived


@dataclass
class Growth:
    """What a poll found: new request ids, new record ids per family, and the new totals."""

    request_ids: array = field(default_factory=lambda: array("q"))
    family_ids: dict[str, array] = field(default_factory=dict)
    requests: int = 0
    records: int = 0
    first_request: int = 0  # the new ids are in (first_request, last_request]
    last_request: int = 0

    @property
    def new_records(self) -> int:
        return sum(len(ids) for ids in self.family_ids.values())

    def table_ids(self, table: str) -> array:
        """The new ids of one window table (requests, or a tab of record families)."""
        if table == "requests":
            return self.request_ids
        parts = [self.family_ids[f] for f in TAB_FAMILIES[table] if f in self.family_ids]
        if not parts:
            return array("q")
        return parts[0] if len(parts) == 1 else array("q", heapq.merge(*parts))


def filter_query(flt: Filter, table: str, after: int, upto: int,
                 ledger: bool = True, targets: bool = True) -> tuple[str, list]:
    """SQL selecting the ids of ``table`` in (after, upto] that pass ``flt``, in order;
    ``ledger``: the capture has format 6's acknowledgements and ledger (``has_ledger``),
    ``targets``: format 7's request targets (``has_targets``)."""
    if table == "requests":
        where, params = flt.where(ledger=ledger, targets=targets)
        return (f"SELECT q.id FROM request AS q WHERE q.id > ? AND q.id <= ? AND {where} "
                f"ORDER BY q.id", [after, upto, *params])
    return flt.record_query(TAB_FAMILIES[table], after, upto, ledger=ledger)


class Follower:
    """Looks at a capture file again and again, reporting only what was added."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._db = open_reader(self.path)
        self._helper = None  # a second connection, for filtering in halves
        self._pool: ThreadPoolExecutor | None = None
        self._last_request = 0
        self.requests = 0
        self.records = 0
        self.has_ledger = has_ledger(self._db)  # format 6 on: rules, acks, the ledger
        self.has_targets = has_targets(self._db)  # format 7 on: the target as it arrived

    # -- the redelivery ledger (app.capture.ledger) ----------------------------------------

    def ledger_appeared(self) -> bool:
        """Whether the capture got its ledger since the last look (a receiver migrated an
        older capture while it was shown): from now on it is read."""
        if self.has_ledger or not has_ledger(self._db):
            return False
        self.has_ledger = True
        return True

    def ledger_through(self) -> int:
        """The last record id the ledger covers (0: none, or a capture without a ledger)."""
        if not self.has_ledger:
            return 0
        return ledger_through(self._db)

    def seen(self, record_ids) -> dict:
        """The ledger's facts (``app.capture.ledger.Seen``) of these records, by record id."""
        if not self.has_ledger or not record_ids:
            return {}
        return seen_of(self._db, list(record_ids))

    def arrivals(self, record_ids) -> dict[int, tuple[int, int, str | None, bool]]:
        """(request id, its status, its answer rule, whether it acknowledged the batch) of
        these records, by record id (a capture older than format 6: acknowledged = 200)."""
        out: dict[int, tuple[int, int, str | None, bool]] = {}
        columns = "q.rule, q.acked" if self.has_ledger else "NULL, q.status = 200"
        for chunk in _chunks(list(record_ids)):
            marks = ",".join("?" * len(chunk))
            for rid, request_id, status, rule, acked in self._db.execute(
                    f"SELECT r.id, q.id, q.status, {columns} FROM record AS r "
                    f"JOIN request AS q ON q.id = r.request_id WHERE r.id IN ({marks})", chunk):
                out[rid] = (request_id, status, rule, bool(acked))
        return out

    def ledger_changes(self, after: int, upto: int, limit: int = 20_000) -> array | None:
        """Record ids up to ``after`` whose ledger facts changed because the ledger now covers
        (after, upto]: the earlier arrivals of every record that arrived again there, sorted.
        None when that range is too long to look at (then treat everything as changed)."""
        if upto <= after:
            return array("q")
        if upto - after > limit:
            return None
        seen = self.seen(range(after + 1, upto + 1))
        wanted = {s.previous for s in seen.values() if s.previous is not None}
        changed: set[int] = set()
        while wanted:  # back along the chain of arrivals to the first one
            changed |= wanted
            earlier = {i for i in wanted if i <= after}
            found = self.seen(sorted(earlier))
            wanted = {s.previous for s in found.values()
                      if s.previous is not None and s.previous not in changed}
        return array("q", sorted(i for i in changed if i <= after))

    def unsettled(self, after: int, upto: int) -> list[tuple[int, int, int]]:
        """(request id, first record, records) of the requests in (after, upto] answered 200
        but not acknowledged yet (a delay rule's answer still on its way)."""
        if not self.has_ledger:
            return []
        return self._db.execute(
            "SELECT id, first_record, record_count FROM request WHERE id > ? AND id <= ? "
            "AND status = 200 AND NOT acked AND record_count > 0", (after, upto)).fetchall()

    def acknowledged(self, request_ids) -> dict[int, bool]:
        """Whether each of these requests acknowledged its batch now (a delay rule's 200 is
        marked acknowledged once it reached the client)."""
        if not self.has_ledger:
            return {}
        out: dict[int, bool] = {}
        for chunk in _chunks(list(request_ids)):
            marks = ",".join("?" * len(chunk))
            for request_id, acked in self._db.execute(
                    f"SELECT id, acked FROM request WHERE id IN ({marks})", chunk):
                out[request_id] = bool(acked)
        return out

    def close(self) -> None:
        if self._helper is not None:
            self._pool.shutdown(wait=True)
            self._helper.close()
        self._db.close()

    def poll(self) -> Growth | None:
        """New requests and records since the previous poll, or None when nothing changed."""
        db = self._db
        newest = db.execute("SELECT max(id) FROM request").fetchone()[0] or 0
        if newest <= self._last_request:
            return None
        growth = Growth()
        ids = growth.request_ids
        by_family = {fam: array("q") for fam in FAMILIES}
        rows = db.execute(
            "SELECT id, first_record, record_count, families, counts FROM request "
            "WHERE id > ? AND id <= ? ORDER BY id", (self._last_request, newest))
        for request_id, first, count, codes, counts in rows:
            ids.append(request_id)
            if not count:
                continue
            families = json.loads(counts) if counts else {}
            if len(families) == 1:  # the streamer's usual batch: one family, one range
                (fam,) = families
                by_family[fam].extend(range(first, first + count))
            else:
                for offset, code in enumerate(codes):
                    by_family[CODE_FAMILIES.get(code, "unknown")].append(first + offset)
        growth.first_request, growth.last_request = self._last_request, newest
        self._last_request = newest
        growth.family_ids = {fam: a for fam, a in by_family.items() if a}
        self.requests += len(ids)
        self.records += growth.new_records
        growth.requests, growth.records = self.requests, self.records
        return growth

    def matching(self, flt: Filter, table: str, after: int, upto: int) -> array:
        """Ids of ``table`` in (after, upto] that pass ``flt`` (record or request ids).

        A long range of records whose JSON must be read is filtered in halves on two
        connections at once: SQLite releases the GIL, and the machine has two cores.
        """
        if table != "requests" and upto - after >= SPLIT_FROM and self._reads_json(flt, after):
            middle = after + (upto - after) // 2
            if self._helper is None:
                self._helper = open_reader(self.path)
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="filter")
            second = self._pool.submit(self._run, self._helper, flt, table, middle, upto)
            ids = self._run(self._db, flt, table, after, middle)
            ids.extend(second.result())
            return ids
        return self._run(self._db, flt, table, after, upto)

    def sorted_ids(self, key: SortKey, ids: array) -> array:
        """``ids`` (rows of ``key.table``, ascending) in the order of ``key``'s column
        (:mod:`app.capture.order`: one SQL ``ORDER BY``)."""
        return sorted_ids(self._db, key, ids)

    def _run(self, db, flt: Filter, table: str, after: int, upto: int) -> array:
        if table == "requests" and not self.has_targets:  # (a receiver may migrate it)
            self.has_targets = has_targets(db)
        sql, params = filter_query(flt, table, after, upto, self.has_ledger, self.has_targets)
        return array("q", (row[0] for row in db.execute(sql, params)))

    def _reads_json(self, flt: Filter, after: int) -> bool:
        if flt.reads_json:
            return True
        indexed = self._db.execute("SELECT coalesce(max(id), 0) FROM record_index").fetchone()[0]
        return indexed < after + SPLIT_FROM  # much of the range is not indexed yet

    def identity(self) -> str:
        """What tells this capture apart (its creation time), e.g. to key its masking."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'created_at'").fetchone()
        return row[0] if row else str(self.path)

    def known_names(self) -> Sample | None:
        """The top-level keys and JSON paths of a bounded sample of the records, which the
        filter bars check names against (:func:`app.filters.known.sample_names`)."""
        return sample_names(self._db)
    def distinct_index_values(self, column: str, limit: int = 300) -> list[str]:
        """Values of one ``record_index`` column, most frequent first."""
        rows = self._db.execute(
            f'SELECT "{column}", count(*) AS n FROM record_index WHERE "{column}" IS NOT NULL '
            f'GROUP BY 1 ORDER BY n DESC LIMIT ?', (limit,))
        return [str(value) for value, _ in rows]

    def distinct_request_values(self, column: str, limit: int = 100) -> list:
        rows = self._db.execute(
            f"SELECT {column}, count(*) AS n FROM request WHERE {column} IS NOT NULL "
            f"GROUP BY 1 ORDER BY n DESC LIMIT ?", (limit,))
        return [value for value, _ in rows]

    def request_rows(self, ids: list[int]) -> dict[int, dict]:
        """The small columns of these requests (not the body), by id; from format 6 on also
        the answer ``rule`` and ``acked``, from format 7 on the ``target`` (the receiver may
        migrate the file while it is followed, so that is looked at until it is so)."""
        if not self.has_ledger:
            self.has_ledger = has_ledger(self._db)
        if not self.has_targets:
            self.has_targets = has_targets(self._db)
        columns = (REQUEST_COLUMNS + (LEDGER_REQUEST_COLUMNS if self.has_ledger else ())
                   + (TARGET_REQUEST_COLUMNS if self.has_targets else ()))
        out: dict[int, dict] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            cur = self._db.execute(
                f"SELECT {', '.join(columns)} FROM request WHERE id IN ({marks})", chunk)
            for row in cur:
                out[row[0]] = dict(zip(columns, row, strict=True))
        return out

    def record_texts(self, ids: list[int]) -> dict[int, tuple[int, str]]:
        """(request id, JSON text) of these records, by record id."""
        out: dict[int, tuple[int, str]] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for rid, request_id, text in self._db.execute(
                f"SELECT id, request_id, json FROM record WHERE id IN ({marks})", chunk):
                out[rid] = (request_id, text)
        return out

    def record(self, record_id: int) -> tuple[int, int, str, str] | None:
        """(request id, index in batch, family, JSON text) of one record."""
        return self._db.execute(
            "SELECT request_id, idx, family, json FROM record_keys WHERE id = ?",
            (record_id,)).fetchone()

    def backup(self, target: Path) -> None:
        """Copy a consistent snapshot of the capture (even while it grows) to ``target``."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        tmp.unlink(missing_ok=True)
        dest = sqlite3.connect(tmp)
        try:
            self._db.backup(dest)
            dest.execute("PRAGMA journal_mode = DELETE")
        finally:
            dest.close()
        tmp.replace(target)

    def request(self, request_id: int) -> dict | None:
        """Every column of one request, body included."""
        cur = self._db.execute("SELECT * FROM request WHERE id = ?", (request_id,))
        row = cur.fetchone()
        if row is None:
            return None
        out = dict(zip((d[0] for d in cur.description), row, strict=True))
        out["body"] = request_body(self._db, request_id, out["body"], out["first_record"],
                                   out["record_count"])
        return out


def _chunks(ids: list[int], size: int = 900):
    for start in range(0, len(ids), size):
        yield list(ids[start:start + size])
