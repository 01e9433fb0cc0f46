"""Classification by shape and the precise answers to bodies that are not batches."""

import json

import pytest

from app.records.shape import BodyError, family_of, inspect_body
from app.replay.generator import Generator
from tests.conftest import EVENT_SAMPLE, USAGE_SAMPLE

SMS_DR = {"id": 1, "submit_date": "2024-12-13T12:49:57.000Z",
          "final_date": "2024-12-13T12:49:59.000Z", "organisation": {"id": 1},
          "endpoint": {"id": 2, "name": "8988"}, "status": {"status": "DELIVERED", "id": 4},
          "detail": {"sms": {"id": "77"}}}
SMS_MO = {"id": 2, "submit_date": "2024-12-13T12:49:57.000Z", "organisation": {"id": 1},
          "endpoint": {"id": 2, "name": "8988"}, "source_address": "882285", "dest_address": "338",
          "payload": "hello", "dcs": 0, "pid": 0}


def test_documented_samples_are_event_and_usage():
    assert inspect_body(EVENT_SAMPLE.read_bytes()).counts == {"event": 1}
    assert inspect_body(USAGE_SAMPLE.read_bytes()).counts == {"usage": 1}


@pytest.mark.parametrize(("record", "family"), [
    (SMS_DR, "sms_dr"),
    (SMS_MO, "sms_mo"),
    ({"id": 3, "something": "new"}, "unknown"),
    ({"volume": {"total": 1}, "start_timestamp": "x"}, "usage"),
    # An event whose quota detail carries a traffic type is still an event.
    ({"event_type": {"id": 20}, "detail": {"quota": {"traffic_type": {"id": 6}}}}, "event"),
    # A nested key alone does not make a family: only top-level keys count.
    ({"wrapper": {"event_type": {"id": 1}}}, "unknown"),
])
def test_family_by_top_level_keys(record, family):
    assert family_of(record) == family
    shape = inspect_body(json.dumps([record]).encode())
    assert shape.counts == {family: 1}


def test_mixed_batch_codes_follow_record_order():
    body = json.dumps([SMS_MO, {"event_type": {}}, SMS_DR, {"traffic_type": {}}, {}]).encode()
    shape = inspect_body(body)
    assert shape.codes == b"medux"
    assert shape.total == 5


def test_generated_batch_is_classified_like_python_would():
    records = Generator(sims=20, seed=3).records(500)
    shape = inspect_body(json.dumps(records).encode())
    expected = {}
    for r in records:
        fam = "event" if "event_type" in r else "usage"
        expected[fam] = expected.get(fam, 0) + 1
    assert shape.counts == expected


def test_records_of_shapes_seen_before_are_classified_as_at_first(monkeypatch):
    """inspect_body remembers each key list's family (and whether a key is given twice):
    the same answer as the standard library's reading, batch after batch, whatever the keys'
    order, also when the remembered lists are forgotten midway and for records of many keys."""
    from app.records import shape as shape_module

    monkeypatch.setattr(shape_module, "_KEY_TUPLES_KEPT", 7)  # forgotten again and again
    texts = []
    for keys in (["event_type", "id"], ["id", "event_type"], ["traffic_type", "volume"],
                 ["volume", "start_timestamp"], ["status", "submit_date"], ["final_date"],
                 ["payload", "dest_address"], ["payload"], ["id"], [],
                 [f"k{i}" for i in range(100)] + ["event_type"], [f"k{i}" for i in range(70)]):
        fields = ", ".join(f'"{k}": {n}' for n, k in enumerate(keys))
        texts.append("{" + fields + "}")
        if keys:  # the same keys with one given twice: another answer for the same list
            texts.append("{" + fields + f', "{keys[0]}": "again"' + "}")
    body = ("[" + ", ".join(texts * 3) + "]").encode()
    expected = shape_module._inspect_slow(body)
    for _ in range(3):
        got = inspect_body(body)
        assert (got.codes, got.counts, got.notes) == \
            (expected.codes, expected.counts, expected.notes)
    assert b"e" in expected.codes and b"u" in expected.codes and b"d" in expected.codes
    assert any("twice" in note for note in expected.notes)


@pytest.mark.parametrize(("body", "message"), [
    (b"", "the body is empty"),
    (b"   \n", "the body holds only white space (4 bytes)"),  # issue 10 #14: not "empty"
    (b'{"id": 1}', "the body is an object, not a list"),
    (b'"text"', "the body is a string, not a list"),
    (b"[{}, 5]", "element 1 of the list is a number, not an object"),
    (b"[{}, [1]]", "element 1 of the list is a list, not an object"),
    (b"[null]", "element 0 of the list is null, not an object"),
    (b'[{"a": NaN}]', "NaN is not valid JSON"),
    (b'\xef\xbb\xbf[{"a": 1}]', "byte order mark"),
])
def test_bad_bodies_get_a_precise_message(body, message):
    with pytest.raises(BodyError) as info:
        inspect_body(body)
    assert message in str(info.value)


def test_syntax_error_names_line_column_and_offset():
    body = b'[{"a": 1},\n {"b": 2,}]'
    with pytest.raises(BodyError) as info:
        inspect_body(body)
    err = info.value
    assert (err.line, err.column) == (2, 10)
    assert body[err.offset:err.offset + 1] == b"}"
    assert "line 2 column 10" in str(err)
    assert err.as_json()["position"] == {"line": 2, "column": 10, "offset": err.offset}


