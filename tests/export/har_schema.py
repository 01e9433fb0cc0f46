"""The HAR 1.2 JSON schema ``har-validator`` uses (vendored in tests/data/har-schema), with every
format it names really checked: ``validate(har)`` fails with the first errors."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from pathlib import Path

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT6

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "data" / "har-schema"

# RFC 3986, appendix A, as regular expressions: what the schema's "uri" format means (jsonschema
# checks it only with an extra package, rfc3987, which this project does not use).
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_URI = re.compile(
    rf"(?P<scheme>[A-Za-z][A-Za-z0-9+\-.]*):"
    rf"(?://(?P<authority>(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*@)?"
    rf"(?P<host>\[[^\]]*\]|(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*)(?::[0-9]*)?)"
    rf"(?:/{_PCHAR}*)*"
    rf"|/(?:{_PCHAR}+(?:/{_PCHAR}*)*)?"
    rf"|{_PCHAR}+(?:/{_PCHAR}*)*"
    rf"|)"
    rf"(?:\?(?:{_PCHAR}|[/?])*)?"
    rf"(?:#(?:{_PCHAR}|[/?])*)?")
_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")


def is_uri(value: object) -> bool:
    """An absolute URI by RFC 3986's grammar (an IP literal in brackets must be an address)."""
    if not isinstance(value, str):
        return True  # formats judge strings only
    match = _URI.fullmatch(value)
    if match is None:
        return False
    host = match.group("host") or ""
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1].partition("%25")[0])
        except ValueError:
            return False  # not an IPv6 literal: the URI is invalid, which is the answer
    return True


def is_date_time(value: object) -> bool:
    """RFC 3339 date-time (jsonschema checks it only with rfc3339-validator)."""
    if not isinstance(value, str):
        return True
    if _DATE_TIME.fullmatch(value) is None:
        return False
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False  # not a real date (hour 25, day 32): invalid, which is the answer
    return True


def har_validator() -> jsonschema.Draft6Validator:
    """The HAR schema of ``har-validator`` with every format it names really checked."""
    schemas = {p.name: json.loads(p.read_text()) for p in SCHEMA_DIR.glob("*.json")}
    registry = Registry().with_resources(
        (name, Resource.from_contents(schema, default_specification=DRAFT6))
        for name, schema in schemas.items())
    checker = jsonschema.FormatChecker()
    checker.checks("uri")(is_uri)
    checker.checks("date-time")(is_date_time)
    return jsonschema.Draft6Validator(schemas["har.json"], registry=registry,
                                      format_checker=checker)


VALIDATOR = har_validator()


def validate(har: dict) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in VALIDATOR.iter_errors(har)]
    assert not errors, errors[:10]
