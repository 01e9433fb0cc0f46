"""The receiving endpoint: an aiohttp server that stores every request before it answers.

One process (``streamer-inspector serve``) runs the asyncio loop that speaks HTTP(S) and one
storage thread that owns the :class:`~app.capture.CaptureWriter`. The loop never touches the
database; the storage thread spends its time inside SQLite, which releases the GIL, so the loop
keeps reading other connections while a batch is being committed.

The contract (``../shared/docs/data-streamer-webhook.md``): POST on any path with a JSON list of
records and HTTP Basic Auth; 200 acknowledges. Everything else gets a precise 4xx, and is stored.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import errno
import hmac
import ipaddress
import json
import os
import shlex
import signal
import ssl
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from app import APP_TITLE, __version__, runtime
from app.capture.writer import CaptureWriter, Incoming, Stored
from app.config import ServeOptions, tls_dir
from app.db import sqlite3
from app.resources import DOCUMENTED_EVENT_SAMPLE, sample_path
from app.tls import ensure_local_ca, server_context

_MASKED_HEADERS = {"authorization", "proxy-authorization"}
REALM = "Streamer Inspector"
# A request without valid credentials is stored with at most this much of its body; the rest
# is never read (see Receiver._handle): nobody fills the disk without the password.
UNAUTHENTICATED_BODY_CAP = 4096
# Output lines (--events) waiting for a slow reader; beyond this they are dropped and counted.
EVENT_QUEUE_LINES = 512
# Content-Encodings the receiver decodes itself (zlib wbits): anything else gets a 415.
_DECODABLE = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
              "deflate": zlib.MAX_WBITS}


class ServeError(Exception):
    """The receiver cannot start; ``str()`` is one line for the user."""


def basic_auth_value(user: str, password: str) -> str:
    """The ``Authorization`` header value to paste into the 1NCE Portal."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _mask(name: str, value: str) -> str:
    if name.lower() not in _MASKED_HEADERS:
        return value
    scheme, _, _ = value.partition(" ")
    return f"{scheme} ****" if scheme else "****"


def _decoded_user(value: str) -> str | None:
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, _ = decoded.partition(":")
    return user if sep else None


@dataclass
class Endpoint:
    """Where the running receiver listens, and what a client needs to reach it."""

    url: str
    host: str
    port: int
    tls: str
    ca_file: Path | None
    user: str | None
    password: str | None
    capture: Path
    notices: list[str] = field(default_factory=list)  # e.g. the local CA was replaced

    @property
    def auth_header(self) -> str | None:
        if self.user is None:
            return None
        return basic_auth_value(self.user, self.password or "")

    def curl_command(self, sample: Path | None = None) -> str:
        """A ``curl`` command that posts the documented Event sample to this endpoint."""
        sample = sample or sample_path(DOCUMENTED_EVENT_SAMPLE)
        parts = ["curl"]
        if self.ca_file is not None:
            parts += ["--cacert", str(self.ca_file)]
        if self.user is not None:
            parts += ["-u", f"{self.user}:{self.password}"]
        parts += ["-H", "Content-Type: application/json", "--data-binary", f"@{sample}", self.url]
        return " ".join(shlex.quote(p) for p in parts)

    def as_event(self) -> dict:
        return {
            "event": "listening",
            "url": self.url,
            "host": self.host,
            "port": self.port,
            "tls": self.tls,
            "ca_file": str(self.ca_file) if self.ca_file else None,
            "user": self.user,
            "auth_header": self.auth_header,
            "capture": str(self.capture),
            "curl": self.curl_command(),
            "pid": _pid(),
            "version": __version__,
        }


def _pid() -> int:
    import os

    return os.getpid()


