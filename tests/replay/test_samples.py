"""The sample library: what each sample holds, and that the receiver takes every one."""

import json

import pytest

from app.records.shape import inspect_body
from app.replay.samples import FULL_BATCH, build_generated, find, library
from tests.server.test_server import request

EXPECTED_FAMILIES = {
    "update-location-event": {"event": 1},
    "usage-record": {"usage": 1},
    "attach-sequence": {"event": 4},
    "data-session-usage": {"usage": 3},
    "data-session-events": {"event": 1},
    "sms-usage": {"usage": 2},
    "sms-events": {"sms_dr": 1, "sms_mo": 1},
    "quota-alerts": {"event": 2},
    "rejected-pdp-context": {"event": 1},
}


def test_library_lists_every_sample_with_a_title():
    names = [s.name for s in library()]
    assert names[:2] == ["update-location-event", "usage-record"]
    assert set(EXPECTED_FAMILIES) | {FULL_BATCH} == set(names)
    for sample in library():
        assert sample.title and sample.description
        assert (sample.curl_path is not None) == sample.documented


@pytest.mark.parametrize(("name", "families"), EXPECTED_FAMILIES.items())
def test_each_sample_holds_what_it_says(name, families):
    assert inspect_body(find(name).body()).counts == families


def test_scenarios_carry_the_right_event_types():
    types = lambda name: [r["event_type"]["id"] for r in json.loads(find(name).body())]  # noqa: E731
    assert types("attach-sequence") == [8, 2, 3, 1]
    assert types("quota-alerts") == [18, 19]
    assert types("data-session-events") == [5]
    (rejected,) = json.loads(find("rejected-pdp-context").body())
    assert rejected["alert"] is True and rejected["event_severity"]["description"] == "WARN"
    usage = json.loads(find("data-session-usage").body())
    # interim records every 15 minutes, then the closing one; one SIM throughout
    assert len({r["sim"]["iccid"] for r in usage}) == 1
    assert usage[0]["end_timestamp"] == usage[1]["start_timestamp"]


def test_full_batch_is_3000_records_and_deterministic():
    body = find(FULL_BATCH).body()
    assert inspect_body(body).total == 3000
    assert body == find(FULL_BATCH).body()


def test_generated_files_are_current():
    for name, records in build_generated().items():
        assert json.loads(find(name).body()) == records, (
            f"run: python -m app.replay.samples ({name})")


def test_the_receiver_accepts_every_sample(receiver):
    for sample in library():
        status, _, body = request(receiver, body=sample.body())
        assert status == 200, (sample.name, body)
        assert json.loads(body)["counts"] == inspect_body(sample.body()).counts
