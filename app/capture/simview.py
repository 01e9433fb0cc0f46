"""One SIM's view: every record of one ICCID across Events, Usage and SMS in time order, its
data sessions as spans, its alerts and its totals. Qt-free; the window's SIM view runs
:func:`sim_view` on a thread of its own with its own read-only connection.

Which records are the SIM's:

- every record (any family) whose ``sim.iccid`` is the ICCID: one seek per family in
  ``record_index`` (its ``(family, iccid)`` index), plus the records not indexed yet from their
  JSON;
- SMS events (``sms_dr``, ``sms_mo``), which carry no ``sim`` object
  (``record-schema.md`` section 5): those whose ``endpoint.name`` is the ICCID (the name an
  endpoint has by default) or the endpoint name of one of the SIM's own records, and MO SMS
  whose ``source_address`` (the device MSISDN) is the ``sim.msisdn`` of one of its records.
  ``dest_address`` is the other party (a short number such as ``"338"``), not the SIM: it is
  not matched.

Data sessions (spans), in this order:

1. **by session id**: a Create PDP Context (event type 3), Update PDP Context (4), Delete PDP
   Context (5) or Data usage record (traffic type 5) carrying
   ``detail.pdp_context.ipcan_session_id`` (a non-empty string) belongs to the session of that
   id; it starts at its Create (else its earliest record) and ends at its Delete (else it is
   open).
2. **by time**, for those without one: in time order, a Create opens a window and the next
   Delete closes it (a Create while one is open leaves that one open, ended at nothing); a
   Delete with no open window closes a window whose Create was not seen: it starts at the
   Delete's ``pdp_context.tunnel_created`` when that lies after the previous window, else at
   the earliest usage record it gets, else at the Delete itself. A Data usage record (or an
   Update PDP Context) joins the window its start (else its end) lies in.

A Create PDP Context without a ``pdp_context`` object, or with a
``data_service_failure_cause``, was refused: no span (it is an alert when it says so).

Volumes: ``volume.total`` (a Delete's ``detail.volume.total``), MB for Data, a count for SMS; a
numeric string counts as its number; a non-numeric string, a bool, an object, a number beyond
a double or a missing value is not summed (usage records: counted in ``unreadable``). Times are
read as the tables sort them (:func:`app.records.fields.time_key_sql`: ISO with any offset,
epoch seconds or milliseconds); records whose time no clock reads come last, in arrival order.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

from app.db import sqlite3
from app.filters.nodes import FAMILY_JSON
from app.filters.planner import INDEXED_UPTO
from app.records.fields import MISSING, field_sql, index_column, lookup, time_key_sql
from app.records.shape import FAMILIES, parse_record

SMS_FAMILIES = ("sms_dr", "sms_mo")
_JULIAN_EPOCH = 2440587.5  # julianday('1970-01-01')
CREATE, UPDATE, DELETE = 3, 4, 5
DATA, SMS = 5, 6


@dataclass
class SimRecord:
    """One record of the SIM, as the view shows it."""

    id: int  # the capture's record id (the tables' row id)
    family: str  # event, usage, sms_dr, sms_mo, unknown
    time: float | None  # epoch seconds (UTC); None: no clock reads it
    time_text: str  # the time as the record gives it ("" when it has none)
    end: float | None  # usage end, SMS final date (epoch seconds)
    kind: str  # event type, traffic type, SMS status, "MO SMS"
    type_id: int | None
    volume: float | None  # MB (Data) or a count (SMS); None when absent or unreadable
    unit: str  # "MB", "SMS" or ""
    alert: bool
    session: int | None = None  # its index in SimView.sessions
    session_id: str | None = None  # detail.pdp_context.ipcan_session_id
    cost: float | None = None
    currency: str | None = None
    unreadable_volume: bool = False  # a usage record whose volume no number reads


@dataclass
class Session:
    """A data session: a span from its Create PDP Context to its Delete (or open)."""

    number: int
    start: float | None  # epoch seconds; None only when no record of it has a readable time
    end: float | None  # its Delete's time; None: open (no Delete seen)
    session_id: str | None  # the ipcan_session_id joining it, or None (joined by time)
    records: list[int] = field(default_factory=list)  # record ids, in time order
    volume: float = 0.0  # MB: the sum of its Data usage records
    usage_records: int = 0
    reported: float | None = None  # MB its Delete PDP Context carries (detail.volume.total)
    create: int | None = None  # the record id of its Create (None: not seen)
    delete: int | None = None  # the record id of its Delete
    until: float | None = None  # where it is drawn to: its end, else the next span or the last
    create_time: float | None = field(default=None, repr=False)
    delete_time: float | None = field(default=None, repr=False)
    times: list = field(default_factory=list, repr=False)  # of its records (None: unreadable)

    @property
    def open(self) -> bool:
        return self.end is None

    @property
    def rule(self) -> str:
        return "session id" if self.session_id else "time"


@dataclass
class Totals:
    """The SIM's totals over its records (the period: its first to its last record)."""

    records: dict[str, int]  # per family
    data_mb: float  # Data usage records' volume.total (MB)
    sms: float  # SMS usage records' volume.total (a count)
    sms_events: int  # SMS delivery reports and MO SMS
    cost: dict[str, float]  # per currency code ("" when a record names none)
    alerts: int
    sessions: int
    open_sessions: int
    unreadable: int  # usage records whose volume no number reads
    unreadable_times: int  # records whose time no clock reads (listed last)


