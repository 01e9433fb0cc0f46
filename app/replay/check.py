"""Check a URL the way the 1NCE Data Streamer will use it (``streamer-inspector check``).

Five steps, in order, each reported as it finishes (:class:`Step`: pass, fail or skipped, one
line, and the fix):

1. ``url``: ``https``, a domain name, not an IP address (the Portal refuses those); a local
   name (``localhost``, ``*.local``, one label) fails too: the streamer cannot reach it.
   ``allow_local`` lets a local name pass, said in the message (trials against local servers).
   A failed URL does not stop the check: the other steps run where they mean something, so one
   run shows every problem.
2. ``dns``: the name resolves (``loop.getaddrinfo``).
3. ``tls``: the certificate verifies against the system trust store (``cacert`` replaces it,
   for tests and private setups); self-signed, expired or expiring within 14 days, a name
   mismatch and an incomplete chain (the server sends only its own certificate) are named as
   such, with the certificate's subject, issuer and dates.
4. ``post``: a JSON list as the streamer posts it (``Content-Type: application/json``, Basic
   Auth, no redirect followed), marked with ``X-Streamer-Inspector-Check: 1``; only a 200
   passes. ``full_batch`` then posts a realistic 3000-record batch.
5. ``capture``: the check request (found by a unique id in a header) in the capture of a
   receiver of this app running here, read-only: the one the URL is known to reach (its local
   URL or the public URL it announced), else any of them (a tunnel or proxy this app does not
   know of). Skipped when it is in none (not this app's endpoint).

The check request's body is one record, ``{"streamer_inspector_check": "<id>"}``, which lands
in the Other family, and the receiver notes it as a check request (README, "Checking a URL").
Qt-free.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from app.net import basic_auth_value
from app.replay.sender import answer_detail

CHECK_HEADER = "X-Streamer-Inspector-Check"
CHECK_ID_HEADER = "X-Streamer-Inspector-Check-Id"
CHECK_KEY = "streamer_inspector_check"  # the check record's only key (family Other)
EXPIRY_WARNING_DAYS = 14
FULL_BATCH_RECORDS = 3000
STEPS = ("url", "dns", "tls", "post", "capture")
_LOCAL_SUFFIXES = (".local", ".localhost", ".localdomain", ".internal", ".lan", ".home.arpa",
                   ".test", ".invalid", ".example")
_EXPOSE_FIX = ("use a public domain name: Expose publicly (a tunnel) gives one, or your own "
               "domain with a reverse proxy")


@dataclass
class Step:
    """One step's outcome: ``ok`` True (pass), False (fail) or None (skipped)."""

    step: str
    ok: bool | None
    message: str
    fix: str = ""

    def event(self) -> dict:
        return {"event": "step", "step": self.step, "ok": self.ok, "message": self.message,
                "fix": self.fix}

    def lines(self) -> list[str]:
        label = {True: "PASS", False: "FAIL", None: "SKIP"}[self.ok]
        out = [f"{label}  {self.step}  {self.message}"]
        if self.fix:
            out.append(f"      fix: {self.fix}")
        return out


@dataclass
class CheckOptions:
    """What to check and how (the ``check`` command's options)."""

    url: str
    user: str | None = None
    password: str | None = None
    cacert: str | None = None
    full_batch: bool = False
    timeout: float = 10.0
    allow_local: bool = False


def passed(steps: list[Step]) -> bool:
    """All steps pass (a skipped step counts as passed)."""
    return all(s.ok is not False for s in steps)


# ---------------------------------------------------------------------------- 1. the URL


def _is_local_name(host: str) -> bool:
    return host == "localhost" or "." not in host or host.endswith(_LOCAL_SUFFIXES)


