"""What the endpoint answered a request: stored with it (capture format 5), or derived.

Since capture format 5 the request row holds the answer as it was sent (``response_headers``:
the headers the receiver set, ``response_body``: the bytes of the body); the status is the row's
``status``. :func:`derived_answer` rebuilds the answer of a request stored before that (the
format 4 to 5 migration, a reader of an older capture it cannot migrate) or of an imported
request: what this endpoint answers such a request.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from app import APP_TITLE, __version__
from app.net import REALM
from app.records.shape import BodyError, inspect_body

JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
# The 401's challenge: the realm, and that the credentials are UTF-8 (RFC 7617).
CHALLENGE = f'Basic realm="{REALM}", charset="UTF-8"'


@dataclass(frozen=True)
class Answer:
    """An answer's own headers (Content-Type, Allow, WWW-Authenticate) and its body's bytes.

    aiohttp adds Content-Length, Date and Server when it sends it."""

    headers: tuple[tuple[str, str], ...]
    body: bytes

    def headers_json(self) -> str:
        return json.dumps([list(h) for h in self.headers], ensure_ascii=False)

    @classmethod
    def from_columns(cls, headers: str | None, body: bytes | None) -> Answer:
        return cls(tuple((str(k), str(v)) for k, v in json.loads(headers or "[]")),
                   bytes(body or b""))


def json_answer(body: dict, headers: Sequence[tuple[str, str]] = ()) -> Answer:
    """A JSON answer as the receiver sends it (UTF-8, non-ASCII characters as they are)."""
    return Answer((("Content-Type", JSON_TYPE), *headers),
                  json.dumps(body, ensure_ascii=False).encode("utf-8"))


def status_text(auth: bool, requests: int, records: int) -> str:
    """The status page (GET /): what the endpoint is and what arrived before this look."""
    kind = "HTTP Basic Auth required" if auth else "no authentication"
    return (
        f"{APP_TITLE} {__version__}: a mock endpoint for the 1NCE Data Streamer.\n"
        f"POST JSON lists of Event, Usage and SMS records to any path ({kind}).\n"
        f"Requests so far: {requests}; records: {records}.\n"
    )


def status_answer(text: str) -> Answer:
    """The status page's answer (to a HEAD, only its headers are sent)."""
    return Answer((("Content-Type", TEXT_TYPE),), text.encode("utf-8"))


def is_status_page(method: str, path: str, status: int) -> bool:
    return method in ("GET", "HEAD") and path == "/" and status == 200


def derived_answer(*, request_id: int, method: str, path: str, status: int,
                   reason: str | None, auth: str, record_count: int, counts: dict[str, int],
                   problems: list[str], body: bytes, records_before: int) -> Answer:
    """What this endpoint answers a stored request (the receiver's answers, rebuilt).

    200: ``{"ok": true, "request_id", "records", "counts"[, "problems"]}``; a rejection:
    ``{"ok": false, "error", "request_id"}`` (and ``Allow`` on a 405, ``WWW-Authenticate`` on a
    401), or for a body that is not a batch ``{"ok": false, "request_id", "error"[,
    "position"][, "index"]}``: the position is found again by judging the stored body (it is
    deterministic). The status page (GET /) says how many requests and records came before
    (``records_before``), with this version's name. The body is the answer's even for a HEAD
    (to which only the headers are sent), as the receiver stores it.
    """
    if is_status_page(method, path, status):
        return status_answer(status_text(auth != "off", request_id - 1, records_before))
    extra: tuple[tuple[str, str], ...] = ()
    if status == 405:
        extra = (("Allow", "POST"),)
    elif status == 401:
        extra = (("WWW-Authenticate", CHALLENGE),)
    if status == 200:
        out: dict = {"ok": True, "request_id": request_id, "records": record_count,
                     "counts": counts}
        if problems:
            out["problems"] = problems
    elif status == 400 and not (reason or "").startswith("the body could not be read"):
        out = {"ok": False, "request_id": request_id, **_body_error(body, reason)}
    else:
        out = {"ok": False, "error": reason, "request_id": request_id}
    return json_answer(out, extra)


def _body_error(body: bytes, reason: str | None) -> dict:
    """The error part of a 400 for a body that is no batch, with its position when it had
    one."""
    try:
        inspect_body(body)
    except BodyError as exc:
        if str(exc) == reason:
            return exc.as_json()
    return {"error": reason}
