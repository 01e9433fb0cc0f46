"""Small network helpers shared by the receiver, the client and the window."""

from __future__ import annotations

import base64
import ipaddress
from urllib.parse import urlsplit

REALM = "Streamer Inspector"  # the Basic auth realm the receiver answers 401 with
# The names of this computer that a URL may give for a receiver listening on loopback.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def basic_auth_value(user: str, password: str) -> str:
    """The ``Authorization`` header value to paste into the 1NCE Portal."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def is_loopback(host: str) -> bool:
    """Whether only this computer can reach an endpoint bound to ``host``."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_port(url: str) -> tuple[str, int] | None:
    """The host (lower case, no trailing dot) and port an http(s) URL goes to (the scheme's
    default port when none is given); None for a URL that names neither."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    if port is None:
        port = {"https": 443, "http": 80}.get(parts.scheme.lower())
        if port is None:
            return None
    return parts.hostname.lower().rstrip("."), port


# Headers a tunnel or reverse proxy names the original client in, most specific first.
FORWARDING_HEADERS = ("cf-connecting-ip", "x-real-ip", "x-forwarded-for", "forwarded")


def _ip(text: str) -> str | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # Forwarded: for="[2001:db8::1]:4711"
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # 203.0.113.5:4711
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def forwarded_client(headers) -> str | None:
    """The original client's IP address a tunnel or proxy put in the forwarding headers
    (``headers``: (name, value) pairs as stored), or None. Only a valid address is taken."""
    found: dict[str, str] = {}
    for name, value in headers or ():
        key = str(name).lower()
        if key in FORWARDING_HEADERS and key not in found:
            found[key] = str(value)
    for key in FORWARDING_HEADERS:
        value = found.get(key)
        if value is None:
            continue
        first = value.split(",")[0]
        if key == "forwarded":
            params = dict(p.strip().partition("=")[::2] for p in first.split(";"))
            first = next((v for k, v in params.items() if k.lower() == "for"), "")
        address = _ip(first)
        if address is not None:
            return address
    return None


def client_address(peer: str | None, headers) -> str:
    """Where a request came from, as the Requests table shows it: the original client a
    tunnel or proxy names (``Cf-Connecting-Ip``, ``X-Real-Ip``, ``X-Forwarded-For``,
    ``Forwarded``) as "203.0.113.5 via 127.0.0.1", else the peer. Derived from the stored
    headers when read (the capture format is unchanged); always plain text."""
    client = forwarded_client(headers)
    peer = peer or ""
    if client is None or client == peer:
        return peer
    return f"{client} via {peer}" if peer else client
