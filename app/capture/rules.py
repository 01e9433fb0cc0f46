"""Answer rules: how the endpoint answers a valid, authenticated batch when told to fail.

A rule is one line, ``ACTION [SCOPE ...]`` (docs/answer-rules.md):

- ACTION: a status (``503``, ``429 retry-after 30s``, ``302 to /elsewhere``, ``200``),
  ``drop`` (close the connection without an answer), ``hang`` (no answer until the client gives
  up, at most 10 min), or ``delay DURATION [STATUS ...]`` (wait, then answer; default 200).
- SCOPE: ``for N`` (the next N matching POSTs), ``for DURATION`` (a time window from when the
  rule was added), ``N%`` (a share of the matching POSTs, at random), ``on GLOB`` (paths that
  match the glob). No scope: every POST until the rule is removed.

:class:`RuleSet` holds the rules in order (the first that matches decides, and is used up by
it) and the *Pause acknowledgements* switch. Qt-free and thread-safe: the receiver decides on
its storage thread while its control channel edits the rules from the event loop, and the window
validates a rule's text with :func:`parse_rule` before sending it.
"""

from __future__ import annotations

import fnmatch
import http
import random
import re
import threading
import time
from dataclasses import dataclass, replace

# A hang (and a delay) never lasts longer than this: the connection is closed then.
MAX_WAIT_SECONDS = 600.0
# The Retry-After of a 429 or 503 (and of the pause) when the rule does not give one.
DEFAULT_RETRY_AFTER = 10
# The rule text stored with a request answered while acknowledgements are paused.
PAUSE_RULE = "pause"
REDIRECTS = (301, 302, 303, 307, 308)
_STATUS_EXPECTED = "a status (e.g. 503), drop, hang or delay DURATION"
_SCOPE_EXPECTED = "a scope (for N, for DURATION, N%, on GLOB)"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class RuleError(ValueError):
    """A rule's text cannot be read; ``str()`` is one line naming the word and what was
    expected."""


@dataclass(frozen=True)
class Rule:
    """One parsed rule: what it answers and to which POSTs (``id``: its place in a
    :class:`RuleSet`, 0 before it is added)."""

    text: str
    kind: str  # status | drop | hang | delay
    status: int | None = None  # the status answered (status, delay); None for drop and hang
    retry_after: int | None = None  # seconds (the Retry-After header), None: no header
    location: str | None = None  # a redirect's target as written; None: /moved + the path
    delay: float = 0.0  # seconds before the answer (delay)
    count: int | None = None  # for N
    window: float | None = None  # for DURATION (seconds)
    percent: float | None = None  # N%
    glob: str | None = None  # on GLOB
    id: int = 0

    def matches(self, path: str) -> bool:
        return self.glob is None or fnmatch.fnmatchcase(path, self.glob)

    def headers(self, path: str) -> tuple[tuple[str, str], ...]:
        """The headers this rule's answer carries (Retry-After, Location)."""
        out = []
        if self.retry_after is not None:
            out.append(("Retry-After", str(self.retry_after)))
        if self.status in REDIRECTS:
            out.append(("Location", self.location or "/moved" + path))
        return tuple(out)

    @property
    def action(self) -> str:
        """What the rule answers, in words ("503 Service Unavailable", "drop the
        connection")."""
        if self.kind == "drop":
            return "close the connection without an answer"
        if self.kind == "hang":
            return (f"no answer until the client gives up (at most "
                    f"{format_duration(MAX_WAIT_SECONDS)})")
        text = status_words(self.status or 200)
        if self.retry_after != _default_retry(self.status):
            text += (f" with Retry-After {self.retry_after} s" if self.retry_after is not None
                     else " without Retry-After")
        if self.status in REDIRECTS:
            text += f" to {self.location or '/moved + the path'}"
        if self.kind == "delay":
            text = f"wait {format_duration(self.delay)}, then {text}"
        return text

    @property
    def scope(self) -> str:
        """To which POSTs it answers, in words ("the next 2 POSTs")."""
        if self.percent is not None:
            text = f"{_number(self.percent)} % of POSTs"
            if self.count is not None:
                text += f", {_times(self.count)}"
        elif self.count is not None:
            text = "the next POST" if self.count == 1 else f"the next {self.count} POSTs"
        else:
            text = "every POST"
        if self.glob is not None:
            text += f" to paths matching {self.glob}"
        if self.window is not None:
            text += f", during {format_duration(self.window)} from when it was added"
        return text

    @property
    def summary(self) -> str:
        return f"{self.action} for {self.scope}"


