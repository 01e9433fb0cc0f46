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
