"""The field catalogue: the named fields of a record, the JSON paths each reads (first present
wins), their ``record_index`` columns and the request columns a filter names.

Below both the capture (whose index stores these fields) and the filter language (which reads
them); nothing here knows the filter syntax.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    """A named field: the JSON paths it reads (first present wins) and its index column."""

    name: str
    paths: tuple[str, ...]
    indexed: bool = True
    text_only: tuple[bool, ...] = ()  # per path: only a string value counts (``imsi``)
    help: str = ""
    exact: bool = False  # holds integers: one beyond 64 bits is read as its exact digits


FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("time", ("timestamp", "start_timestamp", "submit_date", "final_date"),
          help="the record's time: event timestamp, usage start, SMS submit date (a delivery "
               "report without one: its final date)"),
    Field("end", ("end_timestamp", "final_date"), help="usage end, SMS final date"),
    Field("type", ("event_type.description", "traffic_type.description", "status.status"),
          help="event type, traffic type (Data, SMS) or SMS status"),
    Field("type_id", ("event_type.id", "traffic_type.id", "status.id"),
          help="event type id, traffic type id (5 Data, 6 SMS) or SMS status id", exact=True),
    Field("severity", ("event_severity.description",), help="INFO, WARN, ..."),
    Field("alert", ("alert",), help="true for alerts"),
    Field("iccid", ("sim.iccid",)),
    Field("imsi", ("imsi.imsi", "imsi"), text_only=(True, True)),
    Field("msisdn", ("sim.msisdn", "source_address")),
    Field("imei", ("endpoint.imei",)),
    Field("endpoint", ("endpoint.name",), help="endpoint (device) name"),
    Field("country", ("detail.country.name", "operator.country.name")),
    Field("operator", ("operator.name", "detail.name")),
    Field("rat", ("detail.pdp_context.rat_type",),
          help="radio access type (6 LTE, 8 NB-IoT, 9 CAT-M, 2 2G, 1 3G)"),
    Field("session", ("detail.pdp_context.ipcan_session_id",), indexed=False,
          help="the data session (IP-CAN session id) of a PDP context event or usage record"),
    Field("volume", ("volume.total", "detail.volume.total"), help="MB, or SMS count"),
    Field("rx", ("volume.rx", "detail.volume.rx")),
    Field("tx", ("volume.tx", "detail.volume.tx")),
    Field("cost", ("cost",)),
    Field("currency", ("currency.code",), help="the currency of cost (EUR, ...)"),
    Field("ratezone", ("tariff.ratezone.name",)),
    Field("id", ("id",), help="the record's own id", exact=True),
    Field("description", ("description",), indexed=False),
    Field("payload", ("payload",), indexed=False),
    Field("from", ("source_address",), indexed=False),
    Field("to", ("dest_address",), indexed=False),
)}
ALIASES = {"start": "time", "event_type": "type", "traffic_type": "type", "status": "type",
           "submitted": "time", "final": "end", "sms_id": "detail.sms.id"}
INDEXED = tuple(f for f in FIELDS.values() if f.indexed)


def index_column(name: str) -> str:
    """The ``record_index`` column of a named field (``id`` is taken by the row id)."""
    return "own_id" if name == "id" else name


def time_key_sql(value: str) -> str:
    """SQL giving the instant a time value means, as a Julian day (what ``julianday()`` gives
    for an ISO text with any offset); an epoch number is seconds, or milliseconds when it is
    that large (``abs >= 1e11``: after 1973 in ms). NULL for anything else, and for a time
    outside the years 0000-9999.

    Deterministic for any value (an index holds it): the text ``now``, which ``julianday``
    reads as the current time, and integers whose ``abs()`` overflows give NULL / no error."""
    return (f"(CASE WHEN typeof({value}) IN ('integer', 'real') THEN julianday(CASE WHEN "
            f"{value} >= 1e11 OR {value} <= -1e11 THEN {value} / 1000.0 ELSE {value} END, "
            f"'unixepoch') WHEN typeof({value}) = 'text' AND lower({value}) <> 'now' "
            f"THEN julianday({value}) END)")


def severity_key_sql(value: str) -> str:
    """SQL giving a severity's rank: INFO 1, WARN (WARNING) 2, ERROR 3, CRITICAL 4, else 5."""
    return (f"(CASE upper({value}) WHEN 'INFO' THEN 1 WHEN 'WARN' THEN 2 WHEN 'WARNING' THEN 2 "
            f"WHEN 'ERROR' THEN 3 WHEN 'CRITICAL' THEN 4 ELSE 5 END)")