def check_url(url: str, allow_local: bool = False) -> tuple[Step, str | None, int | None]:
    """Step 1; returns the step, the host and the port (None when the URL names none)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        return Step("url", False, f"not a URL: {exc}",
                    "give the whole URL, e.g. https://example.com/streamer"), None, None
    host = (parts.hostname or "").rstrip(".")
    scheme = parts.scheme.lower()
    if not host or scheme not in ("http", "https"):
        return Step("url", False, f"not an http(s) URL: {url.strip()!r}",
                    "give the whole URL, e.g. https://example.com/streamer"), None, None
    port = port or (443 if scheme == "https" else 80)
    problems, fixes = [], []
    if scheme != "https":
        problems.append("the streamer posts only to https:// URLs")
        fixes.append("serve it with TLS (https://)")
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
    if is_ip:
        problems.append(f"{host} is an IP address: the Portal refuses URLs with an IP address")
        fixes.append(_EXPOSE_FIX)
    local_note = ""
    if not is_ip and _is_local_name(host):
        if allow_local:
            local_note = (f" ({host} is a local name: the Portal needs a public domain; "
                          f"accepted here because of --allow-local)")
        else:
            problems.append(f"{host} is a local name: the streamer, on the internet, cannot "
                            f"reach it")
            fixes.append(_EXPOSE_FIX)
    if problems:
        return Step("url", False, "; ".join(problems), "; ".join(dict.fromkeys(fixes))), \
            host, port
    shown_port = f", port {port}" if parts.port else " (port 443)"
    return Step("url", True, f"https, domain {host}{shown_port}{local_note}"), host, port


# ---------------------------------------------------------------------------- 2. DNS


async def check_dns(host: str, port: int, timeout: float) -> Step:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
    except TimeoutError:
        return Step("dns", False, f"{host} did not resolve within {timeout:g} s",
                    "check the name's DNS records (A/AAAA) and your resolver")
    except (socket.gaierror, OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return Step("dns", False, f"{host} does not resolve: {reason}",
                    "create an A/AAAA (or CNAME) record for the name, or correct the URL")
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    shown = ", ".join(addresses[:4]) + (" …" if len(addresses) > 4 else "")
    return Step("dns", True, f"{host} resolves to {shown}")


# ---------------------------------------------------------------------------- 3. TLS


@dataclass
class _Cert:
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    names: list[str]
    self_signed: bool
    has_aia_issuer: bool

    def describe(self) -> str:
        return (f"subject {self.subject}, issuer {self.issuer}, valid "
                f"{self.not_before:%Y-%m-%d} to {self.not_after:%Y-%m-%d}")


def _parse_cert(der: bytes) -> _Cert | None:
    from cryptography import x509
    from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    names: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound, ValueError):
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        names = [str(n) for n in san.value.get_values_for_type(x509.DNSName)]
        names += [str(n) for n in san.value.get_values_for_type(x509.IPAddress)]
    aia = False
    with contextlib.suppress(x509.ExtensionNotFound, ValueError):
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
        aia = any(d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
                  for d in ext.value)
    return _Cert(subject=cert.subject.rfc4514_string() or "(empty)",
                 issuer=cert.issuer.rfc4514_string() or "(empty)",
                 not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
                 names=names, self_signed=cert.subject == cert.issuer,
                 has_aia_issuer=aia)


def _chain_of(sock: ssl.SSLSocket) -> list[bytes]:
    """The certificates the server sent, leaf first, as DER (the whole chain where Python
    can tell it: 3.13's ``get_unverified_chain``, 3.10-3.12's private one; else the leaf)."""
    getter = getattr(sock, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(sock, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        with contextlib.suppress(Exception):
            chain = getter() or []
            der = getattr(ssl, "ENCODING_DER", None) or ssl._ssl.ENCODING_DER
            return [c if isinstance(c, bytes) else c.public_bytes(der) for c in chain]
    leaf = sock.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _handshake(host: str, port: int, context: ssl.SSLContext, timeout: float):
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=host) as sock:
        return _chain_of(sock), sock.version()


def _trust_context(cacert: str | None) -> ssl.SSLContext:
    if cacert:
        return ssl.create_default_context(cafile=cacert)
    return ssl.create_default_context()


def _unverified_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_TLS_FIX = "install a certificate from a public CA (e.g. Let's Encrypt) with its full chain"


def _verify_failure(exc: ssl.SSLCertVerificationError, host: str, chain: list[bytes],
                    trust: str) -> Step:
    code = exc.verify_code
    reason = exc.verify_message or exc.reason or str(exc)
    leaf = _parse_cert(chain[0]) if chain else None
    about = f": {leaf.describe()}" if leaf else ""
    if code in (62, 64) or "mismatch" in str(reason).lower():  # X509_V_ERR_HOST/IP_MISMATCH
        names = ", ".join(leaf.names) if leaf and leaf.names else "no names"
        return Step("tls", False, f"name mismatch: the certificate is for {names}, not "
                                  f"{host}{about}",
                    f"use a certificate whose names include {host}")
    if code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
        return Step("tls", False, f"expired certificate{about}",
                    "renew the certificate (Let's Encrypt renews automatically with certbot "
                    "or Caddy)")
    if code == 9:  # X509_V_ERR_CERT_NOT_YET_VALID
        return Step("tls", False, f"certificate not yet valid{about}",
                    "check the server's clock, or wait until the certificate's start date")
    if code == 18 or (leaf is not None and leaf.self_signed and len(chain) == 1):
        return Step("tls", False, f"self-signed certificate (the streamer refuses it){about}",
                    _TLS_FIX)
    if code in (2, 20, 21) and leaf is not None and not leaf.self_signed and len(chain) == 1:
        return _leaf_only(leaf, trust, about)
    if code in (19, 20, 2):
        top = _parse_cert(chain[-1]) if chain else None
        ends = f" (the chain ends at {top.issuer})" if top else ""
        return Step("tls", False, f"not issued by a CA in {trust}{ends}{about}", _TLS_FIX)
    return Step("tls", False, f"certificate not accepted: {reason}{about}", _TLS_FIX)


_FULL_CHAIN_FIX = ("configure the server with the full chain (leaf + intermediate), e.g. "
                   "Let's Encrypt's fullchain.pem, not cert.pem")


def _local_ca_subjects() -> set[str]:
    """The subjects of this app's local CAs (its own, and those of running receivers)."""
    from cryptography import x509

    from app.config import tls_dir
    from app.runtime import running

    files = {tls_dir() / "ca.pem"}
    with contextlib.suppress(OSError):
        files |= {Path(e.ca_file) for e in running() if e.ca_file}
    subjects = set()
    for path in files:
        with contextlib.suppress(OSError, ValueError):
            subjects.add(x509.load_pem_x509_certificate(path.read_bytes())
                         .subject.rfc4514_string())
    return subjects


