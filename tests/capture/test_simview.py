"""One SIM's view (app.capture.simview) on real captures written by CaptureWriter: its records
in time order across families, data sessions joined by ipcan_session_id and by time, alerts,
totals against a plain-Python computation, and hostile records."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math

import pytest

from app.capture.schema import open_reader
from app.capture.simview import number, sim_of_record, sim_view
from app.capture.writer import CaptureWriter, Incoming
from app.replay.generator import Generator
from tests.hostile import HOSTILE_RECORDS, ICCID_EVENT, ICCID_HOSTILE, ICCID_USAGE

GEN = Generator(sims=3, seed=16)
SIM, OTHER = GEN.sims[0], GEN.sims[1]
T0 = dt.datetime(2025, 3, 18, 10, 0, tzinfo=dt.UTC)


def _at(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(minutes: float) -> float:
    return (T0 + dt.timedelta(minutes=minutes)).timestamp()


def _pdp_event(type_id: int, minutes: float, session: str | None = None, sim=SIM,
               volume: float | None = None, tunnel: float | None = None) -> dict:
    name = {3: "Create PDP Context", 4: "Update PDP Context", 5: "Delete PDP Context"}[type_id]
    pdp = {"apn": "iot.1nce.net", "rat_type": 6}
    if session:
        pdp["ipcan_session_id"] = session
    if tunnel is not None:
        pdp["tunnel_created"] = _at(tunnel)
    detail = {"id": 2, "name": "T-Mobile", "pdp_context": pdp}
    if volume is not None:
        detail["volume"] = {"rx": volume, "tx": 0, "total": volume}
    rec = GEN.event(sim, type_id, name, description=name, detail=detail)
    rec["timestamp"] = _at(minutes)
    return rec


def _usage(start: float, end: float, total, session: str | None = None, sim=SIM,
           traffic=(5, "Data")) -> dict:
    rec = GEN.sms_usage(sim) if traffic[0] == 6 else next(GEN.data_session(sim))
    rec = copy.deepcopy(rec)
    rec["start_timestamp"], rec["end_timestamp"] = _at(start), _at(end)
    rec["traffic_type"] = {"id": traffic[0], "description": traffic[1]}
    rec["volume"] = {"total": total, "rx": 0, "tx": 0}
    rec["cost"] = total
    if session:
        rec["detail"] = {"pdp_context": {"rat_type": 6, "ipcan_session_id": session}}
    return rec


def _capture(tmp_path, *batches, index: bool = True):
    path = tmp_path / "c.sqlite"
    writer = CaptureWriter(path)
    for batch in batches:
        body = batch if isinstance(batch, bytes) else json.dumps(batch).encode()
        writer.store(Incoming("POST", "/", body, content_type="application/json"))
    while index and writer.index_pending(5000):
        pass
    writer.close()
    return open_reader(path)


def _records() -> list[dict]:
    """Two sessions by ipcan_session_id (one open), two by time (one without its Create),
    a refused Create (an alert), SMS usage, SMS events, and another SIM's records."""
    refused = GEN.event(SIM, 3, "Create PDP Context", severity=(1, "WARN"), alert=True,
                        description="rejected", detail=None)
    refused["timestamp"] = _at(200)
    sms_dr = GEN.sms_events(SIM)[0]
    sms_dr["submit_date"], sms_dr["final_date"] = _at(150), _at(151)
    sms_mo = GEN.sms_events(SIM)[1]
    sms_mo["submit_date"] = _at(152)
    sms_mo["endpoint"] = {"id": 1, "name": "renamed"}  # matched by its source_address
    other_mo = GEN.sms_events(OTHER)[1]
    other_mo["submit_date"] = _at(153)
    return [
        _pdp_event(3, 0, "A"), _usage(0, 15, 1.25, "A"), _pdp_event(3, 5, "B"),
        _usage(15, 30, "2.5", "A"), _usage(5, 20, 0.5, "B"),  # B never ends: open
        _pdp_event(5, 31, "A", volume=3.75),
        _pdp_event(3, 60), _usage(61, 70, 0.75), _pdp_event(5, 71),
        _usage(90, 100, 0.125), _pdp_event(5, 100, tunnel=88),  # Create not seen
        _usage(120, 120, 1, traffic=(6, "SMS")), _usage(121, 121, 1.0, traffic=(6, "SMS")),
        sms_dr, sms_mo, refused, other_mo,
        _pdp_event(3, 65, "X", sim=OTHER), _usage(65, 66, 9.0, sim=OTHER),
    ]


