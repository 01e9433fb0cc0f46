"""XLSX: a workbook for spreadsheets, one sheet per record table plus the requests.

Written with ``xlsxwriter`` in its ``constant_memory`` mode (each row goes to a temporary file as
soon as the next begins: a million records in constant memory; the temporary files, in the
system's temporary folder, hold the sheets' XML until the workbook is zipped: about 0.9 GB for a
million records). Rows are built as XML by a compiled row builder (:class:`_RowBuilder`), for a
large export in worker processes (``workers``). Each record table of the window
(``app.records.columns.RECORD_TABS``: Events, Usage, SMS, Other) becomes a sheet with that
table's columns, after ``Record`` and ``Request`` (this capture's numbers) and ``Id`` (the
record's own 1NCE id); a sheet that reaches Excel's row limit goes on in ``Events (2)`` and so
on. The ``Requests`` sheet lists the requests the records came in (all requests of the capture
for a whole-capture export: :attr:`ExportOptions.requests` decides).

Cells keep what the record says and let a spreadsheet compute with it:

- identifiers (ICCID, IMSI, MSISDN, IMEI, the 1NCE id, SMS id, addresses) and every other text
  column are *text* cells, whatever JSON type the value has: Excel never shows an ICCID as
  ``8.98822806660568E+18`` or drops the zero of MNC ``01``; text never runs as a formula;
- volumes and costs are numbers (shown with their unit: MB, SMS, the currency code); a value
  that no double holds exactly (``1e400``, an integer beyond 2**53) or that is not a number is
  a text cell with the record's spelling;
- times are date cells in UTC (``yyyy-mm-dd hh:mm:ss.000``): ISO 8601 with any offset, or a
  number as Unix time (milliseconds from 1e11 on, as ``summary`` reads it); a time that does not
  read as one (or falls outside Excel's 1900-9999) is a text cell as spelt;
- the alert flag is a boolean cell.

Text a workbook cannot hold is written the closest way it can: a lone surrogate as U+FFFD (as
CSV does), control characters as Excel's own ``_xHHHH_`` escapes (xlsxwriter; Excel and
LibreOffice read the characters back), text beyond Excel's 32,767 characters a cell cut there
with a note. Masking (``options.transform``) applies to every text from the capture.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

import xlsxwriter
import xlsxwriter.workbook
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from app.display import scalar_text
from app.export.common import ExportOptions, RequestRow, RowSource, rows_of
from app.export.csvfile import RECORD_ID, value_expr
from app.records.columns import RECORD_TABS, Column, Tab
from app.records.columns import col as column_of
from app.records.shape import parse_record, replace_lone_surrogates

SHEET_ROWS = 1_048_576  # Excel's rows a sheet, the header included
CELL_CHARS = 32_767  # Excel's characters (UTF-16 units) a cell
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss.000"
_EXACT_INT = 2**53  # beyond, a double (all a spreadsheet holds) may not be the integer


# --- what goes into a cell --------------------------------------------------------------------

_CUT_NOTE = " … [cut: a cell holds at most 32,767 characters; the JSON export has it whole]"


def cell_string(text: str) -> str:
    """``text`` as a cell can hold it: a lone surrogate as U+FFFD; beyond :data:`CELL_CHARS`
    UTF-16 units, cut with a note saying so."""
    if len(text) > CELL_CHARS // 2:
        text = replace_lone_surrogates(text)
        if _utf16_units(text) > CELL_CHARS:
            budget = CELL_CHARS - len(_CUT_NOTE)
            keep = min(len(text), budget)
            while (over := _utf16_units(text[:keep]) - budget) > 0:
                keep -= max(1, over // 2)  # a character takes one unit, or two beyond U+FFFF
            text = text[:keep] + _CUT_NOTE
    return text


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def text_of(value: Any) -> str:
    """A JSON value as a text cell shows it: a string as it is, a number as the record spells
    it (integers of any size exact), true/false, a container as compact JSON."""
    return scalar_text(value)


_EPOCH = dt.datetime(1899, 12, 30)  # Excel's day 0 (from 1900-03-01 on: its 1900 leap bug)
_EPOCH_UTC = _EPOCH.replace(tzinfo=dt.UTC)
_UNIX = dt.datetime(1970, 1, 1)
_DAY = dt.timedelta(days=1)
_FIRST_DAY, _END_DAY = 61.0, 2958466.0  # 1900-03-01 and 10000-01-01


def excel_time(value: Any) -> float | None:
    """A record's time as an Excel date serial in UTC, or None when it does not read as a time
    a spreadsheet can show: ISO 8601 text (``Z``, an offset or none, which is UTC), or a number
    as Unix time (milliseconds from 1e11 on, seconds below); from 1900-03-01 to 9999."""
    kind = type(value)
    try:
        if kind is str:
            moment = dt.datetime.fromisoformat(value)
            serial = (moment - (_EPOCH if moment.tzinfo is None else _EPOCH_UTC)) / _DAY
        elif kind is int or kind is float:
            seconds = value / 1000 if abs(value) >= 1e11 else value
            serial = (_UNIX + dt.timedelta(seconds=seconds) - _EPOCH) / _DAY
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return serial if _FIRST_DAY <= serial < _END_DAY else None


def exact_number(value: Any) -> float | int | None:
    """A JSON number a numeric cell holds exactly enough, or None (write it as text): an
    integer within 2**53, a finite double; not a bool, not ``1e400``, not a string."""
    kind = type(value)
    if kind is int:
        return value if -_EXACT_INT <= value <= _EXACT_INT else None
    if kind is float:
        return value if math.isfinite(value) else None
    return None


_UNIT = re.compile(r"[A-Za-z]{1,8}")


# --- the sheets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fixed:
    title: str
    kind: str  # number | text
    width: int


_RECORD_FIXED = (_Fixed("Record", "number", 70), _Fixed("Request", "number", 70),
                 _Fixed("Id", "text", 170))


# Beyond the window's columns: the visited network's MCC and MNC (identifiers a spreadsheet
# must not turn into numbers: MNC "01"), after the country.
_NETWORK = {
    "event": (column_of("mcc", "MCC", "detail.country.mcc", "detail.pdp_context.mcc", width=50),
              column_of("mnc", "MNC", "detail.pdp_context.mnc", width=50)),
    "usage": (column_of("mcc", "MCC", "operator.country.mcc", width=50),
              column_of("mnc", "MNC", "operator.mnc", width=50)),
}


def _tab_columns(tab: Tab) -> tuple[Column, ...]:
    """A tab's record columns in the workbook: the window's, less the 1NCE id (a fixed
    column of every sheet), with the network's MCC and MNC after the country."""
    out: list[Column] = []
    for column in tab.columns:
        if column.paths[0] != ("id",):
            out.append(column)
        if column.name == "country":
            out += _NETWORK.get(tab.key, ())
    return tuple(out)


