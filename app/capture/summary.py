"""What a capture holds, counted (``streamer-inspector summary``), optionally under a filter."""

from __future__ import annotations

import json

from app.capture.ledger import ledger_summary
from app.capture.schema import has_ledger
from app.db import sqlite3
from app.filters.planner import Filter
from app.records.fields import time_key_sql
from app.records.shape import FAMILIES

# A record time (``ts``) as a Julian day, for ordering: ISO 8601 text (any fraction, ``Z`` or
# ``±HH:MM``; a space for the ``T`` too) as SQLite reads it, a number as Unix time (milliseconds
# from 1e11 on, seconds below: 1e11 s is the year 5138); NULL for anything else.
TIME_KEY_SQL = time_key_sql("ts")  # the instant (as the tables sort times), or NULL


def summary(db: sqlite3.Connection, flt: Filter | None = None) -> dict:
    """What a capture holds: requests by status, records by family, event types, time, SIMs,
    and the redelivery ledger's figures (``ledger``, :class:`app.capture.ledger.LedgerSummary`;
    always of the whole capture, with its coverage).

    With a filter, only its matching records count, and the requests they came in.
    """
    one = db.execute
    if flt is not None and not flt.is_empty:
        query, params = flt.record_query(None, ledger=has_ledger(db))
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
    # Ordered by the time they name, not by SQLite's order of values (every number before
    # every text: an epoch-millisecond ts came first whatever its date); each end is the
    # record's own spelling (SQLite gives a bare column from the row min() or max() picked).
    rec_first, key = one(f"SELECT ts, min({TIME_KEY_SQL}) FROM {records}").fetchone()
    rec_last, _, unreadable = one(
        f"SELECT ts, max({TIME_KEY_SQL}), count(ts) - count({TIME_KEY_SQL}) FROM {records}"
    ).fetchone()
    if key is None:  # no record names a time this reads
        rec_first = rec_last = None
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
        "record_time": {"first": rec_first, "last": rec_last, "unreadable": unreadable},
        "distinct_iccids": iccids,
        "ledger": ledger_summary(db).as_json(),
        "meta": meta,
    }
