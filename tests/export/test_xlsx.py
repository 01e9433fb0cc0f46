"""XLSX export: records through one real receiver (real TLS, real client), the workbook read
back with openpyxl.

Every record cell is checked against the stored record as the app reads it: identifiers are
text equal to the original (never a number, never a lost zero), volumes and costs numbers,
times date cells in UTC; plus the sheets, frozen header, autofilter, widths, the Requests
sheet, masking, the hostile corpus, the sheet split and the Export dialog.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
import ssl
import time
import urllib.error
import urllib.request
import zipfile

import openpyxl
import pytest

from app.capture.schema import open_reader
from app.cli import main as cli
from app.display import scalar_text
from app.export.common import ExportOptions, RecordRow
from app.export.registry import export
from app.export.xlsxfile import TIME_FORMAT, cell_string, write_xlsx
from app.records.columns import RECORD_TABS
from app.records.shape import JsonFloat, parse_record, replace_lone_surrogates
from tests.conftest import folded, start_receiver
from tests.hostile import BIG_ID, IDENTIFIERS, RECORDS, hostile_body

AUTH = "Basic " + base64.b64encode(b"streamer:test-password").decode()
ICCID = "89882280666056800001"  # 20 digits: a spreadsheet shows 8.98822806660568E+19
IMEI = "012345678901234"  # a leading zero
BEYOND_DOUBLE = 2**53 + 1  # a 1NCE id (int64) no double holds

PLAIN = [
    {"id": BEYOND_DOUBLE, "timestamp": "2024-12-13T12:49:57.123Z",
     "event_type": {"id": 3, "description": "Create PDP Context"},
     "event_severity": {"id": 0, "description": "INFO"}, "alert": False,
     "description": '=HYPERLINK("http://x")', "sim": {"iccid": ICCID, "msisdn": "0049170"},
     "imsi": {"imsi": "001010000000001"}, "endpoint": {"name": "_x0041_", "imei": IMEI},
     "detail": {"name": "T-Mobile", "country": {"name": "Germany", "mcc": "262"},
                "pdp_context": {"mcc": "262", "mnc": "01"}}},
    {"id": 7, "timestamp": "2024-12-13T14:49:57+02:00", "alert": True,
     "event_type": {"id": 1, "description": "Update location"},
     "sim": {"iccid": 89882280666056800002}, "endpoint": {"imei": 12345678901234567890}},
    {"id": 8, "timestamp": 1734094197123, "event_type": {"id": 1}},
    {"id": 9, "timestamp": "yesterday", "event_type": {"id": 1}},
    {"id": 5001, "start_timestamp": "2024-12-13T12:00:00Z",
     "end_timestamp": "2024-12-13T12:49:57Z", "imsi": "901405100067890",
     "traffic_type": {"id": 5, "description": "Data"},
     "volume": {"total": 0.001176, "rx": 0.001, "tx": 0.000176}, "cost": 1.5,
     "currency": {"id": 1, "code": "EUR"}, "sim": {"iccid": ICCID},
     "operator": {"name": "T-Mobile", "mnc": "01", "country": {"name": "Germany", "mcc": "262"}},
     "tariff": {"ratezone": {"name": "Rate Zone 2 (EU - DE)"}}},
    {"id": 5002, "start_timestamp": "2024-12-13T12:00:00Z", "imsi": "901405100067890",
     "traffic_type": {"id": 6, "description": "SMS"}, "volume": {"total": 1, "rx": 0, "tx": 1},
     "cost": "1.0"},
    {"id": 6001, "payload": "SGVsbG8=", "source_address": "0049170", "dest_address": "012",
     "submit_date": "2024-12-13T12:49:57Z", "dcs": 0, "pid": 0},
    {"id": 6002, "submit_date": "2024-12-13T12:49:50Z", "final_date": "2024-12-13T12:49:57Z",
     "status": {"status": "DELIVERED", "id": 4}, "detail": {"sms": {"id": "000123"}},
     "endpoint": {"name": "tracker"}},
    {"id": "0042", "kind": "not a family"},
]


def _post(rec, body: bytes, auth: str | None = AUTH) -> int:
    ctx = ssl.create_default_context(cafile=rec.ca_file)
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = auth
    request = urllib.request.Request(rec.url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> dict:
    """The capture after one real receiver took: plain records (1), the hostile corpus (2), a
    request without credentials (3: 401) and a body that is not UTF-8 (4: 400)."""
    base = tmp_path_factory.mktemp("xlsx")
    env = dict(__import__("os").environ)
    env.update({"XDG_CONFIG_HOME": str(base / "config"), "XDG_DATA_HOME": str(base / "data"),
                "XDG_STATE_HOME": str(base / "state"), "XDG_CACHE_HOME": str(base / "cache"),
                "XDG_RUNTIME_DIR": str(base / "run")})
    rec = start_receiver(base, env=env)
    try:
        statuses = [_post(rec, json.dumps(PLAIN).encode()), _post(rec, hostile_body()),
                    _post(rec, b"[]", auth=None), _post(rec, b'[{"x":"M\xfcnchen"}]')]
        deadline = time.monotonic() + 20
        while True:  # the ledger and index come after the answers: wait for them
            db = open_reader(folded(rec.capture))
            n = db.execute("SELECT count(*) FROM record_index").fetchone()[0]
            db.close()
            if n == len(PLAIN) + len(RECORDS) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        rec.stop()
    assert statuses == [200, 200, 401, 400]
    return {"capture": rec.capture, "dir": base}


@pytest.fixture
def db(stored):
    conn = open_reader(stored["capture"])
    yield conn
    conn.close()


def workbook(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def run(db, **selection) -> tuple[int, bytes]:
    out = io.BytesIO()
    count = export(db, "xlsx", out, **selection)
    return count, out.getvalue()


def rows_of(sheet) -> list[dict]:
    header = [c.value for c in sheet[1]]
    return [dict(zip(header, row, strict=True))
            for row in sheet.iter_rows(min_row=2, values_only=True)]


_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def unescaped(text):
    """A cell as Excel and LibreOffice show it: OOXML's ``_xHHHH_`` escapes (characters XML
    cannot hold; ``_x005F_`` a literal ``_``) decoded, which openpyxl leaves as they are."""
    if not isinstance(text, str):
        return text
    return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def utc(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def expected_cell(column, record: dict):
    """What the workbook must hold for ``column`` of a record, from the app's own reading."""
    value = column.value(record)
    if column.render is not None and column.kind == "text":
        text = replace_lone_surrogates(column.render(value, record))
        return text or None
    if value is None:
        return None
    if column.kind == "time":
        try:
            if isinstance(value, str):
                return utc(value)
            if type(value) is int:
                return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=value)
        except ValueError:
            pass  # not a time the export reads: then it is written as text, as expected below
        return scalar_text(value)
    if column.kind == "number" and type(value) in (int, float) and abs(value) <= 2**53:
        return value
    if column.kind == "bool" and isinstance(value, bool):
        return value
    return replace_lone_surrogates(scalar_text(value)) or None


