"""Send records to an endpoint the way the 1NCE Data Streamer delivers them.

The contract (``../shared/docs/data-streamer-webhook.md``, ``record-schema.md`` section 1): each
POST carries a JSON list of at most 3000 records with ``Content-Type: application/json`` and HTTP
Basic Auth; only HTTP 200 acknowledges a POST, and acknowledged records are never sent again;
redirects (3xx) are not followed; unacknowledged deliveries are retried with back-off, and after
a number of retries the stream goes to state FAILED.

:func:`send` is Qt-free (asyncio and an aiohttp client); the command line (``send``) prints one
line per batch, or JSON lines for the window, which runs it as a child process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
from yarl import URL

from app.config import MAX_RECORDS_PER_POST
from app.net import basic_auth_value
from app.records.shape import LineError, json_list_elements, ndjson_records

MAX_BACKOFF = 60.0  # seconds: the longest wait between two attempts of one batch


@dataclass
class SendOptions:
    """How to deliver: target, batching, pacing, retries, TLS, credentials."""

    url: str
    batch_size: int = MAX_RECORDS_PER_POST
    interval: float = 0.0  # seconds between batches (after the previous one was acknowledged)
    repeat: int = 1  # send the whole record list this many times
    user: str | None = None
    password: str | None = None
    cacert: str | None = None  # trust this CA file (else the system's trust store)
    insecure: bool = False  # no TLS verification (callers show a warning)
    timeout: float = 30.0  # per attempt
    retries: int = 5  # retries after the first attempt, then FAILED
    backoff: float = 1.0  # first retry delay; doubles each retry (cap 60 s)


@dataclass
class BatchResult:
    """One batch's outcome (or, passed to ``on_retry``, one failed attempt of it)."""

    number: int
    records: int
    status: int | None
    attempts: int
    latency: float  # seconds of the last attempt
    error: str | None
    acknowledged: bool


@dataclass
class SendReport:
    """The run's outcome: state is "done", "failed" or "cancelled"."""

    state: str
    batches: list[BatchResult] = field(default_factory=list)
    records_sent: int = 0  # records of the batches that were posted at least once
    records_acknowledged: int = 0
    elapsed: float = 0.0


# -- batches -------------------------------------------------------------------------------------


def _record_text(record: bytes | dict) -> bytes:
    if isinstance(record, (bytes, bytearray, memoryview)):
        return bytes(record)
    return orjson.dumps(record)


def batches(records: Iterable[bytes | dict], size: int) -> Iterator[bytes]:
    """Cut ``records`` into JSON-list bodies of at most ``size`` records.

    A record given as bytes is its exact JSON text (from a file or a capture) and is joined as
    is; any other record (a dict) is serialised compactly.
    """
    for _count, body in _counted_batches(records, size):
        yield body


def _counted_batches(records: Iterable[bytes | dict], size: int) -> Iterator[tuple[int, bytes]]:
    if size < 1:
        raise ValueError("the batch size must be at least 1")
    it = iter(records)
    while chunk := list(itertools.islice(it, size)):
        yield len(chunk), b"[" + b",".join(_record_text(r) for r in chunk) + b"]"


def count_batches(total: int, size: int) -> int:
    """How many bodies :func:`batches` cuts ``total`` records into."""
    return math.ceil(total / size) if total else 0


# -- sending -------------------------------------------------------------------------------------


def ssl_context(options: SendOptions) -> ssl.SSLContext | bool:
    """``cacert``: trust only that CA file; ``insecure``: no verification; else the system's."""
    if options.insecure:
        return False
    if options.cacert:
        try:
            return ssl.create_default_context(cafile=options.cacert)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ValueError(f"cannot use the CA file {options.cacert}: {reason}") from None
    return ssl.create_default_context()