# The sort keys the capture's record_index keeps in order (an SQL index each, since capture
# format 8: a table sorts by them with no sort step): field -> the key SQL of a value (None:
# the value itself).
SORT_KEYS: dict[str, Callable[[str], str] | None] = {
    "time": time_key_sql, "volume": None, "severity": severity_key_sql, "iccid": None,
}


def sort_key_sql(name: str, value: str) -> str | None:
    """The key a sort on field ``name`` orders ``value`` (SQL) by before the value itself,
    or None (by the value): times by instant, severities by rank."""
    if name in ("time", "end"):
        return time_key_sql(value)
    if name == "severity":
        return severity_key_sql(value)
    return None


# A request's decoded path and its query: what a request stored before capture format 7 has of
# its target (the Requests table's Path column shows that for such requests).
_PATH_AND_QUERY = "(q.path || CASE WHEN q.query <> '' THEN '?' || q.query ELSE '' END)"
REQUEST_FIELDS: dict[str, str] = {
    "status": "q.status", "method": "q.method", "path": "q.path", "peer": "q.peer",
    "auth": "q.auth", "user": "q.auth_user", "records": "q.record_count",
    "size": "q.body_size", "duration": "q.duration_ms", "reason": "q.reason",
    "problems": "q.problems", "received": "q.received_at", "time": "q.received_at",
    "content_type": "q.content_type", "source": "q.source", "id": "q.id",
    "rule": "q.rule", "acked": "q.acked", "target": f"coalesce(q.target, {_PATH_AND_QUERY})",
}
# What each request field means (the filter bar's completion tooltips).
REQUEST_HELP: dict[str, str] = {
    "status": "the HTTP status answered (0: no answer was sent)", "method": "POST, GET, ...",
    "path": "the request path", "peer": "the client's address",
    "auth": "ok, missing, invalid or off", "user": "the Basic auth user",
    "records": "records in the batch", "size": "body size in bytes",
    "duration": "milliseconds from its headers' arrival until it was stored",
    "reason": "why it was answered so",
    "problems": "what was wrong with the batch", "received": "when it arrived",
    "time": "when it arrived", "content_type": "the Content-Type header",
    "source": "received, or imported", "id": "the request's number",
    "rule": "the text of the answer rule that answered it (null: the endpoint itself)",
    "acked": "1 when its answer acknowledged the batch, else 0",
    "target": "the request target as it arrived, as the Path column shows it (/x%2Fy?a=1; "
              "path is decoded)",
}
# What those a capture older than format 6 lacks read there: no rule ever answered, and every
# request answered 200 acknowledged its batch.
REQUEST_FIELDS_BEFORE_6: dict[str, str] = {"rule": "NULL", "acked": "(q.status = 200)"}
# And what a capture older than format 7 (no target column) reads for the target.
REQUEST_FIELDS_BEFORE_7: dict[str, str] = {"target": _PATH_AND_QUERY}
# A record's place in the redelivery ledger (app.capture.ledger) and its request's
# acknowledgement, as the filters name them; ``unacknowledged`` (``unacked``) is ``not acked``.
LEDGER_FIELDS: dict[str, str] = {
    "acked": "its request acknowledged the batch (1, or 0)",
    "redelivered": "a later arrival of an earlier record (same family and id, same content)",
    "conflict": "its content differs from both the first and the previous arrival of its id",
    "seen": "arrivals of its id so far (1, 2, ...)",
    "attempt": "which arrival of its id it is (1 for the first)",
}
UNACKNOWLEDGED = ("unacknowledged", "unacked")