@pytest.fixture(scope="module")
def sim_capture(tmp_path_factory):
    records = _records()
    db = _capture(tmp_path_factory.mktemp("simview"), records[:9], records[9:])
    yield db, records
    db.close()


def test_records_of_one_sim_across_families_in_time_order(sim_capture):
    db, records = sim_capture
    view = sim_view(db, SIM.iccid)
    assert len(view.records) == len(records) - 3  # not the other SIM's three
    times = [r.time for r in view.records]
    assert times == sorted(times)
    assert {r.family for r in view.records} == {"event", "usage", "sms_dr", "sms_mo"}
    assert view.msisdns == (SIM.msisdn,)
    assert view.totals.sms_events == 2


def test_sessions_joined_by_session_id_and_by_time(sim_capture):
    db, _ = sim_capture
    view = sim_view(db, SIM.iccid)
    by_time = {r.id: r for r in view.records}
    spans = [(s.session_id, s.start, s.end, s.volume, len(s.records)) for s in view.sessions]
    assert spans == [
        ("A", _epoch(0), _epoch(31), 3.75, 4),  # Create, two usage records ("2.5"), Delete
        ("B", _epoch(5), None, 0.5, 2),  # open
        (None, _epoch(60), _epoch(71), 0.75, 3),  # Create, usage, Delete: by time
        (None, _epoch(88), _epoch(100), 0.125, 2),  # no Create: its tunnel_created
    ]
    a, b, _, late = view.sessions
    assert a.reported == 3.75 and a.rule == "session id" and late.rule == "time"
    assert b.open and b.until == _epoch(60)  # drawn up to the next span
    assert late.create is None and by_time[late.delete].kind == "Delete PDP Context"
    for session in view.sessions:  # each record knows its span
        assert all(by_time[i].session == session.number for i in session.records)
    assert view.totals.sessions == 4 and view.totals.open_sessions == 1


def test_alerts_and_refused_create(sim_capture):
    db, _ = sim_capture
    view = sim_view(db, SIM.iccid)
    alerts = [r for r in view.records if r.alert]
    assert [(a.kind, a.session) for a in alerts] == [("Create PDP Context", None)]
    assert view.totals.alerts == 1


def test_totals_match_a_plain_python_computation(sim_capture):
    db, records = sim_capture
    view = sim_view(db, SIM.iccid)
    mine = [r for r in records if r.get("sim", {}).get("iccid") == SIM.iccid]
    data = sum(float(r["volume"]["total"]) for r in mine
               if r.get("traffic_type", {}).get("id") == 5)
    sms = sum(float(r["volume"]["total"]) for r in mine
              if r.get("traffic_type", {}).get("id") == 6)
    cost = sum(float(r["cost"]) for r in mine if "cost" in r)
    assert math.isclose(view.totals.data_mb, data) and data == 5.125
    assert view.totals.sms == sms == 2
    assert view.totals.cost == {"EUR": pytest.approx(cost)}
    families = {"event": sum("event_type" in r for r in mine),
                "usage": sum("traffic_type" in r for r in mine), "sms_dr": 1, "sms_mo": 1}
    assert view.totals.records == families == {"event": 7, "usage": 7, "sms_dr": 1, "sms_mo": 1}


