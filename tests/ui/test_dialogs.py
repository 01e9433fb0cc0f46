"""EndpointDialog and PortalDialog, driven through their real widgets (never exec())."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import trustme
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontInfo, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
)

from app.config import DEFAULT_MAX_BODY, Settings
from app.net import basic_auth_value
from app.ui import dialogs
from app.ui.dialogs import EndpointDialog, PortalDialog, normalise_path

MIB = 1024 * 1024

# The offscreen platform (tests only) cannot apply a window's size hints and says so when a
# dialog with a layout is shown; on a real display the message does not exist.


# -- helpers ---------------------------------------------------------------------------------


def _open(qtbot, dialog: QDialog) -> QDialog:
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def _endpoint(qtbot, settings: Settings | None = None) -> EndpointDialog:
    settings = settings or Settings(password="initial-password")
    return _open(qtbot, EndpointDialog(settings))


def _child(dialog: QDialog, cls, name: str):
    widget = dialog.findChild(cls, name)
    assert widget is not None, f"no {cls.__name__} named {name!r}"
    return widget


def _type(qtbot, edit: QLineEdit, text: str) -> None:
    edit.clear()
    qtbot.keyClicks(edit, text)


def _click(qtbot, button: QPushButton) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _ok(qtbot, dialog: QDialog) -> None:
    box = dialog.findChild(QDialogButtonBox)
    _click(qtbot, box.button(QDialogButtonBox.StandardButton.Ok))


def _choose_tls(dialog: EndpointDialog, mode: str) -> None:
    combo = _child(dialog, QComboBox, "tls_mode")
    combo.setCurrentIndex(combo.findData(mode))


def _error(dialog: EndpointDialog) -> QLabel:
    return _child(dialog, QLabel, "error")


@pytest.fixture
def cert_pair(tmp_path) -> tuple[Path, Path]:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    cert = tmp_path / "cert.pem"
    key = tmp_path / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    return cert, key


# -- EndpointDialog --------------------------------------------------------------------------


def test_endpoint_dialog_returns_the_edited_copy(qtbot):
    original = Settings(password="initial-password", recent_captures=["/a.sqlite"])
    dialog = _endpoint(qtbot, original)
    assert dialog.windowTitle() == "Endpoint settings"

    _child(dialog, QSpinBox, "port").setValue(9443)
    host = _child(dialog, QComboBox, "host")
    host.setCurrentText("::1")
    _type(qtbot, _child(dialog, QLineEdit, "path_hint"), "1nce/events")
    _type(qtbot, _child(dialog, QLineEdit, "user"), "portal")
    _type(qtbot, _child(dialog, QLineEdit, "password"), "s3cret")
    _child(dialog, QSpinBox, "max_body").setValue(8)
    _choose_tls(dialog, "off")
    _ok(qtbot, dialog)

    assert dialog.result() == QDialog.DialogCode.Accepted
    assert not dialog.isVisible()
    got = dialog.settings()
    assert (got.port, got.host, got.path_hint) == (9443, "::1", "/1nce/events/")
    assert (got.user, got.password, got.auth_enabled) == ("portal", "s3cret", True)
    assert (got.tls_mode, got.max_body) == ("off", 8 * MIB)
    assert got.recent_captures == ["/a.sqlite"]
    assert got.recent_captures is not original.recent_captures
    # the caller's settings are untouched: the dialog edits a copy
    assert original == Settings(password="initial-password", recent_captures=["/a.sqlite"])


def test_unchanged_dialog_keeps_every_value(qtbot):
    original = Settings(password="pw", port=0, max_body=DEFAULT_MAX_BODY + 123,
                        path_hint="/x/", tls_mode="local")
    dialog = _endpoint(qtbot, original)
    assert _child(dialog, QSpinBox, "port").text() == "any free port"
    assert _child(dialog, QSpinBox, "max_body").value() == 64
    _ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    # a body limit that is not a whole MiB survives when the spin box was not touched
    assert dialog.settings() == original


def test_cancel_returns_an_unchanged_copy(qtbot):
    original = Settings(password="pw")
    dialog = _endpoint(qtbot, original)
    _child(dialog, QSpinBox, "port").setValue(1234)
    box = dialog.findChild(QDialogButtonBox)
    _click(qtbot, box.button(QDialogButtonBox.StandardButton.Cancel))
    assert dialog.result() == QDialog.DialogCode.Rejected
    assert dialog.settings() == original


@pytest.mark.parametrize(("typed", "expected"), [
    ("", "/"), ("/", "/"), ("1nce/events", "/1nce/events/"), ("/a", "/a/"), ("b/", "/b/"),
    ("  /1nce/events/  ", "/1nce/events/"),
])
def test_normalise_path(typed, expected):
    assert normalise_path(typed) == expected


def test_path_is_normalised_when_editing_finishes(qtbot):
    dialog = _endpoint(qtbot)
    path = _child(dialog, QLineEdit, "path_hint")
    _type(qtbot, path, "hooks")
    qtbot.keyClick(path, Qt.Key.Key_Return)  # the default button is OK: the dialog accepts
    assert path.text() == "/hooks/"
    assert dialog.settings().path_hint == "/hooks/"


def test_path_with_spaces_is_rejected(qtbot):
    dialog = _endpoint(qtbot)
    _type(qtbot, _child(dialog, QLineEdit, "path_hint"), "/my events/")
    _ok(qtbot, dialog)
    assert dialog.isVisible()
    assert "/my events/" in _error(dialog).text()


@pytest.mark.parametrize(("host", "warned"), [
    ("127.0.0.1", False), ("::1", False), ("localhost", False), ("0.0.0.0", True),
    ("192.168.1.20", True),
])
def test_non_loopback_bind_address_is_warned_inline(qtbot, host, warned):
    dialog = _endpoint(qtbot)
    _child(dialog, QComboBox, "host").setCurrentText(host)
    warning = _child(dialog, QLabel, "host_warning")
    assert warning.isVisible() is warned
    if warned:
        assert host in warning.text()
        assert "other machines" in warning.text()
    else:
        assert warning.text() == ""


def test_bind_address_offers_the_usual_choices(qtbot):
    dialog = _endpoint(qtbot)
    combo = _child(dialog, QComboBox, "host")
    assert combo.isEditable()
    assert [combo.itemText(i) for i in range(combo.count())] == ["127.0.0.1", "::1", "0.0.0.0"]


def test_certificate_fields_are_enabled_for_own_certificate_only(qtbot):
    dialog = _endpoint(qtbot)
    widgets = [_child(dialog, QLineEdit, "cert_file"), _child(dialog, QLineEdit, "key_file"),
               _child(dialog, QPushButton, "browse_cert_file"),
               _child(dialog, QPushButton, "browse_key_file")]
    combo = _child(dialog, QComboBox, "tls_mode")
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "Local CA (trusted once)", "My own certificate", "Off (plain HTTP behind a TLS tunnel)",
    ]
    assert not any(w.isEnabled() for w in widgets)
    _choose_tls(dialog, "custom")
    assert all(w.isEnabled() for w in widgets)
    _choose_tls(dialog, "off")
    assert not any(w.isEnabled() for w in widgets)


def test_missing_certificate_keeps_the_dialog_open(qtbot, tmp_path, cert_pair):
    _cert, key = cert_pair
    missing = tmp_path / "nope" / "cert.pem"
    dialog = _endpoint(qtbot)
    _choose_tls(dialog, "custom")
    _type(qtbot, _child(dialog, QLineEdit, "cert_file"), str(missing))
    _type(qtbot, _child(dialog, QLineEdit, "key_file"), str(key))
    _ok(qtbot, dialog)
    assert dialog.isVisible()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert _error(dialog).isVisible()
    assert str(missing) in _error(dialog).text()
    assert dialog.settings().tls_mode == "local"  # nothing taken over


def test_missing_key_names_the_key_file(qtbot, tmp_path, cert_pair):
    cert, _key = cert_pair
    missing = tmp_path / "missing-key.pem"
    dialog = _endpoint(qtbot)
    _choose_tls(dialog, "custom")
    _type(qtbot, _child(dialog, QLineEdit, "cert_file"), str(cert))
    _type(qtbot, _child(dialog, QLineEdit, "key_file"), str(missing))
    _ok(qtbot, dialog)
    assert dialog.isVisible()
    assert str(missing) in _error(dialog).text()
    assert "key file" in _error(dialog).text()


def test_empty_certificate_path_is_rejected(qtbot):
    dialog = _endpoint(qtbot)
    _choose_tls(dialog, "custom")
    _ok(qtbot, dialog)
    assert dialog.isVisible()
    assert "certificate file" in _error(dialog).text()


def test_mismatched_key_is_rejected(qtbot, tmp_path, cert_pair):
    cert, _key = cert_pair
    other = tmp_path / "other-key.pem"
    trustme.CA().issue_cert("localhost").private_key_pem.write_to_path(str(other))
    dialog = _endpoint(qtbot)
    _choose_tls(dialog, "custom")
    _type(qtbot, _child(dialog, QLineEdit, "cert_file"), str(cert))
    _type(qtbot, _child(dialog, QLineEdit, "key_file"), str(other))
    _ok(qtbot, dialog)
    assert dialog.isVisible()
    assert str(other) in _error(dialog).text()


def test_valid_own_certificate_is_accepted(qtbot, cert_pair):
    cert, key = cert_pair
    dialog = _endpoint(qtbot)
    _choose_tls(dialog, "custom")
    _type(qtbot, _child(dialog, QLineEdit, "cert_file"), str(cert))
    _type(qtbot, _child(dialog, QLineEdit, "key_file"), str(key))
    _ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    got = dialog.settings()
    assert (got.tls_mode, got.cert_file, got.key_file) == ("custom", str(cert), str(key))


def test_error_clears_after_a_fix(qtbot, tmp_path, cert_pair):
    cert, key = cert_pair
    dialog = _endpoint(qtbot)
    _choose_tls(dialog, "custom")
    _type(qtbot, _child(dialog, QLineEdit, "cert_file"), str(tmp_path / "missing.pem"))
    _type(qtbot, _child(dialog, QLineEdit, "key_file"), str(key))
    _ok(qtbot, dialog)
    assert dialog.error_text()
    _type(qtbot, _child(dialog, QLineEdit, "cert_file"), str(cert))
    _ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.error_text() == ""


def test_browse_fills_the_file_fields(qtbot, monkeypatch, cert_pair):
    cert, key = cert_pair
    answers = iter([str(cert), str(key)])
    captions = []

    def fake_open(parent, caption, directory, filter_):
        captions.append(caption)
        return next(answers), filter_

    monkeypatch.setattr(dialogs.QFileDialog, "getOpenFileName", fake_open)
    dialog = _endpoint(qtbot)
    _choose_tls(dialog, "custom")
    _click(qtbot, _child(dialog, QPushButton, "browse_cert_file"))
    _click(qtbot, _child(dialog, QPushButton, "browse_key_file"))
    assert _child(dialog, QLineEdit, "cert_file").text() == str(cert)
    assert _child(dialog, QLineEdit, "key_file").text() == str(key)
    assert len(captions) == 2
    _ok(qtbot, dialog)
    assert dialog.settings().cert_file == str(cert)


def test_browse_cancelled_keeps_the_field(qtbot, monkeypatch):
    monkeypatch.setattr(dialogs.QFileDialog, "getOpenFileName", lambda *a: ("", ""))
    dialog = _endpoint(qtbot, Settings(password="pw", cert_file="/keep/me.pem"))
    _choose_tls(dialog, "custom")
    _click(qtbot, _child(dialog, QPushButton, "browse_cert_file"))
    assert _child(dialog, QLineEdit, "cert_file").text() == "/keep/me.pem"


@pytest.mark.parametrize(("user", "password", "needle"), [
    ("", "pw", "user"), ("a:b", "pw", "a:b"), ("streamer", "", "password"),
])
def test_invalid_credentials_keep_the_dialog_open(qtbot, user, password, needle):
    dialog = _endpoint(qtbot)
    _type(qtbot, _child(dialog, QLineEdit, "user"), user)
    _type(qtbot, _child(dialog, QLineEdit, "password"), password)
    _ok(qtbot, dialog)
    assert dialog.isVisible()
    assert needle in _error(dialog).text()


def test_auth_off_allows_empty_credentials(qtbot):
    dialog = _endpoint(qtbot)
    _type(qtbot, _child(dialog, QLineEdit, "password"), "")
    _child(dialog, QLineEdit, "user").clear()
    auth = _child(dialog, QCheckBox, "auth_enabled")
    _click(qtbot, auth)
    assert not auth.isChecked()
    assert not _child(dialog, QLineEdit, "user").isEnabled()
    assert not _child(dialog, QPushButton, "generate").isEnabled()
    _ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.settings().auth_enabled is False


def test_generate_changes_the_password(qtbot):
    dialog = _endpoint(qtbot)
    password = _child(dialog, QLineEdit, "password")
    before = password.text()
    _click(qtbot, _child(dialog, QPushButton, "generate"))
    first = password.text()
    assert first != before
    assert len(first) == 24  # secrets.token_urlsafe(18)
    _click(qtbot, _child(dialog, QPushButton, "generate"))
    assert password.text() != first
    _ok(qtbot, dialog)
    assert dialog.settings().password == password.text()


def test_show_hide_toggles_the_password(qtbot):
    dialog = _endpoint(qtbot)
    password = _child(dialog, QLineEdit, "password")
    toggle = _child(dialog, QPushButton, "show_password")
    assert password.echoMode() == QLineEdit.EchoMode.Password
    _click(qtbot, toggle)
    assert password.echoMode() == QLineEdit.EchoMode.Normal
    assert toggle.text() == "Hide"
    _click(qtbot, toggle)
    assert password.echoMode() == QLineEdit.EchoMode.Password
    assert toggle.text() == "Show"


def test_every_field_explains_itself(qtbot):
    dialog = _endpoint(qtbot)
    for cls, name in [(QSpinBox, "port"), (QComboBox, "host"), (QLineEdit, "path_hint"),
                      (QComboBox, "tls_mode"), (QLineEdit, "cert_file"),
                      (QLineEdit, "key_file"), (QCheckBox, "auth_enabled"),
                      (QLineEdit, "user"), (QLineEdit, "password"),
                      (QPushButton, "generate"), (QSpinBox, "max_body")]:
        assert _child(dialog, cls, name).toolTip(), name
    assert "1NCE" in _child(dialog, QLineEdit, "path_hint").toolTip()


def test_error_label_shows_markup_literally(qtbot):
    dialog = _endpoint(qtbot)
    _type(qtbot, _child(dialog, QLineEdit, "user"), "<b>x:y</b>")
    _ok(qtbot, dialog)
    error = _error(dialog)
    assert error.textFormat() == Qt.TextFormat.PlainText
    assert "<b>x:y</b>" in error.text()


# -- PortalDialog ----------------------------------------------------------------------------

URL = "https://127.0.0.1:8443/"
HEADER = basic_auth_value("streamer", "pw")
CURL = "curl -u streamer:pw -H 'Content-Type: application/json' --data-binary @x.json " + URL


def _portal(qtbot, **kwargs) -> PortalDialog:
    args = {"url": URL, "auth_header": HEADER, "curl_command": CURL, "path_hint": "/"}
    args.update(kwargs)
    return _open(qtbot, PortalDialog(**args))


@pytest.mark.parametrize(("url", "hint", "expected"), [
    (URL, "/", URL),
    (URL, "/1nce/events/", "https://127.0.0.1:8443/1nce/events/"),
    (URL, "1nce/events", "https://127.0.0.1:8443/1nce/events/"),
    ("https://hooks.example.com:9443/", "/a/", "https://hooks.example.com:9443/a/"),
])
def test_portal_shows_the_callback_url_with_the_path(qtbot, url, hint, expected):
    dialog = _portal(qtbot, url=url, path_hint=hint)
    assert dialog.windowTitle() == "1NCE Portal setup"
    shown = _child(dialog, QLineEdit, "callback_url")
    assert shown.isReadOnly()
    assert shown.text() == expected
    assert "//" not in expected.partition("://")[2]


def test_portal_shows_the_values_to_type(qtbot):
    dialog = _portal(qtbot)
    assert _child(dialog, QLineEdit, "api_type").text() == "RestAPI"
    header = _child(dialog, QLineEdit, "auth_header")
    assert header.isReadOnly()
    assert header.text() == HEADER
    assert header.text().startswith("Basic ")
    texts = "\n".join(label.text() for label in dialog.findChildren(QLabel))
    assert "Event Data" in texts
    assert "Usage Data" in texts
    assert not _child(dialog, QLabel, "auth_note").isVisible()


def test_portal_lists_the_documented_requirements(qtbot):
    dialog = _portal(qtbot)
    text = _child(dialog, QLabel, "requirements").text()
    for needle in ["publicly trusted", "self-signed", "Let's Encrypt", "domain name",
                   "not an IP address", "port", "200", "Redirects", "3000"]:
        assert needle in text, needle


def test_portal_warns_when_the_url_is_local(qtbot):
    local = _portal(qtbot)
    assert _child(local, QLabel, "local_note").isVisible()
    public = _portal(qtbot, url="https://hooks.example.com/")
    assert not _child(public, QLabel, "local_note").isVisible()


@pytest.mark.parametrize(("button", "expected"), [
    ("copy_callback_url", "https://127.0.0.1:8443/1nce/"),
    ("copy_auth_header", HEADER),
    ("copy_api_type", "RestAPI"),
    ("copy_curl_command", CURL),
])
def test_copy_buttons_fill_the_clipboard_and_say_so(qtbot, button, expected):
    dialog = _portal(qtbot, path_hint="/1nce/")
    QGuiApplication.clipboard().setText("something else")
    with qtbot.waitSignal(dialog.copied, timeout=1000) as blocker:
        _click(qtbot, _child(dialog, QPushButton, button))
    assert QGuiApplication.clipboard().text() == expected
    assert blocker.args[0].startswith("Copied ")


def test_curl_command_is_read_only_monospace(qtbot):
    dialog = _portal(qtbot)
    curl = _child(dialog, QPlainTextEdit, "curl_command")
    assert curl.isReadOnly()
    assert curl.toPlainText() == CURL
    assert QFontInfo(curl.font()).fixedPitch()


def test_portal_without_auth_explains_it(qtbot):
    dialog = _portal(qtbot, auth_header=None)
    header = _child(dialog, QLineEdit, "auth_header")
    assert header.text() == ""
    assert not _child(dialog, QPushButton, "copy_auth_header").isEnabled()
    note = _child(dialog, QLabel, "auth_note")
    assert note.isVisible()
    assert "off" in note.text()


def test_markup_in_values_is_shown_literally(qtbot):
    header = "Basic <b>bold</b>"
    dialog = _portal(qtbot, auth_header=header, path_hint="/<i>x</i>/",
                     curl_command="curl <b>x</b>")
    assert _child(dialog, QLineEdit, "auth_header").text() == header
    assert _child(dialog, QLineEdit, "callback_url").text() == URL + "<i>x</i>/"
    assert _child(dialog, QPlainTextEdit, "curl_command").toPlainText() == "curl <b>x</b>"
    for name in ("auth_note", "local_note", "requirements"):
        assert _child(dialog, QLabel, name).textFormat() == Qt.TextFormat.PlainText
    with qtbot.waitSignal(dialog.copied, timeout=1000):
        _click(qtbot, _child(dialog, QPushButton, "copy_auth_header"))
    assert QGuiApplication.clipboard().text() == header


def test_portal_close_button_rejects(qtbot):
    dialog = _portal(qtbot)
    box = dialog.findChild(QDialogButtonBox)
    _click(qtbot, box.button(QDialogButtonBox.StandardButton.Close))
    assert not dialog.isVisible()
    assert dialog.result() == QDialog.DialogCode.Rejected


def test_settings_is_a_dataclass_copy(qtbot):
    dialog = _endpoint(qtbot)
    first, second = dialog.settings(), dialog.settings()
    assert dataclasses.is_dataclass(first)
    assert first == second
    assert first is not second