_STEP = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def parse_path(text: str) -> tuple[str | int, ...]:
    """The steps of a dotted path: ``detail.mnc[0].mnc`` is ``("detail", "mnc", 0, "mnc")``."""
    return tuple(int(m.group(2)) if m.group(2) is not None else m.group(1)
                 for m in _STEP.finditer(text))


def json_path(steps: tuple[str | int, ...]) -> str:
    """The steps as an SQLite JSON path (``$."detail"[0]``)."""
    out = "$"
    for step in steps:
        out += f"[{step}]" if isinstance(step, int) else f'."{step}"'
    return out


MISSING = object()  # what :func:`lookup` gives for a path the record does not have


def lookup(record: Any, steps: tuple[str | int, ...]) -> Any:
    """The value at ``steps`` (keys and list indexes) in a parsed record, or ``MISSING``."""
    value = record
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return MISSING
        elif not isinstance(value, dict) or step not in value:
            return MISSING
        value = value[step]
    return value


def sql_value(value: Any) -> Any:
    """What a filter reads for a JSON value (``json_extract``, see :func:`exact_sql`): None,
    int, float, str, or JSON text; an integer beyond 64 bits as the text of its digits."""
    if value is MISSING or value is None:
        return None
    if value is True:
        return 1
    if value is False:
        return 0
    if type(value) is int and not -(2**63) <= value < 2**63:
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def exact_sql(json_col: str, jp: str) -> str:
    """SQL reading the JSON path ``jp`` like ``json_extract``, except that an integer beyond
    64 bits (which ``json_extract`` turns into a lossy REAL) is the exact text of its digits."""
    x = f"json_extract({json_col}, '{jp}')"
    return (f"CASE WHEN typeof({x}) = 'real' AND json_type({json_col}, '{jp}') = 'integer' "
            f"THEN {json_col} -> '{jp}' ELSE {x} END")


def field_value(record: dict, name: str) -> Any:
    """A named field's value as SQL sees it (first present path wins)."""
    spec = FIELDS[name]
    for number, path in enumerate(spec.paths):
        value = lookup(record, parse_path(path))
        if value is MISSING or value is None:
            continue
        if spec.text_only and spec.text_only[number] and not isinstance(value, str):
            continue
        return sql_value(value)
    return None


def field_sql(name: str, json_col: str = "r.json") -> str:
    """SQL reading a named field from the record's JSON (what the index stores)."""
    spec = FIELDS[name]
    parts = []
    for number, path in enumerate(spec.paths):
        jp = json_path(parse_path(path))
        if spec.text_only and spec.text_only[number]:
            parts.append(f"CASE json_type({json_col}, '{jp}') WHEN 'text' "
                         f"THEN json_extract({json_col}, '{jp}') END")
        elif spec.exact:
            parts.append(exact_sql(json_col, jp))
        else:
            parts.append(f"json_extract({json_col}, '{jp}')")
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def regexp(pattern: str, value: Any) -> bool:
    """SQLite's ``regexp(pattern, value)`` (registered on reading connections)."""
    if not isinstance(value, str):
        return False
    return cached_regex(pattern).search(value) is not None


_REGEX_CACHE: dict[str, re.Pattern] = {}


def cached_regex(pattern: str) -> re.Pattern:
    """``pattern`` compiled as the filters read it (ASCII case ignored), from a small cache."""
    compiled = _REGEX_CACHE.get(pattern)
    if compiled is None:
        if len(_REGEX_CACHE) > 64:
            _REGEX_CACHE.clear()
        # ASCII case folding, like LIKE and NOCASE: the same answer in SQL and in Python.
        compiled = _REGEX_CACHE[pattern] = re.compile(pattern, re.IGNORECASE | re.ASCII)
    return compiled
