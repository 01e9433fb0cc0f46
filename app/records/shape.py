"""What a Data Streamer record is: its family, recognised by shape, and how a body splits.

Families (``docs/capture-format.md`` and ``../shared/docs/record-schema.md`` section 2):

- ``event``: SIM/network events, recognised by the top-level key ``event_type``;
- ``usage``: usage records, ``traffic_type`` (or ``volume`` with ``start_timestamp``);
- ``sms_dr``: SMS MT delivery reports, ``final_date`` or ``status`` with ``submit_date``;
- ``sms_mo``: mobile-originated SMS, ``payload`` with ``source_address`` or ``dest_address``;
- ``unknown``: any other object, kept whole.

Parsing a 3000-record body into Python objects costs more than everything else the receiver does,
so :func:`inspect_body` never builds them: simdjson parses the body (validating UTF-8 and syntax)
and only the top-level keys of each record are looked at. The records' own text is cut out later
by SQLite's ``json_each`` (see ``app.capture``), which keeps every number and string token exactly
as it was sent. Bodies simdjson cannot take although they are valid JSON (integers beyond 64 bits,
very deep nesting) fall back to the standard library, and malformed ones get a precise message
from it, with line, column and offset. Without simdjson (pysimdjson has wheels for CPython 3.12
and 3.13 only; ``STREAMER_INSPECTOR_SIMDJSON=off`` also turns it off) orjson takes its place,
with the same answer for every body: 2.5 to 4 times slower on a 3000-record batch,
4 times faster than the standard library.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

SIMDJSON_ENV = "STREAMER_INSPECTOR_SIMDJSON"
if os.environ.get(SIMDJSON_ENV, "").strip().lower() == "off":
    simdjson = None
else:
    try:
        import simdjson
    except ImportError:  # pysimdjson has wheels for CPython 3.12 and 3.13 only
        simdjson = None

FAMILIES = ("event", "usage", "sms_dr", "sms_mo", "unknown")
# One byte per record travels to SQLite as a blob; these are the codes.
FAMILY_CODES = {"event": b"e", "usage": b"u", "sms_dr": b"d", "sms_mo": b"m", "unknown": b"x"}
CODE_FAMILIES = {v[0]: k for k, v in FAMILY_CODES.items()}



def family_sql(codes: str, index: str) -> str:
    """SQL naming the family of the record at ``index`` in the family-code blob ``codes``."""
    whens = " ".join(f"WHEN x'{code.hex()}' THEN '{fam}'" for fam, code in FAMILY_CODES.items())
    return f"CASE substr({codes}, {index} + 1, 1) {whens} ELSE 'unknown' END"


_JSON_TYPES = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def family_of(keys: Iterable[str]) -> str:
    """The family of a record, given its top-level keys."""
    keys = keys if isinstance(keys, (set, frozenset, dict)) else set(keys)
    if "event_type" in keys:
        return "event"
    if "traffic_type" in keys or ("volume" in keys and "start_timestamp" in keys):
        return "usage"
    if "final_date" in keys or ("status" in keys and "submit_date" in keys):
        return "sms_dr"
    if "payload" in keys and ("source_address" in keys or "dest_address" in keys):
        return "sms_mo"
    return "unknown"


class BodyError(ValueError):
    """A body that is not a JSON list of objects; ``str()`` is the message for the sender."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 offset: int | None = None, index: int | None = None):
        super().__init__(message)
        self.line = line
        self.column = column
        self.offset = offset
        self.index = index

    def as_json(self) -> dict:
        out: dict = {"error": str(self)}
        if self.offset is not None:
            out["position"] = {"line": self.line, "column": self.column, "offset": self.offset}
        if self.index is not None:
            out["index"] = self.index
        return out


@dataclass
class BodyShape:
    """What :func:`inspect_body` learnt: one family code byte per record, and counts.

    ``notes`` name what is legal JSON but not interoperable (lone surrogates, numbers outside
    double range, duplicate keys): the request is accepted, and its contract notes say so."""

    codes: bytes
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.codes)


_BOM = "the body starts with a byte order mark (BOM): send plain UTF-8 JSON without one"
_parser_pool: list = []  # simdjson.Parser objects