def check_options(options: SendOptions) -> URL:
    """The URL to send to; raises ValueError (a sentence for the user) for unusable options."""
    try:
        url = URL(options.url)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a URL: {options.url!r} ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"not an http(s) URL: {options.url!r} (e.g. https://host:8443/path)")
    if options.batch_size < 1:
        raise ValueError("the batch size must be at least 1")
    if options.repeat < 0 or options.retries < 0:
        raise ValueError("repeat and retries cannot be negative")
    if options.timeout <= 0:
        raise ValueError("the timeout must be positive")
    if options.interval < 0 or options.backoff < 0:
        raise ValueError("interval and back-off cannot be negative")
    return url


def _fmt_seconds(value: float) -> str:
    return f"{value:g} s"


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _refusal(status: int, reason: str | None, location: str | None, body: bytes) -> str:
    head = f"{status} {reason}" if reason else str(status)
    if 300 <= status < 400:
        where = f" (Location: {location})" if location else " (no Location header)"
        return f"{head}: redirects are not followed{where}"
    if 200 <= status < 300:
        return f"{head}: only 200 acknowledges a delivery"
    detail = answer_detail(body)
    return f"{head}: {detail}" if detail else head


def answer_detail(body: bytes) -> str:
    """What a refusing backend said, in one short line: the ``error`` of a JSON answer (this
    endpoint's, and many others'), else the body's text."""
    detail = ""
    try:
        answer = json.loads(body)
        if isinstance(answer, dict) and isinstance(answer.get("error"), str):
            detail = answer["error"]
    except ValueError:
        detail = body.decode("utf-8", "replace")
    return _short(detail)


_OBJECT_REPR = re.compile(r"<[^<>]*\bobject at 0x[0-9A-Fa-f]+>")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def _plain(text: str) -> str:
    """An exception's text without Python object reprs (``<ssl.SSLContext object at 0x…>``)."""
    return _short(_OBJECT_REPR.sub("…", text))


def _where(exc: BaseException, url: str | URL | None) -> tuple[str, str | None]:
    """``host:port`` the error is about, and the host alone."""
    host = port = None
    if isinstance(exc, aiohttp.ClientConnectorError):
        host, port = exc.host, exc.port
    elif url is not None:
        try:
            parsed = URL(str(url))
            host, port = parsed.host, parsed.port
        except (ValueError, TypeError):
            pass
    if host is None:
        return "the server", None
    shown = f"[{host}]" if ":" in host else host
    return (f"{shown}:{port}" if port else shown), host


def describe_client_error(exc: BaseException, url: str | URL | None = None) -> str:
    """A client error (aiohttp, OS, TLS, timeout) as one readable line, never a Python repr:
    ``cannot connect to localhost:8443: connection refused (is `streamer-inspector serve`
    running?)``."""
    where, host = _where(exc, url)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert = exc.certificate_error
        reason = getattr(cert, "verify_message", None) or getattr(cert, "reason", None) or cert
        hint = ("the local endpoint's CA is what `streamer-inspector ca` prints"
                if host in _LOOPBACK else "or --insecure to skip the check")
        return (f"TLS certificate of {where} not trusted: {_plain(str(reason))} (give its CA "
                f"with --cacert; {hint})")
    if isinstance(exc, aiohttp.ClientConnectorSSLError):
        reason = getattr(exc.os_error, "reason", None) or exc.os_error.strerror or exc.os_error
        return f"TLS error with {where}: {_plain(str(reason))}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve {host or where}: {_plain(exc.strerror or str(exc.os_error))}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            hint = (" (is `streamer-inspector serve` running?)" if host in _LOOPBACK
                    else "")
            return f"cannot connect to {where}: connection refused{hint}"
        reason = exc.os_error.strerror or str(exc.os_error) or type(exc.os_error).__name__
        return f"cannot connect to {where}: {_plain(reason)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"{where} closed the connection without an answer"
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return f"no answer from {where} in time"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return f"TLS error with {where}: {_plain(getattr(exc, 'reason', None) or str(exc))}"
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return f"bad response from {where}: {_plain(str(exc))}"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"not a usable URL: {_plain(str(exc.url))}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{where}: {_plain(exc.strerror)}"
    return _plain(str(exc)) or type(exc).__name__


