"""The filter language: what it means, its errors, and SQL agreeing with plain Python."""

from __future__ import annotations

import datetime as dt
import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.capture.follow import Follower
from app.capture.schema import open_reader
from app.capture.writer import CaptureWriter, Incoming
from app.filters.nodes import Meta
from app.filters.parser import FilterError, parse
from app.records.shape import family_of, parse_record
from app.replay.generator import Generator
from tests.conftest import EVENT_SAMPLE, USAGE_SAMPLE

EDGE_RECORDS = [
    {"event_type": {"id": 3, "description": "Create PDP Context"}, "alert": True,
     "event_severity": {"id": 1, "description": "WARN"}, "sim": {"iccid": "8988A"},
     "description": "Rejected: IMEI lock", "timestamp": "2025-03-18T07:00:00Z", "id": 1},
    {"event_type": {"id": 3, "description": "create pdp context"}, "alert": False,
     "event_severity": {"id": 0, "description": "Info"}, "id": 2,
     "timestamp": "2025-03-18T06:59:59Z", "imsi": {"imsi": "901405000000001"}},
    {"traffic_type": {"id": 5, "description": "Data"}, "volume": {"total": 1.5, "rx": 1.0,
     "tx": 0.5}, "operator": {"name": "T-Mobile", "country": {"name": "Germany"}},
     "imsi": "901405000000002", "start_timestamp": "2025-03-18T08:00:00Z", "id": 2},
    {"traffic_type": {"id": 6, "description": "SMS"}, "volume": {"total": 1, "rx": 0,
     "tx": 1}, "operator": {"name": "Orange", "country": {"name": "France"}}, "id": 3,
     "start_timestamp": "2025-03-18T09:00:00Z", "cost": "0.5"},
    {"status": {"status": "DELIVERED", "id": 4}, "final_date": "2025-01-01T00:00:00Z",
     "submit_date": "2024-12-31T23:59:59Z", "id": 9, "detail": {"sms": {"id": "77"}}},
    {"payload": "Hello (world) \"quoted\" ü", "source_address": "882285", "dest_address": "338",
     "submit_date": "2025-02-02T02:02:02Z", "id": 10},
    {"id": "not a number", "nested": {"list": [1, 2, {"x": None}]}, "alert": 1,
     "description": "", "detail": "quota as text"},
    {"id": None, "volume": {"total": -2}, "alert": 0, "timestamp": 20250318},
]


def make_capture(path, records, indexed: int | None = None, when: str | None = None):
    """Store ``records`` (one per request) and index the first ``indexed`` of them."""
    writer = CaptureWriter(path)
    received = dt.datetime(2025, 3, 18, 12, 0, tzinfo=dt.UTC).timestamp()
    for n, record in enumerate(records):
        incoming = Incoming("POST", "/", json.dumps([record], ensure_ascii=False).encode(),
                            content_type="application/json")
        incoming.received_at = received + n
        writer.store(incoming)
    if indexed is None:
        while writer.index_pending(500):
            pass
    elif indexed:
        writer.index_pending(indexed)
    writer.close()


def sql_ids(path, text: str, table: str = "event") -> list[int]:
    """Record ids (all families when table is None) passing the filter, through SQLite."""
    follower = Follower(path)
    try:
        follower.poll()
        query, params = parse(text).record_query(None)
        db = follower._db
        return [r[0] for r in db.execute(query, params)]
    finally:
        follower.close()


