"""Configuration in one typed place: platform paths, persisted settings and serve options.

Paths come from platformdirs (XDG on Linux, so tests redirect them with ``XDG_CONFIG_HOME`` and
``XDG_DATA_HOME``). Settings are a small JSON file in the user's config directory, written with
mode 0600 because it holds the endpoint password.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import json
import os
import secrets
import tempfile
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
    """Write ``data`` to ``path`` readable by the owner only (keys, passwords), atomically: a
    private temporary file in the same folder, flushed to disk, then renamed over ``path``, so a
    reader sees the old file or the new one, and a failed write leaves the old one."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:  # mkstemp's file is the owner's only (0600)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@dataclass
class Settings:
    """Everything the user sets that outlives a run; persisted as JSON in the config dir.

    Unknown keys in the file are ignored and missing ones take their defaults, so an older or
    newer settings file never stops the app from starting.

    The window and the command line both write the file: :meth:`save` writes only what changed
    since :meth:`load` (for a dict, only its changed entries) into the file as it is now, so one
    never undoes the other's change. Settings made without :meth:`load` write every key.
    """

    _loaded = None  # the values as loaded (:meth:`load`) or last saved; not a field

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
    local_times: bool = False  # the window's tables show times in local time (else UTC)
    theme: str = "system"  # View ▸ Theme: system (follow the platform), light or dark
    # A public URL (serve --public; the window's Expose publicly): the provider last chosen
    # (cloudflared, ngrok, ssh:USER@HOST[:PORT] or an https:// URL), ngrok's authtoken (a
    # secret: the file is the owner's only) and reserved domain, and the user's own URL.
    public_provider: str = ""
    ngrok_authtoken: str = ""
    ngrok_domain: str = ""
    public_url: str = ""

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
            ngrok_authtoken=self.ngrok_authtoken,
            ngrok_domain=self.ngrok_domain,
        )
        return dataclasses.replace(options, **overrides)

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        raw = _read_settings(path or settings_path())
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
        settings = cls(**values)
        settings._loaded = copy.deepcopy(dataclasses.asdict(settings))
        return settings

    def save(self, path: Path | None = None) -> None:
        """Write the keys changed since :meth:`load` into the file as it is now (atomically,
        readable by the owner only); keys this version does not know are kept."""
        path = path or settings_path()
        mine = dataclasses.asdict(self)
        loaded = self._loaded
        merged = _read_settings(path)
        for key, value in mine.items():
            before = None if loaded is None else loaded[key]
            if loaded is not None and value == before:
                continue
            if isinstance(value, dict) and isinstance(before, dict) \
                    and isinstance(merged.get(key), dict):
                merged[key] = _merge_entries(merged[key], before, value)
            else:
                merged[key] = value
        for key, value in mine.items():  # the file lists every setting
            merged.setdefault(key, value)
        write_private(path, json.dumps(merged, indent=2).encode())
        self._loaded = copy.deepcopy(mine)

    @classmethod
    def load_or_create(cls, path: Path | None = None) -> Settings:
        """Load the settings, creating the endpoint password on first start."""
        settings = cls.load(path)
        if not settings.password:
            settings.password = secrets.token_urlsafe(18)
            settings.save(path)
        return settings


def _read_settings(path: Path) -> dict:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _merge_entries(current: dict, before: dict, after: dict) -> dict:
    """``current`` (the file's dict now) with the entries that changed from ``before`` to
    ``after`` (this writer's) applied: set where added or changed, gone where removed."""
    out = dict(current)
    for key, value in after.items():
        if key not in before or before[key] != value:
            out[key] = value
    for key in before.keys() - after.keys():
        out.pop(key, None)
    return out


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
    public: str = ""  # a provider to expose the endpoint with (app/server/public.py)
    public_url: str = ""  # with an ssh provider: the public URL its server gives
    public_remote_port: int = 80  # with an ssh provider: the server's port (ssh -R PORT:...)
    ngrok_authtoken: str = ""  # else NGROK_AUTHTOKEN
    ngrok_domain: str = ""
    answers: tuple[str, ...] = ()  # answer rules (app/capture/rules.py), in order
    answer_seed: int | None = None  # makes the rules' percentages reproducible

    @property
    def auth_enabled(self) -> bool:
        return self.user is not None
