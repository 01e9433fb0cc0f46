"""JSON as the window shows it: every text the endpoint accepted parses, exactly, for display.

The endpoint accepts every JSON text the standard allows (RFC 8259), which includes texts that
fast parsers refuse or change: lone surrogate escapes (``"\\ud83d"``), numbers outside the range
of a double (``1e400``), integers beyond 64 bits (``18446744073709551616``, which orjson turns
into a float). :func:`load_json` takes orjson's fast path when it is exact and falls back to the
standard library otherwise, so that:

- integers of any size stay exact Python ints;
- a number a double cannot hold is a :class:`JsonNumber`, shown as its token (``1e400``);
- a lone surrogate becomes U+FFFD (Qt cannot show one, and it is not a character).

:func:`plain` does the same for any string shown in a widget.
"""

from __future__ import annotations

import html
import json
import math
import re
from typing import Any

import orjson

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
# Numbers orjson would change: 19 or more digits (beyond 64 bits it makes a float of them)
# and exponents of three digits (below a double's range it makes 0.0 of them).
_LONG_NUMBER = re.compile(r"(?:^|[:\[,])\s*-?\d{19,}|\d[eE][+-]?\d{3,}")


class JsonNumber(float):
    """A JSON number a double cannot hold as written (``1e400``): a float for comparisons
    (infinity) that shows, and serialises for the user, as its token."""

    __slots__ = ("token",)

    def __new__(cls, token: str) -> JsonNumber:
        number = super().__new__(cls, float(token))
        number.token = token
        return number

    def __str__(self) -> str:
        return self.token

    __repr__ = __str__


def _parse_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value) or (value == 0 and any(
            c in "123456789" for c in token.lower().partition("e")[0])):
        return JsonNumber(token)  # beyond a double (1e400) or below it (1e-400)
    return value


def plain(text: str) -> str:
    """``text`` with lone surrogates (which no widget can show) replaced by U+FFFD."""
    return _SURROGATE.sub(REPLACEMENT, text) if _SURROGATE.search(text) else text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return plain(value)
    if isinstance(value, dict):
        return {plain(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def load_json(text: str | bytes) -> Any:
    """Parse JSON ``text`` exactly (see the module's docstring); raises ``ValueError`` when it
    is not JSON at all."""
    if isinstance(text, bytes | bytearray | memoryview):
        text = bytes(text).decode("utf-8", errors="replace")
    if not _LONG_NUMBER.search(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return _clean(json.loads(text, parse_float=_parse_float))


def tooltip_text(text: str) -> str:
    """A plain ``text`` (e.g. from the wire) as a tooltip: Qt guesses whether a tooltip is
    rich text, so it is escaped and wrapped, and reads literally (``<b>`` stays ``<b>``,
    ``<img src=…>`` loads nothing)."""
    if not text:
        return ""
    return f"<p style='white-space:pre'>{html.escape(plain(text))}</p>"
