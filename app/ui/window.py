"""The main window: endpoint controls, live tables, the JSON detail pane.

The window owns no I/O: the :class:`~app.ui.receiver.ReceiverProcess` runs the endpoint in a
child process and the :class:`~app.ui.reader.CaptureReader` reads the capture on its thread;
both are handed in by the composition root (``app.ui.application``) and talk back by signals.
"""

from __future__ import annotations

import base64
import shutil
import socket
import tempfile
from pathlib import Path

from PySide6.QtCore import (
    QByteArray,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QGuiApplication,
    QKeySequence,
    QPainter,
    QPalette,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import APP_TITLE, __version__
from app.config import Settings, new_capture_path
from app.filters.planner import Filter
from app.records.columns import RECORD_TABS
from app.replay.samples import library
from app.ui.detail import JsonDetail
from app.ui.dialogs import EndpointDialog, PortalDialog
from app.ui.filterbar import FilterBar
from app.ui.models import CaptureTableModel, RecordsModel, RequestsModel
from app.ui.reader import REQUEST_COLUMN_FIELDS, CaptureReader, Detail, TableUpdate
from app.ui.receiver import ReceiverProcess
from app.ui.replay import ChildRun, CurlDialog, SendDialog
from app.ui.transfer import ExportDialog
from app.ui.values import one_line_safe, plain

MAX_RECENT = 8
# Columns (by filter field) whose values masking replaces: "filter on this value" is off for
# them while masking is on (the reader also refuses any other expression that would reveal).
MASKED_FIELDS = frozenset({"iccid", "imsi", "msisdn", "imei", "endpoint", "from", "to", "peer"})
_STATE_TEXT = {
    "stopped": ("Stopped", "#8b949e"),
    "starting": ("Starting…", "#d29922"),
    "listening": ("Listening", "#2da44e"),
    "stopping": ("Stopping…", "#d29922"),
    "failed": ("Error", "#cf222e"),
}


def _encode(data: QByteArray) -> str:
    return base64.b64encode(bytes(data.data())).decode("ascii")


def _decode(text: str | None) -> QByteArray | None:
    if not text:
        return None
    try:
        return QByteArray(base64.b64decode(text))
    except ValueError:
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MessageBar(QFrame):
    """A strip above the tables for things the user must see: the receiver died, port taken."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.label = QLabel(self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        layout.addWidget(self.label, 1)
        self._buttons: list[QPushButton] = []
        self._layout = layout
        close = QToolButton(self)
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(close)
        self.hide()

    def buttons(self) -> dict[str, QPushButton]:
        """The action buttons shown now, by their text."""
        return {button.text(): button for button in self._buttons}

    def show_message(self, text: str, actions: list[tuple[str, object]] = (), error=True) -> None:
        for button in self._buttons:
            button.deleteLater()
        self._buttons = []
        self.label.setText(one_line_safe(text))
        for title, slot in actions:
            button = QPushButton(title, self)
            button.clicked.connect(slot)
            self._layout.insertWidget(self._layout.count() - 1, button)
            self._buttons.append(button)
        colour = "#cf222e" if error else "#9a6700"
        self.setStyleSheet(f"#messageBar {{ border: 1px solid {colour}; border-radius: 4px; }}")
        self.show()


class RecordTableView(QTableView):
    """A table with fixed row heights that follows new rows while scrolled to the bottom."""

    def __init__(self, model: CaptureTableModel, widths: tuple[int, ...], parent: QWidget):
        super().__init__(parent)
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setCornerButtonEnabled(False)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vertical = self.verticalHeader()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(self.fontMetrics().height() + 6)
        vertical.hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        for column, width in enumerate(widths):
            self.setColumnWidth(column, width)
        self._at_bottom = True
        self._empty_hint = ""
        model.rowsAboutToBeInserted.connect(self._on_model_rows_about_to_be_inserted)
        model.rowsInserted.connect(self._on_model_rows_inserted)

    def set_empty_hint(self, text: str) -> None:
        self._empty_hint = text
        self.viewport().update()

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.model().rowCount() == 0 and self._empty_hint:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            rect = self.viewport().rect().adjusted(24, 24, -24, -24)
            painter.drawText(rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
                             | Qt.TextFlag.TextWordWrap, self._empty_hint)
            painter.end()

    def _on_model_rows_about_to_be_inserted(self, *_args) -> None:
        bar = self.verticalScrollBar()
        self._at_bottom = bar.value() >= bar.maximum()

    def _on_model_rows_inserted(self, *_args) -> None:
        if self._at_bottom:
            self.scrollToBottom()


class MainWindow(QMainWindow):
    """Streamer Inspector's main window."""

    capture_changed = Signal(str)
    closed = Signal()  # the window has closed (the receiver and the reader are stopped)

    def __init__(self, settings: Settings, reader: CaptureReader, receiver: ReceiverProcess,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.reader = reader
        self.receiver = receiver
        self.capture: Path | None = None
        self._pending_capture: Path | None = None
        self._detail_kind: str | None = None
        self._detail_request: int | None = None
        self._counts = {"requests": 0, "records": 0}
        self._quitting = False
        self._jump_to_records_of: int | None = None
        self._following: Path | None = None
        self._totals: dict[str, int] = {}  # rows per table without its filter
        self._filtered: dict[str, bool] = {}
        self.setWindowTitle(APP_TITLE)
        self.resize(1280, 800)
        self.setAcceptDrops(True)
        self._identity: str | None = None
        self._mask_key: str | None = None  # the key the tables are masked with now
        self._imports = 0
        self._export_scopes: tuple[str, dict, str] | None = None  # waiting for its ids file
        self.export_dialog: ExportDialog | None = None  # while it is open
        self.error_reporter: QObject | None = None  # set by the composition root

        self.requests_model = RequestsModel(reader, self)
        self.sample_run = ChildRun(self, "Sending the sample")
        self._send_tmp = Path(tempfile.mkdtemp(prefix="streamer-inspector-send-"))
        self.record_models = {tab.key: RecordsModel(tab.key, tab.columns, reader, self)
                              for tab in RECORD_TABS}
        self._build_actions()
        self._build_toolbar()
        self._build_central()
        self._build_menus()
        self.statusBar().showMessage("Ready", 3000)
        self._restore_layout()
        self._wire()
        self._update_state(receiver.state)

    # -- construction -----------------------------------------------------------------------

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        a = self._action
        key = QKeySequence.StandardKey
        self.new_action = a("&New capture", self._on_new_action_triggered, key.New,
                            "Start a new, empty capture file")
        self.open_action = a("&Open capture…", self._on_open_action_triggered, key.Open,
                             "Open a capture file; the endpoint goes on writing into it")
        self.save_action = a("&Save capture as…", self._on_save_action_triggered, key.SaveAs,
                             "Copy the capture (a consistent snapshot) to another file")
        self.clear_action = a("C&lear", self._on_clear_action_triggered, "Ctrl+L",
                              "Empty the tables by starting a new capture (the old file stays)")
        self.quit_action = a("&Quit", self.close, key.Quit)
        self.start_action = a("&Start endpoint", self._on_start_action_triggered, "Ctrl+R",
                              "Start the receiving endpoint")
        self.stop_action = a("S&top endpoint", self._on_stop_action_triggered, "Ctrl+Shift+R",
                             "Stop the receiving endpoint")
        self.settings_action = a("Endpoint &settings…", self._on_settings_action_triggered,
                                 key.Preferences if not QKeySequence(key.Preferences).isEmpty()
                                 else "Ctrl+,", "Port, address, TLS, credentials, body limit")
        self.portal_action = a("1NCE &Portal setup…", self._on_portal_action_triggered, "F2",
                               "What to type into the 1NCE Portal, and a curl test command")
        self.copy_url_action = a("Copy endpoint &URL", self._on_copy_url_action_triggered,
                                 "Ctrl+Shift+U", "Copy the endpoint URL")
        self.copy_curl_action = a("Copy &curl test command", self._on_copy_curl_triggered,
                                  "Ctrl+Shift+C", "Copy a curl command posting a sample event")
        self.show_request_action = a("Show its &request", self._on_show_request_triggered,
                                     "Ctrl+J", "Go to the POST this record came in")
        self.show_records_action = a("Show its rec&ords", self._on_show_records_triggered,
                                     "Ctrl+K", "Go to the records of this request")
        self.about_action = a("&About", self._on_about_action_triggered)
        self.export_action = a("&Export…", self._on_export_action_triggered, "Ctrl+E",
                               "Export records or requests: JSON, NDJSON, CSV, HAR, Postman")
        self.import_action = a("&Import…", self._on_import_action_triggered, "Ctrl+I",
                               "Import a JSON list, NDJSON, HAR or capture file into this "
                               "capture (or drop the file on the window)")
        self.mask_action = a("&Mask identifiers", self._on_mask_action_toggled, "Ctrl+M",
                             "Show ICCID, IMSI, MSISDN, IMEI, IP addresses and organisation "
                             "names as consistent pseudonyms, for demos")
        self.mask_action.setCheckable(True)
        self.mask_action.setChecked(self.settings.mask_view)
        self.paste_curl_action = a("&Paste a cURL command…", self._on_paste_curl_triggered,
                                   "Ctrl+Shift+V", "Parse, edit and send a cURL command")
        self.send_action = a("Send like the &Data Streamer…", self._on_send_action_triggered,
                             "Ctrl+Shift+D", "Send records in batches, as the streamer does, "
                                             "to this endpoint or your own backend")
        self.copy_as_curl_action = a("Copy as c&URL", self._on_copy_as_curl_triggered,
                                     "Ctrl+Alt+C", "Copy the selected records (or request) "
                                                   "as a cURL command")

    def _build_toolbar(self) -> None:
        bar = QToolBar("Endpoint", self)
        bar.setObjectName("endpointToolbar")
        bar.setMovable(False)
        self.addToolBar(bar)
        bar.addAction(self.start_action)
        bar.addAction(self.stop_action)
        bar.addSeparator()
        self.state_label = QLabel(self)
        self.state_label.setTextFormat(Qt.TextFormat.PlainText)
        self.state_label.setMinimumWidth(90)
        bar.addWidget(self.state_label)
        self.url_edit = QLineEdit(self)
        self.url_edit.setReadOnly(True)
        self.url_edit.setPlaceholderText("endpoint not running")
        self.url_edit.setMinimumWidth(220)
        self.url_edit.setMaximumWidth(340)
        self.url_edit.setToolTip("The endpoint URL")
        bar.addWidget(self.url_edit)
        copy = QToolButton(self)
        copy.setDefaultAction(self.copy_url_action)
        copy.setText("Copy")
        bar.addWidget(copy)
        bar.addSeparator()
        bar.addAction(self.settings_action)
        bar.addAction(self.portal_action)
        bar.addSeparator()
        self.counter_label = QLabel(self)
        self.counter_label.setTextFormat(Qt.TextFormat.PlainText)
        bar.addWidget(self.counter_label)
        spacer = QWidget(self)
        spacer.setSizePolicy(spacer.sizePolicy().horizontalPolicy().Expanding,
                             spacer.sizePolicy().verticalPolicy())
        bar.addWidget(spacer)
        self.capture_label = QLabel(self)
        self.capture_label.setTextFormat(Qt.TextFormat.PlainText)
        bar.addWidget(self.capture_label)

    def _build_central(self) -> None:
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 4, 6, 0)
        self.message_bar = MessageBar(central)
        layout.addWidget(self.message_bar)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, central)
        self.splitter.setObjectName("mainSplitter")
        self.tabs = QTabWidget(self.splitter)
        self.tabs.setDocumentMode(True)
        self.views: dict[str, RecordTableView] = {}
        self.filter_bars: dict[str, FilterBar] = {}
        widths = (185, 110, 60, 160, 55, 65, 75, 70, 60, 400)
        self._add_page("requests", "Requests", self.requests_model, widths)
        for tab in RECORD_TABS:
            self._add_page(tab.key, tab.title, self.record_models[tab.key],
                           tuple(c.width for c in tab.columns))
        for view in self.views.values():
            view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            view.customContextMenuRequested.connect(self._on_view_context_menu_requested)
            view.selectionModel().currentRowChanged.connect(self._on_view_current_row_changed)

        right = QWidget(self.splitter)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.detail_title = QLabel(right)
        self.detail_title.setTextFormat(Qt.TextFormat.PlainText)
        self.detail_title.setWordWrap(True)
        font = self.detail_title.font()
        font.setBold(True)
        self.detail_title.setFont(font)
        head.addWidget(self.detail_title, 1)
        self.jump_button = QPushButton(right)
        self.jump_button.hide()
        self.jump_button.clicked.connect(self._on_jump_button_clicked)
        head.addWidget(self.jump_button)
        right_layout.addLayout(head)
        self.info_text = QPlainTextEdit(right)
        self.info_text.setReadOnly(True)
        self.info_text.setMaximumHeight(150)
        self.info_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.info_text.hide()
        right_layout.addWidget(self.info_text)
        self.detail = JsonDetail(right)
        right_layout.addWidget(self.detail, 1)
        self.splitter.addWidget(self.tabs)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([780, 480])
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self._show_empty_detail()

    def _add_page(self, table: str, title: str, model: CaptureTableModel,
                  widths: tuple[int, ...]) -> None:
        page = QWidget(self.tabs)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(4)
        bar = FilterBar("requests" if table == "requests" else "records", self.settings, page)
        bar.filter_changed.connect(lambda flt, t=table: self._on_filter_bar_filter_changed(t, flt))
        layout.addWidget(bar)
        view = RecordTableView(model, widths, page)
        layout.addWidget(view, 1)
        self.filter_bars[table] = bar
        self.views[table] = view
        self.tabs.addTab(page, title)

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.new_action)
        menu.addAction(self.open_action)
        self.recent_menu = menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._on_recent_menu_about_to_show)
        menu.addAction(self.save_action)
        menu.addSeparator()
        menu.addAction(self.import_action)
        menu.addAction(self.export_action)
        menu.addSeparator()
        menu.addAction(self.clear_action)
        menu.addSeparator()
        menu.addAction(self.quit_action)
        menu = self.menuBar().addMenu("&Endpoint")
        for action in (self.start_action, self.stop_action, None, self.settings_action,
                       self.portal_action, None, self.copy_url_action, self.copy_curl_action):
            menu.addSeparator() if action is None else menu.addAction(action)
        menu = self.menuBar().addMenu("&Replay")
        self.samples_menu = menu.addMenu("Send a &sample")
        self.copy_sample_menu = menu.addMenu("Copy a sample as c&URL")
        for sample in library():
            action = self.samples_menu.addAction(sample.title)
            action.setStatusTip(sample.description)
            action.triggered.connect(lambda _=False, n=sample.name: self.send_sample(n))
            action = self.copy_sample_menu.addAction(sample.title)
            action.triggered.connect(lambda _=False, n=sample.name: self.copy_sample(n))
        menu.addSeparator()
        menu.addAction(self.paste_curl_action)
        menu.addAction(self.send_action)
        menu.addAction(self.copy_as_curl_action)
        menu = self.menuBar().addMenu("&View")
        for number, title in enumerate(["Requests", *(t.title for t in RECORD_TABS)]):
            action = QAction(title, self)
            action.setShortcut(QKeySequence(f"Ctrl+{number + 1}"))
            action.triggered.connect(lambda _=False, n=number: self.tabs.setCurrentIndex(n))
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.mask_action)
        menu.addSeparator()
        menu.addAction(self.show_request_action)
        menu.addAction(self.show_records_action)
        menu = self.menuBar().addMenu("&Help")
        menu.addAction(self.about_action)

    def _wire(self) -> None:
        self.reader.opened.connect(self._on_reader_opened)
        self.reader.open_failed.connect(self._on_reader_open_failed)
        self.reader.tables_updated.connect(self._on_reader_tables_updated)
        self.reader.counts_changed.connect(self._on_reader_counts_changed)
        self.reader.value_filter_ready.connect(self._on_reader_value_filter_ready)
        self.reader.completions_ready.connect(self._on_reader_completions_ready)
        self.reader.detail_ready.connect(self._on_reader_detail_ready)
        self.reader.saved.connect(self._on_reader_saved)
        self.receiver.state_changed.connect(self._update_state)
        self.receiver.listening.connect(self._on_receiver_listening)
        self.receiver.failed.connect(self._on_receiver_failed)
        self.detail.copied.connect(self._on_detail_copied)
        self.reader.text_ready.connect(self._on_reader_text_ready)
        self.reader.identity_ready.connect(self._on_reader_identity_ready)
        self.receiver.import_event.connect(self._on_receiver_import_event)
        self.receiver.notice.connect(self._on_receiver_notice)
        self.reader.records_written.connect(self._on_reader_records_written)
        self.sample_run.event.connect(self._on_sample_run_event)
        self.sample_run.failed.connect(self._on_child_failed)
        self.reader.job_failed.connect(self._on_reader_job_failed)
        self.reader.notice.connect(self._on_reader_notice)
        self.reader.ids_written.connect(self._on_reader_ids_written)

    # -- capture switching ------------------------------------------------------------------

    def open_capture(self, path: Path, *, record: bool = True) -> None:
        """Show ``path`` and let the endpoint write into it (restarting it if it runs)."""
        path = Path(path).resolve()
        self.capture = path
        self._reset_tables()
        self.capture_label.setText(path.name)
        self.capture_label.setToolTip(str(path))
        self.setWindowTitle(f"{path.name} — {APP_TITLE}")
        if record:
            self._remember_capture(path)
        self._following = None
        if path.exists():
            self._follow(path)
        running = self.receiver.state in ("starting", "listening")
        if running:
            self._pending_capture = path
            self.receiver.stop()
        elif self.receiver.state == "stopping":
            self._pending_capture = path
        else:
            self.start_endpoint()
        self.capture_changed.emit(str(path))

    def _follow(self, path: Path) -> None:
        self._following = path
        self.reader.open(path)

    def start_endpoint(self) -> None:
        if self.capture is None:
            self.open_capture(new_capture_path())
            return
        if self.receiver.state in ("starting", "listening", "stopping"):
            return
        self.message_bar.hide()
        self.receiver.start(self.settings.serve_options(self.capture))

    def _reset_tables(self) -> None:
        self.requests_model.reset()
        for model in self.record_models.values():
            model.reset()
        self._counts = {"requests": 0, "records": 0}
        self._update_counts()
        self._show_empty_detail()

    def _remember_capture(self, path: Path) -> None:
        recent = [p for p in self.settings.recent_captures if p != str(path)]
        self.settings.recent_captures = [str(path), *recent][:MAX_RECENT]
        self.settings.last_capture = str(path)
        self.settings.save()

    # -- receiver and reader signals --------------------------------------------------------

    def _update_state(self, state: str) -> None:
        text, colour = _STATE_TEXT.get(state, (state, "#8b949e"))
        self.state_label.setText(f"● {text}")
        self.state_label.setStyleSheet(f"color: {colour}; font-weight: bold;")
        running = state in ("starting", "listening")
        self.start_action.setEnabled(state in ("stopped", "failed"))
        self.stop_action.setEnabled(running)
        if state != "listening":
            self.url_edit.clear()
        if state == "stopped" and self._pending_capture is not None and not self._quitting:
            self._pending_capture = None
            self.start_endpoint()

    def _on_receiver_listening(self, endpoint: dict) -> None:
        self.url_edit.setText(endpoint["url"])
        hint = (f"Nothing has arrived yet.\n\nPost to {endpoint['url']} (any path), or copy a "
                f"ready-made curl command: Endpoint ▸ Copy curl test command (Ctrl+Shift+C).")
        for view in self.views.values():
            view.set_empty_hint(hint)
        self.url_edit.setCursorPosition(0)
        self.message_bar.hide()
        self.statusBar().showMessage(f"Listening on {endpoint['url']}", 5000)
        # A new capture exists only once the receiver has made it: follow it from now on.
        if self.capture is not None and self._following != self.capture \
                and str(self.capture) == str(Path(endpoint.get("capture", "")).resolve()):
            self._follow(self.capture)

    def _on_receiver_failed(self, message: str) -> None:
        if self._quitting:
            return
        actions: list = [("Restart", self.start_endpoint),
                         ("Settings…", self.settings_action.trigger)]
        if "already in use" in message:
            port = free_port()
            actions.insert(0, (f"Use port {port}", lambda: self._use_port(port)))
        if "being written by another" in message:
            message += ". Following it read-only; new data appears as the other receiver writes."
            actions = [("New capture", self.new_action.trigger)]
        self.message_bar.show_message(f"Endpoint: {message[:1].upper()}{message[1:]}", actions)

    def _use_port(self, port: int) -> None:
        self.settings.port = port
        self.settings.save()
        self.start_endpoint()

    def _on_reader_opened(self, path: str) -> None:
        self.statusBar().showMessage(f"Reading {path}", 3000)

    def _on_reader_open_failed(self, path: str, message: str) -> None:
        self.message_bar.show_message(f"Capture: {message}",
                                      [("New capture", self.new_action.trigger)])

    def _on_reader_tables_updated(self, updates: list[TableUpdate]) -> None:
        for update in updates:
            model = self._model(update.table)
            if update.reset:
                model.reset(update.ids)
            else:
                model.append_ids(update.ids)
            bar = self.filter_bars[update.table]
            self._totals[update.table] = update.total
            self._filtered[update.table] = update.filtered
            if update.reset:
                bar.set_busy(False)
            bar.set_counts(model.rowCount(), update.total, update.seconds)
        self._update_counts()

    def _on_reader_counts_changed(self, requests: int, records: int) -> None:
        self._counts = {"requests": requests, "records": records}
        self._update_counts()

    def _model(self, table: str) -> CaptureTableModel:
        return self.requests_model if table == "requests" else self.record_models[table]

    def _on_filter_bar_filter_changed(self, table: str, flt: Filter) -> None:
        self.filter_bars[table].set_busy(True)
        self.reader.set_filter(table, flt)

    def _on_reader_value_filter_ready(self, table: str, expr: str, exclude: bool) -> None:
        self.filter_bars[table].add_condition(expr, exclude)

    def _on_reader_completions_ready(self, values: dict) -> None:
        for bar in self.filter_bars.values():
            bar.set_completions(values)

    def _update_counts(self) -> None:
        self.counter_label.setText(f"{self._counts['requests']:,} requests · "
                                   f"{self._counts['records']:,} records")
        titles = {"requests": "Requests", **{tab.key: tab.title for tab in RECORD_TABS}}
        for number, (table, title) in enumerate(titles.items()):
            count = self._model(table).rowCount()
            total = self._totals.get(table, count)
            shown = f"{count:,} of {total:,}" if self._filtered.get(table) else f"{count:,}"
            self.tabs.setTabText(number, f"{title} ({shown})")

    def show_error(self, message: str) -> None:
        """Show a failure in the message bar (plain text): something did not happen."""
        self.message_bar.show_message(plain(message))

    def _on_reader_job_failed(self, message: str) -> None:
        self.show_error(message)

    def _on_reader_notice(self, message: str) -> None:
        self.message_bar.show_message(plain(message), error=False)

    def _on_receiver_notice(self, message: str) -> None:
        self.message_bar.show_message(plain(message), error=False)

    def _on_child_failed(self, message: str) -> None:
        self.show_error(message)

    def _on_reader_saved(self, target: str, error: str) -> None:
        if error:
            box = QMessageBox(QMessageBox.Icon.Warning, "Save capture as",
                              plain(f"Could not save {target}:\n{error}"),
                              QMessageBox.StandardButton.Ok, self)
            box.setTextFormat(Qt.TextFormat.PlainText)
            box.exec()
            box.deleteLater()
        else:
            self.statusBar().showMessage(f"Saved a copy of the capture to {target}", 5000)

    # -- detail -----------------------------------------------------------------------------

    def _current_view(self) -> RecordTableView:
        return list(self.views.values())[self.tabs.currentIndex()]

    def _on_view_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        model = current.model()
        item_id = model.id_at(current.row())
        if model.table == "requests":
            self.reader.fetch_request(item_id)
        else:
            self.reader.fetch_record(item_id)

    def _on_reader_detail_ready(self, detail: Detail) -> None:
        if detail.mask != self._mask_key:
            return  # rendered before the mask was switched: a fresh one is on its way
        if detail.kind == "request" and self._jump_to_records_of == detail.item_id:
            self._jump_to_records_of = None
            self._select_records(detail.first_record, detail.record_count)
        self._detail_kind = detail.kind
        self._detail_request = detail.request_id
        self.detail_title.setText(detail.title)
        if detail.kind == "record":
            self.info_text.hide()
            self.jump_button.setText("Show its request")
        else:
            self.info_text.setPlainText(detail.info)
            self.info_text.show()
            self.jump_button.setText("Show its records")
        self.jump_button.setVisible(detail.request_id is not None)
        # The title stands in the header above, beside the jump button.
        if detail.is_json:
            self.detail.show_value(detail.value, detail.raw_text)
        else:
            self.detail.show_text(detail.raw_text, "", detail.note)

    def _show_empty_detail(self) -> None:
        self._detail_kind = None
        self._detail_request = None
        self.detail_title.setText("Select a request or a record to see it here.")
        self.info_text.hide()
        self.jump_button.hide()
        self.detail.clear()

    def _on_detail_copied(self, message: str) -> None:
        self.statusBar().showMessage(message, 3000)

    def _on_jump_button_clicked(self) -> None:
        if self._detail_kind == "record":
            self._on_show_request_triggered()
        else:
            self._on_show_records_triggered()

    def _on_show_request_triggered(self) -> None:
        if self._detail_kind != "record" or self._detail_request is None:
            return
        self.show_request(self._detail_request)

    def _on_show_records_triggered(self) -> None:
        if self._detail_kind != "request" or self._detail_request is None:
            return
        self.show_records_of(self._detail_request)

    def show_request(self, request_id: int) -> None:
        row = self.requests_model.row_of(request_id)
        if row is None:
            return
        self.tabs.setCurrentIndex(0)
        self._select_rows(self.views["requests"], row, row)

    def show_records_of(self, request_id: int) -> None:
        """Select the records of a request, in the tab of its first record's family.

        Where they are comes with the request's detail from the reader thread, so this asks
        for it and finishes in :meth:`_on_reader_detail_ready`.
        """
        self._jump_to_records_of = request_id
        self.reader.fetch_request(request_id)

    def _select_records(self, first: int | None, count: int) -> None:
        if first is None or not count:
            self.statusBar().showMessage("This request has no records.", 3000)
            return
        for number, tab in enumerate(RECORD_TABS, start=1):
            model = self.record_models[tab.key]
            row = model.first_row_at_or_after(first)
            if row is None or model.id_at(row) >= first + count:
                continue
            last = row
            while last + 1 < model.rowCount() and model.id_at(last + 1) < first + count:
                last += 1
            self.tabs.setCurrentIndex(number)
            self._select_rows(self.views[tab.key], row, last)
            return

    def _select_rows(self, view: RecordTableView, first: int, last: int) -> None:
        model = view.model()
        view.clearSelection()
        view.setCurrentIndex(model.index(first, 0))
        selection = view.selectionModel()
        top, bottom = model.index(first, 0), model.index(last, model.columnCount() - 1)
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        selection.select(QItemSelection(top, bottom), flags)
        view.scrollTo(model.index(first, 0), QAbstractItemView.ScrollHint.PositionAtCenter)
        view.setFocus()

    def _on_view_context_menu_requested(self, pos) -> None:
        view = self._current_view()
        index = view.indexAt(pos)
        if not index.isValid():
            return
        view.setCurrentIndex(index)
        menu = self.context_menu(view, index)
        menu.exec(view.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def context_menu(self, view: RecordTableView, index: QModelIndex) -> QMenu:
        """The menu of a table cell (the caller shows it and deletes it)."""
        menu = QMenu(self)
        if view.model().table == "requests":
            menu.addAction(self.show_records_action)
        else:
            menu.addAction(self.show_request_action)
        table = view.model().table
        field = self._column_field(table, index.column())
        if field is not None:
            item_id = view.model().id_at(index.row())
            menu.addSeparator()
            on = menu.addAction(f"Filter on this value ({field})")
            on.triggered.connect(
                lambda: self.reader.value_filter(table, item_id, field, False))
            off = menu.addAction(f"Exclude this value ({field})")
            off.triggered.connect(
                lambda: self.reader.value_filter(table, item_id, field, True))
            if self._mask_key is not None and field in MASKED_FIELDS:
                # The filter bar would have to show the real value the table hides; a filter
                # on the pseudonym would match nothing. Type it yourself with masking off.
                for action in (on, off):
                    action.setEnabled(False)
                    action.setText(f"{action.text()}: not while identifiers are masked")
        menu.addSeparator()
        menu.addAction(self.copy_as_curl_action)
        menu.addAction(self.export_action)
        cell = index.data()
        if cell:
            copy = menu.addAction("Copy cell")
            copy.triggered.connect(lambda: self._copy(str(cell), "Copied the cell"))
        return menu

    # -- actions ----------------------------------------------------------------------------

    def _column_field(self, table: str, column: int) -> str | None:
        if table == "requests":
            return REQUEST_COLUMN_FIELDS[column] if column < len(REQUEST_COLUMN_FIELDS) else None
        columns = self.record_models[table].columns
        if column >= len(columns) or columns[column].name == "keys":
            return None
        return columns[column].filter_field

    def _on_new_action_triggered(self) -> None:
        self.open_capture(new_capture_path())

    def _on_clear_action_triggered(self) -> None:
        old = self.capture
        self.open_capture(new_capture_path())
        if old is not None:
            self.statusBar().showMessage(f"Cleared; the previous capture stays in {old}", 6000)

    def _on_open_action_triggered(self) -> None:
        start = str(self.capture.parent) if self.capture else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open capture", start,
                                              "Captures (*.sqlite *.db);;All files (*)")
        if path:
            self.open_capture(Path(path))

    def _on_recent_menu_about_to_show(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_captures:
            action = self.recent_menu.addAction(path)
            action.setEnabled(Path(path).exists())
            action.triggered.connect(lambda _=False, p=path: self.open_capture(Path(p)))
        if not self.settings.recent_captures:
            self.recent_menu.addAction("(none)").setEnabled(False)

    def _on_save_action_triggered(self) -> None:
        if self.capture is None:
            return
        target, _ = QFileDialog.getSaveFileName(self, "Save capture as",
                                                str(self.capture.with_name("copy.sqlite")),
                                                "Captures (*.sqlite)")
        if target:
            self.reader.save_as(Path(target))

    def _on_start_action_triggered(self) -> None:
        self.start_endpoint()

    def _on_stop_action_triggered(self) -> None:
        self._pending_capture = None
        self.receiver.stop()

    def _on_settings_action_triggered(self) -> None:
        dialog = EndpointDialog(self.settings, self)
        if dialog.exec():
            self.settings = dialog.settings()
            self.settings.save()
            self.restart_endpoint()
        dialog.deleteLater()

    def restart_endpoint(self) -> None:
        if self.receiver.state in ("starting", "listening"):
            self._pending_capture = self.capture
            self.receiver.stop()
        else:
            self.start_endpoint()

    def _on_portal_action_triggered(self) -> None:
        endpoint = self.receiver.endpoint or {}
        if not endpoint:
            self.statusBar().showMessage("Start the endpoint first.", 4000)
            return
        dialog = PortalDialog(endpoint["url"], endpoint.get("auth_header"), endpoint["curl"],
                              self.settings.path_hint, self,
                              masked=self.mask_action.isChecked(),
                              password=self.settings.password or None)
        dialog.copied.connect(self._on_detail_copied)
        dialog.exec()
        dialog.deleteLater()

    def _on_copy_url_action_triggered(self) -> None:
        if self.url_edit.text():
            self._copy(self.url_edit.text(), "Copied the endpoint URL")

    def _on_copy_curl_triggered(self) -> None:
        endpoint = self.receiver.endpoint
        if endpoint:
            self._copy(endpoint["curl"], "Copied a curl command that posts a sample event")

    def _copy(self, text: str, message: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.statusBar().showMessage(message, 3000)

    # -- replay -----------------------------------------------------------------------------

    def _local_target(self) -> dict | None:
        endpoint = self.receiver.endpoint
        if not endpoint:
            self.statusBar().showMessage("Start the endpoint first.", 4000)
            return None
        auth = self.settings.auth_enabled
        return {"url": endpoint["url"], "ca_file": endpoint.get("ca_file"),
                "user": self.settings.user if auth else None,
                "password": self.settings.password if auth else None}

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
        self.statusBar().showMessage(f"Sending the sample {name}…", 3000)
        self.sample_run.start(args, target["password"])

    def _on_sample_run_event(self, event: dict) -> None:
        if event.get("event") == "report":
            self.statusBar().showMessage(
                f"Sample sent: {event.get('records_acknowledged', 0)} of "
                f"{event.get('records_sent', 0)} records acknowledged ({event.get('state')})",
                5000)

    def copy_sample(self, name: str) -> None:
        """Put a cURL command posting a sample to this endpoint on the clipboard (built on
        the reader thread: the full batch is generated, not stored)."""
        target = self._local_target()
        if target is not None:
            self.reader.copy_sample_as_curl(name, target)

    def _on_copy_as_curl_triggered(self) -> None:
        target = self._local_target()
        if target is None:
            return
        view = self._current_view()
        rows = sorted({i.row() for i in view.selectionModel().selectedRows()})
        if not rows and view.currentIndex().isValid():
            rows = [view.currentIndex().row()]
        if not rows:
            self.statusBar().showMessage("Select records or a request first.", 3000)
            return
        model = view.model()
        ids = [model.id_at(r) for r in rows][:100_000]
        self.reader.copy_as_curl(model.table, ids[:1] if model.table == "requests" else ids,
                                 target)

    def _on_reader_text_ready(self, text: str, message: str) -> None:
        if text:
            self._copy(text, message)

    def _on_paste_curl_triggered(self) -> None:
        dialog = CurlDialog(self.receiver.endpoint, self.settings.user, self.settings.password,
                            self, QGuiApplication.clipboard().text()
                            if QGuiApplication.clipboard().text().lstrip().startswith("curl")
                            else "")
        dialog.failed.connect(self._on_child_failed)
        dialog.exec()
        dialog.deleteLater()

    def _on_send_action_triggered(self) -> None:
        view = self._current_view()
        table = view.model().table
        rows = sorted({i.row() for i in view.selectionModel().selectedRows()})
        if table != "requests" and rows:
            path = self._send_tmp / "selection.ndjson"
            self.reader.write_records([view.model().id_at(r) for r in rows], path)
            return  # the dialog opens when the reader has written them
        self._open_send_dialog(None, 0)

    def _on_reader_records_written(self, path: str, count: int) -> None:
        self._open_send_dialog(path, count)

    def _open_send_dialog(self, selection: str | None, count: int) -> None:
        sources: dict[str, tuple[list[str], str]] = {}
        if selection:
            noun = "record" if count == 1 else "records"
            sources[f"The {count:,} selected {noun}"] = (["--file", selection],
                                                          "As they were received.")
        table = self._current_view().model().table
        if table != "requests" and self.capture is not None:
            tab = next(t for t in RECORD_TABS if t.key == table)
            families = " or ".join(f"family == {f}" for f in tab.families)
            text = self.filter_bars[table].current_filter().text.strip()
            expr = f"({families}) and ({text})" if text else f"({families})"
            shown = self._model(table).rowCount()
            sources[f"The {tab.title} table as filtered ({shown:,} records)"] = (
                ["--capture", str(self.capture), "--filter", expr], f"Filter: {expr}")
        dialog = SendDialog(self.receiver.endpoint, self.settings.user, self.settings.password,
                            sources, self)
        dialog.failed.connect(self._on_child_failed)
        dialog.exec()
        dialog.deleteLater()

    # -- import, export, masking -------------------------------------------------------------

    def import_file(self, path: Path) -> None:
        """Import a file into the capture, through the receiver (the capture's only writer)."""
        self._imports += 1
        command = {"command": "import", "path": str(path), "id": self._imports}
        if not self.receiver.send_command(command):
            self.message_bar.show_message(
                "Import: the endpoint must be running to import into this capture (it is the "
                "capture's only writer). Start it and drop the file again.",
                [("Start endpoint", self.start_endpoint)])
            return
        self.statusBar().showMessage(f"Importing {path.name}…")

    def _on_receiver_import_event(self, event: dict) -> None:
        name = Path(event.get("path", "")).name
        state = event.get("state")
        if state == "failed":
            message = str(event.get("message") or "it failed").rstrip(".")
            self.message_bar.show_message(plain(f"Import of {name} failed: {message}. Nothing "
                                                f"was imported."))
        elif state in ("started", "progress"):
            done, total = event.get("done_records", 0), event.get("records", 0)
            self.statusBar().showMessage(f"Importing {name}: {done:,} of {total:,} records…")
        elif state == "done":
            self.statusBar().showMessage(
                f"Imported {event.get('done_records', 0):,} records from {name} "
                f"({event.get('kind')}), marked as imported", 8000)
        elif state == "cancelled":
            self.message_bar.show_message(
                f"Import of {name} cancelled after {event.get('done_records', 0):,} of "
                f"{event.get('records', 0):,} records.", error=False)

    def _on_import_action_triggered(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import into this capture", "",
            "Records, HAR or captures (*.json *.ndjson *.jsonl *.har *.sqlite);;All files (*)")
        if path:
            self.import_file(Path(path))

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and all(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            self.import_file(Path(url.toLocalFile()))
        event.acceptProposedAction()

    def _on_reader_identity_ready(self, identity: str) -> None:
        self._identity = identity
        self._apply_mask()

    def _on_mask_action_toggled(self, on: bool = False) -> None:
        self.settings.mask_view = self.mask_action.isChecked()
        self.settings.save()
        self._apply_mask()

    def _apply_mask(self) -> None:
        key = None
        if self.mask_action.isChecked() and self._identity is not None:
            key = self.settings.mask_keys.get(self._identity)
            if key is None:
                from app.export.masking import new_key

                key = self.settings.mask_keys[self._identity] = new_key()
                self.settings.save()
        self._mask_key = key
        self.reader.set_mask(key)
        for table in self.views:
            self._model(table).invalidate()
        view = self._current_view()
        if view.currentIndex().isValid():
            self._on_view_current_row_changed(view.currentIndex(), view.currentIndex())

    def _on_export_action_triggered(self) -> None:
        if self.capture is None:
            return
        view = self._current_view()
        table = view.model().table
        scopes: dict[str, list[str]] = {}
        text = self.filter_bars[table].current_filter().text.strip()
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
            ids_path = self._send_tmp / f"export-ids-{table}.txt"
            option = "--request-ids-file" if table == "requests" else "--ids-file"
            noun = "requests" if table == "requests" else "records"
            scopes[f"The {len(rows):,} selected {noun}"] = [option, str(ids_path)]
            self._export_scopes = (str(ids_path), scopes, table)
            self.reader.write_ids([view.model().id_at(r) for r in rows], ids_path, table)
            return
        self._open_export_dialog(scopes, 1 if text and table != "requests" else 0)

    def _on_reader_ids_written(self, path: str, _table: str) -> None:
        pending, self._export_scopes = self._export_scopes, None
        if pending is None or pending[0] != path:
            return
        self._open_export_dialog(pending[1], len(pending[1]) - 1)

    def _open_export_dialog(self, scopes: dict[str, list[str]], current: int) -> None:
        if self.capture is None:
            return
        dialog = ExportDialog(self.capture, scopes, self.mask_action.isChecked(), self)
        dialog.failed.connect(self._on_child_failed)
        dialog.scope.setCurrentIndex(current)
        self.export_dialog = dialog  # for tests and for the user's next look
        dialog.exec()
        dialog.deleteLater()
        self.export_dialog = None

    def _on_about_action_triggered(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle(f"About {APP_TITLE}")
        box.setIconPixmap(self.windowIcon().pixmap(64, 64))
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(f"{APP_TITLE} {__version__}")
        box.setInformativeText(
            "A local HTTPS endpoint and live inspector for the 1NCE Data Streamer.\n\n"
            "Licence: MIT.\n\nBuilt with: Qt 6 and Qt for Python (PySide6), LGPL-3.0; aiohttp, "
            "Apache-2.0; cryptography, Apache-2.0 or BSD; orjson, "
            "Apache-2.0 or MIT; pysimdjson, MIT (simdjson, Apache-2.0); platformdirs, MIT; "
            "SQLite, public domain; Python, PSF licence.")
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.exec()
        box.deleteLater()

    def refresh_colours(self, *_args) -> None:
        """Repaint what carries colours derived from the palette (after a scheme change)."""
        for view in self.views.values():
            view.viewport().update()

    # -- layout persistence and closing -----------------------------------------------------

    def _restore_layout(self) -> None:
        ui = self.settings.ui
        geometry = _decode(ui.get("geometry"))
        if geometry is not None:
            self.restoreGeometry(geometry)
        splitter = _decode(ui.get("splitter"))
        if splitter is not None:
            self.splitter.restoreState(splitter)
        for key, view in self.views.items():
            state = _decode(ui.get(f"columns.{key}"))
            if state is not None:
                view.horizontalHeader().restoreState(state)
        self.tabs.setCurrentIndex(int(ui.get("tab", "0") or 0) % self.tabs.count())
        for table, text in self.settings.table_filters.items():
            if table in self.filter_bars:
                self.filter_bars[table].set_text(text)

    def save_layout(self) -> None:
        ui = dict(self.settings.ui)
        ui["geometry"] = _encode(self.saveGeometry())
        ui["splitter"] = _encode(self.splitter.saveState())
        for key, view in self.views.items():
            ui[f"columns.{key}"] = _encode(view.horizontalHeader().saveState())
        ui["tab"] = str(self.tabs.currentIndex())
        self.settings.ui = ui
        self.settings.table_filters = {t: bar.current_filter().text
                                       for t, bar in self.filter_bars.items()
                                       if not bar.current_filter().is_empty}
        self.settings.save()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._quitting = True
        self.save_layout()
        self.receiver.wait_stopped(10000)
        self.reader.stop()
        shutil.rmtree(self._send_tmp, ignore_errors=True)
        event.accept()
        self.closed.emit()

