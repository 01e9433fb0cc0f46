"""Issue 15: a filter's search terms (what the window highlights), and the Requests table's
``target`` field (the request target as it arrived; the decoded path and query before capture
format 7)."""

from __future__ import annotations

import sqlite3 as stdlib_sqlite3

import pytest

from app.capture.follow import Follower
from app.capture.schema import has_targets
from app.capture.writer import CaptureWriter, Incoming
from app.filters.known import KnownNames
from app.filters.parser import FilterError, parse
from app.filters.terms import match_spans, search_terms

# --- search terms ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "terms"), [
    ("Truck", ("Truck",)),
    ('"Update location"', ("Update location",)),
    ("truck netherlands", ("truck", "netherlands")),
    ("truck or (lorry and van)", ("truck", "lorry", "van")),
    ("not truck", ()),
    ("! truck", ()),
    ("truck and not lorry", ("truck",)),
    ("not (truck or lorry) van", ("van",)),
    ("not not truck", ()),  # a double negation is rare; nothing under a not is marked
    ("iccid == 8988228066600001234", ()),  # a comparison compares, it does not search
    ("type ~ PDP and severity != INFO", ()),
    ("alert", ()),  # a field name: a test of the field
    ('"alert"', ("alert",)),  # quoted: a search for the word
    ("detail.country", ()),
    ("last 15m", ()),
    ("unacknowledged redelivered", ()),
    ('truck TRUCK "Truck"', ("truck",)),  # once, ASCII case ignored (the first spelling)
    ('""', ()),  # the empty phrase matches everything: nothing to mark
    ("", ()),
])
def test_search_terms_are_the_words_a_passing_row_contains(text, terms):
    assert search_terms(parse(text)) == terms


def test_search_terms_of_request_filters_and_of_no_filter():
    assert search_terms(parse('status >= 400 "bad json" or hook', "requests")) == (
        "bad json", "hook")
    assert search_terms(parse("unacked", "requests")) == ()
    assert search_terms(None) == ()


def test_search_terms_of_a_long_chain():
    words = [f"w{n}" for n in range(3000)]  # as deep as it is long: no recursion
    assert search_terms(parse(" ".join(words))) == tuple(words)


def test_match_spans_ignore_ascii_case_and_merge():
    assert match_spans("Truck 7 / TRUCK-trucker", ("truck",)) == [(0, 5), (10, 15), (16, 21)]
    assert match_spans("abcabc", ("bca", "ab")) == [(0, 5)]  # overlapping: one span
    assert match_spans("aaa", ("aa",)) == [(0, 3)]
    assert match_spans("no match", ("truck",)) == []
    assert match_spans("", ("truck",)) == [] and match_spans("truck", ()) == []
    # as the filter matches: ASCII letters only fold (SQLite's LIKE), so "É" is not "é"
    assert match_spans("Café CAFÉ", ("café",)) == [(0, 4)]


# --- the target field ------------------------------------------------------------------------

BATCH = b'[{"id": 1, "event_type": {"id": 1, "description": "x"}}]'
# (target as it arrived, decoded path, decoded query); None: a request known without its target
REQUESTS = [("/x%2Fy", "/x/y", ""), ("/x/y", "/x/y", ""), ("/hook?a=%2F", "/hook", "a=/"),
            (None, "/imported", "q=1")]


def make(path) -> None:
    writer = CaptureWriter(path)
    try:
        for target, decoded, query in REQUESTS:
            writer.store(Incoming("POST", decoded, BATCH, query=query, target=target,
                                  content_type="application/json"))
    finally:
        writer.close()


def matching(path, text: str) -> list[int]:
    follower = Follower(path)
    try:
        return list(follower.matching(parse(text, "requests"), "requests", 0, 100))
    finally:
        follower.close()


TARGET_CASES = [
    ('target == "/x%2Fy"', [1], []),
    ('target ~ "%2F"', [1, 3], []),
    ("target ~ %2F", [1, 3], []),  # (% is no regex syntax: the same as the quoted literal)
    ('target == "/x/y"', [2], [1, 2]),
    ("path == /x/y", [1, 2], [1, 2]),  # the decoded path cannot tell them apart
    ('target == "/imported?q=1"', [4], [4]),  # stored without a target: path and query
    ('target == "/hook?a=/"', [], [3]),
    ("target == null", [], []),
    ('not target ~ "%2F"', [2, 4], [1, 2, 3, 4]),
]


@pytest.mark.parametrize(("text", "now", "_before"), TARGET_CASES,
                         ids=[c[0] for c in TARGET_CASES])
def test_target_is_the_request_target_as_it_arrived(tmp_path, text, now, _before):
    path = tmp_path / "c.sqlite"
    make(path)
    assert matching(path, text) == now
    # The same meaning in plain Python, on the stored rows (what the property tests hold).
    db = stdlib_sqlite3.connect(path)
    rows = db.execute("SELECT id, target, path, query FROM request ORDER BY id").fetchall()
    db.close()
    flt = parse(text, "requests")
    assert [r[0] for r in rows if flt.matches(
        {"id": r[0], "target": r[1], "path": r[2], "query": r[3]})] == now


def test_target_on_a_capture_older_than_format_7(tmp_path):
    """Format 6 has no target column: the field reads the decoded path and query (what the
    Path column shows there), with no 'no such column'."""
    path = tmp_path / "c.sqlite"
    make(path)
    db = stdlib_sqlite3.connect(path)
    db.executescript("ALTER TABLE request DROP COLUMN target; "
                     "ALTER TABLE request DROP COLUMN endpoint; PRAGMA user_version = 6;")
    db.close()
    probe = stdlib_sqlite3.connect(path)
    assert not has_targets(probe)
    probe.close()
    for text, _now, before in TARGET_CASES:
        assert matching(path, text) == before, text


def test_target_is_a_request_field_only():
    with pytest.raises(FilterError, match='did you mean "target"'):
        parse("targt == x", "requests")
    assert parse("target", "requests").root.ref.kind == "request"  # a bare field: a test


def test_a_request_field_in_a_record_filter_says_whose_field_it_is():
    """``summary --filter`` filters records: ``target`` (or ``path``) there is not a misspelt
    record field (it was answered 'did you mean "start"?')."""
    known = KnownNames(["event_type", "sim"])
    for name in ("target", "path", "Method"):
        with pytest.raises(FilterError, match=f'"{name}" is a field of requests') as info:
            parse(f"{name} ~ x", known=known)
        assert info.value.position == 0
    assert parse("target ~ x", known=KnownNames(["target"])).root.ref.kind == "path"  # a key
    with pytest.raises(FilterError, match='did you mean "severity"'):
        parse("sevrity == WARN", known=known)