def inspect_body(body: bytes) -> BodyShape:
    """Check that ``body`` is a JSON list of objects and classify each record.

    Raises :class:`BodyError` with a message precise enough to fix the sender.
    """
    if not body:
        raise BodyError("the body is empty: the Data Streamer posts a JSON list of records")
    if not body.strip():
        raise BodyError(f"the body holds only white space ({len(body)} bytes): the Data "
                        f"Streamer posts a JSON list of records")
    if body.startswith(b"\xef\xbb\xbf"):
        raise BodyError(_BOM, offset=0, line=1, column=1)
    if simdjson is None:
        return _inspect_orjson(body)
    # A parser is reused only after a clean pass: while any proxy object of its last document
    # lives (an exception's traceback holds some), simdjson refuses to parse again with it.
    parser = _parser_pool.pop() if _parser_pool else simdjson.Parser()
    try:
        # Wrapped in _WRAP lists: simdjson then refuses what is nested deeper than SQLite's
        # JSON reads (1,000 levels against simdjson's 1,024), which could not be split into
        # records after the 200. The slow path judges it (too deep: 400).
        doc = parser.parse(_WRAPPED_OPEN + body + _WRAPPED_CLOSE)
        for _ in range(_WRAP):  # each wrapping list holds one value: the body, one JSON value
            if len(doc) != 1:
                raise ValueError("more than one value")
            doc = doc[0]
    except (ValueError, RuntimeError, MemoryError):
        return _inspect_slow(body)
    shape = _shape_of(doc)
    del doc
    _parser_pool.append(parser)
    return shape


MAX_DEPTH = 1000  # SQLite's JSON_MAX_DEPTH: the deepest body whose records it splits
_WRAP = 1024 - MAX_DEPTH  # simdjson's depth limit less SQLite's
_WRAPPED_OPEN, _WRAPPED_CLOSE = b"[" * _WRAP, b"]" * _WRAP


def _inspect_orjson(body: bytes) -> BodyShape:
    """:func:`inspect_body` without simdjson, with the same answer for every body.

    orjson validates as simdjson does (UTF-8, syntax; lone surrogates and numbers beyond a
    double refused) but reads an integer beyond 64 bits as a float, where simdjson fails, and
    keeps one value of a duplicate key, where simdjson lists both. Either can only be present
    when :func:`_maybe_inexact` says so; then the exact reader decides."""
    try:  # wrapped as for simdjson (orjson's depth limit is 1,024 too)
        value = orjson.loads(_WRAPPED_OPEN + body + _WRAPPED_CLOSE)
        for _ in range(_WRAP):
            if len(value) != 1:
                raise orjson.JSONDecodeError("more than one value", "", 0)
            value = value[0]
    except orjson.JSONDecodeError:
        return _inspect_slow(body)  # as when simdjson fails
    if type(value) is not list:
        raise BodyError(_not_a_list(_JSON_TYPES.get(type(value), "a value")))
    codes = bytearray()
    append = codes.append
    event, usage = FAMILY_CODES["event"][0], FAMILY_CODES["usage"][0]
    for index, item in enumerate(value):
        if type(item) is not dict:
            _raise_not_object(index, _JSON_TYPES.get(type(item), "a value"))
        if "event_type" in item:
            append(event)
        elif "traffic_type" in item:
            append(usage)
        else:
            append(FAMILY_CODES[family_of(item)][0])
    shape = _finish(bytes(codes))
    if not _maybe_inexact(body, value):
        return shape
    duplicated: set[int] = set()
    beyond: list[str] = []  # every integer token, also one a duplicate key's first value hides

    def integer(text: str) -> int:
        number = int(text)
        if not -(1 << 63) <= number < (1 << 64):
            beyond.append(text)
        return number

    exact = json.loads(body.decode("utf-8"), parse_float=_exact_float, parse_int=integer,
                       object_pairs_hook=_noting(duplicated))
    if beyond:
        return _inspect_slow(body)  # simdjson refuses integers beyond 64 bits
    duplicates = [index for index, record in enumerate(exact) if id(record) in duplicated]
    if duplicates:  # as simdjson notes them: in a record's own keys
        shape.notes.append(_note(DUPLICATE_KEYS, duplicates))
    return shape


# Where an integer beyond 64 bits can be: 19 digits or more after anything but a quote (a number
# token follows white space, ':', ',', '[' or '-'); digits read as 0, quotes stay, the rest is x.
_DIGIT_RUNS = bytes(48 if 48 <= c <= 57 else 34 if c == 34 else 120 for c in range(256))
_LONG_INTEGER = b"x" + b"0" * 19


