"""Statistics of a capture: records, data volume, SMS and cost, grouped by fields and by time
(``streamer-inspector stats`` and the window's Statistics view). Qt-free.

Everything is aggregated in SQL: over ``record_index`` for the records the receiver has indexed
(narrow rows), and over the JSON of the ones it has not indexed yet (the same expressions,
compiled twice, as :meth:`app.filters.planner.Filter.record_query` does), never in a Python loop
over rows. Each half gives its groups; :func:`merge` adds them.

What each measure counts (``docs/stats.md``):

- ``records``: records.
- ``data_mb``: the sum of ``volume.total`` of usage records whose traffic type is Data (id 5),
  in MB as the records carry them.
- ``sms``: the same for traffic type SMS (id 6): the message count (``1`` and ``1.0`` are one).
- ``cost``: the sum of ``cost`` where records carry it (None when no record of the group does).

A number given as a string (``"1.5"``, JSON number syntax) counts as that number; negative
values (quota corrections) are summed as they are. A usage record whose volume is missing, null,
a non-numeric string, a boolean, a list or an object, and any record whose ``cost`` is present
but not a number, is counted in ``unreadable`` and adds nothing.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from app.capture.schema import (
    HOUR_MS,
    ROLLUP_FIELDS,
    ROLLUP_THROUGH,
    SIM_ROLLUP_FIELDS,
    bucket_of_millis_sql,
    has_ledger,
    has_rollups,
    has_sort_indexes,
    index_measures_sql,
    measures_sql,
    millis_sql,
)
from app.db import sqlite3
from app.filters.nodes import FAMILY_JSON
from app.filters.planner import Filter
from app.records.fields import FIELDS, field_sql, index_column, regexp, time_key_sql
from app.records.shape import FAMILIES

MEASURES = ("records", "data_mb", "sms", "cost")  # every row has all four (cost may be None)

# What ``by`` can group by: name -> what it is. ``family`` is the record family; the others are
# fields of the filter language (``docs/filters.md``), ``event_type`` being its ``type``.
BY_FIELDS: dict[str, str] = {
    "family": "record family: event, usage, sms_dr, sms_mo, unknown",
    "event_type": "event type, traffic type (Data, SMS) or SMS status",
    "type_id": "event type id, traffic type id (5 Data, 6 SMS) or SMS status id",
    "severity": "event severity: INFO, WARN, ...",
    "alert": "1 for alerts, 0 for other events",
    "iccid": "the SIM's ICCID",
    "imsi": "the IMSI",
    "msisdn": "the SIM's MSISDN",
    "imei": "the device's IMEI",
    "endpoint": "the endpoint (device) name",
    "operator": "the visited operator",
    "country": "the visited country",
    "rat": "radio access type (6 LTE, 8 NB-IoT, 9 CAT-M, 2 2G, 1 3G)",
    "ratezone": "the tariff's rate zone",
    "currency": "the currency of cost",
    "session": "the data session (IP-CAN session id; read from each record's JSON: slower)",
}
_BY_FIELD = {"event_type": "type"}  # by name -> field name, where they differ

# 1NCE's RAT type values (docs/record-schema.md section 3.6).
RAT_NAMES = {1: "3G", 2: "2G", 5: "HSPA+", 6: "LTE", 8: "NB-IoT", 9: "CAT-M"}

_UNIX_EPOCH_JD = 2440587.5  # the Julian day of 1970-01-01T00:00:00Z
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_EVERY = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*", re.IGNORECASE)
_ROUND_SIZES = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400,
                365 * 86400)


@dataclass(frozen=True)
class StatsRow:
    """One group: the values of the ``by`` fields, the time bucket, and the four measures."""

    key: tuple  # the values of the ``by`` fields (None for missing), in ``by`` order
    bucket: str | None  # ISO 8601 UTC start of the time bucket when ``every`` is given
    records: int
    data_mb: float  # sum of usage volume.total where the traffic type is Data (id 5)
    sms: float  # sum of usage volume.total where the traffic type is SMS (id 6)
    cost: float | None  # sum of ``cost`` (None when no record of the group carries one)
    unreadable: int = 0  # of its records, those whose volume or cost is not a number

    def as_json(self, by: tuple[str, ...]) -> dict:
        """The row as a JSON object: the ``by`` fields by name, the bucket, the measures."""
        out: dict[str, Any] = dict(zip(by, self.key, strict=True))
        if self.bucket is not None:
            out["bucket"] = self.bucket
        out.update(records=self.records, data_mb=self.data_mb, sms=self.sms, cost=self.cost,
                   unreadable=self.unreadable)
        return out


@dataclass
class StatsTable:
    """The groups of :func:`record_stats`, ordered by bucket, then by records (most first)."""

    by: tuple[str, ...]
    every: float | None
    rows: list[StatsRow] = field(default_factory=list)
    unreadable: int = 0  # records whose volume/cost could not be read as a number
    through: int = 0  # the last record id counted (for incremental updates: ``after=through``)

    def totals(self) -> StatsRow:
        """All rows added up (key ``()``, no bucket)."""
        return _add_rows((), None, self.rows)

    def as_json(self) -> dict:
        """The table as JSON data (``stats --json``)."""
        return {"by": list(self.by), "every": self.every,
                "rows": [row.as_json(self.by) for row in self.rows],
                "totals": self.totals().as_json(()), "unreadable": self.unreadable,
                "through": self.through}


@dataclass(frozen=True)
class RequestBucket:
    """The requests received in one time bucket."""

    bucket: str  # ISO 8601 UTC start of the bucket
    requests: int
    records: int  # records they carried
    bytes: int  # sum of body sizes
    max_bytes: int
    duration_ms: float  # sum of the time from their headers' arrival until stored
    max_duration_ms: float | None
    refused: int  # answered with anything but 200
    timed: int = 0  # of them, those with a duration (imported ones have none)

    @property
    def mean_duration_ms(self) -> float | None:
        """The mean time until stored (None when no request of the bucket was timed)."""
        return self.duration_ms / self.timed if self.timed else None


# ---------------------------------------------------------------------------------------------
# Time buckets


def parse_every(text: str) -> float:
    """A bucket size in seconds: ``30s``, ``15m``, ``1h``, ``1d``, ``1w`` (also ``500ms``,
    ``1.5h``). ValueError, in words, for anything else."""
    match = _EVERY.fullmatch(text or "")
    if match is None:
        raise ValueError(f"{text!r} is not a time span: give a number and a unit, s, m, h, d "
                         f"or w (30s, 15m, 1h, 1d)")
    number, unit = float(match.group(1)), match.group(2).lower()
    seconds = number / 1000 if unit == "ms" else number * _UNITS[unit]
    if seconds < 0.001 or seconds > 3650 * 86400:
        raise ValueError(f"{text!r}: a bucket must be between 1 ms and 10 years")
    return seconds


def format_every(seconds: float) -> str:
    """A bucket size as :func:`parse_every` reads it (``3600`` -> ``1h``)."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms" if seconds < 1 else f"{seconds:g}s"


