"""The export formats by name: pure write functions (mitmproxy style), listed explicitly.

Each format is an :class:`Exporter` in :data:`EXPORTERS`: a name, a title, a file extension,
what it exports (``kind``: ``records`` or ``requests``) and a ``write(source, out, options)``
function (see :mod:`app.export.common`). :func:`export` runs one on an open capture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from app.export.common import ExportOptions, RowSource
from app.export.csvfile import write_csv
from app.export.curlscript import write_curl
from app.export.har import write_har
from app.export.jsonlist import write_json
from app.export.ndjson import write_ndjson
from app.export.postman import write_postman
from app.export.rows import known_interop, record_rows, request_rows
from app.export.xlsxfile import write_xlsx


@dataclass(frozen=True)
class Exporter:
    """One export format: ``write(source, out, options)`` returns how many items it wrote."""

    name: str
    title: str
    extension: str
    kind: str  # records | requests
    write: Callable[[RowSource, BinaryIO, ExportOptions], int] = field(repr=False)
    # a records exporter that lists their requests too (xlsx): ``options.requests`` is set
    with_requests: bool = False


# Built here, explicitly: importing a format module registers nothing.
EXPORTERS: dict[str, Exporter] = {e.name: e for e in (
    Exporter("json", "JSON: a list of records, as the streamer posts them", "json", "records",
             write_json),
    Exporter("ndjson", "NDJSON: one record a line", "ndjson", "records", write_ndjson),
    Exporter("csv", "CSV: one row a record, nested fields as dotted columns", "csv", "records",
             write_csv),
    Exporter("har", "HAR 1.2: the requests and their answers", "har", "requests", write_har),
    Exporter("postman", "Postman Collection v2.1: the requests, to send again", "postman.json",
             "requests", write_postman),
    Exporter("curl", "curl: a bash script sending the requests again, each checked against its "
             "recorded status", "sh", "requests", write_curl),
    Exporter("xlsx", "XLSX: a workbook for spreadsheets, identifiers as text, a sheet per table "
             "and the requests", "xlsx", "records", write_xlsx, with_requests=True),
)}


def export(db, name: str, out: BinaryIO, options: ExportOptions | None = None, *,
           ids: Iterable[int] | None = None, filter_text: str = "",
           families: tuple[str, ...] | None = None) -> int:
    """Export from an open capture with the exporter ``name``; returns the items written.

    Records exporters take ``ids`` (record numbers), ``filter_text`` and ``families``;
    requests exporters take ``ids`` (request numbers) only.
    """
    exporter = EXPORTERS[name]
    options = options or ExportOptions()
    if options.known is None:
        options.known = known_interop(db)
    if exporter.kind == "records":
        id_list = list(ids) if ids is not None else None
        if exporter.with_requests and options.requests is None:
            options.requests = requests_for(db, id_list is None and not filter_text
                                            and not families)
        return exporter.write(lambda: record_rows(db, id_list, filter_text, families),
                              out, options)
    if filter_text or families:
        raise ValueError(f"{name} exports requests: select them by ids, not by a filter")
    id_list = list(ids) if ids is not None else None
    return exporter.write(lambda: request_rows(db, id_list), out, options)


def requests_for(db, whole: bool) -> Callable[[set[int]], Iterable]:
    """``ExportOptions.requests`` for an export of the capture ``db``: every request for a
    ``whole``-capture export (those refused without records too), else the requests the
    exported records came in."""
    return lambda seen: request_rows(db, None if whole else sorted(seen))
