"""The filter language's words: how a filter text splits into tokens, and how a value is written
back as a literal the language reads. The filter bar completes and quotes with the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.display import scalar_text


class FilterError(ValueError):
    """A filter that cannot be read; ``position`` is where (an offset into the text)."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.position = position

    def __str__(self) -> str:
        return f"{self.args[0]} (at {self.position + 1})"


@dataclass
class Token:
    """A piece of filter text: a word, a quoted string, an operator or a parenthesis."""

    kind: str  # word | string | op | ( | ) | end
    text: str
    pos: int


OPS = ("==", "!=", "<=", ">=", "!~", "=", "<", ">", "~", "!", "&&", "||")
# What ends a word (a bare value, a field name or a path).
WORD_END = frozenset(" \t\r\n()\"'=!<>~&|")
QUOTES = "\"'"


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``end`` token; raises :class:`FilterError`."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "()":
            tokens.append(Token(c, c, i))
            i += 1
            continue
        if c in QUOTES:
            start, i = i, i + 1
            out = []
            while True:
                if i >= n:
                    raise FilterError("this quote is never closed", start)
                if text[i] == "\\" and i + 1 < n:
                    out.append(text[i + 1])
                    i += 2
                    continue
                if text[i] == c:
                    i += 1
                    break
                out.append(text[i])
                i += 1
            tokens.append(Token("string", "".join(out), start))
            continue
        for op in OPS:
            if text.startswith(op, i):
                tokens.append(Token("op", op, i))
                i += len(op)
                break
        else:
            start = i
            while i < n and text[i] not in WORD_END:
                i += 1
            if start == i:  # a lone & or |
                raise FilterError(f"unexpected {text[i]!r}", i)
            tokens.append(Token("word", text[start:i], start))
    tokens.append(Token("end", "", n))
    return tokens


def word_span(text: str, cursor: int) -> tuple[int, int]:
    """The word under ``cursor``: ``(start, end)`` offsets; a word may be a quoted value."""
    quote_at = -1
    i = 0
    while i < cursor:
        c = text[i]
        if quote_at >= 0:
            if c == "\\":
                i += 2
                continue
            if c == text[quote_at]:
                quote_at = -1
        elif c in QUOTES:
            quote_at = i
        i += 1
    if quote_at >= 0:  # inside a quoted value: the word runs to its closing quote
        end = cursor
        while end < len(text):
            if text[end] == "\\":
                end += 2
                continue
            if text[end] == text[quote_at]:
                end += 1
                break
            end += 1
        return quote_at, min(end, len(text))
    start = cursor
    while start > 0 and text[start - 1] not in WORD_END:
        start -= 1
    end = cursor
    while end < len(text) and text[end] not in WORD_END:
        end += 1
    return start, end


def word_before(text: str, end: int) -> str:
    """The word that ends at ``end`` (empty when none does)."""
    start = end
    while start > 0 and text[start - 1] not in WORD_END:
        start -= 1
    return text[start:end]


def quote(text: str) -> str:
    """``text`` as a quoted string literal: ``\\`` and ``"`` escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_BARE_VALUE = re.compile(r"\w+")


def value_literal(text: str) -> str:
    """A text value as the language reads it: bare when it is one word, else quoted."""
    return text if _BARE_VALUE.fullmatch(text) else quote(text)


def filter_literal(value: Any) -> str:
    """A JSON value as the filter literal that matches exactly it (``id == <literal>``):
    integers of any size exact, strings quoted with ``\\`` and ``"`` escaped, true, false,
    null; a number beyond a double as it is spelt. Containers are written as compact JSON text
    in quotes (they compare as that text)."""
    if value is None or isinstance(value, (bool, int, float)):
        return scalar_text(value)  # a float's shortest exact spelling; a JsonFloat's as spelt
    return quote(scalar_text(value))
