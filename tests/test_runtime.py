"""Finding the running endpoint: a ``serve`` registers itself; ``curl`` and ``send`` use it.

Real ``serve`` children on random ports with their own credentials, real command-line clients
run through a shell as the documentation writes them.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

from app import runtime
from app.capture.schema import open_reader
from app.config import Settings, settings_path
from app.server.receiver import Endpoint
from tests.conftest import ROOT, start_receiver

CURL_SAMPLE = "resources/samples/usage-record.curl"


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def shell(command: str) -> subprocess.CompletedProcess:
    """``command`` run by bash, ``streamer-inspector`` being this checkout's command line."""
    command = command.replace("streamer-inspector", f"{sys.executable} -m app")
    return subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def entry_of(pid: int) -> Path:
    return runtime.runtime_dir() / f"{pid}.json"


def stored_requests(capture: Path) -> list[tuple]:
    db = open_reader(capture)
    try:
        return db.execute("SELECT path, auth, auth_user FROM request ORDER BY id").fetchall()
    finally:
        db.close()


def endpoint(tmp_path: Path, port: int, password: str = "pw") -> Endpoint:
    return Endpoint(url=f"https://localhost:{port}/", host="127.0.0.1", port=port, tls="local",
                    ca_file=tmp_path / "ca.pem", user="someone", password=password,
                    capture=tmp_path / "c.sqlite")


def test_an_entry_is_private_and_holds_no_password_the_settings_keep(tmp_path):
    settings = Settings(user="someone", password="kept-in-settings")
    settings.save()
    path = runtime.register(endpoint(tmp_path, 4242, "kept-in-settings"))
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        text = path.read_text()
        assert "kept-in-settings" not in text
        assert json.loads(text)["password_in"] == str(settings_path())
        [found] = runtime.running()
        assert (found.pid, found.url, found.user) == (os.getpid(), "https://localhost:4242/",
                                                      "someone")
        assert found.password == "kept-in-settings"
        assert "kept-in-settings" not in repr(found)
        assert runtime.for_url("https://127.0.0.1:4242/events") == found
        assert runtime.for_url("https://localhost:4243/") is None
        # The settings' password changed since (another serve): said, not guessed.
        Settings(user="someone", password="another").save()
        [found] = runtime.running()
        assert found.password is None
        assert "no longer in" in (found.password_note or "")
    finally:
        runtime.unregister(path)
    assert not path.exists()
    assert runtime.running() == []


def test_a_password_the_settings_do_not_hold_is_kept_in_the_private_entry(tmp_path):
    with runtime.registered(endpoint(tmp_path, 4244, "only-here")) as path:
        assert path is not None
        assert json.loads(path.read_text())["password"] == "only-here"
        assert runtime.running()[0].password == "only-here"
    assert not path.exists()


def test_entries_of_processes_that_are_gone_are_ignored_and_removed(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    folder = runtime.runtime_dir()
    folder.mkdir(parents=True)
    stale = folder / f"{gone.pid}.json"
    stale.write_text(json.dumps({"pid": gone.pid, "url": "https://localhost:1/", "user": None,
                                 "started_at": 1.0}))
    # A live pid whose process started at another time: the pid was reused.
    reused = folder / f"{os.getpid()}.json"
    reused.write_text(json.dumps({"pid": os.getpid(), "process_start": "1",
                                  "url": "https://localhost:2/", "user": None}))
    assert runtime.running() == []
    assert not stale.exists() and not reused.exists()


def test_curl_and_send_reach_the_running_serve_without_being_told_how(tmp_path):
    """Regression (issue 10): the documentation's placeholders went to the settings' port 8443
    even while a serve ran on another port with other credentials."""
    rec = start_receiver(tmp_path, user="docs-user", password="docs-password")
    try:
        Settings(user="streamer", password="stale", port=8443).save()  # settings say otherwise
        # ... which the entry notices; the serve's own password is in its entry then.
        result = shell(f'streamer-inspector curl "$(cat {CURL_SAMPLE})"')
        assert result.returncode == 1
        assert "no longer in" in result.stderr  # said, and no wrong password is sent
        Settings(user="docs-user", password="docs-password").save()
        result = shell(f'streamer-inspector curl "$(cat {CURL_SAMPLE})"')
        assert result.returncode == 0, result.stderr
        first, _, body = result.stdout.partition("\n")
        assert first.startswith(f"200 OK from {rec.url}")
        assert json.loads(body)["counts"] == {"usage": 1}
        assert f"placeholders go to the running endpoint {rec.url}" in result.stderr
        port = rec.listening["port"]
        result = shell(f"streamer-inspector send https://localhost:{port}/ "
                       f"--sample attach-sequence")
        assert result.returncode == 0, result.stderr
        assert "  200  " in result.stdout
        assert "using the credentials and CA of the running endpoint" in result.stderr
        stored = rec.next_event(), rec.next_event(), rec.next_event()
        assert [(e["status"], e["records"]) for e in stored] == [(401, 0), (200, 1), (200, 4)]
        assert stored_requests(rec.capture)[1:] == [("/", "ok", "docs-user")] * 2
    finally:
        rec.stop()


def test_two_receivers_register_placeholders_go_to_the_most_recent_and_entries_go(tmp_path):
    first = start_receiver(tmp_path, capture=tmp_path / "first.sqlite")
    first_entry = entry_of(first.listening["pid"])
    second = start_receiver(tmp_path, capture=tmp_path / "second.sqlite")
    second_entry = entry_of(second.listening["pid"])
    try:
        # Both registered (already when "listening" was announced), the newest first.
        assert first_entry.is_file() and second_entry.is_file()
        assert [e.url for e in runtime.running()] == [second.url, first.url]
        newest = runtime.running()[0]
        assert (newest.user, newest.password, newest.ca_file) == (
            "streamer", "test-password", second.ca_file)
        assert "test-password" not in second_entry.read_text()  # the settings keep it
        result = cli("curl", "--events", "jsonl",
                     (ROOT / CURL_SAMPLE).read_text())
        outcome = json.loads(result.stdout)
        assert outcome["status"] == 200, outcome
        assert outcome["url"] == second.url
        assert any(f"2 endpoints are running; placeholders go to the most recent, {second.url}"
                   in n and first.url in n for n in outcome["notes"])
        # A local URL naming the other one's port goes to that one, with its credentials.
        port = first.listening["port"]
        command = (ROOT / CURL_SAMPLE).read_text().replace(
            "https://<server-domain>:<port>/<endpoint>/", f"https://127.0.0.1:{port}/x")
        outcome = json.loads(cli("curl", "--events", "jsonl", command).stdout)
        assert outcome["status"] == 200, outcome
        assert outcome["url"] == f"https://127.0.0.1:{port}/x"
        assert first.next_event()["status"] == 200
        assert stored_requests(first.capture) == [("/x", "ok", "streamer")]
    finally:
        assert second.stop() == 0
    assert not second_entry.exists()  # a clean stop removes the entry
    first.kill()
    assert first_entry.exists()
    assert runtime.running() == []  # the entry of a killed receiver is not believed
    assert not first_entry.exists()


def test_a_closed_port_is_said_plainly():
    """Regression (issue 10): ``Cannot connect to host localhost:8443 ssl:<ssl.SSLContext
    object at 0x…>``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = cli("curl", "--endpoint", f"https://localhost:{port}/",
                 (ROOT / CURL_SAMPLE).read_text())
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert "object at 0x" not in out and "Traceback" not in out
    assert (f"cannot connect to localhost:{port}: connection refused (is `streamer-inspector "
            f"serve` running?)") in out
