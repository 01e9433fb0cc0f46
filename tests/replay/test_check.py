"""``streamer-inspector check``: real local HTTPS servers (aiohttp) with certificates made here
(trustme), and this app's own endpoint end to end (a real ``serve`` child)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import ssl
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from app.replay.check import CHECK_KEY, CheckOptions, passed, run_check
from tests.conftest import ROOT, folded, start_receiver

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_context(tmp: Path, chain_pems: list[bytes], key_pem: bytes) -> ssl.SSLContext:
    cert_file, key_file = tmp / "chain.pem", tmp / "key.pem"
    cert_file.write_bytes(b"".join(chain_pems))
    key_file.write_bytes(key_pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


def _leaf_context(tmp: Path, leaf: trustme.LeafCert, only_leaf: bool = False):
    pems = [blob.bytes() for blob in leaf.cert_chain_pems]
    return _server_context(tmp, pems[:1] if only_leaf else pems, leaf.private_key_pem.bytes())


async def _ok(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"ok": True})


@asynccontextmanager
async def https_server(context: ssl.SSLContext | None, handler=_ok, host: str = "localhost"):
    """A real aiohttp server on a free loopback port; yields its port."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        await runner.cleanup()


async def _steps(options: CheckOptions) -> dict:
    return {step.step: step async for step in run_check(options)}


def _cacert(tmp: Path, ca: trustme.CA) -> str:
    path = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def check(tmp_path, ca, context, handler=_ok, url="https://localhost:{port}/streamer",
          **options) -> dict:
    async def run():
        async with https_server(context, handler) as port:
            return await _steps(CheckOptions(url=url.format(port=port),
                                             cacert=_cacert(tmp_path, ca), allow_local=True,
                                             **options))

    return asyncio.run(run())


