"""HAR 1.2: the requests as they arrived and the answers they got (stored with them)."""

from __future__ import annotations

import base64
from http import HTTPStatus
from typing import BinaryIO
from urllib.parse import parse_qsl, urlsplit

from app import APP_TITLE, __version__
from app.export.common import (
    ExportOptions,
    RequestRow,
    RowSource,
    body_text,
    decoded_codings,
    dumps,
    endpoint_of,
    rows_of,
    transform_bytes,
    transform_of,
    uri_target,
)


def body_was_decoded(row: RequestRow) -> bool:
    """Whether the stored body is the one its Content-Encoding decoded (see
    :func:`app.export.common.decoded_codings`)."""
    return bool(decoded_codings(row))


def read_in_part(row: RequestRow) -> bool:
    """Whether the stored body is only the first part of what was sent (a 401's first 4 KB, a
    413's first ``--max-body`` bytes): ``body_size`` says more arrived. Not a compressed body
    refused for what it decodes to (413): it is stored whole, as sent, and ``body_size`` is
    then its decoded size (beyond the limit)."""
    if row.body_size is None or row.body_size <= len(row.body):
        return False
    return not (row.reason or "").startswith("the body, decoded from Content-Encoding")


def request_headers(row: RequestRow) -> tuple[list[tuple[str, str]], bool]:
    """The request's headers describing its stored body, and whether they differ from those
    that arrived: without the Content-Encoding the receiver undid (the body is stored
    decoded), and with a Content-Length of the stored body (decoded, or the part of a refused
    body that was read)."""
    decoded = body_was_decoded(row)
    size = str(len(row.body))
    out: list[tuple[str, str]] = []
    changed = False
    for name, value in row.headers:
        lower = name.lower()
        if decoded and lower == "content-encoding":
            changed = True
            continue
        if lower == "content-length" and value.strip() != size:
            out.append((name, size))
            changed = True
            continue
        out.append((name, value))
    return out, changed


def _wire(row: RequestRow, transform) -> dict:
    """What arrived on the wire, where the HAR request describes the stored body instead."""
    wire: dict = {"headers": [{"name": k, "value": transform(v)} for k, v in row.headers]}
    size = None
    if body_was_decoded(row):
        wire["contentEncoding"] = row.content_encoding
        length = next((v for k, v in row.headers if k.lower() == "content-length"), None)
        size = int(length) if length is not None and length.strip().isdigit() else None
    elif read_in_part(row):
        size = row.body_size
    wire["bodySize"] = size if size is not None else -1
    return wire


def har_entry(row: RequestRow, options: ExportOptions) -> dict:
    """One HAR 1.2 entry: the request as stored and the answer it got.

    The request agrees with itself: ``postData``, ``bodySize`` and the headers describe the
    same bytes, the stored body. A body sent gzip- or deflate-compressed is stored decoded:
    its Content-Encoding header is left out and Content-Length is the decoded size; a refused
    body that was read only in part (401, 413) has the Content-Length of that part. What
    arrived on the wire is kept in ``_streamer_inspector.wire`` (the headers as sent, the
    Content-Encoding, the size on the wire, -1 when not known) and said in ``comment``.
    A body that is not UTF-8 goes into ``postData.text`` as base64 with the custom field
    ``"_encoding": "base64"`` (HAR 1.2 defines ``encoding`` only for response content).
    ``_streamer_inspector.target`` is the request target exactly as it arrived (the URL
    holds it percent-encoded where a URI needs it, without the absolute form's scheme and
    host), ``endpoint`` the endpoint that received it.
    """
    transform = transform_of(options)
    version = f"HTTP/{row.http_version or '1.1'}"
    target = uri_target(row, transform)
    query = urlsplit(target).query
    headers, changed = request_headers(row)
    request: dict = {
        "method": row.method,
        "url": endpoint_of(row, options) + target,
        "httpVersion": version,
        "cookies": [],
        "headers": [{"name": k, "value": transform(v)} for k, v in headers],
        "queryString": [{"name": k, "value": v}
                        for k, v in parse_qsl(query, keep_blank_values=True)],
        "headersSize": -1,
        "bodySize": len(row.body),
    }
    if row.body or row.method not in ("GET", "HEAD"):
        text = body_text(row.body)
        post: dict = {"mimeType": row.content_type or ""}
        if text is None:
            body = row.body if options.transform is None else transform_bytes(row.body,
                                                                                 transform)
            post["text"] = base64.b64encode(body).decode("ascii")
            post["_encoding"] = "base64"
        else:
            post["text"] = transform(text)
        request["postData"] = post
    wait = round(row.duration_ms, 3) if row.duration_ms is not None else 0
    ours: dict = {
        "request_id": row.id,
        "record_count": row.record_count,
        "counts": row.counts,
        "problems": row.problems,
        "source": row.source,
        "peer": transform(row.peer) if row.peer else row.peer,
        "auth": row.auth,
        "auth_user": transform(row.auth_user) if row.auth_user else row.auth_user,
        "reason": row.reason,
        "rule": transform(row.rule) if row.rule else row.rule,  # a path glob is a path
        "acked": row.acked,
        "target": transform(row.target) if row.target is not None else None,
        "endpoint": row.endpoint,
    }
    notes = []
    if changed or read_in_part(row):
        ours["wire"] = wire = _wire(row, transform)
        notes.append(_wire_note(row, wire))
    entry = {
        "startedDateTime": row.received_at,
        "time": wait,
        "request": request,
        "response": _response(row, version),
        "cache": {},
        "timings": {"send": 0, "wait": wait, "receive": 0},
        "_streamer_inspector": ours,
    }
    if row.rule:
        notes.insert(0, f"answered by the answer rule '{transform(row.rule)}'"
                     + ("" if row.acked else "; the batch was not acknowledged"))
    if notes:
        entry["comment"] = "; ".join(notes)
    return entry