def _instant(value: str | float | dt.datetime | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, (int, float)):
        return float(value)
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip().replace(" ", "T"))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def auto_every(first_iso: str | float | None, last_iso: str | float | None,
               buckets: int = 60) -> float:
    """A round bucket size (1 s, 2 s, 5 s, ... 1 h, ... 1 d, 7 d, ...) giving at most
    ``buckets`` buckets between two instants (ISO 8601 text or Unix seconds); 1 h when
    either is unknown."""
    first, last = _instant(first_iso), _instant(last_iso)
    if first is None or last is None:
        return 3600.0
    span = abs(last - first)
    for size in _ROUND_SIZES:
        if span / size <= max(1, buckets):
            return float(size)
    return float(_ROUND_SIZES[-1] * math.ceil(span / _ROUND_SIZES[-1] / max(1, buckets)))


def bucket_iso(start_ms: int) -> str:
    """ISO 8601 UTC text of a bucket start given in Unix milliseconds."""
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=start_ms)
    spec = "milliseconds" if start_ms % 1000 else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def _bucket_sql(time_value: str, every: float | None, key_sql=time_key_sql) -> str:
    """SQL giving the Unix milliseconds of the bucket start of a time value, or NULL."""
    if every is None:
        return "NULL"
    return bucket_of_millis_sql(millis_sql(time_value, key_sql), every)


# ---------------------------------------------------------------------------------------------
# Aggregation


def _check_by(by: Iterable[str]) -> tuple[str, ...]:
    by = tuple(by)
    for name in by:
        if name not in BY_FIELDS:
            raise ValueError(f"cannot group by {name!r}: choose from {', '.join(BY_FIELDS)}")
    return by


