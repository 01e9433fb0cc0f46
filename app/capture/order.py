"""Sorting a table of the capture by one column, in SQL: the ids of its rows in that order.

Qt-free; the window's reader thread runs it when a header is clicked. The whole sort is one
``ORDER BY`` in SQLite over ``record_index`` (narrow rows, the key fields as stored) — the
records the receiver has not indexed yet read the same field from their JSON — and the ids come
back as one JSON array (``json_group_array``) rather than a Python object per row: about 0.6 s
for 1,000,000 records (``benchmarks/sorting.py``).

The order a column sorts in is the order its values mean, not the text a cell shows:

- times by the instant (ISO texts with any offset and epoch seconds or milliseconds alike;
  a value no clock reads sorts before the readable ones, by its text);
- numbers numerically (SQLite's order: numbers, then texts);
- severity by rank (INFO, WARN, ERROR, CRITICAL, then anything else by its text);
- everything else as SQLite compares the values (texts by their bytes).

Ties keep the arrival order (the id), both ways, so a sort is stable and repeatable.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import orjson

from app.capture.schema import has_ledger, has_targets
from app.db import sqlite3
from app.filters.nodes import FAMILY_JSON
from app.records.columns import RECORD_TABS, Column
from app.records.fields import (
    FIELDS,
    field_sql,
    index_column,
    json_path,
    sort_key_sql,
    time_key_sql,
)

TAB_COLUMNS = {tab.key: tab for tab in RECORD_TABS}

# The Requests table's columns (app.ui.reader.REQUEST_HEADERS) and what each sorts by.
# Time sorts by when each arrived (an imported request keeps the time it was first received).
REQUEST_SORT = {
    "Time": "q.received_at", "Peer": "q.peer", "Method": "q.method", "Path": "{target}",
    "Status": "q.status", "Records": "q.record_count", "Size": "q.body_size",
    "Duration": "q.duration_ms", "Auth": "q.auth", "Problems": "q.problems",
}

@dataclass(frozen=True)
class SortKey:
    """One table's order: which column (its name, or a Requests header) and which way."""

    table: str
    column: str
    descending: bool = False


class SortError(ValueError):
    """A column that cannot be sorted (no value in the record's JSON, e.g. Keys)."""


def record_column(table: str, name: str) -> Column | None:
    """A record tab's column by name (the "Seen" column included), or None."""
    tab = TAB_COLUMNS.get(table)
    if tab is None:
        return None
    return next((c for c in tab.view_columns if c.name == name), None)


def sortable(table: str, name: str) -> bool:
    """Whether the column ``name`` of ``table`` can be sorted."""
    if table == "requests":
        return name in REQUEST_SORT
    column = record_column(table, name)
    if column is None:
        return False
    if (table, name) in UNSORTABLE:
        return False
    return column.kind == "ledger" or bool(column.paths)


UNSORTABLE = {("other", "keys")}  # the list of a record's keys: no value to sort by


def _key_expression(column: Column, value: str) -> str | None:
    """The key SQL ordering ``value`` (the column's raw value) before itself, or None."""
    if column.kind == "time":
        return time_key_sql(value)
    return sort_key_sql(column.filter_field, value)


def _indexed_field(column: Column) -> str | None:
    """The ``record_index`` column holding the value this column sorts by: that of the field
    the column names (the one "filter on this value" uses), when the index stores it."""
    if column.filter_field == "family":
        return "family"
    field = FIELDS.get(column.filter_field)
    if field is None or not field.indexed:
        return None
    return index_column(field.name)