def _title(column: Column) -> str:
    return f"{column.title} (UTC)" if column.kind == "time" else column.title


class _Formats:
    """The workbook's few cell formats, made once (xlsxwriter wants them before writing)."""

    def __init__(self, book: xlsxwriter.Workbook):
        self._book = book
        self.header = book.add_format({"bold": True})
        self.time = book.add_format({"num_format": TIME_FORMAT})
        self.time_style = _style(self.time)
        self.whole_style = _style(book.add_format({"num_format": "0"}))
        self._units: dict[Any, str] = {}

    def unit_style(self, unit: Any) -> str:
        """The style attribute of a number shown as General shows it, then ``unit`` (MB, SMS,
        EUR); "" (General) when the unit is not a short word."""
        if type(unit) is not str:
            return ""
        style = self._units.get(unit)
        if style is None:
            if not _UNIT.fullmatch(unit):
                return ""
            style = self._units[unit] = _style(
                self._book.add_format({"num_format": f'General" {unit}"'}))
        return style


def _style(cell_format) -> str:
    """A format as the style attribute of a cell (`` s="3"``)."""
    return f' s="{cell_format._get_xf_index()}"'


class _RowSheet(Worksheet):
    """A worksheet that also takes a row as its cells' XML, ready (``constant_memory`` mode).

    xlsxwriter's own ``write_*`` calls cost about 3 µs a cell, which made a million records take
    over four minutes; this writes a row's cells, built by the column writers above, straight
    to the worksheet's row file, as xlsxwriter does for a row it has finished (``<row>`` of
    ``<c r=.. s=.. t=..>`` cells with inline strings)."""

    def add_row(self, row: int, cells: str) -> None:
        """Row ``row`` (0-based, after every row written so far), given its cells' XML."""
        if self.table:  # a row written with write_*() (the header) is still held: write it
            self._write_single_row(row)
        self.previous_row = row
        self.dim_rowmax = row
        self.fh.write(f'<row r="{row + 1}">{cells}</row>')