@dataclass
class SimView:
    """Everything about one ICCID: its records in time order, its data sessions, totals."""

    iccid: str
    records: list[SimRecord]
    sessions: list[Session]
    totals: Totals
    first: float | None  # the earliest readable time (epoch seconds)
    last: float | None  # the latest readable time or end
    msisdns: tuple[str, ...]  # the MSISDNs its records name (matched in MO SMS)
    endpoints: tuple[str, ...]  # the endpoint names its records name (matched in SMS)
    through: int  # the last record id looked at

    def record(self, record_id: int) -> SimRecord | None:
        return next((r for r in self.records if r.id == record_id), None)


def _epoch(julian: Any) -> float | None:
    if not isinstance(julian, (int, float)) or not math.isfinite(julian):
        return None
    # a Julian day as a double is exact to ~40 µs: read to the millisecond
    return round((julian - _JULIAN_EPOCH) * 86400.0, 3)


def number(value: Any) -> float | None:
    """A volume or cost as a number: a number or a numeric string; None for anything else
    (a bool, an object, a non-numeric string, a number beyond a double, nothing)."""
    if isinstance(value, bool) or value is None or value is MISSING:
        return None
    if isinstance(value, (int, float)):
        try:
            out = float(value)
        except OverflowError:  # an integer beyond a double
            return None
        return out if math.isfinite(out) else None
    if isinstance(value, str):
        try:
            out = float(value.strip())
        except ValueError:
            return None
        return out if math.isfinite(out) else None
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _as_sent(value: Any) -> str:
    if value is None or value is MISSING:
        return ""
    return value if isinstance(value, str) else str(value)


_COLUMNS = ("id", "family", "t", "time", "e")


def _select_indexed(where: str) -> str:
    time, end = f'k."{index_column("time")}"', f'k."{index_column("end")}"'
    return (f"SELECT k.id, k.family, {time_key_sql(time)}, {time}, {time_key_sql(end)}, r.json "
            f"FROM record_index AS k JOIN record AS r ON r.id = k.id WHERE k.id <= ? "
            f"AND {where}")


def _select_tail(where: str) -> str:
    time, end = field_sql("time"), field_sql("end")
    return (f"SELECT r.id, {FAMILY_JSON}, {time_key_sql(time)}, {time}, {time_key_sql(end)}, "
            f"r.json FROM record AS r WHERE r.id > {INDEXED_UPTO} AND r.id <= ? AND {where}")


def _rows(db: sqlite3.Connection, iccid: str, upto: int) -> list[tuple]:
    """The rows whose sim.iccid is ``iccid``: one index seek per family, and the tail."""
    marks = ", ".join("?" * len(FAMILIES))
    sql = (_select_indexed(f'k.family IN ({marks}) AND k."{index_column("iccid")}" = {_TEXT}')
           + " UNION ALL " + _select_tail(f"{field_sql('iccid')} = {_TEXT}"))
    return db.execute(sql, [upto, *FAMILIES, _bound(iccid), upto, _bound(iccid)]).fetchall()


_TEXT = "CAST(? AS TEXT)"  # a value bound as bytes (see _bound) compared as the text it is


