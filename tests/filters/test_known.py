"""Names a filter uses, checked against the capture's (issue 15): a misspelt field is an error
naming the closest known one, a path no record has a warning; without a capture, as before."""

from __future__ import annotations

import pytest

from app.capture.schema import open_reader
from app.filters.known import CaptureNames, KnownNames, closest, occurs, sample_names
from app.filters.parser import FilterError, parse
from tests.filters.test_language import EDGE_RECORDS, make_capture

KNOWN = KnownNames(["event_type", "event_severity", "detail", "sim", "custom_key"],
                   ["detail.country", "detail.country.name", "detail.mnc[].mnc",
                    "event_type.id"])


@pytest.mark.parametrize(("text", "message"), [
    ("sevrity == WARN", 'unknown field "sevrity": did you mean "severity"?'),
    ("sev != INFO", 'unknown field "sev": did you mean "severity"?'),
    ("not (aler == 1)", 'unknown field "aler": did you mean "alert"?'),
    ("contry ~ Ger", 'unknown field "contry": did you mean "country"?'),
    ("zzz == 1", 'unknown field "zzz": no named field and no key of the records has that name'),
])
def test_an_unknown_name_is_an_error_naming_the_closest_field(text, message):
    with pytest.raises(FilterError) as caught:
        parse(text, known=KNOWN)
    assert caught.value.args[0] == message
    assert caught.value.position == text.index(message.split('"')[1])  # the name's column


def test_named_fields_keys_seen_and_bare_words_stay_allowed():
    for text in ("severity != INFO", "custom_key == 1", "sim == null", "family == event",
                 "seen > 1", "start >= 2025", "sevrity", "detail.mnc[3].mnc == 1"):
        assert parse(text, known=KNOWN).warnings == [], text
    assert parse("sevrity", known=KNOWN).root.__class__.__name__ == "Text"  # a bare word


def test_a_dotted_path_no_record_has_is_a_warning():
    flt = parse("detail.contry == nl and detail.contry ~ x", known=KNOWN)
    assert flt.warnings == ['no record has the path "detail.contry": did you mean '
                            '"detail.country"?']
    assert parse("detail.contry == nl").warnings == []  # nothing known: nothing said


def test_without_a_capture_every_path_is_allowed_as_before():
    assert parse("sevrity == WARN").root.ref.kind == "path"
    with pytest.raises(FilterError, match='did you mean "status"'):
        parse("stauts == 200", "requests")


def test_closest_prefers_a_name_it_begins():
    assert closest("sev", ["severity", "seen"]) == "severity"
    assert closest("iccdi", ["iccid", "imsi"]) == "iccid"
    assert closest("qqq", ["iccid"]) is None


def test_the_capture_answers_exactly_beyond_its_sample(tmp_path):
    path = tmp_path / "c.sqlite"
    rare = {"rare_key": {"deep": 1}, "id": 99}
    make_capture(path, [rare, *EDGE_RECORDS])
    db = open_reader(path)
    try:
        keys, paths, complete = sample_names(db, limit=2)  # the latest two records only
        assert "rare_key" not in keys and "rare_key.deep" not in paths and not complete
        assert occurs(db, ("rare_key",)) and occurs(db, ("rare_key", "deep"))  # exactly
        assert not occurs(db, ("rare_kye",)) and not occurs(db, ("rare_key", "dep"))
        keys, paths, complete = sample_names(db)
        assert complete  # every record read: a name it lacks, no record has
        assert {"nested.list[]", "event_type.id", "rare_key.deep"} <= set(paths)
        assert {"event_severity", "source_address", "rare_key"} <= set(keys)  # "quoted" by SQLite
        names = CaptureNames(db)
        assert parse("rare_key.deep == 1", known=names).warnings == []
        assert parse("payload ~ x and nested.list[2].x == null", known=names).warnings == []
        with pytest.raises(FilterError, match='did you mean "description"'):
            parse("descripton == x", known=names)
        assert parse("nested.lst == 1", known=names).warnings == [
            'no record has the path "nested.lst": did you mean "nested.list"?']
    finally:
        db.close()
    empty = tmp_path / "empty.sqlite"
    make_capture(empty, [])
    db = open_reader(empty)
    try:
        assert sample_names(db) is None  # no record yet: the window checks nothing
    finally:
        db.close()
