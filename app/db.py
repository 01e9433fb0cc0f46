"""The SQLite driver every module uses: a recent SQLite where a wheel bundles one.

``pysqlite3-binary`` carries SQLite 3.51, whose JSON functions (rewritten in 3.45) cut a batch
into records about a quarter faster than the 3.40 the Python builds here link to; the capture's
acknowledgement path is mostly that. Elsewhere (the wheel is built for Linux x86_64 only) the
standard library's ``sqlite3`` serves: the file format is the same, and every module catches this
module's exceptions, not another's. ``STREAMER_INSPECTOR_SQLITE=stdlib`` forces the standard
library's driver (CI runs the core tests with it).

The capture needs SQLite 3.38 or newer (the ``->`` operator, JSON functions built in) and a
``json_each`` that gives each element's text with every token as sent; :func:`sqlite_problem`
checks both, and the capture's ``open_*`` functions refuse to start without them.
"""

import functools
import os

SQLITE_ENV = "STREAMER_INSPECTOR_SQLITE"

if os.environ.get(SQLITE_ENV, "").strip().lower() == "stdlib":
    import sqlite3
else:
    try:
        from pysqlite3 import dbapi2 as sqlite3
    except ImportError:  # no wheel for this platform
        import sqlite3

DRIVER = "pysqlite3" if sqlite3.__name__.startswith("pysqlite3") else "sqlite3"
MIN_SQLITE = (3, 38, 0)  # '->' (app.records.fields.exact_sql); JSON built in by default

# json_each must give a record's text with every token as sent (only white space dropped): an
# integer beyond 64 bits, a trailing zero, an exponent, escapes. The capture stores that text.
_PROBE = '[ {"n": 18446744073709551616, "f": 1.50, "e": 1E5, "s": "\\ud83d\\u00e9\\/"} ]'
_PROBE_RECORD = '{"n":18446744073709551616,"f":1.50,"e":1E5,"s":"\\ud83d\\u00e9\\/"}'


def sqlite_problem(version: tuple[int, int, int] | None = None) -> str | None:
    """Why this SQLite cannot hold a capture, in words for the user, or None when it can.

    ``version`` (default: the linked library's) is for testing the message."""
    version = version or sqlite3.sqlite_version_info
    if tuple(version) < MIN_SQLITE:
        return _advice(f"SQLite {'.'.join(map(str, version))} is too old for captures "
                       f"(they need {'.'.join(map(str, MIN_SQLITE))} or newer, for its "
                       f"JSON functions)")
    return _probe()


@functools.cache
def _probe() -> str | None:
    try:
        db = sqlite3.connect(":memory:")
        try:
            got = db.execute("SELECT value FROM json_each(?)", (_PROBE,)).fetchall()
            big = db.execute("SELECT ? -> '$.n'", (_PROBE_RECORD,)).fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as exc:
        return _advice(f"SQLite {sqlite3.sqlite_version} lacks the JSON functions captures "
                       f"need ({exc})")
    if got != [(_PROBE_RECORD,)] or big != "18446744073709551616":
        return _advice(f"SQLite {sqlite3.sqlite_version} does not keep JSON numbers and "
                       f"strings exactly as sent, which captures need")
    return None


@functools.cache
def json_strings_keep_nul() -> bool:
    """Whether ``json_extract`` gives a string holding an escaped U+0000 whole. SQLite 3.51
    does; 3.40 cuts the string there (fixed with the JSON rewrite, 3.45 as far as we know), so
    with such an SQLite a filter does not see past a NUL in a string value. Not refused: rare,
    and everything else works."""
    db = sqlite3.connect(":memory:")
    try:
        return db.execute("SELECT json_extract(?, '$.s')", ('{"s":"a\\u0000b"}',)
                          ).fetchone()[0] == "a\0b"
    finally:
        db.close()


def _advice(problem: str) -> str:
    if os.environ.get(SQLITE_ENV, "").strip().lower() == "stdlib":
        way = f"unset {SQLITE_ENV} (it forces Python's own sqlite3 module)"
    else:
        way = "on Linux x86_64, install pysqlite3-binary (it bundles a recent SQLite)"
    return (f"{problem}: use a Python built with a newer SQLite (python.org's are), or {way}")


__all__ = ["DRIVER", "MIN_SQLITE", "SQLITE_ENV", "json_strings_keep_nul", "sqlite3",
           "sqlite_problem"]
