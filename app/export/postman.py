"""Postman Collection v2.1: the requests, ready to send again with newman or Postman.

What an item holds, so that ``newman run FILE --env-var password=…`` against the endpoint that
recorded the capture gets every recorded status again, in order:

- **URL**: ``{{baseUrl}}`` followed by the request target as it arrived (``uri_target``: the
  raw path and query, ``%2F`` kept apart from ``/``; ``disableUrlEncoding`` so newman sends it
  as it is). ``baseUrl`` is a collection variable holding the endpoint that received the
  request (``endpoint_of``: scheme, host and port, or the export's ``base_url``). Requests
  that came to other endpoints use ``baseUrl2``, ``baseUrl3``, … in the order they first
  appear; ``--env-var baseUrl=URL`` (an environment beats a collection variable) sends them
  elsewhere.
- **Auth** as recorded: the right credentials as Basic Auth with the recorded user and
  ``{{password}}``; wrong Basic credentials with the recorded user and ``{{password}}-wrong``
  (never the right password); a wrong credential the receiver could not read (another scheme,
  bad base64) as its recorded ``Authorization`` header, masked value and all; none (or an
  endpoint without auth) as ``noauth``. No ``password`` variable is defined: an empty one
  would hide ``--global-var`` and stand for a password nobody gave.
- **Body** byte for byte: as ``raw`` text when newman would send that text unchanged (UTF-8,
  a recorded Content-Type, no ``{{`` that newman would take for a variable), else as ``file``
  mode with its base64 ``content`` (postman-runtime decodes it to the exact bytes; the Postman
  app may ask for a file instead). A body the receiver stored decoded (gzip, deflate) is sent
  without its Content-Encoding.
- **Headers** as recorded, except those newman computes (Content-Length, Host,
  Transfer-Encoding) and the credentials (see Auth).
- **A test** (``event`` ``test``) asserting the recorded status, so newman reports whether the
  replay reproduced it. A batch an answer rule (or the pause) answered expects 200, the
  endpoint's own judgement of it (its records were stored): the rule's status is not the
  request's doing. A request whose body was stored cut short (413) cannot be reproduced, nor
  one that got no answer without a rule: their test is skipped, and says why.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import BinaryIO
from urllib.parse import urlsplit

from app import APP_TITLE, __version__
from app.capture.rules import PAUSE_RULE
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

POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"

# The password of a request that carried wrong Basic credentials: never the right one.
WRONG_PASSWORD = "{{password}}-wrong"

# Headers newman computes itself, and the credentials (rebuilt from the item's auth).
_COMPUTED = {"content-length", "host", "transfer-encoding"}
_CREDENTIALS = {"authorization", "proxy-authorization"}

def _basic(user: str, password: str) -> dict:
    return {"type": "basic", "basic": [
        {"key": "username", "value": user, "type": "string"},
        {"key": "password", "value": password, "type": "string"},
    ]}


def _auth(row: RequestRow, transform: Callable[[str], str]) -> tuple[dict, bool, str]:
    """The item's auth, whether the recorded Authorization header is kept, and a sentence."""
    # the user as masking shows it (Basic Auth cannot carry a ":" in it)
    user = transform(row.auth_user).replace(":", "_") if row.auth_user is not None else None
    if row.auth == "ok":
        return (_basic(user or "", "{{password}}"), False,
                f"Recorded with the right Basic Auth credentials (user '{user or ''}'): "
                f"replayed with that user and the password {{{{password}}}}.")
    if row.auth == "invalid":
        if user is not None:
            return (_basic(user, WRONG_PASSWORD), False,
                    f"Recorded with wrong Basic Auth credentials (user '{user}'): replayed "
                    f"with that user and the password {WRONG_PASSWORD}, wrong again.")
        return ({"type": "noauth"}, True,
                "Recorded with an Authorization header this endpoint refused: replayed with "
                "that header as recorded (its value masked), refused again.")
    if row.auth == "missing":
        return ({"type": "noauth"}, False,
                "Recorded without credentials: replayed without them.")
    return ({"type": "noauth"}, True,
            "The endpoint asked for no credentials (or the request was imported): replayed "
            "without them; an endpoint that asks for them answers 401.")


