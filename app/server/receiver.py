"""The receiving endpoint: an aiohttp server that stores every request before it answers.

One process (``streamer-inspector serve``) runs the asyncio loop that speaks HTTP(S) and one
storage thread that owns the :class:`~app.capture.writer.CaptureWriter`. The loop never touches the
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
import sys
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from app import __version__
from app.capture.answers import CHALLENGE, Answer, json_answer, status_answer, status_text
from app.capture.inbox import InboxError
from app.capture.rules import (
    MAX_WAIT_SECONDS,
    PAUSE_RULE,
    Decision,
    RuleSet,
    format_duration,
    status_words,
)
from app.capture.writer import CaptureWriter, Incoming, Responder, Stored
from app.config import ServeOptions
from app.db import sqlite3
from app.net import basic_auth_value
from app.resources import DOCUMENTED_EVENT_SAMPLE, sample_path

_MASKED_HEADERS = {"authorization", "proxy-authorization"}
# A request without valid credentials is stored with at most this much of its body; the rest
# is never read (see Receiver._handle): nobody fills the disk without the password.
UNAUTHENTICATED_BODY_CAP = 4096
# How long a stopping receiver goes on filling the filter index and the ledger (a large backlog
# is finished by the next receiver on the capture, while idle).
FINISH_INDEX_SECONDS = 3.0
# Output lines (--events) waiting for a slow reader; beyond this they are dropped and counted.
EVENT_QUEUE_LINES = 512
# Content-Encodings the receiver decodes itself (zlib wbits): anything else gets a 415.
_DECODABLE = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
              "deflate": zlib.MAX_WBITS}


class ServeError(Exception):
    """The receiver cannot start; ``str()`` is one line for the user."""


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

    return os.getpid()


# Accepted requests that may be outside the capture when one more is answered: the one being
# folded and the one just accepted (see Receiver._caught_up).
MAX_UNFOLDED = 2


class Receiver:
    """Turns HTTP requests into stored requests and answers them."""

    def __init__(self, writer: CaptureWriter, options: ServeOptions,
                 on_stored: Callable[[Incoming, Stored], None] | None = None,
                 on_problem: Callable[[str], None] | None = None,
                 on_answers: Callable[[dict, str], None] | None = None,
                 on_folded: Callable[[int], None] | None = None):
        self._writer = writer
        self._on_folded = on_folded  # requests just folded into the capture: how many
        self._options = options
        self._on_stored = on_stored
        self._on_problem = on_problem or _log_to_stderr
        # The answer rules (docs/answer-rules.md), decided on the storage thread; each change
        # goes to ``on_answers`` (the ``answers`` event, and why: start, command, used, spent,
        # expired).
        self.rules = RuleSet(options.answer_seed)
        for text in options.answers:
            self.rules.add(text)
        self._on_answers = on_answers
        self._expiry: asyncio.TimerHandle | None = None
        self._stopping = asyncio.Event()  # set when the receiver shuts down: waits end
        self._failing: str | None = None  # the storage problem told to the user, until it ends
        # Two threads: one accepts (judges a body and appends it to the capture's inbox: the
        # acknowledgement waits for that only), one writes the capture (folds what was
        # accepted into it right after the answer, indexes, marks delayed acknowledgements).
        self._accepting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="accepting")
        self._storage = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage")
        self._folds: set[asyncio.Future] = set()
        self._progress: asyncio.Future | None = None  # see _fold_progress
        self._fold_failing = False  # the last fold failed: told, and tried again
        expected = None
        if options.auth_enabled:
            expected = basic_auth_value(options.user or "", options.password or "")
        self._expected_token = expected.partition(" ")[2].encode() if expected else None
        self._in_flight = 0
        self._last_activity = 0.0
        self._index_wanted = asyncio.Event()
        self._index_wanted.set()  # an existing capture may hold records not indexed yet
        self._indexer: asyncio.Task | None = None
        self._endpoints: dict[tuple, str] = {}  # (TLS?, local address): endpoint_url(...)

    def make_app(self) -> web.Application:
        # The size cap is enforced by hand (413 and a stored request), so aiohttp's is off.
        app = web.Application(client_max_size=self._options.max_body + 1,
                              middlewares=[self._unrouted])
        app.router.add_route("*", "/{tail:.*}", self.handle, expect_handler=self._expect)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_startup(self, _app: web.Application) -> None:
        self._indexer = asyncio.create_task(self._index_when_idle(), name="indexer")
        self._schedule_expiry()

    async def _on_shutdown(self, _app: web.Application) -> None:
        # Before aiohttp waits for the handlers: a hang ends, a delayed answer goes out now.
        self._stopping.set()
        if self._expiry is not None:
            self._expiry.cancel()

    def answers_changed(self, why: str = "command", error: str | None = None) -> None:
        """Tell ``on_answers`` the rules as they are now (on the event loop), and watch for
        the next time window to end."""
        if self._on_answers is not None:
            self._on_answers(self.rules.state(error), why)
        self._schedule_expiry()

    def _schedule_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        wait = self.rules.next_expiry()
        if wait is not None and not self._stopping.is_set():
            self._expiry = asyncio.get_running_loop().call_later(wait + 0.01, self._expired)

    def _expired(self) -> None:
        self._expiry = None
        if self.rules.expire():
            self.answers_changed("expired")
        else:
            self._schedule_expiry()

    async def _on_cleanup(self, _app: web.Application) -> None:
        if self._indexer is not None:
            self._indexer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._indexer
        # Nothing arrives any more: finish the filter index and the redelivery ledger, for a
        # while, so that readers of the stopped capture (summary, the window) see them whole.
        loop = asyncio.get_running_loop()
        self._accepting.shutdown(wait=True)
        deadline = time.monotonic() + FINISH_INDEX_SECONDS
        with contextlib.suppress(Exception):  # a full disk: the next receiver finishes it
            await loop.run_in_executor(self._storage, self._writer.fold)
            while time.monotonic() < deadline and await loop.run_in_executor(
                    self._storage, self._writer.index_pending, 500):
                pass
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
                if self._fold_failing:  # (the next fold's outcome is told by its callback)
                    self._fold_soon()
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
                     reason: str | None = None, respond: Responder | None = None) -> Stored:
        loop = asyncio.get_running_loop()
        if respond is not None and _is_check(incoming):
            respond = _noted_as_check(respond)
        stored = await loop.run_in_executor(
            self._accepting, self._writer.accept, incoming, status, reason, respond
        )
        if not self._fold_failing:
            self._storage_recovered()
        self._fold_soon()
        await self._caught_up()
        if stored.record_count:
            self._index_wanted.set()
        if self._on_stored is not None:
            self._on_stored(incoming, stored)
        return stored

    async def _caught_up(self) -> None:
        """Wait, before the answer, while more than :data:`MAX_UNFOLDED` accepted requests
        are not in the capture yet. Under a sustained load the capture cannot take more than
        the storage thread folds: answering faster lets the inbox, and the time from a 200 to
        its rows in the window, grow for as long as the load lasts (measured: 30 batches back
        to back, p99 250 ms from a 200 to the capture; with this wait 110-130 ms). Not while
        a fold is failing (what the inbox holds is durable, and the failure is told) or the
        receiver stops."""
        while (self._writer.unfolded > MAX_UNFOLDED and self._folds
               and not self._fold_failing and not self._stopping.is_set()):
            # woken as each request is folded in, or a fold ends (the timeout: a safety net)
            await asyncio.wait([self._fold_progress()], timeout=0.05)

    def _fold_progress(self) -> asyncio.Future:
        """A future done at the next progress of the storage thread (see :meth:`_progressed`)."""
        if self._progress is None or self._progress.done():
            self._progress = asyncio.get_running_loop().create_future()
        return self._progress

    def _progressed(self) -> None:
        """A request was folded in, or a fold ended: whoever waits looks again."""
        if self._progress is not None and not self._progress.done():
            self._progress.set_result(None)

    def _one_folded(self) -> None:
        if self._on_folded is not None:
            self._on_folded(1)  # (the window reads the capture at once)
        self._progressed()

    def _fold_soon(self) -> None:
        """Fold what was accepted into the capture, on the storage thread, while the answer
        goes out (a failure is told, and the batch stays in the inbox: the next fold, or the
        idle indexer's, tries again). Each request is told as it is in the capture (the window
        reads it at once), not when the fold ends: under a steady load one fold goes on
        folding what keeps coming."""
        loop = asyncio.get_running_loop()

        def folded() -> None:  # (on the storage thread)
            with contextlib.suppress(RuntimeError):  # (the loop has closed: stopping)
                loop.call_soon_threadsafe(self._one_folded)

        future = loop.run_in_executor(self._storage, self._writer.fold, folded)
        self._folds.add(future)
        future.add_done_callback(self._on_fold_done)

    def _on_fold_done(self, future: asyncio.Future) -> None:
        self._folds.discard(future)
        self._progressed()
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            if self._fold_failing:
                self._fold_failing = False
                self._storage_recovered()
            return
        self._fold_failing = True
        message = (f"cannot write the capture: "
                   f"{storage_error_message(exc, self._writer.path, acknowledged=True)}")
        if self._failing != message:
            self._failing = message
            self._on_problem(message)
        # the idle loop tries again in a while (not at once: the disk is likely still full)
        asyncio.get_running_loop().call_later(2.0, self._index_wanted.set)

    async def store_imported(self, item) -> Stored:
        """Store one planned import request like a received one (see ``app.capture.importer``):
        a batch the source answered by a rule keeps its status, rule and acknowledgement."""
        return await self._store(item.incoming, item.status, item.reason, item.respond)

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

    @web.middleware
    async def _unrouted(self, request: web.Request, handler) -> web.StreamResponse:
        """A target no route takes (the asterisk form, ``OPTIONS * HTTP/1.1``: aiohttp's
        routes all start with ``/``) is handled like any other request (stored, and answered
        405) instead of getting aiohttp's own 404, unstored."""
        if isinstance(request.match_info.http_exception, web.HTTPNotFound):
            return await self.handle(request)
        return await handler(request)

    def _endpoint(self, request: web.Request) -> str | None:
        """The endpoint that received ``request`` (see :func:`endpoint_url`), per connection's
        TLS and local address (a handful: computed once each)."""
        transport = request.transport
        sockname = transport.get_extra_info("sockname") if transport is not None else None
        if not isinstance(sockname, tuple) or len(sockname) < 2:
            return None  # a Unix socket, or a connection already gone
        key = (request.secure, sockname[0], sockname[1])
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._endpoints[key] = endpoint_url(*key)
        return endpoint

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self._in_flight += 1
        try:
            return await self._handle(request)
        except (sqlite3.Error, InboxError) as exc:  # (the capture, or its inbox)
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
            target=request.raw_path,
            endpoint=self._endpoint(request),
        )
        authorised = self._check_auth(request, incoming)

        if request.method in ("GET", "HEAD") and request.path == "/":
            text = self._status_text()  # what arrived before this look at the status
            return _send(await self._store(incoming, 200, None,
                                           lambda _stored: status_answer(text)))

        if not authorised:
            # Credentials first: keep the headers and a few KB of the body, read no more.
            await self._read_capped(request, incoming, UNAUTHENTICATED_BODY_CAP)
            message = {
                "missing": "authentication required: send HTTP Basic Auth "
                           "(the Basic Auth header configured in the 1NCE Portal)",
                "invalid": "wrong credentials: the Basic Auth header does not match "
                           "this endpoint's user and password",
            }[incoming.auth]
            stored = await self._store(incoming, 401, message, _rejection(
                message, ("WWW-Authenticate", CHALLENGE)))
            response = _send(stored)
            if request.content_length or not request.content.at_eof():
                response.force_close()  # the unread rest of the body ends the connection
            return response

        problem = await self._read_body(request, incoming)
        if problem is not None:
            status, message = problem
            return _send(await self._store(incoming, status, message,
                                           _rejection(message)))

        if request.method != "POST":
            message = f"method {request.method} is not allowed: the Data Streamer sends POST"
            return _send(await self._store(incoming, 405, message, _rejection(
                message, ("Allow", "POST"))))

        decided: list[Decision] = []
        stored = await self._store(incoming, respond=self._answering(incoming.path, decided))
        if not decided:
            return _send(stored)
        decision = decided[0]
        if decision.rule_id is not None:  # a rule was used (the pause uses nothing up)
            self.answers_changed("spent" if decision.spent else "used")
        return await self._deliver(request, stored, decision)

    def _answering(self, path: str, decided: list[Decision]) -> Responder:
        """The answer to a POST judged as a batch: when the endpoint would acknowledge it, the
        answer rules may decide otherwise (on the storage thread, inside the transaction);
        the decision is appended to ``decided``."""

        def respond(stored: Stored) -> Answer:
            if stored.status != 200:
                return _judged(stored)
            decision = self.rules.decide(path)
            if decision is None:
                return _judged(stored)
            decided.append(decision)
            return _ruled(stored, decision)

        return respond

    async def _deliver(self, request: web.Request, stored: Stored,
                       decision: Decision) -> web.StreamResponse:
        """Send (or not) what a rule decided: after its delay, never (drop), or not until the
        client gives up (hang). While it waits, the receiver counts as idle (the index goes
        on)."""
        self._in_flight -= 1
        try:
            if decision.kind == "drop":
                return _no_answer(request)
            if decision.kind == "hang":
                await self._wait(request, MAX_WAIT_SECONDS)
                return _no_answer(request)
            if decision.kind == "delay":
                if not await self._wait(request, decision.delay):
                    return _no_answer(request)  # the client gave up first
                if stored.status == 200:
                    return await self._acknowledge(request, stored)
            return _send(stored)
        finally:
            self._in_flight += 1

    async def _wait(self, request: web.Request, seconds: float) -> bool:
        """Wait ``seconds`` (less when the receiver stops); False when the client went away
        first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            if _gone(request):
                return False
            left = deadline - loop.time()
            if left <= 0 or self._stopping.is_set():
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), min(left, 0.1))

    async def _acknowledge(self, request: web.Request, stored: Stored) -> web.StreamResponse:
        """Send a delayed 200 now, and record that it acknowledged the batch once it was
        written to a client still connected."""
        response = _send(stored)
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:
            return response
        if _gone(request):
            return response
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._storage, self._writer.mark_acknowledged,
                                       stored.request_id)
        except sqlite3.Error as exc:
            self._storage_problem(exc, "that a delayed answer acknowledged its batch")
        return response

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
                if size > limit:  # the first ``limit`` bytes are kept, and how many came
                    chunks.append(chunk[:len(chunk) - (size - limit)])
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
        return status_text(self._expected_token is not None, self._writer.requests,
                           self._writer.records)


RECEIVER = web.AppKey("receiver", Receiver)  # the running app's Receiver


def endpoint_url(secure: bool, address: str, port: int) -> str:
    """``scheme://host:port`` of the endpoint a request came in on, for sending it again.

    The scheme is the connection's (TLS or not: the main listener follows ``--tls``, the tunnel
    origin is plain HTTP), the port the local socket's. The host is ``localhost`` when the
    local address is loopback: the local CA's certificate names ``localhost`` (an address, say
    ``127.0.0.2``, might not be in it), and it is what the banner shows. Otherwise it is the
    local address the client reached (the one a client elsewhere can use; IPv6 in brackets,
    an IPv4-mapped one as IPv4, a zone as ``%25``): not the Host header, which a client
    chooses and which may name a proxy or a tunnel."""
    host = address.partition("%")[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip is not None and ip.is_loopback:
        host = "localhost"
    elif isinstance(ip, ipaddress.IPv6Address):
        zone = address.partition("%")[2]
        host = f"[{ip.compressed}{'%25' + zone if zone else ''}]"
    elif ip is not None:
        host = str(ip)
    else:
        host = address  # not an address (never seen): as the socket gave it
    return f"{'https' if secure else 'http'}://{host}:{port}"


def _judged(stored: Stored) -> Answer:
    """The answer to a POST judged as a batch: 200 with what was stored, or why not."""
    if stored.status == 200:
        return json_answer({
            "ok": True,
            "request_id": stored.request_id,
            "records": stored.record_count,
            "counts": stored.counts,
            **({"problems": stored.problems} if stored.problems else {}),
        })
    body = {"ok": False, "request_id": stored.request_id}
    body.update(stored.error.as_json() if stored.error else {"error": stored.reason})
    return json_answer(body)


# A request from ``streamer-inspector check`` carries this header; it is stored like any other,
# with CHECK_NOTE among its contract notes (``request.problems``), and its one record
# (``{"streamer_inspector_check": "<id>"}``) lands in the Other family.
CHECK_HEADER = "x-streamer-inspector-check"
CHECK_NOTE = "check request from streamer-inspector check"


def _is_check(incoming: Incoming) -> bool:
    return any(name.lower() == CHECK_HEADER and value.strip() == "1"
               for name, value in incoming.headers)


def _noted_as_check(respond: Responder) -> Responder:
    """``respond``, with the check note added to the request's notes first (the responder runs
    inside the writer's transaction, before the row is written: the note is stored and
    answered)."""

    def noted(stored: Stored) -> Answer:
        if CHECK_NOTE not in stored.problems:
            stored.problems.append(CHECK_NOTE)
        return respond(stored)

    return noted


def _ruled(stored: Stored, decision: Decision) -> Answer:
    """``stored`` as an answer rule (or the pause) decided it: its status, reason, rule and
    whether it acknowledges; the answer to send (none for drop and hang)."""
    who = ("acknowledgements paused" if decision.rule == PAUSE_RULE
           else f"answer rule '{decision.rule}'")
    count = stored.record_count
    batch = f"the batch was stored with {count} record{'' if count == 1 else 's'}"
    stored.rule = decision.rule
    if decision.kind in ("drop", "hang"):
        stored.status = 0  # no HTTP answer (HAR's convention)
        stored.acked = False
        what = ("the connection was closed without an answer" if decision.kind == "drop"
                else f"no answer, the connection was held open until the client gave up "
                     f"(at most {format_duration(MAX_WAIT_SECONDS)})")
        stored.reason = f"{who}: {what}; {batch}, not acknowledged"
        return Answer((), b"")
    stored.status = decision.status
    after = f" after {format_duration(decision.delay)}" if decision.kind == "delay" else ""
    if decision.status == 200:
        if decision.kind == "delay":
            stored.acked = False  # until it reached a client still waiting (mark_acknowledged)
            stored.reason = (f"{who}: 200 OK{after}, acknowledged only if the client still "
                             f"waits")
        else:
            stored.reason = f"{who}: 200 OK"
        body = json.loads(_judged(stored).body)
        body["rule"] = decision.rule
        return json_answer(body)
    stored.acked = False
    stored.reason = f"{who}: {status_words(decision.status)}{after}; {batch}, not acknowledged"
    headers = list(decision.headers)
    if decision.status == 401:
        headers.append(("WWW-Authenticate", CHALLENGE))
    elif decision.status == 405:
        headers.append(("Allow", "POST"))
    return json_answer({"ok": False, "error": stored.reason, "request_id": stored.request_id,
                        "rule": decision.rule}, headers)


def _gone(request: web.Request) -> bool:
    """Whether the client closed its connection (the transport is gone or closing)."""
    transport = request.transport
    return transport is None or transport.is_closing()


def _no_answer(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer. aiohttp then fails to write the response it
    is given, which it takes, silently, as a client that went away."""
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=204)


