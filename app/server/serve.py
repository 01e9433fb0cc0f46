"""The serve loop (``streamer-inspector serve``): starts the receiver, prints the banner and
one line (or one JSON event) per stored request, and stops when told to or when the window
that started it goes away."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from app import APP_TITLE, __version__, runtime
from app.capture.rules import RuleError, format_answers_line, parse_rule
from app.capture.writer import CaptureWriter, Incoming, Stored
from app.config import ServeOptions, tls_dir
from app.display import human_size, printable
from app.net import is_loopback
from app.server.control import Answers, Imports, dispatch, stop_when_stdin_closes
from app.server.public import Public, PublicError, check_public_url, parse_provider
from app.server.receiver import (
    EVENT_QUEUE_LINES,
    RECEIVER,
    Endpoint,
    Receiver,
    ServeError,
)
from app.server.tls import ensure_local_ca, server_context


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
                on_answers: Callable[[dict, str], None] | None = None,
                on_folded: Callable[[int], None] | None = None,
                ) -> tuple[web.AppRunner, Endpoint]:
    """Start listening; returns the runner (``await runner.cleanup()`` to stop) and endpoint.

    ``on_problem`` gets one line when the capture cannot be written (and when it can again);
    ``on_answers`` the ``answers`` event on every change of the answer rules, and why;
    ``on_folded`` how many acknowledged requests were just written into the capture.
    """
    ctx, ca_file, notice = _ssl_context(options)
    receiver = Receiver(writer, options, on_stored, on_problem, on_answers, on_folded)
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
    # The port really bound (``--port 0`` picks a free one): the runner's public addresses.
    port = next((address[1] for address in runner.addresses), options.port)
    scheme = "http" if ctx is None else "https"
    url = f"{scheme}://{_url_host(options.host)}:{port}/"
    endpoint = Endpoint(url=url, host=options.host, port=port, tls=options.tls, ca_file=ca_file,
                        user=options.user, password=options.password, capture=writer.path,
                        notices=[notice] if notice else [])
    return runner, endpoint


async def tunnel_origin(runner: web.AppRunner) -> int:
    """Add the tunnel origin to a running receiver: a plain-HTTP listener on a free loopback
    port, the same app (Basic Auth and all), that a tunnel's agent forwards to (the public TLS
    ends at the tunnel's service; this hop stays inside the computer). Returns its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock, backlog=128)
        await site.start()
    except BaseException:
        sock.close()
        raise
    return sock.getsockname()[1]


def format_public_line(event: dict) -> str:
    """A ``public_url`` event as the human output says it."""
    if event["state"] == "public":
        return (f"  Public URL:         {event['url']}\n"
                f"  (the 1NCE Portal's API Callback: this URL; Basic Auth Header as above)")
    return f"public URL{' failed' if event['state'] == 'failed' else ''}: {event['message']}"


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
    status = stored.status or "---"  # 0: no answer was sent (an answer rule's drop or hang)
    text = f"{when}  {status}  {incoming.method} {incoming.path}  {human_size(size)}"
    if stored.status == 200 and incoming.method == "POST":
        detail = ", ".join(f"{fam} {n}" for fam, n in stored.counts.items())
        noun = "record" if stored.record_count == 1 else "records"
        text += f"  {stored.record_count} {noun}" + (f" ({detail})" if detail else "")
    if stored.reason:
        text += f"  {stored.reason}"
    for problem in stored.problems:
        text += f"\n          note: {problem}"
    return printable(text)  # the path and notes carry text from the wire: no ESC to a terminal


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
                # A lone surrogate (text from the wire) is written as its escape, valid in a
                # JSON string too; it must never end the output as if the pipe had broken.
                self._write((line + "\n").encode("utf-8", "backslashreplace"))
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

    def on_answers(state: dict, why: str) -> None:
        # Every change is an event; the human output skips a use that leaves the rule in
        # force (the request's own line names the rule).
        if jsonl:
            emit(state)
        elif why != "used":
            lines.put(format_answers_line(state))

    def on_folded(count: int) -> None:
        # The window follows the capture: this line has it look right away (its 0.1 s poll
        # otherwise), so a batch's rows show within a few ms of their commit.
        if jsonl:
            emit({"event": "folded", "requests": count})

    try:
        status = _serve(options, jsonl, lines, emit, say, on_stored, on_problem, on_answers,
                        err, on_folded)
    finally:
        lines.close()
    if "ngrok" in sys.modules:
        # The ngrok SDK's runtime threads can abort the interpreter's own exit ("Fatal Python
        # error: PyGILState_Release", a finalisation race seen here in 1 of 6 runs after a
        # session): everything is stopped, written and closed, so leave without it.
        for stream in (out, err, sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)
    return status


def _serve(options: ServeOptions, jsonl: bool, lines: EventLines, emit, say, on_stored,
           on_problem, on_answers, err, on_folded=None) -> int:
    from app.capture.schema import CaptureError
    from app.server.tls import TlsError

    for text in options.answers:  # before anything is created or listens
        try:
            parse_rule(text)
        except RuleError as exc:
            return _fail(f"--answer {text!r}: {exc}", jsonl, emit, err)
    if options.public:
        if not options.auth_enabled:
            return _fail("--public with --no-auth is refused: anyone who finds the public URL "
                         "could post to it; keep Basic Auth on", jsonl, emit, err)
        try:
            parse_provider(options.public)
            if options.public_url:
                check_public_url(options.public_url)
        except PublicError as exc:
            return _fail(str(exc), jsonl, emit, err)
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
            runner, endpoint = await start(options, writer, on_stored, on_problem, on_answers,
                                           on_folded)
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
        receiver = runner.app[RECEIVER]
        if options.answers or options.stop_with_stdin:  # the rules in force, and the switch
            receiver.answers_changed("start")
        origin: list[int] = []

        async def origin_port() -> int:
            if not origin:
                origin.append(await tunnel_origin(runner))
            return origin[0]

        def on_public(event: dict) -> None:
            # The running entry names the public URL (``check`` finds the receiver by it).
            runtime.set_public_url(registration, event["url"])
            if jsonl:
                emit(event)
            else:
                lines.put(format_public_line(event))

        public = Public(origin_port, on_public,
                        auth_enabled=options.auth_enabled,
                        ngrok_authtoken=options.ngrok_authtoken,
                        ngrok_domain=options.ngrok_domain, public_url=options.public_url,
                        ssh_remote_port=options.public_remote_port)
        if options.public:
            await public.expose(options.public)
        if options.stop_with_stdin:
            imports = Imports(receiver, emit if jsonl else (lambda e: say(json.dumps(e))))
            answers = Answers(receiver)
            stop_when_stdin_closes(loop, stop, dispatch(imports.command, public.command,
                                                        answers.command))
        await stop.wait()
        await public.close()  # the tunnel stops with the receiver
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


def _fail(message: str, jsonl: bool, emit, err) -> int:
    if jsonl:
        emit({"event": "error", "message": message})
    err.write(f"streamer-inspector: error: {message}\n")
    return 2
