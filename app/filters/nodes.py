"""The filter language's predicates: each node says what it means twice, as SQL over the capture
(``sql``: how the window and the command line filter) and as plain Python over a parsed record
(``matches``: what the property tests hold the SQL to). Both follow the rules of
``docs/filters.md``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from app.filters.lexer import FilterError
from app.records.fields import (
    FIELDS,
    REQUEST_FIELDS,
    REQUEST_FIELDS_BEFORE_6,
    REQUEST_FIELDS_BEFORE_7,
    cached_regex,
    exact_sql,
    field_sql,
    field_value,
    index_column,
    json_path,
    lookup,
    sql_value,
)
from app.records.shape import family_sql

# A record's family and arrival time, for records the index does not hold yet: from its
# request (the family code blob) in a sub-query.
FAMILY_JSON = ("(SELECT " + family_sql("q2.families", "r.idx")
               + " FROM request AS q2 WHERE q2.id = r.request_id)")
RECEIVED_JSON = "(SELECT q2.received_at FROM request AS q2 WHERE q2.id = r.request_id)"


def ledger_sql(name: str, ctx: SqlContext) -> str:
    """SQL for a record's ledger field (``LEDGER_FIELDS``): the record's row of ``record_seen``
    (NULL when the ledger does not hold it: no id, or not covered yet) or its request's
    ``acked``. On a capture older than format 6 (``ctx.ledger`` False) acked is status 200 and
    the rest NULL."""
    rid = "k.id" if ctx.mode == "index" else "r.id"
    if name == "acked":
        acked = "q3.acked" if ctx.ledger else "(q3.status = 200)"
        if ctx.mode == "index":
            return (f"(SELECT {acked} FROM record AS r3 JOIN request AS q3 "
                    f"ON q3.id = r3.request_id WHERE r3.id = k.id)")
        return f"(SELECT {acked} FROM request AS q3 WHERE q3.id = r.request_id)"
    if not ctx.ledger:
        return "NULL"
    value = {"redelivered": "s3.attempt > 1 AND s3.conflict = 0", "conflict": "s3.conflict",
             "attempt": "s3.attempt"}.get(name)
    if value is not None:
        return f"(SELECT {value} FROM record_seen AS s3 WHERE s3.id = {rid})"
    return (f"(SELECT k3.seen FROM record_seen AS s3 JOIN record_key AS k3 "
            f"ON k3.first = s3.first WHERE s3.id = {rid})")


# ---------------------------------------------------------------------------------------------
# Values


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only: what SQLite's LIKE and NOCASE do."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(text: str) -> int | float | None:
    if not re.fullmatch(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?", text):
        return None
    try:
        value = float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return None
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return None  # beyond SQLite's integers: compare as text
    return value


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---------------------------------------------------------------------------------------------
# Nodes


@dataclass
class Meta:
    """What a record's filter sees beside its JSON: family, arrival time, its text, whether its
    request acknowledged it (1 or 0) and its place in the redelivery ledger (``seen``,
    ``attempt``, ``conflict`` 1 or 0; all None when the ledger does not hold the record, see
    :class:`app.capture.ledger.Seen`)."""

    family: str = "unknown"
    received_at: str = ""
    text: str = ""
    acked: int | None = None
    seen: int | None = None
    attempt: int | None = None
    conflict: int | None = None

    def ledger_value(self, name: str) -> int | None:
        """A ``LEDGER_FIELDS`` value, as :func:`ledger_sql` reads it."""
        if name == "redelivered":
            if self.attempt is None:
                return None
            return int(self.attempt > 1 and not self.conflict)
        return getattr(self, name)


class Node:
    """A predicate: ``sql`` builds a WHERE fragment, ``matches`` evaluates in Python."""

    def sql(self, ctx: SqlContext) -> str:
        raise NotImplementedError

    def matches(self, record: Any, meta: Meta) -> bool:
        raise NotImplementedError


@dataclass
class SqlContext:
    """Collects parameters while a filter compiles; knows which table it filters."""

    table: str = "records"  # records | requests
    now: dt.datetime | None = None
    params: list[Any] = field(default_factory=list)
    # records: "index" reads key fields from record_index (k), "json" from the JSON (r)
    mode: str = "json"
    # the capture has format 6's request.rule/acked and the redelivery ledger (has_ledger)
    ledger: bool = True
    # the capture has format 7's request.target (has_targets)
    targets: bool = True

    def param(self, value: Any) -> str:
        if isinstance(value, str) and _LONE_SURROGATE.search(value):
            # No UTF-8 holds a lone surrogate, so it cannot be bound as text; SQLite's JSON
            # functions write one as its three CESU-8 bytes: compare with those bytes as TEXT.
            self.params.append(value.encode("utf-8", "surrogatepass"))
            return "CAST(? AS TEXT)"
        self.params.append(value)
        return "?"


@dataclass
class And(Node):
    """Both sides pass (``a and b``, ``a b``)."""

    left: Node
    right: Node

    def sql(self, ctx):
        # The cheaper side first: SQLite stops at the first false term. (Both sides are
        # never NULL, so the order does not change the answer.)
        first, second = self.left, self.right
        if cost(second, ctx) < cost(first, ctx):
            first, second = second, first
        return f"({first.sql(ctx)} AND {second.sql(ctx)})"

    def matches(self, record, meta):
        return self.left.matches(record, meta) and self.right.matches(record, meta)


@dataclass
class Or(Node):
    """Either side passes (``a or b``)."""

    left: Node
    right: Node

    def sql(self, ctx):
        return f"({self.left.sql(ctx)} OR {self.right.sql(ctx)})"

    def matches(self, record, meta):
        return self.left.matches(record, meta) or self.right.matches(record, meta)


@dataclass
class Not(Node):
    """The inner test fails (``not a``)."""

    inner: Node

    def sql(self, ctx):
        return f"(NOT coalesce({self.inner.sql(ctx)}, 0))"

    def matches(self, record, meta):
        return not self.inner.matches(record, meta)


@dataclass
class Text(Node):
    """A bare word or quoted phrase: the record's text contains it, ignoring ASCII case."""

    word: str

    def sql(self, ctx):
        pattern = ctx.param(f"%{_like_escape(self.word)}%")
        if ctx.table == "requests":
            return (f"(q.path LIKE {pattern} ESCAPE '\\' OR coalesce(q.reason, '') LIKE "
                    f"{pattern} ESCAPE '\\' OR coalesce(q.problems, '') LIKE {pattern} "
                    f"ESCAPE '\\' OR q.headers LIKE {pattern} ESCAPE '\\' OR "
                    f"CAST(coalesce(q.body, (SELECT group_concat(json, ',') FROM record "
                    f"WHERE id BETWEEN q.first_record AND q.first_record + q.record_count "
                    f"- 1), '') AS TEXT) LIKE {pattern} ESCAPE '\\')")
        return f"(r.json LIKE {pattern} ESCAPE '\\')"

    def matches(self, record, meta):
        return ascii_lower(self.word) in ascii_lower(meta.text)