def _maybe_inexact(body: bytes, value: list) -> bool:
    """Whether orjson's ``value`` of ``body`` may have lost a duplicate key or the digits of an
    integer beyond 64 bits. False only when neither can be there. A lost key takes its colon
    with it, so orjson's rewriting has fewer colons than the body; only an escaped colon in the
    body (which orjson writes as a plain one) could make up for that."""
    if _LONG_INTEGER in body.translate(_DIGIT_RUNS):
        return True
    if b"\\u003a" in body or b"\\u003A" in body:
        return True
    try:
        written = orjson.dumps(value)
    except orjson.JSONEncodeError:  # nested deeper than orjson writes
        return True
    return body.count(b":") != written.count(b":")


def _shape_of(doc) -> BodyShape:
    if not isinstance(doc, simdjson.Array):
        raise BodyError(_not_a_list(_kind_of_simd(doc)))
    codes = bytearray()
    append = codes.append
    obj = simdjson.Object
    known = _KEY_TUPLES
    duplicates: list[int] = []
    for index, item in enumerate(doc):
        if type(item) is not obj:
            _raise_not_object(index, _kind_of_simd(item))
        keys = tuple(item.keys())
        code = known.get(keys)
        if code is None:  # a record of keys not seen yet (a sender sends a few shapes)
            code = _key_code(keys)
            if len(keys) <= _KEYS_KEPT:  # (a hostile record's million keys are not kept)
                if len(known) >= _KEY_TUPLES_KEPT:
                    known.clear()
                known[keys] = code
        if code > 0xFF:
            duplicates.append(index)
            code &= 0xFF
        append(code)
    shape = _finish(bytes(codes))
    if duplicates:
        shape.notes.append(_note(DUPLICATE_KEYS, duplicates))
    return shape


# A record's top-level keys, in order, and their family code (+ 0x100: a key given twice). A
# sender's records have a few key lists: one look-up instead of a set and the family's tests
# (3000 records: 7.0 to 5.8 ms, most of what is left is simdjson making the keys' strings).
_KEY_TUPLES: dict[tuple[str, ...], int] = {}
_KEY_TUPLES_KEPT = 4096
_KEYS_KEPT = 64


def _key_code(keys: tuple[str, ...]) -> int:
    unique = frozenset(keys)
    code = FAMILY_CODES[family_of(unique)][0]
    return code | 0x100 if len(unique) != len(keys) else code


INTEROP_MARK = "legal JSON"  # every note below holds it: request.problems LIKE '%legal JSON%'
DUPLICATE_KEYS = ("a key given twice in one object (duplicate keys): legal JSON, but parsers "
                  "disagree on which value counts (SQLite and this app read the first, jq and most "
                  "JSON libraries the last)")
LONE_SURROGATES = ("a lone surrogate escape (e.g. \\ud83d without its pair): legal JSON, but "
                   "not valid Unicode; strict parsers (jq, duckdb, orjson, Rust, Go) refuse or "
                   "replace it")
OUT_OF_RANGE = ("a number outside the range of a double (e.g. 1e400): legal JSON, but most "
                "parsers refuse it or read it as infinity")
BIG_INTEGERS = ("an integer beyond 64 bits: legal JSON, but many parsers read it as a float "
                "and lose digits (the 1NCE id is a 64-bit LONG)")


def _note(what: str, indexes: list[int]) -> str:
    where = ", ".join(str(i) for i in indexes[:5]) + (", ..." if len(indexes) > 5 else "")
    n = len(indexes)
    return f"{n} record{'' if n == 1 else 's'} (element {where}) with {what}"


def _finish(codes: bytes) -> BodyShape:
    counts = {}
    for fam, code in FAMILY_CODES.items():
        n = codes.count(code)
        if n:
            counts[fam] = n
    return BodyShape(codes=codes, counts=counts)


def _kind_of_simd(value) -> str:
    if isinstance(value, simdjson.Object):
        return "an object"
    if isinstance(value, simdjson.Array):
        return "a list"
    return _JSON_TYPES.get(type(value), "a value")


def _not_a_list(kind: str) -> str:
    hint = " (wrap a single record in [ ])" if kind == "an object" else ""
    return f"the body is {kind}, not a list: the Data Streamer posts a JSON list of records{hint}"


