"""Statistics (app.capture.stats) against an independent computation: each record's JSON read
with ``json.loads`` and summed in plain Python, on generated data and on awkward shapes
(volumes as strings, missing, negative, booleans, huge; SMS as 1 and 1.0; cost missing or a
string), indexed records and ones not indexed yet alike."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import re
import sqlite3 as stdlib_sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.capture.schema import SCHEMA_VERSION, open_reader
from app.capture.stats import (
    auto_every,
    format_every,
    merge,
    parse_every,
    record_span,
    record_stats,
    request_stats,
    select,
)
from app.capture.writer import CaptureWriter, Incoming
from app.filters.parser import parse
from app.records.shape import family_of
from app.replay.generator import Generator

# ---------------------------------------------------------------------------------------------
# The independent computation


_NUMBER = re.compile(r"[ \t\r\n]*-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?[ \t\r\n]*")


def number(value):
    """What the statistics count a JSON value as (docs/stats.md), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            value = float(value)
        except OverflowError:
            return None
    elif isinstance(value, str) and _NUMBER.fullmatch(value):
        value = float(value)
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def get(record, *paths):
    """The first of the dotted ``paths`` present and not null, or None."""
    for path in paths:
        value = record
        for step in path.split("."):
            value = value.get(step) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


KEYS = {
    "family": lambda rec, fam: fam,
    "event_type": lambda rec, fam: get(rec, "event_type.description",
                                       "traffic_type.description", "status.status"),
    "severity": lambda rec, fam: get(rec, "event_severity.description"),
    "iccid": lambda rec, fam: get(rec, "sim.iccid"),
    "operator": lambda rec, fam: get(rec, "operator.name", "detail.name"),
    "country": lambda rec, fam: get(rec, "detail.country.name", "operator.country.name"),
    "rat": lambda rec, fam: get(rec, "detail.pdp_context.rat_type"),
    "currency": lambda rec, fam: get(rec, "currency.code"),
}


def instant_ms(record):
    """The record's time in Unix milliseconds, or None."""
    value = get(record, "timestamp", "start_timestamp", "submit_date", "final_date")
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) >= 1e11 else value
        return round(seconds * 1000)
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return round(moment.timestamp() * 1000)


def bucket_of(record, every):
    if every is None:
        return None
    ms = instant_ms(record)
    if ms is None:
        return None
    size = round(every * 1000)
    start = ms // size * size
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=start)
    return moment.isoformat(timespec="milliseconds" if start % 1000 else "seconds"
                            ).replace("+00:00", "Z")


def expected(texts, by=(), every=None, keep=lambda rec, fam: True):
    """{(key, bucket): [records, data_mb, sms, cost or None, unreadable]} from the JSON."""
    out: dict = {}
    for text in texts:
        rec = json.loads(text)
        fam = family_of(rec.keys()) if isinstance(rec, dict) else "unknown"
        if not keep(rec, fam):
            continue
        key = (tuple(KEYS[name](rec, fam) for name in by), bucket_of(rec, every))
        group = out.setdefault(key, [0, 0.0, 0.0, None, 0])
        group[0] += 1
        unreadable = False
        if fam == "usage":
            volume = number(get(rec, "volume.total", "detail.volume.total"))
            unreadable = volume is None
            traffic = get(rec, "traffic_type.id")
            if volume is not None and traffic == 5 and not isinstance(traffic, bool):
                group[1] += volume
            if volume is not None and traffic == 6 and not isinstance(traffic, bool):
                group[2] += volume
        cost = rec.get("cost")
        if cost is not None:  # carried: the group has a cost sum, 0 if none is a number
            value = number(cost)
            unreadable = unreadable or value is None
            group[3] = (group[3] or 0.0) + (value or 0.0)
        group[4] += unreadable
    return out


def as_dict(table):
    return {(row.key, row.bucket): [row.records, row.data_mb, row.sms, row.cost, row.unreadable]
            for row in table.rows}