class _Sheets:
    """The sheets of one table: the current one and its row, a new one at the row limit."""

    def __init__(self, book: xlsxwriter.Workbook, formats: _Formats, title: str,
                 headers: list[tuple[str, int]], sheet_rows: int):
        self._book = book
        self._formats = formats
        self._title = title
        self._headers = headers
        self._limit = sheet_rows
        self._parts = 0
        self.sheet = None
        self.row = 0
        self._done: list[tuple[Any, int]] = []
        self._open()

    def _open(self) -> None:
        if self.sheet is not None:
            self._done.append((self.sheet, self.row))
        self._parts += 1
        name = self._title if self._parts == 1 else f"{self._title} ({self._parts})"
        sheet = self._book.add_worksheet(name, worksheet_class=_RowSheet)
        for n, (title, width) in enumerate(self._headers):
            sheet.set_column_pixels(n, n, width)
            sheet.write_string(0, n, title, self._formats.header)
        sheet.freeze_panes(1, 0)
        self.sheet = sheet
        self.row = 0

    def next_row(self) -> int:
        """The row to write the next item on (a new sheet when this one is full)."""
        if self.row + 1 >= self._limit:
            self._open()
        self.row += 1
        return self.row

    def finish(self) -> None:
        last = len(self._headers) - 1
        for sheet, rows in [*self._done, (self.sheet, self.row)]:
            sheet.autofilter(0, 0, max(rows, 1), last)


def _cell_writer(column: Column, formats: _Formats, transform) -> Callable[[Any, dict],
                                                                          str | None]:
    cell = _cell_function(column, formats, transform)
    cell.rendered = _rendered(column)
    return cell


def _rendered(column: Column) -> bool:
    """Whether the column's cell is its rendering of the record (the window's text), made for
    every record whatever the column's own value (``Kind``: MO when there is a payload)."""
    return column.render is not None and column.kind == "text"


def _cell_function(column: Column, formats: _Formats, transform) -> Callable[[Any, dict],
                                                                            str | None]:
    """How one column turns a record's value (``value``, read by the column's paths) into a
    cell: ``cell(value, record)`` gives the XML of the cell after its reference (see
    :meth:`_RowSheet.add_row`), or None for an empty cell."""
    render = column.render
    if column.kind == "time":
        time_style = formats.time_style

        def cell(value, _record):
            if value is None:
                return None
            serial = excel_time(value)
            if serial is not None:
                return f'{time_style}><v>{serial!r}</v>'
            return _string_cell(value, transform)
        return cell
    if column.kind == "number":
        unit_style = _unit_style(column, formats)

        def cell(value, record):
            if value is None:
                return None
            number = exact_number(value)
            if number is not None:
                return f'{unit_style(record)}><v>{number!r}</v>'
            return _string_cell(value, transform)
        return cell
    if column.kind == "bool":
        def cell(value, _record):
            if value is True:
                return ' t="b"><v>1</v>'
            if value is False:
                return ' t="b"><v>0</v>'
            return None if value is None else _string_cell(value, transform)
        return cell
    if _rendered(column):
        def cell(value, record):
            return _string_cell(render(value, record), transform)
        return cell

    def cell(value, _record):
        return None if value is None else _string_cell(value, transform)
    return cell


def _string_cell(value: Any, transform) -> str | None:
    """A text cell's XML (after its reference), or None for an empty text."""
    text = _text(value, transform)
    if not text:
        return None
    if _NOT_PLAIN(text) is None and "_x" not in text and text[0] != " " != text[-1]:
        return f' t="inlineStr"><is><t>{text}</t></is>'
    if _XML_SPECIAL.search(text) is not None:
        text = _xml_escape(text)
    if text[0] in _XML_SPACE or text[-1] in _XML_SPACE:
        return f' t="inlineStr"><is><t xml:space="preserve">{text}</t></is>'
    return f' t="inlineStr"><is><t>{text}</t></is>'


# What XML text cannot hold as it is, and Excel's ``_xHHHH_`` escapes (a text that holds one
# literally gets its ``_`` escaped: ``_x005F_x0001_``), as xlsxwriter writes them.
_XML_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_")
_EXCEL_ESCAPE = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]")
# A text written as it is has none of these, no "_x" and no space at either end (a regular
# expression with those alternatives takes three times as long).
_NOT_PLAIN = re.compile(r"[&<>\x00-\x1f\ufffe\uffff]").search
_XML_SPACE = " \t\n\r"  # kept at either end only with xml:space="preserve"
_CELL_PLAIN = CELL_CHARS // 2  # a str this long or shorter is never beyond a cell


