"""``streamer-inspector stats CAPTURE [--filter EXPR] [--by FIELD[,FIELD]] [--every 1h] [--json]``:
records, data MB, SMS and cost of a capture (:mod:`app.capture.stats`), as an aligned table or
as JSON data. What each measure counts: ``docs/stats.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from app.display import printable

NO_CURRENCY = "none"  # the cost of records that name no currency (JSON: cost_by_currency key)


@dataclass
class Group:
    """One line of the output: a group's measures with its cost per currency."""

    key: tuple
    bucket: str | None
    records: int = 0
    data_mb: float = 0.0
    sms: float = 0.0
    cost: dict[str, float] = field(default_factory=dict)  # currency -> sum
    unreadable: int = 0

    def add(self, records: int, data_mb: float, sms: float, cost: float | None,
            currency: Any, unreadable: int) -> None:
        self.records += records
        self.data_mb += data_mb
        self.sms += sms
        self.unreadable += unreadable
        if cost is not None:
            name = NO_CURRENCY if currency is None else str(currency)
            self.cost[name] = self.cost.get(name, 0.0) + cost

    def measure(self, name: str) -> float:
        if name == "cost":
            return sum(self.cost.values()) if self.cost else -math.inf
        return getattr(self, name)

    def as_json(self, by: tuple[str, ...]) -> dict:
        out: dict[str, Any] = dict(zip(by, self.key, strict=True))
        if self.bucket is not None:
            out["bucket"] = self.bucket
        costs = {c: float(cost_text(v)) for c, v in sorted(self.cost.items())}
        out.update(records=self.records, data_mb=float(fixed(self.data_mb, 6)),
                   sms=float(count_text(self.sms)),
                   cost=next(iter(costs.values())) if len(costs) == 1 else None,
                   cost_by_currency=costs, unreadable=self.unreadable)
        return out


def run_stats(args: argparse.Namespace, parse_filter: Callable) -> int:
    """Run the ``stats`` command (``parse_filter``: the command line's ``--filter`` reader,
    which prints its own error); 2 for bad options or an unreadable capture."""
    from app.capture.schema import CaptureError, open_reader
    from app.capture.stats import BY_FIELDS, parse_every, record_stats
    from app.filters.known import CaptureNames

    by = tuple(name.strip() for name in args.by.split(",") if name.strip()) or ("family",)
    bad = [name for name in by if name not in BY_FIELDS]
    if bad or len(set(by)) < len(by):
        what = (f"cannot group by {printable(bad[0])!r}" if bad
                else "a field is named twice")
        return _error(f"bad --by: {what}; choose from {', '.join(BY_FIELDS)}")
    every = None
    if args.every:
        try:
            every = parse_every(args.every)
        except ValueError as exc:
            return _error(f"bad --every: {printable(str(exc))}")
    if args.top < 0:
        return _error("bad --top: give a number of groups, 1 or more (0: all)")
    if parse_filter(args.filter) is None:  # a filter that cannot be read: before the file
        return 2
    try:
        db = open_reader(args.capture)
    except CaptureError as exc:
        return _error(str(exc))
    try:
        flt = parse_filter(args.filter, CaptureNames(db)) if args.filter else parse_filter("")
        if flt is None:
            return 2
        query_by = by if "currency" in by else (*by, "currency")
        table = record_stats(db, flt, query_by, every)
    finally:
        db.close()
    groups = _fold(table, by, query_by)
    total = _total(groups)  # of every group, also those --top leaves out
    groups = _order(groups, args.sort, args.top)
    if args.json:
        print(_dumps(_as_json(args, by, every, groups, total, table)))
    else:
        print(format_stats(args.capture, args.filter, by, args.every if every else None,
                           groups, total, table.unreadable))
    return 0


def _dumps(data: dict) -> str:
    """JSON text of ``data``, indented: by orjson (``stats --by iccid --every 1h`` on a million
    records gives a few hundred thousand groups: 0.8 s with the standard library's json);
    by json for what orjson refuses (a lone surrogate from the wire, an integer beyond 64
    bits), and when a sum is infinite or NaN (orjson would write null, silently): json writes
    it as before (``Infinity``). The totals add up every row, so one such row makes them so."""
    totals = data["totals"]
    sums = [totals["data_mb"], totals["sms"], *totals["cost_by_currency"].values()]
    if not all(math.isfinite(v) for v in sums if isinstance(v, float)):
        return json.dumps(data, indent=2, ensure_ascii=False)
    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(data, indent=2, ensure_ascii=False)


def _error(text: str) -> int:
    print(f"streamer-inspector: error: {text}", file=sys.stderr)
    return 2


def _fold(table, by: tuple[str, ...], query_by: tuple[str, ...]) -> list[Group]:
    """The rows of ``table`` (grouped by ``query_by``: ``by`` and the currency) as groups of
    ``by``, each with its cost per currency."""
    where = query_by.index("currency")
    picks = [query_by.index(name) for name in by]
    groups: dict[tuple, Group] = {}
    for row in table.rows:
        key = tuple(row.key[i] for i in picks)
        group = groups.get((key, row.bucket))
        if group is None:
            group = groups[(key, row.bucket)] = Group(key, row.bucket)
        group.add(row.records, row.data_mb, row.sms, row.cost, row.key[where], row.unreadable)
    return list(groups.values())


def _order(groups: list[Group], sort: str, top: int) -> list[Group]:
    """By bucket, then largest ``sort`` first (ties: more records, then the key); the ``top``
    of each bucket when given."""
    groups = sorted(groups, key=lambda g: (g.bucket or "", -g.measure(sort), -g.records,
                                           tuple(printable(str(v)) for v in g.key)))
    if top:
        counted: dict[str | None, int] = {}
        kept = []
        for group in groups:
            counted[group.bucket] = counted.get(group.bucket, 0) + 1
            if counted[group.bucket] <= top:
                kept.append(group)
        groups = kept
    return groups


