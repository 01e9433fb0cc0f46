"""Shared fixtures: isolated user dirs, and a real receiver process over real TLS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue

import aiohttp
import pytest
from hypothesis import settings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Property tests explore new examples on every local run; in CI they replay a fixed set
# (derandomize), so a red CI always means a change broke something, never a lucky draw. A case
# found locally is added to the test's explicit examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "resources" / "samples"
EVENT_SAMPLE = SAMPLES / "update-location-event.json"
USAGE_SAMPLE = SAMPLES / "usage-record.json"


class SocketsKept(aiohttp.TCPConnector):
    """An aiohttp connector that remembers the sockets of its connections, so that a client
    can end its event loop only once they are closed (:meth:`sockets_closed`). A receiver folds a
    batch right after answering it, and may take a moment to answer the TLS close then: a
    loop that ended first left the socket open (a ResourceWarning in a later test)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sockets: list = []

    async def _create_connection(self, req, traces, timeout):
        protocol = await super()._create_connection(req, traces, timeout)
        self.sockets.append(protocol.transport.get_extra_info("socket"))
        return protocol

    async def sockets_closed(self, timeout: float = 5.0) -> None:
        """Wait until every socket it opened is closed (after the session closed)."""
        import asyncio

        for _ in range(int(timeout / 0.005)):
            if all(sock is None or sock.fileno() == -1 for sock in self.sockets):
                return
            await asyncio.sleep(0.005)


def folded(capture: Path, timeout: float = 20.0) -> Path:
    """Wait until every request the receiver acknowledged is in ``capture``: its inbox
    (``CAPTURE-inbox``, app.capture.inbox) is empty or gone. A batch is folded into the capture
    right after its 200, so a test reading the capture just after an answer waits for that.
    Returns ``capture``."""
    import time

    inbox = Path(f"{capture}-inbox")
    deadline = time.monotonic() + timeout
    while True:
        try:
            if inbox.stat().st_size == 0:
                return capture
        except FileNotFoundError:
            return capture
        if time.monotonic() > deadline:
            raise AssertionError(f"{inbox} was not folded into the capture in {timeout} s")
        time.sleep(0.005)


@pytest.fixture(scope="session", autouse=True)
def session_user_dirs(tmp_path_factory):
    """User folders for what runs before a test's own ``user_dirs``: a module's or session's
    receiver wrote its CA and registration into the real ones (~/.local/share/...)."""
    base = tmp_path_factory.mktemp("session-home")
    patch = pytest.MonkeyPatch()
    for key, value in isolated_env(base).items():
        if key.startswith("XDG_"):
            patch.setenv(key, value)
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def user_dirs(tmp_path_factory, monkeypatch) -> dict[str, str]:
    """Point platformdirs (XDG on Linux) at fresh folders: tests never touch the real ones."""
    base = tmp_path_factory.mktemp("home")
    env = {"XDG_CONFIG_HOME": str(base / "config"), "XDG_DATA_HOME": str(base / "data"),
           "XDG_STATE_HOME": str(base / "state"), "XDG_CACHE_HOME": str(base / "cache")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@dataclass
class ReceiverProcess:
    """A running ``streamer-inspector serve --events jsonl`` child and what it announced."""

    proc: subprocess.Popen
    listening: dict
    capture: Path
    user: str | None
    password: str | None
    _lines: Queue = field(default_factory=Queue)
    _pump: threading.Thread | None = None
    stderr_text: str = ""

    @property
    def url(self) -> str:
        return self.listening["url"]

    @property
    def ca_file(self) -> str | None:
        return self.listening["ca_file"]

    def next_event(self, timeout: float = 10.0, folded: bool = False) -> dict:
        """The next event line; ``{"event": "folded"}`` lines (requests written into the
        capture after their answers) are skipped unless ``folded``."""
        while True:
            try:
                event = json.loads(self._lines.get(timeout=timeout))
            except Empty:
                raise AssertionError("the receiver printed no event in time") from None
            if folded or event.get("event") != "folded":
                return event

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        finally:
            self._close()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        if self.proc.stderr.closed:
            return
        self.stderr_text = self.proc.stderr.read()
        self.proc.stderr.close()
        if self._pump is not None:
            self._pump.join(timeout=10)
        self.proc.stdout.close()


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "app", "serve", *args]


def start_receiver(tmp_path: Path, *args: str, user: str | None = "streamer",
                   password: str | None = "test-password", env: dict | None = None,
                   capture: Path | None = None) -> ReceiverProcess:
    capture = capture or tmp_path / "capture.sqlite"
    cmd = ["--port", "0", "--events", "jsonl", "--capture", str(capture)]
    if user is None:
        cmd.append("--no-auth")
    else:
        cmd += ["--user", user, "--password", password or ""]
    proc = subprocess.Popen(serve_command(*cmd, *args), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env or dict(os.environ))
    lines: Queue = Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)

    pump_thread = threading.Thread(target=pump, daemon=True)
    pump_thread.start()
    rec = ReceiverProcess(proc=proc, listening={}, capture=capture, user=user,
                          password=password, _lines=lines, _pump=pump_thread)
    try:
        first = json.loads(lines.get(timeout=30))
    except Empty:
        rec.kill()
        raise AssertionError(f"serve did not start: {rec.stderr_text}") from None
    if first.get("event") != "listening":
        rec.stop()
        raise AssertionError(f"serve did not start: {first} {rec.stderr_text}")
    rec.listening = first
    return rec


@pytest.fixture
def receiver(tmp_path):
    """A fresh receiver with Basic Auth (streamer / test-password) on a free port."""
    rec = start_receiver(tmp_path)
    yield rec
    rec.stop()


def isolated_env(base: Path) -> dict[str, str]:
    """The environment with the user folders under ``base``: for a child started by a module
    or session fixture, which runs before the per-test ``user_dirs``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update({"XDG_CONFIG_HOME": str(base / "config"), "XDG_DATA_HOME": str(base / "data"),
                "XDG_STATE_HOME": str(base / "state"), "XDG_CACHE_HOME": str(base / "cache")})
    return env


@pytest.fixture(scope="module")
def shared_receiver(tmp_path_factory):
    """One receiver (as ``receiver``) for a module's tests that each look only at their own
    request, found by the id its answer gives: a receiver takes 1.5-2.5 s to start. Use
    :func:`drain_events` before a request whose event line a test reads."""
    base = tmp_path_factory.mktemp("shared")
    rec = start_receiver(base, env=isolated_env(base))
    yield rec
    rec.stop()


def drain_events(rec: ReceiverProcess) -> None:
    """Forget the event lines a shared receiver printed for earlier tests' requests."""
    while True:
        try:
            rec._lines.get_nowait()
        except Empty:
            return