@dataclass
class Last(Node):
    """``last 15m``: received within the last 15 minutes."""

    seconds: int

    def cutoff(self, now: dt.datetime | None) -> str:
        now = now or dt.datetime.now(dt.UTC)
        moment = now - dt.timedelta(seconds=self.seconds)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def sql(self, ctx):
        if ctx.table == "requests":
            column = "q.received_at"
        else:
            column = "k.received" if ctx.mode == "index" else RECEIVED_JSON
        return f"({column} >= {ctx.param(self.cutoff(ctx.now))})"

    def matches(self, record, meta):
        return meta.received_at >= self.cutoff(None)


@dataclass
class Ref:
    """What a comparison reads: a named field, a dotted JSON path, or a request column."""

    name: str
    steps: tuple[str | int, ...] = ()
    kind: str = "field"  # field | path | request | family | ledger

    def sql(self, ctx: SqlContext) -> str:
        if self.kind == "request":
            if not ctx.ledger and self.name in REQUEST_FIELDS_BEFORE_6:
                return REQUEST_FIELDS_BEFORE_6[self.name]
            if not ctx.targets and self.name in REQUEST_FIELDS_BEFORE_7:
                return REQUEST_FIELDS_BEFORE_7[self.name]
            return REQUEST_FIELDS[self.name]
        if self.kind == "ledger":
            return ledger_sql(self.name, ctx)
        if self.kind == "family":
            return "k.family" if ctx.mode == "index" else FAMILY_JSON
        if self.kind == "path":
            return exact_sql("r.json", json_path(self.steps))
        if ctx.mode == "index" and FIELDS[self.name].indexed:
            return f'k."{index_column(self.name)}"'
        return field_sql(self.name)

    @property
    def reads_json(self) -> bool:
        return self.kind == "path" or (self.kind == "field" and not FIELDS[self.name].indexed)

    def value(self, record: Any, meta: Meta) -> Any:
        if self.kind == "family":
            return meta.family
        if self.kind == "ledger":
            return meta.ledger_value(self.name)
        if self.kind == "path":
            return sql_value(lookup(record, self.steps))
        if self.kind == "request":
            if not isinstance(record, dict):
                return None
            if self.name == "target" and not record.get("target"):  # stored before format 7
                query = record.get("query") or ""
                return (record.get("path") or "") + (f"?{query}" if query else "")
            return record.get(self.name)
        return field_value(record, self.name) if isinstance(record, dict) else None


