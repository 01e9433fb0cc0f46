"""The filter language's grammar: text to predicate nodes (:mod:`app.filters.nodes`), wrapped in
a :class:`~app.filters.planner.Filter`. Documented for users in ``docs/filters.md``. In short::

    netherlands                       bare words search the record's whole text (any case)
    iccid == "8988228066600001234"    named fields (see FIELDS) and dotted JSON paths
    event_type.id == 1   detail.country.iso_code == nl   detail.mnc[0].mnc == 20
    type ~ "PDP"   volume > 1.5   time >= 2025-03-18T07:00   alert   severity != INFO
    a and b, a or b, not a, (a or b) and c, juxtaposition means and
    last 15m                          received in the last 15 minutes (s, m, h, d)
    unacknowledged  redelivered  conflict  seen > 1  attempt == 2  acked    the ledger

:func:`parse` raises only :class:`FilterError`.
"""

from __future__ import annotations

import re

from app.filters.known import KnownNames, closest, path_text
from app.filters.lexer import FilterError, Token, tokenize
from app.filters.nodes import And, Compare, Everything, Last, Node, Not, Or, Ref, Text, Truthy
from app.filters.planner import Filter
from app.records.fields import (
    ALIASES,
    FIELDS,
    LEDGER_FIELDS,
    REQUEST_FIELDS,
    UNACKNOWLEDGED,
    parse_path,
)

__all__ = ["FilterError", "parse"]

_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*")


