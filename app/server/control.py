"""The window's control channel to its receiver: commands, one JSON object a line, on the
receiver's stdin (imports through the storage thread, cancelling them); the receiver stops
when that pipe closes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.capture.rules import RuleError
from app.server.receiver import Receiver


def stop_when_stdin_closes(loop: asyncio.AbstractEventLoop, stop: asyncio.Event,
                            on_command: Callable[[dict], None]) -> None:
    """Read the parent's commands (one JSON object a line) from stdin, and stop when the
    parent (the window) goes away, however it went: its end of the pipe closes."""

    def watch() -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in sys.stdin.buffer:
                try:
                    command = json.loads(line)
                except ValueError:
                    continue
                if isinstance(command, dict):
                    loop.call_soon_threadsafe(on_command, command)
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def dispatch(*handlers: Callable[[dict], None]) -> Callable[[dict], None]:
    """One command handler from several (imports, the public URL's expose/unexpose): each
    gets every command and acts on its own."""

    def command(command: dict) -> None:
        for handler in handlers:
            handler(command)

    return command


class Imports:
    """Imports the window asks for: through the same storage thread as received batches,
    one request at a time, so live batches interleave and nothing else writes the capture."""

    def __init__(self, receiver: Receiver, emit: Callable[[dict], None]):
        self._receiver = receiver
        self._emit = emit
        self._cancelled: set = set()
        self._tasks: set[asyncio.Task] = set()

    def command(self, command: dict) -> None:
        if command.get("command") == "import":
            task = asyncio.get_running_loop().create_task(self._run(command))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif command.get("command") == "cancel_import":
            self._cancelled.add(command.get("id"))

    async def _run(self, command: dict) -> None:
        """One import; whatever goes wrong ends in a ``failed`` event the window shows (the
        file's problem, or what broke and how much was imported before)."""
        ident, path = command.get("id"), Path(str(command.get("path", "")))
        event = {"event": "import", "id": ident, "path": str(path)}
        progress = {"done_requests": 0, "done_records": 0}
        try:
            await self._import(ident, path, event, progress)
        except Exception as exc:  # the import fails; the receiver carries on
            message = _import_error(exc, path)
            if progress["done_requests"]:
                message += (f" (after {progress['done_records']:,} records in "
                            f"{progress['done_requests']:,} requests, which stay imported)")
            sys.stderr.write(f"streamer-inspector: import of {path} failed: {message}\n")
            self._emit({**event, "state": "failed", "message": message, **progress})

    async def _import(self, ident, path: Path, event: dict, progress: dict) -> None:
        from app.capture.importer import plan

        loop = asyncio.get_running_loop()
        kind, planned = await loop.run_in_executor(None, plan, path)
        total = sum(p.records for p in planned)
        self._emit({**event, "state": "started", "kind": kind, "requests": len(planned),
                    "records": total})
        last = time.monotonic()
        for item in planned:
            if ident in self._cancelled:
                self._emit({**event, "state": "cancelled", **progress, "records": total})
                return
            stored = await self._receiver.store_imported(item)
            progress["done_requests"] += 1
            progress["done_records"] += stored.record_count
            if time.monotonic() - last > 0.25:
                last = time.monotonic()
                self._emit({**event, "state": "progress", **progress, "records": total})
        self._emit({**event, "state": "done", "kind": kind, **progress, "records": total})


class Answers:
    """The window's edits of the answer rules and its *Pause acknowledgements* switch:
    ``{"command": "answers", "add": "503 for 2"}`` (a text or a list of them), ``"remove": ID``,
    ``"clear": true``, ``"paused": true|false`` (several in one command apply in that order:
    clear, remove, add, paused). Each command ends in an ``answers`` event, with ``error`` when
    (part of) it was refused; what came before the refused part stays done."""

    def __init__(self, receiver: Receiver):
        self._receiver = receiver

    def command(self, command: dict) -> None:
        if command.get("command") != "answers":
            return
        error = None
        try:
            self._apply(command)
        except RuleError as exc:
            error = str(exc)
        self._receiver.answers_changed("command", error)

    def _apply(self, command: dict) -> None:
        rules = self._receiver.rules
        known = [key for key in ("clear", "remove", "add", "paused") if key in command]
        if not known:
            raise RuleError("an answers command needs add, remove, clear or paused")
        if command.get("clear") is True:
            rules.clear()
        if "remove" in command:
            ident = command["remove"]
            if not isinstance(ident, int) or isinstance(ident, bool):
                raise RuleError("remove needs the number (id) of a rule")
            rules.remove(ident)
        if "add" in command:
            texts = command["add"]
            texts = [texts] if isinstance(texts, str) else texts
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise RuleError("add needs the text of a rule (or a list of them)")
            for text in texts:
                rules.add(text)
        if "paused" in command:
            if not isinstance(command["paused"], bool):
                raise RuleError("paused needs true or false")
            rules.paused = command["paused"]


def _import_error(exc: BaseException, path: Path) -> str:
    """Why an import failed, as a user reads it (no repr, no traceback)."""
    from app.capture.importer import ImportFileError

    if isinstance(exc, ImportFileError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return f"{path.name} is nested too deeply to import"
    if isinstance(exc, MemoryError):
        return f"{path.name} is too large to import in the memory available"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{path.name}: {exc.strerror}"
    if isinstance(exc, UnicodeError):
        return f"{path.name} is not UTF-8 text"
    text = str(exc).strip()
    return f"{path.name} could not be imported" + (f": {text}" if text else "")
