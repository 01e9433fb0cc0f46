"""Export a capture's records or requests: a registry of pure, streaming write functions.

Each format is an :class:`Exporter` in :data:`EXPORTERS` (mitmproxy style): a name, a title, a
file extension, what it exports (``kind``: ``records`` or ``requests``) and a ``write`` function

    write(source, out, options) -> int   # how many records / requests were written

- ``source`` is a *row source*: a zero-argument callable returning an iterator of rows
  (:class:`RecordRow` for ``records`` exporters, :class:`RequestRow` for ``requests`` ones),
  e.g. ``lambda: record_rows(db)`` or a generator function. Every exporter takes the same thing;
  CSV calls it twice (the header, the union of the records' JSON paths, must be known before the
  first row), the others once. A re-iterable (a list) is accepted too; a one-shot iterator is
  refused by CSV.
- ``out`` is a binary file; the output is UTF-8 and written in chunks, never built whole: a
  million records go through in constant memory.
- ``options`` is an :class:`ExportOptions`. Its ``transform`` (masking plugs in here) is applied
  to every text taken from the capture before it is written: each record's JSON text (json,
  ndjson), each CSV cell taken from a record (CSV flattens the *untransformed* record, so a
  transform need not keep the JSON valid; header names are not transformed), and the request
  body text, header values, path and query and the client address (HAR, Postman). The receiver's
  own answer is not transformed (it holds nothing from the request). A body that is not UTF-8
  is exported as base64, byte for byte; with a transform, the transform sees it decoded with
  ``surrogateescape`` (every byte that is not UTF-8 kept aside) and the result is encoded back,
  so masking covers it too.

Records are read the one way the whole app reads them (``app.records.parse_record``: integers of
any size exact, a duplicate key's first value). JSON and NDJSON exports write each record's text
byte for byte; records that are legal JSON but that strict parsers refuse or misread (lone
surrogates, numbers beyond a double, duplicate keys) are counted in ``options.stats``, and with
``options.strict_json`` written as strict JSON instead (``app.records.strict_json``). CSV writes a
lone surrogate as U+FFFD (no UTF-8 file can hold one).

:func:`record_rows` and :func:`request_rows` read a capture (``app.capture.open_reader``) in
chunks, in id order; :func:`answer_body` rebuilds what the receiver answered a stored request.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, urlsplit

import orjson

from app import APP_TITLE, __version__
from app.capture.schema import INTEROP_FROM, request_body
from app.filters.parser import parse
from app.net import REALM
from app.records.columns import RECORD_TABS
from app.records.shape import (
    INTEROP_MARK,
    BodyError,
    JsonFloat,
    family_sql,
    first_wins,
    inspect_body,
    orjson_is_exact,
    parse_record,
    replace_lone_surrogates,
    strict_json,
)

RECORD_CHUNK = 2000  # records read per query
REQUEST_CHUNK = 200  # request rows (without their bodies) read per query
_FLUSH_BYTES = 1 << 20  # write to ``out`` once about this much text has gathered
_CSV_FLUSH_ROWS = 500
_BOM = b"\xef\xbb\xbf"
POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"


@dataclass
class RecordRow:
    """One record as stored: capture record number, its request, family and JSON text."""

    id: int
    request_id: int
    family: str
    text: str  # the record's JSON text as stored (every token as sent)


@dataclass
class RequestRow:
    """One request as stored in the capture's ``request`` table, body included."""

    id: int
    received_at: str
    peer: str | None
    method: str
    path: str
    query: str
    http_version: str | None
    headers: list[tuple[str, str]]
    status: int
    reason: str | None
    problems: list[str]
    body: bytes
    record_count: int
    counts: dict[str, int]
    duration_ms: float | None
    source: str
    auth: str = "off"  # ok | missing | invalid | off
    auth_user: str | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    body_size: int | None = None  # bytes that arrived; may exceed len(body) for a 413
    # Records stored before this request: only read for the status page (GET /), whose text
    # says how many requests and records had arrived.
    records_before: int | None = None


@dataclass(frozen=True)
class KnownInterop:
    """Which records may be legal but non-interoperable JSON, from the capture's notes.

    The receiver notes such records on their request (``app.capture.contract_problems``);
    requests stored before a capture had those notes (``notes_from``) may hold any."""

    notes_from: int
    flagged: frozenset[int]

    def may_hold(self, request_id: int) -> bool:
        return request_id < self.notes_from or request_id in self.flagged