def _leaf_only(leaf: _Cert, trust: str, about: str) -> Step:
    """The server sent only its own certificate, and its issuer is not trusted: a missing
    intermediate (named so when the leaf points at its issuer, as public CAs' leaves do), this
    app's local CA, or a private CA (the client cannot tell these two from a missing
    intermediate without the issuer's certificate: said so)."""
    if leaf.issuer in _local_ca_subjects():
        return Step("tls", False, f"issued by this app's local CA, which only this computer "
                                  f"trusts (not {trust}){about}",
                    "Expose publicly (a tunnel with a public certificate); for a trial here, "
                    "give the local CA with --cacert")
    if leaf.has_aia_issuer:
        return Step("tls", False, "incomplete chain: the server sends only its own "
                                  f"certificate; add the intermediate{about}", _FULL_CHAIN_FIX)
    return Step("tls", False, "incomplete chain or a private CA: the server sends only its own "
                              f"certificate, and its issuer is not in {trust}{about}",
                f"if the issuer is an intermediate of a public CA: {_FULL_CHAIN_FIX}; else "
                f"use a certificate from a public CA (e.g. Let's Encrypt)")


def _check_tls_blocking(host: str, port: int, cacert: str | None, timeout: float) -> Step:
    trust = f"{cacert} (--cacert)" if cacert else "the system trust store"
    try:
        context = _trust_context(cacert)
    except (OSError, ssl.SSLError) as exc:
        return Step("tls", False, f"cannot read --cacert {cacert}: "
                                  f"{getattr(exc, 'strerror', None) or exc}",
                    "give a PEM file with the CA certificate")
    try:
        chain, version = _handshake(host, port, context, timeout)
    except ssl.SSLCertVerificationError as exc:
        try:
            chain, _ = _handshake(host, port, _unverified_context(), timeout)
        except (OSError, ssl.SSLError):
            chain = []
        return _verify_failure(exc, host, chain, trust)
    except ssl.SSLError as exc:
        return Step("tls", False, f"TLS handshake failed: {exc.reason or exc}",
                    "serve TLS 1.2 or 1.3 with a certificate from a public CA")
    except TimeoutError:
        return Step("tls", False, f"no TLS answer from {host}:{port} within {timeout:g} s",
                    "check that the server listens on this port and a firewall lets it through")
    except OSError as exc:
        return Step("tls", False, f"cannot connect to {host}:{port}: "
                                  f"{exc.strerror or exc}",
                    "check that the server runs and listens on this port")
    leaf = _parse_cert(chain[0]) if chain else None
    if leaf is None:
        return Step("tls", True, f"{version}, the certificate verifies against {trust}")
    left = leaf.not_after - dt.datetime.now(dt.UTC)
    days = left.days
    if left < dt.timedelta(days=EXPIRY_WARNING_DAYS):
        return Step("tls", False, f"the certificate expires within {EXPIRY_WARNING_DAYS} days "
                                  f"({days} days left): {leaf.describe()}",
                    "renew the certificate now (Let's Encrypt renews automatically with "
                    "certbot or Caddy)")
    return Step("tls", True, f"{version}, trusted by {trust}, {len(chain)} certificate(s) "
                             f"sent, {days} days left: {leaf.describe()}")


