"""JSON as the window shows it: every text the endpoint accepted parses, exactly, for display.

The endpoint accepts every JSON text the standard allows (RFC 8259), which includes texts that
fast parsers refuse or change: lone surrogate escapes (``"\\ud83d"``), numbers outside the range
of a double (``1e400``), integers beyond 64 bits, duplicate keys. :func:`load_json` reads them
the one way the app reads records everywhere (:func:`app.records.parse_record`: integers exact,
a duplicate key's first value, ``1e400`` as a :class:`~app.records.JsonFloat` shown as spelt),
and replaces lone surrogates, which no widget can show, by U+FFFD.

:func:`plain` does the same for any string shown in a widget, :func:`tooltip_text` makes a plain
text safe as a tooltip.
"""

from __future__ import annotations

import html
import re
from typing import Any

from app.display import REPLACEMENT, plain
from app.display import printable as one_line_safe
from app.records.shape import JsonFloat, parse_exact, parse_record

__all__ = ["REPLACEMENT", "JsonFloat", "load_json", "one_line_safe", "plain", "tooltip_text"]

_LONG_INTEGER = re.compile(r"(?:^|[:\[,])\s*-?\d{19,}")  # may be beyond 64 bits
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # where a lone surrogate may come from


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return plain(value)
    if isinstance(value, dict):
        cleaned = {plain(k): _clean(v) for k, v in value.items()}
        return cleaned
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def load_json(text: str | bytes) -> Any:
    """Parse JSON ``text`` exactly (see the module's docstring); raises ``ValueError`` when it
    is not JSON at all."""
    if isinstance(text, bytes | bytearray | memoryview):
        text = bytes(text).decode("utf-8", errors="replace")
    # orjson turns an integer beyond 64 bits into a float without failing: such a text goes
    # straight to the exact reader.
    value = parse_exact(text) if _LONG_INTEGER.search(text) else parse_record(text)
    return _clean(value) if _SURROGATE_ESCAPE.search(text) else value


def tooltip_text(text: str) -> str:
    """A plain ``text`` (e.g. from the wire) as a tooltip: Qt guesses whether a tooltip is
    rich text, so it is escaped and wrapped, and reads literally (``<b>`` stays ``<b>``,
    ``<img src=…>`` loads nothing)."""
    if not text:
        return ""
    return f"<p style='white-space:pre'>{html.escape(plain(text))}</p>"


