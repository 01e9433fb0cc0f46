"""Configuration in one typed place: platform paths, persisted settings and serve options.

Paths come from platformdirs (XDG on Linux, so tests redirect them with ``XDG_CONFIG_HOME`` and
``XDG_DATA_HOME``). Settings are a small JSON file in the user's config directory, written with
mode 0600 because it holds the endpoint password.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from app import APP_NAME

DEFAULT_USER = "streamer"
DEFAULT_PORT = 8443
DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_BODY = 64 * 1024 * 1024
MAX_RECORDS_PER_POST = 3000  # the vendor's documented limit per POST


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def tls_dir() -> Path:
    return data_dir() / "tls"


def captures_dir() -> Path:
    return data_dir() / "captures"


def settings_path() -> Path:
    return config_dir() / "settings.json"


def new_capture_path(now: dt.datetime | None = None) -> Path:
    """A new, dated capture file name in the user's data dir that does not exist yet."""
    now = now or dt.datetime.now()
    base = captures_dir() / f"capture-{now:%Y-%m-%d-%H%M%S}"
    path = base.with_suffix(".sqlite")
    n = 2
    while path.exists():
        path = Path(f"{base}-{n}.sqlite")
        n += 1
    return path


def private_dir(path: Path) -> Path:
    """Make sure the folder ``path`` exists; the folders created here are the owner's only
    (0700), and so are the app's own folders (in the user's data and config dirs), which an
    earlier version made 0755. A folder the user chose elsewhere keeps its mode."""
    path = Path(path)
    missing = []
    here = path
    while not here.exists() and here != here.parent:
        missing.append(here)
        here = here.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask
    here = path
    while is_own(here):  # this folder and the app's folders above it
        with contextlib.suppress(OSError):
            os.chmod(here, 0o700)
        here = here.parent
    return path


def is_own(path: Path) -> bool:
    """Whether ``path`` is one of the app's own folders (or a file's folder within them)."""
    path = Path(path).absolute()
    return any(path == base or base in path.parents
               for base in (data_dir().absolute(), config_dir().absolute()))


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (keys, passwords)."""
    private_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@dataclass
class Settings:
    """Everything the user sets that outlives a run; persisted as JSON in the config dir.

    Unknown keys in the file are ignored and missing ones take their defaults, so an older or
    newer settings file never stops the app from starting.
    """

    user: str = DEFAULT_USER
    password: str = ""
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    path_hint: str = "/"
    tls_mode: str = "local"  # local | custom | off
    cert_file: str = ""
    key_file: str = ""
    auth_enabled: bool = True
    max_body: int = DEFAULT_MAX_BODY
    last_capture: str = ""
    recent_captures: list[str] = field(default_factory=list)
    ui: dict[str, str] = field(default_factory=dict)  # window geometry, splitters, columns
    saved_filters: dict[str, str] = field(default_factory=dict)  # name -> filter expression
    table_filters: dict[str, str] = field(default_factory=dict)  # table -> filter in force
    mask_keys: dict[str, str] = field(default_factory=dict)  # capture -> masking key (secret)
    mask_view: bool = False

    def serve_options(self, capture: Path, **overrides) -> ServeOptions:
        """The receiver's options for a run on ``capture``, as these settings say."""
        custom = self.tls_mode == "custom"
        options = ServeOptions(
            capture=Path(capture),
            host=self.host,
            port=self.port,
            tls=self.tls_mode,
            cert_file=Path(self.cert_file) if custom and self.cert_file else None,
            key_file=Path(self.key_file) if custom and self.key_file else None,
            user=self.user if self.auth_enabled else None,
            password=self.password if self.auth_enabled else None,
            max_body=self.max_body,
        )
        return dataclasses.replace(options, **overrides)

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        path = path or settings_path()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = {}
        if not isinstance(raw, dict):
            raw = {}
        known = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for key, value in raw.items():
            f = known.get(key)
            if f is None:
                continue
            default = getattr(cls(), key)
            if isinstance(default, bool) != isinstance(value, bool):
                continue
            if isinstance(value, type(default)):
                values[key] = value
        return cls(**values)

    def save(self, path: Path | None = None) -> None:
        path = path or settings_path()
        data = json.dumps(dataclasses.asdict(self), indent=2).encode()
        write_private(path, data)

    @classmethod
    def load_or_create(cls, path: Path | None = None) -> Settings:
        """Load the settings, creating the endpoint password on first start."""
        settings = cls.load(path)
        if not settings.password:
            settings.password = secrets.token_urlsafe(18)
            settings.save(path)
        return settings


@dataclass
class ServeOptions:
    """The options of one receiver run (``serve`` on the command line, the window's child)."""

    capture: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    tls: str = "local"  # local | custom | off
    cert_file: Path | None = None
    key_file: Path | None = None
    user: str | None = DEFAULT_USER  # None: authentication off
    password: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    events: str = "human"  # human | jsonl
    sync: str = "normal"  # SQLite synchronous mode: normal | full
    stop_with_stdin: bool = False  # stop when stdin closes (the window's child)

    @property
    def auth_enabled(self) -> bool:
        return self.user is not None