def _register(db: sqlite3.Connection) -> None:
    db.create_function("regexp", 2, regexp, deterministic=True)


def record_stats(db: sqlite3.Connection, flt: Filter | None = None, by: Iterable[str] = (),
                 every: float | None = None, after: int = 0, upto: int | None = None,
                 families: Iterable[str] | None = None, rollups: bool = True,
                 since_ms: int | None = None, until_ms: int | None = None,
                 ids: str | None = None) -> StatsTable:
    """Records, data MB, SMS and cost of the records in (``after``, ``upto``] (of
    ``families``, passing ``flt``), grouped by the ``by`` fields (:data:`BY_FIELDS`) and by
    buckets of ``every`` seconds of the record's time. ``through`` of the answer is the last
    record id it covers: pass it as ``after`` next time and :func:`merge` the answers.

    ``since_ms``/``until_ms`` (Unix milliseconds; either may be None) keep only the records
    whose instant (to the millisecond) is in [``since_ms``, ``until_ms``): ``since_ms``
    included, ``until_ms`` not; a record with no readable time is then not counted. The
    indexed records are then found along the time index (``record_index_by_time``): a time
    window costs what it holds, not a pass over the capture.

    Without a time range, from the first record on, grouped by fields the capture's rollups
    keep (and by whole hours, if by time), with no filter or one naming only such fields, the
    records the rollups cover are read from them (``rollups=False``: never; the answer is the
    same).

    ``ids``: a temporary table of the ids of the records to count (:func:`select`), instead
    of ``flt``: a filter that reads the records' JSON is run once for several counts."""
    by = _check_by(by)
    if every is not None and every <= 0:
        raise ValueError("a bucket must be longer than 0 s")
    _register(db)
    families = tuple(families) if families is not None else None
    flt = None if flt is None or flt.is_empty else flt
    window = None if since_ms is None and until_ms is None else (since_ms, until_ms)
    if ids is not None:
        flt, rollups = None, False
    rollup = rollups and window is None and _rollup_of(db, flt, by, every, after)
    began = rollup and not db.in_transaction
    if began:  # one snapshot: the rollups and the records they cover
        db.execute("BEGIN")
    try:
        return _record_stats(db, flt, by, every, after, upto, families, rollup, window, ids)
    finally:
        if began and db.in_transaction:
            db.execute("COMMIT")


def on_rollups(flt: Filter | None) -> bool:
    """Whether the rollups can count what ``flt`` keeps (it names only fields they keep)."""
    names = _named(flt)
    return names is not None and names <= set(ROLLUP_FIELDS)


def _named(flt: Filter | None) -> frozenset[str] | None:
    return frozenset() if flt is None else flt.fields


def _rollup_of(db: sqlite3.Connection, flt: Filter | None, by: tuple[str, ...],
               every: float | None, after: int) -> str | None:
    """The rollup table that can count these statistics, or None."""
    names = _named(flt)
    if names is None or after != 0 or not has_rollups(db):
        return None
    fields = {_BY_FIELD.get(name, name) for name in by} | names
    hours = every is None or (every * 1000 == round(every * 1000)
                              and round(every * 1000) % HOUR_MS == 0)
    if hours and fields <= set(ROLLUP_FIELDS):
        return "record_rollup"
    if every is None and fields <= set(SIM_ROLLUP_FIELDS):
        return "sim_rollup"
    return None


def _record_stats(db: sqlite3.Connection, flt: Filter | None, by: tuple[str, ...],
                  every: float | None, after: int, upto: int | None,
                  families: tuple[str, ...] | None, rollup: str | None,
                  window: tuple[int | None, int | None] | None = None,
                  ids: str | None = None) -> StatsTable:
    last = db.execute("SELECT coalesce(max(id), 0) FROM record").fetchone()[0]
    through = last if upto is None else min(upto, last)
    table = StatsTable(by=by, every=every, through=max(through, after))
    if through <= after:
        return table
    indexed = db.execute("SELECT coalesce(max(id), 0) FROM record_index").fetchone()[0]
    ledger = has_ledger(db) if flt is not None else True
    parts = []
    if rollup:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (ROLLUP_THROUGH,)).fetchone()
        rolled = int(row[0]) if row is not None else 0
        if 0 < rolled <= through:
            parts.append(_rollup_part(rollup, by, every, families, flt))
            after = rolled
    if indexed > after:
        parts.append(_index_part(db, flt, by, every, families, ledger, after,
                                 min(through, indexed), window, ids))
    if through > indexed:
        parts.append(_json_part(db, flt, by, every, families, ledger, max(after, indexed),
                                through, window, ids))
    groups: dict[tuple, list] = {}
    for sql, params in parts:
        for row in db.execute(sql, params):
            *key, bucket, records, data, sms, cost, costs, unreadable = row
            _add(groups, (tuple(key), bucket), records, data, sms, cost if costs else None,
                 unreadable or 0)
    table.rows = _rows(groups)
    table.unreadable = sum(row.unreadable for row in table.rows)
    return table


