"""Capture format 7: the request target exactly as it arrived and the endpoint that received it.

Real receivers (the TLS one of the other tests, and one with ``--tls off`` on every address),
real clients (the ``curl`` binary with ``--path-as-is`` and ``--request-target``, raw sockets for
what curl will not send), and real capture files of older formats upgraded by the real writer.
"""

from __future__ import annotations

import socket
import sqlite3 as stdlib_sqlite3
import ssl
import subprocess

import pytest

from app.capture.schema import SCHEMA_VERSION, has_targets, open_reader
from app.capture.writer import CaptureWriter, Incoming
from app.db import sqlite3 as app_sqlite3
from app.export.common import DEFAULT_ENDPOINT, ExportOptions, uri_target
from app.export.har import har_entry
from app.export.rows import request_rows
from app.net import basic_auth_value
from app.server.receiver import endpoint_url
from tests.conftest import folded, start_receiver
from tests.export.test_har import imported
from tests.filters.test_ledger_filters import as_format_5

BATCH = b'[{"id": 1, "event_type": {"id": 1, "description": "x"}}]'


@pytest.fixture(scope="module")
def tls_receiver(tmp_path_factory):
    """One receiver over TLS with Basic Auth for the module."""
    rec = start_receiver(tmp_path_factory.mktemp("format7"))
    yield rec
    rec.stop()


def curl(rec, *args: str) -> int:
    cmd = ["curl", "-sS", "--cacert", rec.ca_file, "-u", f"{rec.user}:{rec.password}",
           "-o", "/dev/null", "-w", "%{http_code}", *args]
    return int(subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                              check=True).stdout)