def _bound(text: str) -> str | bytes:
    """A text as bound to a query: a lone surrogate (legal JSON, ``"\\ud83d"``) is stored by
    ``json_extract`` as its CESU-8 bytes, and matched as those bytes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
    return text


def _sms_rows(db: sqlite3.Connection, names: tuple[str, ...], msisdns: tuple[str, ...],
              upto: int, seen: set[int]) -> list[tuple]:
    """SMS events naming one of the endpoint names, or sent from one of the MSISDNs."""
    conditions_index, conditions_tail, params_index, params_tail = [], [], [], []
    for column, values in (("endpoint", names), ("msisdn", msisdns)):
        if values:
            marks = ", ".join([_TEXT] * len(values))
            values = tuple(_bound(v) for v in values)
            conditions_index.append(f'k."{index_column(column)}" IN ({marks})')
            conditions_tail.append(f"{field_sql(column)} IN ({marks})")
            params_index += values
            params_tail += values
    if not conditions_index:
        return []
    fams = ", ".join(f"'{f}'" for f in SMS_FAMILIES)
    sql = (_select_indexed(f"k.family IN ({fams}) AND ({' OR '.join(conditions_index)})")
           + " UNION ALL " + _select_tail(
               f"{FAMILY_JSON} IN ({fams}) AND ({' OR '.join(conditions_tail)})"))
    rows = db.execute(sql, [upto, *params_index, upto, *params_tail]).fetchall()
    return [row for row in rows if row[0] not in seen]


def _parse(text: Any) -> Any:
    try:
        return parse_record(text)
    except (ValueError, RecursionError):
        return None


def _record(row: tuple, value: Any) -> SimRecord:
    rid, family, julian, time_value, end_julian = row[:5]
    rec = value if isinstance(value, dict) else {}
    alert = lookup(rec, ("alert",)) is True
    type_id: int | None = None
    kind, unit = "", ""
    volume: float | None = None
    unreadable = False
    if family == "event":
        type_id = _int(lookup(rec, ("event_type", "id")))
        kind = _as_sent(lookup(rec, ("event_type", "description")))
        volume = number(lookup(rec, ("detail", "volume", "total")))
        unit = "MB" if volume is not None else ""
    elif family == "usage":
        type_id = _int(lookup(rec, ("traffic_type", "id")))
        kind = _as_sent(lookup(rec, ("traffic_type", "description")))
        raw = lookup(rec, ("volume", "total"))
        volume = number(raw)
        unreadable = volume is None
        unit = "SMS" if type_id == SMS else "MB"
    elif family == "sms_dr":
        type_id = _int(lookup(rec, ("status", "id")))
        kind = "SMS delivery report " + _as_sent(lookup(rec, ("status", "status")))
    elif family == "sms_mo":
        kind = "MO SMS"
    session_id = _text(lookup(rec, ("detail", "pdp_context", "ipcan_session_id")))
    currency = lookup(rec, ("currency", "code"))
    return SimRecord(
        id=rid, family=family, time=_epoch(julian), time_text=_as_sent(time_value).strip(),
        end=_epoch(end_julian), kind=kind.strip(), type_id=type_id, volume=volume, unit=unit,
        alert=alert, session_id=session_id, cost=number(lookup(rec, ("cost",))),
        currency=currency if isinstance(currency, str) else None,
        unreadable_volume=unreadable)


def _refused(rec: Any) -> bool:
    """A Create PDP Context that opened nothing: no pdp_context, or a failure cause."""
    detail = rec.get("detail") if isinstance(rec, dict) else None
    if not isinstance(detail, dict):
        return True
    return (not isinstance(detail.get("pdp_context"), dict)
            or detail.get("data_service_failure_cause") not in (None, ""))


def sim_view(db: sqlite3.Connection, iccid: str, upto: int | None = None) -> SimView:
    """Every record of ``iccid`` (up to record id ``upto``) in time order, its data
    sessions, alerts and totals (see the module's docstring for the rules)."""
    if upto is None:
        upto = db.execute("SELECT coalesce(max(id), 0) FROM record").fetchone()[0]
    rows = _rows(db, iccid, upto)
    parsed = [_parse(row[5]) for row in rows]
    names: dict[str, None] = {iccid: None}
    msisdns: dict[str, None] = {}
    for value in parsed:
        if isinstance(value, dict):
            name = _text(lookup(value, ("endpoint", "name")))
            if name:
                names[name] = None
            msisdn = _text(lookup(value, ("sim", "msisdn")))
            if msisdn:
                msisdns[msisdn] = None
    sms = _sms_rows(db, tuple(names), tuple(msisdns), upto, {row[0] for row in rows})
    rows += sms
    parsed += [_parse(row[5]) for row in sms]
    records = [_record(row, value) for row, value in zip(rows, parsed, strict=True)]
    by_id = {rec.id: value for rec, value in zip(records, parsed, strict=True)}
    # time order; a time no clock reads last, in arrival order
    records.sort(key=lambda r: (r.time is None, r.time if r.time is not None else 0.0, r.id))
    sessions = _sessions(records, by_id)
    readable = [t for r in records for t in (r.time, r.end) if t is not None]
    first, last = (min(readable), max(readable)) if readable else (None, None)
    _draw_until(sessions, last)
    return SimView(iccid=iccid, records=records, sessions=sessions,
                   totals=_totals(records, sessions), first=first, last=last,
                   msisdns=tuple(msisdns), endpoints=tuple(names), through=upto)


def _is_session_part(rec: SimRecord) -> bool:
    if rec.family == "event":
        return rec.type_id in (CREATE, UPDATE, DELETE)
    return rec.family == "usage" and rec.type_id == DATA


@dataclass
class _Window:
    start: float | None
    end: float | None
    lower: float | None = None  # a window whose Create was not seen starts after this
    tunnel: float | None = None  # its Delete's tunnel_created
    session: Session | None = None


def _sessions(records: list[SimRecord], values: dict[int, Any]) -> list[Session]:
    keyed: dict[str, Session] = {}
    windows: list[_Window] = []
    members: list[SimRecord] = []  # joined by time: usage records and updates
    current: _Window | None = None
    previous_end: float | None = None
    sessions: list[Session] = []

    def new_session(key: str | None) -> Session:
        session = Session(number=0, start=None, end=None, session_id=key)
        sessions.append(session)
        return session

    for rec in records:
        if not _is_session_part(rec):
            continue
        refused = rec.type_id == CREATE and _refused(values.get(rec.id))
        if refused:
            continue
        if rec.session_id:
            session = keyed.get(rec.session_id)
            if session is None:
                session = keyed[rec.session_id] = new_session(rec.session_id)
            _join(session, rec)
            continue
        if rec.time is None:
            continue  # no time: it cannot be placed in a window
        if rec.family == "event" and rec.type_id == CREATE:
            current = _Window(start=rec.time, end=None, session=new_session(None))
            windows.append(current)
            _join(current.session, rec)
        elif rec.family == "event" and rec.type_id == DELETE:
            if current is None:
                tunnel = _epoch_of_text(lookup(values.get(rec.id) or {},
                                               ("detail", "pdp_context", "tunnel_created")))
                current = _Window(start=None, end=None, lower=previous_end, tunnel=tunnel,
                                  session=new_session(None))
                windows.append(current)
            current.end = rec.time
            _join(current.session, rec)
            previous_end = rec.time
            current = None
        else:
            members.append(rec)
    _place(windows, members)
    for window in windows:
        session = window.session
        session.end = window.end
        if window.start is not None:
            session.start = window.start
        else:
            tunnel_ok = window.tunnel is not None and window.end is not None and (
                window.lower is None or window.tunnel > window.lower) \
                and window.tunnel <= window.end
            # its usage records' starts and its Delete's time (all are readable here)
            candidates = [t for t in session.times if t is not None] \
                + ([window.tunnel] if tunnel_ok else [])
            session.start = min(candidates) if candidates else window.end
    for session in keyed.values():
        times = [t for t in session.times if t is not None]
        if session.create is not None and session.create_time is not None:
            session.start = session.create_time
        else:
            session.start = min(times) if times else None
        session.end = session.delete_time
    sessions.sort(key=lambda s: (s.start is None, s.start or 0.0, s.records[:1]))
    for number_, session in enumerate(sessions):
        session.number = number_
    index = {id(s): s.number for s in sessions}
    for rec in records:
        if rec.session is not None:
            rec.session = index[rec.session]
    order = {rec.id: n for n, rec in enumerate(records)}
    for session in sessions:
        session.records.sort(key=order.__getitem__)
    return sessions


def _join(session: Session, rec: SimRecord) -> None:
    session.records.append(rec.id)
    rec.session = id(session)  # mapped to the session's number once they are sorted
    session.times.append(rec.time)
    if rec.family == "event" and rec.type_id == CREATE and session.create is None:
        session.create = rec.id
        session.create_time = rec.time
    elif rec.family == "event" and rec.type_id == DELETE:
        session.delete = rec.id
        session.delete_time = rec.time
        if rec.volume is not None:
            session.reported = rec.volume
    elif rec.family == "usage":
        session.usage_records += 1
        if rec.volume is not None:
            session.volume += rec.volume


def _place(windows: list[_Window], members: list[SimRecord]) -> None:
    """Join each usage record (or update) to the window its start, else its end, lies in."""
    if not windows:
        return
    lows = [w.start if w.start is not None else (w.lower if w.lower is not None
                                                  else -math.inf) for w in windows]
    highs = []
    for n, w in enumerate(windows):
        if w.end is not None:
            highs.append(w.end)
        else:  # open: until the next window
            highs.append(lows[n + 1] if n + 1 < len(windows) else math.inf)

    def find(moment: float | None) -> _Window | None:
        if moment is None:
            return None
        n = bisect.bisect_right(lows, moment) - 1
        # a window whose Create was not seen starts just after the previous one's end
        for k in (n, n + 1):
            if 0 <= k < len(windows):
                w = windows[k]
                low_ok = (moment >= lows[k]) if w.start is not None else (moment > lows[k]
                                                                         or lows[k] == -math.inf)
                if low_ok and moment <= highs[k]:
                    return w
        return None

    for rec in members:
        window = find(rec.time) or find(rec.end)
        if window is not None:
            _join(window.session, rec)


def _epoch_of_text(value: Any) -> float | None:
    """An ISO 8601 text as epoch seconds (SQLite's reading, in Python), or None."""
    if not isinstance(value, str):
        return None
    import datetime as dt

    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _draw_until(sessions: list[Session], last: float | None) -> None:
    starts = [s.start for s in sessions]
    for n, session in enumerate(sessions):
        if session.end is not None:
            session.until = session.end
            continue
        later = [t for t in starts[n + 1:] if t is not None]
        session.until = later[0] if later else last


def _totals(records: list[SimRecord], sessions: list[Session]) -> Totals:
    per_family: dict[str, int] = {}
    data = sms = 0.0
    cost: dict[str, float] = {}
    unreadable = 0
    for rec in records:
        per_family[rec.family] = per_family.get(rec.family, 0) + 1
        if rec.family == "usage":
            if rec.volume is None:
                unreadable += 1
            elif rec.type_id == DATA:
                data += rec.volume
            elif rec.type_id == SMS:
                sms += rec.volume
        if rec.cost is not None:
            code = rec.currency or ""
            cost[code] = cost.get(code, 0.0) + rec.cost
    return Totals(
        records=per_family, data_mb=data, sms=sms,
        sms_events=sum(per_family.get(f, 0) for f in SMS_FAMILIES), cost=cost,
        alerts=sum(r.alert for r in records), sessions=len(sessions),
        open_sessions=sum(s.open for s in sessions), unreadable=unreadable,
        unreadable_times=sum(r.time is None for r in records))


def sim_of_record(db: sqlite3.Connection, record_id: int) -> str | None:
    """The ICCID of a record: its ``sim.iccid``; for an SMS event, the ICCID its endpoint
    name is (a SIM's records name it so), else that of a record with its source MSISDN, else
    its endpoint name when that is an ICCID (19-20 digits from 89: the default name)."""
    row = db.execute(f"SELECT {field_sql('iccid')}, {field_sql('endpoint')}, "
                     f"{field_sql('msisdn')} FROM record AS r WHERE r.id = ?",
                     [record_id]).fetchone()
    if row is None:
        return None
    iccid, endpoint, msisdn = row
    if isinstance(iccid, str) and iccid:
        return iccid
    column = index_column("iccid")
    for name, value in (("endpoint", endpoint), ("msisdn", msisdn)):
        if not isinstance(value, str) or not value:
            continue
        if name == "endpoint" and db.execute(
                f'SELECT 1 FROM record_index WHERE family IN (\'event\', \'usage\') '
                f'AND "{column}" = {_TEXT} LIMIT 1', [_bound(value)]).fetchone():
            return value
        found = db.execute(
            f'SELECT "{column}" FROM record_index WHERE family IN (\'event\', \'usage\') '
            f'AND "{index_column(name)}" = {_TEXT} AND "{column}" IS NOT NULL LIMIT 1',
            [_bound(value)]).fetchone()
        if found and isinstance(found[0], str):
            return found[0]
    if isinstance(endpoint, str) and endpoint.isascii() and endpoint.isdigit() \
            and 18 <= len(endpoint) <= 22 and endpoint.startswith("89"):
        return endpoint  # an endpoint named by its ICCID (the default) no other record has
    return None