def _rollup_part(table: str, by: tuple[str, ...], every: float | None,
                 families: tuple[str, ...] | None, flt: Filter | None = None
                 ) -> tuple[str, list]:
    # the filter names only fields the rollup keeps, in columns of the same names as
    # record_index's (app.capture.schema): compiled as for the index, on the rollup as ``k``
    keys = [f'k."{_BY_FIELD.get(name, name)}"' for name in by]
    bucket = bucket_of_millis_sql("k.hour", every) if table == "record_rollup" else "NULL"
    where, params = "true", []
    if families is not None:
        where = f"k.family IN ({', '.join('?' * len(families))})"
        params = list(families)
    if flt is not None:
        fw, fp = flt.where(None, "index")
        where += f" AND ({fw})"
        params += fp
    groups = ", ".join(str(n + 1) for n in range(len(by) + 1))
    return (f"SELECT {', '.join([*keys, bucket])}, sum(k.records), total(k.data_mb), "
            f"total(k.sms), total(k.cost), sum(k.cost_records), sum(k.unreadable) "
            f"FROM {table} AS k WHERE {where} GROUP BY {groups}", params)


def _index_part(db, flt, by, every, families, ledger, after, upto, window=None, ids=None
                ) -> tuple[str, list]:
    bucket = _bucket_sql(f'k."{index_column("time")}"', every)
    return _grouped(db, "index", flt, by, bucket, index_measures_sql("k"), families, ledger,
                    after, upto, window, ids)


def _json_part(db, flt, by, every, families, ledger, after, upto, window=None, ids=None
               ) -> tuple[str, list]:
    vol_bool = ("(coalesce(nullif(json_type(r.json, '$.volume.total'), 'null'), "
                "nullif(json_type(r.json, '$.detail.volume.total'), 'null'), '') "
                "IN ('true', 'false'))")
    cost_bool = "(coalesce(json_type(r.json, '$.cost'), '') IN ('true', 'false'))"
    measures = measures_sql(FAMILY_JSON, field_sql("type_id"), field_sql("volume"),
                             field_sql("cost"), vol_bool, cost_bool)
    bucket = _bucket_sql(field_sql("time"), every)
    return _grouped(db, "json", flt, by, bucket, measures, families, ledger, after, upto,
                    window, ids)


def _grouped(db, mode, flt, by, bucket, measures, families, ledger, after, upto, window=None,
             ids=None) -> tuple[str, list]:
    source, where, params = _source(db, mode, flt, by, families, ledger, after, upto, window,
                                    ids)
    cols = ", ".join([*(_key_sql(name, mode) for name in by), bucket])
    groups = ", ".join(str(n + 1) for n in range(len(by) + 1))
    return f"SELECT {cols}, {measures} FROM {source} WHERE {where} GROUP BY {groups}", params


def _key_sql(name: str, mode: str) -> str:
    if name == "family":
        return "k.family" if mode == "index" else FAMILY_JSON
    fname = _BY_FIELD.get(name, name)
    if mode == "index" and FIELDS[fname].indexed:
        return f'k."{index_column(fname)}"'
    return field_sql(fname)


def _add(groups: dict, key: tuple, records: int, data: float, sms: float, cost: float | None,
         unreadable: int) -> None:
    group = groups.get(key)
    if group is None:
        groups[key] = [records, data, sms, cost, unreadable]
        return
    group[0] += records
    group[1] += data
    group[2] += sms
    if cost is not None:
        group[3] = cost if group[3] is None else group[3] + cost
    group[4] += unreadable


def _sort_value(value: Any) -> tuple:
    if value is None:
        return (0, 0, "")
    if isinstance(value, (int, float)):
        return (1, value, "")
    return (2, 0, str(value))


