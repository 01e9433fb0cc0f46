"""The capture's inbox (issue 17): what is acknowledged is appended to CAPTURE-inbox first and
folded into the capture right after; a process that dies in between loses nothing, a torn
tail (never acknowledged) is left out, and an entry folded before the crash is not folded
twice."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.capture.inbox import MAGIC, Inbox, inbox_path
from app.capture.schema import open_reader, request_body
from app.capture.writer import CaptureWriter, Incoming
from app.records.shape import inspect_body
from tests.conftest import ROOT
from tests.hostile import LATIN1_BODY, hostile_body

BATCH = json.dumps([{"event_type": {"id": 1}, "id": i, "iccid": f"8988{i:015d}"}
                    for i in range(500)], indent=2).encode()


def crash_after_accepting(capture: Path, bodies: list[bytes], fold_first: int = 0) -> None:
    """A real process accepts ``bodies`` (folding the first ``fold_first`` of them) and dies
    before folding the rest (os._exit: no close, no clean-up)."""
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from app.capture.writer import CaptureWriter, Incoming
        writer = CaptureWriter(Path({str(capture)!r}))
        bodies = [Path(p).read_bytes() for p in sys.argv[1:]]
        for n, body in enumerate(bodies):
            stored = writer.accept(Incoming("POST", "/hook", body,
                                            content_type="application/json"))
            print(stored.request_id, stored.status, flush=True)
            if n < {fold_first}:
                writer.fold()
        os._exit(0)
    """)
    files = []
    for n, body in enumerate(bodies):
        path = capture.parent / f"body-{n}.json"
        path.write_bytes(body)
        files.append(str(path))
    run = subprocess.run([sys.executable, "-c", script, *files], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def requests(capture: Path) -> list[tuple]:
    db = open_reader(capture)
    try:
        return [(i, s, n, request_body(db, i)) for i, s, n in db.execute(
            "SELECT id, status, record_count FROM request ORDER BY id")]
    finally:
        db.close()


def test_what_was_acknowledged_before_a_crash_is_folded_in_first(tmp_path):
    capture = tmp_path / "c.sqlite"
    hostile = hostile_body()  # lone surrogates, 1e400, duplicate keys, 500 levels deep...
    bodies = [BATCH, b"{not json", hostile, b"[]", LATIN1_BODY]
    crash_after_accepting(capture, bodies, fold_first=1)
    inbox = inbox_path(capture)
    assert inbox.stat().st_size > sum(map(len, bodies[1:]))  # the three not folded are there
    assert [r[0] for r in requests(capture)] == [1]
    writer = CaptureWriter(capture)  # folds the inbox before anything else
    try:
        assert inbox.stat().st_size == 0
        got = requests(capture)
        assert [(i, s, n) for i, s, n, _ in got] == [
            (1, 200, 500), (2, 400, 0), (3, 200, inspect_body(hostile).total), (4, 200, 0),
            (5, 400, 0)]
        assert [body for *_, body in got] == bodies  # every body as it came
        assert writer.store(Incoming("POST", "/", b"[{}]")).request_id == 6
    finally:
        writer.close()
    assert not inbox.exists()  # closed: the capture is one file again


def test_a_torn_tail_was_never_acknowledged_and_is_left_out(tmp_path):
    capture = tmp_path / "c.sqlite"
    crash_after_accepting(capture, [BATCH, BATCH])
    inbox = inbox_path(capture)
    whole = inbox.read_bytes()
    entries = list(Inbox(inbox).entries())
    assert [e.request_id for e in entries] == [1, 2]
    # the second entry cut short (a crash while it was written: it was never answered)
    inbox.write_bytes(whole[:len(whole) - 100])
    writer = CaptureWriter(capture)
    try:
        assert [(i, s, n) for i, s, n, _ in requests(capture)] == [(1, 200, 500)]
        assert writer.store(Incoming("POST", "/", BATCH)).request_id == 2
    finally:
        writer.close()
    # damaged bytes (CRC) and a wrong start end the reading too
    crash_after_accepting(capture, [BATCH, BATCH])
    data = bytearray(inbox.read_bytes())
    data[-10] ^= 0xFF
    inbox.write_bytes(bytes(data))
    assert [e.request_id for e in Inbox(inbox).entries()] == [3]
    inbox.write_bytes(b"XXXX" + bytes(data[4:]))
    assert list(Inbox(inbox).entries()) == []
    assert data[:4] == MAGIC


def test_an_entry_folded_before_the_crash_is_not_folded_twice(tmp_path):
    capture = tmp_path / "c.sqlite"
    crash_after_accepting(capture, [BATCH])
    inbox = inbox_path(capture)
    kept = inbox.read_bytes()
    CaptureWriter(capture).close()  # folded, the inbox emptied and removed
    inbox.write_bytes(kept)  # as if the crash came after the fold's commit, before emptying
    writer = CaptureWriter(capture)
    try:
        assert [(i, s, n) for i, s, n, _ in requests(capture)] == [(1, 200, 500)]
        db = open_reader(capture)
        assert db.execute("SELECT count(*) FROM record").fetchone()[0] == 500
        db.close()
    finally:
        writer.close()


def test_accepted_requests_reach_the_capture_in_order_whole(tmp_path):
    """accept() and fold() from two threads (as the receiver does): every request lands once,
    in id order, each with all its records; store() goes after what was accepted before."""
    import threading

    capture = tmp_path / "c.sqlite"
    writer = CaptureWriter(capture)
    try:
        stop = threading.Event()

        def folding():
            while not stop.is_set():
                writer.fold()

        folder = threading.Thread(target=folding)
        folder.start()
        ids = [writer.accept(Incoming("POST", "/", BATCH)).request_id for _ in range(20)]
        stored = writer.store(Incoming("POST", "/", b"[{}]"))
        stop.set()
        folder.join()
        writer.fold()
        assert ids == list(range(1, 21)) and stored.request_id == 21
        db = open_reader(capture)
        rows = db.execute("SELECT id, first_record, record_count FROM request ORDER BY id"
                          ).fetchall()
        db.close()
        assert [r[0] for r in rows] == list(range(1, 22))
        assert all(first == 1 + 500 * (i - 1) for i, first, n in rows[:20])
    finally:
        writer.close()


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_an_inbox_that_cannot_be_written_refuses_and_keeps_nothing_half(tmp_path, sync):
    """A full disk (here a file size limit, in a process of its own) while appending: the
    request is refused (OSError: the receiver answers 503), nothing half written stays, and
    the next request gets the id."""
    capture = tmp_path / "c.sqlite"
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from app.capture.writer import CaptureWriter, Incoming
        batch = Path(sys.argv[1]).read_bytes()
        writer = CaptureWriter(Path({str(capture)!r}), sync={sync!r})
        writer.accept(Incoming("POST", "/", batch))
        size = writer._inbox.size()
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 1000, resource.RLIM_INFINITY))
        try:
            writer.accept(Incoming("POST", "/", batch))
        except OSError as exc:
            print("refused", exc.errno, writer._inbox.size() == size, flush=True)
        print(writer.accept(Incoming("POST", "/", b"[{{}}]")).request_id, flush=True)
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
        writer.close()
    """)
    body = tmp_path / "batch.json"
    body.write_bytes(BATCH)
    run = subprocess.run([sys.executable, "-c", script, str(body)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["refused", "27", "True", "2"]  # EFBIG; the same size
    assert [(i, s, n) for i, s, n, _ in requests(capture)] == [(1, 200, 500), (2, 200, 1)]
    assert not inbox_path(capture).exists()