def _xml_escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _EXCEL_ESCAPE.sub(r"_x005F\1", text)
    return _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def _unit_style(column: Column, formats: _Formats) -> Callable[[dict], str]:
    """The style attribute of a number column's cell for a record (its unit)."""
    unit_of = _unit_reader(column)
    unit_style = formats.unit_style
    return lambda record: unit_style(unit_of(record))


def _unit_reader(column: Column) -> Callable[[Any], Any]:
    """The unit the window shows beside this number column's value (from the record)."""
    name = column.name
    if name in ("volume", "rx", "tx"):
        def unit(record):
            traffic = record.get("traffic_type")
            return "SMS" if type(traffic) is dict and traffic.get("id") == 6 else "MB"
        return unit
    if name == "cost":
        def unit(record):
            currency = record.get("currency")
            return currency.get("code") if type(currency) is dict else None
        return unit
    return lambda _record: None


def _text(value: Any, transform) -> str:
    text = value if type(value) is str else text_of(value)
    if transform is not None:
        text = transform(text)
    return cell_string(text)


_LONE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _record_of(text: str) -> dict:
    """A record's text read as the app reads it (:func:`parse_record`), a lone surrogate as
    U+FFFD; {} for a record that is not an object."""
    try:
        record = parse_record(text)
    except ValueError:
        return {}
    if type(record) is not dict:
        return {}
    if "\\u" in text and _LONE_ESCAPE.search(text):
        return _without_lone_surrogates(record)
    return record


def _without_lone_surrogates(value: Any) -> Any:
    """A parsed record with every lone surrogate (a ``\\ud800`` escape) as U+FFFD, keys too."""
    kind = type(value)
    if kind is str:
        return replace_lone_surrogates(value)
    if kind is dict:
        return {replace_lone_surrogates(k): _without_lone_surrogates(v)
                for k, v in value.items()}
    if kind is list:
        return [_without_lone_surrogates(v) for v in value]
    return value


def _headers(tab: Tab) -> list[tuple[str, int]]:
    """A record sheet's column titles and widths."""
    return [*((f.title, f.width) for f in _RECORD_FIXED),
            *((_title(c), c.width) for c in _tab_columns(tab))]


class _RecordTable:
    """One record table's sheets, and its rows built from parsed records."""

    def __init__(self, book, formats: _Formats, tab: Tab, sheet_rows: int, transform):
        self.key = tab.key
        self.sheets = _Sheets(book, formats, tab.title, _headers(tab), sheet_rows)
        self.rows = _RowBuilder(tab, formats, transform)

    def add(self, row, record: dict) -> None:
        r = self.sheets.next_row()
        self.sheets.sheet.add_row(r, self.rows.cells(r + 1, row.id, row.request_id, record))


