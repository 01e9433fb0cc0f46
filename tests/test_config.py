"""Persisted settings: the password is made once, kept private, and odd files are survived."""

import json

from app.config import Settings, new_capture_path, settings_path


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
