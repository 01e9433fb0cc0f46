"""Replay from the window: send like the Data Streamer, and run pasted cURL commands.

Sending runs in a child process (``streamer-inspector send … --events jsonl`` or
``streamer-inspector curl … --events jsonl``), like the receiver: the window only reads its
progress lines, so a long run never freezes it, and records sent to the window's own endpoint
arrive live in the tables.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.cli.cancel import CANCEL_ENV, CANCEL_LINE
from app.cli.options import PASSWORD_ENV
from app.display import counted
from app.replay.curl import CurlParseError, is_local, map_placeholders, parse_curl
from app.replay.samples import library
from app.ui.theme import set_tone_style
from app.ui.widgets import count_suffix


def app_command(*args: str) -> list[str]:
    frozen = getattr(sys, "frozen", False)
    base = [sys.executable] if frozen else [sys.executable, "-m", "app"]
    return [*base, *args]


def last_error_line(stderr: str) -> str:
    """The line of a child's stderr that says what went wrong (the last one that says
    anything), without the program's name and without a traceback's frames."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(("warning:", "File \"", "Traceback", "^", "~")):
            continue
        line = _PROGRAM.sub("", line, count=1)
        # The last line of a traceback: its message, without the exception's class name.
        line = _EXCEPTION_LINE.sub("", line, count=1)
        return _ERRNO.sub("", line, count=1)
    return ""


_PROGRAM = re.compile(r"^(?:streamer-inspector(?: [a-z-]+)?: )?(?:error: )?")
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit): ")
_ERRNO = re.compile(r"^\[Errno \d+\] ")


class ChildRun(QObject):
    """A ``send``/``curl``/``export`` child process whose JSON lines become signals; a child
    that fails (a non-zero exit other than a cancel, or one that cannot start) says so with
    ``failed`` and its last error line."""

    event = Signal(dict)  # one parsed line
    finished = Signal(int, str)  # exit code, the end of stderr
    failed = Signal(str)  # what went wrong, readable (for the window's message bar)

    def __init__(self, parent: QObject, name: str = ""):
        super().__init__(parent)
        self._process: QProcess | None = None
        self._buffer = b""
        self._stderr = b""
        self._name = name
        self._last_error = ""
        self._cancel_pending = False  # cancelled while the process was still starting

    @property
    def running(self) -> bool:
        return self._process is not None

    def start(self, args: list[str], password: str | None = None) -> None:
        if self._process is not None:
            raise RuntimeError("already running")
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert(CANCEL_ENV, "1")  # see cancel()
        if password is not None:  # not on the command line, where ps would show it
            env.insert(PASSWORD_ENV, password)
        process.setProcessEnvironment(env)
        command = app_command(*args)
        process.setProgram(command[0])
        process.setArguments(command[1:])
        process.readyReadStandardOutput.connect(self._on_process_ready_read_standard_output)
        process.readyReadStandardError.connect(self._on_process_ready_read_standard_error)
        process.finished.connect(self._on_process_finished)
        process.errorOccurred.connect(self._on_process_error_occurred)
        process.started.connect(self._on_process_started)
        self._cancel_pending = False
        self._buffer = self._stderr = b""
        self._last_error = ""
        self._name = self._name or args[0]
        self._process = process
        process.start()

    def cancel(self) -> None:
        """Stop the run as Ctrl+C would: it stops cleanly and reports "cancelled". Through the
        child's stdin (``app.cli.cancel``), which works on every platform: on Windows a
        SIGINT sent with ``os.kill`` is an immediate ``TerminateProcess``."""
        if self._process is None:
            return
        if self._process.state() == QProcess.ProcessState.Starting:
            self._cancel_pending = True  # written once it runs (_on_process_started)
        elif self._process.state() == QProcess.ProcessState.Running:
            self._process.write(CANCEL_LINE)
            self._process.closeWriteChannel()

    def _on_process_started(self) -> None:
        if self._cancel_pending:
            self._cancel_pending = False
            self.cancel()

    def _on_process_ready_read_standard_output(self) -> None:
        self._buffer += bytes(self._process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line.strip():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(event, dict):
                    continue
                error = event.get("message") if event.get("event") == "error" else \
                    event.get("error")
                if error:
                    self._last_error = str(error)
                self.event.emit(event)

    def _on_process_ready_read_standard_error(self) -> None:
        self._stderr = (self._stderr + bytes(self._process.readAllStandardError().data()))[-4096:]

    def _on_process_error_occurred(self, error: QProcess.ProcessError) -> None:
        if error != QProcess.ProcessError.FailedToStart or self._process is None:
            return
        process, self._process = self._process, None
        message = process.errorString()
        process.deleteLater()
        self.failed.emit(f"{self._name}: could not be started: {message}")
        self.finished.emit(-1, message)

    def _on_process_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.deleteLater()
        stderr = self._stderr.decode("utf-8", "replace").strip()
        if status == QProcess.ExitStatus.CrashExit or code not in (0, 130):
            line = last_error_line(stderr) or self._last_error
            how = ("crashed" if status == QProcess.ExitStatus.CrashExit
                   else f"failed (exit code {code})")
            self.failed.emit(f"{self._name} {how}" + (f": {line}" if line else ""))
        self.finished.emit(code, stderr)


def _monospace(widget: QWidget) -> None:
    widget.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))


