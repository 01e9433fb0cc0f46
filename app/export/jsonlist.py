"""JSON: a list of the records, as the streamer posts them."""

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


def write_json(source: RowSource, out: BinaryIO, options: ExportOptions) -> int:
    """A JSON list of the records as the streamer posts them: their stored texts, unchanged
    (see :func:`checked_text` for ``strict_json``)."""
    transform = transform_of(options)
    buf = Buffered(out)
    buf.write("[")
    count = 0
    for row in rows_of(source):
        if count:
            buf.write(",")
        buf.write(transform(checked_text(row, options)))
        count += 1
    buf.write("]\n")
    buf.flush()
    return count

