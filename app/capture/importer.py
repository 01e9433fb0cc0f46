"""Import into a capture: a JSON list, NDJSON, a HAR file, or another capture.

Imported records look like received ones: they arrive as requests (``source = 'imported'``) that
go through the same :meth:`CaptureWriter.store` as the endpoint's, so they are validated, split
and classified the same way. A file is read and checked completely before the first request is
stored: a file that is not what it claims imports nothing, and says why. Only a cancel can stop
an import half-way, and the result says how far it got.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from yarl import URL

from app.capture.answers import Answer, derived_answer
from app.capture.schema import (
    CaptureError,
    has_ledger,
    has_responses,
    has_targets,
    open_reader,
    request_body,
)
from app.capture.writer import CaptureWriter, Incoming, Responder, Stored
from app.config import MAX_RECORDS_PER_POST
from app.db import sqlite3
from app.records.shape import LineError, json_list_elements, ndjson_records

_SQLITE_MAGIC = b"SQLite format 3\x00"


class ImportFileError(ValueError):
    """The file is not what it claims to be; the message says where and why."""


@dataclass(frozen=True)
class Kept:
    """How a batch was answered, kept through an import: the status (0: no answer was sent),
    the reason, the answer rule, whether it was acknowledged, and the answer as sent."""

    status: int
    reason: str | None
    rule: str | None
    acked: bool
    answer: Answer | None = None

    def responder(self, incoming: Incoming) -> Responder:
        """A responder (``CaptureWriter.store``) giving ``incoming``, when its body is a
        batch, this answer; a body that is none keeps the writer's judgement (a 400)."""

        def respond(stored: Stored) -> Answer:
            if stored.error is None and stored.status == 200:
                stored.status, stored.reason = self.status, self.reason
                stored.rule, stored.acked = self.rule, self.acked
                if self.answer is not None:
                    return self.answer
            return derived_answer(
                request_id=stored.request_id, method=incoming.method, path=incoming.path,
                status=stored.status, reason=stored.reason, auth=incoming.auth,
                record_count=stored.record_count, counts=stored.counts,
                problems=stored.problems, body=incoming.body, records_before=0)

        return respond


def _kept(status: int | None, acked: bool, rule: str | None) -> bool:
    """Whether a stored batch's answer is worth keeping: a rule decided it, or its 200 did not
    acknowledge (a client that gave up waiting for a delayed answer)."""
    return rule is not None or (status == 200 and not acked)


@dataclass
class Planned:
    """One request to store: what arrives, and its status when it is not to be judged.

    ``kept``: judge the body, then answer it as it was answered (see :class:`Kept`); pass
    ``respond`` to ``CaptureWriter.store``."""

    incoming: Incoming
    status: int | None = None
    reason: str | None = None
    records: int = 0
    kept: Kept | None = None

    @property
    def respond(self) -> Responder | None:
        return self.kept.responder(self.incoming) if self.kept is not None else None


@dataclass
class ImportResult:
    """How an import ended: done, or cancelled after so many requests and records."""

    kind: str
    state: str
    requests: int
    records: int
    total_requests: int
    total_records: int


def plan(path: Path, batch_size: int = MAX_RECORDS_PER_POST) -> tuple[str, list[Planned]]:
    """Read and check the whole file; returns its kind and the requests it becomes.

    Raises only :class:`ImportFileError` for a file that cannot be imported."""
    try:
        return _plan(Path(path), batch_size)
    except RecursionError:
        raise ImportFileError(f"{Path(path).name} is nested too deeply to read (JSON deeper "
                              f"than about 1000 levels)") from None


def _plan(path: Path, batch_size: int) -> tuple[str, list[Planned]]:
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None
    if head == _SQLITE_MAGIC:
        return "capture", _plan_capture(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path.name} is not UTF-8 text (byte {exc.start}) and not a "
                              f"capture file") from None
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("["):
        return "json", _plan_json_list(path, stripped, batch_size)
    if stripped.startswith("{"):
        first_line = stripped.split("\n", 1)[0]
        try:
            json.loads(first_line)
            single_line_object = True
        except ValueError:
            single_line_object = False
        if not single_line_object or '"log"' in first_line[:200]:
            return "har", _plan_har(path, stripped)
        return "ndjson", _plan_ndjson(path, stripped, batch_size)
    if not stripped:
        raise ImportFileError(f"{path.name} is empty")
    raise ImportFileError(f"{path.name} is neither a JSON list, NDJSON, a HAR file nor a "
                          f"capture (it starts with {stripped[:20]!r})")


