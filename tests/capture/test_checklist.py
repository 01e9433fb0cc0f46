"""The Real SIM test checklist over a real capture written by the real writer, fed with the
simulator's attach, data session and SMS samples (indexed and not yet indexed)."""

import json

import pytest

from app.capture.checklist import CHECK_HEADER, Checklist
from app.capture.schema import open_reader
from app.capture.writer import CaptureWriter, Incoming
from tests.conftest import SAMPLES


def post(name: str, **kw) -> Incoming:
    kw.setdefault("content_type", "application/json")
    kw.setdefault("headers", [("Content-Type", "application/json")])
    return Incoming(method="POST", path="/1nce/events/", body=(SAMPLES / f"{name}.json")
                    .read_bytes(), **kw)


@pytest.fixture
def capture(tmp_path):
    writer = CaptureWriter(tmp_path / "c.sqlite")
    yield writer, tmp_path / "c.sqlite"
    writer.close()


def states(checklist: Checklist) -> dict[str, str]:
    return {s.step.key: (s.what, s.iccid) if s.done else None for s in checklist.states}


@pytest.mark.parametrize("indexed", [False, True])
def test_the_steps_tick_as_the_samples_arrive(capture, indexed):
    writer, path = capture
    db = open_reader(path)
    checklist = Checklist()
    assert not checklist.update(db)  # an empty capture: every step waits, with its hint
    assert [s.done for s in checklist.states] == [False, False, False]
    assert "airplane mode" in checklist.states[1].line()
    sim = json.loads((SAMPLES / "attach-sequence.json").read_text())[0]["sim"]["iccid"]

    writer.store(post("attach-sequence"))
    if indexed:
        writer.index_pending()
    assert checklist.update(db)
    # The first attach record: SIM activation (8) does not count, Update GPRS location does.
    assert states(checklist) == {"attach": ("Update GPRS location", sim), "data": None,
                                 "sms": None}
    line = checklist.states[0].line()
    assert line.startswith(f"Update GPRS location for ICCID {sim}, arrived ")
    assert "record time 2025-03-18T07:00:00Z" in line
    assert not checklist.update(db)  # nothing new

    writer.store(post("data-session-usage"))
    writer.store(post("sms-usage"))
    if indexed:
        writer.index_pending()
    assert checklist.update(db)
    assert states(checklist) == {"attach": ("Update GPRS location", sim),
                                 "data": ("Data usage record", sim),
                                 "sms": ("SMS usage record", sim)}
    assert checklist.done
    db.close()


def test_sms_events_count_and_one_sim_can_be_followed(capture):
    writer, path = capture
    db = open_reader(path)
    other = "89882280666000000012"  # the second SIM of the sms-usage sample
    checklist = Checklist(iccid=other)
    writer.store(post("attach-sequence"))  # another SIM: does not count
    writer.store(post("sms-usage"))
    checklist.update(db)
    assert states(checklist) == {"attach": None, "data": None,
                                 "sms": ("SMS usage record", other)}
    # SMS events carry no sim object: the endpoint name (the ICCID by default) identifies it.
    writer.store(post("sms-events"))
    follow = Checklist(iccid="89882280666000000004")
    follow.update(db)
    assert follow.states[2].what == "SMS usage record"  # that SIM's first SMS record
    db.close()


def test_sms_events_alone_tick_the_sms_step(tmp_path):
    writer = CaptureWriter(tmp_path / "sms.sqlite")
    writer.store(post("sms-events"))
    writer.close()
    db = open_reader(tmp_path / "sms.sqlite")
    checklist = Checklist(iccid="89882280666000000004")
    checklist.update(db)
    assert states(checklist) == {"attach": None, "data": None,
                                 "sms": ("SMS delivery report", "89882280666000000004")}
    db.close()


def test_check_requests_rejected_and_imported_records_do_not_count(capture):
    writer, path = capture
    db = open_reader(path)
    checklist = Checklist()
    writer.store(post("attach-sequence",
                      headers=[("Content-Type", "application/json"), (CHECK_HEADER, "1")]))
    writer.store(post("attach-sequence"), status=401, reason="the Basic Auth header is wrong")
    writer.store(post("attach-sequence", source="imported"))
    checklist.update(db)
    assert not any(s.done for s in checklist.states)
    writer.store(post("attach-sequence"))
    checklist.update(db)
    assert checklist.states[0].done
    db.close()
