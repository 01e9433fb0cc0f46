"""How the window's tables show a value: a readable cell, the value as sent in its tooltip.

Qt-free (the reader thread renders with it; tests call it directly). Exports keep the values as
the record spells them (``Column.render``); only the window normalises:

- **times**: one format, ``2024-12-13 12:49:57.000``, in UTC or in local time (the window's
  View ▸ Times in local time); ISO 8601 with or without a zone (none: read as UTC), epoch
  seconds and milliseconds (numbers, or digit strings). The value as sent is in the tooltip.
- **severity**: one word per level (Info, Warning, Error, Critical), with a tone the table
  colours; a word it does not know is shown as sent.
- **volumes**: a number with 6 decimals (the vendor's DECIMAL(14,6): nothing is rounded away and
  the decimal points line up) and its unit; SMS counts as whole numbers.
- **SMS payloads**: decoded as the data coding scheme says (3GPP TS 23.038): GSM 7-bit (the
  Data Streamer sends it as text), UCS-2 (hex of UTF-16BE), 8-bit data (hex, shown as bytes).

Text from the wire stays plain text: control characters are shown as symbols, lone surrogates
as U+FFFD.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from app.display import printable, scalar_text
from app.records.fields import MISSING, lookup


class Cell(NamedTuple):
    """A cell as the window shows it: its text, its tooltip (plain text, empty: none) and a
    tone (``""``, ``info``, ``warning``, ``error``, ``critical``) the table colours it by."""

    text: str
    tip: str = ""
    tone: str = ""


def _as_sent(value: Any) -> str:
    return "" if value is MISSING or value is None else printable(scalar_text(value))


# -- times ---------------------------------------------------------------------------------------

SAMPLE_TIME = "2024-12-13 12:49:57.000"  # as wide as any time the tables show (for widths)
_EPOCH_DIGITS = re.compile(r"-?\d{1,16}(?:\.\d+)?")
_MS_FROM = 100_000_000_000  # larger: milliseconds (1973-03-03 as ms; year 5138 as seconds)


def zone_name(local: bool, now: dt.datetime | None = None) -> str:
    """The zone the tables show times in, for their headers: ``UTC`` or the local zone's
    abbreviation now (``CET``), else its offset (``UTC+01:00``)."""
    if not local:
        return "UTC"
    moment = (now or dt.datetime.now(dt.UTC)).astimezone()
    name = moment.tzname() or ""
    if not name or name[0] in "+-" or len(name) > 6:
        offset = moment.strftime("%z")
        name = f"UTC{offset[:3]}:{offset[3:]}" if offset else "local"
    return name


def parse_time(value: Any) -> tuple[dt.datetime, str] | None:
    """A record's time value as an aware datetime and how it was read (``""``: ISO with a zone;
    else a note for the tooltip), or None when it is not a time this reads."""
    if isinstance(value, bool) or value is None or value is MISSING:
        return None
    try:
        if isinstance(value, int | float) or (
                isinstance(value, str) and _EPOCH_DIGITS.fullmatch(value.strip())):
            number = float(value)
            if not math.isfinite(number):
                return None
            millis = abs(number) >= _MS_FROM
            moment = dt.datetime.fromtimestamp(number / 1000 if millis else number, dt.UTC)
            return moment, ("epoch milliseconds" if millis else "epoch seconds")
        if isinstance(value, str) and 8 <= len(value) <= 64:
            moment = dt.datetime.fromisoformat(value.strip())
            if moment.tzinfo is None:
                return moment.replace(tzinfo=dt.UTC), "no time zone: read as UTC"
            return moment, ""
    except (ValueError, OverflowError, OSError):
        return None
    return None


def time_text(moment: dt.datetime, local: bool) -> str:
    """``moment`` in the tables' format, in UTC or local time (the zone is in the header)."""
    try:
        moment = moment.astimezone() if local else moment.astimezone(dt.UTC)
    except (ValueError, OverflowError, OSError):  # beyond what the local zone rules cover
        moment = moment.astimezone(dt.UTC)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} {moment.hour:02d}:"
            f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}")


def time_cell(value: Any, local: bool = False) -> Cell:
    """A time cell: the time in one format, the value as sent in the tooltip."""
    if value is MISSING or value is None:
        return Cell("")
    sent = _as_sent(value)
    parsed = parse_time(value)
    if parsed is None:
        return Cell(sent, f"As sent: {sent}\nNot a time this table reads: shown as sent")
    moment, how = parsed
    text = time_text(moment, local)
    return Cell(text, f"As sent: {sent}" + (f" ({how})" if how else ""))


# -- severity ------------------------------------------------------------------------------------

_SEVERITY_WORDS = {
    "INFO": "Info", "INFORMATION": "Info", "NOTICE": "Info",
    "WARN": "Warning", "WARNING": "Warning",
    "ERROR": "Error", "ERR": "Error",
    "CRITICAL": "Critical", "CRIT": "Critical", "FATAL": "Critical",
}
_SEVERITY_IDS = {0: "Info", 1: "Warning", 3: "Error", 4: "Critical"}  # 2: Critical or WARN
SEVERITY_TONES = {"Info": "info", "Warning": "warning", "Error": "error", "Critical": "critical"}


