"""A hostile-record corpus: legal JSON records that break naive paths, as exact texts.

Every record is written as its exact JSON text (escapes, duplicate keys and number spellings that
no Python value can round-trip), based on the real schema (``../shared/docs/record-schema.md``):

- lone surrogate escapes (``"\\ud83d"``) in a string value and in a key;
- integers beyond 64 bits (``18446744073709551615``, ``123456789012345678901234567890`` as ids);
- numbers outside double range (``1e400``, ``-1e400``) and below it (``1e-400``);
- duplicate keys (``id`` twice, ``event_type`` twice);
- control characters (``\\u0000``, ``\\u0007``, ``\\u001b[31m``) and RTL text with U+202E;
- a 1 MB string and a ``detail`` nested 500 levels deep;
- realistic 1NCE Event, Usage and SMS records whose identifiers (ICCID, IMSI, IMEI, MSISDN, IP
  address, organisation name) are listed in :data:`IDENTIFIERS` so masking can be byte-searched.

:func:`hostile_body` is one POST body holding every record (the receiver accepts it with 200);
:data:`LATIN1_BODY` is a body that is not UTF-8 (the receiver answers it 400 and stores it as a
rejected request, so it matters for HAR and Postman exports and their masks).
"""

from __future__ import annotations

import json

# -- identifiers, distinct per record so a leak names its record ------------------------------

ICCID_EVENT = "8988228066602390137"
IMSI_EVENT = "901405100012345"
MSISDN_EVENT = "882285100012345"
IMEI_EVENT = "358412345678901"
IP_EVENT = "10.196.70.12"

ICCID_USAGE = "8988228066602390245"
IMSI_USAGE = "901405100067890"
MSISDN_USAGE = "882285100067890"
IMEI_USAGE = "358412345600017"
IP_USAGE = "10.196.71.23"

ICCID_HOSTILE = "8988228066602390353"
IMSI_HOSTILE = "901405100054321"
MSISDN_HOSTILE = "882285100054321"

MSISDN_SMS = "882285100099999"

ORGANISATION = "81013181"  # the 1NCE customer number, an organisation's ``name``

# In the non-UTF-8 body only (a rejected request): masks must reach it byte-wise.
ICCID_LATIN1 = "8988228066602390461"
IMSI_LATIN1 = "901405100011111"
IP_LATIN1 = "10.196.72.34"

IDENTIFIERS: list[str] = [
    ICCID_EVENT, IMSI_EVENT, MSISDN_EVENT, IMEI_EVENT, IP_EVENT,
    ICCID_USAGE, IMSI_USAGE, MSISDN_USAGE, IMEI_USAGE, IP_USAGE,
    ICCID_HOSTILE, IMSI_HOSTILE, MSISDN_HOSTILE, MSISDN_SMS, ORGANISATION,
]
"""Every original identifier of :func:`hostile_body`: none may appear in a masked export."""

LATIN1_IDENTIFIERS: list[str] = [ICCID_LATIN1, IMSI_LATIN1, IP_LATIN1, ORGANISATION]
"""The identifiers of :data:`LATIN1_BODY`."""

BIG_UINT64 = 18446744073709551615
BIG_ID = 123456789012345678901234567890


