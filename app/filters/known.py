"""The names a filter may use beside the named fields: the keys and JSON paths the capture's
records hold. The parser checks a bare name against them (an unknown one is an error naming the
closest known field) and a dotted path (one that never occurs is a warning).

Qt-free. Two sources: :func:`sample_names` reads a bounded sample of a capture (the window's
reader thread, where a whole scan would stall the tables), and :func:`occurs` answers exactly
from the whole capture, one small query a name: :class:`CaptureNames` (``summary --filter``)
asks it for every name the sample lacks, the window's filter bars ask the reader thread to.
"""

from __future__ import annotations

import difflib
import re
import sqlite3
from collections.abc import Callable, Iterable
from typing import NamedTuple

from app.records.fields import json_path

# How the known names travel in the filter bars' completion values (the reader's completions
# dict): entries no field name can take (a NUL cannot be typed into a filter word).
KEYS_ENTRY = "\0keys"
PATHS_ENTRY = "\0paths"
EXACT_ENTRY = "\0exact"  # present: the sample read every record (and none came since)
CAPTURE_ENTRY = "\0capture"  # [the capture's path]: which capture the names are of
SAMPLE = 5000  # records read for the sample: the latest ones, and the latest of unknown shape

# One step of an SQLite JSON path (``fullkey``): ."quoted key", .key or [index]
_STEP = re.compile(r'\.(?:"((?:[^"\\]|\\.)*)"|([^."\[]+))|\[(\d+)\]')
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def path_text(steps: Iterable[str | int]) -> str:
    """A path as the language writes it, list indexes as ``[]``: ``detail.mnc[].mnc``."""
    out = ""
    for step in steps:
        out += "[]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def _language_path(full: object) -> str | None:
    """An SQLite ``fullkey`` (``$."event_type".id``, ``$.mnc[0]``) as :func:`path_text`
    writes it, or None when the language cannot write it (a key with a space, a dash...)."""
    if not isinstance(full, str) or not full.startswith("$") or len(full) < 2:
        return None
    steps: list[str | int] = []
    at = 1
    while at < len(full):
        m = _STEP.match(full, at)
        if m is None:
            return None
        quoted, plain, index = m.groups()
        if index is not None:
            steps.append(int(index))
        else:
            key = plain if plain is not None else quoted
            if not _NAME.fullmatch(key):
                return None
            steps.append(key)
        at = m.end()
    return path_text(steps) if steps and isinstance(steps[0], str) else None


class KnownNames:
    """The top-level keys and dotted paths seen in a capture (paths written by
    :func:`path_text`). ``exact`` (optional) answers for a path the sets lack, from the whole
    capture; without it the sets are all there is."""

    def __init__(self, keys: Iterable[str] = (), paths: Iterable[str] = (),
                 exact: Callable[[tuple[str | int, ...]], bool] | None = None):
        self.keys = frozenset(keys)
        self.paths = frozenset(paths) | self.keys
        self._exact = exact

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KnownNames) and (self.keys, self.paths) == (
            other.keys, other.paths)

    __hash__ = None  # type: ignore[assignment]

    def has(self, steps: tuple[str | int, ...]) -> bool:
        """Whether some record holds the path (one step: a top-level key)."""
        if path_text(steps) in self.paths:
            return True
        return self._exact is not None and self._exact(steps)


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The known name ``name`` most likely meant: one it begins (``sev``: ``severity``), else
    the closest spelling (difflib); None when nothing is near."""
    pool = sorted(set(candidates))
    lowered = name.lower()
    starts = [c for c in pool if c.lower().startswith(lowered) and c.lower() != lowered]
    if starts:
        return min(starts, key=len)
    found = difflib.get_close_matches(lowered, [c.lower() for c in pool], n=1, cutoff=0.6)
    if not found:
        return None
    return next(c for c in pool if c.lower() == found[0])


class Sample(NamedTuple):
    """A sample's names; ``complete``: it read every record of the capture, so a name it
    lacks is in no record."""

    keys: list[str]
    paths: list[str]
    complete: bool = False


def sample_names(db: sqlite3.Connection, limit: int | None = None) -> Sample | None:
    """The top-level keys and the paths of a bounded sample of the capture's records: the
    latest ``limit`` records (default :data:`SAMPLE`) and the latest ``limit`` of unknown shape
    (those that do not look like the vendor's records). About 0.1 s on any capture; None when
    there is no record yet or the records cannot be read."""
    limit = int(SAMPLE if limit is None else limit)
    sample = (f"SELECT json FROM (SELECT json FROM record ORDER BY id DESC LIMIT {limit})"
              f" UNION ALL SELECT r.json FROM (SELECT id FROM record_index WHERE family = "
              f"'unknown' ORDER BY id DESC LIMIT {limit}) AS k JOIN record AS r "
              f"ON r.id = k.id")
    try:
        rows = db.execute(f"SELECT DISTINCT j.fullkey FROM ({sample}) AS s, "
                          f"json_tree(CASE WHEN json_valid(s.json) THEN s.json END) AS j "
                          f"WHERE j.fullkey <> '$'").fetchall()
        count = db.execute(f"SELECT count(*) FROM (SELECT 1 FROM record LIMIT {limit + 1})"
                           ).fetchone()[0]
    except sqlite3.Error:  # a damaged capture: no sample, so nothing is checked
        return None
    if not rows:  # no record yet: nothing to check names against
        return None
    keys: set[str] = set()
    paths: set[str] = set()
    for (full,) in rows:
        path = _language_path(full)
        if path is None:
            continue  # a key the language cannot write
        paths.add(path)
        if "." not in path and "[" not in path:
            keys.add(path)
    return Sample(sorted(keys), sorted(paths), count <= limit)


def occurs(db: sqlite3.Connection, steps: tuple[str | int, ...]) -> bool:
    """Whether some record of the capture holds the path (one step: a top-level key), exactly:
    one query over the records that stops at the first that has it (the oldest first); a
    scan of the records' text when none has it. True when the capture cannot tell."""
    last = next((s for s in reversed(steps) if isinstance(s, str)), None)
    text = "1"
    params: list = [json_path(steps)]
    if last is not None:  # records are stored minified: the key is there as "key":
        text = "(json LIKE ? ESCAPE '\\' OR instr(json, '\\u') > 0)"
        escaped = last.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.insert(0, f'%"{escaped}":%')
    try:
        row = db.execute(
            f"SELECT 1 FROM record WHERE {text} AND json_valid(json) AND "
            f"json_type(json, ?) IS NOT NULL LIMIT 1", params).fetchone()
    except sqlite3.Error:
        return True  # cannot tell: do not call it unknown
    return row is not None


class CaptureNames(KnownNames):
    """The names of a whole capture: a bounded sample for suggestions, and one exact query over
    the records (:func:`occurs`) for a name the sample lacks."""

    def __init__(self, db: sqlite3.Connection):
        sample = sample_names(db)
        keys, paths = (sample.keys, sample.paths) if sample is not None else ((), ())
        super().__init__(keys, paths, exact=self._occurs)
        self._db = db

    def _occurs(self, steps: tuple[str | int, ...]) -> bool:
        return occurs(self._db, steps)