def known_interop(db) -> KnownInterop:
    """What the capture ``db`` knows about non-interoperable records (see :class:`KnownInterop`).
    Duplicate keys nested inside a record of a body simdjson accepted are not noted."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (INTEROP_FROM,)).fetchone()
    notes_from = int(row[0]) if row else 2**62
    flagged = frozenset(r for (r,) in db.execute(
        "SELECT id FROM request WHERE id >= ? AND problems LIKE ?",
        (notes_from, f"%{INTEROP_MARK}%")))
    return KnownInterop(notes_from, flagged)


@dataclass
class ExportStats:
    """What an export met on the way: records that strict JSON parsers refuse or misread."""

    non_interoperable: int = 0  # lone surrogates, numbers beyond a double, duplicate keys
    rewritten: int = 0  # of those, written as strict JSON (``strict_json``)

    def message(self) -> str:
        """A sentence for the end of the export, or "" when there is nothing to say."""
        n = self.non_interoperable
        if not n:
            return ""
        what = (f"{n} record{'' if n == 1 else 's'} hold{'s' if n == 1 else ''} legal JSON "
                f"that other tools refuse or read differently (a lone surrogate: jq and duckdb "
                f"refuse the whole file; a number beyond a double: jq reads 1.8e308; a "
                f"duplicate key: jq takes the last value, this app the first)")
        if self.rewritten:
            return (f"{what}: written as strict JSON (a lone surrogate as U+FFFD, a number "
                    f"beyond a double as a string of its spelling, a duplicate key once with "
                    f"its first value)")
        return f"{what}; --strict-json writes them as strict JSON"


@dataclass
class ExportOptions:
    """How to write: CSV dialect, the URL requests are shown at, and a text transform.

    ``strict_json`` writes records that are legal but not interoperable JSON as strict JSON
    (json and ndjson: U+FFFD for a lone surrogate, a duplicate key once with its first value, a
    number beyond a double as a string of its spelling); ``stats`` counts what was met."""

    csv_bom: bool = False
    csv_delimiter: str = ","
    base_url: str = "https://localhost:8443"
    transform: Callable[[str], str] | None = None
    csv_all_fields: bool = False  # every JSON path (slower) instead of the family's columns
    families: frozenset[str] | None = None  # the families exported, when the caller knows
    csv_header: bool = True  # False: rows only (a part of a parallel export)
    strict_json: bool = False
    # json/ndjson count (not strict_json) only the records of requests noted as holding
    # non-interoperable ones; None: every record is checked
    known: KnownInterop | None = None
    stats: ExportStats = field(default_factory=ExportStats)


RowSource = Callable[[], Iterable[Any]] | Iterable[Any]


@dataclass(frozen=True)
class Exporter:
    """One export format: ``write(source, out, options)`` returns how many items it wrote."""

    name: str
    title: str
    extension: str
    kind: str  # records | requests
    write: Callable[[RowSource, BinaryIO, ExportOptions], int] = field(repr=False)


# ---------------------------------------------------------------------------------------------
# Reading a capture


def _record_select(where: str) -> str:
    return (f"SELECT r.id, r.request_id, {family_sql('q.families', 'r.idx')}, r.json "
            f"FROM record AS r JOIN request AS q ON q.id = r.request_id WHERE {where} "
            f"ORDER BY r.id")


def _chunks(ids: Iterable[int], size: int) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


def record_rows(db, ids: Iterable[int] | None = None, filter_text: str = "",
                families: tuple[str, ...] | None = None) -> Iterator[RecordRow]:
    """The records of a capture in id order, read :data:`RECORD_CHUNK` at a time.

    ``ids`` restricts to those record numbers; ``filter_text`` (the filter language,
    ``app.filters``; raises ``FilterError``) and ``families`` narrow further. No query stays open
    while rows are handed out, so a reader never holds the WAL back for long.
    """
    flt = parse(filter_text)
    narrowed = not flt.is_empty or bool(families)
    if ids is not None:
        for chunk in _chunks(ids, 500):
            if narrowed:
                sql, params = flt.record_query(families, after=chunk[0] - 1, upto=chunk[-1])
                passed = {row[0] for row in db.execute(sql, params)}
                chunk = [i for i in chunk if i in passed]
                if not chunk:
                    continue
            marks = ", ".join("?" * len(chunk))
            for row in db.execute(_record_select(f"r.id IN ({marks})"), chunk).fetchall():
                yield RecordRow(*row)
        return
    after = 0
    while True:
        if narrowed:
            sql, params = flt.record_query(families, after=after)
            chunk = [row[0] for row in db.execute(f"{sql} LIMIT ?", [*params, RECORD_CHUNK])]
            if not chunk:
                return
            marks = ", ".join("?" * len(chunk))
            rows = db.execute(_record_select(f"r.id IN ({marks})"), chunk).fetchall()
            after = chunk[-1]
        else:
            rows = db.execute(_record_select("r.id > ?") + " LIMIT ?",
                              (after, RECORD_CHUNK)).fetchall()
            if not rows:
                return
            after = rows[-1][0]
        for row in rows:
            yield RecordRow(*row)


_REQUEST_COLUMNS = (
    "id, received_at, peer, method, path, query, http_version, headers, status, reason, "
    "problems, record_count, counts, duration_ms, source, auth, auth_user, content_type, "
    "content_encoding, body_size"
)


def _request_row(db, row: tuple) -> RequestRow:
    (rid, received_at, peer, method, path, query, http_version, headers, status, reason,
     problems, record_count, counts, duration_ms, source, auth, auth_user, content_type,
     content_encoding, body_size) = row
    body = request_body(db, rid)
    records_before = None
    if _is_status_page(method, path, status):
        records_before = db.execute(
            "SELECT coalesce(sum(record_count), 0) FROM request WHERE id < ?", (rid,)
        ).fetchone()[0]
    return RequestRow(
        id=rid, received_at=received_at, peer=peer, method=method, path=path, query=query or "",
        http_version=http_version,
        headers=[(str(k), str(v)) for k, v in json.loads(headers or "[]")],
        status=status, reason=reason, problems=json.loads(problems) if problems else [],
        body=bytes(body or b""), record_count=record_count or 0,
        counts=json.loads(counts) if counts else {}, duration_ms=duration_ms,
        source=source or "received", auth=auth or "off", auth_user=auth_user,
        content_type=content_type, content_encoding=content_encoding, body_size=body_size,
        records_before=records_before,
    )


def request_rows(db, ids: Iterable[int] | None = None) -> Iterator[RequestRow]:
    """The requests of a capture in id order (all, or those in ``ids``), bodies included.

    Rows are read :data:`REQUEST_CHUNK` at a time and each body on its own, so only one body
    is in memory at a time.
    """
    select = f"SELECT {_REQUEST_COLUMNS} FROM request"
    if ids is not None:
        for chunk in _chunks(ids, 500):
            marks = ", ".join("?" * len(chunk))
            for row in db.execute(f"{select} WHERE id IN ({marks}) ORDER BY id",
                                  chunk).fetchall():
                yield _request_row(db, row)
        return
    after = 0
    while True:
        rows = db.execute(f"{select} WHERE id > ? ORDER BY id LIMIT ?",
                          (after, REQUEST_CHUNK)).fetchall()
        if not rows:
            return
        for row in rows:
            yield _request_row(db, row)
        after = rows[-1][0]


# ---------------------------------------------------------------------------------------------
# What the receiver answered (app.server.Receiver._handle)


def _is_status_page(method: str, path: str, status: int) -> bool:
    return method in ("GET", "HEAD") and path == "/" and status == 200


def _status_text(row: RequestRow) -> str:
    # app.server.Receiver._status_text, as of the moment the request arrived.
    auth = "no authentication" if row.auth == "off" else "HTTP Basic Auth required"
    return (
        f"{APP_TITLE} {__version__}: a mock endpoint for the 1NCE Data Streamer.\n"
        f"POST JSON lists of Event, Usage and SMS records to any path ({auth}).\n"
        f"Requests so far: {row.id - 1}; records: {row.records_before or 0}.\n"
    )


def _body_error(row: RequestRow) -> dict:
    """The error part of a 400 for a body that is no batch, with its position when it had one.

    The stored reason is the message; the position is found again by judging the stored body
    the same way (it is deterministic).
    """
    try:
        inspect_body(row.body)
    except BodyError as exc:
        if str(exc) == row.reason:
            return exc.as_json()
    return {"error": row.reason}


def answer_body(row: RequestRow) -> bytes:
    """The body the receiver answered ``row`` with, byte for byte.

    200: ``{"ok": true, "request_id", "records", "counts"[, "problems"]}``; a rejection:
    ``{"ok": false, "error", "request_id"}``, or for a body that is not a batch ``{"ok": false,
    "request_id", "error"[, "position"][, "index"]}``. The status page (GET /) is text, and a
    HEAD answer has no body.
    """
    if row.method == "HEAD":
        return b""
    if _is_status_page(row.method, row.path, row.status):
        return _status_text(row).encode("utf-8")
    if row.status == 200:
        body: dict = {"ok": True, "request_id": row.id, "records": row.record_count,
                      "counts": row.counts}
        if row.problems:
            body["problems"] = row.problems
    elif row.status == 400 and not (row.reason or "").startswith("the body could not be read"):
        body = {"ok": False, "request_id": row.id, **_body_error(row)}
    else:
        body = {"ok": False, "error": row.reason, "request_id": row.id}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def answer_headers(row: RequestRow) -> list[tuple[str, str]]:
    """The answer's own headers (Content-Type, and Allow / WWW-Authenticate on 405 / 401)."""
    if _is_status_page(row.method, row.path, row.status):
        headers = [("Content-Type", "text/plain; charset=utf-8")]
    else:
        headers = [("Content-Type", "application/json; charset=utf-8")]
    if row.status == 405:
        headers.append(("Allow", "POST"))
    elif row.status == 401:
        headers.append(("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"'))
    return headers


# ---------------------------------------------------------------------------------------------
# Helpers


def _rows(source: RowSource) -> Iterable[Any]:
    return source() if callable(source) else source


def _identity(text: str) -> str:
    return text


def _transform(options: ExportOptions) -> Callable[[str], str]:
    return options.transform or _identity


class _Buffered:
    """Gathers text and writes it to a binary file as UTF-8 about a megabyte at a time."""

    def __init__(self, out: BinaryIO):
        self._out = out
        self._parts: list[str] = []
        self._size = 0

    def write(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            self._out.write("".join(self._parts).encode("utf-8"))
            self._parts.clear()
            self._size = 0


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Records: json, ndjson


def _checked(row: RecordRow, options: ExportOptions) -> str:
    """A record's text for json/ndjson: as stored, or as strict JSON (``strict_json``) when it
    is not interoperable; either way counted in ``options.stats``."""
    text = row.text
    if not options.strict_json and options.known is not None \
            and not options.known.may_hold(row.request_id):
        return text  # the receiver found nothing to note in its request: only count, so trust
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        pass  # a lone surrogate, a number beyond a double or 64 bits: look closer
    else:
        if orjson_is_exact(text, value):
            return text  # no duplicate key either (see parse_record)
    strict, changed = strict_json(text)
    if not changed:
        return text
    options.stats.non_interoperable += 1
    if options.strict_json:
        options.stats.rewritten += 1
        return strict
    return text


def write_json(source: RowSource, out: BinaryIO, options: ExportOptions) -> int:
    """A JSON list of the records as the streamer posts them: their stored texts, unchanged
    (see :func:`_checked` for ``strict_json``)."""
    transform = _transform(options)
    buf = _Buffered(out)
    buf.write("[")
    count = 0
    for row in _rows(source):
        if count:
            buf.write(",")
        buf.write(transform(_checked(row, options)))
        count += 1
    buf.write("]\n")
    buf.flush()
    return count


def write_ndjson(source: RowSource, out: BinaryIO, options: ExportOptions) -> int:
    """One record's stored text a line."""
    transform = _transform(options)
    buf = _Buffered(out)
    count = 0
    for row in _rows(source):
        buf.write(transform(_checked(row, options)))
        buf.write("\n")
        count += 1
    buf.flush()
    return count


# ---------------------------------------------------------------------------------------------
# Records: csv


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
    """The order of the record columns: first the paths of the families' columns in
    ``app.records.columns.RECORD_TABS`` (tab by tab, column by column), then the others sorted."""
    present = set(paths)
    seen_families = set(families)
    ordered: list[str] = []
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


_FIXED = ("id", "request_id", "family")


def _column_names(paths: list[str]) -> list[str]:
    """Header names: the dotted paths, except that a path named like one of the fixed columns
    (the record's own ``id``, above all) becomes ``record_<path>`` (as in ``record_keys``)."""
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
    """One row a record: id, request_id, family, then the record's columns.

    By default the columns are those of the record tables in the window
    (``app.records.columns``), for the families present, each named by its JSON path
    (``event_type.description``): one fast pass over the JSON.
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
                else {row.family for row in _rows(source)})
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
    for row in _rows(source):
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


def _family_columns(families: set[str]) -> list:
    """The window's columns (``app.records.columns``) of these families, each JSON path once."""
    out = []
    seen: set[tuple] = set()
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
    exprs = []
    for shown in columns:
        column = own.get(shown.paths[0])
        if column is None:
            exprs.append("''")
            continue
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
        exprs.append(code)
    return eval(f"lambda r: ({', '.join(exprs)},)", {"E": _EMPTY})


_EMPTY: dict = {}


def _applies(column, family: str) -> bool:
    return any(family in tab.families and any(c.paths[0] == column.paths[0]
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
    for row in _rows(source):
        paths.update(flatten(transform(row.text) if json_safe else row.text))
        families.add(row.family)
    columns = csv_columns(paths, families)
    if options.csv_bom:
        out.write(_BOM)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=options.csv_delimiter)
    writer.writerow([*_FIXED, *(neutralise(name) for name in _column_names(columns))])
    count = 0
    for row in _rows(source):
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


# ---------------------------------------------------------------------------------------------
# Requests: har, postman


def _body_text(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def transform_bytes(body: bytes, transform: Callable[[str], str]) -> bytes:
    """``transform`` (masking) applied to a body that is not UTF-8: every UTF-8 part and ASCII
    digit is seen, every other byte kept as it was (``surrogateescape``)."""
    return transform(body.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


def _target(row: RequestRow, transform: Callable[[str], str]) -> str:
    """Path and query (``/hook?a=1``), transformed."""
    return transform(row.path + (f"?{row.query}" if row.query else ""))


def har_entry(row: RequestRow, options: ExportOptions) -> dict:
    """One HAR 1.2 entry: the request as it arrived and the answer it got.

    A body that is not UTF-8 goes into ``postData.text`` as base64 with the custom field
    ``"_encoding": "base64"`` (HAR 1.2 defines ``encoding`` only for response content).
    """
    transform = _transform(options)
    version = f"HTTP/{row.http_version or '1.1'}"
    target = _target(row, transform)
    query = urlsplit(target).query
    request: dict = {
        "method": row.method,
        "url": options.base_url.rstrip("/") + target,
        "httpVersion": version,
        "cookies": [],
        "headers": [{"name": k, "value": transform(v)} for k, v in row.headers],
        "queryString": [{"name": k, "value": v}
                        for k, v in parse_qsl(query, keep_blank_values=True)],
        "headersSize": -1,
        "bodySize": row.body_size if row.body_size is not None else len(row.body),
    }
    if row.body or row.method not in ("GET", "HEAD"):
        text = _body_text(row.body)
        post: dict = {"mimeType": row.content_type or ""}
        if text is None:
            body = row.body if options.transform is None else transform_bytes(row.body,
                                                                                 transform)
            post["text"] = base64.b64encode(body).decode("ascii")
            post["_encoding"] = "base64"
        else:
            post["text"] = transform(text)
        request["postData"] = post
    answer = answer_body(row)
    mime = answer_headers(row)[0][1]
    try:
        status_text = HTTPStatus(row.status).phrase
    except ValueError:
        status_text = ""
    wait = round(row.duration_ms, 3) if row.duration_ms is not None else 0
    return {
        "startedDateTime": row.received_at,
        "time": wait,
        "request": request,
        "response": {
            "status": row.status,
            "statusText": status_text,
            "httpVersion": version,
            "cookies": [],
            "headers": [{"name": k, "value": v} for k, v in answer_headers(row)],
            "content": {"size": len(answer), "mimeType": mime,
                        "text": answer.decode("utf-8")},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": len(answer),
        },
        "cache": {},
        "timings": {"send": 0, "wait": wait, "receive": 0},
        "_streamer_inspector": {
            "request_id": row.id,
            "record_count": row.record_count,
            "counts": row.counts,
            "problems": row.problems,
            "source": row.source,
            "peer": transform(row.peer) if row.peer else row.peer,
            "auth": row.auth,
            "reason": row.reason,
        },
    }


def write_har(source: RowSource, out: BinaryIO, options: ExportOptions) -> int:
    """HAR 1.2: one entry a request (see :func:`har_entry`)."""
    creator = _dumps({"name": APP_TITLE, "version": __version__})
    out.write(f'{{"log": {{"version": "1.2", "creator": {creator}, "entries": ['
              .encode())
    count = 0
    for row in _rows(source):
        out.write(((",\n" if count else "\n") + _dumps(har_entry(row, options))).encode("utf-8"))
        count += 1
    out.write(b"\n]}}\n")
    return count


_POSTMAN_DROPPED = {"authorization", "proxy-authorization", "content-length", "host",
                    "content-encoding", "transfer-encoding"}


def postman_item(row: RequestRow, options: ExportOptions) -> dict:
    """One Postman v2.1 item: the request, ready to send again (fill in the password).

    Authorization, Content-Length, Host, Content-Encoding and Transfer-Encoding headers are
    left out (Postman sets them; the body is stored decompressed); Basic Auth uses the user the
    request carried and the collection variable ``{{password}}``.
    """
    transform = _transform(options)
    base = urlsplit(options.base_url.rstrip("/"))
    target = _target(row, transform)
    parts = urlsplit(target)
    host = base.hostname or "localhost"
    url: dict = {
        "raw": options.base_url.rstrip("/") + target,
        "protocol": base.scheme or "https",
        "host": [f"[{host}]"] if ":" in host else host.split("."),
        "path": (base.path + parts.path).lstrip("/").split("/"),
    }
    if base.port is not None:
        url["port"] = str(base.port)
    if parts.query:
        url["query"] = [{"key": k, "value": v}
                        for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    request: dict = {
        "method": row.method,
        "header": [{"key": k, "value": transform(v)} for k, v in row.headers
                   if k.lower() not in _POSTMAN_DROPPED],
        "url": url,
        "auth": {"type": "basic", "basic": [
            {"key": "username", "value": row.auth_user or "", "type": "string"},
            {"key": "password", "value": "{{password}}", "type": "string"},
        ]},
    }
    if row.body or row.method not in ("GET", "HEAD"):
        text = _body_text(row.body)
        if text is None:  # not UTF-8: masked byte-wise, then what Postman can hold (U+FFFD)
            raw = transform_bytes(row.body, transform).decode("utf-8", "replace")
        else:
            raw = transform(text)
        request["body"] = {"mode": "raw", "raw": raw, "options": {"raw": {"language": "json"}}}
    name = f"#{row.id} {row.method} {parts.path} {row.status}"
    if row.status == 200 and row.method == "POST":
        name += f" ({row.record_count} record{'' if row.record_count == 1 else 's'})"
    return {"name": name, "request": request, "response": []}


def write_postman(source: RowSource, out: BinaryIO, options: ExportOptions) -> int:
    """A Postman Collection v2.1 with one item a request and a ``password`` variable."""
    info = _dumps({
        "_postman_id": str(uuid.uuid4()),
        "name": f"{APP_TITLE} capture",
        "description": f"Requests exported from a {APP_TITLE} {__version__} capture. "
                       f"Set the collection variable 'password' to the Basic Auth password.",
        "schema": POSTMAN_SCHEMA,
    })
    out.write(f'{{"info": {info}, "item": ['.encode())
    count = 0
    for row in _rows(source):
        out.write(((",\n" if count else "\n") + _dumps(postman_item(row, options)))
                  .encode("utf-8"))
        count += 1
    out.write(b'\n], "variable": [{"key": "password", "value": ""}]}\n')
    return count


# ---------------------------------------------------------------------------------------------
# The registry


EXPORTERS: dict[str, Exporter] = {e.name: e for e in (
    Exporter("json", "JSON: a list of records, as the streamer posts them", "json", "records",
             write_json),
    Exporter("ndjson", "NDJSON: one record a line", "ndjson", "records", write_ndjson),
    Exporter("csv", "CSV: one row a record, nested fields as dotted columns", "csv", "records",
             write_csv),
    Exporter("har", "HAR 1.2: the requests and their answers", "har", "requests", write_har),
    Exporter("postman", "Postman Collection v2.1: the requests, to send again", "postman.json",
             "requests", write_postman),
)}


def export(db, name: str, out: BinaryIO, options: ExportOptions | None = None, *,
           ids: Iterable[int] | None = None, filter_text: str = "",
           families: tuple[str, ...] | None = None) -> int:
    """Export from an open capture with the exporter ``name``; returns the items written.

    Records exporters take ``ids`` (record numbers), ``filter_text`` and ``families``;
    requests exporters take ``ids`` (request numbers) only.
    """
    exporter = EXPORTERS[name]
    options = options or ExportOptions()
    if options.known is None:
        options.known = known_interop(db)
    if exporter.kind == "records":
        id_list = list(ids) if ids is not None else None
        return exporter.write(lambda: record_rows(db, id_list, filter_text, families),
                              out, options)
    if filter_text or families:
        raise ValueError(f"{name} exports requests: select them by ids, not by a filter")
    id_list = list(ids) if ids is not None else None
    return exporter.write(lambda: request_rows(db, id_list), out, options)
