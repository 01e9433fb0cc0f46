"""The answer rules' grammar and the rule set, without a server (docs/answer-rules.md)."""

from __future__ import annotations

import threading

import pytest

from app.capture.rules import (
    PAUSE_RULE,
    RuleError,
    RuleSet,
    format_answers_line,
    format_duration,
    parse_rule,
)

# --- the grammar -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "fields", "summary"), [
    ("503 for 2", {"kind": "status", "status": 503, "retry_after": 10, "count": 2},
     "503 Service Unavailable for the next 2 POSTs"),
    ("drop for 1", {"kind": "drop", "status": None, "count": 1},
     "close the connection without an answer for the next POST"),
    ("delay 40s for 1", {"kind": "delay", "status": 200, "delay": 40.0, "count": 1},
     "wait 40s, then 200 OK for the next POST"),
    ("302 for 1", {"kind": "status", "status": 302, "location": None, "count": 1},
     "302 Found to /moved + the path for the next POST"),
    ("500 10%", {"kind": "status", "status": 500, "retry_after": None, "percent": 10.0},
     "500 Internal Server Error for 10 % of POSTs"),
    ("hang", {"kind": "hang", "count": None, "window": None},
     "no answer until the client gives up (at most 10m) for every POST"),
    ("429 retry-after 2m on /events/* for 5m",
     {"status": 429, "retry_after": 120, "glob": "/events/*", "window": 300.0},
     "429 Too Many Requests with Retry-After 120 s for every POST to paths matching "
     "/events/*, during 5m from when it was added"),
    ("delay 300ms 503 retry-after none for 3",
     {"kind": "delay", "delay": 0.3, "status": 503, "retry_after": None, "count": 3},
     "wait 300ms, then 503 Service Unavailable without Retry-After for the next 3 POSTs"),
    ("307 to https://backup.example/in 50% for 3",
     {"status": 307, "location": "https://backup.example/in", "percent": 50.0, "count": 3},
     "307 Temporary Redirect to https://backup.example/in for 50 % of POSTs, 3 times"),
    ("  DROP   For 1h  ", {"kind": "drop", "window": 3600.0}, None),
    ("401 for 1", {"status": 401, "retry_after": None}, "401 Unauthorized for the next POST"),
    ("200 on /health", {"status": 200, "glob": "/health"}, None),
    ("599", {"status": 599}, "599 for every POST"),
])
def test_rules_read_as_written(text, fields, summary):
    rule = parse_rule(text)
    for name, value in fields.items():
        assert getattr(rule, name) == value, name
    assert rule.text == " ".join(text.split())
    if summary is not None:
        assert rule.summary == summary


def test_headers_of_an_answer():
    assert parse_rule("503").headers("/a") == (("Retry-After", "10"),)
    assert parse_rule("429 retry-after 30s").headers("/a") == (("Retry-After", "30"),)
    assert parse_rule("302").headers("/in/x") == (("Location", "/moved/in/x"),)
    assert parse_rule("308 to /new retry-after 5").headers("/x") == (
        ("Retry-After", "5"), ("Location", "/new"))
    assert parse_rule("500").headers("/x") == ()


