"""The transfers controller: what goes out of and into the capture from the window: replay
(samples, Copy as cURL, Paste cURL, Send like the Data Streamer), imports through the receiver,
and exports (each in a child process or on the reader thread, never on the GUI thread)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from app.display import counted
from app.records.columns import RECORD_TABS
from app.replay.samples import library
from app.ui.capturefile import CaptureFileController
from app.ui.reader import CaptureReader
from app.ui.receiver import ReceiverProcess
from app.ui.replay import ChildRun, CurlDialog, SendDialog
from app.ui.transfer import ExportDialog
from app.ui.values import plain


class TransferController(QObject):
    """Runs the Replay menu, Import (also by dropping a file) and Export for the window."""

    def __init__(self, window, reader: CaptureReader, receiver: ReceiverProcess,
                 capture_file: CaptureFileController):
        super().__init__(window)
        self._window = window
        self._reader = reader
        self._receiver = receiver
        self._capture_file = capture_file
        self._imports = 0
        self._export_scopes: tuple[str, dict, str] | None = None  # waiting for its ids file
        self.export_dialog: ExportDialog | None = None  # while it is open
        self.sample_run = ChildRun(self, "Sending the sample")
        self.tmp = Path(tempfile.mkdtemp(prefix="streamer-inspector-send-"))
        for sample in library():
            action = window.samples_menu.addAction(sample.title)
            action.setStatusTip(sample.description)
            action.triggered.connect(lambda _=False, n=sample.name: self.send_sample(n))
            action = window.copy_sample_menu.addAction(sample.title)
            action.triggered.connect(lambda _=False, n=sample.name: self.copy_sample(n))
        window.paste_curl_action.triggered.connect(self._on_paste_curl_action_triggered)
        window.send_action.triggered.connect(self._on_send_action_triggered)
        window.copy_as_curl_action.triggered.connect(self._on_copy_as_curl_action_triggered)
        window.import_action.triggered.connect(self._on_import_action_triggered)
        window.export_action.triggered.connect(self._on_export_action_triggered)
        window.files_dropped.connect(self._on_window_files_dropped)
        window.closed.connect(self._on_window_closed)
        self.sample_run.event.connect(self._on_sample_run_event)
        self.sample_run.failed.connect(window.show_error)
        reader.text_ready.connect(self._on_reader_text_ready)
        reader.records_written.connect(self._on_reader_records_written)
        reader.ids_written.connect(self._on_reader_ids_written)
        receiver.import_event.connect(self._on_receiver_import_event)

    # -- replay -----------------------------------------------------------------------------

    def _local_target(self) -> dict | None:
        endpoint = self._receiver.endpoint
        if not endpoint:
            self._window.statusBar().showMessage("Start the endpoint first.", 4000)
            return None
        settings = self._window.settings
        auth = settings.auth_enabled
        return {"url": endpoint["url"], "ca_file": endpoint.get("ca_file"),
                "user": settings.user if auth else None,
                "password": settings.password if auth else None}

    def send_sample(self, name: str) -> None:
        """Post a sample to this window's endpoint (in a child process)."""
        target = self._local_target()
        if target is None or self.sample_run.running:
            return
        args = ["send", target["url"], "--sample", name, "--events", "jsonl"]
        if target["ca_file"]:
            args += ["--cacert", target["ca_file"]]
        if target["user"]:
            args += ["--user", target["user"]]
        self._window.statusBar().showMessage(f"Sending the sample {name}…", 3000)
        self.sample_run.start(args, target["password"])

    def _on_sample_run_event(self, event: dict) -> None:
        if event.get("event") == "report":
            self._window.statusBar().showMessage(
                f"Sample sent: {event.get('records_acknowledged', 0):,} of "
                f"{counted(event.get('records_sent', 0), 'record')} acknowledged "
                f"({event.get('state')})",
                5000)

    def copy_sample(self, name: str) -> None:
        """Put a cURL command posting a sample to this endpoint on the clipboard (built on
        the reader thread: the full batch is generated, not stored)."""
        target = self._local_target()
        if target is not None:
            self._reader.copy_sample_as_curl(name, target)

    def _on_copy_as_curl_action_triggered(self) -> None:
        target = self._local_target()
        if target is None:
            return
        view = self._window.current_view()
        rows = sorted({i.row() for i in view.selectionModel().selectedRows()})
        if not rows and view.currentIndex().isValid():
            rows = [view.currentIndex().row()]
        if not rows:
            self._window.statusBar().showMessage("Select records or a request first.", 3000)
            return
        model = view.model()
        ids = [model.id_at(r) for r in rows][:100_000]
        self._reader.copy_as_curl(model.table, ids[:1] if model.table == "requests" else ids,
                                  target)

    def _on_reader_text_ready(self, text: str, message: str) -> None:
        if text:
            self._window.copy_text(text, message)

    def _on_paste_curl_action_triggered(self) -> None:
        window = self._window
        clipboard = QGuiApplication.clipboard().text()
        dialog = CurlDialog(self._receiver.endpoint, window.settings.user,
                            window.settings.password, window,
                            clipboard if clipboard.lstrip().startswith("curl") else "")
        dialog.failed.connect(window.show_error)
        dialog.exec()
        dialog.deleteLater()

    def _on_send_action_triggered(self) -> None:
        view = self._window.current_view()
        table = view.model().table
        rows = sorted({i.row() for i in view.selectionModel().selectedRows()})
        if table != "requests" and rows:
            path = self.tmp / "selection.ndjson"
            self._reader.write_records([view.model().id_at(r) for r in rows], path)
            return  # the dialog opens when the reader has written them
        self._open_send_dialog(None, 0)

    def _on_reader_records_written(self, path: str, count: int) -> None:
        self._open_send_dialog(path, count)

    def _open_send_dialog(self, selection: str | None, count: int) -> None:
        window = self._window
        capture = self._capture_file.path
        sources: dict[str, tuple[list[str], str]] = {}
        if selection:
            scope = "The selected record" if count == 1 else f"The {count:,} selected records"
            sources[scope] = (["--file", selection], "As they were received.")
        table = window.current_view().model().table
        if table != "requests" and capture is not None:
            tab = next(t for t in RECORD_TABS if t.key == table)
            families = " or ".join(f"family == {f}" for f in tab.families)
            text = window.filter_bars[table].current_filter().text.strip()
            expr = f"({families}) and ({text})" if text else f"({families})"
            shown = window.model(table).rowCount()
            sources[f"The {tab.title} table as filtered ({counted(shown, 'record')})"] = (
                ["--capture", str(capture), "--filter", expr], f"Filter: {expr}")
        dialog = SendDialog(self._receiver.endpoint, window.settings.user,
                            window.settings.password, sources, window)
        dialog.failed.connect(window.show_error)
        dialog.exec()
        dialog.deleteLater()

    # -- import -----------------------------------------------------------------------------

    def import_file(self, path: Path) -> None:
        """Import a file into the capture, through the receiver (the capture's only writer)."""
        self._imports += 1
        command = {"command": "import", "path": str(path), "id": self._imports}
        if not self._receiver.send_command(command):
            self._window.message_bar.show_message(
                "Import: the endpoint must be running to import into this capture (it is the "
                "capture's only writer). Start it and drop the file again.",
                [("Start endpoint", self._window.start_action.trigger)])
            return
        self._window.statusBar().showMessage(f"Importing {path.name}…")

    def _on_window_files_dropped(self, paths: list) -> None:
        for path in paths:
            self.import_file(Path(path))

    def _on_receiver_import_event(self, event: dict) -> None:
        window = self._window
        name = Path(event.get("path", "")).name
        state = event.get("state")
        if state in ("failed", "cancelled"):
            window.statusBar().clearMessage()  # it said "Importing …" until the next message
        if state == "failed":
            message = str(event.get("message") or "it failed").rstrip(".")
            window.message_bar.show_message(plain(f"Import of {name} failed: {message}. Nothing "
                                                  f"was imported."))
        elif state in ("started", "progress"):
            done, total = event.get("done_records", 0), event.get("records", 0)
            window.statusBar().showMessage(
                f"Importing {name}: {done:,} of {counted(total, 'record')}…")
        elif state == "done":
            window.statusBar().showMessage(
                f"Imported {counted(event.get('done_records', 0), 'record')} from {name} "
                f"({event.get('kind')}), marked as imported", 8000)
        elif state == "cancelled":
            window.message_bar.show_message(
                f"Import of {name} cancelled after {event.get('done_records', 0):,} of "
                f"{counted(event.get('records', 0), 'record')}.", error=False)

    def _on_import_action_triggered(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self._window, "Import into this capture", "",
            "Records, HAR or captures (*.json *.ndjson *.jsonl *.har *.sqlite);;All files (*)")
        if path:
            self.import_file(Path(path))

    # -- export -----------------------------------------------------------------------------

    def _on_export_action_triggered(self) -> None:
        window = self._window
        if self._capture_file.path is None:
            return
        view = window.current_view()
        table = view.model().table
        scopes: dict[str, list[str]] = {}
        text = window.filter_bars[table].current_filter().text.strip()
        if table == "requests":
            scopes["All requests"] = []
        else:
            tab = next(t for t in RECORD_TABS if t.key == table)
            families = " or ".join(f"family == {f}" for f in tab.families)
            scopes[f"All {tab.title} records"] = ["--filter", f"({families})"]
            if text:
                scopes[f"The {tab.title} table as filtered"] = [
                    "--filter", f"({families}) and ({text})"]
            scopes["All records of the capture"] = []
        rows = sorted({i.row() for i in view.selectionModel().selectedRows()})
        if rows:
            # The export child reads the ids file: the dialog (and so the child) starts only
            # once the reader has written it whole (``_on_reader_ids_written``).
            ids_path = self.tmp / f"export-ids-{table}.txt"
            option = "--request-ids-file" if table == "requests" else "--ids-file"
            noun = "request" if table == "requests" else "record"
            scope = (f"The selected {noun}" if len(rows) == 1
                     else f"The {len(rows):,} selected {noun}s")
            scopes[scope] = [option, str(ids_path)]
            self._export_scopes = (str(ids_path), scopes, table)
            self._reader.write_ids([view.model().id_at(r) for r in rows], ids_path, table)
            return
        self._open_export_dialog(scopes, 1 if text and table != "requests" else 0)

    def _on_reader_ids_written(self, path: str, _table: str) -> None:
        pending, self._export_scopes = self._export_scopes, None
        if pending is None or pending[0] != path:
            return
        self._open_export_dialog(pending[1], len(pending[1]) - 1)

    def _open_export_dialog(self, scopes: dict[str, list[str]], current: int) -> None:
        window = self._window
        capture = self._capture_file.path
        if capture is None:
            return
        dialog = ExportDialog(capture, scopes, window.mask_action.isChecked(), window)
        dialog.failed.connect(window.show_error)
        dialog.scope.setCurrentIndex(current)
        self.export_dialog = dialog  # for tests and for the user's next look
        dialog.exec()
        dialog.deleteLater()
        self.export_dialog = None

    def _on_window_closed(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