@dataclass
class Truthy(Node):
    """A bare field: present and not false, zero or empty."""

    ref: Ref

    def sql(self, ctx):
        v = self.ref.sql(ctx)
        return (f"(CASE typeof({v}) WHEN 'null' THEN 0 WHEN 'text' THEN {v} <> '' "
                f"ELSE {v} <> 0 END)")

    def matches(self, record, meta):
        value = self.ref.value(record, meta)
        if value is None:
            return False
        if isinstance(value, str):
            return value != ""
        return value != 0


@dataclass
class Compare(Node):
    """``ref OP literal`` with the typing rules of docs/filters.md."""

    ref: Ref
    op: str
    literal: str
    quoted: bool = False

    def __post_init__(self) -> None:
        lowered = self.literal.lower()
        self.null = not self.quoted and lowered == "null"
        self.boolean = None if self.quoted else {"true": 1, "false": 0}.get(lowered)
        self.number = None if self.boolean is not None else _number(self.literal)
        if self.op in ("~", "!~"):
            try:
                self.regex = cached_regex(self.literal)
            except re.error as exc:
                raise FilterError(f"not a regular expression: {exc.msg}", 0) from None

    # SQL ----------------------------------------------------------------------------------

    def _eq_sql(self, v: str, ctx: SqlContext) -> str:
        if self.null:
            return f"({v} IS NULL)"
        if self.boolean is not None:
            return f"(typeof({v}) = 'integer' AND {v} = {ctx.param(self.boolean)})"
        text = f"(typeof({v}) = 'text' AND {v} = {ctx.param(self.literal)} COLLATE NOCASE)"
        if self.number is None:
            return text
        return (f"({text} OR (typeof({v}) IN ('integer', 'real') AND "
                f"{v} = {ctx.param(self.number)}))")

    def _prefilter(self, ctx: SqlContext) -> str | None:
        """A cheap necessary condition for ``path == text`` on the record's JSON text.

        Records are stored minified (json_each), so a string value equal to a plain literal
        appears as ``"key":"literal"`` (LIKE ignores ASCII case, as == does), unless the
        record writes it with \\u escapes: such records are always checked in full.
        """
        if self.null or self.boolean is not None or self.number is not None:
            return None
        steps = self.ref.steps if self.ref.kind == "path" else ()
        if not steps or not isinstance(steps[-1], str) or not _PLAIN_LITERAL.fullmatch(
                self.literal):
            return None
        pattern = ctx.param(f'%"{steps[-1]}":"{_like_escape(self.literal)}"%')
        if re.fullmatch(r"-?\d{19,}", self.literal):  # or an integer beyond 64 bits, unquoted
            bare = ctx.param(f'%"{steps[-1]}":{self.literal}%')
            pattern = f"{pattern} ESCAPE '\\' OR r.json LIKE {bare}"
        return f"(r.json LIKE {pattern} ESCAPE '\\' OR instr(r.json, '\\u') > 0)"

    def sql(self, ctx):
        v = self.ref.sql(ctx)
        op = self.op
        if op in ("==", "!="):
            pre = self._prefilter(ctx)
            eq = self._eq_sql(v, ctx)
            if pre is not None:
                eq = f"({pre} AND {eq})"
            return eq if op == "==" else f"(NOT coalesce({eq}, 0))"
        if op in ("~", "!~"):
            anchored = _ANCHORED.fullmatch(self.literal)
            if anchored is not None:  # no regex syntax but ^ and $: LIKE is the same, faster
                start, text, end = anchored.groups()
                like = (("" if start else "%") + _like_escape(text) + ("" if end else "%"))
                found = f"{v} LIKE {ctx.param(like)} ESCAPE '\\'"
                if end:  # a regular expression's $ also matches before a last newline
                    found = f"({found} OR {v} LIKE {ctx.param(like + chr(10))} ESCAPE '\\')"
                found = f"(typeof({v}) = 'text' AND {found})"
            else:
                found = f"(typeof({v}) = 'text' AND regexp({ctx.param(self.literal)}, {v}))"
            return found if op == "~" else f"(NOT coalesce({found}, 0))"
        if self.number is not None:
            return f"(typeof({v}) IN ('integer', 'real') AND {v} {op} {ctx.param(self.number)})"
        return f"(typeof({v}) = 'text' AND {v} {op} {ctx.param(self.literal)})"

    # Python -------------------------------------------------------------------------------

    def _eq(self, value: Any) -> bool:
        if self.null:
            return value is None
        if self.boolean is not None:
            return isinstance(value, int) and not isinstance(value, bool) \
                and value == self.boolean
        if isinstance(value, str):
            return ascii_lower(value) == ascii_lower(self.literal)
        return self.number is not None and _is_number(value) and value == self.number

    def matches(self, record, meta):
        value = self.ref.value(record, meta)
        op = self.op
        if op == "==":
            return self._eq(value)
        if op == "!=":
            return not self._eq(value)
        if op in ("~", "!~"):
            if isinstance(value, str) and "\0" in value:
                value = value[:value.index("\0")]  # SQLite's LIKE and functions stop there
            found = isinstance(value, str) and self.regex.search(value) is not None
            return found if op == "~" else not found
        if self.number is not None:
            if not _is_number(value):
                return False
            left, right = value, self.number
        else:
            if not isinstance(value, str):
                return False
            left, right = value, self.literal
        return {"<": left < right, "<=": left <= right, ">": left > right,
                ">=": left >= right}[op]


