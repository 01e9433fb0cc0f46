"""The receiver as the window's child process (``streamer-inspector serve --events jsonl``).

Like Wireshark with dumpcap: the child owns the socket and the capture file, so nothing the
window does (or fails to do) can delay an acknowledgement. This object starts and stops the
child with QProcess, reads its JSON event lines and turns them into signals.
"""

from __future__ import annotations

import json
import sys

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from app.config import ServeOptions

# How long a stopping receiver may take (it finishes the batches in hand: aiohttp's shutdown
# waits up to 30 s for them) before it is killed.
STOP_GRACE_MS = 35_000


def serve_command(options: ServeOptions) -> list[str]:
    """The child's command line. The password is not on it: ``serve`` reads it from the
    settings file the window saved, so it never shows in a process list."""
    frozen = getattr(sys, "frozen", False)
    base = [sys.executable] if frozen else [sys.executable, "-m", "app"]
    args = ["serve", "--events", "jsonl", "--stop-with-stdin", "--capture", str(options.capture),
            "--host", options.host, "--port", str(options.port),
            "--max-body", str(options.max_body)]
    if options.tls == "custom":
        args += ["--cert", str(options.cert_file), "--key", str(options.key_file)]
    else:
        args += ["--tls", options.tls]
    if not options.auth_enabled:
        args.append("--no-auth")
    elif options.user:
        args += ["--user", options.user]
    return base + args