class _RowBuilder:
    """A record table's rows as the XML of their cells (no workbook needed: the workers of a
    parallel export build rows too). ``styles`` gives the cells' style attributes."""

    def __init__(self, tab: Tab, styles, transform):
        columns = _tab_columns(tab)
        self.columns = columns
        self.cells_of = [_cell_writer(c, styles, transform) for c in columns]
        self.own_id = _cell_writer(RECORD_ID, styles, transform)
        self.letters = [xl_col_to_name(n) for n in range(len(_headers(tab)))]
        self.whole = styles.whole_style
        self.time_style = styles.time_style
        self.unit_styles = [_unit_style(c, styles) for c in columns]
        self.build = self._compile(transform is None)

    def cells(self, n: int, record_id: int, request_id: int, record: dict) -> str:
        """Row ``n`` (1-based) of a record: its cells' XML."""
        try:
            return self.build(n, record_id, request_id, record)
        except AttributeError:  # an unexpected type on a path: the careful way
            return self._build(n, record_id, request_id, record)

    def _build(self, n: int, record_id: int, request_id: int, record: dict) -> str:
        """A row's cells, each value read by its column (whatever the types on its path)."""
        values = [record.get("id"), *(c.value(record) for c in self.columns)]
        parts = [f'<c r="A{n}"{self.whole}><v>{record_id}</v></c>'
                 f'<c r="B{n}"{self.whole}><v>{request_id}</v></c>']
        for letter, cell, value in zip(self.letters[2:], [self.own_id, *self.cells_of], values,
                                       strict=True):
            if (value is not None or cell.rendered) and (xml := cell(value, record)) is not None:
                parts.append(f'<c r="{letter}{n}"{xml}</c>')
        return "".join(parts)

    def _compile(self, plain: bool) -> Callable[[int, int, int, dict], str]:
        """:meth:`_build` as one function of straight-line code for this table's columns (a
        million records, a dozen cells each): a text that needs no escaping (most cells) is
        written in place, anything else by its column's writer. ``plain``: no transform."""
        whole = self.whole
        lines = ["def build(n, record_id, request_id, r):",
                 f"    p = [f'<c r=\"A{{n}}\"{whole}><v>{{record_id}}</v></c>"
                 f"<c r=\"B{{n}}\"{whole}><v>{{request_id}}</v></c>']",
                 "    a = p.append"]
        scope: dict[str, Any] = {"E": _EMPTY, "Q": _NOT_PLAIN, "L": _CELL_PLAIN,
                                 "T": excel_time, "F": math.isfinite}
        columns = [RECORD_ID, *self.columns]
        for n, (column, cell) in enumerate(zip(columns, [self.own_id, *self.cells_of],
                                               strict=True)):
            letter = self.letters[2 + n]
            scope[f"W{n}"] = cell
            lines.append(f"    v = {value_expr(column)}")
            # a rendered column reads the record, whatever its own value
            lines.append("    if True:" if _rendered(column) else "    if v is not None:")
            ref = f'<c r="{letter}{{n}}"'
            other = (f"(x := W{n}(v, r)) is not None:\n"
                     f"            a(f'{ref}{{x}}</c>')")
            if plain and column.kind == "text" and column.render is None:
                inline = f"a(f'{ref} t=\"inlineStr\"><is><t>{{v}}</t></is></c>')"
                lines += [
                    "        if v.__class__ is str and 0 < len(v) <= L and Q(v) is None \\",
                    "                and '_x' not in v and v[0] != ' ' != v[-1]:",
                    f"            {inline}",
                    "        elif v.__class__ is int:",
                    f"            {inline}",
                    f"        elif {other}",
                ]
            elif column.kind == "time":
                lines += [
                    "        if v.__class__ is str and (s := T(v)) is not None:",
                    f"            a(f'{ref}{self.time_style}><v>{{s!r}}</v></c>')",
                    f"        elif {other}",
                ]
            elif column.kind == "number":
                scope[f"U{n}"] = self.unit_styles[n - 1]
                lines += [
                    "        if v.__class__ is float and F(v):",
                    f"            a(f'{ref}{{U{n}(r)}}><v>{{v!r}}</v></c>')",
                    f"        elif {other}",
                ]
            else:
                lines.append(f"        if {other}")
        lines.append("    return ''.join(p)")
        self.source = "\n".join(lines)
        exec(self.source, scope)  # our own code, from the column table
        return scope["build"]


_EMPTY: dict = {}


_TAB_OF = {family: tab for tab in RECORD_TABS for family in tab.families}


# --- requests ---------------------------------------------------------------------------------

_COUNT_TABS = tuple((tab.title, tab.families) for tab in RECORD_TABS)
_REQUEST_HEADERS = (
    ("Request", 70), ("Received (UTC)", 170), ("Peer", 120), ("Method", 65),
    ("Target", 200), ("Status", 60), ("Reason", 160), ("Answer rule", 110),
    ("Acknowledged", 95), ("Auth", 65), ("User", 100), ("Records", 70),
    *((title, 70) for title, _ in _COUNT_TABS),
    ("Size (bytes)", 90), ("Duration (ms)", 95), ("Content type", 140),
    ("Content encoding", 120), ("Source", 80), ("Endpoint", 190), ("Problems", 420),
)


