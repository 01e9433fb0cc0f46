"""Where the wheels differ by platform: the SQLite driver and its minimum version.

``pysqlite3-binary`` exists for Linux x86_64 only; elsewhere the standard library's ``sqlite3``
serves, and ``STREAMER_INSPECTOR_SQLITE=stdlib`` makes that path run here (CI runs the core
tests with it). The simdjson fallback is in ``tests/records/test_shape_fallback.py``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from app.db import MIN_SQLITE, SQLITE_ENV, sqlite_problem
from tests.conftest import ROOT

# A real capture written and read back with whichever driver the child process picks.
_ROUND_TRIP = """
import sys
from pathlib import Path
from app.db import DRIVER, sqlite3
from app.capture.schema import open_reader
from app.capture.writer import CaptureWriter, Incoming
path = Path(sys.argv[1])
writer = CaptureWriter(path)
body = b'[{"id":18446744073709551616,"event_type":{"id":1}}, {"traffic_type":1,"v":1.50}]'
stored = writer.store(Incoming(method="POST", path="/", body=body))
writer.close()
db = open_reader(path)
texts = [r[0] for r in db.execute("SELECT json FROM record ORDER BY id")]
print(DRIVER, sqlite3.__name__, sqlite3.sqlite_version, stored.status, texts)
"""


def _round_trip(tmp_path, name: str, **env: str) -> list[str]:
    child_env = {k: v for k, v in os.environ.items() if k != SQLITE_ENV} | env
    out = subprocess.run([sys.executable, "-c", _ROUND_TRIP, str(tmp_path / name)], cwd=ROOT,
                         env=child_env, capture_output=True, text=True, check=True).stdout
    return out.split(" ", 4)


def test_the_environment_switches_the_sqlite_driver(tmp_path):
    texts = ("['{\"id\":18446744073709551616,\"event_type\":{\"id\":1}}', "
             "'{\"traffic_type\":1,\"v\":1.50}']\n")
    driver, module, version, status, records = _round_trip(tmp_path, "std.sqlite",
                                                           **{SQLITE_ENV: "stdlib"})
    assert (driver, module, status, records) == ("sqlite3", "sqlite3", "200", texts)
    assert version == __import__("sqlite3").sqlite_version
    bundled = importlib.util.find_spec("pysqlite3") is not None
    driver, module, version, status, records = _round_trip(tmp_path, "default.sqlite")
    assert (driver, status, records) == ("pysqlite3" if bundled else "sqlite3", "200", texts)
    assert module == ("pysqlite3.dbapi2" if bundled else "sqlite3")


def test_an_sqlite_too_old_for_captures_is_refused_in_words():
    assert sqlite_problem() is None  # the one linked here (either driver) is recent enough
    assert sqlite_problem(MIN_SQLITE) is None
    message = sqlite_problem((3, 37, 2))
    assert message.startswith("SQLite 3.37.2 is too old for captures (they need 3.38.0 or newer")
    assert "pysqlite3-binary" in message or SQLITE_ENV in message
    assert "Error" not in message and "(3, " not in message


def test_the_bundled_sqlite_keeps_a_nul_in_a_json_string():
    # With the stdlib's SQLite 3.40 a filter does not see past U+0000 in a string value (a
    # known limit, app.db.json_strings_keep_nul); the bundled SQLite has no such limit.
    from app.db import DRIVER, json_strings_keep_nul

    if DRIVER == "pysqlite3":
        assert json_strings_keep_nul()
    elif __import__("sqlite3").sqlite_version_info <= (3, 40, 1):  # seen with 3.40.1
        assert not json_strings_keep_nul()