class Receiver:
    """Turns HTTP requests into stored requests and answers them."""

    def __init__(self, writer: CaptureWriter, options: ServeOptions,
                 on_stored: Callable[[Incoming, Stored], None] | None = None,
                 on_problem: Callable[[str], None] | None = None):
        self._writer = writer
        self._options = options
        self._on_stored = on_stored
        self._on_problem = on_problem or _log_to_stderr
        self._failing: str | None = None  # the storage problem told to the user, until it ends
        self._storage = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage")
        expected = None
        if options.auth_enabled:
            expected = basic_auth_value(options.user or "", options.password or "")
        self._expected_token = expected.partition(" ")[2].encode() if expected else None
        self._in_flight = 0
        self._last_activity = 0.0
        self._index_wanted = asyncio.Event()
        self._index_wanted.set()  # an existing capture may hold records not indexed yet
        self._indexer: asyncio.Task | None = None

    def make_app(self) -> web.Application:
        # The size cap is enforced by hand (413 and a stored request), so aiohttp's is off.
        app = web.Application(client_max_size=self._options.max_body + 1)
        app.router.add_route("*", "/{tail:.*}", self.handle, expect_handler=self._expect)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_startup(self, _app: web.Application) -> None:
        self._indexer = asyncio.create_task(self._index_when_idle(), name="indexer")

    async def _on_cleanup(self, _app: web.Application) -> None:
        if self._indexer is not None:
            self._indexer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._indexer
        self._storage.shutdown(wait=True)

    async def _index_when_idle(self) -> None:
        """Fill the capture's filter index in small steps while no request is being handled.

        Runs on the storage thread like the batches, so a batch that arrives waits at most one
        step (500 records, ~5 ms); under sustained load the index simply lags behind, and
        filters read the records it lacks from their JSON.
        """
        loop = asyncio.get_running_loop()
        while True:
            await self._index_wanted.wait()
            quiet = time.monotonic() - self._last_activity
            if self._in_flight or quiet < 0.05:
                await asyncio.sleep(0.05)
                continue
            try:
                done = await loop.run_in_executor(self._storage, self._writer.index_pending, 500)
            except Exception as exc:  # disk full, I/O error: try again later, never die
                self._storage_problem(exc, "the filter index")
                await asyncio.sleep(2.0)
                continue
            self._storage_recovered()
            if not done:
                self._index_wanted.clear()

    def _storage_problem(self, exc: Exception, what: str) -> str:
        """One line for the user about a failed write (told once until writes work again);
        returns the sentence for the answer."""
        message = storage_error_message(exc, self._writer.path)
        if self._failing != message:
            self._failing = message
            self._on_problem(f"cannot write {what}: {message}")
        return message

    def _storage_recovered(self) -> None:
        if self._failing is not None:
            self._failing = None
            self._on_problem("the capture can be written again")

    async def _store(self, incoming: Incoming, status: int | None = None,
                     reason: str | None = None) -> Stored:
        loop = asyncio.get_running_loop()
        stored = await loop.run_in_executor(
            self._storage, self._writer.store, incoming, status, reason
        )
        self._storage_recovered()
        if stored.record_count:
            self._index_wanted.set()
        if self._on_stored is not None:
            self._on_stored(incoming, stored)
        return stored

    async def store_imported(self, item) -> Stored:
        """Store one planned import request like a received one (see ``app.importer``)."""
        return await self._store(item.incoming, item.status, item.reason)

    def _check_auth(self, request: web.Request, incoming: Incoming) -> bool:
        if self._expected_token is None:
            incoming.auth = "off"
            return True
        value = request.headers.get("Authorization")
        if value is None:
            incoming.auth = "missing"
            return False
        incoming.auth_user = _decoded_user(value)
        scheme, _, token = value.partition(" ")
        ok = scheme.lower() == "basic" and hmac.compare_digest(
            token.strip().encode("utf-8", "surrogateescape"), self._expected_token
        )
        incoming.auth = "ok" if ok else "invalid"
        return ok

    async def _expect(self, request: web.Request) -> None:
        """``Expect: 100-continue``: invite the body only from a client with valid
        credentials; the others get their 401 without sending it. Any other expectation is
        ignored (the request is answered and stored as usual, not refused with a 417)."""
        if (request.version >= (1, 1)
                and request.headers.get("Expect", "").lower() == "100-continue"
                and self._check_auth(request, Incoming(method=request.method,
                                                       path=request.path))):
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # the answer's size starts after this line

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self._in_flight += 1
        try:
            return await self._handle(request)
        except sqlite3.Error as exc:
            message = self._storage_problem(exc, "the request")
            return _json_response(503, {"ok": False, "error": message},
                                  headers={"Retry-After": "30"})
        except Exception as exc:  # our JSON answer, never aiohttp's page with a traceback
            message = (f"the request could not be stored: {type(exc).__name__}: "
                       f"{_one_line(str(exc))}")
            self._on_problem(message)
            return _json_response(500, {"ok": False, "error": message})
        finally:
            self._in_flight -= 1
            self._last_activity = time.monotonic()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        incoming = Incoming(
            method=request.method,
            path=request.path,
            query=request.query_string,
            peer=request.remote,
            http_version=f"{request.version.major}.{request.version.minor}",
            headers=[
                (k.decode("latin-1"), _mask(k.decode("latin-1"), v.decode("latin-1")))
                for k, v in request.raw_headers
            ],
            content_type=request.headers.get("Content-Type"),
            content_encoding=request.headers.get("Content-Encoding"),
            received_at=time.time(),
            started=time.perf_counter(),
        )
        authorised = self._check_auth(request, incoming)

        if request.method in ("GET", "HEAD") and request.path == "/":
            text = self._status_text()  # what arrived before this look at the status
            await self._store(incoming, 200, None)
            return web.Response(text=text, content_type="text/plain")

        if not authorised:
            # Credentials first: keep the headers and a few KB of the body, read no more.
            await self._read_capped(request, incoming, UNAUTHENTICATED_BODY_CAP)
            message = {
                "missing": "authentication required: send HTTP Basic Auth "
                           "(the Basic Auth header configured in the 1NCE Portal)",
                "invalid": "wrong credentials: the Basic Auth header does not match "
                           "this endpoint's user and password",
            }[incoming.auth]
            stored = await self._store(incoming, 401, message)
            response = _json_response(
                401, {"ok": False, "error": message, "request_id": stored.request_id},
                headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
            )
            if request.content_length or not request.content.at_eof():
                response.force_close()  # the unread rest of the body ends the connection
            return response

        problem = await self._read_body(request, incoming)
        if problem is not None:
            status, message = problem
            stored = await self._store(incoming, status, message)
            return _json_response(status, {"ok": False, "error": message,
                                           "request_id": stored.request_id})

        if request.method != "POST":
            message = f"method {request.method} is not allowed: the Data Streamer sends POST"
            stored = await self._store(incoming, 405, message)
            return _json_response(405, {"ok": False, "error": message,
                                        "request_id": stored.request_id},
                                  headers={"Allow": "POST"})

        stored = await self._store(incoming)
        if stored.status == 200:
            return _json_response(200, {
                "ok": True,
                "request_id": stored.request_id,
                "records": stored.record_count,
                "counts": stored.counts,
                **({"problems": stored.problems} if stored.problems else {}),
            })
        body = {"ok": False, "request_id": stored.request_id}
        body.update(stored.error.as_json() if stored.error else {"error": stored.reason})
        return _json_response(stored.status, body)

    async def _read_capped(self, request: web.Request, incoming: Incoming, cap: int) -> None:
        """Read at most ``cap`` bytes of the body into ``incoming`` (as sent, not decoded);
        ``body_size`` says how big the sender declared it. Nothing is read from a client
        that waits for ``100 Continue``: it was not invited to send."""
        declared = request.content_length
        chunks: list[bytes] = []
        size = 0
        if request.headers.get("Expect", "").lower() != "100-continue":
            with contextlib.suppress(HttpProcessingError, RequestPayloadError, OSError):
                while size < cap:
                    chunk = await request.content.read(cap - size)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
        incoming.body = b"".join(chunks)
        if declared is not None and declared > size:
            incoming.body_size = declared
        elif not request.content.at_eof():
            incoming.body_size = size + 1  # more was coming: at least one byte more

    async def _read_body(self, request: web.Request, incoming: Incoming):
        """Read the body into ``incoming``; (status, message) when it cannot be taken.

        aiohttp's own decompression is off (see ``start``): the raw body is read here and
        decoded with zlib, so that a body that cannot be decoded is stored as it came, with a
        precise answer, and the size limit holds for the decoded body too.
        """
        limit = self._options.max_body
        declared = request.content_length
        if declared is not None and declared > limit:
            incoming.body_size = declared
            return 413, (f"the body ({declared} bytes) exceeds this endpoint's limit of "
                         f"{limit} bytes (--max-body)")
        chunks = []
        size = 0
        try:
            async for chunk in request.content.iter_chunked(1 << 20):
                size += len(chunk)
                if size > limit:
                    incoming.body = b"".join(chunks)
                    incoming.body_size = size
                    return 413, (f"the body exceeds this endpoint's limit of {limit} bytes "
                                 f"(--max-body)")
                chunks.append(chunk)
        except (HttpProcessingError, RequestPayloadError) as exc:
            incoming.body = b"".join(chunks)
            incoming.body_size = size
            detail = _one_line(str(getattr(exc, "message", "") or exc))
            return 400, f"the body could not be read: {detail.removeprefix('400, message: ')}"
        incoming.body = b"".join(chunks)
        return _decode_body(incoming, limit)

    def _status_text(self) -> str:
        auth = "HTTP Basic Auth required" if self._expected_token else "no authentication"
        return (
            f"{APP_TITLE} {__version__}: a mock endpoint for the 1NCE Data Streamer.\n"
            f"POST JSON lists of Event, Usage and SMS records to any path ({auth}).\n"
            f"Requests so far: {self._writer.requests}; records: {self._writer.records}.\n"
        )