def python_ids(path, text: str) -> list[int]:
    flt = parse(text)
    db = open_reader(path)
    try:
        rows = db.execute("SELECT r.id, r.json, q.received_at FROM record AS r "
                          "JOIN request AS q ON q.id = r.request_id ORDER BY r.id").fetchall()
    finally:
        db.close()
    out = []
    for rid, text_json, received in rows:
        record = parse_record(text_json)  # the one reading of a record (issue 10)
        meta = Meta(family=family_of(record), received_at=received, text=text_json)
        if flt.matches(record, meta):
            out.append(rid)
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    records = [json.loads(EVENT_SAMPLE.read_text())[0], json.loads(USAGE_SAMPLE.read_text())[0]]
    records += EDGE_RECORDS + Generator(sims=12, seed=21).records(120)
    path = tmp_path_factory.mktemp("filters") / "corpus.sqlite"
    make_capture(path, records, indexed=len(records) // 2)  # half indexed, half not
    return path, records


EXAMPLES = [
    ("netherlands", "text"),
    ('iccid == "8988A"', [3]),
    ("event_type.id == 3", [3, 4]),
    ("type ~ PDP", None),
    ("type ~ pdp and alert", [3]),
    ("severity != INFO", None),
    ("severity == info", None),
    ("volume > 1.4 and country == germany", [5]),
    ("time >= 2025-03-18T07:00 and time < 2025-03-18T08:30", [3, 5]),
    ("alert", None),
    ("not alert and id == 2", [4, 5]),  # 5 has no alert at all: not alert
    ("family == sms_mo", [8]),
    ("payload ~ '\\(world\\)'", [8]),
    ('"Hello (world)"', [8]),
    ("detail.sms.id == 77", [7]),
    ("sms_id == 77", [7]),
    ("imsi == 901405000000002", [5]),
    ("id == null and volume < 0", [10]),
    ("cost == 0.5", [6]),
    ("nested.list[2].x == null and nested.list[0] == 1", [9]),
]


@pytest.mark.parametrize(("text", "expected"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_examples_mean_the_same_in_sql_and_python(corpus, text, expected):
    path, _records = corpus
    got = sql_ids(path, text)
    assert got == python_ids(path, text)
    if isinstance(expected, list):
        # corpus ids: sample event 1, sample usage 2, EDGE_RECORDS from 3
        assert [i for i in got if i <= 10] == expected
    elif expected == "text":
        assert 1 in got


def test_indexed_and_unindexed_records_answer_alike(tmp_path):
    records = EDGE_RECORDS + Generator(sims=5, seed=3).records(60)
    make_capture(tmp_path / "none.sqlite", records, indexed=0)
    make_capture(tmp_path / "all.sqlite", records, indexed=None)
    for text, _ in EXAMPLES:
        assert sql_ids(tmp_path / "none.sqlite", text) == sql_ids(tmp_path / "all.sqlite", text)


def test_last_window_counts_from_arrival(tmp_path):
    now = dt.datetime(2025, 3, 18, 12, 0, 2, 500000, tzinfo=dt.UTC)
    for indexed in (0, None):
        make_capture(tmp_path / f"c{indexed}.sqlite", EDGE_RECORDS[:3], indexed=indexed)
        query, params = parse("last 1s").record_query(None, now=now)
        db = open_reader(tmp_path / f"c{indexed}.sqlite")
        ids = [r[0] for r in db.execute(query, params)]
        db.close()
        assert ids == [3]  # received at 12:00:00, :01, :02 -> only the last is within 1 s


@pytest.mark.parametrize(("text", "message", "column"), [
    ("iccid ==", "a value should follow '=='", 9),
    ("(type ~ PDP", "a '(' is not closed", 1),
    ("type ~ PDP)", "unexpected ')'", 11),
    ('"open', "this quote is never closed", 1),
    ("a and", "the filter ends where a test should follow", 6),
    ("or b", "'or' needs a test on both sides", 1),
    ("x ~ '['", "not a regular expression", 5),
    ("()", "empty parentheses", 2),
    ("1bad == 2", "neither a field nor a JSON path", 1),
])
def test_errors_say_what_and_where(text, message, column):
    with pytest.raises(FilterError) as info:
        parse(text)
    assert message in info.value.args[0]
    assert info.value.position + 1 == column
    assert str(info.value).endswith(f"(at {column})")


def test_request_fields(tmp_path):
    assert parse("status == 401 and path ~ hook", "requests").where()[1][-1] == "%hook%"
    with pytest.raises(FilterError, match="requests have no field 'iccid'"):
        parse("iccid == 1", "requests")


@given(st.text(alphabet=string.printable + "äü€\u2028", max_size=60))
@settings(max_examples=400, deadline=None)
def test_parser_raises_only_its_own_error(text):
    try:
        flt = parse(text)
    except FilterError as exc:
        assert 0 <= exc.position <= len(text)
        return
    flt.where()  # what parses also compiles


# -- SQL agrees with Python on generated filters ---------------------------------------------

FIELD_NAMES = ["time", "end", "type", "type_id", "severity", "alert", "iccid", "imsi", "msisdn",
               "country", "operator", "volume", "rx", "cost", "id", "description", "payload",
               "family", "event_type.id", "event_type.description", "sim.iccid",
               "detail.country.iso_code", "volume.total", "nested.list[0]", "status.id"]
VALUES = ["1", "3", "5", "-2", "1.5", "0.5", "0", "INFO", "info", "WARN", "Data", "sms",
          "Germany", "germany", "T-Mobile", "2025-03-18T07:00", "2025-03-18T08:00:00Z",
          "8988A", '"Update location"', '"create pdp context"', "null", "true", "false",
          "event", "usage", "sms_mo", "'quoted value'", "nl", "Netherlands"]
WORDS = ["netherlands", "PDP", "pdp", "8988", "quota", "Hello", '"(world)"', "€", "ü"]


def expressions():
    comparison = st.builds(
        lambda f, op, v: f"{f} {op} {v}", st.sampled_from(FIELD_NAMES),
        st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "~", "!~"]), st.sampled_from(VALUES))
    atom = st.one_of(comparison, st.sampled_from(FIELD_NAMES), st.sampled_from(WORDS))

    def extend(inner):
        return st.one_of(
            st.builds(lambda a, b: f"{a} and {b}", inner, inner),
            st.builds(lambda a, b: f"({a} or {b})", inner, inner),
            st.builds(lambda a: f"not {a}", inner),
        )

    return st.recursive(atom, extend, max_leaves=5)


@given(expressions())
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
def test_sql_agrees_with_python_on_the_corpus(corpus, text):
    path, _ = corpus
    try:
        parse(text)
    except FilterError:
        return  # e.g. a regex value that is not one
    assert sql_ids(path, text) == python_ids(path, text)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000),
                    st.sampled_from([0.5, 1.5, -2.25, 100.0]),
                    st.text(alphabet="abcXYZ 01-:.ü", max_size=8),
                    st.sampled_from(["INFO", "info", "Germany", "2025-03-18T07:00:00Z"]))
