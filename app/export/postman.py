"""Postman Collection v2.1: the requests, ready to send again."""

from __future__ import annotations

import uuid
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

POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"


_POSTMAN_DROPPED = {"authorization", "proxy-authorization", "content-length", "host",
                    "content-encoding", "transfer-encoding"}


def postman_item(row: RequestRow, options: ExportOptions) -> dict:
    """One Postman v2.1 item: the request, ready to send again (fill in the password).

    Authorization, Content-Length, Host, Content-Encoding and Transfer-Encoding headers are
    left out (Postman sets them; the body is stored decompressed); Basic Auth uses the user the
    request carried and the collection variable ``{{password}}``.
    """
    transform = transform_of(options)
    endpoint = endpoint_of(row, options)
    base = urlsplit(endpoint)
    target = uri_target(row, transform)
    parts = urlsplit(target)
    host = base.hostname or "localhost"
    url: dict = {
        "raw": endpoint + target,
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
        text = body_text(row.body)
        if text is None:  # not UTF-8: masked byte-wise, then what Postman can hold (U+FFFD)
            raw = transform_bytes(row.body, transform).decode("utf-8", "replace")
        else:
            raw = transform(text)
        request["body"] = {"mode": "raw", "raw": raw, "options": {"raw": {"language": "json"}}}
    answered = str(row.status) if row.answered else "no answer"
    name = f"#{row.id} {row.method} {parts.path} {answered}"
    if row.method == "POST" and (row.status == 200 or row.record_count):
        name += f" ({row.record_count} record{'' if row.record_count == 1 else 's'})"
    item: dict = {"name": name, "request": request, "response": []}
    if row.rule:  # a batch a rule answered: its records were stored all the same
        item["description"] = (
            f"Answered by the answer rule '{transform(row.rule)}': "
            + (f"{row.status}" if row.answered else "no answer was sent")
            + ("." if row.acked else "; the batch was not acknowledged."))
    return item


def write_postman(source: RowSource, out: BinaryIO, options: ExportOptions) -> int:
    """A Postman Collection v2.1 with one item a request and a ``password`` variable."""
    info = dumps({
        "_postman_id": str(uuid.uuid4()),
        "name": f"{APP_TITLE} capture",
        "description": f"Requests exported from a {APP_TITLE} {__version__} capture. "
                       f"Set the collection variable 'password' to the Basic Auth password.",
        "schema": POSTMAN_SCHEMA,
    })
    out.write(f'{{"info": {info}, "item": ['.encode())
    count = 0
    for row in rows_of(source):
        out.write(((",\n" if count else "\n") + dumps(postman_item(row, options)))
                  .encode("utf-8"))
        count += 1
    out.write(b'\n], "variable": [{"key": "password", "value": ""}]}\n')
    return count