def _imported(source: Path, body: bytes, **kw) -> Incoming:
    kw.setdefault("method", "POST")
    kw.setdefault("path", f"/import/{source.name}")
    kw.setdefault("content_type", "application/json")
    kw.setdefault("headers", [("X-Imported-From", source.name)])
    kw.setdefault("auth", "off")
    return Incoming(body=body, source="imported", peer=None, **kw)


def _batches(path: Path, texts: list[str], size: int) -> list[Planned]:
    out = []
    for start in range(0, len(texts), size):
        chunk = texts[start:start + size]
        body = ("[" + ",".join(chunk) + "]").encode("utf-8")
        out.append(Planned(_imported(path, body), records=len(chunk)))
    return out


def _plan_json_list(path: Path, text: str, size: int) -> list[Planned]:
    try:
        elements = json_list_elements(text)
    except ValueError as exc:
        raise ImportFileError(f"{path.name} is {exc}") from None
    for number, (_text, value) in enumerate(elements):
        if not isinstance(value, dict):
            raise ImportFileError(f"{path.name}: element {number} of the list is not a "
                                  f"record (a JSON object)")
    if not elements:
        raise ImportFileError(f"{path.name} is an empty list: nothing to import")
    return _batches(path, [t for t, _ in elements], size)


def _plan_ndjson(path: Path, text: str, size: int) -> list[Planned]:
    try:
        texts = ndjson_records(text)
    except LineError as exc:
        prefix = "is not JSON: " if "column" in str(exc) else "is "
        raise ImportFileError(f"{path.name} line {exc.line} {prefix}{exc}") from None
    if not texts:
        raise ImportFileError(f"{path.name} holds no records")
    return _batches(path, texts, size)


