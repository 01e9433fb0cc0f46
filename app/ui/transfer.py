"""Export from the window: a dialog that runs ``streamer-inspector export`` as a child process.

The child writes to a temporary file beside the target and renames it when it is complete, so a
cancelled export leaves nothing under the chosen name; the dialog shows its progress.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
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
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.replay import ChildRun, last_error_line
from app.ui.values import plain, tooltip_text

FORMATS = {  # name: (title, extension, what it exports)
    "json": ("JSON: a list of records, as the streamer posts them", "json", "records"),
    "ndjson": ("NDJSON: one record a line (jq, pandas, BigQuery)", "ndjson", "records"),
    "csv": ("CSV: one row a record, nested fields as dotted columns", "csv", "records"),
    "har": ("HAR 1.2: the requests and answers (browser tools, Insomnia)", "har", "requests"),
    "postman": ("Postman Collection v2.1: the requests, to send again", "postman.json",
                "requests"),
    "curl": ("curl: a bash script sending the requests again (checks each status)", "sh",
             "requests"),
    "xlsx": ("XLSX: for spreadsheets (Excel, LibreOffice): a sheet per table and the "
             "requests, identifiers kept as text", "xlsx", "records"),
}


class ExportDialog(QDialog):
    """Choose what to export, how, and where; then watch it go."""

    failed = Signal(str)  # the export child failed: what it said (for the message bar)

    def __init__(self, capture: Path, scopes: dict[str, list[str]], mask: bool,
                 parent: QWidget | None = None):
        """``scopes``: title -> the ``export`` arguments selecting those records."""
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.resize(640, 300)
        self._capture = capture
        self._scopes = scopes
        self._run = ChildRun(self, "Export")
        self._run.event.connect(self._on_run_event)
        self._run.finished.connect(self._on_run_finished)
        self._run.failed.connect(self.failed)
        form = QFormLayout()
        self.format = QComboBox(self)
        self.format.setObjectName("format")
        for name, (title, _ext, _kind) in FORMATS.items():
            self.format.addItem(title, name)
        self.format.currentIndexChanged.connect(self._on_format_current_index_changed)
        form.addRow("Format", self.format)
        self.scope = QComboBox(self)
        self.scope.setObjectName("scope")
        self.scope.addItems(list(scopes))
        form.addRow("What", self.scope)
        self.mask = QCheckBox("Mask ICCID, IMSI, MSISDN, IMEI, IP addresses and organisation "
                              "names (consistent pseudonyms)", self)
        self.mask.setObjectName("mask")
        self.mask.setChecked(mask)
        form.addRow("", self.mask)
        csv_row = QHBoxLayout()
        csv_row.setContentsMargins(0, 0, 0, 0)
        self.bom = QCheckBox("BOM (for Excel)", self)
        self.bom.setObjectName("bom")
        self.semicolon = QCheckBox("semicolons (comma-decimal locales)", self)
        self.semicolon.setObjectName("semicolon")
        self.all_fields = QCheckBox("every field", self)
        self.all_fields.setObjectName("all_fields")
        self.all_fields.setToolTip("Every JSON path as a column, instead of the table's columns")
        csv_row.addWidget(self.bom)
        csv_row.addWidget(self.semicolon)
        csv_row.addWidget(self.all_fields)
        self.csv_row = QWidget(self)
        self.csv_row.setLayout(csv_row)
        form.addRow("CSV", self.csv_row)
        self.strict = QCheckBox("Strict JSON: rewrite the records jq or duckdb would refuse",
                                self)
        self.strict.setObjectName("strict")
        self.strict.setToolTip(tooltip_text(
            "Records with lone surrogates, numbers beyond a double or duplicate keys are\n"
            "legal JSON that strict parsers refuse. Off (the default), every record is\n"
            "written byte for byte as received. On, such records are rewritten: U+FFFD for\n"
            "a lone surrogate, the first value of a duplicate key, a number beyond a double\n"
            "as a string of its spelling."))
        form.addRow("", self.strict)
        self.base_url = QLineEdit(self)
        self.base_url.setObjectName("base_url")
        self.base_url.setPlaceholderText("the endpoint that received each request")
        self.base_url.setClearButtonEnabled(True)
        self.base_url.setToolTip(tooltip_text(
            "Where the exported requests are sent again: empty, each goes to the endpoint\n"
            "that received it (scheme, host and port, e.g. https://localhost:8443); or give\n"
            "another, e.g. https://backend.example:8443. Each request keeps its own path\n"
            "and query."))
        form.addRow("Send to", self.base_url)
        target = QHBoxLayout()
        self.target = QLineEdit(self)
        self.target.setObjectName("target")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._on_browse_clicked)
        target.addWidget(self.target, 1)
        target.addWidget(browse)
        form.addRow("Save as", target)
        self._form = form
        self.progress = QProgressBar(self)
        self.progress.setObjectName("progress")
        self.state = QLabel(self)
        self.state.setObjectName("state")
        self.state.setTextFormat(Qt.TextFormat.PlainText)
        self.state.setWordWrap(True)
        buttons = QDialogButtonBox(self)
        self.export_button = buttons.addButton("Export", QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.setObjectName("export")
        self.cancel_button = buttons.addButton("Cancel export",
                                               QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button.setObjectName("cancel")
        self.cancel_button.setEnabled(False)
        buttons.addButton(QDialogButtonBox.StandardButton.Close).clicked.connect(self.reject)
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.state)
        layout.addStretch(1)
        layout.addWidget(buttons)
        self._on_format_current_index_changed(0)

    def _on_format_current_index_changed(self, _index: int) -> None:
        name = self.format.currentData()
        self._form.setRowVisible(self.csv_row, name == "csv")
        self._form.setRowVisible(self.strict, name in ("json", "ndjson"))
        self._form.setRowVisible(self.base_url, FORMATS[name][2] == "requests")
        ext = FORMATS[name][1]
        current = self.target.text().strip()
        stem = Path(current).name.split(".")[0] if current else self._capture.stem
        folder = Path(current).parent if current else Path.home()
        self.target.setText(str(folder / f"{stem}.{ext}"))

    def _on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.target.text())
        if path:
            self.target.setText(path)

    def arguments(self) -> list[str]:
        args = ["export", str(self._capture), "--format", self.format.currentData(),
                "-o", self.target.text().strip(), "--events", "jsonl",
                *self._scopes.get(self.scope.currentText(), [])]
        if self.mask.isChecked():
            args.append("--mask")
        if self.format.currentData() in ("json", "ndjson") and self.strict.isChecked():
            args.append("--strict-json")
        if FORMATS[self.format.currentData()][2] == "requests" and self.base_url.text().strip():
            args += ["--base-url", self.base_url.text().strip()]
        if self.format.currentData() == "csv":
            if self.bom.isChecked():
                args.append("--csv-bom")
            if self.semicolon.isChecked():
                args += ["--csv-delimiter", ";"]
            if self.all_fields.isChecked():
                args.append("--csv-all-fields")
        return args

    def _on_export_button_clicked(self) -> None:
        if not self.target.text().strip():
            self.state.setText("Choose where to save.")
            return
        self.progress.setRange(0, 0)
        self.state.setText("Exporting…")
        self.export_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._run.start(self.arguments())

    def _on_cancel_button_clicked(self) -> None:
        self._run.cancel()

    def _on_run_event(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "progress" and event.get("total"):
            self.progress.setRange(0, int(event["total"]))
            self.progress.setValue(int(event.get("done", 0)))
        elif kind == "done":
            self.progress.setRange(0, 1)
            self.progress.setValue(1)
            text = (f"Exported {event.get('items', 0):,} {event.get('kind', 'records')} to "
                    f"{event.get('path')}")
            if event.get("note"):
                text += f"\nNote: {event['note']}"
            self.state.setText(plain(text))
        elif kind == "cancelled":
            self.state.setText("Cancelled: nothing was written.")
        elif kind == "error":
            self.state.setText(f"Could not export: {event.get('message')}")

    def _on_run_finished(self, code: int, stderr: str) -> None:
        self.export_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        if code not in (0, 130) and not self.state.text().startswith("Could not"):
            self.state.setText(f"Could not export: {last_error_line(stderr) or code}")
        elif code == 130 and not self.state.text().startswith("Cancelled"):
            # cancelled before it said anything (still starting): nothing was written either
            self.state.setText("Cancelled: nothing was written.")

    def reject(self) -> None:
        if self._run.running:
            self._run.cancel()
        super().reject()
