"""Import and export round trips, and files that are not what they claim."""

import json
import signal
import subprocess
import sys
import time

import pytest

from app.capture.importer import ImportFileError, plan, run_import
from app.capture.schema import open_reader
from app.capture.writer import CaptureWriter, Incoming
from app.replay.generator import Generator
from tests.conftest import EVENT_SAMPLE, ROOT, USAGE_SAMPLE


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, **kw)


def texts(path):
    db = open_reader(path)
    try:
        return [t for (t,) in db.execute("SELECT json FROM record ORDER BY id")]
    finally:
        db.close()


@pytest.fixture
def capture(tmp_path):
    path = tmp_path / "source.sqlite"
    writer = CaptureWriter(path)
    for body in (EVENT_SAMPLE.read_bytes(), USAGE_SAMPLE.read_bytes(),
                 json.dumps(Generator(sims=9, seed=6).records(700), ensure_ascii=False).encode(),
                 '[{"note": "Zürich €", "n": 1.50, "big": 1E2}]'.encode()):
        writer.store(Incoming("POST", "/hook", body, content_type="application/json"))
    writer.store(Incoming("POST", "/hook", b"not json", content_type="application/json"))
    writer.close()
    return path


@pytest.mark.parametrize("fmt", ["json", "ndjson", "har"])
def test_export_then_import_gives_the_same_records_byte_for_byte(tmp_path, capture, fmt):
    out = tmp_path / f"export.{fmt}"
    result = cli("export", str(capture), "--format", fmt, "-o", str(out))
    assert result.returncode == 0, result.stderr
    target = tmp_path / "target.sqlite"
    result = cli("import", str(out), "--capture", str(target))
    assert result.returncode == 0, result.stderr
    assert f"({fmt})" in result.stdout
    assert texts(target) == texts(capture)
    db = open_reader(target)
    sources = {s for (s,) in db.execute("SELECT source FROM request")}
    db.close()
    assert sources == {"imported"}


def test_capture_into_capture_keeps_requests_and_statuses(tmp_path, capture):
    target = tmp_path / "target.sqlite"
    assert cli("import", str(capture), "--capture", str(target)).returncode == 0
    assert texts(target) == texts(capture)
    db = open_reader(target)
    statuses = [s for (s,) in db.execute("SELECT status FROM request ORDER BY id")]
    db.close()
    assert statuses == [200, 200, 200, 200, 400]


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"),
    (b'[{"a": 1}, 5]', "element 1 of the list is not a record"),
    (b'[{"a": 1}, {"b": ', "is not valid JSON"),
    (b'{"a": 1}\n{"b": 2\n', "line 2 is not JSON"),
    (b'{"log": {"entries": 5}}', "is not a HAR file"),
    (b'{"log": {"entries": [{"request": {"url": "https://x/"}}]}}',
     "it has no method field"),
    (b"hello", "is neither a JSON list, NDJSON, a HAR file nor a capture"),
    (b"\xff\xfe[", "is not UTF-8 text"),
    (b"SQLite format 3\x00" + b"\x00" * 200, "not a capture file"),
])
def test_bad_files_import_nothing_and_say_why(tmp_path, content, message, capsys):
    from app.cli.main import main

    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        plan(bad)
    target = tmp_path / "target.sqlite"
    # The command in this process (a child's start-up is ~1 s; the refused import's exit
    # status through a child: test_import_into_a_capture_a_receiver_writes_is_refused...)
    assert main(["import", str(bad), "--capture", str(target)]) == 2
    assert message in capsys.readouterr().err
    assert not target.exists() or texts(target) == []


def test_a_big_list_is_cut_into_streamer_sized_requests(tmp_path):
    records = Generator(sims=5, seed=1).records(7000)
    src = tmp_path / "big.json"
    src.write_text(json.dumps(records))
    kind, planned = plan(src)
    assert kind == "json" and [p.records for p in planned] == [3000, 3000, 1000]
    writer = CaptureWriter(tmp_path / "t.sqlite")
    seen = []
    result = run_import(writer, kind, planned, lambda n, r: (seen.append(r), n < 2)[1])
    writer.close()
    assert result.state == "cancelled" and result.records == 6000 and seen == [3000, 6000]


def test_cancelled_export_leaves_no_file(tmp_path):
    path = tmp_path / "c.sqlite"
    writer = CaptureWriter(path)
    body = json.dumps(Generator(sims=50, seed=2).records(3000)).encode()
    for _ in range(40):
        writer.store(Incoming("POST", "/", body, content_type="application/json"))
    writer.close()
    out = tmp_path / "out.csv"
    with subprocess.Popen([sys.executable, "-m", "app", "export", str(path), "--format", "csv",
                           "-o", str(out), "--events", "jsonl"], cwd=ROOT,
                          stdout=subprocess.PIPE, text=True) as proc:
        first = json.loads(proc.stdout.readline())  # progress: it is under way
        assert first["event"] == "progress"
        proc.send_signal(signal.SIGINT)
        rest = proc.stdout.read()
        assert proc.wait(timeout=30) == 130
    assert json.loads(rest.strip().splitlines()[-1]) == {"event": "cancelled"}
    time.sleep(0.1)
    assert not out.exists()
    assert list(tmp_path.glob("*.part")) == []


def test_import_into_a_capture_a_receiver_writes_is_refused_with_a_hint(tmp_path, receiver):
    result = cli("import", str(EVENT_SAMPLE), "--capture", str(receiver.capture))
    assert result.returncode == 2
    assert "File > Import" in result.stderr


@pytest.mark.parametrize("mask", [False, True])
def test_parallel_csv_equals_the_single_process_one(tmp_path, monkeypatch, mask):
    from app.export import transfer

    path = tmp_path / "c.sqlite"
    writer = CaptureWriter(path)
    body = json.dumps(Generator(sims=40, seed=12).records(3000)).encode()
    for _ in range(2):
        writer.store(Incoming("POST", "/", body, content_type="application/json"))
    writer.close()

    def export(name: str, threshold: int) -> bytes:
        monkeypatch.setattr(transfer, "PARALLEL_FROM", threshold)
        job = transfer.ExportJob(capture=path, format="csv", output=tmp_path / name, mask=mask,
                                 csv_bom=True, csv_delimiter=";")
        assert transfer.run_export(job) == 0
        return (tmp_path / name).read_bytes()

    single = export("single.csv", 10**9)
    parallel = export("parallel.csv", 100)
    assert parallel == single
    assert single.startswith(b"\xef\xbb\xbf") and single.count(b"\n") == 6001
    assert list(tmp_path.glob("*.part*")) == []


@pytest.mark.parametrize("text", ['[{"a":' + "[" * 5000 + "]" * 5000 + "}]",
                                  '{"a":' + "[" * 5000 + "]" * 5000 + "}\n"])
def test_a_file_nested_too_deeply_is_refused_with_a_reason(tmp_path, text):
    """Issue 10 #4: a RecursionError is an import file error, not a traceback."""
    path = tmp_path / "deep.json"
    path.write_text(text, "utf-8")
    with pytest.raises(ImportFileError, match="nested too deeply"):
        plan(path)
