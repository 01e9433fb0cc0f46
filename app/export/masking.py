"""Masking for demos: ICCID, IMSI, MSISDN, IMEI and IP addresses become consistent pseudonyms.

The same value always gets the same pseudonym within a capture (a keyed hash, HMAC-SHA256, with
a random key kept per capture in the user's private settings), so one SIM stays one SIM across
records, tables and exports, and nobody without the key can map pseudonyms back by trying values.

What is masked, in any text (a record's JSON, a request body, a header):
- the values of the identifier fields of each record seen (``sim.iccid``, ``imsi``,
  ``sim.msisdn``, ``endpoint.imei``, ``endpoint.name`` when it is a number, ``source_address``,
  ``detail.pdp_context.imsi`` / ``imeisv``, ``organisation.name``: the 1NCE customer number),
  wherever they occur, descriptions included;
- an organisation's name found in the text itself (``"organisation": {... "name": "..."}``),
  even in a body that is no record list (a rejected request, a body that is not UTF-8);
- any run of 14 to 20 digits (the length of an IMSI, IMEI or ICCID, and of 1NCE MSISDNs);
- any IPv4 or IPv6 address.
Pseudonyms keep their shape: an ICCID stays 89…, an IMSI gets the test network 001 01, digit
runs keep their length; IPv4 addresses come from 198.18.0.0/15, IPv6 from 2001:db8::/32
(ranges reserved for tests and documentation).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Callable
from typing import Any

from app.records.shape import parse_record

_FIELDS = (
    ("sim", "iccid"), ("sim", "msisdn"), ("imsi",), ("imsi", "imsi"), ("endpoint", "imei"),
    ("endpoint", "name"), ("source_address",), ("detail", "pdp_context", "imsi"),
    ("detail", "pdp_context", "imeisv"), ("organisation", "name"),
)
_ORGANISATION = re.compile(r'"organisation"\s*:\s*\{[^{}]*?"name"\s*:\s*"([^"\\]{4,})"')
_DIGITS = re.compile(r"(?<!\d)\d{6,20}(?!\d)")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)")  # "IP 10.1.2.3." too
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")


def new_key() -> str:
    return secrets.token_hex(32)


class Masker:
    """Pseudonyms for one capture; learns identifiers from the records it masks."""

    def __init__(self, key: str):
        self.key = key
        self._key = bytes.fromhex(key) if len(key) == 64 else key.encode()
        self._known: set[str] = set()  # identifier values seen in identifier fields
        self._others: set[str] = set()  # of those, the ones that are not plain digit runs
        self._cache: dict[str, str] = {}
        self._pseudonyms: set[str] = set()

    # -- learning -------------------------------------------------------------------------

    def learn(self, record: Any) -> None:
        """Note the identifier values of a parsed record."""
        if not isinstance(record, dict):
            return
        for path in _FIELDS:
            value: Any = record
            for step in path:
                value = value.get(step) if isinstance(value, dict) else None
            if isinstance(value, str) and len(value) >= 4 and value not in self._known:
                if path == ("endpoint", "name") and not value.isdigit():
                    continue  # a device name chosen by the customer, unless it is a number
                self._known.add(value)
                if not value.isdigit():
                    self._others.add(value)

    # -- masking --------------------------------------------------------------------------

    def mask_record(self, text: str) -> str:
        """A record's JSON text with its identifiers (and any others recognised) masked."""
        with contextlib.suppress(ValueError, RecursionError):
            self.learn(parse_record(text))
        return self.mask_text(text)

    def mask_text(self, text: str) -> str:
        """Any text with every identifier it holds replaced by its pseudonym."""
        if not text:
            return text
        if "organisation" in text:
            for match in _ORGANISATION.finditer(text):
                self.learn({"organisation": {"name": match.group(1)}})
        for value in sorted(self._present(text), key=len, reverse=True):
            text = text.replace(value, self.pseudonym(value))
        text = _IPV4.sub(self._ipv4, text)
        text = _IPV6.sub(self._ipv6, text)
        return _DIGITS.sub(self._digits, text)

    def _present(self, text: str) -> set[str]:
        return {v for v in self._others if v in text}

    def _digits(self, match: re.Match) -> str:
        value = match.group()
        if value in self._known or len(value) >= 14:
            return self.pseudonym(value)
        return value

    def _ipv4(self, match: re.Match) -> str:
        value = match.group()
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return value
        return self.pseudonym(value, "ipv4")

    def _ipv6(self, match: re.Match) -> str:
        value = match.group()
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            return value
        return self.pseudonym(value, "ipv6")

    def pseudonym(self, value: str, kind: str = "") -> str:
        """The pseudonym of ``value``: the same every time, never an original value."""
        cached = self._cache.get(value)
        if cached is not None:
            return cached
        counter = 0
        while True:
            digest = hmac.new(self._key, f"{kind}:{counter}:{value}".encode(),
                              hashlib.sha256).digest()
            out = _shape(value, kind, digest)
            if out != value and out not in self._known and out not in self._pseudonyms:
                break
            counter += 1
        self._cache[value] = out
        self._pseudonyms.add(out)
        return out


def _shape(value: str, kind: str, digest: bytes) -> str:
    number = int.from_bytes(digest, "big")
    if kind == "ipv4":
        return str(ipaddress.IPv4Address(int(ipaddress.IPv4Address("198.18.0.0"))
                                         + number % (2**17)))
    if kind == "ipv6":
        return str(ipaddress.IPv6Address(int(ipaddress.IPv6Address("2001:db8::"))
                                         + number % (2**96)))
    digits = str(number).rjust(40, "0")
    if value.isdigit():
        n = len(value)
        if value.startswith("89") and n >= 18:  # ICCID
            return "89" + digits[: n - 2]
        if n == 15 and not value.startswith(("35", "86", "01")):  # IMSI-like
            return "00101" + digits[:10]
        return digits[:n]
    # not a digit run (a placeholder-like or formatted value): a readable token
    return f"masked-{digits[:8]}"


def masker_for(db, settings) -> Masker:
    """The masker of a capture: its key is made once and kept in the user's settings."""
    created = db.execute("SELECT value FROM meta WHERE key = 'created_at'").fetchone()
    capture_id = created[0] if created else "unknown"
    key = settings.mask_keys.get(capture_id)
    if key is None:
        key = settings.mask_keys[capture_id] = new_key()
        settings.save()
    return Masker(key)


def mask_transform(masker: Masker) -> Callable[[str], str]:
    """Masking for any text an exporter writes: records, bodies (lists of records), headers."""

    def transform(text: str) -> str:
        if text[:1] in "{[":
            try:
                value = parse_record(text)
            except ValueError:
                value = None
            for item in value if isinstance(value, list) else [value]:
                masker.learn(item)
        return masker.mask_text(text)

    transform.mask_key = masker.key
    transform.json_safe = True  # masked JSON is still JSON: CSV may mask whole records first
    return transform
