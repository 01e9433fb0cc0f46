"""The dialogs around the endpoint: its settings, how to expose it publicly, and what to type
into the 1NCE Portal.

:class:`EndpointDialog` edits a copy of :class:`~app.config.Settings` (port, bind address, path,
TLS, Basic Auth, body limit) and validates it before it closes. :class:`PortalDialog` shows the
values the 1NCE Portal asks for in its Configuration tab, each with a Copy button, and the
vendor's documented requirements for a real Data Streamer endpoint, and checks the URL the way
the streamer will use it (``streamer-inspector check``). :class:`ExposeDialog` chooses how the
endpoint gets a public ``https://`` URL (cloudflared, ngrok, SSH, or the user's own).

Every value that comes from the user or the endpoint is shown as plain text, never as HTML.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import secrets
import shutil
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from PySide6.QtCore import QCoreApplication, Qt, Signal, Slot
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.config import MAX_RECORDS_PER_POST, Settings
from app.net import is_loopback
from app.ui.theme import set_tone_style
from app.ui.values import plain as plain_line

MIB = 1024 * 1024
MAX_BODY_MIB = 1024
BIND_ADDRESSES = ("127.0.0.1", "::1", "0.0.0.0")
TLS_MODES = (
    ("local", "Local CA (trusted once)"),
    ("custom", "My own certificate"),
    ("off", "Off (plain HTTP behind a TLS tunnel)"),
)
# Colours readable on the theme's palette, light or dark (app.ui.theme.set_tone_style).
_ERROR_STYLE = "color: $error;"
_WARNING_STYLE = "color: $warning;"
_PEM_FILTER = "PEM files (*.pem *.crt *.cer *.key);;All files (*)"


def normalise_path(text: str) -> str:
    """The path hint as the Portal URL needs it: starts and ends with ``/`` (``""`` is ``/``)."""
    path = text.strip()
    if not path.startswith("/"):
        path = "/" + path
    if not path.endswith("/"):
        path += "/"
    return path


def callback_url(url: str, path_hint: str) -> str:
    """``url`` (which ends with ``/``) with the path hint appended, without a double slash."""
    return url.rstrip("/") + normalise_path(path_hint)


def _local_url_note(url: str) -> str:
    """A hint when ``url`` cannot be the Portal's API Callback as it is (IP, localhost, http)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        is_ip = True
    except ValueError:
        is_ip = False
    if parts.scheme == "https" and not is_ip and host.lower() != "localhost":
        return ""
    return ("This URL reaches the endpoint on this computer only (the Portal needs HTTPS and a "
            "domain name). For the real Data Streamer, enter the public https://<domain>/ URL "
            "of your tunnel or reverse proxy, with the same path.")


def _plain_label(text: str, parent: QWidget, *, wrap: bool = True) -> QLabel:
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    label.setText(text)
    return label


def _readable_file_problem(what: str, path_text: str) -> str | None:
    if not path_text.strip():
        return f"Choose the {what} for \"My own certificate\"."
    path = Path(path_text.strip()).expanduser()
    if not path.is_file():
        return f"The {what} does not exist: {path}"
    if not os.access(path, os.R_OK):
        return f"The {what} is not readable: {path}"
    return None