_COMPARE = {"==": "==", "=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
            "~": "~", "!~": "!~"}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _Parser:
    def __init__(self, text: str, table: str, known: KnownNames | None = None):
        self.text = text
        self.table = table
        self.known = known
        self.warnings: list[str] = []
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def keyword(self, *words: str) -> bool:
        tok = self.tok
        return tok.kind == "word" and tok.text.lower() in words

    def parse(self) -> Node:
        if self.tok.kind == "end":
            return Everything()
        node = self.parse_or()
        if self.tok.kind != "end":
            raise FilterError(f"unexpected {self.tok.text!r}", self.tok.pos)
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.keyword("or") or (self.tok.kind == "op" and self.tok.text == "||"):
            self.next()
            node = Or(node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_not()
        while True:
            if self.keyword("and") or (self.tok.kind == "op" and self.tok.text == "&&"):
                self.next()
            elif self.tok.kind in ("end", ")") or self.keyword("or") or \
                    (self.tok.kind == "op" and self.tok.text == "||"):
                return node
            node = And(node, self.parse_not())

    def parse_not(self) -> Node:
        if self.keyword("not") or (self.tok.kind == "op" and self.tok.text == "!"):
            self.next()
            return Not(self.parse_not())
        return self.parse_atom()

    def parse_atom(self) -> Node:
        tok = self.tok
        if tok.kind == "(":
            self.next()
            if self.tok.kind == ")":
                raise FilterError("empty parentheses", self.tok.pos)
            node = self.parse_or()
            if self.tok.kind != ")":
                raise FilterError("a '(' is not closed", tok.pos)
            self.next()
            return node
        if tok.kind == "end":
            raise FilterError("the filter ends where a test should follow", tok.pos)
        if tok.kind in (")", "op"):
            raise FilterError(f"unexpected {tok.text!r}", tok.pos)
        if tok.kind == "string":
            self.next()
            if self.tok.kind == "op" and self.tok.text in _COMPARE:
                raise FilterError("a field name is not quoted", tok.pos)
            return Text(tok.text)
        # a word
        if tok.text.lower() in ("and", "or"):
            raise FilterError(f"{tok.text!r} needs a test on both sides", tok.pos)
        if tok.text.lower() == "last" and self.tokens[self.i + 1].kind == "word":
            span = self.tokens[self.i + 1]
            m = re.fullmatch(r"(\d+)\s*([smhd])", span.text.lower())
            if m:
                self.i += 2
                return Last(int(m.group(1)) * _UNITS[m.group(2)])
        if tok.text.lower() in UNACKNOWLEDGED:
            self.next()
            if self.tok.kind == "op" and self.tok.text in _COMPARE:
                raise FilterError(f"{tok.text!r} is a test on its own (compare 'acked' "
                                  f"instead: acked == 0)", self.tok.pos)
            kind = "request" if self.table == "requests" else "ledger"
            return Not(Truthy(Ref("acked", kind=kind)))
        self.next()
        if self.tok.kind == "op" and self.tok.text in _COMPARE:
            op_tok = self.next()
            ref = self.ref(tok)
            value = self.tok
            if value.kind not in ("word", "string"):
                raise FilterError(f"a value should follow {op_tok.text!r}", value.pos)
            self.next()
            try:
                return Compare(ref, _COMPARE[op_tok.text], value.text, value.kind == "string")
            except FilterError as exc:
                raise FilterError(exc.args[0], value.pos) from None
        ref = self.ref(tok, bare=True)
        return Text(tok.text) if ref is None else Truthy(ref)

    def ref(self, tok: Token, bare: bool = False) -> Ref | None:
        name = tok.text
        if self.table == "requests":
            key = name.lower()
            if key in REQUEST_FIELDS:
                return Ref(key, kind="request")
            if bare:
                return None
            near = closest(name, REQUEST_FIELDS)
            if near is not None:
                raise FilterError(f'unknown field "{name}": did you mean "{near}"?', tok.pos)
            raise FilterError(f"requests have no field {name!r} (fields: "
                              f"{', '.join(sorted(REQUEST_FIELDS))})", tok.pos)
        key = ALIASES.get(name.lower(), name.lower())
        if key in FIELDS:
            return Ref(key)
        if key in LEDGER_FIELDS:
            return Ref(key, kind="ledger")
        if key == "family":
            return Ref("family", kind="family")
        if "." in key and name.lower() in ALIASES:
            return Ref(key, parse_path(key), kind="path")
        if _PATH.fullmatch(name) and ("." in name or "[" in name or not bare):
            ref = Ref(name, parse_path(name), kind="path")
            self.check(ref, tok)
            return ref
        if bare:
            return None
        raise FilterError(f"{name!r} is neither a field nor a JSON path", tok.pos)

    def check(self, ref: Ref, tok: Token) -> None:
        """Against the capture's names (when known): a top-level key no record has is an
        error, a longer path no record has a warning; both name the closest known name."""
        if self.known is None or self.known.has(ref.steps):
            return
        if len(ref.steps) == 1:
            if ref.name.lower() in REQUEST_FIELDS:  # (those records share, id, time: named)
                raise FilterError(f'"{ref.name}" is a field of requests (the Requests table); '
                                  f"records have no such field", tok.pos)
            pool = [*FIELDS, *ALIASES, *LEDGER_FIELDS, "family", *self.known.keys]
            near = closest(ref.name, pool)
            hint = f'did you mean "{near}"?' if near else "no named field and no key of the " \
                "records has that name"
            raise FilterError(f'unknown field "{ref.name}": {hint}', tok.pos)
        near = closest(path_text(ref.steps), self.known.paths)
        warning = f'no record has the path "{ref.name}"'
        if near is not None:
            warning += f': did you mean "{near}"?'
        if warning not in self.warnings:
            self.warnings.append(warning)



def parse(text: str, table: str = "records", known: KnownNames | None = None) -> Filter:
    """Parse a filter; raises only :class:`FilterError`.

    ``known``: the names the capture's records hold. With it, a bare name in a comparison that
    is neither a named field nor a top-level key of the records is an error naming the closest
    known one, and a dotted path no record has is a warning (``Filter.warnings``). Without it
    (no capture at hand) every name that reads as a JSON path is allowed, as before.
    """
    if not isinstance(text, str):
        raise FilterError("a filter is text", 0)
    try:
        parser = _Parser(text, table, known)
        root = parser.parse()
        return Filter(text, root, table, warnings=parser.warnings)
    except RecursionError:
        raise FilterError("nested too deeply", 0) from None
