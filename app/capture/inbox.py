"""The capture's inbox: an append-only file beside it holding the batches acknowledged but not
yet folded into the capture (issue 17).

A batch is durable before its 200 is sent, but writing it into SQLite (its records split into
rows, in a committed transaction) costs about as long as receiving it. So the acknowledgement
only appends the request (its body, as it came, and what the answer needs) to this file, and
the capture's single writer folds it into the capture right after the answer, in one
transaction: every reader sees a request's records all at once, never half.

``CAPTURE-inbox`` holds entries one after another::

    b"SIB1" | meta length (4 bytes, big-endian) | body length (8) | CRC-32 of meta and body (4)
    | meta (JSON) | body

An entry is acknowledged only after it was written whole (and, with ``--sync full``, after
the file was flushed to the disk), so a torn or damaged entry at the end was never
acknowledged: reading stops there. When every entry is folded the file is emptied, and it is
removed when the writer closes: a stopped receiver leaves the capture one file, as before.
After a crash (``kill -9``, a power cut with ``--sync full``) the next writer folds whatever
the inbox still holds before anything else (:meth:`app.capture.writer.CaptureWriter`); an
entry whose request is already in the capture (the crash came between the fold's commit and
emptying the file) is skipped.
"""

from __future__ import annotations

import json
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"SIB1"
_HEAD = struct.Struct(">4sIQI")  # magic, meta length, body length, CRC-32


@dataclass
class Entry:
    """One acknowledged request: what the fold needs to store it (``meta``) and its body."""

    meta: dict
    body: bytes

    @property
    def request_id(self) -> int:
        return int(self.meta["request_id"])


class InboxError(OSError):
    """An entry could not be appended (a full disk, an I/O error): the request is not
    acknowledged. Its errno and message are those of the failed write."""


def inbox_path(capture: Path) -> Path:
    """The inbox of ``capture`` (``CAPTURE-inbox``: SQLite's own files are -wal, -shm and
    -journal)."""
    return Path(f"{capture}-inbox")


class Inbox:
    """Appends entries (from the acknowledging thread) and reads them back (at start-up).

    ``sync``: flush each entry to the disk before it counts as written (``--sync full``);
    otherwise it is in the operating system's cache when :meth:`append` returns, which a
    killed process does not lose (as SQLite's ``synchronous=NORMAL`` in WAL mode)."""

    def __init__(self, path: Path, sync: bool = False):
        self.path = Path(path)
        self._sync = sync
        self._lock = threading.Lock()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND
                           | getattr(os, "O_BINARY", 0), 0o600)

    def entries(self) -> Iterator[Entry]:
        """The whole entries in the file, in order; a torn or damaged tail is left out."""
        with open(self.path, "rb") as file:
            data = file.read()
        offset = 0
        while offset + _HEAD.size <= len(data):
            magic, meta_size, body_size, crc = _HEAD.unpack_from(data, offset)
            start = offset + _HEAD.size
            end = start + meta_size + body_size
            if magic != MAGIC or end > len(data):
                return
            meta, body = data[start:start + meta_size], data[start + meta_size:end]
            if zlib.crc32(body, zlib.crc32(meta)) != crc:
                return
            yield Entry(json.loads(meta), body)
            offset = end

    def append(self, meta: dict, body: bytes) -> None:
        """Write one entry whole (and flush it with ``sync``); InboxError when it cannot be."""
        # (the standard library's json: a request's path or header may hold a lone surrogate,
        # which it writes as an escape and reads back; the meta is a few hundred bytes)
        raw = json.dumps(meta, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        head = _HEAD.pack(MAGIC, len(raw), len(body), zlib.crc32(body, zlib.crc32(raw)))
        with self._lock:
            size = os.fstat(self._fd).st_size
            try:
                _write_all(self._fd, [head, raw, body])
                if self._sync:
                    os.fsync(self._fd)
            except OSError as exc:
                # half an entry would stop the reading of any entry after it: cut it off
                os.ftruncate(self._fd, size)
                raise InboxError(exc.errno, exc.strerror) from exc

    def clear(self) -> None:
        """Empty the file: every entry in it is in the capture."""
        with self._lock:
            os.ftruncate(self._fd, 0)
            if self._sync:
                os.fsync(self._fd)

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def close(self, remove: bool = False) -> None:
        """Close the file; ``remove``: delete it too (it must be empty)."""
        with self._lock:
            if self._fd < 0:
                return
            if remove and os.fstat(self._fd).st_size == 0:
                self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = -1


def _write_all(fd: int, parts: list[bytes]) -> None:
    for part in parts:
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view):]
