"""CSV: one row a record, nested fields as dotted columns (the window's columns by default)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

import orjson

from app.export.common import ExportOptions, RowSource, rows_of
from app.records.columns import RECORD_TABS, Column
from app.records.shape import JsonFloat, first_wins, parse_record, replace_lone_surrogates

_CSV_FLUSH_ROWS = 500
_BOM = b"\xef\xbb\xbf"


class _Number(str):
    """A JSON number token, kept as spelt (``1.50`` stays ``1.50``)."""

    __slots__ = ()


_DECODER = json.JSONDecoder(parse_float=_Number, parse_int=_Number, parse_constant=_Number,
                            object_pairs_hook=first_wins)
_load = _DECODER.decode


def _flatten(value: dict | list, prefix: str, out: dict[str, str]) -> None:
    # Hot: a million records go through here twice for one export, hence type() and no
    # helper calls for the common leaves.
    for key, item in value.items() if type(value) is dict else enumerate(value):
        kind = type(item)
        if kind is str or kind is _Number:
            out[prefix + str(key)] = item
        elif kind is dict or kind is list:
            if item:
                _flatten(item, f"{prefix}{key}.", out)
            else:
                out[prefix + str(key)] = "{}" if kind is dict else "[]"
        else:
            out[prefix + str(key)] = _cell(item)


def _cell(value: Any) -> str:
    if isinstance(value, str):  # strings and number tokens (_Number) as they are
        return str(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))  # {} and []


def flatten(text: str) -> dict[str, str]:
    """A record's JSON text as ``{dotted path: cell text}`` (list items by index): strings and
    number tokens as spelt, true/false, null as empty, an empty container as ``{}``/``[]``."""
    value = _load(text)
    out: dict[str, str] = {}
    if isinstance(value, (dict, list)) and value:
        _flatten(value, "", out)
    else:
        out[""] = _cell(value)
    return out


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def neutralise(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection): a leading ``'``
    before ``= + - @``, tab or carriage return; a plain (negative) number stays a number."""
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _natural(path: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in path.split("."))


def csv_columns(paths: Iterable[str], families: Iterable[str]) -> list[str]:
    """The order of the record columns: the record's own ``id``, the paths of the families'
    columns in ``app.records.columns.RECORD_TABS`` (tab by tab, column by column), then the
    others sorted."""
    present = set(paths)
    seen_families = set(families)
    ordered: list[str] = ["id"] if "id" in present else []  # the record's own id first
    for tab in RECORD_TABS:
        if not seen_families.intersection(tab.families):
            continue
        for column in tab.columns:
            for path in column.paths:
                dotted = ".".join(str(step) for step in path)
                if dotted in present and dotted not in ordered:
                    ordered.append(dotted)
    chosen = set(ordered)
    return ordered + sorted((p for p in present if p not in chosen), key=_natural)


# This capture's numbers (the record's, its request's) and the family; the record's own
# (1NCE) id is the column ``id``, first of the record's columns.
_FIXED = ("record", "request", "family")


def _column_names(paths: list[str]) -> list[str]:
    """Header names: the dotted paths, except that a path named like one of the fixed columns
    becomes ``record_<path>`` (``record`` itself: ``record_record``)."""
    taken = set(paths) | set(_FIXED)
    names = []
    for path in paths:
        name = path
        if name in _FIXED:
            while name in taken:
                name = f"record_{name}"
            taken.add(name)
        names.append(name)
    return names


def write_csv(source: RowSource, out: BinaryIO, options: ExportOptions) -> int:
    """One row a record: ``record`` and ``request`` (this capture's numbers of the record and
    of the request it came in), ``family``, then the record's columns, each named by its JSON
    path, the record's own (1NCE) ``id`` first.

    By default the columns are the id and those of the record tables in the window
    (``app.records.columns``), for the families present (``event_type.description``): one
    fast pass over the JSON.
    With ``csv_all_fields``, every JSON path of every record becomes a dotted column (lists
    by index): two passes, the first to find the paths.
    """
    if not callable(source) and iter(source) is source:
        raise TypeError("CSV reads its rows twice: pass a callable that returns the rows")
    if options.csv_all_fields:
        return _write_csv_all_fields(source, out, options)
    transform = options.transform
    json_safe = getattr(transform, "json_safe", False)
    families = (set(options.families) if options.families is not None
                else {row.family for row in rows_of(source)})
    columns = _family_columns(families)
    if options.csv_bom and options.csv_header:
        out.write(_BOM)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=options.csv_delimiter)
    names = _column_names([".".join(map(str, c.paths[0])) for c in columns])
    if options.csv_header:
        writer.writerow([*_FIXED, *(neutralise(name) for name in names)])
    count = 0
    loads = parse_record  # the one reading: big integers exact, a duplicate key's first value
    getters = [c.value for c in columns]
    compiled: dict[str, Callable] = {}
    for row in rows_of(source):
        text = transform(row.text) if json_safe else row.text
        try:
            record = loads(text)
        except ValueError:
            record = None
        if type(record) is not dict:
            record = {}
        getter = compiled.get(row.family)
        if getter is None:
            getter = compiled[row.family] = _compile_row(columns, row.family)
        try:
            values = [(neutralise(v) if v[:1] in _FORMULA_FIRST else v) if type(v) is str
                      else _cell_text(v) for v in getter(record)]
        except AttributeError:  # an unexpected type on a path: the careful way
            values = [_cell_text(get(record)) if _applies(c, row.family) else ""
                      for get, c in zip(getters, columns, strict=True)]
            values = [neutralise(v) if v[:1] in _FORMULA_FIRST else v for v in values]
        if transform is not None and not json_safe:
            values = [neutralise(t) if (t := transform(v))[:1] in _FORMULA_FIRST else t
                      for v in values]
        writer.writerow([row.id, row.request_id, row.family, *values])
        count += 1
        if count % _CSV_FLUSH_ROWS == 0:
            _drain(buf, out)
    _drain(buf, out)
    return count