def _request_cells(q: RequestRow) -> list[tuple[str, Any]]:
    """One request as (how, value) cells: n number, t time, b bool, s text from the wire (the
    transform applies), o our own text."""
    target = q.target if q.target is not None else q.path + (f"?{q.query}" if q.query else "")
    counts = [sum(q.counts.get(f, 0) for f in families) for _, families in _COUNT_TABS]
    return [
        ("n", q.id), ("t", q.received_at), ("s", q.peer), ("o", q.method), ("s", target),
        ("n", q.status), ("o", q.reason), ("o", q.rule), ("b", q.acked), ("o", q.auth),
        ("s", q.auth_user), ("n", q.record_count), *(("n", n) for n in counts),
        ("n", q.body_size if q.body_size is not None else len(q.body)),
        ("n", q.duration_ms), ("s", q.content_type), ("s", q.content_encoding),
        ("o", q.source), ("o", q.endpoint), ("s", "; ".join(q.problems)),
    ]


def _write_requests(book, formats: _Formats, rows: Iterable[RequestRow], sheet_rows: int,
                    transform) -> None:
    sheets = _Sheets(book, formats, "Requests", list(_REQUEST_HEADERS), sheet_rows)
    for q in rows:
        r = sheets.next_row()
        sheet = sheets.sheet
        for col, (how, value) in enumerate(_request_cells(q)):
            if value is None or value == "":
                continue
            if how == "n":
                number = exact_number(value)
                if number is not None:
                    sheet.write_number(r, col, number)
                else:
                    sheet.write_string(r, col, _text(value, None))
            elif how == "t":
                serial = excel_time(value)
                if serial is not None:
                    sheet.write_number(r, col, serial, formats.time)
                else:
                    sheet.write_string(r, col, _text(value, transform))
            elif how == "b":
                sheet.write_boolean(r, col, bool(value))
            else:
                sheet.write_string(r, col, _text(value, transform if how == "s" else None))
    sheets.finish()


# --- the workbook -----------------------------------------------------------------------------


def write_xlsx(source: RowSource, out: BinaryIO, options: ExportOptions, *,
               sheet_rows: int = SHEET_ROWS, workers: int = 1) -> int:
    """The records of ``source`` as a workbook on ``out`` (a seekable binary file); returns
    how many records were written.

    One sheet per record table present, in the window's order (the families are read in a
    first pass unless ``options.families`` names them; from a one-shot iterator, as they
    come), continued on ``Title (2)`` after ``sheet_rows`` rows (header included); then the
    Requests sheet, when ``options.requests`` is set: it is called with the ids of the
    requests the records came in and returns the request rows to list.

    ``workers`` > 1 builds the rows in that many processes (this one reads the records and
    writes the rows, in order): for a large export, with no transform or masking (whose
    key the workers are given); any other transform builds them here.
    """
    transform = options.transform
    json_safe = getattr(transform, "json_safe", False)
    cell_transform = None if json_safe else transform
    parallel = workers > 1 and (transform is None or hasattr(transform, "mask_key"))
    book = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_numbers": False,
                                     "strings_to_formulas": False, "strings_to_urls": False})
    try:
        formats = _Formats(book)
        tables: dict[str, _RecordTable] = {}

        def table_of(tab: Tab) -> _RecordTable:
            table = tables.get(tab.key)
            if table is None:
                table = tables[tab.key] = _RecordTable(book, formats, tab, sheet_rows,
                                                       cell_transform)
            return table

        families = options.families
        if families is None and (callable(source) or iter(source) is not source):
            families = {row.family for row in rows_of(source)}  # the sheets in a fixed order
        if families is not None:
            for tab in RECORD_TABS:
                if not families.isdisjoint(tab.families):
                    table_of(tab)
        by_family: dict[str, _RecordTable] = {}

        def table_for(family: str) -> _RecordTable:
            table = by_family.get(family)
            if table is None:
                table = by_family[family] = table_of(_TAB_OF.get(family, RECORD_TABS[-1]))
            return table

        request_ids: set[int] = set()
        if parallel:
            count = _fill_in_parallel(rows_of(source), table_for, formats, workers,
                                      getattr(transform, "mask_key", None), request_ids)
        else:
            count = 0
            for row in rows_of(source):
                record = _record_of(transform(row.text) if json_safe else row.text)
                table_for(row.family).add(row, record)
                request_ids.add(row.request_id)
                count += 1
        if not tables:  # nothing to export: still a workbook a spreadsheet opens
            table_of(RECORD_TABS[0])
        for table in tables.values():
            table.sheets.finish()
        if options.requests is not None:
            _write_requests(book, formats, options.requests(request_ids), sheet_rows, transform)
    finally:
        with _fast_deflate():
            book.close()
    return count