def test_invalid_utf8_names_the_byte():
    with pytest.raises(BodyError) as info:
        inspect_body(b'[{"name": "caf\xe9"}]')
    assert "not valid UTF-8 (byte 0xe9 at offset 14)" in str(info.value)


def test_valid_json_that_simdjson_refuses_still_classifies():
    # Integers beyond 64 bits are valid JSON; simdjson refuses them, the stdlib takes them.
    body = b'[{"event_type": {"id": 1}, "id": 123456789012345678901234567890}]'
    assert inspect_body(body).counts == {"event": 1}


def test_parser_is_reusable_after_an_error():
    with pytest.raises(BodyError):
        inspect_body(b"[{}, 1]")
    assert inspect_body(b"[{}]").counts == {"unknown": 1}


# -- issue 10: one exact reading of a record, and notes on non-interoperable JSON -------------


def test_parse_record_is_exact_and_takes_the_first_duplicate():
    from app.records.shape import JsonFloat, parse_record

    assert parse_record('{"id":18446744073709551616}')["id"] == 2**64
    assert parse_record('{"id":123456789012345678901234567890}')["id"] == \
        123456789012345678901234567890
    assert parse_record('{"id":1,"id":2}') == {"id": 1}  # as SQLite's json_extract reads it
    assert type(parse_record('{"id":1,"id":2}')) is dict  # a plain dict: type checks hold
    assert parse_record(b'{"a":{"b":1,"b":2}}') == {"a": {"b": 1}}
    huge = parse_record('{"v":1e400}')["v"]
    assert isinstance(huge, JsonFloat) and str(huge) == "1e400" and huge == float("inf")
    assert parse_record('{"s":"\\ud83d"}')["s"] == "\ud83d"
    deep = '{"a":' * 400 + "1" + "}" * 400
    assert parse_record(deep)["a"]["a"]["a"]


def test_strict_json_rewrites_only_what_strict_parsers_refuse():
    from app.records.shape import strict_json

    text = '{"id":1,"id":2,"s":"x\\ud83dy","v":1e400,"big":123456789012345678901234567890}'
    strict, changed = strict_json(text)
    assert changed
    assert json.loads(strict) == {"id": 1, "s": "x\ufffdy", "v": "1e400",
                                  "big": 123456789012345678901234567890}
    plain = '{"id":123456789012345678901234567890,"s":"\\u00fc"}'
    assert strict_json(plain) == (plain, False)


@pytest.mark.parametrize(("body", "words"), [
    (b'[{"id":1,"id":2}]', "duplicate keys"),  # simdjson takes it: the fast path notes it
    (b'[{"s":"\\ud83d"}]', "lone surrogate"),
    (b'[{"v":-1e400}]', "outside the range of a double"),
    (b'[{"id":123456789012345678901234567890}]', "integer beyond 64 bits"),
    (b'[{"a":[{"b":1,"b":2}]},{"s":"\\udc00"}]', "duplicate keys"),  # nested: slow path
])
def test_non_interoperable_records_get_a_note(body, words):
    notes = inspect_body(body).notes
    assert any(words in note for note in notes), notes


def test_interoperable_records_get_no_note():
    body = json.dumps(Generator(sims=5, seed=3).records(50)).encode()
    assert inspect_body(body).notes == []
    assert inspect_body(b'[{"id":18446744073709551615,"v":1e-400}]').notes == []


# -- what is acknowledged must split: nothing nested deeper than SQLite reads (issue 17) -------

@pytest.mark.parametrize("depth", [995, 997, 998, 999, 1000, 1022, 1023, 1024, 1030])
def test_a_body_is_accepted_only_when_sqlite_can_split_it(depth):
    """The body is split into records after its 200 (app.capture.inbox), so judging it must
    refuse what SQLite's JSON reader refuses: nesting beyond 1,000 levels (simdjson and orjson
    read 1,024)."""
    from app.db import sqlite3
    from app.records.shape import _inspect_orjson

    body = ('[{"a":' + "[" * depth + "]" * depth + "}]").encode()
    db = sqlite3.connect(":memory:")
    try:
        db.execute("SELECT count(*) FROM json_each(?)", (body.decode(),)).fetchone()
        splits = True
    except sqlite3.OperationalError:
        splits = False
    finally:
        db.close()
    # SQLite reads 1,000 levels since 3.45 (an older one, e.g. the standard library's here,
    # reads more): what is accepted always splits
    assert splits or depth + 2 > 1000
    for judge in (inspect_body, _inspect_orjson):
        if depth + 2 <= 1000:
            assert judge(body).total == 1
        else:
            with pytest.raises(BodyError, match="nested more than 1000 levels"):
                judge(body)


@pytest.mark.parametrize("body", [b"1,2", b"[1] [2]", b"1]],[[2", b"[{}],[{}]", b"[{}]]",
                                  b"[[{}]", b"]"])
def test_the_wrapping_lists_never_make_two_values_one(body):
    from app.records.shape import _inspect_orjson

    for judge in (inspect_body, _inspect_orjson):
        with pytest.raises(BodyError, match="invalid JSON"):
            judge(body)
