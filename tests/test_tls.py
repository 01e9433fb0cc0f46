"""The local CA: one CA for good, server certificates re-issued from it when needed."""

import ssl

from cryptography import x509

from app.tls import ensure_local_ca, server_context


def san_names(path):
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)) | {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def test_server_certificate_covers_local_names(tmp_path):
    ca = ensure_local_ca(tmp_path)
    assert san_names(ca.server_cert) == {"localhost", "127.0.0.1", "::1"}
    ctx = ssl.create_default_context(cafile=str(ca.ca_cert))
    assert ctx.cert_store_stats()["x509_ca"] == 1
    assert isinstance(server_context(ca.server_cert, ca.server_key), ssl.SSLContext)


def test_new_host_name_reissues_from_the_same_ca(tmp_path):
    first = ensure_local_ca(tmp_path)
    ca_pem = first.ca_cert.read_bytes()
    leaf = first.server_cert.read_bytes()
    again = ensure_local_ca(tmp_path)
    assert again.server_cert.read_bytes() == leaf  # nothing changed: reused
    ensure_local_ca(tmp_path, host="inspector.example.test")
    assert first.ca_cert.read_bytes() == ca_pem
    assert "inspector.example.test" in san_names(first.server_cert)