def test_a_valid_chain_with_an_intermediate_passes_every_step(tmp_path, ca):
    seen = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((dict(request.headers), await request.json()))
        return web.json_response({"ok": True})

    leaf = ca.create_child_ca().issue_cert("localhost")
    steps = check(tmp_path, ca, _leaf_context(tmp_path, leaf), handler, user="u", password="p")
    assert [s.ok for s in steps.values()] == [True, True, True, True, None], steps
    assert "--allow-local" in steps["url"].message  # said, not hidden
    assert "subject" in steps["tls"].message and "2 certificate(s)" in steps["tls"].message
    assert steps["post"].message.startswith("200 in ")
    assert "not this app's endpoint" in steps["capture"].message
    assert passed(list(steps.values()))
    headers, body = seen[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Streamer-Inspector-Check"] == "1"
    assert headers["Authorization"] == "Basic dTpw"
    assert list(body[0]) == [CHECK_KEY]


def _leaf_with_aia(tmp: Path, issuer: trustme.CA) -> ssl.SSLContext:
    """A leaf for localhost pointing at its issuer (AIA caIssuers), as public CAs' leaves
    do; served alone."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

    ca_cert = x509.load_pem_x509_certificate(issuer.cert_pem.bytes())
    ca_key = serialization.load_pem_private_key(issuer.private_key_pem.bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier("http://ca.example/intermediate.der"))]), False)
            .sign(ca_key, hashes.SHA256()))
    return _server_context(tmp, [cert.public_bytes(serialization.Encoding.PEM)],
                           key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))


def test_a_leaf_only_chain_is_named_incomplete(tmp_path, ca):
    intermediate = ca.create_child_ca()
    steps = check(tmp_path, ca, _leaf_with_aia(tmp_path, intermediate))
    tls = steps["tls"]
    assert tls.ok is False
    assert tls.message.startswith("incomplete chain: the server sends only its own "
                                  "certificate; add the intermediate: subject CN=localhost")
    assert "fullchain" in tls.fix
    assert steps["post"].ok is None and steps["capture"].ok is None
    assert not passed(list(steps.values()))
    # Without the pointer to its issuer, a missing intermediate looks like a private CA to a
    # client: both are named.
    leaf = intermediate.issue_cert("localhost")
    tls = check(tmp_path, ca, _leaf_context(tmp_path, leaf, only_leaf=True))["tls"]
    assert tls.ok is False
    assert tls.message.startswith("incomplete chain or a private CA: the server sends only "
                                  "its own certificate")
    assert ", issuer OU=Testing CA" in tls.message
    assert "valid 2000-01-01 to 3000-01-01" in tls.message
    assert "fullchain" in tls.fix


def test_expired_and_expiring_certificates(tmp_path, ca):
    old = ca.issue_cert("localhost", not_before=NOW - dt.timedelta(days=100),
                        not_after=NOW - dt.timedelta(days=10))
    tls = check(tmp_path, ca, _leaf_context(tmp_path, old))["tls"]
    assert tls.ok is False and tls.message.startswith("expired certificate: subject")
    assert f"to {(NOW - dt.timedelta(days=10)):%Y-%m-%d}" in tls.message
    soon = ca.issue_cert("localhost", not_after=NOW + dt.timedelta(days=5))
    tls = check(tmp_path, ca, _leaf_context(tmp_path, soon))["tls"]
    assert tls.ok is False and "expires within 14 days" in tls.message
    assert "renew" in tls.fix


def test_a_wrong_name_and_a_self_signed_certificate(tmp_path, ca):
    other = ca.issue_cert("other.example.com")
    tls = check(tmp_path, ca, _leaf_context(tmp_path, other))["tls"]
    assert tls.ok is False
    assert tls.message.startswith("name mismatch: the certificate is for other.example.com, "
                                  "not localhost")
    stranger = trustme.CA()  # its own certificate, served as the server's: self-signed
    context = _server_context(tmp_path, [stranger.cert_pem.bytes()],
                              stranger.private_key_pem.bytes())
    tls = check(tmp_path, ca, context)["tls"]
    assert tls.ok is False and tls.message.startswith("self-signed certificate")
    assert "Let's Encrypt" in tls.fix


def test_an_ip_url_fails_the_url_step_and_the_others_still_run(tmp_path, ca):
    leaf = ca.issue_cert("127.0.0.1")
    steps = check(tmp_path, ca, _leaf_context(tmp_path, leaf),
                  url="https://127.0.0.1:{port}/streamer")
    assert steps["url"].ok is False and "IP address" in steps["url"].message
    assert "Expose publicly" in steps["url"].fix
    assert steps["dns"].ok is None
    assert steps["tls"].ok is True and steps["post"].ok is True
    assert not passed(list(steps.values()))


def test_a_local_name_fails_without_allow_local():
    async def run():
        return await _steps(CheckOptions(url="https://printer.local/x", timeout=1))

    steps = asyncio.run(run())
    assert steps["url"].ok is False and "local name" in steps["url"].message


@pytest.mark.parametrize(("status", "expected"), [
    (302, "302 redirect to https://elsewhere.example/final in"),
    (401, "401 in"),
    (500, "500 in"),
])
def test_answers_other_than_200_fail_the_post(tmp_path, ca, status, expected):
    calls = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(request.path)
        await request.read()
        if status == 302:
            return web.Response(status=302, headers={"Location":
                                                     "https://elsewhere.example/final"})
        return web.json_response({"ok": False, "error": "broken backend"}, status=status)

    leaf = ca.issue_cert("localhost")
    post = check(tmp_path, ca, _leaf_context(tmp_path, leaf), handler, user="u",
                 password="wrong")["post"]
    assert post.ok is False and post.message.startswith(expected), post.message
    assert calls == ["/streamer"]  # the redirect was not followed
    if status == 302:
        assert "the streamer does not follow redirects" in post.message
    if status == 401:
        assert "the Basic Auth header does not match" in post.message
    if status == 500:
        assert "broken backend" in post.message and "only 200" in post.message


def test_a_slow_server_times_out(tmp_path, ca):
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(1.2)
        return web.json_response({"ok": True})

    leaf = ca.issue_cert("localhost")
    post = check(tmp_path, ca, _leaf_context(tmp_path, leaf), handler, timeout=0.3)["post"]
    assert post.ok is False and post.message == "no answer within 0.3 s"


async def _through_forwarder(rec) -> dict:
    """The check of ``https://localhost:<other port>/``, whose bytes a plain TCP forwarder
    carries to the receiver (as a tunnel does)."""
    target = int(rec.url.rsplit(":", 1)[1].strip("/"))

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass  # a side reset the connection: the forwarder ends it like a tunnel would; the
            # check's own outcome is what the test asserts
        finally:
            writer.close()

    async def forward(reader, writer):
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(forward, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await _steps(CheckOptions(url=f"https://localhost:{port}/", cacert=rec.ca_file,
                                         user=rec.user, password=rec.password,
                                         allow_local=True))
    finally:
        server.close()
        await server.wait_closed()


def test_our_own_endpoint_end_to_end(tmp_path):
    """A real ``serve`` child, and ``check`` as the window runs it (a child, --json): the check
    request is found in the capture, noted as a check request, its record in the Other family."""
    rec = start_receiver(tmp_path)
    try:
        cmd = [sys.executable, "-m", "app", "check", rec.url, "--cacert", rec.ca_file,
               "--allow-local", "--json", "--full-batch"]
        result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60,
                                env=dict(os.environ))
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert result.returncode == 0, result.stdout + result.stderr
        assert [(e["step"], e["ok"]) for e in lines[:-1]] == [
            ("url", True), ("dns", True), ("tls", True), ("post", True), ("capture", True)]
        assert lines[-1] == {"event": "done", "ok": True}
        assert "full batch of 3000 records" in lines[3]["message"]
        assert "noted as a check request" in lines[4]["message"]
        human = subprocess.run([*cmd[:-2]], cwd=ROOT, capture_output=True, text=True,
                               timeout=60, env=dict(os.environ))
        assert human.returncode == 0
        assert human.stdout.splitlines()[1].startswith("PASS  dns  localhost resolves to ")
        # A wrong password: 401 and exit status 1, the capture still finds the request.
        wrong = subprocess.run([*cmd[:-2], "--user", "streamer", "--password", "nope"],
                               cwd=ROOT, capture_output=True, text=True, timeout=60,
                               env=dict(os.environ))
        assert wrong.returncode == 1
        assert "FAIL  post  401 in" in wrong.stdout
        assert "      fix: put the same user and password" in wrong.stdout
        # Through a forwarder this app does not know of (a stand-in for a tunnel or proxy):
        # the request is still found, in the running receiver's capture.
        steps = asyncio.run(_through_forwarder(rec))
        assert steps["post"].ok is True, steps["post"]
        assert steps["capture"].ok is True
        assert steps["capture"].message.startswith("the check request arrived (through "
                                                   "https://localhost:")
        # Without --cacert (the system trust store), the local CA is named as such.
        steps = asyncio.run(_steps(CheckOptions(url=rec.url, allow_local=True)))
        assert steps["tls"].ok is False
        assert steps["tls"].message.startswith("issued by this app's local CA, which only "
                                               "this computer trusts")
        assert "Expose publicly" in steps["tls"].fix
    finally:
        rec.stop()
    from app.capture.schema import open_reader

    db = open_reader(folded(rec.capture))
    rows = db.execute("SELECT id, status, problems, record_count, families FROM request "
                      "ORDER BY id").fetchall()
    db.close()
    assert [r[1] for r in rows] == [200, 200, 200, 401, 200]
    for _id, _status, problems, _count, _families in rows:
        assert "check request from streamer-inspector check" in json.loads(problems)
    assert rows[0][3:] == (1, b"x")  # the check record: one, in the Other family
    assert rows[1][3] == 3000 and b"x" not in rows[1][4]  # the full batch: real families