def _raise_not_object(index: int, kind: str) -> None:
    raise BodyError(
        f"element {index} of the list is {kind}, not an object: every record must be a JSON object",
        index=index,
    )


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _inspect_slow(body: bytes) -> BodyShape:
    """The standard library's view: valid JSON simdjson refuses, or a precise syntax error."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(
            f"the body is not valid UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start})",
            offset=exc.start,
            line=body.count(b"\n", 0, exc.start) + 1,
            column=exc.start - (body.rfind(b"\n", 0, exc.start) + 1) + 1,
        ) from None
    duplicated: set[int] = set()
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_exact_float,
                           object_pairs_hook=_noting(duplicated))
    except json.JSONDecodeError as exc:
        offset = len(text[: exc.pos].encode("utf-8"))
        raise BodyError(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} (byte {offset})",
            line=exc.lineno, column=exc.colno, offset=offset,
        ) from None
    except ValueError as exc:
        raise BodyError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise BodyError("invalid JSON: nested too deeply") from None
    if not isinstance(value, list):
        raise BodyError(_not_a_list(_JSON_TYPES.get(type(value), "a value")))
    if _depth(value) > MAX_DEPTH:
        raise BodyError(f"the body is nested more than {MAX_DEPTH} levels deep: the capture "
                        f"(SQLite) reads JSON nested up to {MAX_DEPTH} levels")
    codes = bytearray()
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            _raise_not_object(index, _JSON_TYPES.get(type(item), "a value"))
        codes += FAMILY_CODES[family_of(item)]
    shape = _finish(bytes(codes))
    shape.notes = interop_notes(value, duplicated)
    return shape


def _depth(value: Any) -> int:
    """How deep ``value`` nests (a list or an object is one level more than what it holds; a
    scalar none), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children
                     if isinstance(child, (list, dict)))
    return deepest if isinstance(value, (list, dict)) else 0


def interop_problems(value: Any, duplicated: set[int] = frozenset()) -> set[str]:
    """What in a parsed value (read with :func:`first_wins` or :func:`parse_exact`) is legal
    JSON but not interoperable: a subset of ``{"surrogate", "range", "duplicate", "bigint"}``;
    ``duplicated`` holds the ``id()`` of the objects that had duplicate keys (:func:`_noting`)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if _LONE.search(item):
                found.add("surrogate")
        elif kind is dict:
            if id(item) in duplicated:
                found.add("duplicate")
            for key, member in item.items():
                if _LONE.search(key):
                    found.add("surrogate")
                stack.append(member)
        elif kind is list:
            stack.extend(item)
        elif kind is JsonFloat:
            found.add("range")
        elif kind is int and not -(2**63) <= item < 2**64:
            found.add("bigint")
    return found


def interop_notes(records: list, duplicated: set[int] = frozenset()) -> list[str]:
    """Contract notes for the records of a body that simdjson refused (see :data:`_WHAT`)."""
    by_problem: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        for problem in interop_problems(record, duplicated):
            by_problem.setdefault(problem, []).append(index)
    return [_note(_WHAT[p], by_problem[p]) for p in _WHAT if p in by_problem]


_LONE = re.compile("[\ud800-\udfff]")
_WHAT = {"surrogate": LONE_SURROGATES, "range": OUT_OF_RANGE, "duplicate": DUPLICATE_KEYS,
         "bigint": BIG_INTEGERS}


def json_list_elements(text: str) -> list[tuple[str, object]]:
    """Each element of the JSON list ``text``: its exact text (every token as written) and
    its value. Raises ``ValueError`` saying where the text stops being one JSON list."""
    decoder = json.JSONDecoder()
    ws = " \t\n\r"
    n = len(text)
    i = n - len(text.lstrip(ws))
    if not text.startswith("[", i):
        raise ValueError("not a JSON list")
    i += 1
    out: list[tuple[str, object]] = []
    while True:
        while i < n and text[i] in ws:
            i += 1
        if i < n and text[i] == "]" and not out:
            i += 1
            break
        try:
            value, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno} column "
                             f"{exc.colno}") from None
        out.append((text[i:end], value))
        i = end
        while i < n and text[i] in ws:
            i += 1
        if i < n and text[i] == ",":
            i += 1
            continue
        if i < n and text[i] == "]":
            i += 1
            break
        raise ValueError(f"not valid JSON: expected ',' or ']' at offset {i}")
    if text[i:].strip(ws):
        raise ValueError(f"text after the JSON list (offset {i})")
    return out


class LineError(ValueError):
    """An NDJSON line that is not a record; ``line`` is its number (from 1)."""

    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


def ndjson_records(text: str) -> list[str]:
    """The records of NDJSON text (one JSON object a line), each line's exact text.

    Raises :class:`LineError` for the first line that is not a JSON object."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LineError(f"{exc.msg} (column {exc.colno})", number) from None
        if not isinstance(value, dict):
            raise LineError("not a record (a JSON object)", number)
        out.append(line)
    return out