RECEIVER = web.AppKey("receiver", Receiver)  # the running app's Receiver


def _json_response(status: int, body: dict, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False),
                        content_type="application/json", headers=headers)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _log_to_stderr(message: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"streamer-inspector: {message}\n")
        sys.stderr.flush()


def storage_error_message(exc: Exception, path: Path) -> str:
    """What a failed write of the capture means for the user, in one sentence."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == 13 or "full" in str(exc).lower():  # SQLITE_FULL
        return (f"the disk holding the capture {path} is full: the request was not stored; "
                f"free some space (the sender retries)")
    if code is not None and code & 0xFF == 10:  # SQLITE_IOERR, and a file size limit
        return (f"the capture {path} could not be written (disk I/O error: the disk may be "
                f"full): the request was not stored; the sender retries")
    return (f"the capture {path} could not be written ({_one_line(str(exc))}): the request "
            f"was not stored; the sender retries")


def _decode_body(incoming: Incoming, limit: int) -> tuple[int, str] | None:
    """Undo the request's Content-Encoding on ``incoming.body`` in place; (status, message)
    when it cannot be, and then the body stays as it came."""
    header = incoming.content_encoding or ""
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    unsupported = [c for c in codings if c not in _DECODABLE]
    if unsupported:
        return 415, (f"Content-Encoding {', '.join(unsupported)} is not supported by this "
                     f"endpoint: send the body uncompressed, or with gzip or deflate")
    body = incoming.body
    for coding in reversed(codings):  # the last one applied is undone first
        try:
            body = _inflate(body, _DECODABLE[coding], limit)
        except zlib.error as exc:
            return 400, (f"the body could not be read as Content-Encoding {header.strip()}: "
                         f"{_one_line(str(exc))}")
        except _TooBig:
            incoming.body_size = limit + 1
            return 413, (f"the body, decoded from Content-Encoding {header.strip()}, exceeds "
                         f"this endpoint's limit of {limit} bytes (--max-body)")
    incoming.body = body
    return None


class _TooBig(Exception):
    pass


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """Decompress gzip (all members) or deflate (zlib-wrapped or raw); at most ``limit``."""
    if not data:
        raise zlib.error("the body is empty")
    out: list[bytes] = []
    size = 0
    rest = data
    while rest:
        d = zlib.decompressobj(wbits)
        try:
            chunk = d.decompress(rest, limit + 1 - size)
        except zlib.error:
            if wbits != zlib.MAX_WBITS or out:
                raise
            wbits = -zlib.MAX_WBITS  # "deflate" sent without the zlib wrapper
            continue
        while True:
            size += len(chunk)
            out.append(chunk)
            if size > limit:
                raise _TooBig
            if not d.unconsumed_tail:
                break
            chunk = d.decompress(d.unconsumed_tail, limit + 1 - size)
        if not d.eof:
            raise zlib.error("the compressed data ends too early (truncated)")
        rest = d.unused_data if wbits > 16 else b""  # gzip: further members follow
    return b"".join(out)


def is_loopback(host: str) -> bool:
    """Whether only this computer can reach an endpoint bound to ``host``."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", "", "127.0.0.1", "::1"):
        return "localhost"
    return f"[{host}]" if ":" in host else host