generated_records = st.lists(
    st.fixed_dictionaries({}, optional={
        "event_type": st.fixed_dictionaries({"id": st.integers(0, 6),
                                             "description": st.sampled_from(
                                                 ["Update location", "Create PDP Context"])}),
        "traffic_type": st.fixed_dictionaries({"id": st.sampled_from([5, 6])}),
        "alert": scalars, "id": scalars, "cost": scalars, "description": scalars,
        "volume": st.fixed_dictionaries({"total": scalars}),
        "sim": st.fixed_dictionaries({"iccid": scalars}),
        "timestamp": scalars, "imsi": st.one_of(scalars, st.fixed_dictionaries(
            {"imsi": scalars})),
        "nested": st.fixed_dictionaries({"list": st.lists(scalars, max_size=3)}),
    }), min_size=1, max_size=8)


@given(generated_records, st.lists(expressions(), min_size=1, max_size=4),
       st.integers(0, 8))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_sql_agrees_with_python_on_generated_records(tmp_path_factory, records, texts,
                                                     indexed):
    path = tmp_path_factory.mktemp("gen") / "c.sqlite"
    make_capture(path, records, indexed=indexed)
    for text in texts:
        try:
            parse(text)
        except FilterError:
            continue
        assert sql_ids(path, text) == python_ids(path, text), text