@dataclass(frozen=True)
class Decision:
    """What the rules decided for one POST: the answer's status (0: no answer, for drop and
    hang), its headers, the wait before it, and the rule's text (:data:`PAUSE_RULE` while
    paused)."""

    rule: str
    kind: str  # status | drop | hang | delay
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    rule_id: int | None = None
    spent: bool = False  # this use was the rule's last: it left the list


def status_words(status: int) -> str:
    """``503 Service Unavailable`` (the number alone for a status without a phrase)."""
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def format_duration(seconds: float) -> str:
    """``300ms``, ``40s``, ``5m``, ``2h``, ``4m 10s``: how a rule writes a duration."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60 or (seconds != int(seconds) and seconds < 600):
        return f"{_number(round(seconds, 3))}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "",
             f"{secs}s" if secs else ""]
    return " ".join(p for p in parts if p)


def _number(value: float) -> str:
    return f"{value:g}"


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _default_retry(status: int | None) -> int | None:
    return DEFAULT_RETRY_AFTER if status in (429, 503) else None


# --- the grammar --------------------------------------------------------------------------------

def parse_rule(text: str) -> Rule:
    """The rule ``text`` says; :class:`RuleError` with one precise line when it cannot be
    read."""
    words = str(text).split()
    if not words:
        raise RuleError(f"an answer rule is empty: expected {_STATUS_EXPECTED}")
    words_lower = [w.lower() for w in words]
    pos = 0
    head = words_lower[0]
    fields: dict = {}
    if head == "drop" or head == "hang":
        fields["kind"] = head
        pos = 1
    elif head == "delay":
        if len(words) < 2:
            raise RuleError("'delay' needs a duration after it (e.g. delay 40s, delay 300ms)")
        delay = _duration(words[1], "a duration after 'delay' (300ms, 40s, 5m)")
        if delay > MAX_WAIT_SECONDS:
            raise RuleError(f"'{words[1]}': a delay is at most "
                            f"{format_duration(MAX_WAIT_SECONDS)}")
        if delay <= 0:
            raise RuleError(f"'{words[1]}': a delay must be longer than 0")
        fields.update(kind="delay", delay=delay, status=200)
        pos = 2
        if pos < len(words) and words[pos].isdigit():
            fields["status"] = _status(words[pos])
            pos += 1
            pos = _status_options(words, words_lower, pos, fields)
    elif head.isdigit():
        fields.update(kind="status", status=_status(words[0]))
        pos = _status_options(words, words_lower, 1, fields)
    else:
        raise RuleError(f"'{words[0]}' is not an answer: expected {_STATUS_EXPECTED}")
    if fields.get("status") is not None and "retry_after" not in fields:
        fields["retry_after"] = _default_retry(fields["status"])
    _scopes(words, words_lower, pos, fields)
    return Rule(text=" ".join(words), **fields)


def _status(word: str) -> int:
    status = int(word)
    if status == 200 or status in REDIRECTS or 400 <= status <= 599:
        return status
    raise RuleError(f"'{word}' cannot be answered: expected 200, a redirect "
                    f"({', '.join(map(str, REDIRECTS))}) or a status from 400 to 599")


def _status_options(words: list[str], lower: list[str], pos: int, fields: dict) -> int:
    """``retry-after N[s|m]`` and (redirects) ``to URL``, after a status."""
    status = fields["status"]
    while pos < len(words):
        word = lower[pos]
        if word == "retry-after":
            if "retry_after" in fields:
                raise RuleError("'retry-after' is given twice")
            if status == 200:
                raise RuleError("'retry-after' does not go with 200 (it acknowledges)")
            if pos + 1 >= len(words):
                raise RuleError("'retry-after' needs a number of seconds after it "
                                "(e.g. retry-after 30, retry-after 2m; or none)")
            fields["retry_after"] = _retry_after(words[pos + 1])
            pos += 2
        elif word == "to":
            if status not in REDIRECTS:
                raise RuleError(f"'to' goes only with a redirect status "
                                f"({', '.join(map(str, REDIRECTS))}), not {status}")
            if "location" in fields:
                raise RuleError("'to' is given twice")
            if pos + 1 >= len(words):
                raise RuleError("'to' needs a URL or a path after it (e.g. to /elsewhere, "
                                "to https://backup.example/)")
            fields["location"] = _location(words[pos + 1])
            pos += 2
        else:
            return pos
    return pos


def _retry_after(word: str) -> int | None:
    if word.lower() == "none":
        return None
    match = re.fullmatch(r"(\d+)([sm]?)", word, re.IGNORECASE)
    if match is None:
        raise RuleError(f"'{word}' is not a number of seconds: expected retry-after N, Ns or "
                        f"Nm (e.g. retry-after 30), or retry-after none")
    value = int(match.group(1)) * (60 if match.group(2).lower() == "m" else 1)
    if value > 86400:
        raise RuleError(f"'{word}': a Retry-After is at most a day (86400 s)")
    return value


def _location(word: str) -> str:
    ok = (word.startswith("/") or re.match(r"https?://[^/]", word, re.IGNORECASE)) and all(
        "!" <= ch <= "~" for ch in word)
    if not ok:
        raise RuleError(f"'{word}' is not a URL or a path: expected https://… or /path "
                        f"(ASCII, no spaces)")
    return word


def _duration(word: str, expected: str) -> float:
    match = _DURATION.fullmatch(word)
    if match is None:
        raise RuleError(f"'{word}' is not a duration: expected {expected}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]


def _scopes(words: list[str], lower: list[str], pos: int, fields: dict) -> None:
    kind = fields["kind"]
    while pos < len(words):
        word, low = words[pos], lower[pos]
        if low == "for":
            if pos + 1 >= len(words):
                raise RuleError("'for' needs a number of POSTs or a duration after it "
                                "(e.g. for 2, for 5m)")
            value = words[pos + 1]
            if value.isdigit():
                if "count" in fields:
                    raise RuleError(f"'for {value}': the number of POSTs is given twice")
                count = int(value)
                if count < 1:
                    raise RuleError(f"'for {value}': the number of POSTs must be at least 1")
                fields["count"] = count
            else:
                if "window" in fields:
                    raise RuleError(f"'for {value}': the time window is given twice")
                window = _duration(value, "a number of POSTs or a duration after 'for' "
                                          "(for 2, or for 300ms, 40s, 5m, 2h)")
                if window <= 0:
                    raise RuleError(f"'for {value}': the time window must be longer than 0")
                fields["window"] = window
            pos += 2
        elif low == "on":
            if pos + 1 >= len(words):
                raise RuleError("'on' needs a path glob after it (e.g. on /events/*)")
            if "glob" in fields:
                raise RuleError(f"'on {words[pos + 1]}': the path glob is given twice")
            glob = words[pos + 1]
            if not glob.startswith(("/", "*", "?", "[")):
                raise RuleError(f"'{glob}' is not a path glob: expected one that starts "
                                f"with / (e.g. on /events/*)")
            fields["glob"] = glob
            pos += 2
        elif word.endswith("%"):
            if "percent" in fields:
                raise RuleError(f"'{word}': the share of POSTs is given twice")
            try:
                percent = float(word[:-1])
            except ValueError:
                percent = -1.0
            if not re.fullmatch(r"\d+(\.\d+)?%", word) or not 0 < percent <= 100:
                raise RuleError(f"'{word}' is not a share: expected a percentage above 0 and "
                                f"at most 100 (e.g. 10%)")
            fields["percent"] = percent
            pos += 1
        elif low in ("retry-after", "to"):
            status = fields.get("status")
            if status is None:
                what = f"a status ({kind} answers none)"
            elif low == "to" and status not in REDIRECTS:
                what = "a redirect status"
            elif low == "retry-after" and status == 200:
                what = "a status other than 200"
            else:
                what = f"the status {status}, before the scope"
            raise RuleError(f"'{word}' goes only right after {what}")
        else:
            options = []
            if fields.get("status") not in (None, 200):
                options.append("retry-after N")
                if fields["status"] in REDIRECTS:
                    options.append("to URL")
            elif kind == "delay" and pos == 2:
                options.append("a status")
            options.append(_SCOPE_EXPECTED)
            expected = ", ".join(options[:-1]) + " or " + options[-1] if len(
                options) > 1 else options[0]
            raise RuleError(f"'{word}' is not understood here: expected {expected}")


# --- the rules in force -------------------------------------------------------------------------

@dataclass
class _Live:
    rule: Rule
    added: float
    used: int = 0

    def left(self, now: float) -> int | None:
        return None if self.rule.count is None else self.rule.count - self.used

    def expired(self, now: float) -> bool:
        return self.rule.window is not None and now >= self.added + self.rule.window


class RuleSet:
    """The rules in force, in order, and the *Pause acknowledgements* switch; thread-safe.

    :meth:`decide` is asked for each valid, authenticated POST: while paused it answers 503
    (with Retry-After) and uses up nothing; otherwise the first rule that matches the path (and,
    for a share, wins its draw) decides and is used once; a rule whose count is used up, or
    whose time window has passed, leaves the list. ``seed`` makes the draws reproducible.
    """

    def __init__(self, seed: int | None = None):
        self._rules: list[_Live] = []
        self._paused = False
        self._next_id = 1
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def add(self, text: str, now: float | None = None) -> Rule:
        """Parse ``text`` and append it (the last rule matches last); :class:`RuleError` when
        it cannot be read."""
        rule = parse_rule(text)
        with self._lock:
            rule = replace(rule, id=self._next_id)
            self._next_id += 1
            self._rules.append(_Live(rule, time.monotonic() if now is None else now))
        return rule

    def remove(self, rule_id: int) -> None:
        """Remove the rule ``rule_id``; :class:`RuleError` when there is none (used up)."""
        with self._lock:
            for i, live in enumerate(self._rules):
                if live.rule.id == rule_id:
                    del self._rules[i]
                    return
        raise RuleError(f"there is no answer rule {rule_id} (it may have been used up)")

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def paused(self) -> bool:
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        with self._lock:
            self._paused = bool(value)

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return [live.rule for live in self._rules]

    def decide(self, path: str, now: float | None = None) -> Decision | None:
        """The answer to a valid POST to ``path`` (None: the endpoint's own, 200)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._paused:
                return Decision(PAUSE_RULE, "status", 503,
                                (("Retry-After", str(DEFAULT_RETRY_AFTER)),))
            # A rule whose time window has passed is skipped here and removed by expire() or
            # state(), which say so.
            for i, live in enumerate(self._rules):
                rule = live.rule
                if live.expired(now) or not rule.matches(path):
                    continue
                if rule.percent is not None and self._random.random() * 100 >= rule.percent:
                    continue
                live.used += 1
                spent = live.left(now) == 0
                if spent:
                    del self._rules[i]
                status = 0 if rule.kind in ("drop", "hang") else rule.status or 200
                return Decision(rule.text, rule.kind, status, rule.headers(path),
                                rule.delay, rule.id, spent)
        return None

    def expire(self, now: float | None = None) -> bool:
        """Remove the rules whose time window has passed; whether any was."""
        with self._lock:
            return self._prune(time.monotonic() if now is None else now)

    def next_expiry(self, now: float | None = None) -> float | None:
        """Seconds until the next time window ends (None: no rule has one)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            ends = [live.added + live.rule.window for live in self._rules
                    if live.rule.window is not None]
        return max(0.0, min(ends) - now) if ends else None

    def _prune(self, now: float) -> bool:
        before = len(self._rules)
        self._rules[:] = [live for live in self._rules if not live.expired(now)]
        return len(self._rules) != before

    def state(self, error: str | None = None, now: float | None = None) -> dict:
        """The ``answers`` event: the switch and each rule with what is left of it."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._prune(now)
            rules = [{
                "id": live.rule.id,
                "text": live.rule.text,
                "summary": live.rule.summary,
                "left": _left(live, now),
                "used": live.used,
                "active": not self._paused,
            } for live in self._rules]
            out: dict = {"event": "answers", "paused": self._paused, "rules": rules}
        if error:
            out["error"] = error
        return out


def _left(live: _Live, now: float) -> str:
    parts = []
    if live.rule.count is not None:
        parts.append(f"{live.rule.count - live.used} of {live.rule.count} left")
    if live.rule.window is not None:
        remaining = max(0.0, live.added + live.rule.window - now)
        parts.append(f"{format_duration(max(1.0, round(remaining)))} left")
    return ", ".join(parts) or "until removed"


def format_answers_line(state: dict) -> str:
    """The ``answers`` event as one line of the human output."""
    if state.get("error"):
        return f"answer rules: refused: {state['error']}"
    parts = [f"#{r['id']} {r['text']} ({r['left']})" for r in state["rules"]]
    text = "answer rules: " + ("; ".join(parts) if parts else "none (valid batches get 200)")
    if state["paused"]:
        text = ("acknowledgements paused: every valid POST gets 503 with Retry-After; " +
                text)
    return text
