"""NDJSON: one record a line."""

from __future__ import annotations

from typing import BinaryIO

from app.export.common import (
    Buffered,
    ExportOptions,
    RowSource,
    checked_text,
    rows_of,
    transform_of,
)


def write_ndjson(source: RowSource, out: BinaryIO, options: ExportOptions) -> int:
    """One record's stored text a line."""
    transform = transform_of(options)
    buf = Buffered(out)
    count = 0
    for row in rows_of(source):
        buf.write(transform(checked_text(row, options)))
        buf.write("\n")
        count += 1
    buf.flush()
    return count