class ReceiverProcess(QObject):
    """Starts, watches and stops the receiving endpoint process."""

    state_changed = Signal(str)  # stopped | starting | listening | stopping | failed
    listening = Signal(dict)  # the child's "listening" event: url, ca_file, auth_header, ...
    failed = Signal(str)  # a start error or an unexpected exit, readable
    import_event = Signal(dict)  # progress of an import the window asked for
    folded = Signal()  # acknowledged requests were just written into the capture
    notice = Signal(str)  # something the user should know: CA replaced, disk full, lines lost
    stopped = Signal(dict)  # the child's "stopped" event: requests, records (it stopped cleanly)
    # The child's "public_url" events (``expose`` / ``unexpose`` commands): provider, state
    # (starting | public | failed | stopped), url (or None), message.
    public_url_changed = Signal(dict)
    # The child's "answers" events: whether acknowledgements are paused and the answer rules
    # with what each does and what is left (``{}`` once the child is gone: no rule applies).
    answers_changed = Signal(dict)

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self._process: QProcess | None = None
        self._buffer = b""
        self._stderr = b""
        self._state = "stopped"
        self._error_reported = False
        self._queued: ServeOptions | None = None
        self.endpoint: dict | None = None
        self.public: dict | None = None  # the last "public_url" event of this child
        self.answers: dict = {}  # the last "answers" event of this child
        self.options: ServeOptions | None = None
        self.exit_code: int | None = None  # of the last child that exited

    @property
    def state(self) -> str:
        return self._state

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    def start(self, options: ServeOptions) -> None:
        if self._process is not None:
            if self._state == "failed":  # it said why and is exiting: start once it has
                self._queued = options
                return
            raise RuntimeError("the receiver is already running")
        self._queued = None
        self.options = options
        self.endpoint = None
        self.public = None
        self._forget_answers()
        self._buffer = self._stderr = b""
        self._error_reported = False
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(env)
        command = serve_command(options)
        process.setProgram(command[0])
        process.setArguments(command[1:])
        process.readyReadStandardOutput.connect(self._on_process_ready_read_standard_output)
        process.readyReadStandardError.connect(self._on_process_ready_read_standard_error)
        process.finished.connect(self._on_process_finished)
        process.errorOccurred.connect(self._on_process_error_occurred)
        self._process = process
        self._set_state("starting")
        process.start()

    def stop(self) -> None:
        """Ask the child to stop by closing its stdin (``serve --stop-with-stdin``): it finishes
        the batches in hand, says "stopped" and exits. That works on every platform, unlike
        ``QProcess.terminate()``, which cannot stop a console program on Windows; a child
        still running after :data:`STOP_GRACE_MS` is killed."""
        if self._process is None:
            return
        self._set_state("stopping")
        process = self._process
        process.closeWriteChannel()
        QTimer.singleShot(STOP_GRACE_MS, process, lambda: self._on_stop_grace_over(process))

    def _on_stop_grace_over(self, process: QProcess) -> None:
        if process is self._process and process.state() != QProcess.ProcessState.NotRunning:
            process.kill()

    def send_command(self, command: dict) -> bool:
        """Ask the running receiver to do something (import a file, cancel an import, expose
        it publicly or stop exposing it)."""
        if self._process is None or self._state != "listening":
            return False
        self._process.write((json.dumps(command) + "\n").encode("utf-8"))
        return True

    def send_answers(self, **change) -> bool:
        """Change the answer rules of the running receiver: ``add="503 for 2"``,
        ``remove=3``, ``clear=True`` or ``paused=True``; it answers with an ``answers`` event
        (with ``error`` when it refused the change)."""
        return self.send_command({"command": "answers", **change})

    def _forget_answers(self) -> None:
        if self.answers:
            self.answers = {}
            self.answers_changed.emit({})

    def wait_stopped(self, msecs: int = 10000) -> bool:
        """Block until the child has exited; only for quitting the application."""
        if self._process is None:
            return True
        if self._state != "stopping":
            self.stop()
        process = self._process
        done = process.waitForFinished(msecs)
        if not done:
            process.kill()
            done = process.waitForFinished(2000)
        return done

    def _on_process_ready_read_standard_output(self) -> None:
        self._buffer += bytes(self._process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            kind = event.get("event")  # "request" lines are not read: the tables follow the file
            if kind == "listening":
                if self._state == "stopping":  # stopped while starting: it stops when it
                    continue  # reads the end of its stdin, right after this line
                self.endpoint = event
                self._set_state("listening")
                self.listening.emit(event)
            elif kind == "public_url":
                self.public = {key: event.get(key) for key in
                               ("provider", "state", "url", "message")}
                self.public_url_changed.emit(dict(self.public))
            elif kind == "answers":
                self.answers = event
                self.answers_changed.emit(dict(event))
            elif kind == "import":
                self.import_event.emit(event)
            elif kind == "folded":
                self.folded.emit()
            elif kind == "notice":
                self.notice.emit(f"Endpoint: {event.get('message', '')}")
            elif kind == "dropped":
                # The tables follow the capture file, not these lines: nothing is missing.
                self.notice.emit(f"Endpoint: {event.get('count', 0):,} event lines were dropped "
                                 f"while the window was busy; every request is in the capture "
                                 f"and in the tables")
            elif kind == "stopped":
                self.stopped.emit(event)
            elif kind == "error":
                self._report(event.get("message", "the receiver could not start"))
                self._set_state("failed")

    def _on_process_ready_read_standard_error(self) -> None:
        self._stderr = (self._stderr + bytes(self._process.readAllStandardError().data()))[-8192:]

    def _on_process_error_occurred(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._report(f"the receiver could not be started: {self._process.errorString()}")
            self._process.deleteLater()
            self._process = None
            self._set_state("failed")

    def _on_process_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        was = self._state
        self.exit_code = code if status == QProcess.ExitStatus.NormalExit else None
        process, self._process = self._process, None
        if process is not None:
            process.deleteLater()
        self._forget_answers()
        if was == "stopping":
            self._set_state("stopped")
            return
        if self._queued is not None:
            self.start(self._queued)
            return
        if not self._error_reported:
            tail = self._stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            how = ("crashed" if status == QProcess.ExitStatus.CrashExit
                   else f"stopped with exit code {code}")
            detail = f": {' '.join(tail)}" if tail else ""
            self._report(f"the receiver {how}{detail}")
        self._set_state("failed")

    def _report(self, message: str) -> None:
        self._error_reported = True
        self.failed.emit(message)
