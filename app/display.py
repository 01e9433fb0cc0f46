"""Text from the wire, made safe to show: in a widget, in a terminal, in a log line.

The endpoint stores whatever arrives, and legal JSON may carry strings that no display can take
as they are: lone surrogate escapes (``"\\ud83d"``: not Unicode, so not encodable as UTF-8) and
control characters (an ESC starts a terminal escape sequence: ``\\x1b[31m`` from a request path
would colour the user's terminal). Everything that shows such text outside its raw JSON view goes
through these functions; the stored bytes are never changed. Sizes and JSON values are spelt
for people here too (:func:`human_size`, :func:`scalar_text`).
"""

from __future__ import annotations

import json
import re
from typing import Any

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")  # C0 but \t and \n, DEL, C1


def plain(text: str) -> str:
    """``text`` with lone surrogates (which no widget or UTF-8 output can show) as U+FFFD."""
    return _SURROGATE.sub(REPLACEMENT, text) if _SURROGATE.search(text) else text


def _symbol(match: re.Match) -> str:
    code = ord(match[0])
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\\x{code:02x}"  # C1: no symbol of its own


def printable(text: str) -> str:
    """:func:`plain`, and control characters (NUL, ESC, C1 …) shown as symbols (␀, ␛) or
    ``\\x..`` so that they neither cut nor garble the text, nor drive a terminal. Tabs and
    line breaks stay."""
    text = plain(text)
    return _CONTROL.sub(_symbol, text) if _CONTROL.search(text) else text


def human_size(n: int | None) -> str:
    """A byte count for people: ``512 B``, ``1.5 KiB``, ``2.0 MiB`` (empty for None)."""
    if n is None:
        return ""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def scalar_text(value: Any) -> str:
    """A parsed JSON value as a user reads it: a string without quotes, the rest as JSON spells
    it (``null``, ``true``, ``1.5``, a number beyond a double as the record has it), a container
    as compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)  # int, float: JSON's spelling; a JsonFloat: as the record spells it


def counted(n: int, word: str, words: str | None = None) -> str:
    """``1 record``, ``2 records``, ``3,000 records``: a count with its noun in the right number
    (``words``: the plural when it is not ``word`` + s, e.g. ``counted(2, "retry", "retries")``)."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {words or word + 's'}"