def _plan_har(path: Path, text: str) -> list[Planned]:
    try:
        har = json.loads(text)
        entries = har["log"]["entries"]
        if not isinstance(entries, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ImportFileError(f"{path.name} is not a HAR file (no log.entries list)") from None
    out = []
    for number, entry in enumerate(entries):
        try:
            incoming = _har_incoming(path, entry)
        except KeyError as exc:  # str() of a KeyError is the repr of the key: say it in words
            raise ImportFileError(f"{path.name}: entry {number} is not a HAR request (it has "
                                  f"no {exc.args[0]} field)") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise ImportFileError(f"{path.name}: entry {number} is not a HAR request "
                                  f"({_plain_error(exc)})") from None
        try:
            out.append(_har_planned(entry, incoming))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ImportFileError(f"{path.name}: entry {number} has an answer this app "
                                  f"cannot read ({_plain_error(exc)})") from None
    if not out:
        raise ImportFileError(f"{path.name} holds no requests")
    return out


_AUTH_STATES = ("ok", "missing", "invalid", "off")


def _har_incoming(path: Path, entry: dict) -> Incoming:
    """The request of a HAR entry as it arrived. An entry this app exported
    (``_streamer_inspector``) gives back what the HAR request describes differently (see
    ``app.export.har``): the headers and Content-Encoding as sent (its body is stored decoded,
    as the receiver stores it), the size that arrived of a body read in part, the target
    exactly as it arrived, the endpoint that received it, and the authentication's outcome."""
    request = entry["request"]
    method = request["method"]
    if not isinstance(method, str) or not method:
        raise ValueError("its method is not a word")
    url = str(request["url"])
    parts = urlsplit(url)
    post = request.get("postData") or {}
    body_text = post.get("text", "") or ""
    if post.get("_encoding") == "base64" or post.get("encoding") == "base64":
        body = base64.b64decode(body_text)
    else:
        body = body_text.encode("utf-8")
    ours = entry.get("_streamer_inspector")
    ours = ours if isinstance(ours, dict) else {}
    wire = ours.get("wire") if isinstance(ours.get("wire"), dict) else {}
    raw_headers = wire.get("headers") if "headers" in wire else request.get("headers", [])
    headers = [(str(h["name"]), _mask_auth(str(h["name"]), str(h["value"])))
               for h in raw_headers or []]
    # The target as it arrived (ours), else the URL's path and query, as sent (encoded)
    origin = url[len(f"{parts.scheme}://{parts.netloc}"):] if parts.netloc else url
    target = ours.get("target")
    target = str(target) if target is not None else (origin.partition("#")[0] or "/")
    endpoint = ours.get("endpoint")
    if endpoint is None:
        endpoint = _endpoint_of_url(parts)
    # Path and query decoded as the receiver stores them (aiohttp's, through yarl), from the
    # target as it arrived (``*`` stays ``*``, an absolute form gives its path)
    try:
        relative = URL(target.partition("#")[0] or "/", encoded=True)
    except ValueError:  # a target of ours that yarl cannot read: the URL's instead
        relative = URL(origin.partition("#")[0] or "/", encoded=True)
    version = str(request.get("httpVersion") or "")
    auth = ours.get("auth") if ours.get("auth") in _AUTH_STATES else "off"
    size = wire.get("bodySize")
    ctype = next((v for k, v in headers if k.lower() == "content-type"), None)
    encoding = next((v for k, v in headers if k.lower() == "content-encoding"), None)
    user = ours.get("auth_user")
    return _imported(
        path, body, method=method, path=relative.path or "/", query=relative.query_string,
        headers=headers, content_type=ctype, content_encoding=encoding,
        received_at=_when(entry.get("startedDateTime")),
        http_version=version.removeprefix("HTTP/") if version.startswith("HTTP/") else "1.1",
        auth=auth, auth_user=str(user) if user is not None else None,
        body_size=size if isinstance(size, int) and size > len(body) and
        "contentEncoding" not in wire else None,
        target=target, endpoint=str(endpoint) if endpoint is not None else None)


def _endpoint_of_url(parts) -> str | None:
    """``scheme://host:port`` of an http(s) URL (the scheme's port when it names none)."""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.netloc.rpartition("@")[2]
    try:
        port = parts.port
    except ValueError:
        return None
    if port is not None:
        host = host[:host.rfind(":")]
    return f"{parts.scheme}://{host}:{port or (443 if parts.scheme == 'https' else 80)}"


# A HAR of another tool: a POST answered with one of these was refused as such (the records
# were not taken); other answers (a 503 of an overloaded server, ...) say nothing of the body,
# which is judged afresh.
_REFUSED = range(400, 500)


def _har_planned(entry: dict, incoming: Incoming) -> Planned:
    """What to store for a HAR entry: its recorded status is kept. A POST this endpoint
    accepted (200) or found no batch (400) is judged again (its records are imported); a rule's
    answer is kept with the records (see :class:`Kept`); any other answer (401, 405, 413, 415,
    a GET's) is stored with its status and reason and no records, as the receiver stored it."""
    ours = entry.get("_streamer_inspector")
    response = entry.get("response") or {}
    status = int(response.get("status") or 0)
    if not isinstance(ours, dict):  # another tool's HAR
        if incoming.method == "POST" and status not in _REFUSED:
            return Planned(incoming)
        return Planned(incoming, status=status or 405,
                       reason=f"imported from a HAR file (answered {status or 'nothing'})")
    kept = _har_kept(entry) if incoming.method == "POST" else None
    if kept is not None:
        return Planned(incoming, kept=kept)
    if incoming.method == "POST" and status in (200, 400):
        return Planned(incoming)
    reason = ours.get("reason")
    return Planned(incoming, status=status, reason=str(reason) if reason is not None else None)


def _har_kept(entry: dict) -> Kept | None:
    """The answer of an entry this app exported (``_streamer_inspector``) that a rule decided
    or that did not acknowledge its batch (see :class:`Kept`); else None (judged afresh)."""
    ours = entry.get("_streamer_inspector")
    if not isinstance(ours, dict) or "acked" not in ours:
        return None  # another tool's HAR, or one from before answer rules
    response = entry.get("response") or {}
    status = int(response.get("status") or 0)
    rule = ours.get("rule")
    rule = str(rule) if rule is not None else None
    acked = ours["acked"] is True
    if not _kept(status, acked, rule):
        return None
    if status == 0:  # no answer was sent
        answer = Answer((), b"")
    else:
        content = response.get("content") or {}
        text = content.get("text") or ""
        body = (base64.b64decode(text) if content.get("encoding") == "base64"
                else text.encode("utf-8"))
        answer = Answer(tuple((str(h["name"]), str(h["value"]))
                              for h in response.get("headers") or []), body)
    reason = ours.get("reason")
    return Kept(status, str(reason) if reason is not None else None, rule, acked, answer)


def _plain_error(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]} field"
    return str(exc) or type(exc).__name__