def raw_request(rec, request_line: bytes, body: bytes = b"") -> bytes:
    """Send one request line as given (bytes curl will not send) over TLS, with the right
    credentials; the status line."""
    host, port = "localhost", rec.listening["port"]
    ctx = ssl.create_default_context(cafile=rec.ca_file)
    auth = basic_auth_value(rec.user, rec.password).encode()
    with socket.create_connection((host, port), timeout=10) as plain, \
            ctx.wrap_socket(plain, server_hostname=host) as sock:
        sock.sendall(request_line + b"\r\nHost: localhost\r\nAuthorization: " + auth
                     + b"\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def last_request(rec) -> dict:
    db = open_reader(folded(rec.capture))
    try:
        db.row_factory = app_sqlite3.Row
        return dict(db.execute("SELECT id, method, path, query, target, endpoint, status "
                               "FROM request ORDER BY id DESC LIMIT 1").fetchone())
    finally:
        db.close()


def count(rec) -> int:
    db = open_reader(folded(rec.capture))
    try:
        return db.execute("SELECT count(*) FROM request").fetchone()[0]
    finally:
        db.close()


@pytest.mark.parametrize(("args", "target", "path", "query", "status"), [
    # %2F and %20 kept in the target; the decoded path and query as filters see them
    (["--path-as-is", "{url}/p%20q/x%2Fy?a=1&b=%2F%20+c"], "/p%20q/x%2Fy?a=1&b=%2F%20+c",
     "/p q/x/y", "a=1&b=/  c", 200),
    # dot segments and a doubled slash as sent (curl would squash them without --path-as-is)
    (["--path-as-is", "{url}/a/../b/.//c"], "/a/../b/.//c", "/a/../b/.//c", "", 200),
    # the absolute form (what a proxy is sent), kept whole
    (["--request-target", "http://h.example:99/x%2Fy?a=1", "{url}"], "http://h.example:99/x%2Fy?a=1",
     "/x/y", "a=1", 200),
    # the asterisk form: stored and refused like any other method (not aiohttp's bare 404)
    (["-X", "OPTIONS", "--request-target", "*", "{url}"], "*", "*", "", 405),
    # a fragment a client should not send, and a % that starts no escape
    (["--request-target", "/x/%zz?q=%C3%BC#frag", "{url}"], "/x/%zz?q=%C3%BC#frag", "/x/%zz",
     "q=ü", 200),
])
def test_the_target_is_stored_exactly_as_it_arrived(tls_receiver, args, target, path, query,
                                                    status):
    base = tls_receiver.url.rstrip("/")
    got = curl(tls_receiver, "-H", "Content-Type: application/json", "--data-binary",
               BATCH.decode(), *(a.replace("{url}", base) for a in args))
    row = last_request(tls_receiver)
    assert (got, row["status"]) == (status, status)
    assert (row["target"], row["path"], row["query"]) == (target, path, query)
    assert row["endpoint"] == tls_receiver.url.rstrip("/")
    assert row["endpoint"] == f"https://localhost:{tls_receiver.listening['port']}"


def test_a_request_line_that_is_not_ascii_is_refused_before_it_is_stored(tls_receiver):
    """aiohttp's parser answers 400 itself (no handler runs): nothing is stored for it."""
    before = count(tls_receiver)
    status = raw_request(tls_receiver, b"POST /caf\xc3\xa9/\xff?q=\xc3\xbc HTTP/1.1", BATCH)
    assert status.startswith(b"HTTP/1.") and b" 400 " in status
    assert count(tls_receiver) == before
    # a target that is ASCII but no URI arrives, is kept as it came, and exported encoded
    assert b" 200 " in raw_request(tls_receiver, b"POST /a\"{b}|^`[1] HTTP/1.1", BATCH)
    row = last_request(tls_receiver)
    assert row["target"] == '/a"{b}|^`[1]'
    db = open_reader(folded(tls_receiver.capture))
    try:
        (stored,) = request_rows(db, [row["id"]])
    finally:
        db.close()
    assert har_entry(stored, ExportOptions())["request"]["url"] == (
        tls_receiver.url.rstrip("/") + "/a%22%7Bb%7D%7C%5E%60%5B1%5D")


def test_the_endpoint_is_the_connections_scheme_local_port_and_address(tmp_path):
    """``--tls off`` on every address: a request to loopback names localhost, one to the
    computer's other address names that address; the scheme is http."""
    other = _non_loopback_address()
    rec = start_receiver(tmp_path, "--tls", "off", "--host", "0.0.0.0", user=None)
    try:
        port = rec.listening["port"]
        for host in ("127.0.0.1", *([other] if other else [])):
            with socket.create_connection((host, port), timeout=10) as sock:
                sock.sendall(b"POST /hook HTTP/1.1\r\nHost: proxy.example\r\nContent-Type: "
                             b"application/json\r\nContent-Length: " + str(len(BATCH)).encode()
                             + b"\r\nConnection: close\r\n\r\n" + BATCH)
                assert b" 200 " in sock.recv(65536).split(b"\r\n")[0]
    finally:
        rec.stop()
    db = open_reader(folded(rec.capture))
    try:
        endpoints = [e for (e,) in db.execute("SELECT endpoint FROM request ORDER BY id")]
    finally:
        db.close()
    # (a computer with no address but loopback checks localhost only)
    assert endpoints == [f"http://localhost:{port}",
                         *([f"http://{other}:{port}"] if other else [])]


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # no packet is sent: it only picks a route
            address = sock.getsockname()[0]
        except OSError:
            return None  # no route at all (no network here): no address but loopback to test
    return None if address.startswith("127.") or address == "0.0.0.0" else address


@pytest.mark.parametrize(("secure", "address", "port", "url"), [
    (True, "127.0.0.1", 8443, "https://localhost:8443"),
    (True, "127.0.0.2", 8443, "https://localhost:8443"),  # all of 127/8 is loopback
    (False, "::1", 80, "http://localhost:80"),
    (True, "::ffff:127.0.0.1", 8443, "https://localhost:8443"),  # a dual-stack socket
    (True, "::ffff:192.0.2.7", 8443, "https://192.0.2.7:8443"),
    (True, "192.0.2.7", 9443, "https://192.0.2.7:9443"),
    (True, "2001:db8::7", 8443, "https://[2001:db8::7]:8443"),
    (True, "fe80::1%eth0", 8443, "https://[fe80::1%25eth0]:8443"),
])
def test_endpoint_url_of_each_kind_of_local_address(secure, address, port, url):
    assert endpoint_url(secure, address, port) == url


def _stored_capture(path) -> None:
    writer = CaptureWriter(path)
    try:
        writer.store(Incoming("POST", "/p q/x/y", BATCH, query="a=/  c", auth="ok",
                              content_type="application/json",
                              target="/p%20q/x%2Fy?a=%2F%20+c",
                              endpoint="https://localhost:9999"))
    finally:
        writer.close()


def _drop_targets(path, version: int) -> None:
    db = stdlib_sqlite3.connect(path)
    db.executescript("ALTER TABLE request DROP COLUMN target; "
                     f"ALTER TABLE request DROP COLUMN endpoint; PRAGMA user_version = {version};")
    db.close()


@pytest.mark.parametrize("version", [6, 5])
def test_an_older_capture_is_read_as_it_is_and_upgraded_to_7(tmp_path, version):
    path = tmp_path / f"format{version}.sqlite"
    _stored_capture(path)
    _drop_targets(path, 6)
    if version == 5:
        as_format_5(path)
    db = open_reader(path)
    try:
        assert not has_targets(db)
        (row,) = request_rows(db)
    finally:
        db.close()
    assert (row.target, row.endpoint) == (None, None)
    # its decoded path and query, encoded again, at the default endpoint (%2F is lost)
    assert uri_target(row, str) == "/p%20q/x/y?a=/%20%20c"
    assert har_entry(row, ExportOptions())["request"]["url"] == (
        f"{DEFAULT_ENDPOINT}/p%20q/x/y?a=/%20%20c")
    writer = CaptureWriter(path)  # what a receiver does when it opens the capture
    try:
        writer.store(Incoming("POST", "/x/y", BATCH, auth="ok", target="/x%2Fy",
                              endpoint="https://localhost:9999",
                              content_type="application/json"))
    finally:
        writer.close()
    db = open_reader(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
        assert has_targets(db)
        rows = list(request_rows(db))
        if version == 5:
            assert [r.acked for r in rows] == [True, True]  # the earlier upgrade ran too
    finally:
        db.close()
    assert [(r.target, r.endpoint) for r in rows] == [
        (None, None), ("/x%2Fy", "https://localhost:9999")]
    assert har_entry(rows[1], ExportOptions())["request"]["url"] == (
        "https://localhost:9999/x%2Fy")


def test_a_capture_marked_6_that_has_the_columns_keeps_them(tmp_path):
    path = tmp_path / "marked.sqlite"
    _stored_capture(path)
    db = stdlib_sqlite3.connect(path)
    db.execute("PRAGMA user_version = 6")
    db.close()
    CaptureWriter(path).close()
    db = open_reader(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT target, endpoint FROM request").fetchall() == [
            ("/p%20q/x%2Fy?a=%2F%20+c", "https://localhost:9999")]
    finally:
        db.close()


def test_a_new_capture_has_target_and_endpoint_before_the_body(tmp_path):
    """``body`` stays the last column of a new capture (reading the small columns never walks
    its overflow pages)."""
    path = tmp_path / "new.sqlite"
    CaptureWriter(path).close()
    db = stdlib_sqlite3.connect(path)
    try:
        columns = [r[1] for r in db.execute("PRAGMA table_info(request)")]
    finally:
        db.close()
    assert columns[-3:] == ["target", "endpoint", "body"]


def test_an_imported_capture_keeps_target_and_endpoint(tmp_path, tls_receiver):

    curl(tls_receiver, "-H", "Content-Type: application/json", "--data-binary", BATCH.decode(),
         "--path-as-is", tls_receiver.url.rstrip("/") + "/imp%2Fort?x=%20")
    source = tmp_path / "source.sqlite"
    db = open_reader(folded(tls_receiver.capture))
    try:
        want = db.execute("SELECT method, path, query, target, endpoint, status FROM request "
                          "ORDER BY id").fetchall()
        db.execute(f"VACUUM INTO '{source}'")
    finally:
        db.close()
    db = open_reader(imported(tmp_path, source))
    try:
        got = db.execute("SELECT method, path, query, target, endpoint, status FROM request "
                         "ORDER BY id").fetchall()
    finally:
        db.close()
    assert got == want
    assert ("POST", "/imp/ort", "x= ", "/imp%2Fort?x=%20", tls_receiver.url.rstrip("/"),
            200) in got