def _masked_credentials(value: str) -> str:
    """An Authorization value as the receiver stores it (``Basic ****``): a capture of an
    older tool may hold it in clear, which never goes into an export."""
    scheme, _, _ = value.partition(" ")
    return f"{scheme} ****" if scheme else "****"


def _body(row: RequestRow, transform: Callable[[str], str], has_type: bool) -> dict | None:
    """The item's body: raw text when newman sends it unchanged, else base64 file content."""
    if not row.body:
        return None
    text = body_text(row.body)
    raw = transform(text) if text is not None else None
    if raw is not None and has_type and "{{" not in raw:
        # "json" lets Postman colour it; newman then strips what looks like a JSON comment
        json_type = "json" in (row.content_type or "").lower()
        plain = "//" in raw or "/*" in raw or not json_type
        return {"mode": "raw", "raw": raw,
                "options": {"raw": {"language": "text" if plain else "json"}}}
    data = transform_bytes(row.body, transform)  # without a transform: the bytes as stored
    return {"mode": "file", "file": {"content": base64.b64encode(data).decode("ascii")}}


def _status_test(row: RequestRow, transform: Callable[[str], str]) -> tuple[str, str]:
    """The item's test script (JavaScript lines) and the sentence that explains it."""
    recorded = f"{row.status} {_reason(row.status)}" if row.answered else "no answer"
    if row.rule is not None:
        who = ("while acknowledgements were paused" if row.rule == PAUSE_RULE
               else f"by the answer rule '{transform(row.rule)}'")
        name = f"status 200, the endpoint's own answer (recorded: {recorded} {who})"
        why = (f"Recorded: {recorded}, answered {who} (the batch was stored "
               f"{'and acknowledged' if row.acked else 'but not acknowledged'}). The endpoint "
               f"itself accepted the batch, so the test expects 200; with the same rule in "
               f"force again, expect {recorded}.")
        return _pm_test(name, 200), why
    if not row.answered:
        name = "no answer was recorded: nothing to compare"
        return _pm_skip(name), "Recorded: no answer. The test is skipped."
    cut = row.body_size is not None and row.body_size > len(row.body)
    if cut and row.status != 401:
        name = (f"only {len(row.body)} of {row.body_size} bytes of the body were stored: "
                f"{recorded} cannot be reproduced")
        return _pm_skip(name), (f"Recorded: {recorded}, but only {len(row.body)} of "
                                f"{row.body_size} bytes of the body were stored, so the replay "
                                f"sends less. The test is skipped.")
    name = f"status {row.status} as recorded"
    return _pm_test(name, row.status), f"Recorded: {recorded}. The test expects it again."


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _pm_test(name: str, status: int) -> str:
    return (f"pm.test({dumps(name)}, function () {{\n"
            f"    pm.response.to.have.status({status});\n"
            f"}});")


def _pm_skip(name: str) -> str:
    return f"pm.test.skip({dumps(name)}, function () {{}});"