def _cert_pair_problem(cert: Path, key: Path) -> str | None:
    """Whether the receiver could load this certificate and key (PEM, unencrypted, a pair)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # An encrypted key gets an empty password and fails instead of prompting on a terminal.
        ctx.load_cert_chain(str(cert), str(key), password=lambda: b"")
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        return (f"The certificate {cert} and key {key} cannot be used together "
                f"(PEM, unencrypted key, matching pair): {reason}")
    return None


class EndpointDialog(QDialog):
    """The "Endpoint settings" dialog: edits a copy of the settings; :meth:`settings` returns it.

    OK validates first (own certificate files, Basic Auth user and password) and keeps the
    dialog open with the problem shown inline when something is wrong.
    """

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self._original = dataclasses.replace(
            settings, recent_captures=list(settings.recent_captures)
        )
        self._result = dataclasses.replace(
            settings, recent_captures=list(settings.recent_captures)
        )
        self.setWindowTitle("Endpoint settings")
        self._build()
        self._load(self._original)

    # -- construction ------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        form_widget = QWidget(self)
        form = QFormLayout(form_widget)
        form.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(form_widget)

        self._port = QSpinBox(self)
        self._port.setObjectName("port")
        self._port.setRange(0, 65535)
        self._port.setSpecialValueText("any free port")
        self._port.setToolTip(
            "The TCP port the endpoint listens on. In the 1NCE Portal a custom port goes into "
            "the API Callback URL (https://<domain>:<port>/<path>/); 0 picks any free port."
        )
        form.addRow("Port:", self._port)

        host_box = QWidget(self)
        host_layout = QVBoxLayout(host_box)
        host_layout.setContentsMargins(0, 0, 0, 0)
        self._host = QComboBox(host_box)
        self._host.setObjectName("host")
        self._host.setEditable(True)
        self._host.addItems(BIND_ADDRESSES)
        self._host.setToolTip(
            "The local address to listen on. 127.0.0.1 or ::1 keep the endpoint on this "
            "computer (a tunnel or reverse proxy forwards the 1NCE Data Streamer to it); "
            "0.0.0.0 listens on every network interface."
        )
        self._host_warning = _plain_label("", host_box)
        self._host_warning.setObjectName("host_warning")
        set_tone_style(self._host_warning, _WARNING_STYLE)
        self._host_warning.setVisible(False)
        host_layout.addWidget(self._host)
        host_layout.addWidget(self._host_warning)
        form.addRow("Bind address:", host_box)

        self._path = QLineEdit(self)
        self._path.setObjectName("path_hint")
        self._path.setPlaceholderText("/1nce/events/")
        self._path.setToolTip(
            "The path you enter at the end of the API Callback URL in the 1NCE Portal, e.g. "
            "/1nce/events/. The endpoint accepts POSTs on any path; this one is shown in the "
            "Portal setup so both agree."
        )
        form.addRow("Path in the Portal:", self._path)

        self._tls_mode = QComboBox(self)
        self._tls_mode.setObjectName("tls_mode")
        for mode, text in TLS_MODES:
            self._tls_mode.addItem(text, mode)
        self._tls_mode.setToolTip(
            "Local CA: a certificate from a CA made on this computer, for curl and local tests "
            "(the real 1NCE Portal needs a publicly trusted certificate).\n"
            "My own certificate: a certificate and key you have, e.g. from Let's Encrypt.\n"
            "Off: plain HTTP, for use behind a TLS tunnel or reverse proxy that does HTTPS."
        )
        form.addRow("TLS:", self._tls_mode)

        self._cert_file, self._browse_cert, cert_row = self._file_row(
            "cert_file",
            "Certificate file (PEM, full chain) for \"My own certificate\": the 1NCE Data "
            "Streamer needs a valid, publicly trusted certificate for the Callback URL's domain."
        )
        form.addRow("Certificate file:", cert_row)
        self._key_file, self._browse_key, key_row = self._file_row(
            "key_file",
            "The certificate's private key file (PEM, not password protected)."
        )
        form.addRow("Key file:", key_row)

        self._auth = QCheckBox("Require HTTP Basic Auth", self)
        self._auth.setObjectName("auth_enabled")
        self._auth.setToolTip(
            "The 1NCE Portal sends the Basic Auth Header configured for the stream with every "
            "POST. With this on, requests without the matching header get 401."
        )
        form.addRow("Basic Auth:", self._auth)

        self._user = QLineEdit(self)
        self._user.setObjectName("user")
        self._user.setToolTip(
            "The Basic Auth user name. Together with the password it makes the Basic Auth "
            "Header value you paste into the 1NCE Portal. It cannot contain ':'."
        )
        form.addRow("User:", self._user)

        password_row = QWidget(self)
        password_layout = QHBoxLayout(password_row)
        password_layout.setContentsMargins(0, 0, 0, 0)
        self._password = QLineEdit(password_row)
        self._password.setObjectName("password")
        self._password.setEchoMode(QLineEdit.EchoMode.Password)
        self._password.setToolTip(
            "The Basic Auth password. The 1NCE Portal does not ask for it separately: it is "
            "part of the Basic Auth Header value (see 1NCE Portal setup)."
        )
        self._show_password = QPushButton("Show", password_row)
        self._show_password.setObjectName("show_password")
        self._show_password.setCheckable(True)
        self._show_password.setToolTip("Show or hide the password.")
        self._generate = QPushButton("Generate", password_row)
        self._generate.setObjectName("generate")
        self._generate.setToolTip(
            "Make a new random password. Update the Basic Auth Header in the 1NCE Portal "
            "afterwards, or the Data Streamer's requests get 401."
        )
        password_layout.addWidget(self._password, 1)
        password_layout.addWidget(self._show_password)
        password_layout.addWidget(self._generate)
        form.addRow("Password:", password_row)

        self._max_body = QSpinBox(self)
        self._max_body.setObjectName("max_body")
        self._max_body.setRange(1, MAX_BODY_MIB)
        self._max_body.setSuffix(" MiB")
        self._max_body.setToolTip(
            f"The largest request body the endpoint accepts; bigger ones get 413. The Data "
            f"Streamer sends up to {MAX_RECORDS_PER_POST} records per POST, which can be large "
            f"for many SIMs."
        )
        form.addRow("Body limit:", self._max_body)

        self._error = _plain_label("", self)
        self._error.setObjectName("error")
        set_tone_style(self._error, _ERROR_STYLE)
        self._error.setVisible(False)
        outer.addWidget(self._error)

        self._buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        outer.addWidget(self._buttons)

        self._host.currentTextChanged.connect(self._on_host_current_text_changed)
        self._path.editingFinished.connect(self._on_path_editing_finished)
        self._tls_mode.currentIndexChanged.connect(self._on_tls_mode_current_index_changed)
        self._browse_cert.clicked.connect(self._on_browse_cert_clicked)
        self._browse_key.clicked.connect(self._on_browse_key_clicked)
        self._auth.toggled.connect(self._on_auth_toggled)
        self._show_password.toggled.connect(self._on_show_password_toggled)
        self._generate.clicked.connect(self._on_generate_clicked)
        self._buttons.accepted.connect(self._on_buttons_accepted)
        self._buttons.rejected.connect(self.reject)

    def _file_row(self, name: str, tooltip: str) -> tuple[QLineEdit, QPushButton, QWidget]:
        row = QWidget(self)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit(row)
        edit.setObjectName(name)
        edit.setToolTip(tooltip)
        browse = QPushButton("Browse...", row)
        browse.setObjectName(f"browse_{name}")
        browse.setToolTip(tooltip)
        layout.addWidget(edit, 1)
        layout.addWidget(browse)
        return edit, browse, row

    def _load(self, s: Settings) -> None:
        self._port.setValue(s.port)
        self._host.setCurrentText(s.host)
        self._path.setText(normalise_path(s.path_hint))
        index = self._tls_mode.findData(s.tls_mode)
        self._tls_mode.setCurrentIndex(index if index >= 0 else 0)
        self._cert_file.setText(s.cert_file)
        self._key_file.setText(s.key_file)
        self._auth.setChecked(s.auth_enabled)
        self._user.setText(s.user)
        self._password.setText(s.password)
        self._initial_mib = min(MAX_BODY_MIB, max(1, round(s.max_body / MIB)))
        self._max_body.setValue(self._initial_mib)
        self._update_host_warning()
        self._update_enabled()

    # -- state ---------------------------------------------------------------------------

    def settings(self) -> Settings:
        """The edited copy after OK; before that (or after Cancel) an unchanged copy."""
        return dataclasses.replace(self._result, recent_captures=list(self._result.recent_captures))

    def error_text(self) -> str:
        """The problem shown inline, ``""`` when there is none."""
        return self._error.text() if self._error.isVisible() else ""

    def _tls_mode_value(self) -> str:
        return self._tls_mode.currentData() or "local"

    def _update_enabled(self) -> None:
        custom = self._tls_mode_value() == "custom"
        for widget in (self._cert_file, self._browse_cert, self._key_file, self._browse_key):
            widget.setEnabled(custom)
        auth = self._auth.isChecked()
        for widget in (self._user, self._password, self._show_password, self._generate):
            widget.setEnabled(auth)

    def _update_host_warning(self) -> None:
        host = self._host.currentText().strip()
        if not host or is_loopback(host):
            self._host_warning.setVisible(False)
            self._host_warning.setText("")
            return
        text = (f"{host} is not a loopback address: other machines that can reach this "
                f"computer can reach the endpoint too.")
        if not self._auth.isChecked():
            text += " Basic Auth is off, so anyone on the network can post to it."
        self._host_warning.setText(text)
        self._host_warning.setVisible(True)

    def _collect(self) -> tuple[Settings | None, str]:
        """The edited settings, or None and the first problem."""
        host = self._host.currentText().strip()
        if not host:
            return None, "Enter a bind address, e.g. 127.0.0.1."
        path = normalise_path(self._path.text())
        if any(c.isspace() for c in path) or "?" in path or "#" in path:
            return None, f"The path cannot contain spaces, '?' or '#': {path}"
        tls_mode = self._tls_mode_value()
        cert_text = self._cert_file.text().strip()
        key_text = self._key_file.text().strip()
        if tls_mode == "custom":
            problem = (_readable_file_problem("certificate file", cert_text)
                       or _readable_file_problem("key file", key_text))
            if problem is None:
                cert_text = str(Path(cert_text).expanduser())
                key_text = str(Path(key_text).expanduser())
                problem = _cert_pair_problem(Path(cert_text), Path(key_text))
            if problem:
                return None, problem
        auth = self._auth.isChecked()
        user = self._user.text()
        password = self._password.text()
        if auth:
            if not user:
                return None, "Enter a user for Basic Auth (or turn Basic Auth off)."
            if ":" in user:
                return None, f"The Basic Auth user cannot contain ':': {user}"
            if not password:
                return None, "Enter a password for Basic Auth, or press Generate."
        mib = self._max_body.value()
        max_body = self._original.max_body if mib == self._initial_mib else mib * MIB
        result = dataclasses.replace(
            self._original,
            port=self._port.value(),
            host=host,
            path_hint=path,
            tls_mode=tls_mode,
            cert_file=cert_text,
            key_file=key_text,
            auth_enabled=auth,
            user=user,
            password=password,
            max_body=max_body,
            recent_captures=list(self._original.recent_captures),
        )
        return result, ""

    def _show_error(self, text: str) -> None:
        self._error.setText(text)
        self._error.setVisible(bool(text))

    # -- slots ---------------------------------------------------------------------------

    @Slot(str)
    def _on_host_current_text_changed(self, _text: str) -> None:
        self._update_host_warning()

    @Slot()
    def _on_path_editing_finished(self) -> None:
        self._path.setText(normalise_path(self._path.text()))

    @Slot(int)
    def _on_tls_mode_current_index_changed(self, _index: int) -> None:
        self._update_enabled()

    @Slot()
    def _on_browse_cert_clicked(self) -> None:
        self._browse_into(self._cert_file, "Choose the certificate file")

    @Slot()
    def _on_browse_key_clicked(self) -> None:
        self._browse_into(self._key_file, "Choose the private key file")

    def _browse_into(self, edit: QLineEdit, caption: str) -> None:
        start = str(Path(edit.text()).expanduser().parent) if edit.text().strip() else ""
        path, _filter = QFileDialog.getOpenFileName(self, caption, start, _PEM_FILTER)
        if path:
            edit.setText(path)

    @Slot(bool)
    def _on_auth_toggled(self, _checked: bool) -> None:
        self._update_enabled()
        self._update_host_warning()

    @Slot(bool)
    def _on_show_password_toggled(self, checked: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if checked else QLineEdit.EchoMode.Password
        self._password.setEchoMode(mode)
        self._show_password.setText("Hide" if checked else "Show")

    @Slot()
    def _on_generate_clicked(self) -> None:
        self._password.setText(secrets.token_urlsafe(18))

    @Slot()
    def _on_buttons_accepted(self) -> None:
        result, problem = self._collect()
        if result is None:
            self._show_error(problem)
            return
        self._show_error("")
        self._path.setText(result.path_hint)
        self._result = result
        self.accept()


def check_step_line(event: dict) -> str:
    """One ``check --json`` step as a plain line (and its fix on a second line)."""
    ok = event.get("ok")
    mark = "PASS" if ok is True else "FAIL" if ok is False else "SKIP"
    line = f"{mark}  {event.get('step', '?')}: {event.get('message', '')}"
    if ok is False and event.get("fix"):
        line += f"\n      fix: {event['fix']}"
    return line


class PortalDialog(QDialog):
    """The "1NCE Portal setup" dialog: the values for the Portal's Configuration tab, to copy.

    ``copied`` carries a short message (for a status bar) after every copy to the clipboard.
    With ``masked`` (View ▸ Mask identifiers, e.g. while sharing the screen) the Basic Auth
    header shows as dots until *Show* is pressed, and the password in the curl command as
    dots; *Copy* still copies the real values.

    With ``public_url`` (the endpoint is exposed) the API Callback is the public URL plus the
    path. ``check_args`` (``check`` and its options, without the URL) enables the *Check*
    button: it runs ``streamer-inspector check <API Callback> --json`` as a child process
    (the password in its environment) and shows each step as it finishes.
    """

    copied = Signal(str)

    def __init__(self, url: str, auth_header: str | None, curl_command: str,
                 path_hint: str = "/", parent: QWidget | None = None, *, masked: bool = False,
                 password: str | None = None, public_url: str | None = None,
                 check_args: list[str] | None = None):
        super().__init__(parent)
        self.setWindowTitle("1NCE Portal setup")
        self._local_callback = callback_url(url, path_hint)
        self._public = bool(public_url)
        self._callback = callback_url(public_url, path_hint) if public_url \
            else self._local_callback
        self._auth_header = auth_header
        self._curl_command = curl_command
        self._masked = masked
        self._password = password
        self._check_args = check_args
        self._check_run = None
        self._build()

    @property
    def callback_url(self) -> str:
        """The API Callback URL to enter in the Portal (the endpoint URL plus the path)."""
        return self._callback

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.addWidget(_plain_label(
            "In the 1NCE Portal, open Configuration, add a Data Streamer and enter:", self
        ))

        form_widget = QWidget(self)
        form = QFormLayout(form_widget)
        form.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(form_widget)

        self._api_type, self._copy_api_type, row = self._value_row("api_type", "RestAPI")
        form.addRow("API Type:", row)
        stream = _plain_label(
            "Event Data, then a second stream with Usage Data: both can point to this "
            "endpoint with the same URL and header.", self
        )
        form.addRow("Stream Type:", stream)
        form.addRow("Name:", _plain_label("Any label, e.g. \"Streamer Inspector events\".", self))

        self._url, self._copy_url, row = self._value_row("callback_url", self._callback)
        self._url.setToolTip("The API Callback URL: where the Data Streamer POSTs the records.")
        form.addRow("API Callback:", row)

        self._header, self._copy_header, row = self._value_row(
            "auth_header", self._auth_header or ""
        )
        self._header.setToolTip(
            "The complete Basic Auth Header value, including \"Basic \"; the Data Streamer "
            "sends it as the Authorization header of every POST."
        )
        self._reveal_header = QPushButton("Show", row)
        self._reveal_header.setObjectName("reveal_auth_header")
        self._reveal_header.setCheckable(True)
        self._reveal_header.setToolTip("Show or hide the header (identifiers are masked).")
        self._reveal_header.toggled.connect(self._on_reveal_header_toggled)
        row.layout().insertWidget(1, self._reveal_header)
        self._reveal_header.setVisible(masked_header := self._masked and bool(self._auth_header))
        if masked_header:
            self._header.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Basic Auth Header:", row)
        self._auth_note = _plain_label(
            "Basic Auth is off for this endpoint, so it accepts any header. The Portal still "
            "asks for a Basic Auth Header: turn Basic Auth on in Endpoint settings to get one.",
            self,
        )
        self._auth_note.setObjectName("auth_note")
        set_tone_style(self._auth_note, _WARNING_STYLE)
        if self._auth_header is None:
            self._header.setPlaceholderText("(Basic Auth is off)")
            self._header.setEnabled(False)
            self._copy_header.setEnabled(False)
            form.addRow("", self._auth_note)
        else:
            self._auth_note.setVisible(False)

        self._local_note = _plain_label(_local_url_note(self._callback), self)
        self._local_note.setObjectName("local_note")
        set_tone_style(self._local_note, _WARNING_STYLE)
        self._local_note.setVisible(bool(self._local_note.text()))
        outer.addWidget(self._local_note)
        self._public_note = _plain_label(
            f"The API Callback is the public URL; it forwards to this endpoint at "
            f"{self._local_callback}" if self._public else "", self)
        self._public_note.setObjectName("public_note")
        self._public_note.setVisible(self._public)
        outer.addWidget(self._public_note)

        check_row = QWidget(self)
        check_layout = QHBoxLayout(check_row)
        check_layout.setContentsMargins(0, 0, 0, 0)
        check_layout.addWidget(_plain_label(
            "Check the API Callback the way the Data Streamer will use it (URL, DNS, TLS, a "
            "POST with the Basic Auth header, arrival in the capture):", check_row), 1)
        self.check_button = QPushButton("Check", check_row)
        self.check_button.setObjectName("check")
        self.check_button.setToolTip("Runs streamer-inspector check on the API Callback URL.")
        self.check_button.clicked.connect(self._on_check_button_clicked)
        check_layout.addWidget(self.check_button, 0, Qt.AlignmentFlag.AlignTop)
        outer.addWidget(check_row)
        check_row.setVisible(self._check_args is not None)
        self.check_results = QPlainTextEdit(self)
        self.check_results.setObjectName("check_results")
        self.check_results.setReadOnly(True)
        self.check_results.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.check_results.setMaximumHeight(190)
        self.check_results.setVisible(False)
        outer.addWidget(self.check_results)

        outer.addWidget(_plain_label("What the real 1NCE Data Streamer requires:", self))
        self._requirements = _plain_label("\n".join(f"\u2022 {line}" for line in (
            "HTTPS with a valid, publicly trusted certificate. A self-signed or local CA "
            "certificate will not work: use a tunnel or reverse proxy with e.g. Let's Encrypt.",
            "A domain name in the URL, not an IP address.",
            "A custom port is allowed in the URL (https://<domain>:<port>/<path>/).",
            "Only HTTP 200 acknowledges a POST (acknowledged records are not sent again).",
            "Redirects (3xx) are not followed.",
            f"Up to {MAX_RECORDS_PER_POST} records per POST.",
        )), self)
        self._requirements.setObjectName("requirements")
        outer.addWidget(self._requirements)

        outer.addWidget(_plain_label("Test this endpoint with curl (the documented Event):", self))
        curl_row = QWidget(self)
        curl_layout = QHBoxLayout(curl_row)
        curl_layout.setContentsMargins(0, 0, 0, 0)
        self._curl = QPlainTextEdit(curl_row)
        self._curl.setObjectName("curl_command")
        self._curl.setReadOnly(True)
        shown = self._curl_command
        if self._masked and self._password:
            shown = shown.replace(self._password, "\u2022" * 8)
        self._curl.setPlainText(shown)
        self._curl.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._curl.setMaximumHeight(90)
        self._copy_curl = QPushButton("Copy", curl_row)
        self._copy_curl.setObjectName("copy_curl_command")
        self._copy_curl.setToolTip("Copy the curl command.")
        curl_layout.addWidget(self._curl, 1)
        curl_layout.addWidget(self._copy_curl, 0, Qt.AlignmentFlag.AlignTop)
        outer.addWidget(curl_row)

        self._buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        outer.addWidget(self._buttons)

        self._copy_api_type.clicked.connect(self._on_copy_api_type_clicked)
        self._copy_url.clicked.connect(self._on_copy_url_clicked)
        self._copy_header.clicked.connect(self._on_copy_header_clicked)
        self._copy_curl.clicked.connect(self._on_copy_curl_clicked)
        self._buttons.rejected.connect(self.reject)

    def _value_row(self, name: str, value: str) -> tuple[QLineEdit, QPushButton, QWidget]:
        row = QWidget(self)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit(row)
        edit.setObjectName(name)
        edit.setReadOnly(True)
        edit.setText(value)
        edit.setCursorPosition(0)
        copy = QPushButton("Copy", row)
        copy.setObjectName(f"copy_{name}")
        copy.setToolTip("Copy this value to the clipboard.")
        layout.addWidget(edit, 1)
        layout.addWidget(copy)
        return edit, copy, row

    def _copy(self, text: str, what: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.copied.emit(f"Copied {what} to the clipboard")

    @Slot(bool)
    def _on_reveal_header_toggled(self, shown: bool) -> None:
        self._header.setEchoMode(QLineEdit.EchoMode.Normal if shown
                                 else QLineEdit.EchoMode.Password)
        self._reveal_header.setText("Hide" if shown else "Show")

    @Slot()
    def _on_copy_api_type_clicked(self) -> None:
        self._copy(self._api_type.text(), "the API Type")

    @Slot()
    def _on_copy_url_clicked(self) -> None:
        self._copy(self._callback, "the API Callback URL")

    @Slot()
    def _on_copy_header_clicked(self) -> None:
        if self._auth_header is not None:
            self._copy(self._auth_header, "the Basic Auth Header")

    @Slot()
    def _on_copy_curl_clicked(self) -> None:
        self._copy(self._curl_command, "the curl command")

    @property
    def check_running(self) -> bool:
        return self._check_run is not None and self._check_run.running

    @Slot()
    def _on_check_button_clicked(self) -> None:
        from app.ui.replay import ChildRun

        if self._check_args is None or self.check_running:
            return
        self.check_results.clear()
        self.check_results.setVisible(True)
        self.check_results.appendPlainText(f"Checking {self._callback} …")
        self.check_button.setEnabled(False)
        if self._check_run is None:
            self._check_run = ChildRun(self, "check")
            self._check_run.event.connect(self._on_check_run_event)
            self._check_run.finished.connect(self._on_check_run_finished)
        self._saw_done = False
        self._check_run.start([self._check_args[0], self._callback, *self._check_args[1:]],
                              password=self._password)

    def _on_check_run_event(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "step":
            self.check_results.appendPlainText(plain_line(check_step_line(event)))
        elif kind == "done":
            self._saw_done = True
            self.check_results.appendPlainText(
                "All steps passed: the Portal can use this URL." if event.get("ok") else
                "The check failed: see the steps above.")

    def _on_check_run_finished(self, code: int, stderr: str) -> None:
        self.check_button.setEnabled(True)
        if not self._saw_done:
            from app.ui.replay import last_error_line

            why = last_error_line(stderr) or f"exit code {code}"
            self.check_results.appendPlainText(plain_line(f"The check did not finish: {why}"))

    def done(self, result: int) -> None:
        if self.check_running:  # closing the dialog cancels a check in progress; the run
            run = self._check_run  # outlives the dialog (deleted once closed) until it ends
            run.event.disconnect(self._on_check_run_event)
            run.finished.disconnect(self._on_check_run_finished)
            run.setParent(self.parent() or QCoreApplication.instance())
            run.finished.connect(run.deleteLater)
            run.cancel()
            self._check_run = None
        super().done(result)


# The providers of a public URL, as ``serve --public`` names them (an own URL is the URL itself).
PROVIDERS = (
    ("cloudflared", "cloudflared quick tunnel (no account; the cloudflared program on the PATH)"),
    ("ngrok", "ngrok (your authtoken; an optional reserved domain)"),
    ("ssh", "SSH reverse tunnel to a server of yours (ssh -R)"),
    ("url", "My own URL (a reverse proxy or domain that forwards to this endpoint)"),
)
_SSH_TARGET = re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+(:\d{1,5})?")
NGROK_ENV = "NGROK_AUTHTOKEN"


def provider_kind(provider: str) -> str:
    """The kind of a ``--public`` value: cloudflared, ngrok, ssh or url."""
    if provider.startswith("ssh:"):
        return "ssh"
    if provider.startswith("https://") or provider.startswith("http://"):
        return "url"
    return provider if provider in ("cloudflared", "ngrok") else "cloudflared"


class ExposeDialog(QDialog):
    """The "Expose publicly" dialog: how the endpoint gets a public ``https://`` URL.

    Edits a copy of the settings (``public_provider``, ``ngrok_authtoken``, ``ngrok_domain``,
    ``public_url``); :meth:`provider` is the value for ``serve --public`` / the ``expose``
    command. OK validates first and keeps the dialog open with the problem shown inline.
    """

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self._result = dataclasses.replace(
            settings, recent_captures=list(settings.recent_captures))
        self._provider = ""
        self.setWindowTitle("Expose publicly")
        self._build()
        self._load(settings)

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.addWidget(_plain_label(
            "The real Data Streamer posts only to a public https:// URL with a domain name and "
            "a publicly trusted certificate. Choose how this endpoint gets one:", self))
        self._radios: dict[str, QRadioButton] = {}
        form_widget = QWidget(self)
        form = QFormLayout(form_widget)
        form.setContentsMargins(18, 0, 0, 0)
        for kind, text in PROVIDERS:
            radio = QRadioButton(text, self)
            radio.setObjectName(f"provider_{kind}")
            radio.toggled.connect(self._on_radio_toggled)
            self._radios[kind] = radio
            outer.addWidget(radio)
            if kind == "cloudflared":
                self._cloudflared_note = _plain_label("", self)
                self._cloudflared_note.setObjectName("cloudflared_note")
                set_tone_style(self._cloudflared_note, _WARNING_STYLE)
                self._cloudflared_note.setContentsMargins(18, 0, 0, 0)
                outer.addWidget(self._cloudflared_note)
            elif kind == "ngrok":
                box = QWidget(self)
                grid = QFormLayout(box)
                grid.setContentsMargins(18, 0, 0, 0)
                self._token = QLineEdit(box)
                self._token.setObjectName("ngrok_authtoken")
                self._token.setEchoMode(QLineEdit.EchoMode.Password)
                self._token.setPlaceholderText(f"from dashboard.ngrok.com, or {NGROK_ENV}")
                grid.addRow("Authtoken:", self._token)
                self._domain = QLineEdit(box)
                self._domain.setObjectName("ngrok_domain")
                self._domain.setPlaceholderText("optional: your reserved domain")
                grid.addRow("Domain:", self._domain)
                outer.addWidget(box)
            elif kind == "ssh":
                box = QWidget(self)
                grid = QFormLayout(box)
                grid.setContentsMargins(18, 0, 0, 0)
                self._ssh = QLineEdit(box)
                self._ssh.setObjectName("ssh_target")
                self._ssh.setPlaceholderText("USER@HOST or USER@HOST:PORT")
                self._ssh.setToolTip("The server's sshd must allow remote forwarding; its "
                                     "reverse proxy serves the public https:// URL.")
                grid.addRow("Server:", self._ssh)
                self._ssh_url = QLineEdit(box)
                self._ssh_url.setObjectName("ssh_public_url")
                self._ssh_url.setPlaceholderText("https://… (when the server prints none)")
                self._ssh_url.setToolTip("The public https:// URL your server's reverse proxy "
                                         "serves for the forwarded port (remote port 80).")
                grid.addRow("Public URL:", self._ssh_url)
                outer.addWidget(box)
            else:
                box = QWidget(self)
                grid = QFormLayout(box)
                grid.setContentsMargins(18, 0, 0, 0)
                self._own_url = QLineEdit(box)
                self._own_url.setObjectName("own_url")
                self._own_url.setPlaceholderText("https://inspector.example.com/")
                grid.addRow("URL:", self._own_url)
                outer.addWidget(box)
        outer.addWidget(_plain_label(
            "Exposing means: anyone who knows the URL can reach this endpoint. It keeps "
            "asking for Basic Auth (exposing is refused without it), and the tunnel stops "
            "with the endpoint or with Stop exposing.", self))
        self._error = _plain_label("", self)
        self._error.setObjectName("error")
        set_tone_style(self._error, _ERROR_STYLE)
        self._error.setVisible(False)
        outer.addWidget(self._error)
        self._buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self._buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Expose")
        self._buttons.accepted.connect(self._on_buttons_accepted)
        self._buttons.rejected.connect(self.reject)
        outer.addWidget(self._buttons)

    def _load(self, s: Settings) -> None:
        kind = provider_kind(s.public_provider)
        self._token.setText(s.ngrok_authtoken)
        self._domain.setText(s.ngrok_domain)
        self._ssh.setText(s.public_provider[4:] if kind == "ssh" else "")
        self._ssh_url.setText(s.public_url if kind == "ssh" else "")
        self._own_url.setText(s.public_url if kind != "ssh" else "")
        self._radios[kind].setChecked(True)
        self._update_enabled()

    def select(self, kind: str) -> None:
        """Choose a provider (cloudflared, ngrok, ssh or url)."""
        self._radios[kind].setChecked(True)

    def kind(self) -> str:
        return next(k for k, radio in self._radios.items() if radio.isChecked())

    def provider(self) -> str:
        """The ``--public`` value chosen (after OK)."""
        return self._provider

    def settings(self) -> Settings:
        """The settings with the choice remembered (after OK; before that unchanged)."""
        return dataclasses.replace(self._result, recent_captures=list(self._result.recent_captures))

    def error_text(self) -> str:
        """The problem shown inline, ``""`` when there is none."""
        return self._error.text() if not self._error.isHidden() else ""

    def _update_enabled(self) -> None:
        kind = self.kind()
        for widget, mine in ((self._token, "ngrok"), (self._domain, "ngrok"),
                             (self._ssh, "ssh"), (self._ssh_url, "ssh"), (self._own_url, "url")):
            widget.setEnabled(kind == mine)
        missing = kind == "cloudflared" and shutil.which("cloudflared") is None
        self._cloudflared_note.setText(
            "cloudflared is not on the PATH: install it from Cloudflare "
            "(developers.cloudflare.com, \"cloudflared\" downloads) first." if missing else "")
        self._cloudflared_note.setVisible(missing)

    def _collect(self) -> tuple[str, str]:
        """The provider, or "" and the problem."""
        if not self._result.auth_enabled:
            return "", ("Turn Basic Auth on in Endpoint settings first: a public endpoint "
                        "never runs without it.")
        kind = self.kind()
        if kind == "ngrok":
            if not self._token.text().strip() and not os.environ.get(NGROK_ENV):
                return "", (f"Enter your ngrok authtoken (dashboard.ngrok.com, Your Authtoken) "
                            f"or set {NGROK_ENV}.")
            return "ngrok", ""
        if kind == "ssh":
            target = self._ssh.text().strip()
            if not _SSH_TARGET.fullmatch(target):
                return "", f"Enter the server as USER@HOST or USER@HOST:PORT: {target}"
            url = self._ssh_url.text().strip()
            if url and (urlsplit(url).scheme != "https" or not urlsplit(url).hostname):
                return "", f"The server's public URL starts with https://: {url}"
            return f"ssh:{target}", ""
        if kind == "url":
            url = self._own_url.text().strip()
            parts = urlsplit(url)
            if parts.scheme != "https" or not parts.hostname:
                return "", f"Enter the public URL, starting with https://: {url}"
            return url, ""
        return "cloudflared", ""

    @Slot(bool)
    def _on_radio_toggled(self, _checked: bool) -> None:
        if hasattr(self, "_own_url"):  # (built)
            self._update_enabled()

    @Slot()
    def _on_buttons_accepted(self) -> None:
        provider, problem = self._collect()
        if not provider:
            self._error.setText(problem)
            self._error.setVisible(True)
            return
        self._provider = provider
        kind = self.kind()
        url = {"ssh": self._ssh_url, "url": self._own_url}.get(kind)
        self._result = dataclasses.replace(
            self._result, recent_captures=list(self._result.recent_captures),
            public_provider=provider, ngrok_authtoken=self._token.text().strip(),
            ngrok_domain=self._domain.text().strip(),
            public_url=url.text().strip() if url is not None else self._result.public_url)
        self.accept()
