"""What every export format shares: the rows, the options, and small writing helpers.

The formats (``jsonlist``, ``ndjson``, ``csvfile``, ``har``, ``postman``) are pure functions

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

The registry of formats is :mod:`app.export.registry`; reading a capture into rows is
:mod:`app.export.rows`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import quote

import orjson

from app.capture.answers import Answer
from app.records.shape import orjson_is_exact, strict_json

FLUSH_BYTES = 1 << 20  # write to ``out`` once about this much text has gathered


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
    # The answer it got: its own headers and body as sent (``request.response_*``).
    answer: Answer = field(default_factory=lambda: Answer((), b""))
    # The answer rule that decided the answer (None: the endpoint's own judgement), and whether
    # the answer acknowledged the batch (a capture older than format 6: a 200 did). A rule may
    # answer a batch with an error (its records are stored all the same) or with no answer at
    # all: status 0 (dropped, or a client that gave up waiting).
    rule: str | None = None
    acked: bool = False
    # The request target exactly as it arrived (``/p%20q/x%2Fy?a=1``; capture format 7 on) and
    # the endpoint that received it (``https://localhost:8443``: scheme, host and port; format 7
    # on). None for requests stored before: see :func:`uri_target` and :func:`endpoint_of`.
    target: str | None = None
    endpoint: str | None = None

    @property
    def answered(self) -> bool:
        """Whether an HTTP answer was sent (status 0: the connection closed without one)."""
        return self.status != 0


@dataclass(frozen=True)
class KnownInterop:
    """Which records may be legal but non-interoperable JSON, from the capture's notes.

    The receiver notes such records on their request (``app.capture.contract_problems``);
    requests stored before a capture had those notes (``notes_from``) may hold any."""

    notes_from: int
    flagged: frozenset[int]

    def may_hold(self, request_id: int) -> bool:
        return request_id < self.notes_from or request_id in self.flagged


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
    """How to write: CSV dialect, the URL requests are sent to again, and a text transform.

    ``strict_json`` writes records that are legal but not interoperable JSON as strict JSON
    (json and ndjson: U+FFFD for a lone surrogate, a duplicate key once with its first value, a
    number beyond a double as a string of its spelling); ``stats`` counts what was met."""

    csv_bom: bool = False
    csv_delimiter: str = ","
    # Where the requests are sent again (HAR, Postman, curl): None means each request's own
    # endpoint, the one that received it (see :func:`endpoint_of`); a URL overrides that.
    base_url: str | None = None
    transform: Callable[[str], str] | None = None
    csv_all_fields: bool = False  # every JSON path (slower) instead of the family's columns
    families: frozenset[str] | None = None  # the families exported, when the caller knows
    csv_header: bool = True  # False: rows only (a part of a parallel export)
    strict_json: bool = False
    # json/ndjson count (not strict_json) only the records of requests noted as holding
    # non-interoperable ones; None: every record is checked
    known: KnownInterop | None = None
    stats: ExportStats = field(default_factory=ExportStats)
    # xlsx (an exporter ``with_requests``): after the records, called with the ids of the
    # requests they came in; returns the request rows to list beside them
    requests: Callable[[set[int]], Iterable[RequestRow]] | None = None


RowSource = Callable[[], Iterable[Any]] | Iterable[Any]


def rows_of(source: RowSource) -> Iterable[Any]:
    return source() if callable(source) else source


def _identity(text: str) -> str:
    return text


def transform_of(options: ExportOptions) -> Callable[[str], str]:
    return options.transform or _identity


class Buffered:
    """Gathers text and writes it to a binary file as UTF-8 about a megabyte at a time."""

    def __init__(self, out: BinaryIO):
        self._out = out
        self._parts: list[str] = []
        self._size = 0

    def write(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            self._out.write("".join(self._parts).encode("utf-8"))
            self._parts.clear()
            self._size = 0


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def checked_text(row: RecordRow, options: ExportOptions) -> str:
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



def body_text(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def transform_bytes(body: bytes, transform: Callable[[str], str]) -> bytes:
    """``transform`` (masking) applied to a body that is not UTF-8: every UTF-8 part and ASCII
    digit is seen, every other byte kept as it was (``surrogateescape``)."""
    return transform(body.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


def target_of(row: RequestRow, transform: Callable[[str], str]) -> str:
    """Path and query (``/hook?a=1``), transformed."""
    return transform(row.path + (f"?{row.query}" if row.query else ""))



DEFAULT_ENDPOINT = "https://localhost:8443"  # for requests stored before format 7


def endpoint_of(row: RequestRow, options: ExportOptions) -> str:
    """Scheme, host and port to send ``row`` to again, without a trailing slash: the export's
    ``base_url`` when given, else the endpoint that received it, else :data:`DEFAULT_ENDPOINT`."""
    return (options.base_url or row.endpoint or DEFAULT_ENDPOINT).rstrip("/")


# What the path and query of an RFC 3986 URI may hold as they are (pchar, "/" and "?"), and
# "%" (a request target that arrived is already percent-encoded where it had to be). Not "[",
# "]" or a second "#": a URI has them only in its host and as the fragment's start.
_URI_SAFE = "-._~!$&'()*+,;=:@/?%"
# The absolute form of a request target (``POST http://h/x HTTP/1.1``, what a proxy is sent):
# its scheme and authority, dropped to send it again to an endpoint of our choosing.
_ABSOLUTE_FORM = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def origin_form(target: str) -> str:
    """The path and query of a request target as it arrived: an absolute-form target
    (``http://h/x?a=1``) without its scheme and host (``/x?a=1``); the asterisk form (``*``,
    ``OPTIONS *``) as the empty path, which a URL sends as ``*`` again (RFC 9112, 3.2.4)."""
    if target == "*":
        return ""
    match = _ABSOLUTE_FORM.match(target)
    if match is None:
        return target
    rest = target[match.end():]
    return rest if rest.startswith("/") else "/" + rest


def uri_target(row: RequestRow, transform: Callable[[str], str]) -> str:
    """The request target to send again (``/p%20q/x%2Fy?a=1``), transformed: its path and query
    as they arrived (``row.target``, see :func:`origin_form`: "" for ``*``); for a request
    stored before format 7, its decoded path and query encoded again (exact unless the path
    held ``%2F`` or similar). Any character a URI cannot hold there (a space, non-ASCII, ``"``,
    ``{``, ``[``, a ``%`` not followed by two hex digits, a second ``#``) is percent-encoded,
    so ``endpoint + uri_target`` is a valid URI. A fragment that arrived (``#x``, which clients
    do not send) is kept."""
    if row.target is not None:
        text = transform(origin_form(row.target))
    else:
        path = quote(row.path, safe="/:@!$&'()*+,;=~-._")
        text = transform(path + (f"?{row.query}" if row.query else ""))
    text, hash_, fragment = text.partition("#")
    text = _quote(text) + hash_ + _quote(fragment)
    return _BAD_PERCENT.sub("%25", text)


def _quote(text: str) -> str:
    # a byte that was not UTF-8 (surrogateescape) as itself; any other lone surrogate as U+FFFD
    try:
        return quote(text, safe=_URI_SAFE, errors="surrogateescape")
    except UnicodeEncodeError:
        text = _OTHER_SURROGATE.sub("\ufffd", text)
        return quote(text, safe=_URI_SAFE, errors="surrogateescape")


_OTHER_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


# The receiver undoes these Content-Encodings and stores the decoded body (see
# app.server.receiver._decode_body); any other coding is refused (415) with the body as sent.
DECODED_CODINGS = frozenset({"gzip", "x-gzip", "deflate"})
# Statuses the receiver gives before (or instead of) decoding the body: it is stored as sent
# (401: at most its first 4 KB; 413: what arrived before the limit, or a compressed body that
# decodes beyond it; 415: an unknown coding).
_AS_SENT_STATUSES = frozenset({401, 413, 415})


def decoded_codings(row: RequestRow) -> list[str]:
    """The Content-Encodings the receiver undid before storing ``row``'s body, in the order
    they were applied (empty: the body is stored as it was sent). The one rule the HAR, Postman
    and curl exports follow: the receiver decodes a body it reads whole; it keeps the body as
    sent when it refused the request first (401, 413), could not decode it (400 "the body could
    not be read ...") or does not know the coding (415). A status an answer rule gave is not
    such a refusal (rules answer only a batch the endpoint accepted)."""
    codings = [c.strip().lower() for c in (row.content_encoding or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings or not set(codings) <= DECODED_CODINGS:
        return []
    if row.rule is not None:
        return codings
    if (row.status in _AS_SENT_STATUSES or row.auth in ("missing", "invalid")
            or (row.reason or "").startswith("the body could not be read")):
        return []
    return codings