async def _wait_cancel(cancel: asyncio.Event, delay: float) -> bool:
    """Wait ``delay`` seconds; True as soon as ``cancel`` is set."""
    if cancel.is_set():
        return True
    if delay <= 0:
        return False
    try:
        await asyncio.wait_for(cancel.wait(), delay)
    except TimeoutError:
        return False
    return True


class _Cancelled(Exception):
    """The cancel event was set while an attempt was in flight."""

    def __init__(self, latency: float):
        super().__init__(latency)
        self.latency = latency


async def _attempt(session: aiohttp.ClientSession, url: URL, body: bytes, headers: dict,
                   options: SendOptions, cancel: asyncio.Event,
                   ) -> tuple[int | None, str | None, float]:
    """One POST: (status, error or None when acknowledged, latency)."""

    async def post() -> tuple[int | None, str | None]:
        async with session.post(url, data=body, headers=headers, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=options.timeout)) as resp:
            answer = await resp.read()
            if resp.status == 200:
                return 200, None
            return resp.status, _refusal(resp.status, resp.reason,
                                         resp.headers.get("Location"), answer)

    started = time.monotonic()
    task = asyncio.ensure_future(post())
    stopper = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopper
    latency = time.monotonic() - started
    try:
        status, error = await task
    except asyncio.CancelledError:
        if cancel.is_set():
            raise _Cancelled(latency) from None
        raise
    except TimeoutError:
        return None, f"timed out after {_fmt_seconds(options.timeout)}", latency
    except aiohttp.ClientError as exc:
        return None, describe_client_error(exc, url), latency
    return status, error, latency


