"""Cancel a child run through its stdin, the same way on every platform.

The window runs ``send``, ``curl`` and ``export`` as child processes and must be able to stop
them cleanly (an export removes its half-written file, a send reports "cancelled"). A signal
cannot do that portably: on Windows ``os.kill(pid, SIGINT)`` is ``TerminateProcess``, an
immediate kill. So the window sets :data:`CANCEL_ENV` in the child's environment and writes
:data:`CANCEL_LINE` on its stdin (or closes it, or goes away, which closes it too); the child
then behaves exactly as on Ctrl+C: the watcher raises SIGINT's handler in the main thread.
"""

from __future__ import annotations

import _thread
import contextlib
import json
import os
import signal
import threading

CANCEL_ENV = "STREAMER_INSPECTOR_CANCEL_ON_STDIN"  # "1": the parent cancels through stdin
CANCEL_LINE = b'{"command": "cancel"}\n'


class StdinCancel:
    """Watches stdin on a daemon thread; a ``{"command": "cancel"}`` line or the end of
    stdin interrupts the main thread as SIGINT would, unless :meth:`disarm` came first."""

    def __init__(self, fd: int = 0):
        self._fd = fd
        self._armed = True
        self._thread = threading.Thread(target=self._watch, name="stdin-cancel", daemon=True)
        self._thread.start()

    def disarm(self) -> None:
        """The run is over: a cancel arriving now is ignored."""
        self._armed = False

    def _watch(self) -> None:
        # os.read on the descriptor, not sys.stdin: a daemon thread blocked inside a buffered
        # stream's lock makes the interpreter abort at exit.
        pending = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(self._fd, 4096):
                *lines, pending = (pending + chunk).split(b"\n")
                if any(_is_cancel(line) for line in lines):
                    break
        if self._armed:
            # Like a Ctrl+C: the main thread runs SIGINT's handler (the run's own, which
            # stops it cleanly), and a loop waiting on the signal wake-up fd wakes up.
            _thread.interrupt_main(signal.SIGINT)


def _is_cancel(line: bytes) -> bool:
    try:
        command = json.loads(line)
    except ValueError:
        return False
    return isinstance(command, dict) and command.get("command") == "cancel"


def cancel_on_stdin_if_asked() -> StdinCancel | None:
    """Start watching stdin when the parent said it cancels that way (:data:`CANCEL_ENV`)."""
    if os.environ.get(CANCEL_ENV) != "1":
        return None
    return StdinCancel()
