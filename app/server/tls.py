"""TLS material: a local CA kept in the user's data dir, or the user's own files.

The local CA and the server certificate it signs are made with ``cryptography`` once and
reused, so a user trusts the CA once (``streamer-inspector ca --export``) and keeps trusting it.
Trusting it is safe: its name constraints (critical) let it vouch only for the endpoint's own
names (localhost, loopback addresses, the configured ``--host``), it is valid for
:data:`CA_LIFETIME`, and its key is readable by the owner only (0600 in a 0700 folder).

The server certificate is re-issued from the same CA when it nears expiry or when the set of
names it must cover changes. The CA itself is replaced, with a notice (``LocalCa.notice``),
when it was made by an earlier version (trustme's: no name constraints, valid 2000 to 3000),
nears expiry, or does not cover a new ``--host``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from app.config import private_dir, write_private

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
LOCAL_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
CA_LIFETIME = dt.timedelta(days=3 * 365)
LEAF_LIFETIME = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=30)
# A CA valid longer than this was not made by this version (trustme's: 2000 to 3000).
LONGEST_CA_LIFETIME = dt.timedelta(days=5 * 366)


class TlsError(Exception):
    """TLS material could not be created or loaded; the message says which file and why."""


@dataclass(frozen=True)
class LocalCa:
    """Paths of the local CA and of the server certificate it issued; ``notice`` says why the
    CA was just replaced (the user must trust the new one), else None."""

    directory: Path
    notice: str | None = None

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
    host = (host or "").strip().strip("[]")
    if host and host not in ("0.0.0.0", "::") and _normal(host) not in names:
        names.append(_normal(host))
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


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _subtree(name: str) -> x509.GeneralName:
    """The name-constraint subtree that permits ``name`` (one address, or a DNS name and its
    subdomains)."""
    try:
        return x509.IPAddress(ipaddress.ip_network(name))
    except ValueError:
        return x509.DNSName(name)


def _permitted(ca: x509.Certificate) -> list[x509.GeneralName] | None:
    try:
        nc = ca.extensions.get_extension_for_class(x509.NameConstraints)
    except x509.ExtensionNotFound:
        return None
    return list(nc.value.permitted_subtrees or [])


def _covers(subtrees: list[x509.GeneralName], name: str) -> bool:
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        name = name.lower()
        return any(isinstance(t, x509.DNSName)
                   and (name == t.value.lower() or name.endswith("." + t.value.lower()))
                   for t in subtrees)
    return any(isinstance(t, x509.IPAddress) and ip in t.value for t in subtrees)


def _ca_problem(ca: x509.Certificate, names: tuple[str, ...]) -> str | None:
    """Why this CA must be replaced, or None when it is fine."""
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    subtrees = _permitted(ca)
    if subtrees is None or lifetime > LONGEST_CA_LIFETIME:
        return (f"it was made by an earlier version (valid {ca.not_valid_before_utc:%Y} to "
                f"{ca.not_valid_after_utc:%Y}, "
                f"{'no' if subtrees is None else 'with'} name constraints), and could vouch "
                f"for any web site")
    if ca.not_valid_after_utc - RENEW_BEFORE < dt.datetime.now(dt.UTC):
        return f"it expires on {ca.not_valid_after_utc:%Y-%m-%d}"
    missing = [n for n in names if not _covers(subtrees, n)]
    if missing:
        return f"it does not cover {', '.join(missing)}"
    return None


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _make_ca(names: list[str]) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Streamer Inspector"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"Streamer Inspector local CA {now:%Y-%m-%d}"),
    ])
    subtrees = [x509.DNSName("localhost"), *(x509.IPAddress(n) for n in LOCAL_NETWORKS)]
    for name in names:
        if not _covers(subtrees, name):
            subtrees.append(_subtree(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.NameConstraints(permitted_subtrees=subtrees,
                                            excluded_subtrees=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _make_leaf(ca: x509.Certificate, ca_key, names: list[str]):
    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Streamer Inspector"),
            x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
        ]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(min(now + LEAF_LIFETIME, ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def ensure_local_ca(directory: Path, host: str = "127.0.0.1") -> LocalCa:
    """Create (first run), reuse or replace the local CA, and make sure a server certificate
    valid for ``host`` and the local names exists. ``notice`` on the result is set when an
    existing CA was replaced."""
    paths = LocalCa(directory)
    names = _names_for(host)
    notice = None
    try:
        private_dir(directory)
        ca = ca_key = None
        if paths.ca_cert.exists() and paths.ca_key.exists():
            ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
            ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), None)
            problem = _ca_problem(ca, names)
            if problem is not None:
                kept = [n for n in _cert_names_of_subtrees(ca) if n not in names]
                notice = (f"the local CA {paths.ca_cert} was replaced by a new one because "
                          f"{problem}: trust the new CA ({_export_hint()}) and remove the old "
                          f"one from your trust store")
                names = (*names, *kept)
                ca = None
        if ca is None:
            ca, ca_key = _make_ca(list(names))
            write_private(paths.ca_key, _key_pem(ca_key))
            write_private(paths.ca_cert, ca.public_bytes(serialization.Encoding.PEM))
            paths.ca_cert.chmod(0o644)
            paths.server_cert.unlink(missing_ok=True)
        paths.ca_key.chmod(0o600)
        wanted = {_normal(n) for n in _names_for(host)}
        if not _server_cert_usable(paths, ca, wanted):
            leaf, leaf_key = _make_leaf(ca, ca_key, sorted(wanted, key=_leaf_order))
            write_private(paths.server_key, _key_pem(leaf_key))
            write_private(paths.server_cert, leaf.public_bytes(serialization.Encoding.PEM))
            paths.server_cert.chmod(0o644)
    except (OSError, ValueError, TypeError) as exc:
        raise TlsError(f"cannot use the local CA in {directory}: {exc}") from exc
    return LocalCa(directory, notice)


def _export_hint() -> str:
    return "streamer-inspector ca --export"


def _leaf_order(name: str) -> tuple[int, str]:
    return (LOCAL_NAMES.index(name) if name in LOCAL_NAMES else len(LOCAL_NAMES), name)


def _cert_names_of_subtrees(ca: x509.Certificate) -> list[str]:
    """The hosts an older CA of ours permitted beyond the local ones, to keep covering them."""
    kept = []
    for tree in _permitted(ca) or []:
        if isinstance(tree, x509.DNSName) and tree.value != "localhost":
            kept.append(tree.value)
        elif isinstance(tree, x509.IPAddress) and tree.value not in LOCAL_NETWORKS:
            kept.append(str(tree.value))
    return kept


def _server_cert_usable(paths: LocalCa, ca: x509.Certificate, wanted: set[str]) -> bool:
    if not (paths.server_cert.exists() and paths.server_key.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
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