def columns_of(tab):
    from app.export.xlsxfile import _tab_columns

    return _tab_columns(tab)


def check_every_cell(db, book) -> int:
    """Every record row of every record sheet equals the stored record, cell by cell."""
    stored = {rid: (qid, text) for rid, qid, text in
              db.execute("SELECT id, request_id, json FROM record")}
    seen = 0
    for tab in RECORD_TABS:
        for sheet in book.worksheets:
            if sheet.title != tab.title and not sheet.title.startswith(f"{tab.title} ("):
                continue
            for row in rows_of(sheet):
                request_id, text = stored[row["Record"]]
                assert row["Request"] == request_id
                record = parse_record(text)
                record = record if isinstance(record, dict) else {}
                own = record.get("id")
                assert unescaped(row["Id"]) == (None if own is None else scalar_text(own))
                for column in columns_of(tab):
                    title = f"{column.title} (UTC)" if column.kind == "time" else column.title
                    got, want = unescaped(row[title]), expected_cell(column, record)
                    if isinstance(want, str) and len(want) > 32767:
                        assert got.startswith(want[:32000]) and "cut: a cell holds" in got
                        continue
                    if isinstance(want, dt.datetime):  # Excel keeps milliseconds, not µs
                        assert abs(got - want) < dt.timedelta(milliseconds=1), (title, got)
                        continue
                    assert got == want, (tab.title, title, got, want)
                    assert type(got) is type(want), (title, got, want)
                seen += 1
    return seen


# -- layout -----------------------------------------------------------------------------------


def test_a_sheet_per_table_then_the_requests_frozen_filtered_and_sized(db):
    count, data = run(db)
    book = workbook(data)
    assert book.sheetnames == ["Events", "Usage", "SMS", "Other", "Requests"]
    assert count == len(PLAIN) + len(RECORDS)
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, sheet.max_column).column_letter}" \
                                        f"{max(sheet.max_row, 2)}"
        assert all(c.font.b for c in sheet[1])
    events = book["Events"]
    assert [c.value for c in events[1]][:5] == ["Record", "Request", "Id", "Time (UTC)",
                                                "Event type"]
    assert [c.value for c in events[1]][13:15] == ["MCC", "MNC"]
    widths = {c.value: events.column_dimensions[c.column_letter].width for c in events[1]}
    assert widths["Description"] > widths["ICCID"] > widths["Severity"]  # fixed, per field
    usage = [c.value for c in book["Usage"][1]]
    assert usage[:5] == ["Record", "Request", "Id", "Start (UTC)", "End (UTC)"]
    assert {"Volume", "Cost", "MCC", "MNC", "Rate zone"} <= set(usage)


