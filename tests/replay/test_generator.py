"""The record generator's ids: the same seed gives the same records (a true redelivery when sent
again), different seeds never share an id (issue 13: two runs of ``send --generate`` with other
seeds were taken for conflicts by the receiver's ledger)."""

from __future__ import annotations

import orjson
import pytest

from app.capture import ledger
from app.capture.schema import open_reader
from app.capture.writer import CaptureWriter, Incoming
from app.replay.generator import Generator, seed_id_offset
from tests.capture.test_ledger import drain


def ids(records: list[dict]) -> tuple[set[int], set[int]]:
    events = {r["id"] for r in records if "event_type" in r or "submit_date" in r
              or "source_address" in r}
    usage = {r["id"] for r in records if "traffic_type" in r}
    return events, usage


def test_the_same_seed_gives_the_same_records():
    assert Generator(sims=5, seed=7).records(300) == Generator(sims=5, seed=7).records(300)


def test_seeds_keep_clear_of_the_shipped_samples_ids():
    """The library's samples (made with id_offset 0) and generated records of the default seed
    share no id: sending a sample and then --generate shows no conflict."""
    from app.replay.samples import library

    events, usage = ids(Generator(sims=5, seed=1).records(200))
    assert min(events) == 1_001_000_001 and min(usage) == 2_001_000_001
    shipped = set()
    for sample in library():
        for record in orjson.loads(sample.body()):
            if isinstance(record.get("id"), int):
                shipped.add(record["id"])
    assert shipped and not shipped & (events | usage)


@pytest.mark.parametrize(("a", "b"), [(7, 8), (1, 2), (1, 999), (998, 999), (-1, 0)])
def test_other_seeds_never_share_an_id(a, b):
    first, second = Generator(sims=5, seed=a), Generator(sims=5, seed=b)
    one, other = first.records(2000), second.records(2000)
    ids_one = {r["id"] for r in one}
    ids_other = {r["id"] for r in other}
    assert len(ids_one) == len(one) and len(ids_other) == len(other)
    assert not ids_one & ids_other
    # each kind stays in its own range: events below 2,000,000,000, usage from it
    for records in (one, other):
        events, usage = ids(records)
        assert events and usage
        assert all(1_000_000_000 < i < 2_000_000_000 for i in events)
        assert all(2_000_000_000 < i < 3_000_000_000 for i in usage)


def test_the_offset_wraps_after_999_seeds():
    assert [seed_id_offset(s) for s in (1, 2, 999, 1000, 0)] == [
        1_000_000, 2_000_000, 999_000_000, 1_000_000, 999_000_000]
    assert Generator(sims=2, seed=3, id_offset=0).records(20)[0]["id"] in {
        1_000_000_001, 2_000_000_001}


def test_two_seeds_sent_to_one_capture_are_no_conflicts(tmp_path):
    """Seed 7 twice and seed 8 once into one capture: the ledger has seed 7's records seen twice
    (redeliveries) and not a single conflict."""
    writer = CaptureWriter(tmp_path / "c.sqlite")
    try:
        for seed in (7, 8, 7):
            body = orjson.dumps(Generator(sims=5, seed=seed).records(100))
            assert writer.store(Incoming("POST", "/", body,
                                         content_type="application/json")).status == 200
        drain(writer)
    finally:
        writer.close()
    db = open_reader(tmp_path / "c.sqlite")
    try:
        got = ledger.ledger_summary(db)
    finally:
        db.close()
    assert (got.records_with_id, got.redeliveries, got.conflicts) == (200, 100, 0)
