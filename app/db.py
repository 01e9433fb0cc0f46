"""The SQLite driver every module uses: a recent SQLite where a wheel bundles one.

``pysqlite3-binary`` carries SQLite 3.51, whose JSON functions (rewritten in 3.45) cut a batch
into records about a quarter faster than the 3.40 the Python builds here link to; the capture's
acknowledgement path is mostly that. Elsewhere the standard library's ``sqlite3`` serves: the
file format is the same, and every module catches this module's exceptions, not another's.
"""

try:
    from pysqlite3 import dbapi2 as sqlite3
except ImportError:  # no wheel for this platform
    import sqlite3

__all__ = ["sqlite3"]