# ---------------------------------------------------------------------------------------------
# One reading of a record's text, everywhere


class JsonFloat(float):
    """A JSON number outside the range of a double (``1e400``): its value is the infinity a
    double gives, its ``text`` (and ``str()``) the number as the record spells it."""

    __slots__ = ("text",)

    def __new__(cls, text: str):
        out = super().__new__(cls, text)
        out.text = text
        return out

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def _exact_float(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else JsonFloat(text)


def first_wins(pairs: list[tuple[str, Any]]) -> dict:
    """``object_pairs_hook`` for ``json``: a duplicate key keeps its first value."""
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    out = {}
    for key, value in pairs:
        if key not in out:
            out[key] = value
    return out


def _noting(duplicated: set[int]):
    """:func:`first_wins` that also notes the ``id()`` of each object that had duplicates
    (valid while the parsed value lives)."""

    def hook(pairs: list[tuple[str, Any]]) -> dict:
        out = first_wins(pairs)
        if len(out) != len(pairs):
            duplicated.add(id(out))
        return out

    return hook


_DECODER = json.JSONDecoder(parse_float=_exact_float, object_pairs_hook=first_wins)


def parse_exact(text: str | bytes) -> Any:
    """The value of a JSON text, read the one way this app reads records everywhere:
    integers of any size exact, a duplicate key's *first* value (as SQLite's ``json_extract``
    reads it), lone surrogates kept as they are, numbers beyond a double as :class:`JsonFloat`.
    Raises ``ValueError`` for text that is not JSON."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return _DECODER.decode(text)


def parse_record(text: str | bytes) -> Any:
    """A stored record's value (see :func:`parse_exact`), fast for the usual record.

    orjson reads it first. It fails on a lone surrogate, a number beyond a double and an integer
    beyond 64 bits, and keeps a duplicate key's *last* value: :func:`orjson_is_exact` tells the
    last case, and the exact reader takes over. Raises ``ValueError`` for text that is not JSON.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return parse_exact(text)
    return value if orjson_is_exact(text, value) else parse_exact(text)


def orjson_is_exact(text: str | bytes, value: Any) -> bool:
    """Whether orjson's ``value`` of the minified JSON ``text`` (as records are stored) is the
    exact reading. orjson keeps a duplicate key's last value and reads an integer beyond 64 bits
    as a float; writing the value again shows either: fewer ``":`` (in minified JSON a quote
    followed by a colon ends a key, or is an escaped quote inside a string, which orjson writes
    the same way), or more ``e`` (orjson writes such a float as ``1.8446744073709552e+19``).
    Any other difference (a ``\\u00e9`` escape, ``1E5``) only sends the record to the exact
    reader, which is never wrong."""
    try:
        written = orjson.dumps(value)
    except TypeError:  # nested deeper than orjson writes
        return False
    if isinstance(text, str):
        return text.count('":') == written.count(b'":') and text.count("e") == \
            written.count(b"e")
    return text.count(b'":') == written.count(b'":') and text.count(b"e") == written.count(b"e")


def strict_json(text: str) -> tuple[str, bool]:
    """A record's text as strict, interoperable JSON, and whether it had to change.

    Unchanged when it already is; else re-written from its exact value: lone surrogates as
    U+FFFD, duplicate keys once (the first value), numbers beyond a double as strings of their
    spelling (``"1e400"``); integers stay exact."""
    duplicated: set[int] = set()
    value = json.loads(text, parse_float=_exact_float, object_pairs_hook=_noting(duplicated))
    problems = interop_problems(value, duplicated)
    problems.discard("bigint")  # exact integers are valid JSON; jq and duckdb take them
    if not problems:
        return text, False
    return json.dumps(_strict(value), ensure_ascii=False, separators=(",", ":")), True


def _strict(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return replace_lone_surrogates(value)
    if kind is JsonFloat:
        return value.text
    if isinstance(value, dict):
        return {replace_lone_surrogates(k): _strict(v) for k, v in value.items()}
    if kind is list:
        return [_strict(v) for v in value]
    return value


def replace_lone_surrogates(text: str) -> str:
    """``text`` with every lone surrogate (which no UTF-8 can carry) as U+FFFD."""
    if not _LONE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