def same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key, (records, data, sms, cost, unreadable) in want.items():
        g = got[key]
        assert g[0] == records and g[4] == unreadable, key
        assert math.isclose(g[1], data, rel_tol=1e-9, abs_tol=1e-9), key
        assert math.isclose(g[2], sms, rel_tol=1e-9, abs_tol=1e-9), key
        assert (g[3] is None) == (cost is None), key
        if cost is not None:
            assert math.isclose(g[3], cost, rel_tol=1e-9, abs_tol=1e-9), key


# ---------------------------------------------------------------------------------------------
# Captures


def write_capture(path: Path, records: list, per_request: int = 300, indexed: int = 0) -> None:
    writer = CaptureWriter(path)
    try:
        for start in range(0, len(records), per_request):
            body = json.dumps(records[start:start + per_request]).encode()
            writer.store(Incoming("POST", "/", body, content_type="application/json"))
        while indexed > 0:
            done = writer.index_pending(min(indexed, 500))
            if not done:
                break
            indexed -= done
    finally:
        writer.close()


def texts_of(path: Path) -> list[str]:
    db = stdlib_sqlite3.connect(path)
    try:
        return [t for (t,) in db.execute("SELECT json FROM record ORDER BY id")]
    finally:
        db.close()


def awkward(gen: Generator) -> list[dict]:
    """Records in every shape the statistics must read, or refuse to."""
    sim = gen.sims[0]
    data = gen._usage(sim, 5, "Data", 1.0, 0.5, dt.datetime(2025, 3, 18, 7, tzinfo=dt.UTC))
    sms = gen.sms_usage(sim)
    out = []

    def data_with(total=..., cost=..., **top):
        rec = copy.deepcopy(data)
        if total is not ...:
            rec["volume"]["total"] = total
        if cost is not ...:
            rec["cost"] = cost
        rec.update(top)
        return rec

    for total in ("1.250000", " 2.5 ", "1e2", "-0.5", "abc", "", "1.2.3", "0x10", "Infinity",
                  "NaN", "+1", ".5", True, False, {"a": 1}, [1], None, -3.5, -1, 0, 1,
                  10**30, 2**64, 10**400, 12.3456789):
        out.append(data_with(total))
    missing = copy.deepcopy(data)
    del missing["volume"]
    out.append(missing)
    out.append(data_with(volume="5"))
    for cost in ("0.5", "abc", True, None, -2, 10**400, [1]):
        out.append(data_with(cost=cost))
    no_cost = copy.deepcopy(data)
    del no_cost["cost"]
    out.append(no_cost)
    out.append(data_with(currency={"id": 2, "symbol": "$", "code": "USD"}))
    out.append(data_with(traffic_type={"id": "5", "description": "Data"}))
    out.append(data_with(traffic_type={"id": 5.0, "description": "Data"}))
    out.append(data_with(detail={"pdp_context": {"rat_type": 8, "ipcan_session_id": "s-1"}}))
    for total in (1, 1.0, "1", True):
        rec = copy.deepcopy(sms)
        rec["volume"]["total"] = total
        out.append(rec)
    for when in (1742281200, 1742281200123, "garbage", "2025-03-18T07:00:00+02:00",
                 "2025-03-18T07:59:59.999Z", -86400):
        out.append(data_with(start_timestamp=when))
    no_sim = copy.deepcopy(data)
    del no_sim["sim"]
    out.append(no_sim)
    event = gen.event(sim, 5, "Delete PDP Context", description="x",
                      detail={"volume": {"total": "oops"}, "pdp_context": {"rat_type": 6}})
    out.append(event)
    out.append({**event, "cost": "3.5"})
    return out