def _wire_note(row: RequestRow, wire: dict) -> str:
    size = wire["bodySize"]
    on_wire = f"{size} bytes" if size >= 0 else "a size not known"
    if "contentEncoding" in wire:
        return (f"the body arrived with Content-Encoding {wire['contentEncoding']} "
                f"({on_wire}); postData is the decoded body as stored ({len(row.body)} bytes), "
                f"the headers as sent are in _streamer_inspector.wire")
    return (f"only the first {len(row.body)} bytes of the body were read ({on_wire} were "
            f"sent or declared); the headers as sent are in _streamer_inspector.wire")


def _response(row: RequestRow, version: str) -> dict:
    """The answer stored with the request, as sent (a HEAD got its headers only); for a request
    that got none (status 0: a rule dropped it, or the client gave up waiting), what browsers
    write for a failed request: status 0, no headers, no content, ``_error`` saying why."""
    if not row.answered:
        return {
            "status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
            "content": {"size": 0, "mimeType": "x-unknown"}, "redirectURL": "",
            "headersSize": -1, "bodySize": -1,
            "_error": row.reason or "no answer was sent",
        }
    answer = b"" if row.method == "HEAD" else row.answer.body
    headers: dict[str, str] = {}
    for name, value in row.answer.headers:
        headers.setdefault(name.lower(), value)  # the first of a repeated header
    try:
        status_text = HTTPStatus(row.status).phrase
    except ValueError:
        status_text = ""
    return {
        "status": row.status,
        "statusText": status_text,
        "httpVersion": version,
        "cookies": [],
        "headers": [{"name": k, "value": v} for k, v in row.answer.headers],
        "content": _content(answer, headers.get("content-type", "")),
        # a rule's redirect names its target (the streamer does not follow it)
        "redirectURL": headers.get("location", "") if 300 <= row.status < 400 else "",
        "headersSize": -1,
        "bodySize": len(answer),
    }


def write_har(source: RowSource, out: BinaryIO, options: ExportOptions) -> int:
    """HAR 1.2: one entry a request (see :func:`har_entry`)."""
    creator = dumps({"name": APP_TITLE, "version": __version__})
    out.write(f'{{"log": {{"version": "1.2", "creator": {creator}, "entries": ['
              .encode())
    count = 0
    for row in rows_of(source):
        out.write(((",\n" if count else "\n") + dumps(har_entry(row, options))).encode("utf-8"))
        count += 1
    out.write(b"\n]}}\n")
    return count


def _content(body: bytes, mime: str) -> dict:
    """A response's ``content``: its text, or base64 (``"encoding": "base64"``) for bytes that
    are not UTF-8 (the receiver's answers always are)."""
    text = body_text(body)
    if text is None:
        return {"size": len(body), "mimeType": mime,
                "text": base64.b64encode(body).decode("ascii"), "encoding": "base64"}
    return {"size": len(body), "mimeType": mime, "text": text}