@contextmanager
def _fast_deflate():
    """xlsxwriter zips the workbook at zlib's default level (6) and has no option for it;
    while it closes, its ZipFile gets level 1: the same workbook, about a quarter larger, in a
    third of the time (a million records: 13 s of 75 s of CPU went to level 6)."""
    module = xlsxwriter.workbook
    original = getattr(module, "ZipFile", None)
    if original is None:  # another xlsxwriter: its own way
        yield
        return
    module.ZipFile = functools.partial(original, compresslevel=1)
    try:
        yield
    finally:
        module.ZipFile = original


# --- rows built in parallel -------------------------------------------------------------------

PARALLEL_FROM = 100_000  # records: ``export`` builds rows in WORKERS processes from here on
WORKERS = 2
_CHUNK = 2000  # records a worker builds at a time
_UNIT_MARK = "\x01"  # never in a row's XML otherwise (a control character is escaped)


class _WorkerStyles:
    """A worker's cell styles: the workbook's, and for a unit the workbook has no format for
    yet, a mark (`` s="\\x01EUR\\x01"``) the parent replaces once it has made the format."""

    def __init__(self, time_style: str, whole_style: str, units: dict[str, str]):
        self.time_style = time_style
        self.whole_style = whole_style
        self.units = units
        self.marked: set[str] = set()

    def unit_style(self, unit: Any) -> str:
        if type(unit) is not str:
            return ""
        style = self.units.get(unit)
        if style is not None:
            return style
        if not _UNIT.fullmatch(unit):
            return ""
        self.marked.add(unit)
        return f' s="{_UNIT_MARK}{unit}{_UNIT_MARK}"'


_WORKER: dict[str, Any] = {}


def _init_worker(styles: tuple, mask_key: bytes | None) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides about cancelling
    transform = None
    if mask_key is not None:
        from app.export.masking import Masker, mask_transform

        transform = mask_transform(Masker(mask_key))
    worker_styles = _WorkerStyles(*styles)
    _WORKER.update(transform=transform, styles=worker_styles,
                   builders={tab.key: _RowBuilder(tab, worker_styles, None)
                             for tab in RECORD_TABS})


def _build_rows(chunk: list[tuple]) -> tuple[list[str], set[str]]:
    """(table key, row number, record id, request id, record text) a row: each row's cells'
    XML, and the units marked in them."""
    styles: _WorkerStyles = _WORKER["styles"]
    styles.marked = set()
    transform = _WORKER["transform"]
    builders = _WORKER["builders"]
    rows = [builders[key].cells(n, record_id, request_id,
                                _record_of(transform(text) if transform else text))
            for key, n, record_id, request_id, text in chunk]
    return rows, styles.marked


def _fill_in_parallel(rows: Iterable, table_for: Callable[[str], _RecordTable],
                      formats: _Formats, workers: int, mask_key: bytes | None,
                      request_ids: set[int]) -> int:
    """The record rows built by ``workers`` processes, :data:`_CHUNK` records at a time, and
    written here in order (each row's sheet and number chosen as the records are read)."""
    import multiprocessing
    from collections import deque

    styles = (formats.time_style, formats.whole_style,
              {unit: formats.unit_style(unit) for unit in ("MB", "SMS")})
    context = multiprocessing.get_context("spawn")
    pending: deque = deque()

    def write(limit: int) -> None:
        while len(pending) > limit:
            result, places = pending.popleft()
            built, marked = result.get()
            marks = [(f' s="{_UNIT_MARK}{u}{_UNIT_MARK}"', formats.unit_style(u))
                     for u in marked]
            for (sheet, r), xml in zip(places, built, strict=True):
                for mark, style in marks:
                    xml = xml.replace(mark, style)
                sheet.add_row(r, xml)

    count = 0
    with context.Pool(workers, initializer=_init_worker, initargs=(styles, mask_key)) as pool:
        chunk: list[tuple] = []
        places: list[tuple] = []
        for row in rows:
            table = table_for(row.family)
            sheets = table.sheets
            r = sheets.next_row()
            chunk.append((table.key, r + 1, row.id, row.request_id, row.text))
            places.append((sheets.sheet, r))
            request_ids.add(row.request_id)
            count += 1
            if len(chunk) == _CHUNK:
                pending.append((pool.apply_async(_build_rows, (chunk,)), places))
                chunk, places = [], []
                write(2 * workers)
        if chunk:
            pending.append((pool.apply_async(_build_rows, (chunk,)), places))
        write(0)
    return count