async def check_tls(host: str, port: int, cacert: str | None, timeout: float) -> Step:
    return await asyncio.to_thread(_check_tls_blocking, host, port, cacert, timeout)


# ---------------------------------------------------------------------------- 4. the POST


def check_body(check_id: str) -> bytes:
    """The single-record check batch (its record lands in the Other family)."""
    return json.dumps([{CHECK_KEY: check_id}]).encode()


def _headers(options: CheckOptions, check_id: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", CHECK_HEADER: "1",
               CHECK_ID_HEADER: check_id}
    if options.user is not None:
        headers["Authorization"] = basic_auth_value(options.user, options.password or "")
    return headers


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict,
                timeout: float) -> tuple[int, str | None, bytes, float]:
    started = time.perf_counter()
    async with session.post(url, data=body, headers=headers, allow_redirects=False,
                            timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
        answer = await resp.read()
        return resp.status, resp.headers.get("Location"), answer, time.perf_counter() - started


def _judge(status: int, location: str | None, answer: bytes, seconds: float,
           options: CheckOptions) -> Step | None:
    """The failed post step for an answer other than 200; None for a 200."""
    took = f"{seconds * 1000:.0f} ms"
    if status == 200:
        return None
    if 300 <= status < 400:
        where = location if location else "(no Location header)"
        return Step("post", False, f"{status} redirect to {where} in {took}: the streamer "
                                   f"does not follow redirects",
                    "give the final URL (the Location) in the Portal, or answer 200 at this "
                    "one")
    if status == 401:
        given = ("the Basic Auth header does not match" if options.user is not None
                 else "no Basic Auth header was sent (give --user and --password)")
        return Step("post", False, f"401 in {took}: {given}",
                    "put the same user and password in the Portal's Basic Auth header as the "
                    "server expects")
    detail = answer_detail(answer)
    return Step("post", False, f"{status} in {took}" + (f": {detail}" if detail else "")
                + "; only 200 acknowledges a batch (the streamer sends it again)",
                "make the endpoint answer 200 to a POST of a JSON list")


async def check_post(options: CheckOptions, context: ssl.SSLContext | None,
                     check_id: str) -> tuple[Step, bool]:
    """Step 4, and whether the server answered the check request at all."""
    from app.replay.sender import describe_client_error

    headers = _headers(options, check_id)
    connector = aiohttp.TCPConnector(ssl=context if context is not None else False, limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        try:
            status, location, answer, seconds = await _post(
                session, options.url, check_body(check_id), headers, options.timeout)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
                return Step("post", False, f"no answer within {options.timeout:g} s",
                            "answer within a few seconds (store first, work later)"), False
            return Step("post", False, describe_client_error(exc, options.url),
                        "check that the server accepts POST at this URL"), False
        failed = _judge(status, location, answer, seconds, options)
        if failed is not None:
            return failed, True
        message = f"200 in {seconds * 1000:.0f} ms for a one-record JSON list"
        if options.full_batch:
            batch = await _full_batch(session, options, headers)
            if batch.ok is False:
                return Step("post", False, f"{message}; {batch.message}", batch.fix), True
            message = f"{message}; {batch.message}"
        return Step("post", True, message), True


def full_batch_body() -> tuple[bytes, int]:
    """A realistic batch of 3000 generated records (the streamer's largest), compact JSON."""
    from app.replay.generator import Generator

    records = Generator(sims=100, seed=1).records(FULL_BATCH_RECORDS)
    body = b"[" + b",".join(json.dumps(r, separators=(",", ":")).encode()
                            for r in records) + b"]"
    return body, len(records)


async def _full_batch(session: aiohttp.ClientSession, options: CheckOptions,
                      headers: dict) -> Step:
    from app.replay.sender import describe_client_error

    body, count = await asyncio.to_thread(full_batch_body)
    size = f"{len(body) / 1e6:.1f} MB"
    try:
        status, location, answer, seconds = await _post(
            session, options.url, body, headers, max(options.timeout, 30.0))
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
            return Step("post", False, f"full batch ({count} records, {size}): no answer in "
                                       f"time", "take a batch of 3000 records within seconds")
        return Step("post", False, f"full batch ({count} records, {size}): "
                                   f"{describe_client_error(exc, options.url)}",
                    "accept bodies of several MB (a proxy's body size limit?)")
    failed = _judge(status, location, answer, seconds, options)
    if failed is not None:
        fix = failed.fix
        if status == 413:
            fix = "raise the body size limit (the proxy's and the server's) to at least 16 MB"
        return Step("post", False, f"full batch ({count} records, {size}): {failed.message}",
                    fix)
    rate = len(body) / 1e6 / seconds if seconds > 0 else float("inf")
    return Step("post", True, f"full batch of {count} records ({size}) taken in "
                              f"{seconds:.2f} s ({rate:.1f} MB/s, "
                              f"{count / seconds:.0f} records/s)")


# ---------------------------------------------------------------------------- 5. the capture


def own_endpoint(url: str):
    """The receiver of this app running here that ``url`` reaches (its local URL, or the
    public URL it announced), or None."""
    from app.runtime import running

    for endpoint in running():
        if endpoint.reaches(url):
            return endpoint
        public = getattr(endpoint, "public_url", None)
        if public and _same_origin(public, url):
            return endpoint
    return None


def _same_origin(a: str, b: str) -> bool:
    from app.net import host_port

    return host_port(a) is not None and host_port(a) == host_port(b)


def find_check_request(capture: str | Path, check_id: str) -> tuple[int, int] | None:
    """(request id, status) of the check request ``check_id`` in ``capture`` (read-only)."""
    from app.capture.schema import open_reader

    db = open_reader(Path(capture))
    try:
        # Among the latest requests only (a range of the rowid): a long capture is not read.
        row = db.execute("SELECT id, status FROM request WHERE id > (SELECT coalesce(max(id), 0) "
                         "- 10000 FROM request) AND headers LIKE ? ORDER BY id DESC LIMIT 1",
                         (f'%"{check_id}"%',)).fetchone()
    finally:
        db.close()
    return (row[0], row[1]) if row else None


async def check_capture(url: str, known, check_id: str, wait: float = 2.0) -> Step:
    """Step 5: the check request in the capture of a receiver running here. ``known`` is the
    receiver the URL is known to reach (its local or announced public URL), else None: then
    every running receiver's capture is looked at once, so a tunnel or proxy this app does not
    know of is proven end to end too, and a URL that reaches none of them is skipped."""
    from app.runtime import running

    deadline = time.monotonic() + (wait if known is not None else 0.0)
    while True:
        candidates = [known] if known is not None else await asyncio.to_thread(running)
        for endpoint in candidates:
            try:
                found = await asyncio.to_thread(find_check_request, endpoint.capture,
                                                check_id)
            except Exception as exc:  # a missing, locked or foreign file: said, never raised
                if known is None:
                    continue
                return Step("capture", False, f"cannot read the capture {endpoint.capture}: "
                                              f"{' '.join(str(exc).split())}",
                            "check that the capture file exists and is readable")
            if found is not None:
                request_id, status = found
                through = "" if known is not None else f" (through {url})"
                return Step("capture", True, f"the check request arrived{through}: request "
                                             f"{request_id} (status {status}) in "
                                             f"{endpoint.capture}, noted as a check request")
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.1)
    if known is None:
        return Step("capture", None, "not this app's endpoint: the check request is in no "
                                     "capture of a receiver running here")
    return Step("capture", False, f"the check request is not in {known.capture}: another "
                                  f"server answered this URL",
                f"point the tunnel or proxy at this app's endpoint ({known.url})")


# ---------------------------------------------------------------------------- all steps


async def run_check(options: CheckOptions) -> AsyncIterator[Step]:
    """The five steps, each yielded as it finishes."""
    url_step, host, port = check_url(options.url, options.allow_local)
    yield url_step
    https = options.url.strip().lower().startswith("https://")
    if host is None or port is None:
        for name in STEPS[1:]:
            yield Step(name, None, "not tried: no usable URL")
        return
    is_ip = True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        is_ip = False
    if is_ip:
        yield Step("dns", None, "not needed: the URL gives an IP address")
    else:
        dns = await check_dns(host, port, options.timeout)
        yield dns
        if not dns.ok:
            for name in STEPS[2:]:
                yield Step(name, None, "not tried: the name does not resolve")
            return
    context = None
    if https:
        tls = await check_tls(host, port, options.cacert, options.timeout)
        yield tls
        if not tls.ok:
            yield Step("post", None, "not tried: the streamer stops at the TLS failure")
            yield Step("capture", None, "not tried: nothing was posted")
            return
        context = _trust_context(options.cacert)
    else:
        yield Step("tls", False, "no TLS: the URL is http://",
                   "serve the endpoint over https with a certificate from a public CA")
    check_id = uuid.uuid4().hex
    endpoint = await asyncio.to_thread(own_endpoint, options.url)
    note = None
    if endpoint is not None and options.user is None and endpoint.user is not None:
        options.user, options.password = endpoint.user, endpoint.password
        note = endpoint.password_note  # its password is not known here: why
    post, answered = await check_post(options, context, check_id)
    if note and post.ok is False and post.message.startswith("401"):
        post = Step("post", False, f"{post.message}: {note}", post.fix)
    yield post
    if not answered:
        yield Step("capture", None, "not tried: the POST got no answer")
        return
    yield await check_capture(options.url, endpoint, check_id)