def _j(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _event(id_text: str, *, description: str, iccid: str = ICCID_EVENT, imsi: str = IMSI_EVENT,
           msisdn: str = MSISDN_EVENT, imei: str = IMEI_EVENT, ip: str = IP_EVENT,
           type_id: int = 1, type_text: str = "Update location", detail: str | None = None,
           extra: str = "") -> str:
    """An Update location event (record-schema section 3), ``id`` and extras given as text."""
    detail = detail if detail is not None else _j({
        "id": 730, "name": "T-Mobile",
        "country": {"id": 141, "name": "Netherlands", "country_code": "31", "mcc": "204",
                    "iso_code": "nl"},
        "mnc": [{"id": 327, "mnc": "20"}], "tapcode": [{"id": 470, "tapcode": "NLDDT"}]})
    return (
        '{"id":' + id_text + ',"timestamp":"2024-12-13T12:49:57.000Z",'
        '"event_type":' + _j({"id": type_id, "description": type_text}) + ','
        '"event_severity":{"id":0,"description":"INFO"},'
        '"event_source":{"id":0,"description":"Network"},'
        '"organisation":' + _j({"id": 1234, "name": ORGANISATION}) + ','
        '"alert":false,"description":' + description + ','
        '"sim":' + _j({"id": 1234567, "iccid": iccid, "msisdn": msisdn}) + ','
        '"imsi":' + _j({"id": 123456, "imsi": imsi}) + ','
        '"endpoint":' + _j({"id": 7654321, "name": iccid, "ip_address": ip, "imei": imei}) + ','
        '"detail":' + detail + extra + '}'
    )


def _usage(id_text: str, *, volume: str = '{"total":1.234567,"rx":1.0,"tx":0.234567}',
           iccid: str = ICCID_USAGE, imsi: str = IMSI_USAGE, msisdn: str = MSISDN_USAGE,
           imei: str = IMEI_USAGE, ip: str = IP_USAGE) -> str:
    """A Data usage record (record-schema section 4)."""
    return (
        '{"id":' + id_text + ',"imsi":' + _j(imsi) + ',"imsi_id":1234567,'
        '"start_timestamp":"2024-12-13T12:00:00Z","end_timestamp":"2024-12-13T12:49:57Z",'
        '"organisation":' + _j({"id": 1234, "name": ORGANISATION}) + ','
        '"operator":{"id":2,"name":"T-Mobile","mnc":"01",'
        '"country":{"id":74,"mcc":"262","name":"Germany"}},'
        '"tariff":{"id":398,"name":"1NCE Production 01",'
        '"ratezone":{"id":2067,"name":"Rate Zone 2 (EU - DE)"}},'
        '"traffic_type":{"id":5,"description":"Data"},"volume":' + volume + ','
        '"sim":' + _j({"id": 123456, "iccid": iccid, "msisdn": msisdn}) + ','
        '"endpoint":' + _j({"id": 12345678, "name": "tracker-7", "ip_address": ip,
                            "imei": imei}) + '}'
    )


def _deep(depth: int) -> str:
    return '{"level":' * depth + '"bottom"' + "}" * depth


RECORDS: dict[str, str] = {
    "event": _event("1001", description=_j(
        f"New location received from VLR for IMSI='{IMSI_EVENT}', now attached to "
        f"VLR='491720000001'. Device IP {IP_EVENT}.")),
    "usage": _usage("2001"),
    "sms_mo": (
        '{"id":3001,"payload":"SGVsbG8=","source_address":' + _j(MSISDN_SMS) + ','
        '"dest_address":"12345","dcs":0,"pid":0,"submit_date":"2024-12-13T12:49:57Z",'
        '"organisation":' + _j({"id": 1234, "name": ORGANISATION}) + '}'),
    "surrogate_value": _event(
        "1002", description='"a broken emoji \\ud83d in the description"',
        iccid=ICCID_HOSTILE, imsi=IMSI_HOSTILE, msisdn=MSISDN_HOSTILE),
    "surrogate_key": _event("1003", description='"a lone surrogate in a key"',
                            extra=',"\\ud83d":"key with a lone surrogate"'),
    "uint64_max": _event(str(BIG_UINT64), description='"id is 2**64-1"'),
    "big_id": ('{"id":' + str(BIG_ID) + ',"kind":"not a family","organisation":'
               + _j({"id": 1234, "name": ORGANISATION}) + '}'),
    "huge_numbers": _usage("2002", volume='{"total":1e400,"rx":-1e400,"tx":1e-400}'),
    "duplicate_id": _event("1", description='"id given twice: 1 then 2"',
                           extra=',"id":2'),
    "duplicate_event_type": _event(
        "1004", description='"event_type given twice: 1 then 3"',
        extra=',"event_type":{"id":3,"description":"Create PDP Context"}'),
    "control_chars": _event(
        "1005", description='"nul \\u0000 bell \\u0007 colour \\u001b[31mred\\u001b[0m '
                            'tab\\t newline\\n end"'),
    "rtl": _event("1006", description=_j(
        "שלום \u202eevil.exe\u202c مرحبا — RTL override")),
    "one_mb": _event("1007", description=_j("x" * (1 << 20))),
    "deep": _event("1008", description='"detail nested 500 deep"', detail=_deep(500)),
}
"""Each hostile record by name, as its exact JSON text."""

HOSTILE_RECORDS: list[str] = list(RECORDS.values())

NON_INTEROPERABLE: dict[str, str] = {
    "surrogate_value": "lone surrogate",
    "surrogate_key": "lone surrogate",
    "huge_numbers": "outside the range of a double",
    "duplicate_id": "duplicate key",
    "duplicate_event_type": "duplicate key",
}
"""The records that are legal JSON but that strict parsers (jq, duckdb, orjson) refuse or read
differently, and the words their contract note should contain."""


def hostile_body(names: list[str] | None = None) -> bytes:
    """One compact POST body (a JSON list) of the named records (default: all)."""
    texts = HOSTILE_RECORDS if names is None else [RECORDS[n] for n in names]
    return ("[" + ",".join(texts) + "]").encode("utf-8")


LATIN1_BODY: bytes = (
    '[{"id":4001,"timestamp":"2024-12-13T12:49:57Z",'
    '"event_type":{"id":1,"description":"Update location"},'
    '"organisation":{"id":1234,"name":"' + ORGANISATION + '"},'
    '"description":"Gerät in Düsseldorf, IMSI ' + IMSI_LATIN1 + '",'
    '"sim":{"id":1,"iccid":"' + ICCID_LATIN1 + '"},'
    '"endpoint":{"id":2,"name":"Zähler","ip_address":"' + IP_LATIN1 + '"}}]'
).encode("latin-1")
"""A body encoded in Latin-1 (``ä``/``ü`` as single bytes): not UTF-8, so the receiver answers
400 and stores it as a rejected request."""
