"""The local CA: made with ``cryptography``, constrained to the endpoint's own names, valid a
few years, keys private; server certificates re-issued from it when needed."""

import contextlib
import datetime as dt
import socket
import ssl
import stat
import threading

import pytest
import trustme
from cryptography import x509

from app.server.tls import CA_LIFETIME, LEAF_LIFETIME, ensure_local_ca, server_context


def san_names(path):
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)) | {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def permitted(ca_cert):
    nc = ca_cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert nc.critical
    assert nc.value.excluded_subtrees is None
    return {str(t.value) for t in nc.value.permitted_subtrees}


def handshake(ca, server_name, connect_to="127.0.0.1"):
    """A real TLS handshake against the server certificate, trusting only the CA (Python's
    ssl, i.e. OpenSSL, checks the name constraints); returns None or the failure."""
    server_ctx = server_context(ca.server_cert, ca.server_key)
    with socket.create_server((connect_to, 0)) as listener:
        port = listener.getsockname()[1]

        def accept():
            conn, _ = listener.accept()
            with contextlib.suppress(OSError), conn, \
                    server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)  # the client refusing the certificate: an alert here

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        client_ctx = ssl.create_default_context(cafile=str(ca.ca_cert))
        try:
            with socket.create_connection((connect_to, port)) as raw, \
                    client_ctx.wrap_socket(raw, server_hostname=server_name) as tls:
                tls.sendall(b"x")
            return None
        except ssl.SSLError as exc:
            return exc
        finally:
            thread.join(timeout=5)


def test_ca_is_constrained_short_lived_and_private(tmp_path):
    folder = tmp_path / "tls"
    ca = ensure_local_ca(folder)
    assert ca.notice is None
    cert = load(ca.ca_cert)
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    assert permitted(cert) == {"localhost", "127.0.0.0/8", "::1/128"}
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime <= CA_LIFETIME + dt.timedelta(hours=1) <= dt.timedelta(days=4 * 365)
    leaf = load(ca.server_cert)
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= LEAF_LIFETIME + \
        dt.timedelta(hours=1)
    leaf.verify_directly_issued_by(cert)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for key in (ca.ca_key, ca.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert san_names(ca.server_cert) == {"localhost", "127.0.0.1", "::1"}
    assert handshake(ca, "localhost") is None
    assert handshake(ca, "127.0.0.1") is None


def test_a_name_outside_the_constraints_is_refused(tmp_path):
    """Even a certificate the CA's key signed for another name does not verify: the name
    constraints are what makes trusting this CA safe."""
    from cryptography.hazmat.primitives import serialization

    from app.server.tls import _make_leaf

    ca = ensure_local_ca(tmp_path)
    ca_cert = load(ca.ca_cert)
    ca_key = serialization.load_pem_private_key(ca.ca_key.read_bytes(), None)
    leaf, key = _make_leaf(ca_cert, ca_key, ["www.bank.example", "localhost"])
    ca.server_cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    ca.server_key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    failure = handshake(ca, "www.bank.example")
    assert isinstance(failure, ssl.SSLCertVerificationError)
    assert failure.verify_message == "permitted subtree violation"


def test_new_host_name_gets_a_ca_that_covers_it(tmp_path):
    first = ensure_local_ca(tmp_path)
    ca_pem = first.ca_cert.read_bytes()
    leaf = first.server_cert.read_bytes()
    again = ensure_local_ca(tmp_path)
    assert (again.notice, again.server_cert.read_bytes()) == (None, leaf)  # reused
    moved = ensure_local_ca(tmp_path, host="inspector.example.test")
    assert first.ca_cert.read_bytes() != ca_pem
    assert "does not cover inspector.example.test" in moved.notice
    assert "inspector.example.test" in permitted(load(moved.ca_cert))
    assert "inspector.example.test" in san_names(first.server_cert)
    # Back on localhost (and `ca --export`): the CA that covers both stays.
    ca_pem = moved.ca_cert.read_bytes()
    assert ensure_local_ca(tmp_path).notice is None
    assert moved.ca_cert.read_bytes() == ca_pem
    ip = ensure_local_ca(tmp_path, host="192.0.2.7")
    assert {"192.0.2.7/32", "inspector.example.test"} <= permitted(load(ip.ca_cert))
    assert "192.0.2.7" in san_names(ip.server_cert)
    other = ensure_local_ca(tmp_path, host="other.example.test")
    assert {"192.0.2.7/32", "inspector.example.test", "other.example.test"} <= permitted(
        load(other.ca_cert))
    assert handshake(other, "other.example.test") is None


def test_a_trustme_ca_of_an_earlier_version_is_replaced_with_a_notice(tmp_path):
    old = trustme.CA(organization_name="Streamer Inspector local CA")
    (tmp_path / "ca.pem").write_bytes(old.cert_pem.bytes())
    (tmp_path / "ca-key.pem").write_bytes(old.private_key_pem.bytes())
    old_leaf = old.issue_cert("localhost", "127.0.0.1", "::1")
    (tmp_path / "server.pem").write_bytes(b"".join(b.bytes() for b in old_leaf.cert_chain_pems))
    (tmp_path / "server-key.pem").write_bytes(old_leaf.private_key_pem.bytes())
    ca = ensure_local_ca(tmp_path)
    assert "made by an earlier version (valid 2000 to 3000, no name constraints)" in ca.notice
    assert "trust the new CA" in ca.notice
    cert = load(ca.ca_cert)
    assert permitted(cert) == {"localhost", "127.0.0.0/8", "::1/128"}
    load(ca.server_cert).verify_directly_issued_by(cert)  # the leaf was re-issued too
    assert handshake(ca, "localhost") is None
    assert ensure_local_ca(tmp_path).notice is None  # told once


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "127.0.0.1", "localhost"])
def test_local_hosts_need_no_extra_name(tmp_path, host):
    ca = ensure_local_ca(tmp_path, host=host)
    assert ca.notice is None
    assert san_names(ca.server_cert) == {"localhost", "127.0.0.1", "::1"}