def test_every_record_cell_equals_the_stored_record(db):
    _, data = run(db)
    assert check_every_cell(db, workbook(data)) == len(PLAIN) + len(RECORDS)


# -- cell types -------------------------------------------------------------------------------


def test_identifiers_are_text_as_sent(db):
    book = workbook(run(db)[1])
    events = {r["Id"]: r for r in rows_of(book["Events"])}
    first = events[str(BEYOND_DOUBLE)]  # an id no double holds: exact text
    assert (first["ICCID"], first["IMEI"], first["MSISDN"], first["IMSI"]) == (
        ICCID, IMEI, "0049170", "001010000000001")
    assert (first["MCC"], first["MNC"]) == ("262", "01")
    assert first["Description"] == '=HYPERLINK("http://x")'  # text, never a formula
    assert unescaped(first["Endpoint"]) == "_x0041_"  # a literal escape stays literal
    numeric = events["7"]  # identifiers sent as JSON numbers are text of their digits
    assert (numeric["ICCID"], numeric["IMEI"]) == ("89882280666056800002",
                                                   "12345678901234567890")
    usage = {r["Id"]: r for r in rows_of(book["Usage"])}
    assert (usage["5001"]["MNC"], usage["5001"]["MCC"]) == ("01", "262")
    sms = {r["Id"]: r for r in rows_of(book["SMS"])}
    assert (sms["6001"]["From"], sms["6001"]["To"], sms["6002"]["SMS id"]) == (
        "0049170", "012", "000123")
    assert rows_of(book["Other"])[0]["Id"] == "0042"
    with zipfile.ZipFile(io.BytesIO(run(db)[1])) as z:  # no identifier as a number cell
        sheets = b"".join(z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert f"<v>{ICCID}</v>".encode() not in sheets
    assert f"<t>{ICCID}</t>".encode() in sheets


def test_volumes_and_costs_are_numbers_with_their_unit_big_ones_text(db):
    book = workbook(run(db)[1])
    sheet = book["Usage"]
    header = [c.value for c in sheet[1]]
    cells = {sheet.cell(r, 3).value: {h: sheet.cell(r, n + 1) for n, h in enumerate(header)}
             for r in range(2, sheet.max_row + 1)}
    data = cells["5001"]
    assert (data["Volume"].value, data["Rx"].value, data["Tx"].value) == (0.001176, 0.001,
                                                                          0.000176)
    assert data["Volume"].number_format == 'General" MB"'
    assert (data["Cost"].value, data["Cost"].number_format) == (1.5, 'General" EUR"')
    sms = cells["5002"]
    assert (sms["Volume"].value, sms["Volume"].number_format) == (1, 'General" SMS"')
    assert sms["Cost"].value == "1.0"  # a cost sent as a string: text, as sent
    # beyond a double: text, as the record spells it (a number cell would hold infinity)
    assert isinstance(parse_record(RECORDS["huge_numbers"])["volume"]["total"], JsonFloat)
    huge = cells["5002"] if cells["5002"]["Volume"].value == "1e400" else next(
        c for c in cells.values() if c["Volume"].value == "1e400")
    assert (huge["Volume"].value, huge["Rx"].value) == ("1e400", "-1e400")


def test_times_are_utc_date_cells_with_milliseconds_or_text(db):
    book = workbook(run(db)[1])
    sheet = book["Events"]
    cells = {sheet.cell(r, 3).value: sheet.cell(r, 4) for r in range(2, sheet.max_row + 1)}
    first = cells[str(BEYOND_DOUBLE)]
    assert first.is_date and first.number_format == TIME_FORMAT
    assert abs(first.value - dt.datetime(2024, 12, 13, 12, 49, 57, 123000)) < dt.timedelta(
        microseconds=500)
    assert cells["7"].value == dt.datetime(2024, 12, 13, 12, 49, 57)  # +02:00, as UTC
    assert abs(cells["8"].value - dt.datetime(2024, 12, 13, 12, 49, 57, 123000)) < \
        dt.timedelta(microseconds=500)  # epoch milliseconds, as summary reads them
    assert cells["9"].value == "yesterday" and not cells["9"].is_date
    received = book["Requests"].cell(2, 2)
    assert received.is_date and received.number_format == TIME_FORMAT


# -- requests ---------------------------------------------------------------------------------


def test_the_requests_sheet_lists_all_requests_or_those_of_the_records(db):
    book = workbook(run(db)[1])
    requests = rows_of(book["Requests"])
    assert [(r["Request"], r["Status"], r["Auth"]) for r in requests] == [
        (1, 200, "ok"), (2, 200, "ok"), (3, 401, "missing"), (4, 400, "ok")]
    assert requests[0]["Records"] == len(PLAIN)
    assert (requests[0]["Events"], requests[0]["Usage"], requests[0]["SMS"],
            requests[0]["Other"]) == (4, 2, 2, 1)
    assert requests[0]["Method"] == "POST" and requests[0]["Acknowledged"] is True
    assert requests[2]["Acknowledged"] is False and requests[2]["Records"] == 0
    # a filtered export: the requests its records came in
    count, data = run(db, filter_text="family == usage and id == 5001")
    book = workbook(data)
    assert count == 1 and book.sheetnames == ["Usage", "Requests"]
    assert [r["Request"] for r in rows_of(book["Requests"])] == [1]
    # nothing chosen: still a workbook, its header rows only
    count, data = run(db, ids=[])
    book = workbook(data)
    assert count == 0 and book.sheetnames == ["Events", "Requests"]
    assert book["Events"].max_row == 1 and book["Requests"].max_row == 1


def test_the_command_exports_the_chosen_requests_with_their_records(stored, tmp_path, capsys):
    ids = tmp_path / "requests.txt"
    ids.write_text("3\n1\n")
    out = tmp_path / "chosen.xlsx"
    assert cli.main(["export", str(stored["capture"]), "--format", "xlsx", "-o", str(out),
                     "--request-ids-file", str(ids)]) == 0
    assert f"exported {len(PLAIN)} records" in capsys.readouterr().out
    book = openpyxl.load_workbook(out)
    assert [r["Request"] for r in rows_of(book["Requests"])] == [1, 3]
    assert {r["Request"] for s in ("Events", "Usage", "SMS", "Other")
            for r in rows_of(book[s])} == {1}


# -- masking ----------------------------------------------------------------------------------


def test_masking_reaches_every_cell(stored, tmp_path, capsys):
    out = tmp_path / "masked.xlsx"
    assert cli.main(["export", str(stored["capture"]), "--format", "xlsx", "-o", str(out),
                     "--mask"]) == 0
    capsys.readouterr()
    with zipfile.ZipFile(out) as z:
        everything = b"".join(z.read(n) for n in z.namelist())
    for value in [*IDENTIFIERS, ICCID, "0049170", "001010000000001"]:
        assert value.encode() not in everything, value
    book = openpyxl.load_workbook(out)
    events = rows_of(book["Events"])
    masked = events[0]
    assert masked["Record"] == 1  # PLAIN[0]
    assert isinstance(masked["ICCID"], str) and masked["ICCID"] != ICCID
    assert masked["Event type"] == "Create PDP Context"  # not an identifier: kept
    assert any(r["Peer"] for r in rows_of(book["Requests"]))


# -- hostile records --------------------------------------------------------------------------


def test_the_hostile_corpus_exports_and_reads_back(db):
    book = workbook(run(db)[1])
    events = {r["Record"]: r for r in rows_of(book["Events"])}
    first = len(PLAIN) + 1  # the corpus is the second request
    names = list(RECORDS)

    def row(name):
        return events[first + names.index(name)]

    assert "\ufffd" in row("surrogate_value")["Description"]  # U+FFFD, as CSV writes it
    assert unescaped(row("control_chars")["Description"]) == (
        "nul \x00 bell \x07 colour \x1b[31mred\x1b[0m tab\t newline\n end")
    assert row("rtl")["Description"] == "שלום \u202eevil.exe\u202c مرحبا — RTL override"
    assert row("duplicate_id")["Id"] == "1"  # a duplicate key's first value
    assert row("duplicate_event_type")["Event type"] == "Update location"
    assert row("uint64_max")["Id"] == "18446744073709551615"
    big = len(row("one_mb")["Description"])
    assert 32000 < big <= 32767
    rockets = cell_string("🚀" * 20_000)  # two UTF-16 units each: Excel counts units
    assert 32000 < len(rockets.encode("utf-16-le")) // 2 <= 32767
    assert rockets.startswith("🚀" * 16000) and rockets.endswith("has it whole]")
    others = {r["Record"]: r for r in rows_of(book["Other"])}
    assert others[first + names.index("big_id")]["Id"] == str(BIG_ID)


# -- the row limit ----------------------------------------------------------------------------


def test_a_full_sheet_goes_on_in_the_next(tmp_path):
    def event(n):
        return json.dumps({"id": n, "timestamp": "2024-12-13T12:49:57Z",
                           "sim": {"iccid": f"8988228066605680{n:04d}"}})
    rows = [RecordRow(n, 1, "event", event(n)) for n in range(1, 8)]
    rows.insert(3, RecordRow(100, 2, "usage", json.dumps({"id": 5, "imsi": "001"})))
    out = io.BytesIO()
    assert write_xlsx(rows, out, ExportOptions(), sheet_rows=4) == 8  # header + 3 rows
    book = workbook(out.getvalue())
    assert book.sheetnames == ["Events", "Usage", "Events (2)", "Events (3)"]
    got = {name: [r["Record"] for r in rows_of(book[name])] for name in book.sheetnames}
    assert got == {"Events": [1, 2, 3], "Usage": [100], "Events (2)": [4, 5, 6],
                   "Events (3)": [7]}
    assert [r["ICCID"] for r in rows_of(book["Events (2)"])] == [
        "89882280666056800004", "89882280666056800005", "89882280666056800006"]
    for name in book.sheetnames:
        sheet = book[name]
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref.startswith("A1:")
        assert sheet.cell(1, 1).value == "Record"


# -- the window -------------------------------------------------------------------------------


def test_the_export_dialog_offers_xlsx_with_its_options(qtbot, stored, tmp_path):
    from app.ui.transfer import ExportDialog

    dialog = ExportDialog(stored["capture"], {"All records of the capture": []}, True)
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(dialog.format.findData("xlsx"))
    assert dialog.target.text().endswith(".xlsx")
    assert dialog.csv_row.isHidden() and dialog.strict.isHidden()
    assert not dialog.mask.isHidden() and dialog.mask.isChecked()
    target = tmp_path / "from-the-window.xlsx"
    dialog.target.setText(str(target))
    assert dialog.arguments()[2:4] == ["--format", "xlsx"] and "--mask" in dialog.arguments()
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.state.text().startswith("Exported"), timeout=60_000)
    qtbot.waitUntil(dialog.export_button.isEnabled, timeout=60_000)  # the child has ended
    book = openpyxl.load_workbook(target)
    assert book.sheetnames == ["Events", "Usage", "SMS", "Other", "Requests"]
    assert ICCID not in {r["ICCID"] for r in rows_of(book["Events"])}  # masked
    dialog.close()