class SendDialog(QDialog):
    """Send records the way the Data Streamer does, with progress and per-batch results."""

    failed = Signal(str)  # the send child failed: what it said (for the window's message bar)

    def __init__(self, endpoint: dict | None, user: str, password: str,
                 sources: dict[str, tuple[list[str], str]], parent: QWidget | None = None):
        """``sources``: title -> (the ``send`` arguments naming the records, a description);
        the window offers the selection, the filtered view and the capture this way."""
        super().__init__(parent)
        self.setWindowTitle("Send like the Data Streamer")
        self.resize(760, 620)
        self._endpoint = endpoint or {}
        self._run = ChildRun(self, "Sending")
        self._run.event.connect(self._on_run_event)
        self._run.finished.connect(self._on_run_finished)
        self._run.failed.connect(self.failed)
        self._sources = dict(sources)
        for sample in library():
            self._sources[f"Sample: {sample.title}"] = (["--sample", sample.name],
                                                        sample.description)
        self._total = 0

        form = QFormLayout()
        self._form = form
        self.source = QComboBox(self)
        self.source.setObjectName("source")
        self.source.addItems([*self._sources, "A file (JSON list or NDJSON)…",
                              "Generated records…"])
        self.source.currentIndexChanged.connect(self._on_source_current_index_changed)
        form.addRow("Records", self.source)
        self.source_note = QLabel(self)
        self.source_note.setTextFormat(Qt.TextFormat.PlainText)
        self.source_note.setWordWrap(True)
        form.addRow("", self.source_note)
        file_row = QHBoxLayout()
        self.file = QLineEdit(self)
        self.file.setObjectName("file")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._on_browse_clicked)
        file_row.addWidget(self.file, 1)
        file_row.addWidget(browse)
        file_row.setContentsMargins(0, 0, 0, 0)
        self.file_row = QWidget(self)
        self.file_row.setLayout(file_row)
        form.addRow("File", self.file_row)
        gen_row = QHBoxLayout()
        self.generate = QSpinBox(self)
        self.generate.setObjectName("generate")
        self.generate.setRange(1, 10_000_000)
        self.generate.setValue(3000)
        count_suffix(self.generate, "record")
        self.seed = QSpinBox(self)
        self.seed.setObjectName("seed")
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(1)
        self.seed.setPrefix("seed ")
        self.sims = QSpinBox(self)
        self.sims.setRange(1, 1_000_000)
        self.sims.setValue(100)
        count_suffix(self.sims, "SIM")
        for w in (self.generate, self.sims, self.seed):
            gen_row.addWidget(w)
        gen_row.setContentsMargins(0, 0, 0, 0)
        self.gen_row = QWidget(self)
        self.gen_row.setLayout(gen_row)
        form.addRow("Generate", self.gen_row)

        self.url = QLineEdit(self._endpoint.get("url", ""), self)
        self.url.setObjectName("url")
        self.url.setToolTip("Where to send: this app's endpoint, or your own backend")
        self.url.textChanged.connect(self._on_url_text_changed)
        form.addRow("Target URL", self.url)
        cred = QHBoxLayout()
        self.user = QLineEdit(user, self)
        self.user.setObjectName("user")
        self.password = QLineEdit(password, self)
        self.password.setObjectName("password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        cred.addWidget(self.user)
        cred.addWidget(self.password)
        form.addRow("Basic Auth", cred)
        tls = QHBoxLayout()
        self.cacert = QLineEdit(self._endpoint.get("ca_file") or "", self)
        self.cacert.setObjectName("cacert")
        self.cacert.setPlaceholderText("system trust store")
        self.insecure = QCheckBox("Do not verify TLS (insecure)", self)
        self.insecure.setObjectName("insecure")
        self.insecure.toggled.connect(self._on_insecure_toggled)
        tls.addWidget(self.cacert, 1)
        tls.addWidget(self.insecure)
        form.addRow("CA file", tls)
        self.warning = QLabel("⚠ TLS verification is off: anyone on the path can read and "
                              "change what is sent.", self)
        set_tone_style(self.warning, "color: $error; font-weight: bold;")
        self.warning.hide()
        form.addRow("", self.warning)
        pacing = QHBoxLayout()
        self.batch = QSpinBox(self)
        self.batch.setObjectName("batch")
        self.batch.setRange(1, 100_000)
        self.batch.setValue(3000)
        self.batch.setPrefix("batches of ")
        self.interval = QDoubleSpinBox(self)
        self.interval.setObjectName("interval")
        self.interval.setRange(0, 3600)
        self.interval.setSuffix(" s apart")
        self.repeat = QSpinBox(self)
        self.repeat.setObjectName("repeat")
        self.repeat.setRange(1, 100_000)
        self.repeat.setPrefix("repeat ")
        for w in (self.batch, self.interval, self.repeat):
            pacing.addWidget(w)
        form.addRow("Pacing", pacing)
        retry = QHBoxLayout()
        self.retries = QSpinBox(self)
        self.retries.setObjectName("retries")
        self.retries.setRange(0, 100)
        self.retries.setValue(5)
        count_suffix(self.retries, "retry", "retries")
        self.backoff = QDoubleSpinBox(self)
        self.backoff.setObjectName("backoff")
        self.backoff.setRange(0.01, 60)
        self.backoff.setValue(1.0)
        self.backoff.setPrefix("back-off from ")
        self.backoff.setSuffix(" s")
        self.redeliver = QCheckBox("send refused records again with new ones", self)
        self.redeliver.setObjectName("redeliver")
        self.redeliver.setToolTip(
            "Like the streamer's buffer: the records of an unacknowledged batch go back to the "
            "front of the queue and come again in the next batch, followed by new records "
            "(send --redeliver-unacked). Off: the same batch is posted again.")
        retry.addWidget(self.retries)
        retry.addWidget(self.backoff)
        retry.addWidget(self.redeliver)
        form.addRow("Unacknowledged", retry)

        self.progress = QProgressBar(self)
        self.progress.setObjectName("progress")
        self.results = QTableWidget(0, 6, self)
        self.results.setObjectName("results")
        self.results.setHorizontalHeaderLabels(["Batch", "Records", "Status", "Latency",
                                                "Attempts", "Error"])
        self.results.verticalHeader().hide()
        self.results.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.results.horizontalHeader().setStretchLastSection(True)
        self.results.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.state = QLabel(self)
        self.state.setObjectName("state")
        self.state.setTextFormat(Qt.TextFormat.PlainText)
        self.state.setWordWrap(True)

        buttons = QDialogButtonBox(self)
        self.start_button = buttons.addButton("Send", QDialogButtonBox.ButtonRole.ActionRole)
        self.start_button.setObjectName("send")
        self.cancel_button = buttons.addButton("Cancel sending",
                                               QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button.setObjectName("cancel")
        self.cancel_button.setEnabled(False)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.clicked.connect(self.reject)
        self.start_button.clicked.connect(self._on_start_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.state)
        layout.addWidget(buttons)
        self._on_source_current_index_changed(0)

    # -- building the run -------------------------------------------------------------------

    def arguments(self) -> list[str]:
        """The ``send`` command's arguments for what the dialog says (password excepted)."""
        args = ["send", self.url.text().strip(), "--events", "jsonl",
                "--batch", str(self.batch.value()), "--repeat", str(self.repeat.value()),
                "--interval", f"{self.interval.value():g}",
                "--retries", str(self.retries.value()), "--backoff", f"{self.backoff.value():g}"]
        title = self.source.currentText()
        if title in self._sources:
            args += self._sources[title][0]
        elif title.startswith("A file"):
            args += ["--file", self.file.text().strip()]
        else:
            args += ["--generate", str(self.generate.value()), "--seed", str(self.seed.value()),
                     "--sims", str(self.sims.value())]
        if self.user.text():
            args += ["--user", self.user.text()]
        if self.redeliver.isChecked():
            args.append("--redeliver-unacked")
        if self.insecure.isChecked():
            args.append("--insecure")
        elif self.cacert.text().strip():
            args += ["--cacert", self.cacert.text().strip()]
        return args

    def _on_source_current_index_changed(self, _index: int) -> None:
        title = self.source.currentText()
        self._form.setRowVisible(self.file_row, title.startswith("A file"))
        self._form.setRowVisible(self.gen_row, title.startswith("Generated"))
        note = self._sources.get(title, ("", ""))[1]
        self.source_note.setText(note)
        self._form.setRowVisible(self.source_note, bool(note))

    def _on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Records to send", "",
                                              "JSON (*.json *.ndjson *.jsonl);;All files (*)")
        if path:
            self.file.setText(path)

    def _on_url_text_changed(self, text: str) -> None:
        local = bool(self._endpoint) and is_local(text, self._endpoint.get("url", ""))
        if local and not self.insecure.isChecked():
            self.cacert.setText(self._endpoint.get("ca_file") or "")

    def _on_insecure_toggled(self, on: bool) -> None:
        self.warning.setVisible(on)
        self.cacert.setEnabled(not on)

    # -- running ----------------------------------------------------------------------------

    def _on_start_button_clicked(self) -> None:
        if not self.url.text().strip():
            self.state.setText("Give a target URL.")
            return
        self.results.setRowCount(0)
        self.progress.setRange(0, 0)
        self.state.setText("Sending…")
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        password = self.password.text() if self.user.text() else None
        self._run.start(self.arguments(), password)

    def _on_cancel_button_clicked(self) -> None:
        self._run.cancel()
        self.state.setText("Cancelling…")

    def _on_run_event(self, event: dict) -> None:
        if event.get("event") == "start":
            self._total = int(event.get("batches", 0))
            self.progress.setRange(0, max(self._total, 1))
            return
        if event.get("event") == "batch":
            row = self.results.rowCount()
            self.results.insertRow(row)
            latency = event.get("latency")
            records = str(event.get("records", ""))
            if event.get("redelivered"):
                records += f" ({event['redelivered']} again)"
            cells = [str(event.get("number", row + 1)), records,
                     str(event.get("status") or "—"),
                     f"{latency * 1000:.0f} ms" if isinstance(latency, (int, float)) else "",
                     str(event.get("attempts", "")), event.get("error") or ""]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if not event.get("acknowledged"):
                    item.setForeground(Qt.GlobalColor.red)
                self.results.setItem(row, column, item)
            self.results.scrollToBottom()
            if self._total:
                # Redelivering, refused batches come again: more batches than first counted.
                self._total = max(self._total, row + 1)
                self.progress.setRange(0, self._total)
                self.progress.setValue(row + 1)
            return
        if event.get("event") == "retry":
            self.state.setText(f"Batch {event.get('number')}: attempt {event.get('attempts')} "
                               f"failed ({event.get('error')}); retrying in "
                               f"{event.get('delay', 0):g} s")
            return
        if event.get("event") == "error":
            self.state.setText(f"Cannot send: {event.get('message')}")
            return
        if event.get("event") == "report":
            state = event.get("state", "?")
            again = event.get("records_redelivered") or 0
            self.state.setText(
                f"{state.upper()}: {event.get('records_acknowledged', 0):,} of "
                f"{counted(event.get('records', event.get('records_sent', 0)), 'record')} "
                f"acknowledged "
                f"in {event.get('elapsed', 0):.1f} s"
                + (f", {again:,} deliveries were redeliveries" if again else "")
                + (f"; {event['failure']}" if event.get("failure") else ""))

    def _on_run_finished(self, code: int, stderr: str) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, max(self._total, 1))
        if code not in (0, 1, 130) or (not self.state.text().startswith(("DONE", "FAILED",
                                                                        "CANCELLED"))):
            self.state.setText(f"The sender stopped: {last_error_line(stderr) or code}")

    def reject(self) -> None:
        if self._run.running:
            self._run.cancel()
        super().reject()


