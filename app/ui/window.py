"""The main window: its layout, actions, menus and toolbar, the live tables and the JSON
detail pane.

The window owns no I/O: the :class:`~app.ui.receiver.ReceiverProcess` runs the endpoint in a
child process and the :class:`~app.ui.reader.CaptureReader` reads the capture on its thread;
both are handed in by the composition root (``app.ui.application``), which also makes the
controllers that act on the window's actions: :mod:`app.ui.capturefile` (which capture),
:mod:`app.ui.endpoint` (the receiver) and :mod:`app.ui.transfers` (replay, import, export).
"""

from __future__ import annotations

import base64
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
)
from PySide6.QtWidgets import (
    QAbstractItemDelegate,
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import APP_TITLE, __version__
from app.config import Settings
from app.display import counted
from app.filters.planner import Filter
from app.filters.terms import search_terms
from app.records.cells import zone_name
from app.records.columns import RECORD_TABS
from app.ui.columns import ColumnChooser
from app.ui.detail import JsonDetail
from app.ui.empty import empty_message
from app.ui.filterbar import FilterBar
from app.ui.help import HelpController
from app.ui.highlight import SearchHighlightDelegate
from app.ui.models import CaptureTableModel, RecordsModel, RequestsModel
from app.ui.reader import REQUEST_COLUMN_FIELDS, CaptureReader, Detail, TableUpdate
from app.ui.receiver import ReceiverProcess
from app.ui.redeliveries import RedeliveriesView
from app.ui.shortcuts import ShortcutRouter
from app.ui.simtest import SimTestPanel
from app.ui.stats import StatsView
from app.ui.values import plain
from app.ui.widgets import MessageBar, RecordTableView, SortBar

# Columns (by filter field) whose values masking replaces: "filter on this value" is off for
# them while masking is on (the reader also refuses any other expression that would reveal).
MASKED_FIELDS = frozenset({"iccid", "imsi", "msisdn", "imei", "endpoint", "from", "to", "peer"})


def _encode(data: QByteArray) -> str:
    return base64.b64encode(bytes(data.data())).decode("ascii")


def _decode(text: str | None) -> QByteArray | None:
    if not text:
        return None
    try:
        return QByteArray(base64.b64decode(text))
    except ValueError:
        return None


class _ElidedLabel(QLabel):
    """A plain-text label at most ``width`` pixels wide, cutting its text in the middle (a
    dated capture name keeps its date and its extension)."""

    def __init__(self, width: int, parent: QWidget):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self._width = width
        self.full_text = ""

    def setText(self, text: str) -> None:
        self.full_text = text
        super().setText(self.fontMetrics().elidedText(text, Qt.TextElideMode.ElideMiddle,
                                                      self._width))


class MainWindow(QMainWindow):
    """Streamer Inspector's main window."""

    closed = Signal()  # the window has closed (the receiver and the reader are stopped)
    files_dropped = Signal(list)  # paths of local files dropped on the window (to import)

    def __init__(self, settings: Settings, reader: CaptureReader, receiver: ReceiverProcess,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.reader = reader
        self.receiver = receiver
        self._detail_kind: str | None = None
        self._detail_request: int | None = None
        # The detail asked for last ("record"/"request", id): a late answer to an earlier
        # question (another tab's row) is not shown over it.
        self._detail_wanted: tuple[str, int] | None = None
        # The row whose detail was shown until a filter hid it: (table, kind, id).
        self._hidden_detail: tuple[str, str, int] | None = None
        self._reselecting = False  # the shown row selected again after its table changed
        self._counts = {"requests": 0, "records": 0}
        self.quitting = False  # closing: a receiver that stops or fails now is not restarted
        self._jump_to_records_of: int | None = None
        self._totals: dict[str, int] = {}  # rows per table without its filter
        self._filtered: dict[str, bool] = {}
        self.setWindowTitle(APP_TITLE)
        self.resize(1280, 800)
        self.setAcceptDrops(True)
        self._identity: str | None = None
        self._mask_key: str | None = None  # the key the tables are masked with now
        self.error_reporter: QObject | None = None  # set by the composition root
        # The controllers, made and wired by the composition root (app.ui.application).
        self.capture_file = None
        self.endpoint = None
        self.transfers = None
        self.answers = None

        self.requests_model = RequestsModel(reader, self)
        self.record_models = {tab.key: RecordsModel(tab.key, tab.view_columns, reader, self)
                              for tab in RECORD_TABS}
        self._build_actions()
        self._build_toolbar()
        self._build_central()
        self._build_menus()
        # Every shortcut works whatever has focus (a filter bar's field claimed Ctrl+E).
        self.shortcut_router = ShortcutRouter(self)
        self.statusBar().showMessage("Ready", 3000)
        self._restore_layout()
        for chooser in self.column_choosers.values():  # by column name, over the header states
            chooser.restore()
        self._wire()

    @property
    def capture(self) -> Path | None:
        """The capture shown (and written by the endpoint)."""
        return self.capture_file.path if self.capture_file is not None else None

    def open_capture(self, path: Path) -> None:
        """Show ``path`` and let the endpoint write into it."""
        self.capture_file.open(path)

    # -- construction -----------------------------------------------------------------------

    def _action(self, text: str, slot=None, shortcut=None, tip: str = "") -> QAction:
        """An action; one without ``slot`` is handled by a controller."""
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        if slot is not None:
            action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        a = self._action
        key = QKeySequence.StandardKey
        self.new_action = a("&New capture", None, key.New,
                            "Start a new, empty capture file")
        self.open_action = a("&Open capture…", None, key.Open,
                             "Open a capture file; the endpoint goes on writing into it")
        self.save_action = a("&Save capture as…", None, key.SaveAs,
                             "Copy the capture (a consistent snapshot) to another file")
        self.clear_action = a("C&lear", None, "Ctrl+L",
                              "Empty the tables by starting a new capture (the old file stays)")
        self.quit_action = a("&Quit", self.close, key.Quit)
        self.start_action = a("&Start endpoint", None, "Ctrl+R",
                              "Start the receiving endpoint")
        self.stop_action = a("S&top endpoint", None, "Ctrl+Shift+R",
                             "Stop the receiving endpoint")
        self.settings_action = a("Endpoint &settings…", None,
                                 key.Preferences if not QKeySequence(key.Preferences).isEmpty()
                                 else "Ctrl+,", "Port, address, TLS, credentials, body limit")
        self.portal_action = a("1NCE &Portal setup…", None, "F2",
                               "What to type into the 1NCE Portal, and a curl test command")
        self.copy_url_action = a("Copy endpoint &URL", None,
                                 "Ctrl+Shift+U", "Copy the endpoint URL")
        self.copy_curl_action = a("Copy &curl test command", None,
                                  "Ctrl+Shift+C", "Copy a curl command posting a sample event")
        self.expose_action = a("E&xpose publicly…", None, "Ctrl+Shift+P",
                               "Give the endpoint a public https:// URL (cloudflared, ngrok, "
                               "SSH or your own) that the real Data Streamer can post to")
        self.unexpose_action = a("Stop e&xposing", None, None,
                                 "Close the public URL; the endpoint stays on this computer")
        self.unexpose_action.setEnabled(False)
        self.copy_public_url_action = a("Copy p&ublic URL", None, None,
                                        "Copy the public URL")
        self.copy_public_url_action.setEnabled(False)
        self.copy_public_url_action.setIconText("Copy")  # its toolbar button
        self.show_request_action = a("Show its &request", self._on_show_request_triggered,
                                     "Ctrl+J", "Go to the POST this record came in")
        self.show_records_action = a("Show its rec&ords", self._on_show_records_triggered,
                                     "Ctrl+K", "Go to the records of this request")
        self.about_action = a("&About", self._on_about_action_triggered)
        self.export_action = a("&Export…", None, "Ctrl+E",
                               "Export records or requests: JSON, NDJSON, CSV, HAR, Postman")
        self.import_action = a("&Import…", None, "Ctrl+I",
                               "Import a JSON list, NDJSON, HAR or capture file into this "
                               "capture (or drop the file on the window)")
        self.mask_action = a("&Mask identifiers", self._on_mask_action_toggled, "Ctrl+M",
                             "Show ICCID, IMSI, MSISDN, IMEI, IP addresses and organisation "
                             "names as consistent pseudonyms, for demos")
        self.mask_action.setCheckable(True)
        self.mask_action.setChecked(self.settings.mask_view)
        self.paste_curl_action = a("&Paste a cURL command…", None,
                                   "Ctrl+Shift+V", "Parse, edit and send a cURL command")
        self.send_action = a("Send like the &Data Streamer…", None,
                             "Ctrl+Shift+D", "Send records in batches, as the streamer does, "
                                             "to this endpoint or your own backend")
        self.copy_as_curl_action = a("Copy as c&URL", None,
                                     "Ctrl+Alt+C", "Copy the selected records (or request) "
                                                   "as a cURL command")
        # Answer rules (app.ui.answers): the switch is checked while the receiver says so.
        self.pause_action = a("&Pause acknowledgements", None, "Ctrl+Shift+A",
                              "Answer every valid batch 503 (still storing it), so the Data "
                              "Streamer keeps its records and sends them again later")
        self.pause_action.setCheckable(True)
        self.pause_action.setIconText("Pause acks")
        self.pause_action.setEnabled(False)
        self.rules_action = a("Answer &rules…", None, None,
                              "Rules that answer POSTs like a failing backend: errors, "
                              "redirects, delays, dropped connections")

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
        self.url_edit.setMinimumWidth(190)
        self.url_edit.setMaximumWidth(340)
        self.url_edit.setToolTip("The endpoint URL")
        bar.addWidget(self.url_edit)
        copy = QToolButton(self)
        copy.setDefaultAction(self.copy_url_action)
        copy.setText("Copy")
        bar.addWidget(copy)
        bar.addSeparator()
        bar.addAction(self.expose_action)
        self.public_state_label = QLabel(self)
        self.public_state_label.setObjectName("public_state")
        self.public_state_label.setTextFormat(Qt.TextFormat.PlainText)
        self.public_state_label.setMaximumWidth(360)
        self.public_url_edit = QLineEdit(self)
        self.public_url_edit.setObjectName("public_url")
        self.public_url_edit.setReadOnly(True)
        self.public_url_edit.setMinimumWidth(200)
        self.public_url_edit.setMaximumWidth(300)
        self.public_url_edit.setToolTip("The public URL: the API Callback in the 1NCE Portal "
                                        "(with the path)")
        public_copy = QToolButton(self)
        public_copy.setDefaultAction(self.copy_public_url_action)
        # Shown while the endpoint is exposed (or trying to be).
        self.public_widgets = [bar.addWidget(w) for w in
                               (self.public_state_label, self.public_url_edit, public_copy)]
        for action in self.public_widgets:
            action.setVisible(False)
        bar.addSeparator()
        # Short toolbar texts (the menus and tooltips keep the full ones): the toolbar fits
        # 1024 px (issue 15: it overflowed by 175 px). While exposed, what does not fit goes
        # to the toolbar's » menu.
        self.start_action.setIconText("Start")
        self.stop_action.setIconText("Stop")
        self.expose_action.setIconText("Expose…")
        self.settings_action.setIconText("Settings")
        self.portal_action.setIconText("1NCE Portal")
        bar.addAction(self.settings_action)
        bar.addAction(self.portal_action)
        bar.addSeparator()
        bar.addAction(self.pause_action)
        pause = bar.widgetForAction(self.pause_action)
        pause.setObjectName("pause_button")  # amber while acknowledgements are paused
        # (not bold: a font set for :checked does not resize the button, the text would be cut)
        pause.setStyleSheet("#pause_button:checked { background-color: #d29922; color: #1f2328;"
                            " border-radius: 3px; }")
        # Opens the rules dialog: "Rules…", or "Rules: 2" in amber while any is in force.
        self.rules_indicator = QToolButton(self)
        self.rules_indicator.setObjectName("rules_indicator")
        self.rules_indicator.setText("Rules…")
        self.rules_indicator_action = bar.addWidget(self.rules_indicator)
        # The counts and the capture's name stand at the right of the status bar, as in
        # Wireshark: in the toolbar they pushed it past 1024 px (issue 15).
        self.counter_label = QLabel(self)
        self.counter_label.setTextFormat(Qt.TextFormat.PlainText)
        self.capture_label = _ElidedLabel(220, self)  # the whole path in its tooltip
        self.statusBar().addPermanentWidget(self.counter_label)
        self.statusBar().addPermanentWidget(self.capture_label)

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
        self.highlighters: dict[str, SearchHighlightDelegate] = {}  # per table, set while the
        self._plain_delegates: dict[str, QAbstractItemDelegate] = {}  # filter has words
        self.column_choosers: dict[str, ColumnChooser] = {}
        self.filter_bars: dict[str, FilterBar] = {}
        widths = (185, 110, 60, 160, 150, 65, 75, 70, 60, 400)
        self._add_page("requests", "Requests", self.requests_model, widths)
        for tab in RECORD_TABS:
            self._add_page(tab.key, tab.title, self.record_models[tab.key],
                           tuple(c.width for c in tab.view_columns))
        # After the tables (their tab numbers stay): what the streamer sent again.
        self.redeliveries = RedeliveriesView(self.tabs)
        self.tabs.addTab(self.redeliveries, "Redeliveries")
        self.tabs.setTabToolTip(self.tabs.count() - 1, "Per unacknowledged batch: when and in "
                                "which later requests its records came back")
        # Charts and tables of the records (app.ui.stats), under a record table's filter.
        self.statistics = StatsView(lambda t: self.filter_bars[t].current_filter(), self.tabs)
        self.tabs.addTab(self.statistics, "Statistics")
        self.tabs.setTabToolTip(self.tabs.count() - 1, "Records over time, top SIMs, data and "
                                "SMS by operator, country and RAT, cost, request sizes, latency")
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
        # A record's redelivery facts (rich text the reader escaped; links select records).
        self.ledger_label = QLabel(right)
        self.ledger_label.setObjectName("ledgerFacts")
        self.ledger_label.setTextFormat(Qt.TextFormat.RichText)
        self.ledger_label.setWordWrap(True)
        self.ledger_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByKeyboard)
        self.ledger_label.linkActivated.connect(self._on_ledger_label_link_activated)
        self.ledger_label.hide()
        right_layout.addWidget(self.ledger_label)
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
        self.sim_test = SimTestPanel(self)
        self.sim_test.toggleViewAction().setStatusTip(
            "The vendor's 1NCE SIM Device test as a checklist that ticks itself")
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.sim_test)
        self.sim_test.hide()

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
        # The filter's words are marked by a delegate that paints in Python: set only while
        # the filter has words (Qt's own delegate paints the cells otherwise: ~10 ms less per
        # frame while batches stream in, benchmarks/gui.py).
        self.highlighters[table] = SearchHighlightDelegate(view)
        self._plain_delegates[table] = view.itemDelegate()
        view.empty_state.clear_filter_clicked.connect(
            lambda t=table: self.filter_bars[t].set_text(""))
        sort_bar = SortBar(page)  # rows that came after the sort, outside it
        model.outside_changed.connect(sort_bar.set_outside)
        sort_bar.sort_again_clicked.connect(model.sort_again)
        sort_bar.arrival_order_clicked.connect(
            lambda v=view: v.horizontalHeader().setSortIndicator(
                -1, Qt.SortOrder.AscendingOrder))
        model.sort_changed.connect(
            lambda busy, text, v=view: self._on_model_sort_changed(v, busy, text))
        layout.addWidget(sort_bar)
        layout.addWidget(view, 1)
        self.filter_bars[table] = bar
        self.views[table] = view
        # Right-click the header: which columns it shows, remembered (app.ui.columns).
        self.column_choosers[table] = ColumnChooser(table, view, self.settings, self.reader, self)
        self.tabs.addTab(page, title)

    def _on_model_sort_changed(self, view: RecordTableView, busy: bool, text: str) -> None:
        """A table's sort was asked for, done or refused: say so; once done, keep the
        current row in sight (it stayed selected, on the same record)."""
        model = view.model()
        header = view.horizontalHeader()
        key = model.sort_key
        column = model.sort_column()
        order = (Qt.SortOrder.DescendingOrder if key is not None and key.descending
                 else Qt.SortOrder.AscendingOrder)
        if (header.sortIndicatorSection(), header.sortIndicatorOrder()) != (column, order):
            header.blockSignals(True)  # refused or failed: the indicator shows what is
            header.setSortIndicator(column, order)
            header.blockSignals(False)
        if not busy and key is not None and view.currentIndex().isValid():
            view.scrollTo(view.currentIndex(), QAbstractItemView.ScrollHint.PositionAtCenter)
        if text:
            self.statusBar().showMessage(text, 0 if busy else 4000)

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.new_action)
        menu.addAction(self.open_action)
        self.recent_menu = menu.addMenu("Open &recent")
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
                       self.portal_action, None, self.pause_action, self.rules_action,
                       None, self.expose_action, self.unexpose_action,
                       self.copy_public_url_action, None, self.copy_url_action,
                       self.copy_curl_action, None, self.sim_test.toggleViewAction()):
            menu.addSeparator() if action is None else menu.addAction(action)
        menu = self.menuBar().addMenu("&Replay")
        self.samples_menu = menu.addMenu("Send a &sample")  # filled by the transfers
        self.copy_sample_menu = menu.addMenu("Copy a sample as c&URL")
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
        redeliveries = QAction("Redeliveries", self)
        redeliveries.setShortcut(QKeySequence(f"Ctrl+{self.tabs.indexOf(self.redeliveries) + 1}"))
        redeliveries.triggered.connect(lambda: self.tabs.setCurrentWidget(self.redeliveries))
        menu.addAction(redeliveries)
        self.statistics_action = QAction("Statistics", self)
        self.statistics_action.setShortcut(QKeySequence(
            f"Ctrl+{self.tabs.indexOf(self.statistics) + 1}"))
        self.statistics_action.setStatusTip("Charts of the records, each with its numbers")
        self.statistics_action.triggered.connect(
            lambda: self.tabs.setCurrentWidget(self.statistics))
        menu.addAction(self.statistics_action)
        menu.addSeparator()
        menu.addAction(self.sim_test.toggleViewAction())
        menu.addAction(self.mask_action)
        self.local_times_action = self._action(
            "Times in &local time", self._apply_times,
            tip="Show the tables' times in this computer's time zone (off: in UTC); the "
                "headers name the zone, a time's tooltip gives it as sent")
        self.local_times_action.setCheckable(True)
        self.local_times_action.setChecked(self.settings.local_times)
        self._apply_times()
        menu.addAction(self.local_times_action)
        self.theme_menu = menu.addMenu("&Theme")  # System, Light, Dark: app.ui.theme's
        menu.addSeparator()
        menu.addAction(self.show_request_action)
        menu.addAction(self.show_records_action)
        menu = self.menuBar().addMenu("&Help")
        self.help = HelpController(self, menu)  # shortcuts, the pages, Report a problem
        menu.addAction(self.about_action)

    def _wire(self) -> None:
        for view in self.views.values():  # first start: the ways to get data in, as buttons
            view.empty_state.set_start_actions(self.samples_menu, self.paste_curl_action,
                                               self.expose_action, self.portal_action)
        self.reader.tables_updated.connect(self._on_reader_tables_updated)
        self.reader.counts_changed.connect(self._on_reader_counts_changed)
        self.reader.value_filter_ready.connect(self._on_reader_value_filter_ready)
        self.reader.completions_ready.connect(self._on_reader_completions_ready)
        self.reader.names_checked.connect(self._on_reader_names_checked)
        for bar in self.filter_bars.values():  # a name beyond the bars' sample: ask the capture
            bar.names_wanted.connect(self.reader.check_names)
        self.reader.detail_ready.connect(self._on_reader_detail_ready)
        self.detail.copied.connect(self._on_detail_copied)
        self.reader.identity_ready.connect(self._on_reader_identity_ready)
        self.reader.job_failed.connect(self._on_reader_job_failed)
        self.reader.notice.connect(self._on_reader_notice)
        self.reader.checklist_changed.connect(self.sim_test.show_steps)
        self.reader.redeliveries_ready.connect(self.redeliveries.show_report)
        self.redeliveries.shown_changed.connect(self.reader.watch_redeliveries)
        self.redeliveries.request_activated.connect(self.show_request)
        self.redeliveries.request_selected.connect(self._on_redeliveries_request_selected)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.redeliveries.records_wanted.connect(self.show_records_of)
        self.sim_test.iccid_changed.connect(self.reader.set_checklist_sim)
        # The Statistics view: counts on a thread of its own while shown (app.ui.stats).
        self.reader.opened.connect(self.statistics.set_capture)
        self.reader.tables_updated.connect(lambda _updates: self.statistics.records_arrived())
        for table, bar in self.filter_bars.items():
            bar.filter_changed.connect(lambda _f, t=table: self.statistics.filter_changed(t))
        self.statistics.filter_wanted.connect(self._on_statistics_filter_wanted)
        self.statistics.failed.connect(self.show_error)
        self.statistics.shown_changed.connect(self._on_statistics_shown_changed)
        if hasattr(self, "show_sim"):  # the per-SIM view (app.ui.simview)
            self.statistics.sim_wanted.connect(self.show_sim)
            self.statistics.offer_sim_view()
        if self.sim_test.iccid():
            self.reader.set_checklist_sim(self.sim_test.iccid())

    # -- tables -----------------------------------------------------------------------------

    def reset_tables(self) -> None:
        """Empty the tables and the detail (another capture is shown next)."""
        self.requests_model.reset()
        for model in self.record_models.values():
            model.reset()
        self._counts = {"requests": 0, "records": 0}
        self._totals = {}  # (the reader gives the new capture's)
        self._update_counts()
        self._show_empty_detail()
        self.redeliveries.clear()

    def _on_reader_tables_updated(self, updates: list[TableUpdate]) -> None:
        for update in updates:
            model = self.model(update.table)
            if update.reset:
                model.reset(update.ids)
            else:
                model.remove_ids(update.removed)
                model.append_ids(update.ids)
            bar = self.filter_bars[update.table]
            self._totals[update.table] = update.total
            self._filtered[update.table] = update.filtered
            if update.reset:
                bar.set_busy(False)
            bar.set_counts(model.rowCount(), update.total, update.seconds)
        self._follow_detail(updates)
        self._update_counts()

    def _on_reader_counts_changed(self, requests: int, records: int) -> None:
        self._counts = {"requests": requests, "records": records}
        self._update_counts()

    def model(self, table: str) -> CaptureTableModel:
        """The model of ``table`` ("requests" or a record tab's key)."""
        return self.requests_model if table == "requests" else self.record_models[table]

    def _on_filter_bar_filter_changed(self, table: str, flt: Filter) -> None:
        terms = search_terms(flt)
        self.highlighters[table].set_terms(terms)
        view = self.views[table]
        wanted = self.highlighters[table] if terms else self._plain_delegates[table]
        if view.itemDelegate() is not wanted:
            view.setItemDelegate(wanted)
        self.filter_bars[table].set_busy(True)
        self.reader.set_filter(table, flt)

    def _on_reader_value_filter_ready(self, table: str, expr: str, exclude: bool) -> None:
        self.filter_bars[table].add_condition(expr, exclude)

    def _on_reader_completions_ready(self, values: dict) -> None:
        for bar in self.filter_bars.values():
            bar.set_completions(values)

    def _on_reader_names_checked(self, capture: str, answers: dict) -> None:
        for bar in self.filter_bars.values():  # (what one bar asked, every bar may use)
            bar.take_names(capture, answers)

    def _update_counts(self) -> None:
        self.counter_label.setText(f"{counted(self._counts['requests'], 'request')} · "
                                   f"{counted(self._counts['records'], 'record')}")
        titles = {"requests": "Requests", **{tab.key: tab.title for tab in RECORD_TABS}}
        for number, (table, title) in enumerate(titles.items()):
            count = self.model(table).rowCount()
            total = self._totals.get(table, count)
            shown = f"{count:,} of {total:,}" if self._filtered.get(table) else f"{count:,}"
            self.tabs.setTabText(number, f"{title} ({shown})")
        self._update_empty_states(titles)

    def _update_empty_states(self, titles: dict[str, str]) -> None:
        """Tell each empty table why it is empty (nothing arrived, nothing of its kind, or its
        filter hides every row)."""
        record_titles = {tab.key: tab.title for tab in RECORD_TABS}
        for table, view in self.views.items():
            flt = self.filter_bars[table].current_filter()
            view.set_empty_message(empty_message(
                table, titles[table], requests=self._counts["requests"],
                records=self._counts["records"], totals=self._totals, titles=record_titles,
                filter_text="" if flt.is_empty else flt.text))

    def _on_statistics_shown_changed(self, shown: bool) -> None:
        """No record to detail on the Statistics tab: its charts take the detail's room."""
        self.splitter.widget(1).setVisible(not shown)

    def _on_statistics_filter_wanted(self, table: str, expr: str, narrow: bool) -> None:
        """A bar or a row of the Statistics view: its records, in their table."""
        bar = self.filter_bars[table]
        if narrow:
            bar.add_condition(expr)
        else:
            bar.set_text(expr)
        self.tabs.setCurrentWidget(self.views[table].parentWidget())

    def show_error(self, message: str) -> None:
        """Show a failure in the message bar (plain text): something did not happen."""
        self.message_bar.show_message(plain(message))

    def _on_reader_job_failed(self, message: str) -> None:
        self.show_error(message)

    def _on_reader_notice(self, message: str) -> None:
        self.show_notice(message)

    def show_notice(self, message: str) -> None:
        """Show something the user should know (not a failure) in the message bar."""
        self.message_bar.show_message(plain(message), error=False)

    def show_status(self, message: str) -> None:
        """A short note in the status bar."""
        self.statusBar().showMessage(message, 3000)

    # -- detail -----------------------------------------------------------------------------

    def current_view(self) -> RecordTableView:
        """The table view of the current tab."""
        views = list(self.views.values())
        number = self.tabs.currentIndex()  # the Redeliveries tab: the requests
        return views[number] if 0 <= number < len(views) else views[0]

    def _on_view_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid() or self._reselecting:
            return
        model = current.model()
        self._fetch_detail("request" if model.table == "requests" else "record",
                           model.id_at(current.row()))

    def _on_redeliveries_request_selected(self, request_id: int) -> None:
        self._fetch_detail("request", request_id)

    def _fetch_detail(self, kind: str, item_id: int) -> None:
        self._detail_wanted = (kind, item_id)
        self._hidden_detail = None
        if kind == "request":
            self.reader.fetch_request(item_id)
        else:
            self.reader.fetch_record(item_id)

    def _on_tabs_current_changed(self, number: int) -> None:
        """The detail follows the tab: its current row, or that nothing is selected there."""
        if self.tabs.widget(number) is self.redeliveries:
            index = self.redeliveries.table.currentIndex()
            if index.isValid():
                self._fetch_detail("request",
                                   self.redeliveries.model.request_at(index.row()).request_id)
            else:
                self._show_empty_detail("Redeliveries")
            return
        views = list(self.views.values())
        if not 0 <= number < len(views):
            return
        current = views[number].currentIndex()
        if current.isValid():
            self._on_view_current_row_changed(current, current)
        else:
            title = "Requests" if number == 0 else RECORD_TABS[number - 1].title
            self._show_empty_detail(title)

    def _on_reader_detail_ready(self, detail: Detail) -> None:
        if detail.mask != self._mask_key:
            return  # rendered before the mask was switched: a fresh one is on its way
        if detail.kind == "request" and self._jump_to_records_of == detail.item_id:
            self._jump_to_records_of = None
            self._select_records(detail.first_record, detail.record_count)
        if (detail.kind, detail.item_id) != self._detail_wanted:
            return  # another row (or tab) is shown now: its detail is on its way
        self._detail_kind = detail.kind
        self._detail_request = detail.request_id
        self.detail_title.setText(detail.title)
        self.ledger_label.setText(detail.ledger)
        self.ledger_label.setVisible(bool(detail.ledger))
        if detail.kind == "record":  # an MO SMS: its payload decoded
            self.info_text.setPlainText(detail.info)
            self.info_text.setVisible(bool(detail.info))
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

    def _show_empty_detail(self, tab: str = "") -> None:
        """Show no detail; ``tab``: the title of the tab shown, where no row is selected."""
        self._detail_kind = None
        self._detail_request = None
        self._detail_wanted = None
        self._hidden_detail = None
        self.detail_title.setText(
            f"Nothing is selected in {tab}: select a row to see it here." if tab
            else "Select a request or a record to see it here.")
        self.info_text.hide()
        self.ledger_label.hide()
        self.jump_button.hide()
        self.detail.clear()

    def _follow_detail(self, updates: list[TableUpdate]) -> None:
        """After the current table's rows were replaced (a filter applied): the row the detail
        shows is selected again while it is there; while the filter hides it the detail says
        so (it kept showing the hidden row as if selected), and it is selected and shown again
        when the filter lets it through."""
        if self.tabs.currentWidget() is self.redeliveries:
            return
        view = self.current_view()
        model = view.model()
        if not any(update.table == model.table and update.reset for update in updates):
            return
        kind = "request" if model.table == "requests" else "record"
        wanted = self._detail_wanted
        if wanted is None and self._hidden_detail and self._hidden_detail[0] == model.table:
            wanted = self._hidden_detail[1:]
        if wanted is None or wanted[0] != kind:
            return
        row = model.row_of(wanted[1])
        if row is None:
            if self._detail_wanted is not None:  # shown until now
                text = self.filter_bars[model.table].current_filter().text
                what = f"Request {wanted[1]}" if kind == "request" else "The selected record"
                self._show_empty_detail()
                self.detail_title.setText(
                    f"{what} is hidden by the filter `{text}`. Clear or change the filter to "
                    f"see it again." if text.strip() else f"{what} is no longer in the table.")
                self._hidden_detail = (model.table, *wanted)
            return
        current = view.currentIndex()
        if current.isValid() and current.row() == row:
            return
        index = model.index(row, max(current.column(), 0))
        self._reselecting = self._detail_wanted is not None  # shown: no need to fetch it again
        try:
            view.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)
        finally:
            self._reselecting = False
        view.scrollTo(index)

    def _on_detail_copied(self, message: str) -> None:
        self.show_status(message)

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
        if row is None:  # e.g. from the Redeliveries view: the filter hides it
            self.statusBar().showMessage(
                f"Request {request_id} is not in the Requests table as filtered.", 5000)
            return
        self.tabs.setCurrentIndex(0)
        self._select_rows(self.views["requests"], row, row)

    def show_sim(self, iccid: str) -> None:
        """Open the SIM view of ``iccid``: its records across Events, Usage and SMS in time
        order, its data sessions, alerts and totals (app.ui.simview)."""
        self._sim_view().show_sim(self.capture, iccid=iccid)

    def show_sim_of_record(self, record_id: int) -> None:
        """Open the SIM view of the SIM a record names (an SMS: by its endpoint or MSISDN)."""
        self._sim_view().show_sim(self.capture, record_id=record_id)

    def _sim_view(self):
        from app.ui.simview import SimViewDialog

        if getattr(self, "sim_view", None) is None:
            self.sim_view = SimViewDialog(self)
            self.sim_view.record_activated.connect(lambda i: self._select_records(i, 1))
            self.sim_view.failed.connect(self.show_error)
            self.reader.tables_updated.connect(lambda _u: self.sim_view.records_arrived())
            self.local_times_action.toggled.connect(self.sim_view.set_local)
        self.sim_view.local = self.settings.local_times
        if self._mask_key is not None:  # its title: the ICCID's pseudonym, as in the tables
            from app.export.masking import Masker

            self.sim_view.mask = Masker(self._mask_key).pseudonym
        else:
            self.sim_view.mask = None
        return self.sim_view

    def show_records_of(self, request_id: int) -> None:
        """Select the records of a request, in the tab of its first record's family.

        Where they are comes with the request's detail from the reader thread, so this asks
        for it and finishes in :meth:`_on_reader_detail_ready`.
        """
        self._jump_to_records_of = request_id
        self.reader.fetch_request(request_id)

    def _on_ledger_label_link_activated(self, link: str) -> None:
        kind, _, number = link.partition(":")
        if kind == "record" and number.isdigit():
            self._select_records(int(number), 1)

    def _select_records(self, first: int | None, count: int) -> None:
        if first is None or not count:
            self.statusBar().showMessage("This request has no records.", 3000)
            return
        for number, tab in enumerate(RECORD_TABS, start=1):
            rows = self.record_models[tab.key].rows_between(first, first + count)
            if not rows:
                continue
            self.tabs.setCurrentIndex(number)
            self._select_row_list(self.views[tab.key], rows)
            return
        what = f"Record {first} is not in its" if count == 1 else "These records are not in their"
        self.statusBar().showMessage(f"{what} table as filtered.", 5000)

    def _select_rows(self, view: RecordTableView, first: int, last: int) -> None:
        self._select_row_list(view, range(first, last + 1))

    def _select_row_list(self, view: RecordTableView, rows) -> None:
        """Select these rows (ascending; a sorted table may scatter a request's records),
        the first one current and in sight."""
        model = view.model()
        rows = list(rows)
        view.clearSelection()
        view.setCurrentIndex(model.index(rows[0], 0))
        selection = QItemSelection()
        start = previous = rows[0]
        for row in [*rows[1:], None]:  # one range per run of adjacent rows
            if row is not None and row == previous + 1:
                previous = row
                continue
            selection.select(model.index(start, 0),
                             model.index(previous, model.columnCount() - 1))
            if row is not None:
                start = previous = row
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        view.selectionModel().select(selection, flags)
        view.scrollTo(model.index(rows[0], 0), QAbstractItemView.ScrollHint.PositionAtCenter)
        view.setFocus()

    def _on_view_context_menu_requested(self, pos) -> None:
        view = self.current_view()
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
            # the SIM view of the row's SIM (issue 16)
            from app.ui.simview import sim_entry

            text, iccid = sim_entry(view.model(), index.row(), self._mask_key is not None)
            record_id = view.model().id_at(index.row())
            menu.addAction(text).triggered.connect(
                lambda: self.show_sim(iccid) if iccid else self.show_sim_of_record(record_id))
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
            copy.triggered.connect(lambda: self.copy_text(str(cell), "Copied the cell"))
        return menu

    # -- actions ----------------------------------------------------------------------------

    def _column_field(self, table: str, column: int) -> str | None:
        if table == "requests":
            return REQUEST_COLUMN_FIELDS[column] if column < len(REQUEST_COLUMN_FIELDS) else None
        columns = self.record_models[table].columns
        if column >= len(columns) or columns[column].name == "keys":
            return None
        return columns[column].filter_field

    def copy_text(self, text: str, message: str) -> None:
        """Put ``text`` on the clipboard and say ``message`` in the status bar."""
        QGuiApplication.clipboard().setText(text)
        self.statusBar().showMessage(message, 3000)

    # -- dropped files, masking -------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and all(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        self.files_dropped.emit([url.toLocalFile() for url in event.mimeData().urls()])
        event.acceptProposedAction()

    def _on_reader_identity_ready(self, identity: str) -> None:
        self._identity = identity
        self._apply_mask()

    def _on_mask_action_toggled(self, on: bool = False) -> None:
        self.settings.mask_view = self.mask_action.isChecked()
        self.settings.save()
        self._apply_mask()

    def _apply_times(self, _checked: bool = False) -> None:
        """Times in UTC or local time (View ▸ Times in local time): remembered, rendered
        again, the zone named in the time columns' headers."""
        local = self.local_times_action.isChecked()
        if local != self.settings.local_times:
            self.settings.local_times = local
            self.settings.save()
        self.reader.set_local_times(local)
        for model in (self.requests_model, *self.record_models.values()):
            model.set_zone(zone_name(local))
            model.invalidate()
        self.redeliveries.model.set_local_times(local)

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
            self.model(table).invalidate()
        if self._detail_wanted is not None:  # the detail shown, rendered with the new mask
            self._fetch_detail(*self._detail_wanted)

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
            # A state of other columns would put each width on its neighbour: kept with its
            # column count (states saved before the record tables got "Seen" have none: the
            # record tables' are dropped once; the requests table's columns did not change).
            count = ui.get(f"columns.{key}.count", "10" if key == "requests" else "")
            if state is not None and count == str(view.model().columnCount()):
                view.horizontalHeader().restoreState(state)
        self.tabs.setCurrentIndex(int(ui.get("tab", "0") or 0) % self.tabs.count())
        self.sim_test.setVisible(ui.get("sim_test") == "1")
        self.sim_test.set_iccid(ui.get("sim_test.iccid", ""))
        for table, text in self.settings.table_filters.items():
            if table in self.filter_bars:
                self.filter_bars[table].set_text(text)

    def save_layout(self) -> None:
        ui = dict(self.settings.ui)
        ui["geometry"] = _encode(self.saveGeometry())
        ui["splitter"] = _encode(self.splitter.saveState())
        for key, view in self.views.items():
            ui[f"columns.{key}"] = _encode(view.horizontalHeader().saveState())
            ui[f"columns.{key}.count"] = str(view.model().columnCount())
        ui["tab"] = str(self.tabs.currentIndex())
        ui["sim_test"] = "1" if self.sim_test.isVisible() else "0"
        ui["sim_test.iccid"] = self.sim_test.iccid_edit.text().strip()
        self.settings.ui = ui
        self.settings.table_filters = {t: bar.current_filter().text
                                       for t, bar in self.filter_bars.items()
                                       if not bar.current_filter().is_empty}
        self.settings.save()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.quitting = True
        self.save_layout()
        self.receiver.wait_stopped(10000)
        self.reader.stop()
        self.statistics.stop()
        event.accept()
        self.closed.emit()

