"""Send records to an endpoint the way the 1NCE Data Streamer delivers them.

The contract (``../shared/docs/data-streamer-webhook.md``, ``record-schema.md`` section 1): each
POST carries a JSON list of at most 3000 records with ``Content-Type: application/json`` and HTTP
Basic Auth; only HTTP 200 acknowledges a POST, and acknowledged records are never sent again;
redirects (3xx) are not followed; unacknowledged deliveries are retried with back-off, and after
a number of retries the stream goes to state FAILED.

Two ways to retry: by default an unacknowledged batch is posted again as it was; with
``redeliver_unacked`` its records go back to the front of the queue, as in the streamer's buffer,
and come again in later batches together with new records (see :func:`send`), so a backend's
deduplication meets what the streamer really sends.

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
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
from yarl import URL

from app.config import MAX_RECORDS_PER_POST
from app.net import basic_auth_value
from app.records.shape import LineError, json_list_elements, ndjson_records, parse_record

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
    # Like the streamer: an unacknowledged batch's records go back to the front of the queue
    # and come again in later batches with new ones (instead of the same batch again).
    redeliver_unacked: bool = False


@dataclass
class BatchResult:
    """One batch's outcome (or, passed to ``on_retry``, one failed attempt of it).

    ``redelivered``: records of this batch that an earlier, unacknowledged batch carried
    (``redeliver_unacked``; a batch posted again as it was counts its ``attempts`` instead).
    ``requeued`` and ``delay``: an unacknowledged batch's records put back at the front of the
    queue, and the back-off before the next batch (``redeliver_unacked``)."""

    number: int
    records: int
    status: int | None
    attempts: int
    latency: float  # seconds of the last attempt
    error: str | None
    acknowledged: bool
    redelivered: int = 0
    requeued: int = 0
    delay: float | None = None


@dataclass
class SendReport:
    """The run's outcome: state is "done", "failed" or "cancelled"; ``failure`` says which
    batch or record failed the run."""

    state: str
    batches: list[BatchResult] = field(default_factory=list)
    records_sent: int = 0  # records posted at least once
    records_acknowledged: int = 0
    elapsed: float = 0.0
    # Records posted again: every retry of a batch counts its records, every record a later
    # batch carries again counts once
    records_redelivered: int = 0
    failure: str | None = None


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

    With ``redeliver_unacked`` a batch is posted once: when it is not acknowledged, its records
    go back to the front of the queue and, after the back-off, the next batch carries them
    first, then ``batch_size`` new records (together at most 3000, or ``batch_size`` when
    larger), as the streamer's buffer does while a backend refuses. The back-off doubles with
    the deliveries of the oldest record waiting; a record still unacknowledged after
    ``retries`` redeliveries ends the run in state "failed". ``on_batch`` gets every batch
    (``redelivered``, ``requeued``, ``delay`` say what happens to its records);
    ``on_retry`` is not called.
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
    post = _Poster(url, headers, options, cancel)

    def finish(result: BatchResult) -> None:
        report.batches.append(result)
        if on_batch is not None:
            on_batch(result)

    connector = aiohttp.TCPConnector(ssl=tls if tls is not None else True, limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        post.session = session
        if options.redeliver_unacked:
            await _send_redelivering(stream, options, post, cancel, report, finish)
        else:
            await _send_batches(stream, options, post, cancel, report, finish, on_retry)
    report.elapsed = time.monotonic() - started
    return report


@dataclass
class _Poster:
    """One POST of a body with the run's URL, headers and options."""

    url: URL
    headers: dict
    options: SendOptions
    cancel: asyncio.Event
    session: aiohttp.ClientSession | None = None

    async def __call__(self, body: bytes) -> tuple[int | None, str | None, float]:
        return await _attempt(self.session, self.url, body, self.headers, self.options,
                              self.cancel)


def _backoff(options: SendOptions, retry: int) -> float:
    """The wait before retry number ``retry + 1``: ``backoff * 2**retry``, at most 60 s."""
    return min(options.backoff * 2 ** min(retry, 32), MAX_BACKOFF)


