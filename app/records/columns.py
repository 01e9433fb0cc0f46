"""The columns a 1NCE user looks for, per record family: names, titles and where the value is.

Qt-free: the window's tables show them, the filter language names them, exports use them.
A column reads a path into the parsed record (first non-missing alternative wins) and renders
it as text the way the record spells it. Records are parsed with :func:`app.records.parse_record`
(integers of any size exact, a duplicate key's first value, as SQLite reads it); a lone surrogate,
which no screen or UTF-8 file can show, is rendered as U+FFFD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.display import scalar_text
from app.records.cells import (
    Cell,
    payload_cell,
    severity_cell,
    time_cell,
    volume_cell,
)
from app.records.fields import FIELDS, MISSING, lookup, parse_path
from app.records.shape import replace_lone_surrogates

Path = tuple[str | int, ...]


def cell_text(value: Any) -> str:
    """A value as a table cell shows it: empty when missing or null, else :func:`scalar_text`."""
    if value is MISSING or value is None:
        return ""
    return scalar_text(value)


@dataclass(frozen=True)
class Column:
    """One table column: filter name, header title, value paths, and how to render it."""

    name: str
    title: str
    paths: tuple[Path, ...]
    kind: str = "text"  # text | number | time | bool | ledger (not from the JSON)
    render: Callable[[Any, dict], str] | None = None
    width: int = 110
    field: str | None = None  # the filter field for "filter on this value" (default: name)
    show: Callable[[Any, dict], Cell] | None = None  # the window's cell (default: as render)

    @property
    def filter_field(self) -> str:
        return self.field or self.name

    def value(self, record: dict) -> Any:
        for path in self.paths:
            value = lookup(record, path)
            if value is not MISSING and value is not None:
                return value
        return None

    def text(self, record: dict) -> str:
        value = self.value(record)
        if self.render is not None:
            return replace_lone_surrogates(self.render(value, record))
        return replace_lone_surrogates(cell_text(value))

    @property
    def right_aligned(self) -> bool:
        """Numbers are right-aligned in the window's tables (their decimals line up)."""
        return self.kind == "number"

    def cell(self, record: dict, local: bool = False) -> Cell:
        """The value as the window's table shows it (:mod:`app.records.cells`): times in one
        format (``local``: in local time, else UTC), the value as sent in the tooltip."""
        if self.kind == "time":
            return time_cell(self.value(record), local)
        if self.show is not None:
            return self.show(self.value(record), record)  # plain text (cells.py)
        return Cell(self.text(record))


def col(name: str, title: str, *dotted: str, kind: str = "text", render=None,
        width: int = 110, field: str | None = None, show=None) -> Column:
    return Column(name, title, tuple(parse_path(d) for d in dotted), kind, render, width, field,
                  show)


def _alert(value: Any, _record: dict) -> str:
    return "ALERT" if value is True else ""


def _country_operator(_value: Any, record: dict) -> str:
    country = cell_text(lookup(record, ("detail", "country", "name")))
    operator = cell_text(lookup(record, ("detail", "name")))
    return " / ".join(p for p in (country, operator) if p)


def _with_unit(value: Any, unit: Any) -> str:
    """A number and its unit (when the record names one as text); empty when absent."""
    if value is None:
        return ""
    return f"{cell_text(value)} {unit}" if isinstance(unit, str) else cell_text(value)


def _volume(value: Any, record: dict) -> str:
    return _with_unit(value, "SMS" if lookup(record, ("traffic_type", "id")) == 6 else "MB")


def _cost(value: Any, record: dict) -> str:
    return _with_unit(value, lookup(record, ("currency", "code")))


def _sms_kind(_value: Any, record: dict) -> str:
    return "MO" if "payload" in record else "Delivery report"


def _keys(_value: Any, record: dict) -> str:
    return ", ".join(record) if isinstance(record, dict) else ""


EVENT_COLUMNS = (
    col("time", "Time", "timestamp", kind="time", width=180),
    col("type", "Event type", "event_type.description", width=160),
    col("severity", "Severity", "event_severity.description", width=80, show=severity_cell),
    col("alert", "Alert", "alert", kind="bool", render=_alert, width=55),
    col("iccid", "ICCID", "sim.iccid", width=160),
    col("imsi", "IMSI", "imsi.imsi", "imsi", width=130),
    col("msisdn", "MSISDN", "sim.msisdn", width=120),
    col("imei", "IMEI", "endpoint.imei", width=130),
    col("endpoint", "Endpoint", "endpoint.name", width=140),
    col("country", "Country / operator", "detail.country.name", render=_country_operator,
        width=170),
    col("description", "Description", "description", width=420),
)
USAGE_COLUMNS = (
    col("start", "Start", "start_timestamp", kind="time", width=180, field="time"),
    col("end", "End", "end_timestamp", kind="time", width=180),
    col("type", "Traffic type", "traffic_type.description", width=80),
    col("volume", "Volume", "volume.total", kind="number", render=_volume,
        show=volume_cell, width=110),
    col("rx", "Rx", "volume.rx", kind="number", render=_volume,
        show=volume_cell, width=100),
    col("tx", "Tx", "volume.tx", kind="number", render=_volume,
        show=volume_cell, width=100),
    col("iccid", "ICCID", "sim.iccid", width=160),
    col("imsi", "IMSI", "imsi", "imsi.imsi", width=130),
    col("endpoint", "Endpoint", "endpoint.name", width=140),
    col("operator", "Operator", "operator.name", width=100),
    col("country", "Country", "operator.country.name", width=100),
    col("ratezone", "Rate zone", "tariff.ratezone.name", width=150),
    col("cost", "Cost", "cost", kind="number", render=_cost, width=100),
)
SMS_COLUMNS = (
    col("time", "Submitted", "submit_date", kind="time", width=180),
    col("kind", "Kind", "payload", render=_sms_kind, width=110, field="family"),
    col("status", "Status", "status.status", width=90, field="type"),
    col("final", "Final", "final_date", kind="time", width=180, field="end"),
    col("from", "From", "source_address", width=120),
    col("to", "To", "dest_address", width=100),
    col("endpoint", "Endpoint", "endpoint.name", width=160),
    col("payload", "Payload", "payload", width=260, show=payload_cell),
    col("sms_id", "SMS id", "detail.sms.id", width=90),
)
OTHER_COLUMNS = (
    col("id", "Id", "id", width=110),
    col("time", "Time", "timestamp", "start_timestamp", "submit_date", "final_date", kind="time",
        width=180),
    col("keys", "Keys", "id", render=_keys, width=600),
)