def _rejection(message: str, *headers: tuple[str, str]) -> Responder:
    """The answer to a request refused before its body was judged (401, 405, 413, ...)."""

    def respond(stored: Stored) -> Answer:
        return json_answer({"ok": False, "error": message, "request_id": stored.request_id},
                           headers)

    return respond


def _send(stored: Stored) -> web.Response:
    """The answer stored with the request, byte for byte (aiohttp adds Content-Length, Date
    and Server; to a HEAD it sends the headers only)."""
    assert stored.answer is not None
    answer = stored.answer
    return web.Response(status=stored.status, body=answer.body, headers=dict(answer.headers))


def _json_response(status: int, body: dict, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False),
                        content_type="application/json", headers=headers)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _log_to_stderr(message: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"streamer-inspector: {message}\n")
        sys.stderr.flush()


def storage_error_message(exc: Exception, path: Path, acknowledged: bool = False) -> str:
    """What a failed write of the capture means for the user, in one sentence.
    ``acknowledged``: it failed folding what was already acknowledged (kept in the inbox)."""
    lost = ("what was acknowledged waits in the capture's inbox until it can be written"
            if acknowledged else "the request was not stored")
    retries = "" if acknowledged else " (the sender retries)"
    code = getattr(exc, "sqlite_errorcode", None)
    if code == 13 or "full" in str(exc).lower() or (  # SQLITE_FULL, or the inbox's write
            isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)):
        return (f"the disk holding the capture {path} is full: {lost}; free some space"
                f"{retries}")
    if code is not None and code & 0xFF == 10:  # SQLITE_IOERR, and a file size limit
        return (f"the capture {path} could not be written (disk I/O error: the disk may be "
                f"full): {lost}" + ("; the sender retries" if not acknowledged else ""))
    return (f"the capture {path} could not be written ({_one_line(str(exc))}): {lost}"
            + ("; the sender retries" if not acknowledged else ""))


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
