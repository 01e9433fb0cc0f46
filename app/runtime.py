"""Which receivers are running: each ``serve`` registers itself so that clients can find it.

A running receiver writes one small JSON file, ``<pid>.json``, in a private folder of the user's
state directory (``~/.local/state/streamer-inspector/running``, mode 0700; the file 0600): its
URL, CA file, user, capture, and where its password is. The password itself is not written when
the settings file already holds it (it always does for ``serve``, which remembers ``--password``):
the entry names the settings file and keeps a salted digest, so a client notices when the
settings' password has changed since the receiver started. The file is removed when the receiver
stops cleanly; an entry whose process is gone (``kill -9``, a crash) is ignored and removed by the
next reader.

``curl`` and ``send`` use :func:`running` / :func:`for_url` to reach the endpoint that actually
runs, with its credentials and CA, instead of guessing from the settings. Qt-free.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from app import APP_NAME
from app.config import Settings, settings_path, write_private
from app.net import LOOPBACK_NAMES, host_port


def runtime_dir() -> Path:
    """The folder of the running receivers' entries (created private when written)."""
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False)) / "running"


def _process_start(pid: int) -> str | None:
    """The process's start time since boot (Linux ``/proc``), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime); the command name (field 2) may hold spaces and parentheses.
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int, started: str | None) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would end the process there (TerminateProcess)
        return _alive_on_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process has this pid now: not ours
        return False
    except OSError:
        return False
    if started is not None:
        now = _process_start(pid)
        if now is not None and now != started:
            return False  # the pid was reused by another process
    return True


def _alive_on_windows(pid: int) -> bool:
    """Whether the process ``pid`` runs (Windows; a process we may not open is not ours).
    This path cannot run here: it is kept to the three documented kernel32 calls."""
    import ctypes  # Windows only
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32")  # a private instance: its prototypes are set here
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = wintypes.DWORD()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) \
            and code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _digest(salt: str, password: str) -> str:
    return hashlib.sha256(f"{salt}:{password}".encode()).hexdigest()


@dataclass(frozen=True)
class RunningEndpoint:
    """A receiver that is running now, as it registered itself."""

    pid: int
    url: str
    ca_file: str | None
    user: str | None  # None: authentication off
    password: str | None = field(repr=False)  # None: auth off, or not found (see note)
    capture: str
    started_at: float  # time.time() of the registration
    entry: Path
    password_note: str | None = None  # why ``password`` is unknown, for the user
    public_url: str | None = None  # the public URL it is exposed at now (serve --public)

    @property
    def auth_enabled(self) -> bool:
        return self.user is not None

    def describe(self) -> str:
        """``https://localhost:40123/ (pid 4242, started 13:57:50)``."""
        started = time.strftime("%H:%M:%S", time.localtime(self.started_at))
        return f"{self.url} (pid {self.pid}, started {started})"

    def reaches(self, url: str) -> bool:
        """Whether ``url`` goes to this endpoint: same host and port, or a loopback name with
        its port (``https://127.0.0.1:P/x`` reaches ``https://localhost:P/``)."""
        mine, theirs = host_port(url), host_port(self.url)
        if mine is None or theirs is None:
            return False
        return mine == theirs or (mine[0] in LOOPBACK_NAMES and theirs[0] in LOOPBACK_NAMES
                                  and mine[1] == theirs[1])


def register(endpoint) -> Path:
    """Write the entry of ``endpoint`` (a :class:`app.server.Endpoint`) for this process;
    returns its path."""
    folder = runtime_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    entry: dict = {
        "pid": os.getpid(),
        "process_start": _process_start(os.getpid()),
        "started_at": time.time(),
        "url": endpoint.url,
        "ca_file": str(endpoint.ca_file) if endpoint.ca_file else None,
        "user": endpoint.user,
        "capture": str(endpoint.capture),
    }
    if endpoint.user is not None:
        password = endpoint.password or ""
        salt = secrets.token_hex(8)
        entry["password_salt"] = salt
        entry["password_digest"] = _digest(salt, password)
        if Settings.load().password == password:
            entry["password_in"] = str(settings_path())
        else:  # not remembered anywhere else (an in-process serve): kept here, 0600
            entry["password"] = password
    path = folder / f"{os.getpid()}.json"
    write_private(path, json.dumps(entry, indent=2).encode())
    return path


def set_public_url(path: Path | None, url: str | None) -> None:
    """Say in the entry at ``path`` the public URL the receiver is exposed at now (None: not
    exposed), so that ``check`` knows which receiver a public URL reaches. Best effort."""
    if path is None:
        return
    with contextlib.suppress(OSError, ValueError):
        entry = json.loads(path.read_text("utf-8"))
        if entry.get("public_url") != url:
            entry["public_url"] = url
            write_private(path, json.dumps(entry, indent=2).encode())


def unregister(path: Path | None) -> None:
    """Remove an entry (a receiver that stops); None is ignored."""
    if path is None:
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def try_register(endpoint) -> Path | None:
    """:func:`register`, or None when the entry cannot be written (a read-only state folder):
    the receiver runs on, and clients fall back to the settings."""
    try:
        return register(endpoint)
    except OSError:
        return None


@contextlib.contextmanager
def registered(endpoint) -> Iterator[Path | None]:
    """Registered while the block runs (see :func:`try_register`)."""
    path = try_register(endpoint)
    try:
        yield path
    finally:
        if path is not None:
            unregister(path)


def _read(path: Path) -> RunningEndpoint | None:
    try:
        raw = json.loads(path.read_text("utf-8"))
        pid = int(raw["pid"])
        url = str(raw["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    user = raw.get("user")
    password = note = None
    if user is not None:
        password = raw.get("password")
        if password is None and raw.get("password_in"):
            stored = Settings.load(Path(raw["password_in"])).password
            if hmac.compare_digest(_digest(str(raw.get("password_salt", "")), stored),
                                   str(raw.get("password_digest", ""))):
                password = stored
            else:
                note = (f"the endpoint {url} was started with a password that is no longer in "
                        f"{raw['password_in']} (another serve changed it): give --user and "
                        f"--password")
    return RunningEndpoint(pid=pid, url=url, ca_file=raw.get("ca_file"), user=user,
                           password=password, capture=str(raw.get("capture", "")),
                           started_at=float(raw.get("started_at", 0.0)), entry=path,
                           password_note=note,
                           public_url=raw["public_url"] if isinstance(raw.get("public_url"), str)
                           else None)


def running() -> list[RunningEndpoint]:
    """The receivers running now, the most recently started first; entries of processes that
    are gone are removed."""
    folder = runtime_dir()
    try:
        paths = list(folder.glob("*.json"))
    except OSError:
        return []
    found = []
    for path in paths:
        try:
            raw = json.loads(path.read_text("utf-8"))
            pid, started = int(raw["pid"]), raw.get("process_start")
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being written, or not ours: leave it
        if not _alive(pid, started):
            unregister(path)
            continue
        endpoint = _read(path)
        if endpoint is not None:
            found.append(endpoint)
    found.sort(key=lambda e: e.started_at, reverse=True)
    return found


def for_url(url: str) -> RunningEndpoint | None:
    """The running receiver that ``url`` reaches (the most recent if several), or None."""
    for endpoint in running():
        if endpoint.reaches(url):
            return endpoint
    return None
