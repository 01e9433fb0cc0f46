"""The requests of a capture as a bash script of curl commands that sends each one again.

One ``curl`` command a request (built by ``app.replay.curl.build_curl``, the builder of the
window's Copy as cURL too), reproducing its method, its request target as it arrived
(``--path-as-is``), its headers (Content-Type, Content-Encoding, its own ones; curl makes
Content-Length, Host and the connection's) and its body byte for byte. The capture holds a gzip
or deflate body decoded: it is compressed again (gzip by ``gzip -c -n`` in the pipe, deflate
here), so the receiver decodes the same bytes.

Credentials replay as they were judged: a request that carried the right ones sends the user
it carried and the password from ``$STREAMER_INSPECTOR_PASSWORD`` (the capture never holds it;
the script stops at the start when it is needed and unset); a wrong Basic credential sends the
user it carried with a password that is never the right one, any other wrong ``Authorization``
goes as the capture holds it (``Basic ****``, which never matches); a missing one stays
missing. So each request gets its recorded status again from the endpoint that recorded it
(``BASE_URL_<n>``, one variable an endpoint, ``BASE_URL`` for all), and the script says, per
request, the status it got and the recorded one, and exits 1 when any differs.

The options' ``transform`` (masking) applies to everything taken from the capture: the target,
header values, the body (decoded first), the user and the endpoint.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import BinaryIO
from urllib.parse import urlsplit, urlunsplit

from app import APP_TITLE, __version__
from app.export.common import (
    DEFAULT_ENDPOINT,
    Buffered,
    ExportOptions,
    RequestRow,
    RowSource,
    body_text,
    decoded_codings,
    rows_of,
    transform_bytes,
    uri_target,
)
from app.replay.curl import Shell, Var, Word, build_curl, shell_word

PASSWORD_ENV = "STREAMER_INSPECTOR_PASSWORD"  # as the command line's (app.cli.options)


@dataclass(frozen=True)
class Credentials:
    """The Basic Auth a replay sends: for requests that carried the right credentials,
    ``user`` (None: the user each request carried) and ``password``; for those that carried
    a wrong password, their user and ``wrong``, a password that is never the right one.
    ``when_off``: requests received while the endpoint asked for none get the right ones too
    (the endpoint they go to asks for them)."""

    password: Word
    wrong: Word
    user: str | None = None
    when_off: bool = False


def encodings_to_apply(row: RequestRow) -> list[str]:
    """The Content-Encodings to apply again to the stored body: those the receiver undid (see
    :func:`app.export.common.decoded_codings`), in the order they were applied."""
    return decoded_codings(row)


def _masked_authorization(value: str) -> str:
    """A recorded Authorization value as the receiver stores it (``Basic ****``): a capture
    of an older tool may hold it in clear; it never goes into a command."""
    scheme, _, _ = value.partition(" ")
    return f"{scheme} ****" if scheme else "****"


def _one_line(text: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


@dataclass
class Command:
    """One request's curl command, and what to say about it (why it may not get its status
    again, how its credentials and body are sent)."""

    text: str
    notes: list[str]
    password: bool  # it sends the right password


def request_command(row: RequestRow, transform: Callable[[str], str], url: Word,
                    credentials: Credentials, *, request_target: str | None = None,
                    cacert: Word | None = None, options: tuple[Word, ...] = ()) -> Command:
    """The curl command sending ``row`` again to ``url`` (the whole URL: ``transform`` is
    applied to the rest of what is taken from the capture)."""
    notes: list[str] = []
    headers: list[tuple[str, str]] = []
    user: str | None = None
    password: Word | None = None
    right = row.auth == "ok" or (row.auth == "off" and credentials.when_off)
    for name, value in row.headers:
        lower = name.lower()
        if lower in ("authorization", "proxy-authorization"):
            if row.auth == "missing" or (right and lower == "authorization"):
                continue
            value = _masked_authorization(value)
        else:
            value = transform(value)
        headers.append((name, value))
    if right:
        user = credentials.user if credentials.user is not None else transform(
            row.auth_user or "")
        password = credentials.password
        notes.append("the right credentials")
    elif row.auth == "invalid":
        if row.auth_user is not None:
            user, password = transform(row.auth_user), credentials.wrong
            notes.append("a wrong password, as recorded")
        else:
            notes.append("the wrong Authorization, as recorded (masked)")
    elif row.auth == "missing":
        notes.append("no credentials, as recorded")
    if user is not None and ":" in user:  # transformed into something Basic Auth cannot carry
        user = user.replace(":", "_")
    body = row.body
    if body and transform is not _identity_transform:
        text = body_text(body)
        body = transform(text).encode("utf-8") if text is not None else transform_bytes(
            body, transform)
    encodings = encodings_to_apply(row)
    if encodings:
        notes.append(f"body compressed again ({', '.join(encodings)}): the capture holds it "
                     f"decoded")
    pad_to = 0
    size = row.body_size or 0
    if size > len(row.body):
        if row.status == 413 and "Content-Encoding" not in (row.reason or ""):
            pad_to = size + len(body) - len(row.body)
            notes.append(f"the capture holds {len(row.body)} of its {size} bytes: padded with "
                         f"NUL bytes to that size")
        else:
            notes.append(f"the capture holds {len(row.body)} of its {size} bytes: those are sent")
    if row.rule:
        notes.append(f"answered by the answer rule '{transform(row.rule)}': the endpoint "
                     f"answers so again only under that rule")
    text = build_curl(url, body, user=user, password=password, cacert=cacert, headers=headers,
                      method=row.method, exact=True, options=options,
                      request_target=request_target, encodings=tuple(encodings), pad_to=pad_to)
    return Command(text, [_one_line(n) for n in notes], right)


def _identity_transform(text: str) -> str:
    return text


def _target(row: RequestRow, transform: Callable[[str], str]) -> tuple[str, str | None]:
    """The target to append to the endpoint, and a ``--request-target`` when a URL cannot
    carry it (``*``; a fragment, which curl drops from a URL)."""
    target = uri_target(row, transform)
    if row.target == "*":
        return "", "*"
    if "#" in target:
        return target.partition("#")[0], target
    return target, None


def replay_url(url: str, row: RequestRow, transform: Callable[[str], str]) -> tuple[
        str, str | None]:
    """Where Copy as cURL sends a request, and its ``--request-target`` if any: ``url`` with
    the recorded target (path and query as they arrived) when ``url`` names no path (this
    app's endpoint, ``https://localhost:8443/``); a ``url`` with its own path (a backend's
    ``https://backend.example/hook``) keeps it, with the recorded query when it has none."""
    parts = urlsplit(url)
    target, request_target = _target(row, transform)
    if parts.path in ("", "/"):
        return urlunsplit((parts.scheme, parts.netloc, "", "", "")) + target, request_target
    query = parts.query or urlsplit(target).query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")), None


def copy_command(row: RequestRow, url: str, *, user: str | None, password: str | None,
                 cacert: str | None,
                 transform: Callable[[str], str] | None = None) -> tuple[str, str]:
    """Copy as cURL of a recorded request: the command and a sentence for the message bar.

    Sent to ``url`` (see :func:`replay_url`) as it came, credentials as they were judged: the
    right ones become ``user`` and ``password`` (when ``url`` asks for credentials), a wrong
    password stays wrong, missing ones stay missing. ``transform`` (masking) applies to what
    comes from the capture: target, header values and body."""
    masked = transform is not None
    transform = transform or _identity_transform
    wrong = "not-the-password" if password != "not-the-password" else "not-the-password!"
    credentials = Credentials(password=password or "", wrong=wrong, user=user,
                              when_off=user is not None)
    if user is None and row.auth == "ok":  # the endpoint asks for none now
        credentials = Credentials(password="", wrong=wrong, user=None)
        row_auth = "off"
    else:
        row_auth = row.auth
    target_url, request_target = replay_url(url, row, transform)
    shown = replace(row, auth=row_auth)
    command = request_command(shown, transform, target_url, credentials,
                              request_target=request_target, cacert=cacert)
    how = {"ok": "with the credentials", "invalid": "with wrong credentials, as received",
           "missing": "without credentials, as received"}.get(row_auth, "as received")
    body = "its body with identifiers masked" if masked else "its exact body"
    return command.text, (f"Copied request {row.id} as a cURL command: {row.method} "
                          f"{urlsplit(target_url).path or '/'}, {body}, {how}")


def row_of_columns(columns: dict) -> RequestRow:
    """A :class:`RequestRow` from a ``request`` row read as a dict (``Follower.request``:
    every column, the body included)."""
    return RequestRow(
        id=columns["id"], received_at=columns["received_at"], peer=columns.get("peer"),
        method=columns["method"], path=columns["path"], query=columns.get("query") or "",
        http_version=columns.get("http_version"),
        headers=[(str(k), str(v)) for k, v in json.loads(columns.get("headers") or "[]")],
        status=columns["status"], reason=columns.get("reason"), problems=[],
        body=bytes(columns.get("body") or b""), record_count=columns.get("record_count") or 0,
        counts={}, duration_ms=columns.get("duration_ms"),
        source=columns.get("source") or "received", auth=columns.get("auth") or "off",
        auth_user=columns.get("auth_user"), content_type=columns.get("content_type"),
        content_encoding=columns.get("content_encoding"), body_size=columns.get("body_size"),
        rule=columns.get("rule"), target=columns.get("target"),
        endpoint=columns.get("endpoint"))


# --- the script ------------------------------------------------------------------------------

_CHECK = """\
differ=0
check() {  # check NUMBER RECORDED GOT WHAT: print both statuses, count a difference
  if [ "$3" = "$2" ]; then
    echo "#$1 $4: $3 (recorded $2)"
  else
    echo "#$1 $4: $3, recorded $2: DIFFERENT"
    differ=$((differ + 1))
  fi
}
"""

_TLS = """\
# TLS: CURL_CA=FILE trusts that CA certificate (this app's endpoint:
# ~/.local/share/streamer-inspector/tls/ca.pem, or `streamer-inspector ca --export ca.pem`);
# CURL_INSECURE=1 does not check the certificate. CURL_MAX_TIME: seconds to wait for an answer.
CURL_CA=${CURL_CA:-}
CURL_INSECURE=${CURL_INSECURE:-}
CURL_MAX_TIME=${CURL_MAX_TIME:-60}
CURL_OPTIONS=(-o /dev/null -w '%{http_code}' --max-time "$CURL_MAX_TIME")
if [ -n "$CURL_CA" ]; then CURL_OPTIONS+=(--cacert "$CURL_CA"); fi
if [ -n "$CURL_INSECURE" ]; then CURL_OPTIONS+=(--insecure); fi
"""

_OPTIONS = (Shell('"${CURL_OPTIONS[@]}"'),)


def _endpoint(row: RequestRow, options: ExportOptions, transform: Callable[[str], str]) -> str:
    if options.base_url:
        return options.base_url.rstrip("/")
    return transform(row.endpoint or DEFAULT_ENDPOINT).rstrip("/")


def write_curl(source: RowSource, out: BinaryIO, options: ExportOptions) -> int:
    """A bash script with one curl command a request (see the module's description)."""
    transform = options.transform or _identity_transform
    credentials = Credentials(password=Var("PASSWORD"), wrong=Var("WRONG_PASSWORD"))
    endpoints: dict[str, str] = {}  # endpoint -> its variable
    count = needing = 0
    with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
        commands = Buffered(spool)
        for row in rows_of(source):
            endpoint = _endpoint(row, options, transform)
            variable = endpoints.setdefault(endpoint, f"BASE_URL_{len(endpoints) + 1}")
            target, request_target = _target(row, transform)
            command = request_command(row, transform, (Var(variable), target), credentials,
                                      request_target=request_target, options=_OPTIONS)
            needing += command.password
            recorded = f"{row.status:03d}" if row.status else "000"
            what = _one_line(f"{row.method} {request_target or target or '/'}")
            answered = f"recorded {row.status}" if row.status else "recorded: no answer"
            commands.write(f"\n# #{row.id} {what}: {answered}; "
                           f"{'; '.join(command.notes) or 'as recorded'}\n"
                           f"got=$({command.text})\n"
                           f"check {row.id} {recorded} \"$got\" {shell_word(what)}\n")
            count += 1
        commands.write(
            f'\nif [ "$differ" -gt 0 ]; then\n'
            f'  echo "$differ of {count} requests got another status than the recorded '
            f'one" >&2\n  exit 1\nfi\n'
            f'echo "All {count} requests got their recorded status."\n')
        commands.flush()
        head = Buffered(out)
        head.write(_header(count, needing, endpoints))
        head.flush()
        spool.seek(0)
        shutil.copyfileobj(spool, out)
    return count


def _header(count: int, needing: int, endpoints: dict[str, str]) -> str:
    lines = [
        "#!/usr/bin/env bash",
        f"# {count} request{'' if count == 1 else 's'} exported from a {APP_TITLE} "
        f"{__version__} capture, to send again with curl:",
        f"#   {PASSWORD_ENV}='…' CURL_CA=ca.pem bash this-script.sh",
        "# Each is sent as it was received: method, request target, headers and body byte for",
        "# byte (a gzip or deflate body compressed again). Right credentials use the password",
        f"# from ${PASSWORD_ENV}, wrong ones are sent wrong again, missing ones stay missing.",
        "# A line per request gives the status it got and the recorded one; the script exits",
        "# 1 when any differs (2: a setting is missing).",
        "set -u",
        "",
        "# Where to send them: the endpoint that received them. BASE_URL=https://host:port sends",
        "# them all elsewhere, BASE_URL_<n> the requests of endpoint <n>.",
    ]
    for endpoint, variable in endpoints.items():
        lines.append(f"{variable}=${{{variable}:-${{BASE_URL:-{shell_word(endpoint)}}}}}")
        lines.append(f"{variable}=${{{variable}%/}}")
    lines += ["", _TLS.rstrip("\n"), ""]
    if needing:
        lines += [
            f'if [ -z "${{{PASSWORD_ENV}+set}}" ]; then',
            f"  echo \"Set {PASSWORD_ENV} to the endpoint's Basic Auth password: {needing} "
            f"of the {count} requests carried it.\" >&2",
            "  exit 2",
            "fi",
            f"PASSWORD=${PASSWORD_ENV}",
        ]
    lines += [
        "# A password never equal to the right one, for the requests that carried a wrong one.",
        f'WRONG_PASSWORD="not-the-password-${{{PASSWORD_ENV}-}}"',
        "",
        _CHECK.rstrip("\n"),
    ]
    return "\n".join(lines) + "\n"