def field_column(name: str, title: str, width: int = 110, **how) -> Column:
    """A column reading a catalogue field (:data:`app.records.fields.FIELDS`) by its paths,
    first present wins, as a filter on ``name`` reads it."""
    return col(name, title, *FIELDS[name].paths, width=width, **how)


RECORD_ID_COLUMN = col("id", "Record id", "id", width=150)
"""The record's own id (1NCE's, unique within its family; an integer of any size exact)."""

_NUMBER = {"kind": "number", "render": _volume, "show": volume_cell}
_HOW = {  # how the catalogue fields are shown when they are a tab's further column
    "time": {"kind": "time", "width": 180}, "end": {"kind": "time", "width": 180},
    "severity": {"show": severity_cell, "width": 80},
    "alert": {"kind": "bool", "render": _alert, "width": 55},
    "volume": _NUMBER, "rx": _NUMBER, "tx": _NUMBER,
    "cost": {"kind": "number", "render": _cost, "width": 100},
    "payload": {"show": payload_cell, "width": 260}, "description": {"width": 420},
    "iccid": {"width": 160}, "imsi": {"width": 130}, "imei": {"width": 130},
    "msisdn": {"width": 120}, "endpoint": {"width": 140}, "ratezone": {"width": 150},
    "rat": {"width": 55}, "session": {"width": 280}, "currency": {"width": 75},
}
_TITLES = {"time": "Time", "end": "End", "type": "Type", "type_id": "Type id",
           "severity": "Severity", "alert": "Alert", "iccid": "ICCID", "imsi": "IMSI",
           "msisdn": "MSISDN", "imei": "IMEI", "endpoint": "Endpoint", "country": "Country",
           "operator": "Operator", "volume": "Volume", "rx": "Rx", "tx": "Tx", "cost": "Cost",
           "ratezone": "Rate zone", "description": "Description", "payload": "Payload",
           "from": "From", "to": "To", "rat": "RAT", "session": "Session",
           "currency": "Currency"}


def _fields(*names: str, **titles: str) -> tuple[Column, ...]:
    return tuple(field_column(n, titles.get(n, _TITLES.get(n, n)), **_HOW.get(n, {}))
                 for n in names)


# Each tab's further columns, hidden until chosen (right-click a table's header): the record's
# own id, and the catalogue fields its families have that are not among its columns (an
# event's volume is that of a Delete PDP Context; an SMS's MSISDN is its From column).
# Exports keep to the tabs' own columns (``Tab.columns``).
EVENT_EXTRA = (RECORD_ID_COLUMN,
               *_fields("type_id", "operator", "volume", "rx", "tx", "rat", "session",
                        type_id="Event type id"))
USAGE_EXTRA = (RECORD_ID_COLUMN,
               *_fields("type_id", "msisdn", "imei", "rat", "session", "currency",
                        type_id="Traffic type id"))
SMS_EXTRA = (RECORD_ID_COLUMN, *_fields("type_id", type_id="Status id"))
OTHER_EXTRA = _fields(*(n for n in FIELDS if n not in ("id", "time")))  # any field may apply


SEEN_COLUMN = Column("seen", "Seen", (), kind="ledger", width=72)
"""How often the record (its family and id) has arrived so far, from the redelivery ledger
(``app.capture.ledger``): the window's tables show it beside the first column; it is not part
of the record, so exports leave it out."""


@dataclass(frozen=True)
class Tab:
    """A record table of the window: which families it shows and with which columns."""

    key: str
    title: str
    families: tuple[str, ...]
    columns: tuple[Column, ...]
    extra: tuple[Column, ...] = ()  # the window's further columns, hidden until chosen

    @property
    def view_columns(self) -> tuple[Column, ...]:
        """The window's columns: the record's own, with "Seen" after the first, then the
        further ones (hidden until chosen)."""
        return (self.columns[0], SEEN_COLUMN, *self.columns[1:], *self.extra)

    @property
    def hidden(self) -> frozenset[str]:
        """The names of the columns hidden until the user shows them."""
        return frozenset(c.name for c in self.extra)


RECORD_TABS = (
    Tab("event", "Events", ("event",), EVENT_COLUMNS, EVENT_EXTRA),
    Tab("usage", "Usage", ("usage",), USAGE_COLUMNS, USAGE_EXTRA),
    Tab("sms", "SMS", ("sms_dr", "sms_mo"), SMS_COLUMNS, SMS_EXTRA),
    Tab("other", "Other", ("unknown",), OTHER_COLUMNS, OTHER_EXTRA),
)