@pytest.mark.parametrize(("text", "message"), [
    ("", "an answer rule is empty: expected a status (e.g. 503), drop, hang or delay DURATION"),
    ("fail", "'fail' is not an answer: expected a status (e.g. 503), drop, hang or delay "
             "DURATION"),
    ("600", "'600' cannot be answered: expected 200, a redirect (301, 302, 303, 307, 308) or a "
            "status from 400 to 599"),
    ("204", "'204' cannot be answered"),
    ("503 for", "'for' needs a number of POSTs or a duration after it (e.g. for 2, for 5m)"),
    ("503 for 0", "'for 0': the number of POSTs must be at least 1"),
    ("503 for soon", "'soon' is not a duration: expected a number of POSTs or a duration "
                     "after 'for' (for 2, or for 300ms, 40s, 5m, 2h)"),
    ("503 for 0s", "'for 0s': the time window must be longer than 0"),
    ("503 for 2 for 3", "'for 3': the number of POSTs is given twice"),
    ("503 for 1m for 2m", "'for 2m': the time window is given twice"),
    ("503 150%", "'150%' is not a share: expected a percentage above 0 and at most 100"),
    ("503 0%", "'0%' is not a share"),
    ("503 x%", "'x%' is not a share"),
    ("503 5% 6%", "'6%': the share of POSTs is given twice"),
    ("delay", "'delay' needs a duration after it (e.g. delay 40s, delay 300ms)"),
    ("delay 40", "'40' is not a duration: expected a duration after 'delay' (300ms, 40s, 5m)"),
    ("delay 11m", "'11m': a delay is at most 10m"),
    ("delay 0s", "'0s': a delay must be longer than 0"),
    ("delay 1s 2", "'2' cannot be answered"),
    ("delay 1s x", "'x' is not understood here: expected a status or a scope (for N, for "
                   "DURATION, N%, on GLOB)"),
    ("503 to /x", "'to' goes only with a redirect status (301, 302, 303, 307, 308), not 503"),
    ("302 to", "'to' needs a URL or a path after it (e.g. to /elsewhere, "
               "to https://backup.example/)"),
    ("302 to elsewhere", "'elsewhere' is not a URL or a path: expected https://… or /path "
                         "(ASCII, no spaces)"),
    ("302 to /a to /b", "'to' is given twice"),
    ("302 for 1 to /x", "'to' goes only right after the status 302, before the scope"),
    ("503 for 1 retry-after 3", "'retry-after' goes only right after the status 503, before "
                                "the scope"),
    ("drop retry-after 5", "'retry-after' goes only right after a status (drop answers none)"),
    ("hang to /x", "'to' goes only right after a status (hang answers none)"),
    ("200 retry-after 5", "'retry-after' does not go with 200 (it acknowledges)"),
    ("503 retry-after", "'retry-after' needs a number of seconds after it"),
    ("503 retry-after soon", "'soon' is not a number of seconds: expected retry-after N, Ns or "
                             "Nm (e.g. retry-after 30), or retry-after none"),
    ("503 retry-after 2d", "'2d' is not a number of seconds"),
    ("503 retry-after 2000m", "'2000m': a Retry-After is at most a day (86400 s)"),
    ("503 retry-after 1 retry-after 2", "'retry-after' is given twice"),
    ("503 on", "'on' needs a path glob after it (e.g. on /events/*)"),
    ("503 on events", "'events' is not a path glob: expected one that starts with / "
                      "(e.g. on /events/*)"),
    ("503 on /a on /b", "'on /b': the path glob is given twice"),
    ("503 bogus", "'bogus' is not understood here: expected retry-after N or a scope (for N, "
                  "for DURATION, N%, on GLOB)"),
    ("302 bogus", "'bogus' is not understood here: expected retry-after N, to URL or a scope"),
    ("drop bogus", "'bogus' is not understood here: expected a scope (for N, for DURATION, "
                   "N%, on GLOB)"),
])
def test_every_error_is_one_precise_line(text, message):
    with pytest.raises(RuleError) as caught:
        parse_rule(text)
    said = str(caught.value)
    assert said.startswith(message), said
    assert "\n" not in said and "Traceback" not in said


def test_durations_read_back_as_written():
    assert [format_duration(s) for s in (0.3, 1, 40, 59.5, 60, 90, 300, 600, 7200, 5400)] == [
        "300ms", "1s", "40s", "59.5s", "1m", "1m 30s", "5m", "10m", "2h", "1h 30m"]


# --- the rule set ------------------------------------------------------------------------------


def test_count_scope_is_used_up_in_order():
    rules = RuleSet()
    first = rules.add("503 for 2", now=0)
    rules.add("drop for 1", now=0)
    assert first.id == 1
    decisions = [rules.decide("/", now=1) for _ in range(4)]
    assert [(d.status, d.kind) if d else None for d in decisions] == [
        (503, "status"), (503, "status"), (0, "drop"), None]
    assert [d.spent for d in decisions[:3]] == [False, True, True]
    assert decisions[0].headers == (("Retry-After", "10"),)
    assert rules.state(now=1) == {"event": "answers", "paused": False, "rules": []}


