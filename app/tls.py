"""TLS material: a local CA (trustme) kept in the user's data dir, or the user's own files.

The local CA and the server certificate it signs are created once and reused, so a user trusts
the CA once (``streamer-inspector ca --export``) and keeps trusting it. Private keys are written
with mode 0600. The server certificate is re-issued from the same CA when it nears expiry or
when the set of names it must cover changes (``--host`` with a non-loopback name).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509

from app.config import write_private

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
LEAF_LIFETIME = dt.timedelta(days=825)
RENEW_BEFORE = dt.timedelta(days=30)


class TlsError(Exception):
    """TLS material could not be created or loaded; the message says which file and why."""


@dataclass(frozen=True)
class LocalCa:
    """Paths of the local CA and of the server certificate it issued."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server-key.pem"


def _names_for(host: str) -> tuple[str, ...]:
    names = list(LOCAL_NAMES)
    if host and host not in ("0.0.0.0", "::", "") and host not in names:
        names.append(host)
    return tuple(names)


def _cert_names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = set(san.get_values_for_type(x509.DNSName))
    names |= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return names


def _normal(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name.lower()


def ensure_local_ca(directory: Path, host: str = "127.0.0.1") -> LocalCa:
    """Create (first run) or reuse the local CA and a server certificate valid for ``host``."""
    paths = LocalCa(directory)
    try:
        if paths.ca_cert.exists() and paths.ca_key.exists():
            ca = trustme.CA.from_pem(paths.ca_cert.read_bytes(), paths.ca_key.read_bytes())
        else:
            ca = trustme.CA(organization_name="Streamer Inspector local CA")
            write_private(paths.ca_key, ca.private_key_pem.bytes())
            write_private(paths.ca_cert, ca.cert_pem.bytes())
            paths.ca_cert.chmod(0o644)
            paths.server_cert.unlink(missing_ok=True)
    except (OSError, ValueError) as exc:
        raise TlsError(f"cannot use the local CA in {directory}: {exc}") from exc

    wanted = {_normal(n) for n in _names_for(host)}
    if not _server_cert_usable(paths, wanted):
        now = dt.datetime.now(dt.UTC)
        leaf = ca.issue_cert(
            *sorted(wanted),
            organization_name="Streamer Inspector",
            not_before=now - dt.timedelta(hours=1),
            not_after=now + LEAF_LIFETIME,
        )
        write_private(paths.server_key, leaf.private_key_pem.bytes())
        write_private(paths.server_cert, b"".join(b.bytes() for b in leaf.cert_chain_pems))
        paths.server_cert.chmod(0o644)
    return paths


def _server_cert_usable(paths: LocalCa, wanted: set[str]) -> bool:
    if not (paths.server_cert.exists() and paths.server_key.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    except ValueError:
        return False
    if cert.not_valid_after_utc - RENEW_BEFORE < dt.datetime.now(dt.UTC):
        return False
    return wanted <= {_normal(n) for n in _cert_names(cert)}


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """An SSL context for the server; a clear TlsError when a file is missing or unreadable."""
    for label, path in (("certificate", cert_file), ("key", key_file)):
        if not Path(path).is_file():
            raise TlsError(f"the {label} file {path} does not exist")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot load certificate {cert_file} with key {key_file}: {exc}") from exc
    return ctx