def test_records_not_indexed_yet_are_found_the_same(tmp_path, sim_capture):
    db, records = sim_capture
    tail = _capture(tmp_path, records[:9], records[9:], index=False)
    try:
        assert tail.execute("SELECT count(*) FROM record_index").fetchone()[0] == 0
        a, b = sim_view(db, SIM.iccid), sim_view(tail, SIM.iccid)
        assert [(r.id, r.session) for r in a.records] == [(r.id, r.session) for r in b.records]
        assert a.totals == b.totals
    finally:
        tail.close()


def test_the_sim_of_a_record_and_of_an_sms(sim_capture):
    db, _ = sim_capture
    view = sim_view(db, SIM.iccid)
    for rec in view.records:
        assert sim_of_record(db, rec.id) == SIM.iccid, rec.kind
    assert sim_of_record(db, 10**9) is None


def test_an_sms_of_a_sim_no_other_record_names(tmp_path):
    report = GEN.sms_events(OTHER)[0]  # its endpoint is named by the ICCID (the default)
    named = GEN.sms_events(OTHER)[1]
    named["endpoint"]["name"] = "tracker-9"  # a name of the customer's: no SIM
    db = _capture(tmp_path, [report, named])
    try:
        assert sim_of_record(db, 1) == OTHER.iccid and sim_of_record(db, 2) is None
        view = sim_view(db, OTHER.iccid)
        assert [r.family for r in view.records] == ["sms_dr"]
        assert view.totals.sms_events == 1 and view.sessions == []
    finally:
        db.close()


def test_awkward_volumes_and_times(tmp_path):
    shapes = [
        _usage(0, 1, "1.5"), _usage(1, 2, -0.25), _usage(2, 3, "lots"), _usage(3, 4, True),
        _usage(4, 5, {"x": 1}), _usage(5, 6, 1, traffic=(6, "SMS")),
        _usage(6, 7, 1.0, traffic=(6, "SMS")),
    ]
    missing = _usage(7, 8, 0)
    del missing["volume"]
    epoch_ms, unreadable = _usage(9, 10, 2), _usage(10, 11, 3)
    epoch_ms["start_timestamp"] = int(_epoch(9) * 1000)
    unreadable["start_timestamp"] = "yesterday"
    db = _capture(tmp_path, [*shapes, missing, unreadable, epoch_ms])
    try:
        view = sim_view(db, SIM.iccid)
        assert view.totals.data_mb == 1.5 - 0.25 + 2 + 3  # the unreadable time counts too
        assert view.totals.sms == 2
        assert view.totals.unreadable == 4  # "lots", true, an object, missing
        assert view.totals.unreadable_times == 1
        assert view.records[-1].time is None and view.records[-1].time_text == "yesterday"
        assert view.records[-2].time == _epoch(9)  # epoch milliseconds
    finally:
        db.close()


def test_hostile_records_never_break_it(tmp_path):
    body = ("[" + ",".join(HOSTILE_RECORDS) + "]").encode()
    db = _capture(tmp_path, body)
    try:
        for iccid in (ICCID_EVENT, ICCID_USAGE, ICCID_HOSTILE, "", "\ud83d", "x" * 10000):
            view = sim_view(db, iccid)
            assert sum(view.totals.records.values()) == len(view.records)
            assert all(sim_of_record(db, r.id) is not None for r in view.records)
        huge = sim_view(db, ICCID_USAGE)
        assert [r.volume for r in huge.records] == [1.234567, None]  # 1e400: not summed
        assert huge.totals.unreadable == 1 and huge.totals.data_mb == 1.234567
        assert len(sim_view(db, ICCID_EVENT).records) >= 8
    finally:
        db.close()


@pytest.mark.parametrize(("value", "expected"), [
    (1, 1.0), ("2.5", 2.5), (" 3 ", 3.0), (-1, -1.0), (True, None), ("x", None), (None, None),
    ({"a": 1}, None), (float("inf"), None), (10**400, None), ("1e400", None)])
def test_number(value, expected):
    assert number(value) == expected