def _rows(groups: dict) -> list[StatsRow]:
    rows = []
    for (key, bucket), (records, data, sms, cost, unreadable) in groups.items():
        rows.append(StatsRow(key=key, bucket=bucket if bucket is None or isinstance(bucket, str)
                             else bucket_iso(bucket), records=records, data_mb=data, sms=sms,
                             cost=cost, unreadable=unreadable))
    rows.sort(key=lambda r: (r.bucket or "", -r.records, tuple(_sort_value(v) for v in r.key)))
    return rows


def _add_rows(key: tuple, bucket: str | None, rows: Iterable[StatsRow]) -> StatsRow:
    groups: dict[tuple, list] = {}
    for row in rows:
        _add(groups, (key, bucket), row.records, row.data_mb, row.sms, row.cost,
             row.unreadable)
    records, data, sms, cost, unreadable = groups.get((key, bucket), [0, 0.0, 0.0, None, 0])
    return StatsRow(key, bucket, records, data, sms, cost, unreadable)


def merge(a: StatsTable, b: StatsTable) -> StatsTable:
    """``a`` with ``b`` added: the groups of both, those in both summed (``b`` usually counts
    the records after ``a.through``: ``record_stats(..., after=a.through)``)."""
    if a.by != b.by or a.every != b.every:
        raise ValueError("cannot merge statistics grouped differently")
    groups: dict[tuple, list] = {}
    for row in (*a.rows, *b.rows):
        _add(groups, (row.key, row.bucket), row.records, row.data_mb, row.sms, row.cost,
             row.unreadable)
    rows = [StatsRow(key, bucket, *values) for (key, bucket), values in groups.items()]
    rows.sort(key=lambda r: (r.bucket or "", -r.records, tuple(_sort_value(v) for v in r.key)))
    return replace(a, rows=rows, unreadable=a.unreadable + b.unreadable,
                   through=max(a.through, b.through))


def record_span(db: sqlite3.Connection, flt: Filter | None = None,
                families: Iterable[str] | None = None) -> tuple[str | None, str | None]:
    """The first and last record instants (ISO 8601 UTC, milliseconds) of the records passing
    ``flt``, for :func:`auto_every`; (None, None) when none has a readable time."""
    _register(db)
    flt = None if flt is None or flt.is_empty else flt
    families = tuple(families) if families is not None else None
    ledger = has_ledger(db) if flt is not None else True
    last = db.execute("SELECT coalesce(max(id), 0) FROM record").fetchone()[0]
    indexed = db.execute("SELECT coalesce(max(id), 0) FROM record_index").fetchone()[0]
    ends: list[float] = []
    if flt is None and indexed and has_sort_indexes(db) and not _index_is_view(db):
        # per family, the two ends of the time index: a few lookups, not a pass
        key = time_key_sql('"time"')  # as the index has it
        for family in families or FAMILIES:
            for end in ("min", "max"):
                value = db.execute(f"SELECT {end}({key}) FROM record_index WHERE family = ?",
                                   (family,)).fetchone()[0]
                if value is not None:
                    ends.append(value)
        indexed_done = True
    else:
        indexed_done = False
    for mode, lo, hi in (("index", 0, min(last, indexed)), ("json", indexed, last)):
        if hi <= lo or (mode == "index" and indexed_done):
            continue
        source, where, params = _source(db, mode, flt, (), families, ledger, lo, hi)
        key = time_key_sql(f'k."{index_column("time")}"' if mode == "index"
                           else field_sql("time"))
        row = db.execute(f"SELECT min({key}), max({key}) FROM {source} WHERE {where}",
                         params).fetchone()
        ends += [v for v in row if v is not None]
    if not ends:
        return None, None
    return (bucket_iso(round((min(ends) - _UNIX_EPOCH_JD) * 86400000)),
            bucket_iso(round((max(ends) - _UNIX_EPOCH_JD) * 86400000)))


def _index_is_view(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM temp.sqlite_schema WHERE name = 'record_index' "
                      "AND type = 'view'").fetchone() is not None