BY_EVERY = [((), None), (("family",), None), (("family", "event_type"), 3600.0),
            (("iccid",), None), (("operator", "country", "rat"), None),
            (("currency",), 86400.0), (("severity",), 900.0), ((), 30.0)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Generated records and awkward ones, 3000 in all, the first 1700 indexed."""
    gen = Generator(sims=40, seed=5)
    records = gen.records(2900)
    shapes = awkward(gen)
    records = records[:1000] + shapes + records[1000:] + shapes
    path = tmp_path_factory.mktemp("stats") / "c.sqlite"
    write_capture(path, records, indexed=1700)
    return path, texts_of(path)


@pytest.mark.parametrize(("by", "every"), BY_EVERY)
def test_sums_match_the_records_json(generated, by, every):
    path, texts = generated
    db = open_reader(path)
    try:
        indexed = db.execute("SELECT max(id) FROM record_index").fetchone()[0]
        assert 0 < indexed < len(texts)  # both halves are read
        same(as_dict(record_stats(db, by=by, every=every)), expected(texts, by, every))
    finally:
        db.close()


FILTERS = [
    ("family == usage", lambda rec, fam: fam == "usage"),
    ("alert", lambda rec, fam: rec.get("alert") is True),
    ("type ~ data and not iccid ~ 0000001", None),
    # (not volume: the filters read a volume beyond 64 bits as a number in SQL but as its
    # digits in Python, so the two readings differ there)
    ("operator ~ tele or rat == 6 or currency == USD", None),
]


@pytest.mark.parametrize(("text", "keep"), FILTERS)
def test_a_filter_restricts_the_sums(generated, text, keep):
    path, texts = generated
    flt = parse(text)
    if keep is None:  # the filter language's own reading of a record, in Python
        from app.filters.nodes import Meta

        def keep(rec, fam):
            return flt.matches(rec, Meta(family=fam))

    db = open_reader(path)
    try:
        for by, every in (((), None), (("iccid",), 3600.0)):
            want = expected(texts, by, every, keep)
            assert want  # the filter leaves something
            same(as_dict(record_stats(db, flt, by, every)), want)
    finally:
        db.close()


def test_families_and_incremental_merge(generated):
    path, texts = generated
    db = open_reader(path)
    try:
        whole = record_stats(db, by=("family", "rat"), every=3600.0)
        assert whole.through == len(texts)
        assert whole.unreadable == sum(g[4] for g in expected(texts).values()) > 0
        parts = record_stats(db, by=("family", "rat"), every=3600.0, upto=1200)
        for upto in (1700, 2500, None):  # across the indexed end, then the rest
            parts = merge(parts, record_stats(db, by=("family", "rat"), every=3600.0,
                                              after=parts.through, upto=upto))
        assert parts.through == whole.through
        same(as_dict(parts), as_dict(whole))
        usage = record_stats(db, by=("event_type",), families=("usage",))
        same(as_dict(usage), expected(texts, ("event_type",),
                                      keep=lambda rec, fam: fam == "usage"))
        assert record_stats(db, after=len(texts)).rows == []
        with pytest.raises(ValueError, match="grouped differently"):
            merge(whole, usage)
        with pytest.raises(ValueError, match="cannot group by 'volume'"):
            record_stats(db, by=("volume",))
    finally:
        db.close()


def test_a_time_window_counts_only_its_records(generated):
    """``since_ms``/``until_ms``: the records whose instant (to the ms) is in [since, until),
    indexed ones (along the time index: INDEXED BY, an error if SQLite could not use it) and
    ones not indexed yet alike, also counted in parts and merged; no readable time: none."""
    path, texts = generated
    db = open_reader(path)
    try:
        indexed = db.execute("SELECT max(id) FROM record_index").fetchone()[0]
        instants = sorted({ms for t in texts if (ms := instant_ms(json.loads(t))) is not None})
        since, until = instants[len(instants) // 4], instants[3 * len(instants) // 4]
        inside = [n for n, t in enumerate(texts, 1)
                  if (ms := instant_ms(json.loads(t))) is not None and since <= ms < until]
        assert min(inside) <= indexed < max(inside)  # both halves hold some
        on_edge = {instant_ms(json.loads(texts[n - 1])) for n in range(1, len(texts) + 1)}
        assert since in on_edge and until in on_edge  # a record on each edge
        for by, every in (((), None), (("family", "iccid"), 60.0)):
            for lo, hi in ((since, until), (since, None), (None, until), (until, until)):
                def keep(rec, fam, lo=lo, hi=hi):
                    ms = instant_ms(rec)
                    return ms is not None and (lo is None or ms >= lo) and (hi is None
                                                                            or ms < hi)
                want = expected(texts, by, every, keep)
                same(as_dict(record_stats(db, by=by, every=every, since_ms=lo, until_ms=hi)),
                     want)
                parts = record_stats(db, by=by, every=every, since_ms=lo, until_ms=hi,
                                     upto=1200)
                for upto in (1700, None):
                    parts = merge(parts, record_stats(db, by=by, every=every, since_ms=lo,
                                                      until_ms=hi, after=parts.through,
                                                      upto=upto))
                same(as_dict(parts), want)
        usage = parse("family == usage")
        same(as_dict(record_stats(db, usage, ("rat",), 60.0, since_ms=since, until_ms=until,
                                  families=("usage", "event"))),
             expected(texts, ("rat",), 60.0, lambda rec, fam: fam == "usage"
                      and since <= (instant_ms(rec) or since - 1) < until))
    finally:
        db.close()


def test_the_span_and_a_bucket_size_for_it(generated):
    path, texts = generated
    db = open_reader(path)
    try:
        instants = [ms for t in texts if (ms := instant_ms(json.loads(t))) is not None]
        first, last = record_span(db)
        assert first == bucket_of({"timestamp": min(instants) / 1000}, 0.001)
        assert last == bucket_of({"timestamp": max(instants) / 1000}, 0.001)
        usage = [ms for t in texts if (ms := instant_ms(rec := json.loads(t))) is not None
                 and family_of(rec.keys()) == "usage"]
        assert record_span(db, parse("family == usage")) == (  # a filter: read, not looked up
            bucket_of({"timestamp": min(usage) / 1000}, 0.001),
            bucket_of({"timestamp": max(usage) / 1000}, 0.001))
    finally:
        db.close()
    assert auto_every("2025-03-18T07:00:00Z", "2025-03-18T08:00:00Z") == 60
    assert auto_every("2025-03-18T07:00:00Z", "2025-03-18T07:00:20Z") == 1
    assert auto_every("2025-03-18T07:00:00Z", "2025-03-25T07:00:00Z", buckets=7) == 86400
    assert auto_every(None, "2025-03-18T08:00:00Z") == 3600


def test_parse_every():
    assert [parse_every(t) for t in ("30s", "15m", "1h", "1d", "1w", "500ms", "1.5h")] == [
        30, 900, 3600, 86400, 604800, 0.5, 5400]
    for bad in ("", "1", "h", "1x", "-1h", "0s", "1 hour", "0.0001s"):
        with pytest.raises(ValueError):
            parse_every(bad)
    assert [format_every(s) for s in (30, 900, 3600, 86400, 0.5, 90)] == [
        "30s", "15m", "1h", "1d", "500ms", "90s"]


def test_request_buckets(tmp_path):
    path = tmp_path / "c.sqlite"
    gen = Generator(sims=5, seed=2)
    bodies = [json.dumps(gen.records(n)).encode() for n in (10, 200, 3)]
    writer = CaptureWriter(path)
    try:
        for body in bodies:
            writer.store(Incoming("POST", "/", body, content_type="application/json"))
        writer.store(Incoming("POST", "/", b"[1,", content_type="application/json"))
    finally:
        writer.close()
    db = open_reader(path)
    try:
        buckets = request_stats(db, 86400)
        assert sum(b.requests for b in buckets) == 4
        assert sum(b.records for b in buckets) == 213
        assert sum(b.bytes for b in buckets) == sum(map(len, bodies)) + 3
        assert max(b.max_bytes for b in buckets) == max(map(len, bodies))
        assert sum(b.refused for b in buckets) == 1
        assert all(b.max_duration_ms is not None and b.max_duration_ms >= 0 for b in buckets)
        assert sum(b.timed for b in buckets) == 4
        assert all(0 <= b.mean_duration_ms <= b.max_duration_ms for b in buckets)
        assert [b.requests for b in request_stats(db, 86400, after=2)] in ([2], [1, 1])
    finally:
        db.close()


def test_rat_is_indexed_and_a_capture_without_it_gets_it(tmp_path):
    """The format-8 migration adds record_index's rat and currency columns from the JSON; a
    reader of a capture no writer upgraded yet reads them from the JSON meanwhile."""
    path = tmp_path / "c.sqlite"
    gen = Generator(sims=10, seed=4)
    records = gen.records(400)
    write_capture(path, records, indexed=400)
    want = expected(texts_of(path), ("rat", "currency"))
    assert any(key[0][0] == 6 for key in want)
    for version in (7, 8):  # 7: before the sort indexes; 8: made before rat and currency
        db = stdlib_sqlite3.connect(path)
        db.executescript('ALTER TABLE record_index DROP COLUMN "rat"; ALTER TABLE '
                         'record_index DROP COLUMN "currency";'
                         f"PRAGMA user_version = {version};")
        db.close()
        reader = open_reader(path)
        try:
            same(as_dict(record_stats(reader, by=("rat", "currency"))), want)
            flt = parse("rat == 6")
            rats = record_stats(reader, flt)
            assert rats.rows[0].records == sum(g[0] for k, g in want.items() if k[0][0] == 6)
        finally:
            reader.close()
        CaptureWriter(path).close()  # the receiver upgrades it
        reader = open_reader(path)
        try:
            assert reader.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
            columns = {r[1] for r in reader.execute("PRAGMA main.table_info(record_index)")}
            assert {"rat", "currency"} <= columns
            filled = reader.execute("SELECT count(rat), count(currency) FROM main.record_index"
                                    ).fetchone()
            assert filled == (sum(1 for r in records if get(r, "detail.pdp_context.rat_type")),
                              sum(1 for r in records if get(r, "currency.code")))
            same(as_dict(record_stats(reader, by=("rat", "currency"))), want)
        finally:
            reader.close()


# ---------------------------------------------------------------------------------------------
# Any mix of shapes, any split between indexed and not


_VOLUMES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(min_value=-(10**25), max_value=10**25),
    st.sampled_from(["1.5", " 2 ", "-0.000001", "1e3", "abc", "", "1.", "01", True, False,
                     None, {"x": 1}, [2]]),
    st.decimals(allow_nan=False, allow_infinity=False, places=6,
                min_value=-(10**6), max_value=10**6).map(str),
)
_SHAPE = st.fixed_dictionaries({
    "kind": st.sampled_from(["data", "sms", "event", "sms_dr"]),
    "volume": _VOLUMES,
    "drop_volume": st.booleans(),
    "cost": st.one_of(st.none(), _VOLUMES),
    "iccid": st.sampled_from(["8988000000000000001", "8988000000000000002", None]),
    "offset_s": st.integers(min_value=-10**6, max_value=10**6),
})


def _record(number_: int, shape: dict) -> dict:
    when = (dt.datetime(2025, 3, 18, tzinfo=dt.UTC)
            + dt.timedelta(seconds=shape["offset_s"])).isoformat().replace("+00:00", "Z")
    sim = {"iccid": shape["iccid"]} if shape["iccid"] else {}
    kind = shape["kind"]
    if kind == "sms_dr":
        return {"id": number_, "submit_date": when, "status": {"status": "DELIVERED", "id": 4}}
    if kind == "event":
        rec = {"id": number_, "timestamp": when, "event_type": {"id": 5, "description": "D"},
               "event_severity": {"id": 0, "description": "INFO"}, "alert": False, "sim": sim,
               "detail": {"volume": {"total": shape["volume"]}}}
    else:
        traffic = (5, "Data") if kind == "data" else (6, "SMS")
        rec = {"id": number_, "start_timestamp": when, "sim": sim,
               "traffic_type": {"id": traffic[0], "description": traffic[1]},
               "volume": {"total": shape["volume"]}}
    if shape["drop_volume"]:
        rec.pop("volume", None)
        rec.pop("detail", None)
    if shape["cost"] is not None:
        rec["cost"] = shape["cost"]
    return rec


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes=st.lists(_SHAPE, min_size=1, max_size=30), indexed=st.integers(0, 30),
       by_every=st.sampled_from(BY_EVERY[:5]))
def test_any_shapes_any_split(shapes, indexed, by_every):
    by, every = by_every
    records = [_record(n, shape) for n, shape in enumerate(shapes)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.sqlite"
        write_capture(path, records, per_request=7, indexed=indexed)
        db = open_reader(path)
        try:
            same(as_dict(record_stats(db, by=by, every=every)),
                 expected(texts_of(path), by, every))
            both_paths(db, by, every)  # the rollups (when they can), and without them
            both_paths(db, by, 7200.0)
        finally:
            db.close()


# ---------------------------------------------------------------------------------------------
# The rollups: unfiltered figures read the receiver's pre-summed groups plus the records since


ROLLUP_BY_EVERY = [((), None), (("family",), None), (("family", "event_type"), 3600.0),
                   (("alert", "event_type", "severity"), 7200.0),
                   (("operator", "country", "rat", "currency"), 43200.0),
                   (("type_id", "family"), 86400.0), (("iccid", "endpoint"), None),
                   (("iccid", "family"), None)]


def both_paths(db, by, every, families=None):
    """The statistics read from the rollups and counted from the records: the same."""
    fast = record_stats(db, by=by, every=every, families=families)
    slow = record_stats(db, by=by, every=every, families=families, rollups=False)
    same(as_dict(fast), as_dict(slow))
    assert (fast.through, fast.unreadable) == (slow.through, slow.unreadable)
    return fast


def rolled_up(db) -> int:
    return int(db.execute("SELECT value FROM meta WHERE key = 'rollup_through'").fetchone()[0])


@pytest.mark.parametrize(("by", "every"), ROLLUP_BY_EVERY)
def test_the_rollups_give_the_same_answer(generated, by, every):
    path, texts = generated
    db = open_reader(path)
    try:
        assert rolled_up(db) == db.execute("SELECT max(id) FROM record_index").fetchone()[0]
        assert 0 < rolled_up(db) < len(texts)  # the rollups, then the records since
        table = both_paths(db, by, every)
        if set(by) <= set(KEYS):  # (and against the records' JSON read in Python)
            same(as_dict(table), expected(texts, by, every))
        both_paths(db, by, every, families=("usage",))
        both_paths(db, by, every, families=())
        # a range that does not start at the first record, or ends before the rollups' end:
        # counted from the records
        part = record_stats(db, by=by, every=every, upto=1000)
        same(as_dict(part), as_dict(record_stats(db, by=by, every=every, upto=1000,
                                                 rollups=False)))
    finally:
        db.close()


_GROUPS = "SELECT key, records, cost_records, unreadable FROM record_rollup ORDER BY key"


def test_the_rollups_follow_the_writer_across_restarts_and_migrations(tmp_path):
    """Each indexing step adds its records to the rollups once (a writer opened again goes on
    from rollup_through); a capture without the rollups (format 8 made before them, or older)
    gets them, summed, when a writer opens it."""
    path = tmp_path / "c.sqlite"
    gen = Generator(sims=12, seed=8)
    records = gen.records(900) + awkward(gen)
    write_capture(path, records[:400], per_request=100, indexed=250)
    writer = CaptureWriter(path)  # restarted: the rest of the index, then more records
    try:
        while writer.index_pending(70):
            pass
        for start in range(400, len(records), 150):
            body = json.dumps(records[start:start + 150]).encode()
            writer.store(Incoming("POST", "/", body, content_type="application/json"))
            writer.index_pending(100)  # part of it: the rest is read from the JSON
    finally:
        writer.close()
    texts = texts_of(path)

    def check(reader):
        assert 0 < rolled_up(reader) < len(texts)
        for by, every in ROLLUP_BY_EVERY:
            both_paths(reader, by, every)
        same(as_dict(record_stats(reader, by=("family", "event_type"), every=3600.0)),
             expected(texts, ("family", "event_type"), 3600.0))

    db = open_reader(path)
    try:
        assert db.execute("SELECT sum(records) FROM record_rollup").fetchone()[0] \
            == db.execute("SELECT sum(records) FROM sim_rollup").fetchone()[0] == rolled_up(db)
        check(db)
        before = db.execute(_GROUPS).fetchall()
    finally:
        db.close()
    for version in (7, 8):  # 7: before the sort indexes; 8: made before the rollups
        db = stdlib_sqlite3.connect(path)
        db.executescript("DROP TABLE record_rollup; DROP TABLE sim_rollup; DELETE FROM meta "
                         f"WHERE key = 'rollup_through'; PRAGMA user_version = {version};")
        db.close()
        reader = open_reader(path)  # no writer upgraded it yet: counted from the records
        try:
            same(as_dict(record_stats(reader, by=("family",))),
                 expected(texts, ("family",)))
        finally:
            reader.close()
        CaptureWriter(path).close()
        reader = open_reader(path)
        try:
            assert reader.execute("PRAGMA user_version").fetchone()[0] == 8
            check(reader)
            # the same groups as summed step by step (the sums: the same but for the last
            # bits of their floats, summed in another order; check compared them)
            assert reader.execute(_GROUPS).fetchall() == before
        finally:
            reader.close()


# ---------------------------------------------------------------------------------------------
# Filtered: a filter naming only the rollups' fields is counted on the rollups; a filter read
# once into a table of ids (stats.select) counts as the filter itself


ROLLUP_FILTERS = ["family == usage", "alert", "not alert and family == event",
                  "type == \"Delete PDP Context\" or severity == ERROR",
                  "operator ~ tele or rat == 6 or currency == USD", "country != Germany",
                  "type_id == 5", "severity ~ \"^(WARN|ERROR)$\""]


def test_filter_fields():
    assert parse("family == usage and (alert or not severity == INFO)").fields == {
        "family", "alert", "severity"}
    assert parse("").fields == frozenset()
    for text in ("family == usage and last 5m", "family == usage or seen > 1",
                 "not (alert and \"word\")"):
        assert parse(text).fields is None, text  # the request, text, received within
    assert parse("detail.name == x").fields is None  # a JSON path
    assert parse("\"word\"").fields is None  # text
    assert parse("volume > 1").fields == {"volume"}  # a field, but no rollup keeps it


@pytest.mark.parametrize("text", ROLLUP_FILTERS)
def test_a_filter_on_rollup_fields_is_counted_on_the_rollups(generated, text):
    from app.filters.nodes import Meta

    path, texts = generated
    flt = parse(text)
    db = open_reader(path)
    try:
        plans = []
        db.set_trace_callback(plans.append)
        for by, every in (((), None), (("family", "event_type"), 3600.0),
                          (("operator", "severity", "alert"), 7200.0),
                          (("iccid", "endpoint"), None)):
            plans.clear()
            fast = record_stats(db, flt, by, every)
            used = " ".join(plans)
            slow = record_stats(db, flt, by, every, rollups=False)
            same(as_dict(fast), as_dict(slow))
            assert (fast.through, fast.unreadable) == (slow.through, slow.unreadable)
            if by != ("iccid", "endpoint"):
                assert "FROM record_rollup" in used, (text, by)
            elif flt.fields <= {"family"}:
                assert "FROM sim_rollup" in used
            else:  # the SIMs' rollup has not the filter's fields: counted from the records
                assert "FROM sim_rollup" not in used and "FROM record_rollup" not in used
            if set(by) <= set(KEYS):  # and against the records' JSON read in Python
                same(as_dict(fast), expected(texts, by, every,
                                             lambda rec, fam: flt.matches(rec, Meta(family=fam))))
        db.set_trace_callback(None)
    finally:
        db.close()


@pytest.mark.parametrize("text", ["\"Update\"", "detail.name ~ a", "volume > 1",
                                  "family == usage"])
def test_ids_selected_once_count_as_the_filter(generated, text):
    path, _texts = generated
    flt = parse(text)
    db = open_reader(path)
    try:
        for families in (None, ("usage",), ("event", "sms_mo")):
            ids = select(db, flt, families)
            n = db.execute(f"SELECT count(*) FROM temp.{ids}").fetchone()[0]
            assert n > 0 or families is not None  # the filter leaves something
            for by, every in (((), None), (("family", "event_type"), 3600.0),
                              (("iccid", "endpoint"), None)):
                want = record_stats(db, flt, by, every, families=families)
                got = record_stats(db, None, by, every, families=families, ids=ids)
                same(as_dict(got), as_dict(want))
                assert got.unreadable == want.unreadable
                assert sum(r.records for r in got.rows) == n
        with pytest.raises(ValueError, match="table name"):
            select(db, flt, name="x; DROP TABLE record")
    finally:
        db.close()