def _json_value(column: Column, json_col: str = "r.json") -> str:
    """The column's value read from the record's JSON (its paths, first present wins)."""
    if column.filter_field == "family":
        return FAMILY_JSON
    field = FIELDS.get(column.filter_field)
    if field is not None and field.indexed:
        return field_sql(field.name, json_col)  # as the index stores it
    parts = [f"json_extract({json_col}, '{json_path(p)}')" for p in column.paths]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def record_sort_sql(table: str, name: str, descending: bool, upto: int,
                    ledger: bool = True) -> tuple[str, list]:
    """The query giving, as one JSON array, the ids (up to ``upto``) of a record tab's rows
    ordered by the column ``name``; and its parameters."""
    tab = TAB_COLUMNS.get(table)
    column = record_column(table, name)
    if tab is None or column is None or not sortable(table, name):
        raise SortError(f"The {name!r} column cannot be sorted.")
    families = tab.families
    marks = ", ".join("?" * len(families))
    direction = " DESC" if descending else ""
    params: list = []
    if column.kind == "ledger":
        if not ledger:
            raise SortError("This capture has no redelivery ledger to sort by (it is older "
                            "than format 6).")
        # How often its family and id arrived, then which arrival it is; a record without an
        # id (or not in the ledger yet) sorts first.
        inner = (f"SELECT k.id AS id, rk.seen AS v, s.attempt AS w FROM record_index AS k "
                 f"LEFT JOIN record_seen AS s ON s.id = k.id "
                 f"LEFT JOIN record_key AS rk ON rk.first = s.first "
                 f"WHERE k.family IN ({marks}) AND k.id <= ?")
        params += [*families, upto]
        order = f"v{direction}, w{direction}, id{direction}"
        return f"SELECT json_group_array(id) FROM ({inner} ORDER BY {order})", params
    indexed = _indexed_field(column)
    if indexed is not None:
        value = f'k."{indexed}"'
        part_index = "FROM record_index AS k WHERE k.family IN ({marks}) AND k.id <= ?"
    else:
        value = _json_value(column)
        part_index = ("FROM record_index AS k JOIN record AS r ON r.id = k.id "
                      "WHERE k.family IN ({marks}) AND k.id <= ?")
    tail = _json_value(column)
    part_json = ("FROM record AS r WHERE r.id > (SELECT coalesce(max(id), 0) FROM record_index) "
                 "AND r.id <= ? AND {family} IN ({marks})")
    params += [*families, upto, upto, *families]
    key, tail_key = _key_expression(column, value), _key_expression(column, tail)
    # One compound query ordered by its result columns: SQLite orders each part on its own
    # and merges them, so the indexed part is read in the order of its index (format 8), with
    # no sort step, and only the records not indexed yet are sorted.
    if key:
        select = f"SELECT k.id AS id, {key} AS s, {value} AS v " + part_index
        tail_select = f"SELECT r.id AS id, {tail_key} AS s, {tail} AS v " + part_json
        order = f"s{direction}, v{direction}, id{direction}"
    else:
        select = f"SELECT k.id AS id, {value} AS v " + part_index
        tail_select = f"SELECT r.id AS id, {tail} AS v " + part_json
        order = f"v{direction}, id{direction}"
    compound = (f"{select} UNION ALL {tail_select} ORDER BY {order}"
                .replace("{marks}", marks).replace("{family}", FAMILY_JSON))
    return f"SELECT json_group_array(id) FROM ({compound})", params


def request_sort_sql(header: str, descending: bool, upto: int,
                     targets: bool = True) -> tuple[str, list]:
    """The query giving the ids of the requests (up to ``upto``) ordered by the Requests
    table's column ``header``, as one JSON array; and its parameters."""
    expression = REQUEST_SORT.get(header)
    if expression is None:
        raise SortError(f"The {header!r} column cannot be sorted.")
    expression = expression.replace(
        "{target}", "coalesce(q.target, q.path)" if targets else "q.path")
    direction = " DESC" if descending else ""
    return (f"SELECT json_group_array(id) FROM (SELECT q.id AS id FROM request AS q "
            f"WHERE q.id <= ? ORDER BY {expression}{direction}, q.id{direction})", [upto])


def sorted_ids(db: sqlite3.Connection, key: SortKey, ids: array) -> array:
    """``ids`` (one table's rows, ascending) in the order ``key`` names.

    One query sorts every row of the table up to the last of ``ids``; when ``ids`` is only
    some of them (a filter), the others are dropped from the answer, keeping its order.
    """
    if not ids:
        return array("q")
    upto = ids[-1]
    if key.table == "requests":
        sql, params = request_sort_sql(key.column, key.descending, upto, has_targets(db))
    else:
        sql, params = record_sort_sql(key.table, key.column, key.descending, upto,
                                      has_ledger(db))
    text = db.execute(sql, params).fetchone()[0]
    ordered = orjson.loads(text) if text else []
    if len(ordered) != len(ids):  # a filtered table: keep the rows it shows
        shown = set(ids)
        ordered = [i for i in ordered if i in shown]
        if len(ordered) != len(ids):  # rows the capture no longer holds: never lose a row
            missing = shown.difference(ordered)
            ordered.extend(i for i in ids if i in missing)
    return array("q", ordered)
