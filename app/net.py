"""Small network helpers shared by the receiver, the client and the window."""

from __future__ import annotations

import base64
import ipaddress

REALM = "Streamer Inspector"  # the Basic auth realm the receiver answers 401 with


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
