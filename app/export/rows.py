"""Reading a capture into export rows, in chunks and in id order (``app.capture.open_reader``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from app.capture.answers import Answer
from app.capture.schema import (
    INTEROP_FROM,
    derived_answer_of,
    has_ledger,
    has_responses,
    has_targets,
    request_body,
)
from app.export.common import KnownInterop, RecordRow, RequestRow
from app.filters.parser import parse
from app.records.shape import INTEROP_MARK, family_sql

RECORD_CHUNK = 2000  # records read per query
REQUEST_CHUNK = 200  # request rows (without their bodies) read per query


def known_interop(db) -> KnownInterop:
    """What the capture ``db`` knows about non-interoperable records (see :class:`KnownInterop`).
    Duplicate keys nested inside a record of a body simdjson accepted are not noted."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (INTEROP_FROM,)).fetchone()
    notes_from = int(row[0]) if row else 2**62
    flagged = frozenset(r for (r,) in db.execute(
        "SELECT id FROM request WHERE id >= ? AND problems LIKE ?",
        (notes_from, f"%{INTEROP_MARK}%")))
    return KnownInterop(notes_from, flagged)



def _record_select(where: str) -> str:
    return (f"SELECT r.id, r.request_id, {family_sql('q.families', 'r.idx')}, r.json "
            f"FROM record AS r JOIN request AS q ON q.id = r.request_id WHERE {where} "
            f"ORDER BY r.id")


def _chunks(ids: Iterable[int], size: int) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


def record_rows(db, ids: Iterable[int] | None = None, filter_text: str = "",
                families: tuple[str, ...] | None = None) -> Iterator[RecordRow]:
    """The records of a capture in id order, read :data:`RECORD_CHUNK` at a time.

    ``ids`` restricts to those record numbers; ``filter_text`` (the filter language,
    ``app.filters``; raises ``FilterError``) and ``families`` narrow further. No query stays open
    while rows are handed out, so a reader never holds the WAL back for long.
    """
    flt = parse(filter_text)
    narrowed = not flt.is_empty or bool(families)
    ledger = narrowed and has_ledger(db)
    if ids is not None:
        for chunk in _chunks(ids, 500):
            if narrowed:
                sql, params = flt.record_query(families, after=chunk[0] - 1, upto=chunk[-1],
                                                  ledger=ledger)
                passed = {row[0] for row in db.execute(sql, params)}
                chunk = [i for i in chunk if i in passed]
                if not chunk:
                    continue
            marks = ", ".join("?" * len(chunk))
            for row in db.execute(_record_select(f"r.id IN ({marks})"), chunk).fetchall():
                yield RecordRow(*row)
        return
    after = 0
    while True:
        if narrowed:
            sql, params = flt.record_query(families, after=after, ledger=ledger)
            chunk = [row[0] for row in db.execute(f"{sql} LIMIT ?", [*params, RECORD_CHUNK])]
            if not chunk:
                return
            marks = ", ".join("?" * len(chunk))
            rows = db.execute(_record_select(f"r.id IN ({marks})"), chunk).fetchall()
            after = chunk[-1]
        else:
            rows = db.execute(_record_select("r.id > ?") + " LIMIT ?",
                              (after, RECORD_CHUNK)).fetchall()
            if not rows:
                return
            after = rows[-1][0]
        for row in rows:
            yield RecordRow(*row)


_REQUEST_COLUMNS = (
    "id, received_at, peer, method, path, query, http_version, headers, status, reason, "
    "problems, record_count, counts, duration_ms, source, auth, auth_user, content_type, "
    "content_encoding, body_size"
)


def _request_row(db, row: tuple) -> RequestRow:
    (rid, received_at, peer, method, path, query, http_version, headers, status, reason,
     problems, record_count, counts, duration_ms, source, auth, auth_user, content_type,
     content_encoding, body_size, rule, acked, target, endpoint, response_headers,
     response_body) = row
    body = request_body(db, rid)
    if response_headers is None:  # a capture of format 4, read as it is: rebuilt
        answer = derived_answer_of(db, (rid, method, path, status, reason, auth, record_count,
                                        counts, problems))
    else:
        answer = Answer.from_columns(response_headers, response_body)
    return RequestRow(
        id=rid, received_at=received_at, peer=peer, method=method, path=path, query=query or "",
        http_version=http_version,
        headers=[(str(k), str(v)) for k, v in json.loads(headers or "[]")],
        status=status, reason=reason, problems=json.loads(problems) if problems else [],
        body=bytes(body or b""), record_count=record_count or 0,
        counts=json.loads(counts) if counts else {}, duration_ms=duration_ms,
        source=source or "received", auth=auth or "off", auth_user=auth_user,
        content_type=content_type, content_encoding=content_encoding, body_size=body_size,
        answer=answer, rule=rule, acked=bool(acked), target=target, endpoint=endpoint,
    )


def request_rows(db, ids: Iterable[int] | None = None) -> Iterator[RequestRow]:
    """The requests of a capture in id order (all, or those in ``ids``), bodies included.

    Rows are read :data:`REQUEST_CHUNK` at a time and each body on its own, so only one body
    is in memory at a time.
    """
    answer = ("response_headers, response_body" if has_responses(db)
              else "NULL, NULL")  # format 4: rebuilt (see _request_row)
    # before format 6 (an older capture read as it is): no rules, and a 200 acknowledged
    ledger = "rule, acked" if has_ledger(db) else "NULL, status = 200"
    # before format 7: the target as it arrived and the endpoint are not known (None)
    targets = "target, endpoint" if has_targets(db) else "NULL, NULL"
    select = f"SELECT {_REQUEST_COLUMNS}, {ledger}, {targets}, {answer} FROM request"
    if ids is not None:
        for chunk in _chunks(ids, 500):
            marks = ", ".join("?" * len(chunk))
            for row in db.execute(f"{select} WHERE id IN ({marks}) ORDER BY id",
                                  chunk).fetchall():
                yield _request_row(db, row)
        return
    after = 0
    while True:
        rows = db.execute(f"{select} WHERE id > ? ORDER BY id LIMIT ?",
                          (after, REQUEST_CHUNK)).fetchall()
        if not rows:
            return
        for row in rows:
            yield _request_row(db, row)
        after = rows[-1][0]

