"""The tables' columns: every catalogue field available on the tabs whose records have it."""

from app.records.columns import RECORD_ID_COLUMN, RECORD_TABS
from app.records.fields import ALIASES, FIELDS
from app.records.shape import parse_record

TABS = {tab.key: tab for tab in RECORD_TABS}
# The catalogue fields a tab's families never have (record-schema.md), or have in another of
# its columns. A field added to the catalogue must be placed: a column, or a line here.
NOT_ON = {
    "event": {"end": "no end time", "cost": "usage only", "ratezone": "usage only",
              "currency": "usage only",
              "payload": "SMS only", "from": "SMS only", "to": "SMS only"},
    "usage": {"severity": "events only", "alert": "events only",
              "description": "events only", "payload": "SMS only", "from": "SMS only",
              "to": "SMS only"},
    "sms": {"severity": "events only", "alert": "events only", "description": "events only",
            "iccid": "no SIM object", "imsi": "no IMSI", "imei": "endpoint {id, name} only",
            "msisdn": "its source_address: the From column", "country": "no network",
            "operator": "no network", "volume": "usage and events", "rx": "usage and events",
            "tx": "usage and events", "cost": "usage only", "ratezone": "usage only",
            "currency": "usage only", "rat": "data sessions only",
            "session": "data sessions only"},
    "other": {},  # an unknown record may have any of them
}


def test_every_catalogue_field_is_a_column_where_it_applies():
    for tab in RECORD_TABS:
        offered = {c.name for c in tab.view_columns} | {c.filter_field for c in tab.view_columns}
        for name in FIELDS:
            assert name in offered or name in NOT_ON[tab.key], (tab.key, name)
            assert not (name in NOT_ON[tab.key] and name in offered), (tab.key, name)


def test_the_further_columns_are_hidden_and_not_exported():
    for tab in RECORD_TABS:
        names = [c.name for c in tab.view_columns]
        assert len(names) == len(set(names)), tab.key  # remembered by name
        assert tab.hidden == {c.name for c in tab.extra}
        assert not set(tab.columns) & set(tab.extra)  # exports use tab.columns
        for column in tab.extra:  # "filter on this value" names a field the filters know
            assert column.filter_field in FIELDS or column.filter_field in ALIASES
        if tab.key != "other":  # (its first column is the id already)
            assert RECORD_ID_COLUMN in tab.extra
    usage = TABS["usage"]
    assert "endpoint" in {c.name for c in usage.columns}  # shown, and exported
    assert "endpoint" not in usage.hidden


def test_the_record_id_column_shows_the_id_exactly():
    huge = parse_record('{"id": 1180591620717411303425, "start_timestamp": "x"}')
    assert RECORD_ID_COLUMN.cell(huge).text == "1180591620717411303425"
    assert RECORD_ID_COLUMN.cell({"id": "u-42"}).text == "u-42"
    assert RECORD_ID_COLUMN.cell({"id": -7}).text == "-7"
    assert RECORD_ID_COLUMN.cell({}).text == ""


def test_the_further_columns_read_their_fields():
    usage = {c.name: c for c in TABS["usage"].view_columns}
    record = {"traffic_type": {"id": 6, "description": "SMS"}, "sim": {"msisdn": "4917"},
              "endpoint": {"name": "Truck 7", "imei": "35000"}}
    assert usage["endpoint"].text(record) == "Truck 7"
    assert usage["type_id"].text(record) == "6"
    assert usage["msisdn"].text(record) == "4917"
    assert usage["imei"].text(record) == "35000"
    event = {c.name: c for c in TABS["event"].view_columns}
    delete_pdp = {"event_type": {"id": 5}, "detail": {"name": "Telekom",
                                                     "volume": {"total": 1.5, "rx": 1.0}}}
    assert event["volume"].cell(delete_pdp).text == "1.500000 MB"
    assert event["operator"].text(delete_pdp) == "Telekom"
    assert event["type_id"].text(delete_pdp) == "5"
    other = {c.name: c for c in TABS["other"].view_columns}
    assert other["alert"].text({"alert": True}) == "ALERT"
    assert other["end"].kind == "time"


def test_a_usage_rows_endpoint_is_exported_with_the_default_columns():
    """Usage shows its endpoint now: a CSV export writes it for usage rows too (it left the
    cell empty for them: the column was only the events' and SMS's)."""
    import csv
    import io
    from types import SimpleNamespace

    from app.export.common import ExportOptions
    from app.export.csvfile import write_csv

    rows = [SimpleNamespace(id=1, request_id=1, family="event",
                            text='{"id": 5, "endpoint": {"name": "Gate"}}'),
            SimpleNamespace(id=2, request_id=1, family="usage",
                            text='{"id": 6, "endpoint": {"name": "Truck 7"}}')]
    out = io.BytesIO()
    write_csv(lambda: rows, out, ExportOptions())
    table = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert [r["endpoint.name"] for r in table] == ["Gate", "Truck 7"]
    assert "event_type.id" not in table[0]  # the window's further columns stay out