def _source(db: sqlite3.Connection, mode: str, flt: Filter | None, by: tuple[str, ...],
            families, ledger: bool, after: int, upto: int,
            window: tuple[int | None, int | None] | None = None,
            ids: str | None = None) -> tuple[str, str, list]:
    """FROM and WHERE of one half: the indexed records (``k``, joined to ``r`` when the JSON is
    needed) or the ones not indexed yet (``r``), of the time ``window`` if given."""
    params: list[Any] = [after, upto]
    along_time = False
    if mode == "index":
        needs_json = (flt is not None and flt.reads_json) or any(
            not FIELDS[_BY_FIELD.get(name, name)].indexed for name in by if name != "family")
        # NOT INDEXED: one pass in row order. Left to itself SQLite groups by family along
        # one of the sort indexes (family first) and looks every row up from there: 30 times
        # slower over all the records (benchmarks/stats.py). A temporary view (a capture no
        # receiver upgraded yet, see app.capture.schema) cannot say it, and needs not.
        # A time window from the first record on: along the time index instead (family
        # first, then the instant: per family, the window's stretch of it); records since
        # ``after`` (an update): their few rows in row order.
        view = _index_is_view(db)
        along_time = window is not None and after == 0 and not view and has_sort_indexes(db)
        plain = (" INDEXED BY record_index_by_time" if along_time
                 else " NOT INDEXED" if not view else "")
        source = (f"record_index AS k{plain}"
                  + (" JOIN record AS r ON r.id = k.id" if needs_json else ""))
        where, family = "k.id > ? AND k.id <= ?", "k.family"
        time_value = f'k."{index_column("time")}"'
    else:
        source, where, family = "record AS r", "r.id > ? AND r.id <= ?", FAMILY_JSON
        time_value = field_sql("time")
    if families is not None or along_time:
        names = families if families is not None else FAMILIES
        where += f" AND {family} IN ({', '.join('?' * len(names))})"
        params += names
    if window is not None:
        # the instant as the index keeps it (a Julian day), a millisecond wider than the
        # window (float rounding), then to the millisecond as the buckets count it
        key, millis = time_key_sql(time_value), millis_sql(time_value)
        since, until = window
        if since is not None:
            where += f" AND {key} >= ? AND {millis} >= ?"
            params += [_UNIX_EPOCH_JD + (since - 1) / 86400000, since]
        if until is not None:
            where += f" AND {key} < ? AND {millis} < ?"
            params += [_UNIX_EPOCH_JD + (until + 1) / 86400000, until]
    if flt is not None:
        fw, fp = flt.where(None, mode, ledger)
        where += f" AND ({fw})"
        params += fp
    if ids is not None:
        where += f" AND {'k' if mode == 'index' else 'r'}.id IN temp.{ids}"
    return source, where, params


def select(db: sqlite3.Connection, flt: Filter, families: Iterable[str] | None = None,
           upto: int | None = None, name: str = "stats_ids") -> str:
    """Run ``flt`` once: the ids of the records (of ``families``, up to ``upto``) it keeps go
    into a temporary table (made again if there), whose name is returned for
    :func:`record_stats`'s ``ids``."""
    if not name.isidentifier():
        raise ValueError(f"{name!r} is not a table name")
    _register(db)
    sql, params = flt.record_query(tuple(families) if families is not None else None, 0, upto,
                                   ledger=has_ledger(db))
    db.execute(f"DROP TABLE IF EXISTS temp.{name}")
    db.execute(f"CREATE TEMP TABLE {name} (id INTEGER PRIMARY KEY)")
    db.execute(f"INSERT INTO temp.{name} {sql}", params)
    return name


# ---------------------------------------------------------------------------------------------
# Requests


def request_stats(db: sqlite3.Connection, every: float, after: int = 0,
                  upto: int | None = None) -> list[RequestBucket]:
    """The requests with ids in (``after``, ``upto``] per bucket of ``every`` seconds of their
    arrival: how many, the records they carried, body sizes (sum, max), the time until each was
    stored (sum, max) and how many were answered with anything but 200."""
    if every <= 0:
        raise ValueError("a bucket must be longer than 0 s")
    bucket = _bucket_sql("received_at", every, lambda v: f"julianday({v})")
    upto = 2**62 if upto is None else upto
    rows = db.execute(
        f"SELECT {bucket} AS b, count(*), total(record_count), total(body_size), "
        f"max(body_size), total(duration_ms), max(duration_ms), sum(status <> 200), "
        f"count(duration_ms) "
        f"FROM request WHERE id > ? AND id <= ? GROUP BY b ORDER BY b", (after, upto))
    return [RequestBucket(bucket_iso(b) if b is not None else "", n, int(records), int(size),
                          max_size or 0, duration, max_duration, refused or 0, timed)
            for b, n, records, size, max_size, duration, max_duration, refused, timed in rows]