def _ssl_context(options: ServeOptions
                 ) -> tuple[ssl.SSLContext | None, Path | None, str | None]:
    """The server's SSL context, the local CA's file, and a notice when the CA was renewed."""
    if options.tls == "off":
        return None, None, None
    if options.tls == "custom":
        if not options.cert_file or not options.key_file:
            raise ServeError("--cert and --key are both needed for your own certificate")
        return server_context(options.cert_file, options.key_file), None, None
    ca = ensure_local_ca(tls_dir(), options.host)
    return server_context(ca.server_cert, ca.server_key), ca.ca_cert, ca.notice


async def start(options: ServeOptions, writer: CaptureWriter,
                on_stored: Callable[[Incoming, Stored], None] | None = None,
                on_problem: Callable[[str], None] | None = None,
                ) -> tuple[web.AppRunner, Endpoint]:
    """Start listening; returns the runner (``await runner.cleanup()`` to stop) and endpoint.

    ``on_problem`` gets one line when the capture cannot be written (and when it can again).
    """
    ctx, ca_file, notice = _ssl_context(options)
    receiver = Receiver(writer, options, on_stored, on_problem)
    app = receiver.make_app()
    app[RECEIVER] = receiver
    # auto_decompress off: Receiver._read_body decodes, so that every body can be stored.
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=30, auto_decompress=False)
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port, ssl_context=ctx,
                       reuse_address=True, backlog=128)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(
                f"port {options.port} on {options.host} is already in use: choose another "
                f"with --port (or --port 0 for a free one)"
            ) from None
        if exc.errno == errno.EACCES:
            raise ServeError(
                f"not allowed to listen on port {options.port} (ports below 1024 need "
                f"privileges): choose another with --port"
            ) from None
        raise ServeError(f"cannot listen on {options.host}:{options.port}: {exc.strerror}"
                         ) from None
    port = options.port
    for sock in site._server.sockets if site._server else ():
        port = sock.getsockname()[1]
        break
    scheme = "http" if ctx is None else "https"
    url = f"{scheme}://{_url_host(options.host)}:{port}/"
    endpoint = Endpoint(url=url, host=options.host, port=port, tls=options.tls, ca_file=ca_file,
                        user=options.user, password=options.password, capture=writer.path,
                        notices=[notice] if notice else [])
    return runner, endpoint