def postman_item(row: RequestRow, options: ExportOptions, base_var: str = "baseUrl") -> dict:
    """One Postman v2.1 item: the request as it was recorded, with a test of its status
    (see the module's docstring). ``base_var`` names the variable of its endpoint."""
    transform = transform_of(options)
    target = uri_target(row, transform)
    auth, keep_credentials, auth_note = _auth(row, transform)
    decoded = bool(decoded_codings(row))  # then sent without its Content-Encoding
    headers = []
    for key, value in row.headers:
        lower = key.lower()
        if lower in _COMPUTED or (decoded and lower == "content-encoding"):
            continue
        if lower in _CREDENTIALS:
            if keep_credentials and lower == "authorization":
                headers.append({"key": key, "value": _masked_credentials(value)})
            continue
        headers.append({"key": key, "value": transform(value)})
    has_type = any(h["key"].lower() == "content-type" for h in headers)
    request: dict = {"method": row.method, "header": headers,
                     "url": f"{{{{{base_var}}}}}{target}", "auth": auth}
    body = _body(row, transform, has_type)
    if body is not None:
        request["body"] = body
    script, test_note = _status_test(row, transform)
    answered = str(row.status) if row.answered else "no answer"
    name = f"#{row.id} {row.method} {urlsplit(target).path or '/'} {answered}"
    if row.method == "POST" and (row.status == 200 or row.record_count):
        name += f" ({row.record_count} record{'' if row.record_count == 1 else 's'})"
    notes = [auth_note, test_note]
    if body is not None and body["mode"] == "file":
        notes.append(f"The body ({len(row.body)} bytes) is base64 file content, which newman "
                     f"sends byte for byte (the Postman app may ask for a file instead).")
    if decoded:
        notes.append(f"The body arrived with Content-Encoding {row.content_encoding}; it was "
                     f"stored decoded and is sent uncompressed.")
    request["description"] = " ".join(notes)
    item: dict = {
        "name": name,
        "request": request,
        "response": [],
        "event": [{"listen": "test",
                   "script": {"type": "text/javascript", "exec": script.split("\n")}}],
        "protocolProfileBehavior": {"disableUrlEncoding": True},
    }
    if body is not None:  # newman drops the body of a GET, HEAD, … unless told
        item["protocolProfileBehavior"]["disableBodyPruning"] = True
    if row.rule is not None:  # a batch a rule answered: its records were stored all the same
        item["description"] = (
            ("Answered while acknowledgements were paused: " if row.rule == PAUSE_RULE
             else f"Answered by the answer rule '{transform(row.rule)}': ")
            + (f"{row.status}" if row.answered else "no answer was sent")
            + ("." if row.acked else "; the batch was not acknowledged."))
    return item


def variable_name(index: int) -> str:
    """The variable of the ``index``-th endpoint (0: ``baseUrl``, 1: ``baseUrl2``, …)."""
    return "baseUrl" if index == 0 else f"baseUrl{index + 1}"


def write_postman(source: RowSource, out: BinaryIO, options: ExportOptions) -> int:
    """A Postman Collection v2.1: one item a request, a ``baseUrl`` variable per endpoint."""
    info = dumps({
        "_postman_id": str(uuid.uuid4()),
        "name": f"{APP_TITLE} capture",
        "description": (
            f"Requests exported from a {APP_TITLE} {__version__} capture, to send again "
            f"in order: newman run FILE --env-var password=PASSWORD (the endpoint's Basic Auth "
            f"password, which the capture does not hold; an environment or --global-var works "
            f"too). For an endpoint with the app's local TLS certificate, give newman its CA "
            f"(streamer-inspector ca --export ca.pem): --ssl-extra-ca-certs ca.pem. The "
            f"collection variable baseUrl is "
            f"the endpoint that received the requests (baseUrl2, … for other endpoints); "
            f"--env-var baseUrl=URL sends them elsewhere. Each item's test checks that the "
            f"replay gets the recorded status; its description says how the request is "
            f"replayed."),
        "schema": POSTMAN_SCHEMA,
    })
    out.write(f'{{"info": {info}, "item": ['.encode())
    endpoints: dict[str, str] = {}
    count = 0
    for row in rows_of(source):
        endpoint = endpoint_of(row, options)
        var = endpoints.setdefault(endpoint, variable_name(len(endpoints)))
        out.write(((",\n" if count else "\n") + dumps(postman_item(row, options, var)))
                  .encode("utf-8"))
        count += 1
    variables = [{"key": var, "value": endpoint, "type": "string",
                  "description": "the endpoint that received the requests using it"}
                 for endpoint, var in endpoints.items()]
    out.write(f'\n], "variable": {dumps(variables)}}}\n'.encode())
    return count