def _total(groups: list[Group]) -> Group:
    total = Group((), None)
    for g in groups:
        total.records += g.records
        total.data_mb += g.data_mb
        total.sms += g.sms
        total.unreadable += g.unreadable
        for currency, value in g.cost.items():
            total.cost[currency] = total.cost.get(currency, 0.0) + value
    return total


def _as_json(args, by, every, groups: list[Group], total: Group, table) -> dict:
    from app.capture.stats import format_every

    return {"capture": str(args.capture), "filter": args.filter or None, "by": list(by),
            "every": format_every(every) if every else None, "every_seconds": every,
            "sort": args.sort, "top": args.top or None,
            "rows": [g.as_json(by) for g in groups],
            "totals": total.as_json(()), "unreadable": table.unreadable,
            "through": table.through}


# ---------------------------------------------------------------------------------------------
# The table for people


def fixed(value: float, decimals: int) -> str:
    """``value`` with ``decimals`` decimals, or all its digits when those would round some
    away (beyond the noise of summing floats)."""
    text = f"{value:.{decimals}f}"
    if abs(float(text) - value) > 1e-12 * max(1.0, abs(value)):
        return repr(float(value))
    return text


def count_text(value: float) -> str:
    """An SMS count: an integer as one, anything else with all its digits."""
    if math.isfinite(value) and float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def cost_text(value: float) -> str:
    """A cost: up to the 10 decimals records carry (DECIMAL(14,10)), trailing zeros dropped
    down to 2, never rounded away."""
    text = fixed(value, 10)
    if "." in text and "e" not in text:
        whole, frac = text.split(".")
        text = f"{whole}.{frac.rstrip('0').ljust(2, '0')}"
    return text


def key_text(name: str, value: Any) -> str:
    """A ``by`` value for people: ``(none)`` for a missing one, a RAT with its name."""
    from app.capture.stats import RAT_NAMES

    if value is None:
        return "(none)"
    if name == "rat" and type(value) is int and value in RAT_NAMES:
        return f"{value} ({RAT_NAMES[value]})"
    if name == "alert" and value in (0, 1) and type(value) is int:
        return "true" if value else "false"
    text = printable(str(value))
    return text.replace("\t", "\u2409").replace("\n", "\u240a")


def _align_decimals(rows: list[list[str]], column: int) -> None:
    """Pad the plain decimals of one column with zeros to the same number of places."""
    plain = [row for row in rows if _DECIMAL.fullmatch(row[column])]
    most = max((len(row[column].partition(".")[2]) for row in plain), default=0)
    for row in plain:
        whole, _, frac = row[column].partition(".")
        row[column] = f"{whole}.{frac.ljust(most, '0')}" if most else whole


_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_TITLES = {"event_type": "Event type", "type_id": "Type id", "iccid": "ICCID", "imsi": "IMSI",
           "msisdn": "MSISDN", "imei": "IMEI", "rat": "RAT", "ratezone": "Rate zone"}


def format_stats(path: Path, filter_text: str, by: tuple[str, ...], every: str | None,
                 groups: list[Group], total: Group, unreadable: int) -> str:
    """The groups as an aligned table, units in its header, a total line under it."""
    currencies = sorted(total.cost, key=lambda c: (c == NO_CURRENCY, c))
    cost_titles = ([f"Cost ({c})" if c != NO_CURRENCY else "Cost (no currency)"
                    for c in currencies] or ["Cost"])
    titles = ([*(["Bucket (UTC)"] if every else []),
               *(_TITLES.get(n, n.replace("_", " ").capitalize()) for n in by),
               "Records", "Data (MB)", "SMS", *cost_titles])
    numeric_from = len(titles) - 3 - len(cost_titles)

    def cells(g: Group, label: list[str]) -> list[str]:
        costs = [cost_text(g.cost[c]) if c in g.cost else "-" for c in currencies] or ["-"]
        return [*label, str(g.records), fixed(g.data_mb, 6), count_text(g.sms), *costs]

    lines = [[*([g.bucket or "(no time)"] if every else []),
              *(key_text(n, v) for n, v in zip(by, g.key, strict=True))] for g in groups]
    body = [cells(g, label) for g, label in zip(groups, lines, strict=True)]
    total_cells = cells(total, ["Total", *([""] * (numeric_from - 1))])
    for column in range(len(titles) - len(cost_titles), len(titles)):  # decimals aligned
        _align_decimals([row for row in (*body, total_cells)], column)
    widths = [max(len(row[i]) for row in (titles, *body, total_cells))
              for i in range(len(titles))]

    def line(row: list[str]) -> str:
        return "  ".join(text.rjust(w) if i >= numeric_from else text.ljust(w)
                         for i, (text, w) in enumerate(zip(row, widths, strict=True))).rstrip()

    head = [f"Capture {printable(str(path))}"]
    if filter_text:
        head.append(f"Filter: {printable(filter_text)}")
    if every:
        head.append(f"Every {every} of the record's time (buckets start in UTC)")
    rule = "  ".join("-" * w for w in widths)
    out = [*head, "", line(titles), rule, *(line(row) for row in body), rule, line(total_cells)]
    if not groups:
        out.insert(len(head) + 3, "(no records)")
    if unreadable:
        out.append(f"\n{unreadable} record{'' if unreadable == 1 else 's'} with a volume or "
                   f"cost that is not a number: not summed (docs/stats.md)")
    return "\n".join(out)