def format_banner(endpoint: Endpoint) -> str:
    lines = [
        f"{APP_TITLE} {__version__} is listening.",
        f"  Endpoint URL:       {endpoint.url}",
        f"  Capture file:       {endpoint.capture}",
    ]
    if endpoint.ca_file:
        lines.append(f"  Local CA:           {endpoint.ca_file}")
    elif endpoint.tls == "off":
        lines.append("  TLS:                off (plain HTTP; put it behind a TLS tunnel)")
    if endpoint.auth_header:
        lines.append(f"  Basic Auth user:    {endpoint.user}")
        lines.append(f"  Basic Auth header:  {endpoint.auth_header}")
        lines.append("  (paste the header value into the 1NCE Portal's Basic Auth Header field)")
    else:
        lines.append("  Authentication:     off (--no-auth): any request is accepted")
    lines += ["", "Post the documented Update location event:", f"  {endpoint.curl_command()}", ""]
    return "\n".join(lines)


def format_request_line(incoming: Incoming, stored: Stored) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(incoming.received_at))
    size = incoming.body_size if incoming.body_size is not None else len(incoming.body)
    text = f"{when}  {stored.status}  {incoming.method} {incoming.path}  {_human_size(size)}"
    if stored.status == 200 and incoming.method == "POST":
        detail = ", ".join(f"{fam} {n}" for fam, n in stored.counts.items())
        noun = "record" if stored.record_count == 1 else "records"
        text += f"  {stored.record_count} {noun}" + (f" ({detail})" if detail else "")
    if stored.reason:
        text += f"  {stored.reason}"
    for problem in stored.problems:
        text += f"\n          note: {problem}"
    return text


def _human_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


