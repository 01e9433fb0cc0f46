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
    dumps,
    endpoint_of,
    rows_of,
    transform_bytes,
    transform_of,
    uri_target,
)


def har_entry(row: RequestRow, options: ExportOptions) -> dict:
    """One HAR 1.2 entry: the request as it arrived and the answer it got.

    A body that is not UTF-8 goes into ``postData.text`` as base64 with the custom field
    ``"_encoding": "base64"`` (HAR 1.2 defines ``encoding`` only for response content).
    """
    transform = transform_of(options)
    version = f"HTTP/{row.http_version or '1.1'}"
    target = uri_target(row, transform)
    query = urlsplit(target).query
    request: dict = {
        "method": row.method,
        "url": endpoint_of(row, options) + target,
        "httpVersion": version,
        "cookies": [],
        "headers": [{"name": k, "value": transform(v)} for k, v in row.headers],
        "queryString": [{"name": k, "value": v}
                        for k, v in parse_qsl(query, keep_blank_values=True)],
        "headersSize": -1,
        "bodySize": row.body_size if row.body_size is not None else len(row.body),
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
    entry = {
        "startedDateTime": row.received_at,
        "time": wait,
        "request": request,
        "response": _response(row, version),
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
            "rule": transform(row.rule) if row.rule else row.rule,  # a path glob is a path
            "acked": row.acked,
        },
    }
    if row.rule:
        entry["comment"] = (f"answered by the answer rule '{transform(row.rule)}'"
                            + ("" if row.acked else "; the batch was not acknowledged"))
    return entry


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