def _mask_auth(name: str, value: str) -> str:
    if name.lower() in ("authorization", "proxy-authorization"):
        scheme = value.partition(" ")[0]
        return f"{scheme} ****" if scheme else "****"
    return value


def _when(text: str | None) -> float:
    if not text:
        return dt.datetime.now(dt.UTC).timestamp()
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _plan_capture(path: Path) -> list[Planned]:
    try:
        db = open_reader(path)
    except CaptureError as exc:
        raise ImportFileError(str(exc)) from None
    out = []
    try:
        # before format 6: no rules, a 200 acknowledged (and no answer needs keeping)
        facts = ("rule, acked, response_headers, response_body"
                 if has_ledger(db) and has_responses(db) else "NULL, status = 200, NULL, NULL")
        # before format 7: the target as it arrived and the endpoint are not known
        facts += ", target, endpoint" if has_targets(db) else ", NULL, NULL"
        rows = db.execute(
            "SELECT received_at, peer, method, path, query, http_version, headers, auth, "
            "auth_user, status, reason, content_type, content_encoding, body, body_size, "
            f"record_count, id, first_record, {facts} FROM request ORDER BY id").fetchall()
        rows = [(*row[:13], request_body(db, row[16], row[13], row[17], row[15]), *row[14:16],
                 *row[18:]) for row in rows]
    except sqlite3.Error as exc:
        raise ImportFileError(f"{path.name} cannot be read: {exc}") from None
    finally:
        db.close()
    for (received, peer, method, rpath, query, version, headers, auth, user, status, reason,
         ctype, encoding, body, body_size, count, rule, acked, answer_headers,
         answer_body, target, endpoint) in rows:
        incoming = Incoming(method=method, path=rpath, body=body or b"", query=query,
                            peer=peer, http_version=version,
                            headers=[tuple(h) for h in json.loads(headers)], auth=auth,
                            auth_user=user, body_size=body_size, content_type=ctype,
                            content_encoding=encoding, received_at=_when(received),
                            source="imported", target=target, endpoint=endpoint)
        if method == "POST" and _kept(status, bool(acked), rule):
            # a batch a rule answered (its records stored): judged again, answered as it was
            answer = (Answer.from_columns(answer_headers, answer_body)
                      if answer_headers is not None else None)
            out.append(Planned(incoming, records=count,
                               kept=Kept(status, reason, rule, bool(acked), answer)))
            continue
        judged = method == "POST" and status in (200, 400)
        out.append(Planned(incoming, None if judged else status, None if judged else reason,
                           records=count))
    if not out:
        raise ImportFileError(f"{path.name} is a capture without requests")
    return out


def run_import(writer: CaptureWriter, kind: str, planned: list[Planned],
               progress: Callable[[int, int], bool] | None = None) -> ImportResult:
    """Store the planned requests one by one; ``progress(requests, records)`` returning False
    cancels (between requests)."""
    total_records = sum(p.records for p in planned)
    done_requests = done_records = 0
    for item in _each(planned):
        stored = writer.store(item.incoming, item.status, item.reason, item.respond)
        done_requests += 1
        done_records += stored.record_count
        if progress is not None and not progress(done_requests, done_records):
            return ImportResult(kind, "cancelled", done_requests, done_records, len(planned),
                                total_records)
    return ImportResult(kind, "done", done_requests, done_records, len(planned), total_records)


def _each(planned: list[Planned]) -> Iterator[Planned]:
    yield from planned