def test_escaped_text_is_still_found_by_path_equality(tmp_path):
    # A sender may escape any character: "\u006el" is "nl". The quick text test in front of
    # path equality must not lose such records.
    path = tmp_path / "c.sqlite"
    writer = CaptureWriter(path)
    body = (b'[{"event_type": {"id": 1}, "detail": {"country": {"iso_code": "\\u006el"}}},'
            b' {"event_type": {"id": 1}, "detail": {"country": {"iso_code": "NL"}}},'
            b' {"event_type": {"id": 1}, "detail": {"country": {"iso_code": "de"}}}]')
    writer.store(Incoming("POST", "/", body, content_type="application/json"))
    writer.close()
    for text, want in (("detail.country.iso_code == nl", [1, 2]),
                       ("detail.country.iso_code != nl", [3]),
                       ("not detail.country.iso_code == nl", [3])):
        assert sql_ids(path, text) == want == python_ids(path, text)


def test_big_ranges_are_filtered_in_halves_with_the_same_answer(tmp_path, monkeypatch):
    from app.capture import follow

    records = Generator(sims=20, seed=17).records(3000)
    make_capture(tmp_path / "c.sqlite", [], indexed=0)
    writer = CaptureWriter(tmp_path / "c.sqlite")
    writer.store(Incoming("POST", "/", json.dumps(records).encode(),
                          content_type="application/json"))
    writer.close()
    for text in ("detail.country.iso_code == de", "type ~ PDP", "netherlands"):
        flt = parse(text)
        whole = Follower(tmp_path / "c.sqlite")
        monkeypatch.setattr(follow, "SPLIT_FROM", 10**9)
        one = whole.matching(flt, "event", 0, 3000)
        monkeypatch.setattr(follow, "SPLIT_FROM", 100)
        halves = whole.matching(flt, "event", 0, 3000)
        whole.close()
        assert list(halves) == list(one) and len(one) > 0


@pytest.mark.parametrize("value", [
    18446744073709551615, 123456789012345678901234567890, -5, 0, 1.5, 1e-05, True, False, None,
    "Update location", 'say "hi" \\ here', "8988228066602390137", "",
])
def test_filter_on_this_value_matches_exactly_that_value(tmp_path, value):
    """Issue 10 #5: the literal of "filter on this value" finds its record, SQL and Python."""
    from app.filters.lexer import filter_literal

    capture = tmp_path / "c.sqlite"
    make_capture(capture, [{"id": 7, "x": value}, {"id": 8, "x": "other"}])
    flt = f"x == {filter_literal(value)}"
    assert sql_ids(capture, flt) == python_ids(capture, flt) == [1], flt


# -- a regular expression of plain text anchored with ^ or $ runs as LIKE ----------------------

ANCHORED_VALUES = ["8988A", "8988a", "x8988A", "8988A\n", "8988A\n\n", "8988A\nx", "\n8988A",
                   "89_8A", "89%8A", "8988A\u0000z", "z\u0000", "", "8988", "A", "ü8988A",
                   "8988A ", "\u202e8988A", 8988, None, True, ["8988A"]]


@pytest.mark.parametrize("pattern", ["^8988", "8988a$", "^8988A$", "^89_8", "%8A$", "^$",
                                     "^", "$", "z$", "^ ", "A$"])
def test_an_anchored_pattern_means_the_same_in_sql_and_python(tmp_path, pattern):
    records = [{"id": n, "description": value, "sim": {"iccid": value}}
               for n, value in enumerate(ANCHORED_VALUES)]
    path = tmp_path / "anchored.sqlite"
    make_capture(path, records, indexed=len(records) // 2)  # half indexed, half not
    for text in (f"description ~ '{pattern}'", f"iccid ~ '{pattern}'",
                 f"description !~ '{pattern}'"):
        flt = parse(text)
        sql, _params = flt.where(None, "index")
        assert "regexp" not in sql  # LIKE, not a Python call per record
        assert sql_ids(path, text) == python_ids(path, text), text
    assert sql_ids(path, "iccid ~ '8988A$'")  # the cases above match something
