"""Persisted settings: the password is made once, kept private, and odd files are survived."""

import errno
import json
import subprocess
import sys

import pytest

from app.config import Settings, new_capture_path, settings_path
from tests.conftest import ROOT


def test_password_is_created_once_and_kept_private():
    first = Settings.load_or_create()
    assert first.user == "streamer"
    assert len(first.password) >= 20
    assert settings_path().stat().st_mode & 0o777 == 0o600
    assert Settings.load_or_create().password == first.password


def test_unknown_or_mistyped_keys_are_ignored():
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"port": "not a number", "user": "me", "future_key": 1,
                                "auth_enabled": 1}))
    s = Settings.load()
    assert (s.port, s.user, s.auth_enabled) == (8443, "me", True)


def test_garbage_settings_file_gives_defaults():
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_text("{ not json")
    assert Settings.load() == Settings()


def test_new_capture_paths_never_collide():
    first = new_capture_path()
    first.parent.mkdir(parents=True)
    first.write_bytes(b"")
    second = new_capture_path()
    assert second != first and second.parent == first.parent
    assert second.name.startswith("capture-") and second.suffix == ".sqlite"


def test_two_writers_keep_each_others_changes():
    # The window and the command line each load the file, change one thing and save.
    Settings.load_or_create()
    window, cli = Settings.load(), Settings.load()
    window.port = 9443
    window.ui["geometry"] = "abc"
    cli.mask_keys["/c.sqlite"] = "k1"
    window.save()
    cli.save()
    window.mask_view = True
    window.save()  # the window's stale copy of mask_keys is not written back
    on_disk = Settings.load()
    assert (on_disk.port, on_disk.ui, on_disk.mask_keys, on_disk.mask_view) == (
        9443, {"geometry": "abc"}, {"/c.sqlite": "k1"}, True)
    assert on_disk.password == window.password == cli.password
    # Entries of one dict: each writer adds or removes its own.
    cli.mask_keys["/d.sqlite"] = "k2"
    window.mask_keys["/e.sqlite"] = "k3"
    cli.save()
    window.save()
    assert Settings.load().mask_keys == {"/c.sqlite": "k1", "/d.sqlite": "k2", "/e.sqlite": "k3"}
    del cli.mask_keys["/c.sqlite"]
    cli.save()
    assert Settings.load().mask_keys == {"/d.sqlite": "k2", "/e.sqlite": "k3"}
    assert settings_path().stat().st_mode & 0o777 == 0o600


def test_keys_of_a_newer_version_survive_a_save():
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"port": 9000, "from_the_future": {"x": 1}}))
    s = Settings.load()
    s.user = "me"
    s.save()
    assert json.loads(path.read_text())["from_the_future"] == {"x": 1}
    assert (Settings.load().port, Settings.load().user) == (9000, "me")


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_write_that_fails_midway_leaves_the_old_file(tmp_path):
    # A real failed write: the child may write at most 64 bytes to any file (RLIMIT_FSIZE),
    # so its settings file (longer) fails with EFBIG half written.
    Settings.load_or_create()
    before = settings_path().read_bytes()
    code = (
        "import resource, signal\n"
        "from app.config import Settings\n"
        "s = Settings.load()\n"
        "s.port = 1234\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))\n"
        "try:\n"
        "    s.save()\n"
        "except OSError as exc:\n"
        "    print('failed', exc.errno)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out == f"failed {errno.EFBIG}\n"
    assert settings_path().read_bytes() == before
    assert Settings.load().port == 8443
    assert sorted(p.name for p in settings_path().parent.iterdir()) == ["settings.json"]