_FORMULA_FIRST = frozenset("=+-@\t\r")


def _drain(buf: io.StringIO, out: BinaryIO) -> None:
    """Move the CSV text gathered so far to ``out`` (rows are written in batches); a lone
    surrogate (legal in JSON, impossible in UTF-8) is written as U+FFFD."""
    text = buf.getvalue()
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        data = replace_lone_surrogates(text).encode("utf-8")
    out.write(data)
    buf.seek(0)
    buf.truncate()


RECORD_ID = Column("id", "Id", (("id",),))
"""The record's own id (1NCE's, unique within its family): a column of every family's."""


def _family_columns(families: set[str]) -> list:
    """The record's own id, then the window's columns (``app.records.columns``) of these
    families, each JSON path once."""
    out = [RECORD_ID]
    seen: set[tuple] = {RECORD_ID.paths[0]}
    for tab in RECORD_TABS:
        if not families.intersection(tab.families):
            continue
        for column in tab.columns:
            if column.paths[0] not in seen and column.name != "keys":
                seen.add(column.paths[0])
                out.append(column)
    return out


def _compile_row(columns: list, family: str) -> Callable[[dict], tuple]:
    """A function reading this family's columns from a parsed record in one go (other
    families' columns are empty): the per-record work of a CSV export, kept in bytecode."""
    own = {c.paths[0]: c for tab in RECORD_TABS if family in tab.families for c in tab.columns}
    own[RECORD_ID.paths[0]] = RECORD_ID
    exprs = [value_expr(own[shown.paths[0]]) if shown.paths[0] in own else "''"
             for shown in columns]
    return eval(f"lambda r: ({', '.join(exprs)},)", {"E": _EMPTY})


def value_expr(column) -> str:
    """Python reading ``column.value(r)`` of a parsed record ``r`` (a dict), for compiled
    readers: needs ``E`` bound to an empty dict (and uses the name ``v``); raises
    AttributeError where a path meets a value that is neither a dict nor None (then read
    with ``column.value``)."""
    alternatives = []
    for path in column.paths:
        expr = "r"
        for n, step in enumerate(path):
            expr = f"{expr}.get({step!r})" if n == len(path) - 1 else \
                f"({expr}.get({step!r}) or E)"
        alternatives.append(expr)
    code = alternatives[-1]
    for alt in reversed(alternatives[:-1]):
        code = f"(v if (v := {alt}) is not None else {code})"
    return code


_EMPTY: dict = {}


def _applies(column, family: str) -> bool:
    return column is RECORD_ID or any(family in tab.families and any(c.paths[0] == column.paths[0]
                                              for c in tab.columns) for tab in RECORD_TABS)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return str(value)
    if kind is float or kind is JsonFloat:
        return repr(value)  # a JsonFloat's repr is its spelling (1e400)
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # a big integer, a lone surrogate, 1e400 inside: the exact writer
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _write_csv_all_fields(source: RowSource, out: BinaryIO, options: ExportOptions) -> int:
    transform = options.transform
    json_safe = getattr(transform, "json_safe", False)
    paths: set[str] = set()
    families: set[str] = set()
    for row in rows_of(source):
        paths.update(flatten(transform(row.text) if json_safe else row.text))
        families.add(row.family)
    columns = csv_columns(paths, families)
    if options.csv_bom:
        out.write(_BOM)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=options.csv_delimiter)
    writer.writerow([*_FIXED, *(neutralise(name) for name in _column_names(columns))])
    count = 0
    for row in rows_of(source):
        get = flatten(transform(row.text) if json_safe else row.text).get
        values = [get(c, "") for c in columns]
        if transform is not None and not json_safe:
            values = [transform(v) if v else v for v in values]
        writer.writerow([row.id, row.request_id, row.family,
                         *(neutralise(v) if v.startswith(_FORMULA_START) else v
                           for v in values)])
        count += 1
        if count % _CSV_FLUSH_ROWS == 0:
            _drain(buf, out)
    _drain(buf, out)
    return count