class EventLines:
    """The receiver's output lines (``--events``), written to ``out`` by a thread of their own
    through a bounded queue, so that the event loop, and with it every acknowledgement, never
    waits on a pipe that nobody reads.

    When the queue is full, lines are dropped and counted; once the reader drains again, one
    line says how many (``dropped_line``). A closed pipe (EPIPE) silently ends the output.
    """

    def __init__(self, out, dropped_line: Callable[[int], str], limit: int = EVENT_QUEUE_LINES):
        self._out = out
        self._dropped_line = dropped_line
        self._limit = limit
        self._queue: deque[str] = deque()
        self._dropped = 0
        self._closing = False
        self._broken = False
        self._cond = threading.Condition()
        try:
            self._fd: int | None = out.fileno()
            out.flush()
        except (AttributeError, OSError, ValueError):
            self._fd = None  # not a file (a test's StringIO): written as text
        self._thread = threading.Thread(target=self._run, name="event-lines", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        return self._dropped

    def put(self, line: str) -> None:
        """Queue one line (without its newline); never blocks."""
        with self._cond:
            if self._broken or self._closing:
                return
            room = self._limit - len(self._queue) - (1 if self._dropped else 0)
            if room <= 0:
                self._dropped += 1
                return
            if self._dropped:
                self._queue.append(self._dropped_line(self._dropped))
                self._dropped = 0
            self._queue.append(line)
            self._cond.notify()

    def close(self, timeout: float = 3.0) -> None:
        """Write what is queued (waiting at most ``timeout`` for a slow reader), then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._dropped and not self._closing:
                    self._cond.wait()
                if self._queue:
                    line = self._queue.popleft()
                elif self._dropped:  # the reader caught up: say what it missed
                    line = self._dropped_line(self._dropped)
                    self._dropped = 0
                else:
                    return
            try:
                self._write((line + "\n").encode("utf-8", "surrogateescape"))
            except (OSError, ValueError):  # EPIPE: nobody will ever read; answers go on
                with self._cond:
                    self._broken = True
                    self._queue.clear()
                return

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            self._out.write(data.decode("utf-8", "surrogateescape"))
            self._out.flush()
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]


def serve(options: ServeOptions, *, out=None, err=None) -> int:
    """Run the receiver until SIGINT/SIGTERM; returns the process exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    jsonl = options.events == "jsonl"
    lines = EventLines(out, (lambda n: json.dumps({"event": "dropped", "count": n})) if jsonl
                       else (lambda n: f"(dropped {n} lines: nobody was reading this output)"))

    def emit(obj: dict) -> None:
        lines.put(json.dumps(obj, ensure_ascii=False))

    def say(text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            err.write(text + "\n")
            err.flush()

    def on_stored(incoming: Incoming, stored: Stored) -> None:
        if jsonl:
            emit(stored.event())
        else:
            lines.put(format_request_line(incoming, stored))

    def on_problem(message: str) -> None:
        say(f"streamer-inspector: {message}")
        if jsonl:
            emit({"event": "notice", "message": message})

    try:
        return _serve(options, jsonl, lines, emit, say, on_stored, on_problem, err)
    finally:
        lines.close()


def _serve(options: ServeOptions, jsonl: bool, lines: EventLines, emit, say, on_stored,
           on_problem, err) -> int:
    from app.capture.schema import CaptureError
    from app.tls import TlsError

    created = not options.capture.exists()
    try:
        writer = CaptureWriter(options.capture, sync=options.sync)
    except CaptureError as exc:
        return _fail(str(exc), jsonl, emit, err)

    async def main() -> int:
        # Signals first: a SIGTERM right after the banner still stops cleanly (a "stopped"
        # line, the runtime entry removed), never with the default handler's status -15.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        try:
            runner, endpoint = await start(options, writer, on_stored, on_problem)
        except (ServeError, TlsError) as exc:
            if created and writer.requests == 0:  # leave no empty capture behind
                writer.close()
                writer.remove()
            return _fail(str(exc), jsonl, emit, err)
        if not is_loopback(options.host):
            say(f"warning: listening on {options.host}, reachable from other machines; "
                f"anyone who can reach it and knows the password can post to it")
        registration = runtime.try_register(endpoint)  # for curl/send: app/runtime.py
        if jsonl:
            emit(endpoint.as_event())
            for notice in endpoint.notices:
                emit({"event": "notice", "message": notice})
        else:
            lines.put(format_banner(endpoint))
        for notice in endpoint.notices:
            say(f"notice: {notice}")
        if options.stop_with_stdin:
            imports = Imports(runner.app[RECEIVER], emit if jsonl else
                              (lambda e: say(json.dumps(e))))
            _stop_when_stdin_closes(loop, stop, imports.command)
        await stop.wait()
        runtime.unregister(registration)
        await runner.cleanup()
        if jsonl:
            emit({"event": "stopped", "requests": writer.requests, "records": writer.records})
        else:
            say(f"stopped: {writer.requests} requests, {writer.records} records in "
                f"{writer.path}")
        return 0

    try:
        return asyncio.run(main())
    finally:
        writer.close()


def _stop_when_stdin_closes(loop: asyncio.AbstractEventLoop, stop: asyncio.Event,
                            on_command: Callable[[dict], None]) -> None:
    """Read the parent's commands (one JSON object a line) from stdin, and stop when the
    parent (the window) goes away, however it went: its end of the pipe closes."""

    def watch() -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in sys.stdin.buffer:
                try:
                    command = json.loads(line)
                except ValueError:
                    continue
                if isinstance(command, dict):
                    loop.call_soon_threadsafe(on_command, command)
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class Imports:
    """Imports the window asks for: through the same storage thread as received batches,
    one request at a time, so live batches interleave and nothing else writes the capture."""

    def __init__(self, receiver: Receiver, emit: Callable[[dict], None]):
        self._receiver = receiver
        self._emit = emit
        self._cancelled: set = set()
        self._tasks: set[asyncio.Task] = set()

    def command(self, command: dict) -> None:
        if command.get("command") == "import":
            task = asyncio.get_running_loop().create_task(self._run(command))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif command.get("command") == "cancel_import":
            self._cancelled.add(command.get("id"))

    async def _run(self, command: dict) -> None:
        """One import; whatever goes wrong ends in a ``failed`` event the window shows (the
        file's problem, or what broke and how much was imported before)."""
        ident, path = command.get("id"), Path(str(command.get("path", "")))
        event = {"event": "import", "id": ident, "path": str(path)}
        progress = {"done_requests": 0, "done_records": 0}
        try:
            await self._import(ident, path, event, progress)
        except Exception as exc:  # the import fails; the receiver carries on
            message = _import_error(exc, path)
            if progress["done_requests"]:
                message += (f" (after {progress['done_records']:,} records in "
                            f"{progress['done_requests']:,} requests, which stay imported)")
            sys.stderr.write(f"streamer-inspector: import of {path} failed: {message}\n")
            self._emit({**event, "state": "failed", "message": message, **progress})

    async def _import(self, ident, path: Path, event: dict, progress: dict) -> None:
        from app.capture.importer import plan

        loop = asyncio.get_running_loop()
        kind, planned = await loop.run_in_executor(None, plan, path)
        total = sum(p.records for p in planned)
        self._emit({**event, "state": "started", "kind": kind, "requests": len(planned),
                    "records": total})
        last = time.monotonic()
        for item in planned:
            if ident in self._cancelled:
                self._emit({**event, "state": "cancelled", **progress, "records": total})
                return
            stored = await self._receiver.store_imported(item)
            progress["done_requests"] += 1
            progress["done_records"] += stored.record_count
            if time.monotonic() - last > 0.25:
                last = time.monotonic()
                self._emit({**event, "state": "progress", **progress, "records": total})
        self._emit({**event, "state": "done", "kind": kind, **progress, "records": total})


def _import_error(exc: BaseException, path: Path) -> str:
    """Why an import failed, as a user reads it (no repr, no traceback)."""
    from app.capture.importer import ImportFileError

    if isinstance(exc, ImportFileError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return f"{path.name} is nested too deeply to import"
    if isinstance(exc, MemoryError):
        return f"{path.name} is too large to import in the memory available"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{path.name}: {exc.strerror}"
    if isinstance(exc, UnicodeError):
        return f"{path.name} is not UTF-8 text"
    text = str(exc).strip()
    return f"{path.name} could not be imported" + (f": {text}" if text else "")


def _fail(message: str, jsonl: bool, emit, err) -> int:
    if jsonl:
        emit({"event": "error", "message": message})
    err.write(f"streamer-inspector: error: {message}\n")
    return 2
