"""The command line as a user types it: ``summary``, ``ca --export``, ``--help``."""

import json
import os
import subprocess
import sys
from pathlib import Path

from app.capture.writer import CaptureWriter, Incoming
from app.replay.generator import Generator
from tests.conftest import EVENT_SAMPLE, ROOT, USAGE_SAMPLE


def run(*args):
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def make_capture(path):
    w = CaptureWriter(path)
    for sample in (EVENT_SAMPLE, USAGE_SAMPLE):
        w.store(Incoming("POST", "/", sample.read_bytes(), content_type="application/json"))
    records = Generator(sims=3, seed=2).records(40)
    w.store(Incoming("POST", "/", json.dumps(records).encode(), content_type="application/json"))
    w.store(Incoming("POST", "/", b"[1]", content_type="application/json"))
    w.close()
    return records


def test_summary_prints_what_the_capture_holds(tmp_path):
    path = tmp_path / "c.sqlite"
    records = make_capture(path)
    result = run("summary", str(path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    n_events = 1 + sum("event_type" in r for r in records)
    assert "Requests:        4  (200: 3, 400: 1)" in out
    assert f"Records:         42  (event: {n_events}, usage: {42 - n_events})" in out
    assert "Distinct ICCIDs: 5" in out  # three generated SIMs and the two placeholders
    assert "Update location" in out
    info = json.loads(run("summary", "--json", str(path)).stdout)
    assert info["records"] == 42
    assert info["requests_by_status"] == {"200": 3, "400": 1}


def test_summary_of_a_missing_or_foreign_file(tmp_path):
    result = run("summary", str(tmp_path / "nope.sqlite"))
    assert result.returncode == 2
    assert "nope.sqlite does not exist" in result.stderr
    other = tmp_path / "notes.txt"
    other.write_text("hello" * 1000)
    result = run("summary", str(other))
    assert result.returncode == 2
    assert "is not a capture file" in result.stderr


def test_summary_filter_with_a_misspelt_field_or_path(tmp_path):
    """Regression (issue 15): ``sevrity == WARN`` summarised nothing, with no word said."""
    path = tmp_path / "c.sqlite"
    make_capture(path)
    result = run("summary", "--filter", "sevrity == WARN", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == ('streamer-inspector: error: bad --filter: unknown field "sevrity": '
                             'did you mean "severity"?\n  sevrity == WARN\n  ^\n')
    result = run("summary", "--filter", "detail.contry == nl or severity == INFO", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ('streamer-inspector: warning: --filter: no record has the path '
                             '"detail.contry": did you mean "detail.country"?\n')
    assert "Filter:          detail.contry == nl or severity == INFO" in result.stdout


def test_ca_export_writes_the_local_ca(tmp_path, user_dirs):
    target = tmp_path / "exported-ca.pem"
    result = run("ca", "--export", str(target))
    assert result.returncode == 0, result.stderr
    ca = Path(user_dirs["XDG_DATA_HOME"]) / "streamer-inspector" / "tls" / "ca.pem"
    assert target.read_bytes() == ca.read_bytes()
    assert target.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert run("ca").stdout.strip() == str(ca)


def test_help_lists_the_commands():
    out = run("--help").stdout
    for command in ("serve", "ca", "summary"):
        assert command in out
    assert "--max-body" in run("serve", "--help").stdout


def test_bad_option_values_are_refused():
    result = run("serve", "--port", "70000")
    assert result.returncode == 2
    assert "a port is between 0 and 65535" in result.stderr
    result = run("serve", "--max-body", "lots")
    assert "not a size" in result.stderr


def test_curl_runs_the_documented_command_against_the_endpoint(receiver):
    command = (ROOT / "resources" / "samples" / "usage-record.curl").read_text()
    result = run("curl", "--endpoint", receiver.url, command)
    assert result.returncode == 0, result.stderr
    first, _, body = result.stdout.partition("\n")
    assert first.startswith(f"200 OK from {receiver.url}")
    assert json.loads(body)["counts"] == {"usage": 1}
    result = run("curl", "--events", "jsonl", "curl --bogus https://x/")
    assert result.returncode == 2
    assert "unknown option --bogus" in json.loads(result.stdout)["error"]


def test_window_without_a_display_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "app"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert "no display to open the window on" in result.stderr


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """Regression (issue 10): ``summary … | head`` ended with a BrokenPipeError traceback."""
    path = tmp_path / "c.sqlite"
    make_capture(path)
    command = f"{sys.executable} -m app summary {path}"
    for reader in ("head -n 1", "head -n 0", "true"):
        result = subprocess.run(["bash", "-c", f"{command} | {reader}; "
                                 f"echo \"status ${{PIPESTATUS[0]}}\" >&2"],
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
        status = result.stderr.splitlines()[-1]
        assert result.stderr == f"{status}\n", result.stderr  # nothing but the status
        assert status in ("status 0", "status 141"), status
        if reader == "head -n 1":
            assert result.stdout == f"Capture {path}\n"


def test_summary_shows_hostile_wire_text_safely(tmp_path):
    """Regression (issue 10): an event type whose description holds a lone surrogate ended
    ``summary`` with a UnicodeEncodeError traceback, and an ESC from the wire reached the
    terminal as a live escape sequence. Now: U+FFFD, a visible ␛, and ``--json`` stays JSON."""
    path = tmp_path / "c.sqlite"
    writer = CaptureWriter(path)
    body = (b'[{"event_type": {"id": "\\u001b[31m", "description": "red \\u001b[31m'
            b' and \\ud83d"}, "id": 1}]')
    writer.store(Incoming(method="POST", path="/", body=body))
    writer.close()
    result = run("summary", str(path))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "\x1b" not in result.stdout
    assert "red \u241b[31m and \ufffd" in result.stdout
    as_json = run("summary", "--json", str(path))
    assert as_json.returncode == 0, as_json.stderr
    types = json.loads(as_json.stdout)["event_types"]
    assert types[0]["description"] == "red \x1b[31m and \ud83d"  # exact, escaped in JSON