@dataclass
class Everything(Node):
    """The empty filter."""

    def sql(self, ctx):
        return "1"

    def matches(self, record, meta):
        return True


def cost(node: Node, ctx: SqlContext) -> int:
    """A rough cost of evaluating ``node`` on one record: 0 an index column, 1 a quick scan
    of the text, 3 a JSON path read."""
    if isinstance(node, (And, Or)):
        return cost(node.left, ctx) + cost(node.right, ctx)
    if isinstance(node, Not):
        return cost(node.inner, ctx)
    if isinstance(node, Text):
        return 1
    if isinstance(node, (Compare, Truthy)):
        if node.ref.kind == "ledger":
            return 2  # a row or two looked up by id
        if not node.ref.reads_json and (ctx.mode == "index" or node.ref.kind == "request"):
            return 0
        if isinstance(node, Compare) and node.op in ("==", "!=") and node.ref.kind == "path" \
                and node._prefilter(SqlContext()) is not None:
            return 1
        return 3
    return 0


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN_LITERAL = re.compile(r"[A-Za-z0-9_.:+\- ]+")
# ASCII text without regex metacharacters, maybe with ``^``, ``$`` or both around it (``type ~
# pdp``, ``iccid ~ 7$``, ``^8988``): the same as LIKE, which runs without Python's re
_ANCHORED = re.compile(r"(\^?)([A-Za-z0-9 _\-:/@,;'\"=<>!%&#]*)(\$?)")