class CurlDialog(QDialog):
    """Paste a cURL command, see what it sends, edit it, send it."""

    failed = Signal(str)  # the curl child failed: what it said (for the window's message bar)

    def __init__(self, endpoint: dict | None, user: str, password: str,
                 parent: QWidget | None = None, text: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Paste a cURL command")
        self.resize(820, 680)
        self._endpoint = endpoint or {}
        self._user, self._password = user, password
        self._command_file: Path | None = None
        self._pasted_body = b""
        self._shown_body = ""
        self._run = ChildRun(self, "The cURL command")
        self._run.event.connect(self._on_run_event)
        self._run.finished.connect(self._on_run_finished)
        self._run.failed.connect(self.failed)

        self.command = QPlainTextEdit(self)
        self.command.setObjectName("command")
        self.command.setPlaceholderText("curl --location --request POST 'https://<server-domain>:"
                                        "<port>/<endpoint>/' --header 'Content-Type: "
                                        "application/json' --data-raw '[{…}]'")
        _monospace(self.command)
        self.command.setMaximumHeight(150)
        self.command.textChanged.connect(self._on_command_text_changed)
        self.problem = QLabel(self)
        self.problem.setObjectName("problem")
        self.problem.setTextFormat(Qt.TextFormat.PlainText)
        self.problem.setWordWrap(True)
        set_tone_style(self.problem, "color: $error;")
        form = QFormLayout()
        self.method = QLineEdit(self)
        self.method.setObjectName("method")
        self.url = QLineEdit(self)
        self.url.setObjectName("url")
        self.headers = QPlainTextEdit(self)
        self.headers.setObjectName("headers")
        self.headers.setMaximumHeight(80)
        _monospace(self.headers)
        self.body = QPlainTextEdit(self)
        self.body.setObjectName("body")
        _monospace(self.body)
        self.notes = QLabel(self)
        self.notes.setObjectName("notes")
        self.notes.setTextFormat(Qt.TextFormat.PlainText)
        self.notes.setWordWrap(True)
        form.addRow("Method", self.method)
        form.addRow("URL", self.url)
        form.addRow("Headers", self.headers)
        form.addRow("Body", self.body)
        form.addRow("", self.notes)
        self.response = QPlainTextEdit(self)
        self.response.setObjectName("response")
        self.response.setReadOnly(True)
        self.response.setMaximumHeight(120)
        _monospace(self.response)
        buttons = QDialogButtonBox(self)
        self.send_button = buttons.addButton("Send", QDialogButtonBox.ButtonRole.ActionRole)
        self.send_button.setObjectName("send")
        self.send_button.setEnabled(False)
        self.send_button.clicked.connect(self._on_send_button_clicked)
        buttons.addButton(QDialogButtonBox.StandardButton.Close).clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("cURL command (the documentation's examples work as "
                                "published; placeholders go to this app's endpoint)", self))
        layout.addWidget(self.command)
        layout.addWidget(self.problem)
        layout.addLayout(form, 1)
        layout.addWidget(QLabel("Response", self))
        layout.addWidget(self.response)
        layout.addWidget(buttons)
        if text:
            self.command.setPlainText(text)

    def _on_command_text_changed(self) -> None:
        text = self.command.toPlainText().strip()
        if not text:
            self.problem.clear()
            self.send_button.setEnabled(False)
            return
        try:
            request = parse_curl(text)
        except CurlParseError as exc:
            self.problem.setText(f"Cannot read this command: {exc}")
            self.send_button.setEnabled(False)
            return
        if self._endpoint.get("url"):
            request = map_placeholders(request, self._endpoint["url"])
        self.problem.clear()
        self.method.setText(request.method)
        self.url.setText(request.url)
        self.headers.setPlainText("\n".join(f"{k}: {v}" for k, v in request.headers))
        # The body is shown as pasted (never re-formatted) and sent as the pasted bytes while
        # the editor still shows them: the editor's text may differ (CR LF shown as LF, bytes
        # that are not UTF-8 shown as U+FFFD). An edited body is sent as typed.
        self._pasted_body = request.body or b""
        self.body.setPlainText(self._pasted_body.decode("utf-8", "replace"))
        self._shown_body = self.body.toPlainText()
        notes = list(request.notes)
        if self._is_local():
            notes.append("Sent to this app's endpoint with its credentials and local CA.")
        self.notes.setText("\n".join(notes))
        self.send_button.setEnabled(True)

    def _is_local(self) -> bool:
        return bool(self._endpoint) and is_local(self.url.text(), self._endpoint.get("url", ""))

    def body_bytes(self) -> bytes:
        """What Send sends: the pasted body byte for byte, or the editor's text once edited."""
        text = self.body.toPlainText()
        if text == self._shown_body:
            return self._pasted_body
        return text.encode("utf-8")

    def request_file(self) -> Path:
        """The edited request as a cURL command file for ``streamer-inspector curl``."""
        from app.replay.curl import build_curl

        headers = []
        for line in self.headers.toPlainText().splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip():
                headers.append((name.strip(), value.strip()))
        local = self._is_local()
        command = build_curl(
            self.url.text().strip(), self.body_bytes(),
            user=self._user if local else None, password=self._password if local else None,
            cacert=self._endpoint.get("ca_file") if local else None,
            headers=headers or None, method=self.method.text().strip() or "POST")
        fd, name = tempfile.mkstemp(prefix="streamer-inspector-curl-", suffix=".sh")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(command)
        return Path(name)

    def _on_send_button_clicked(self) -> None:
        self.response.setPlainText("Sending…")
        self.send_button.setEnabled(False)
        self._command_file = self.request_file()
        self._run.start(["curl", "--file", str(self._command_file), "--events", "jsonl"])

    def _on_run_event(self, event: dict) -> None:
        if "error" in event and event.get("status") is None:
            self.response.setPlainText(f"Failed: {event['error']}")
            return
        self.response.setPlainText(
            f"{event.get('status')} in {event.get('elapsed', 0) * 1000:.0f} ms\n"
            f"{event.get('body', '')}")

    def _on_run_finished(self, _code: int, stderr: str) -> None:
        if self._command_file is not None:
            self._command_file.unlink(missing_ok=True)
            self._command_file = None
        self.send_button.setEnabled(True)
        if self.response.toPlainText() == "Sending…":
            self.response.setPlainText(f"Failed: {stderr or 'no answer'}")