async def _send_batches(stream: Iterable, options: SendOptions, post: _Poster,
                        cancel: asyncio.Event, report: SendReport,
                        finish: Callable[[BatchResult], None],
                        on_retry: Callable[[BatchResult, float], None] | None) -> None:
    """Each batch posted until acknowledged, as it was (see :func:`send`)."""

    def done(result: BatchResult) -> None:
        report.records_sent += result.records
        report.records_redelivered += result.records * (result.attempts - 1)
        if result.acknowledged:
            report.records_acknowledged += result.records
        finish(result)

    numbered = enumerate(_counted_batches(stream, options.batch_size), start=1)
    for number, (count, body) in numbered:
        if number > 1 and await _wait_cancel(cancel, options.interval):
            report.state = "cancelled"
            return
        if cancel.is_set():
            report.state = "cancelled"
            return
        attempts = 0
        while True:
            attempts += 1
            try:
                status, error, latency = await post(body)
            except _Cancelled as stop:
                # Posted, but whether the receiver took it is unknown: not acknowledged.
                done(BatchResult(number, count, None, attempts, stop.latency,
                                 "cancelled while waiting for the answer", False))
                report.state = "cancelled"
                return
            result = BatchResult(number, count, status, attempts, latency, error,
                                 error is None)
            if result.acknowledged:
                done(result)
                break
            retry = attempts - 1
            if retry >= options.retries:
                done(result)
                report.state = "failed"
                report.failure = (f"batch {number} not acknowledged after "
                                  f"{_plural(attempts, 'attempt')}")
                return
            delay = _backoff(options, retry)
            if on_retry is not None:
                on_retry(result, delay)
            if await _wait_cancel(cancel, delay):
                done(result)
                report.state = "cancelled"
                return


@dataclass(slots=True)
class _Waiting:
    """A record in the queue: its place in the stream (from 1) and its deliveries so far."""

    record: bytes | dict
    position: int
    deliveries: int = 0
    first_batch: int = 0


def _record_name(waiting: _Waiting) -> str:
    """``record 3 of the stream (id 2)``: the record's own id when it has one."""
    name = f"record {waiting.position} of the stream"
    try:
        value = parse_record(_record_text(waiting.record))
    except (ValueError, RecursionError):
        return name
    if isinstance(value, dict) and isinstance(value.get("id"), (int, str)) \
            and not isinstance(value.get("id"), bool):
        return f"{name} (id {_short(str(value['id']), 40)})"
    return name


async def _send_redelivering(stream: Iterable, options: SendOptions, post: _Poster,
                             cancel: asyncio.Event, report: SendReport,
                             finish: Callable[[BatchResult], None]) -> None:
    """Unacknowledged records back to the front of the queue, sent again with new ones (see
    :func:`send`)."""
    arrivals = enumerate(stream, start=1)
    queue: deque[_Waiting] = deque()
    most = max(options.batch_size, MAX_RECORDS_PER_POST)
    number = 0
    wait = 0.0  # before the next batch: the interval after a 200, the back-off after a refusal
    while True:
        queue.extend(_Waiting(record, position)
                     for position, record in itertools.islice(arrivals, options.batch_size))
        if not queue:
            return
        if number and await _wait_cancel(cancel, wait):
            report.state = "cancelled"
            return
        if cancel.is_set():
            report.state = "cancelled"
            return
        number += 1
        batch = [queue.popleft() for _ in range(min(most, len(queue)))]
        redelivered = sum(1 for w in batch if w.deliveries)
        body = b"[" + b",".join(_record_text(w.record) for w in batch) + b"]"
        for waiting in batch:
            if not waiting.deliveries:
                waiting.first_batch = number
                report.records_sent += 1
            waiting.deliveries += 1
        report.records_redelivered += redelivered
        try:
            status, error, latency = await post(body)
        except _Cancelled as stop:
            finish(BatchResult(number, len(batch), None, 1, stop.latency,
                               "cancelled while waiting for the answer", False, redelivered))
            report.state = "cancelled"
            return
        if error is None:
            report.records_acknowledged += len(batch)
            finish(BatchResult(number, len(batch), status, 1, latency, None, True, redelivered))
            wait = options.interval
            continue
        queue.extendleft(reversed(batch))
        oldest = max(batch, key=lambda w: w.deliveries)
        if oldest.deliveries > options.retries:
            finish(BatchResult(number, len(batch), status, 1, latency, error, False,
                               redelivered))
            report.state = "failed"
            report.failure = (f"{_record_name(oldest)} not acknowledged after "
                              f"{_plural(oldest.deliveries, 'delivery', 'deliveries')} "
                              f"(batches {oldest.first_batch} to {number})")
            return
        wait = _backoff(options, oldest.deliveries - 1)
        finish(BatchResult(number, len(batch), status, 1, latency, error, False, redelivered,
                           len(batch), wait))


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


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
    from app.capture.schema import has_ledger, open_reader
    from app.filters.parser import parse

    flt = parse(filter_text) if filter_text.strip() else None  # FilterError is a ValueError
    db = open_reader(Path(path))
    try:
        if flt is None or flt.is_empty:
            rows = db.execute("SELECT json FROM record ORDER BY id")
        else:
            query, params = flt.record_query(None, ledger=has_ledger(db))
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


def generated_records(count: int, seed: int, sims: int = 100) -> list[dict]:
    """``count`` realistic fake records from :class:`app.generator.Generator`."""
    from app.replay.generator import Generator

    return Generator(sims=sims, seed=seed).records(count)