def test_a_workbook_is_written_in_constant_memory(tmp_path):
    """A workbook streams: memory does not grow with the records (xlsxwriter's
    constant_memory mode and our row writer)."""
    import tracemalloc

    def rows(n):
        for i in range(1, n + 1):
            yield RecordRow(i, 1, "event", json.dumps(PLAIN[0]))

    peaks = []
    for n in (1000, 4000):  # (the peaks differ by < 5 %; a leak of ~80 bytes a row fails it,
        tracemalloc.start()  # as 2,000 and 8,000 rows under 1.5 did, in half the time)
        with (tmp_path / f"{n}.xlsx").open("wb") as out:
            write_xlsx(rows(n), out, ExportOptions(families=frozenset({"event"})))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < peaks[0] * 1.25, peaks


@pytest.mark.parametrize("mask", [False, True])
def test_rows_built_in_worker_processes_are_the_same(db, stored, mask):
    """A large export builds its rows in two processes (``workers``): the same workbook,
    masked with the same pseudonyms, a unit the workers had no format for included (EUR)."""
    from app.config import Settings
    from app.export.masking import masker_for
    from app.export.rows import record_rows, request_rows
    from app.export.transfer import mask_transform

    books = []
    for workers in (1, 2):
        options = ExportOptions()
        if mask:
            options.transform = mask_transform(masker_for(db, Settings.load()))
        options.requests = lambda _seen: request_rows(db)
        out = io.BytesIO()
        assert write_xlsx(lambda: record_rows(db), out, options, workers=workers) == \
            len(PLAIN) + len(RECORDS)
        books.append(workbook(out.getvalue()))
    single, parallel = books
    assert single.sheetnames == parallel.sheetnames
    for name in single.sheetnames:
        one = [[(c.value, c.number_format) for c in row] for row in single[name].iter_rows()]
        two = [[(c.value, c.number_format) for c in row] for row in parallel[name].iter_rows()]
        assert one == two, name
    cost = [c for row in parallel["Usage"].iter_rows() for c in row if c.value == 1.5]
    assert cost and cost[0].number_format == 'General" EUR"'