def severity_cell(value: Any, record: dict) -> Cell:
    """The severity as one word per level, whatever the spelling (``INFO``, ``Info``, ``WARN``),
    coloured by its tone; an unknown word as sent. Without a description, the id says it
    (id 2 is CRITICAL in one vendor list, WARN in another: not guessed)."""
    sent = _as_sent(value)
    word = _SEVERITY_WORDS.get(sent.strip().upper()) if isinstance(value, str) else None
    if word is None and not sent:
        level = lookup(record, ("event_severity", "id"))
        if isinstance(level, int) and not isinstance(level, bool):
            word = _SEVERITY_IDS.get(level)
            sent = f"id {level}"
    if word is None:
        return Cell(sent, f"As sent: {sent}" if sent else "")
    return Cell(word, f"As sent: {sent}", SEVERITY_TONES[word])


# -- volumes -------------------------------------------------------------------------------------

_SIX = Decimal("0.000001")


def number_text(value: Any, places: int = 6) -> str | None:
    """A JSON number with ``places`` decimals (exact: read as a decimal, not a double), or None
    when it is not a finite number of sane size."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = Decimal(str(value))
        if not number.is_finite() or abs(number.adjusted()) > 30:
            return None
        return f"{number.quantize(Decimal(1).scaleb(-places)):f}" if places else \
            f"{number.quantize(Decimal(1)):f}"
    except (InvalidOperation, ValueError):
        return None


def volume_cell(value: Any, record: dict) -> Cell:
    """A volume right-aligned in its column: MB with 6 decimals, SMS as a count (6 decimals
    when not whole), the value as sent in the tooltip."""
    if value is MISSING or value is None:
        return Cell("")
    sms = lookup(record, ("traffic_type", "id")) == 6
    unit = "SMS" if sms else "MB"
    sent = _as_sent(value)
    text = number_text(value)
    if text is None and isinstance(value, int | float) and not isinstance(value, bool):
        return Cell(f"{sent} {unit}", f"As sent: {sent}\nBeyond what 6 decimals show: as sent")
    if text is None:
        return Cell(sent, f"As sent: {sent}\nNot a number: shown as sent")
    if sms and Decimal(text) == Decimal(text).to_integral_value():
        text = number_text(value, 0) or text
    return Cell(f"{text} {unit}", f"As sent: {sent}")


# -- SMS payloads --------------------------------------------------------------------------------

_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")


def alphabet(dcs: Any) -> str | None:
    """The alphabet a data coding scheme names (3GPP TS 23.038, section 4): ``gsm``, ``8bit``,
    ``ucs2``, or None when ``dcs`` is not one (reserved groups, not an integer)."""
    if isinstance(dcs, bool) or not isinstance(dcs, int) or not 0 <= dcs <= 0xFF:
        return None
    group = dcs >> 4
    if group <= 0x7:  # general data coding, automatic deletion; compressed (bit 5): not read
        return None if dcs & 0x20 else ("gsm", "8bit", "ucs2", None)[(dcs >> 2) & 3]
    if group in (0xC, 0xD):  # message waiting, GSM 7-bit
        return "gsm"
    if group == 0xE:  # message waiting, UCS-2
        return "ucs2"
    if group == 0xF:  # data coding / message class
        return "8bit" if dcs & 0x04 else "gsm"
    return None


def payload_cell(value: Any, record: dict) -> Cell:
    """An MO SMS payload decoded as its ``dcs`` says; shown as sent (with why, in the tooltip)
    when it cannot be decoded."""
    if value is MISSING or value is None:
        return Cell("")
    sent = _as_sent(value)
    dcs = lookup(record, ("dcs",))
    kind = alphabet(dcs)
    shown_dcs = _as_sent(dcs) if dcs is not MISSING else "none"
    if not isinstance(value, str):
        return Cell(sent, f"As sent: {sent}\nNot decoded: the payload is not a string")
    if kind == "gsm":
        return Cell(sent, f"GSM 7-bit default alphabet (dcs {shown_dcs}): sent as text")
    if kind is None:
        return Cell(sent, f"As sent (dcs {shown_dcs}: not a data coding scheme this reads)")
    compact = value.strip().replace(" ", "")
    if not _HEX.fullmatch(compact):
        name = "UCS-2" if kind == "ucs2" else "8-bit data"
        return Cell(sent, f"As sent: {sent}\nNot decoded: {name} (dcs {shown_dcs}) comes as "
                          "hex, and this is not hex")
    data = bytes.fromhex(compact)
    if kind == "ucs2":
        if len(data) % 2:
            return Cell(sent, f"As sent: {sent}\nNot decoded: UCS-2 (dcs {shown_dcs}) needs "
                              "an even number of bytes")
        text = printable(data.decode("utf-16-be", errors="surrogatepass"))
        return Cell(text, f"UCS-2 (dcs {shown_dcs}), decoded from hex: {sent}")
    spaced = " ".join(f"{b:02x}" for b in data)
    ascii_view = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)
    return Cell(spaced, f"8-bit data (dcs {shown_dcs}), {len(data)} bytes\nAs ASCII: "
                        f"{ascii_view}\nAs sent: {sent}")


def payload_line(record: dict) -> str:
    """The SMS detail's line on the payload: its decoded text and the coding, or ""."""
    value = lookup(record, ("payload",))
    if value is MISSING or value is None:
        return ""
    cell = payload_cell(value, record)
    return f"Payload: {cell.text}\n{cell.tip}"