def test_state_says_what_is_left():
    rules = RuleSet()
    rules.add("503 for 2", now=0)
    rules.add("500 on /x/* for 5m", now=0)
    rules.add("429 for 3 for 1m", now=0)
    rules.decide("/", now=10)
    state = rules.state(now=10)
    assert [(r["id"], r["left"], r["used"], r["active"]) for r in state["rules"]] == [
        (1, "1 of 2 left", 1, True), (2, "4m 50s left", 0, True),
        (3, "3 of 3 left, 50s left", 0, True)]
    assert state["rules"][0]["summary"] == "503 Service Unavailable for the next 2 POSTs"
    assert format_answers_line(state) == (
        "answer rules: #1 503 for 2 (1 of 2 left); #2 500 on /x/* for 5m (4m 50s left); "
        "#3 429 for 3 for 1m (3 of 3 left, 50s left)")
    assert rules.state("'x' is not an answer", now=10)["error"] == "'x' is not an answer"


def test_path_glob_and_first_match():
    rules = RuleSet()
    rules.add("200 on /health", now=0)
    rules.add("503 on /events/*", now=0)
    rules.add("500", now=0)
    assert rules.decide("/health", now=0).status == 200
    assert rules.decide("/events/a", now=0).status == 503
    assert rules.decide("/events", now=0).status == 500
    assert rules.decide("/usage", now=0).status == 500
    assert len(rules.rules) == 3  # no count: in force until removed


def test_time_window_ends_and_leaves_the_list():
    rules = RuleSet()
    rules.add("503 for 30s", now=100)
    assert rules.next_expiry(now=110) == 20
    assert rules.decide("/", now=129.9).status == 503
    assert rules.decide("/", now=130) is None
    assert len(rules.rules) == 1  # decide skips it; expire() removes it (and says so)
    assert rules.expire(now=130) is True
    assert rules.rules == [] and rules.next_expiry() is None
    assert rules.expire(now=131) is False


def test_a_share_is_random_and_reproducible():
    def run(seed):
        rules = RuleSet(seed)
        rules.add("500 30%", now=0)
        return [rules.decide("/", now=0) is not None for _ in range(200)]

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    assert 30 <= sum(first) <= 90  # about 60 of 200


def test_a_share_that_loses_its_draw_lets_the_next_rule_decide():
    rules = RuleSet(seed=1)
    rules.add("502 50% for 3", now=0)
    rules.add("503", now=0)
    seen = [rules.decide("/", now=0).status for _ in range(40)]
    assert seen.count(502) == 3  # used up after three wins
    assert set(seen) == {502, 503}


def test_pause_wins_and_uses_nothing_up():
    rules = RuleSet()
    rules.add("500 for 1", now=0)
    rules.paused = True
    decision = rules.decide("/", now=0)
    assert (decision.rule, decision.status, decision.rule_id) == (PAUSE_RULE, 503, None)
    assert decision.headers == (("Retry-After", "10"),)
    state = rules.state(now=0)
    assert state["paused"] is True and state["rules"][0]["active"] is False
    assert state["rules"][0]["left"] == "1 of 1 left"
    assert format_answers_line(state).startswith("acknowledgements paused: every valid POST "
                                                 "gets 503")
    rules.paused = False
    assert rules.decide("/", now=0).status == 500
    assert rules.decide("/", now=0) is None


def test_remove_and_clear():
    rules = RuleSet()
    rules.add("500", now=0)
    second = rules.add("502", now=0)
    rules.remove(1)
    assert [r.id for r in rules.rules] == [second.id]
    with pytest.raises(RuleError, match="there is no answer rule 1 \\(it may have been used up\\)"):
        rules.remove(1)
    rules.clear()
    assert rules.rules == [] and rules.decide("/", now=0) is None
    assert rules.add("503", now=0).id == 3  # ids are never reused


def test_decide_is_thread_safe():
    rules = RuleSet()
    rules.add("503 for 1000", now=0)
    used: list[int] = []

    def worker():
        for _ in range(300):
            if rules.decide("/") is not None:
                used.append(1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(used) == 1000 and rules.rules == []
