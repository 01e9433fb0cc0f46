"""How a parsed filter runs: compiled to SQL once per half of the capture (the indexed records
on ``record_index``, narrow rows: fast; the ones not indexed yet on their JSON), or evaluated in
Python on a parsed record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from app.filters.nodes import (
    FAMILY_JSON,
    And,
    Compare,
    Everything,
    Meta,
    Node,
    Not,
    Or,
    SqlContext,
    Text,
    Truthy,
)

INDEXED_UPTO = "(SELECT coalesce(max(id), 0) FROM record_index)"


@dataclass
class Filter:
    """A parsed filter, ready to compile (``where``) or to evaluate (``matches``)."""

    text: str
    root: Node
    table: str = "records"
    # what the parser found doubtful but allowed: a dotted path no record of the capture has
    warnings: list[str] = field(default_factory=list, compare=False)

    @property
    def is_empty(self) -> bool:
        return isinstance(self.root, Everything)

    def where(self, now: dt.datetime | None = None, mode: str = "json", ledger: bool = True,
              targets: bool = True) -> tuple[str, list[Any]]:
        """The WHERE fragment and its parameters. ``ledger``: the capture has format 6's
        acknowledgements and redelivery ledger (``app.capture.schema.has_ledger``); an older
        one reads acked as status 200 and the ledger's fields as NULL. ``targets``: it has
        format 7's request targets (``has_targets``); an older one reads a request's target
        as its path and query."""
        ctx = SqlContext(self.table, now, mode=mode, ledger=ledger, targets=targets)
        return self.root.sql(ctx), ctx.params

    @property
    def reads_ledger(self) -> bool:
        """Whether it reads acknowledgements or the redelivery ledger, which change after a
        record arrived (a delayed 200, a later arrival of the same id)."""
        return _reads_ledger(self.root)

    @property
    def reads_json(self) -> bool:
        """Whether even indexed records need their JSON (text search, paths)."""
        return _reads_json(self.root)

    @property
    def fields(self) -> frozenset[str] | None:
        """The named fields it reads (``family`` for the record family), or None when it reads
        anything else too: text, a JSON path, the request, the ledger, ``last``. A filter
        naming only fields a rollup keeps can be counted on the rollup
        (:mod:`app.capture.stats`)."""
        return _fields(self.root)

    def record_query(self, families: tuple[str, ...] | None, after: int = 0,
                     upto: int | None = None, now: dt.datetime | None = None,
                     ledger: bool = True) -> tuple[str, list[Any]]:
        """SQL selecting the ids of records in (after, upto] of ``families`` that pass.

        Indexed records are filtered on ``record_index`` (narrow rows: fast), the ones the
        receiver has not indexed yet on their JSON; the same filter, compiled twice.
        ``ledger``: as for :meth:`where`.
        """
        upto = 2**62 if upto is None else upto
        params: list[Any] = []
        fams = ""
        if families:
            fams = f" IN ({', '.join('?' * len(families))})"
        where_index, p_index = self.where(now, "index", ledger)
        join = " JOIN record AS r ON r.id = k.id" if self.reads_json else ""
        part_index = (f"SELECT k.id AS id FROM record_index AS k{join} WHERE k.id > ? "
                      f"AND k.id <= ?" + (f" AND k.family{fams}" if fams else "")
                      + f" AND {where_index}")
        params += [after, upto, *(families or ()), *p_index]
        where_json, p_json = self.where(now, "json", ledger)
        part_json = (f"SELECT r.id AS id FROM record AS r WHERE r.id > max(?, {INDEXED_UPTO}) "
                     f"AND r.id <= ?" + (f" AND {FAMILY_JSON}{fams}" if fams else "")
                     + f" AND {where_json}")
        params += [after, upto, *(families or ()), *p_json]
        return f"{part_index} UNION ALL {part_json} ORDER BY id", params

    def matches(self, record: Any, meta: Meta | None = None) -> bool:
        return bool(self.root.matches(record, meta or Meta()))


def _reads_json(node: Node) -> bool:
    if isinstance(node, Text):
        return True
    if isinstance(node, (And, Or)):
        return _reads_json(node.left) or _reads_json(node.right)
    if isinstance(node, Not):
        return _reads_json(node.inner)
    if isinstance(node, (Compare, Truthy)):
        return node.ref.reads_json
    return False


def _fields(node: Node) -> frozenset[str] | None:
    if isinstance(node, Everything):
        return frozenset()
    if isinstance(node, (And, Or)):
        left, right = _fields(node.left), _fields(node.right)
        return None if left is None or right is None else left | right
    if isinstance(node, Not):
        return _fields(node.inner)
    if isinstance(node, (Compare, Truthy)) and node.ref.kind in ("field", "family"):
        return frozenset((node.ref.name,))
    return None


def _reads_ledger(node: Node) -> bool:
    if isinstance(node, (And, Or)):
        return _reads_ledger(node.left) or _reads_ledger(node.right)
    if isinstance(node, Not):
        return _reads_ledger(node.inner)
    if isinstance(node, (Compare, Truthy)):
        return node.ref.kind == "ledger" or (node.ref.kind == "request"
                                             and node.ref.name == "acked")
    return False