async def send(records: Sequence, options: SendOptions,
               on_batch: Callable[[BatchResult], None] | None = None,
               cancel: asyncio.Event | None = None,
               on_retry: Callable[[BatchResult, float], None] | None = None) -> SendReport:
    """Deliver ``records`` (``repeat`` times, as one stream) in batches, like the Data Streamer.

    Only a 200 acknowledges a batch; any other answer, a timeout or a connection error is a
    failed attempt, retried after ``backoff``, ``2*backoff``, ... (at most 60 s). A batch still
    unacknowledged after ``retries`` retries ends the run in state "failed"; later batches are
    not sent. Setting ``cancel`` ends the run promptly (also during a wait) as "cancelled".
    ``on_batch`` gets each batch's final outcome, ``on_retry`` each failed attempt that will be
    retried, with the delay before the retry.
    """
    url = check_options(options)
    tls = ssl_context(options) if url.scheme == "https" else None
    cancel = cancel or asyncio.Event()
    headers = {"Content-Type": "application/json"}
    if options.user is not None:
        headers["Authorization"] = basic_auth_value(options.user, options.password or "")
    stream = itertools.chain.from_iterable(itertools.repeat(records, options.repeat))
    report = SendReport(state="done")
    started = time.monotonic()

    def finish(result: BatchResult) -> None:
        report.batches.append(result)
        report.records_sent += result.records
        if result.acknowledged:
            report.records_acknowledged += result.records
        if on_batch is not None:
            on_batch(result)

    connector = aiohttp.TCPConnector(ssl=tls if tls is not None else True, limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        numbered = enumerate(_counted_batches(stream, options.batch_size), start=1)
        for number, (count, body) in numbered:
            if number > 1 and await _wait_cancel(cancel, options.interval):
                report.state = "cancelled"
                break
            if cancel.is_set():
                report.state = "cancelled"
                break
            attempts = 0
            while True:
                attempts += 1
                try:
                    status, error, latency = await _attempt(session, url, body, headers,
                                                            options, cancel)
                except _Cancelled as stop:
                    # Posted, but whether the receiver took it is unknown: not acknowledged.
                    finish(BatchResult(number, count, None, attempts, stop.latency,
                                       "cancelled while waiting for the answer", False))
                    report.state = "cancelled"
                    break
                result = BatchResult(number, count, status, attempts, latency, error,
                                     error is None)
                if result.acknowledged:
                    finish(result)
                    break
                retry = attempts - 1
                if retry >= options.retries:
                    finish(result)
                    report.state = "failed"
                    break
                delay = min(options.backoff * 2 ** min(retry, 32), MAX_BACKOFF)
                if on_retry is not None:
                    on_retry(result, delay)
                if await _wait_cancel(cancel, delay):
                    finish(result)
                    report.state = "cancelled"
                    break
            if report.state != "done":
                break
    report.elapsed = time.monotonic() - started
    return report


# -- record sources ------------------------------------------------------------------------------


def _json_list_texts(text: str) -> list[bytes] | None:
    """Each element's exact text when ``text`` is one JSON list, else None."""
    try:
        return [t.encode("utf-8") for t, _ in json_list_elements(text)]
    except ValueError:
        return None


def records_from_file(path: str | Path) -> list[bytes]:
    """The records of a JSON list file (each element's exact text) or of NDJSON (one a line)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise ValueError(f"{path} is empty: expected a JSON list of records or NDJSON")
    texts = _json_list_texts(text)
    if texts is not None:
        return texts
    try:
        return [line.encode("utf-8") for line in ndjson_records(text)]
    except LineError as exc:
        if "column" not in str(exc):
            raise ValueError(f"{path}: line {exc.line} is not a JSON object: NDJSON holds one "
                             f"record (object) a line") from None
        looks_like_list = text.lstrip().startswith("[")
        raise ValueError(
            f"{path} is neither a JSON list of records nor NDJSON (one record a line): "
            f"line {exc.line}: {exc}"
            + (" -- it looks like a JSON list, but does not parse" if looks_like_list else "")
        ) from None


def records_from_capture(path: str | Path, filter_text: str = "") -> list[bytes]:
    """The records of a capture file in their stored order, optionally only those matching."""
    from app.capture.schema import open_reader
    from app.filters.parser import parse

    flt = parse(filter_text) if filter_text.strip() else None  # FilterError is a ValueError
    db = open_reader(Path(path))
    try:
        if flt is None or flt.is_empty:
            rows = db.execute("SELECT json FROM record ORDER BY id")
        else:
            query, params = flt.record_query(None)
            rows = db.execute(f"SELECT json FROM record WHERE id IN ({query}) ORDER BY id",
                              params)
        return [text.encode("utf-8") if isinstance(text, str) else bytes(text)
                for (text,) in rows]
    finally:
        db.close()


def records_from_sample(name: str) -> list[bytes]:
    """A sample of the library (``app.replay.samples``, ``resources/samples/index.json``), by name
    (``usage-record`` or ``usage-record.json``): each record's exact text."""
    from app.replay import samples

    try:
        sample = samples.find(name)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    try:
        body = sample.body()
    except OSError as exc:
        raise ValueError(f"cannot read the sample {sample.name}: {exc.strerror or exc}") from None
    texts = _json_list_texts(body.decode("utf-8"))
    if texts is None:
        raise ValueError(f"the sample {sample.name} is not a JSON list of records")
    return texts


def sample_names() -> list[str]:
    """The names ``--sample`` takes, in the library's order."""
    from app.replay import samples

    try:
        return [s.name for s in samples.library()]
    except (OSError, ValueError, TypeError):
        return []


def generated_records(count: int, seed: int, sims: int = 100) -> list[dict]:
    """``count`` realistic fake records from :class:`app.generator.Generator`."""
    from app.replay.generator import Generator

    return Generator(sims=sims, seed=seed).records(count)
