"""Nothing fails silently in the window (issue 10): hostile records, worker errors, failing
children, text from the wire, dropped row blocks, the export ids file, masking."""

from __future__ import annotations

import json
import math
import socket
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QApplication

from app.cli.options import build_parser
from app.records.columns import EVENT_COLUMNS, OTHER_COLUMNS, USAGE_COLUMNS
from app.replay.samples import FULL_BATCH, find
from app.ui.application import build
from app.ui.replay import SendDialog
from app.ui.values import tooltip_text
from tests.conftest import EVENT_SAMPLE
from tests.hostile import (
    BIG_ID,
    BIG_UINT64,
    ICCID_EVENT,
    ICCID_HOSTILE,
    ORGANISATION,
    RECORDS,
    hostile_body,
)
from tests.ui.conftest import WAIT
from tests.ui.test_window import cell, column_of, finish, post

ICCID_AT = column_of(EVENT_COLUMNS, "iccid")  # in the Events table


def rows_where(model, column: int, predicate) -> list[int]:
    return [r for r in range(model.rowCount()) if predicate(cell(model, r, column) or "")]


def select(qtbot, window, table: str, row: int) -> None:
    window.tabs.setCurrentIndex(list(window.views).index(table))
    view = window.views[table]
    view.setCurrentIndex(view.model().index(row, 0))


def test_hostile_records_render_select_and_live_updates_go_on(qtbot, window):
    """A lone surrogate, 1e400 and integers beyond 64 bits: rows render (U+FFFD for what cannot
    be shown), selecting them shows the detail with the raw text untouched, and a normal batch
    posted afterwards still moves the counters and the tables."""
    names = ["event", "usage", "surrogate_value", "surrogate_key", "uint64_max", "big_id",
             "huge_numbers", "duplicate_id"]
    finish(post(window, body=hostile_body(names)))
    events, usage, other = (window.record_models[t] for t in ("event", "usage", "other"))
    qtbot.waitUntil(lambda: events.rowCount() == 5 and usage.rowCount() == 2
                    and other.rowCount() == 1, timeout=WAIT)
    description = column_of(EVENT_COLUMNS, "description")
    qtbot.waitUntil(lambda: all(cell(events, r, description) for r in range(5)), timeout=WAIT)
    (broken,) = rows_where(events, description, lambda t: "broken emoji" in t)
    assert cell(events, broken, description) == "a broken emoji \ufffd in the description"
    assert cell(events, broken, column_of(EVENT_COLUMNS, "iccid")) == ICCID_HOSTILE
    volume = column_of(USAGE_COLUMNS, "volume")
    qtbot.waitUntil(lambda: {cell(usage, r, volume) for r in range(2)}
                    == {"1.234567 MB", "1e400 MB"}, timeout=WAIT)
    (huge,) = rows_where(usage, volume, lambda t: t.startswith("1e400"))
    assert cell(usage, huge, column_of(USAGE_COLUMNS, "rx")) == "-1e400 MB"
    # 0.0 as a double, 6 decimals like every volume (issue 15); 1e400 as sent, with its unit
    assert cell(usage, huge, column_of(USAGE_COLUMNS, "tx")) == "0.000000 MB"
    qtbot.waitUntil(lambda: cell(other, 0, column_of(OTHER_COLUMNS, "id")) == str(BIG_ID),
                    timeout=WAIT)

    # Selecting each: the detail shows it; the raw view holds the text as received.
    select(qtbot, window, "event", broken)
    qtbot.waitUntil(lambda: "record 1002" in window.detail_title.text(), timeout=WAIT)
    raw = window.detail._source_text
    assert "\\ud83d" in raw and json.loads(raw) == json.loads(RECORDS["surrogate_value"])
    assert "\\ud83d" in window.detail._raw_edit.toPlainText()  # the escape, as received
    (big,) = rows_where(events, description, lambda t: "2**64-1" in t)
    select(qtbot, window, "event", big)
    qtbot.waitUntil(lambda: f"record {BIG_UINT64} " in window.detail_title.text(),
                    timeout=WAIT)
    select(qtbot, window, "usage", huge)
    qtbot.waitUntil(lambda: "record 2002" in window.detail_title.text(), timeout=WAIT)
    assert '"total":1e400' in window.detail._source_text
    select(qtbot, window, "other", 0)
    qtbot.waitUntil(lambda: f"record {BIG_ID} " in window.detail_title.text(), timeout=WAIT)
    (key_row,) = rows_where(events, description, lambda t: "surrogate in a key" in t)
    select(qtbot, window, "event", key_row)
    qtbot.waitUntil(lambda: "record 1003" in window.detail_title.text(), timeout=WAIT)
    tree = window.detail._model
    keys = {tree.data(tree.index(r, 0)) for r in range(tree.rowCount())}
    assert "\ufffd" in keys
    # A duplicate key: the window reads the first value, as filters and exports do.
    (twice,) = rows_where(events, description, lambda t: "id given twice" in t)
    select(qtbot, window, "event", twice)
    qtbot.waitUntil(lambda: "event record 1 ·" in window.detail_title.text(), timeout=WAIT)
    assert not window.message_bar.isVisible(), window.message_bar.label.text()

    # The reader thread is alive: a normal batch moves the counters and the table.
    finish(post(window, EVENT_SAMPLE))
    qtbot.waitUntil(lambda: window._counts["requests"] == 2 and events.rowCount() == 6,
                    timeout=WAIT)
    assert window.reader._thread.is_alive()
    qtbot.waitUntil(lambda: "2 requests" in window.counter_label.text(), timeout=WAIT)


def test_every_hostile_record_and_its_request_can_be_selected(qtbot, window):
    """The whole corpus (1 MB strings, 500 levels deep, control characters, RTL, duplicate
    keys...) in one request: every row of every table and the request itself show a detail,
    and nothing fails."""
    from tests.hostile import HOSTILE_RECORDS

    finish(post(window, body=hostile_body()))
    qtbot.waitUntil(lambda: window._counts["records"] == len(HOSTILE_RECORDS), timeout=WAIT)
    for table, view in window.views.items():
        model = view.model()
        qtbot.waitUntil(lambda m=model: m.rowCount() > 0 or m.table == "sms", timeout=WAIT)
        for row in range(model.rowCount()):
            window.detail_title.setText("")
            select(qtbot, window, table, row)
            # (a tab just switched to says "Nothing is selected in …" until the row's detail)
            qtbot.waitUntil(lambda: bool(window.detail_title.text()) and not window
                            .detail_title.text().startswith("Nothing is selected"),
                            timeout=WAIT)
            assert "not found" not in window.detail_title.text()
    assert not window.message_bar.isVisible(), window.message_bar.label.text()
    assert window.reader._thread.is_alive()


def test_a_failing_job_is_shown_and_the_reader_carries_on(qtbot, window, tmp_path):
    """Any exception in a reader job (here: the ids file cannot be written) is caught for
    that job, shown in the message bar in plain words, and the thread goes on."""
    window.reader.write_ids([1, 2], tmp_path / "no-such-folder" / "ids.txt", "event")
    qtbot.waitUntil(lambda: window.message_bar.isVisible(), timeout=WAIT)
    text = window.message_bar.label.text()
    assert text.startswith("Writing the ids to export failed: No such file or directory")
    assert "Error(" not in text and "Traceback" not in text
    finish(post(window, EVENT_SAMPLE))
    qtbot.waitUntil(lambda: window.record_models["event"].rowCount() == 1, timeout=WAIT)


def test_uncaught_exceptions_anywhere_reach_the_message_bar(qtbot, window):
    """``threading.excepthook`` and ``sys.excepthook`` are the window's: an exception nobody
    caught, in a worker thread or on the GUI thread, shows in the message bar."""
    reporter = window.error_reporter
    # pytest puts its own hooks in place around each test: put the window's back for this one.
    reporter.uninstall()
    reporter.install()
    try:
        def work() -> None:
            raise ValueError("the worker could not parse <b>this</b>")

        worker = threading.Thread(target=work, name="test-worker")
        worker.start()
        worker.join()
        qtbot.waitUntil(lambda: "test-worker" in window.message_bar.label.text(), timeout=WAIT)
        text = window.message_bar.label.text()
        assert "could not parse <b>this</b>" in text and "ValueError(" not in text
        assert window.message_bar.label.textFormat() == Qt.TextFormat.PlainText
        try:
            raise KeyError("capture")
        except KeyError as exc:
            import sys

            sys.excepthook(type(exc), exc, exc.__traceback__)
        qtbot.waitUntil(lambda: "Something went wrong: no capture" in
                        window.message_bar.label.text(), timeout=WAIT)
    finally:
        reporter.uninstall()


def test_content_type_tooltip_is_plain_text(qtbot, window, tmp_path):
    """Text from the wire never renders as rich text: the Requests tooltip shows the sender's
    Content-Type literally (no bold, no image loaded from a local file)."""
    import subprocess

    endpoint = window.receiver.endpoint
    hostile = '<b>x</b><img src="/etc/passwd">'
    body = tmp_path / "b.json"
    body.write_bytes(EVENT_SAMPLE.read_bytes())
    proc = subprocess.run(
        ["curl", "-sS", "--cacert", endpoint["ca_file"], "-u",
         f"{window.settings.user}:{window.settings.password}", "-H",
         f"Content-Type: {hostile}", "--data-binary", f"@{body}", endpoint["url"]],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    model = window.requests_model
    qtbot.waitUntil(lambda: model.rowCount() == 1 and bool(cell(model, 0, 0)), timeout=WAIT)
    tips: list[str] = []
    qtbot.waitUntil(lambda: tips.append(model.data(model.index(0, 0),
                                                   Qt.ItemDataRole.ToolTipRole)) or bool(tips[-1]),
                    timeout=WAIT)
    tip = tips[-1]
    assert "<b>" not in tip and "<img" not in tip
    document = QTextDocument()
    document.setHtml(tip)
    assert hostile in document.toPlainText()  # what the user reads: the text, literally
    assert "<b>x</b>" in document.toPlainText()
    # the same for any string, e.g. the detail's header view and the message bar
    assert tooltip_text("a & b") == "<p style='white-space:pre'>a &amp; b</p>"


def test_dropped_blocks_are_asked_for_again(qtbot, window):
    """The reader keeps at most MAX_PENDING_BLOCKS requests for blocks; the ones it drops are
    asked for again when they are shown, so no cell stays blank for good."""
    from app.ui import reader as reader_module
    from app.ui.models import BLOCK

    records = [json.loads(EVENT_SAMPLE.read_text())[0] for _ in range(3 * BLOCK)]
    finish(post(window, body=json.dumps(records).encode()))
    events = window.record_models["event"]
    qtbot.waitUntil(lambda: events.rowCount() == 3 * BLOCK, timeout=WAIT)
    column = column_of(EVENT_COLUMNS, "type")
    events.invalidate()
    limit = reader_module.MAX_PENDING_BLOCKS
    reader = window.reader
    with reader._lock:  # hold the reader thread: the requests pile up as on a busy machine
        events.data(events.index(0, column))  # block 0 asked for
        for n in range(limit):  # newer requests of another table push it out
            reader.fetch_rows("usage", 99, n, ())
    # Block 0 was dropped before the reader saw it; the view asks again when it shows it.
    assert 0 not in events._asked and 0 not in events._cache
    qtbot.waitUntil(lambda: events.data(events.index(0, column)) == "Update location",
                    timeout=WAIT)


def test_rendered_rows_stay_shown_while_rows_are_appended(qtbot, window):
    """New rows never blank rows already rendered: the last block keeps its rows on screen
    (a full one as it is, one rendered before it was full until its new copy comes), and the
    rows that joined it are rendered when shown (a table following its newest rows showed the
    rows of its last block blank after each batch, and had them rendered again)."""
    from app.ui.models import BLOCK

    record = json.loads(EVENT_SAMPLE.read_text())[0]
    events = window.record_models["event"]
    column = column_of(EVENT_COLUMNS, "type")
    first = BLOCK + BLOCK // 4  # a full block and a quarter of the next

    def texts(rows) -> dict[int, str | None]:
        return {r: events.data(events.index(r, column)) for r in rows}

    finish(post(window, body=json.dumps([{**record, "id": i} for i in range(first)]).encode()))
    qtbot.waitUntil(lambda: events.rowCount() == first
                    and all(texts(range(first)).values()), timeout=WAIT)
    before: dict[int, str | None] = {}
    lost: list[int] = []
    events.rowsAboutToBeInserted.connect(lambda *_: before.update(texts(range(first))))
    events.rowsInserted.connect(lambda *_: lost.extend(
        r for r, text in texts(range(first)).items() if text != before[r]))
    more = [{**record, "id": first + i} for i in range(BLOCK)]
    finish(post(window, body=json.dumps(more).encode()))
    qtbot.waitUntil(lambda: events.rowCount() == first + BLOCK, timeout=WAIT)
    assert before and set(before.values()) == {"Update location"}
    assert lost == []
    qtbot.waitUntil(lambda: set(texts(range(first + BLOCK)).values()) == {"Update location"},
                    timeout=WAIT)


def test_import_that_breaks_says_so(qtbot, window, tmp_path):
    """An import failing with anything (here a file nested too deeply: RecursionError) ends
    in a failure the window shows, not in "Importing…" for ever; the receiver carries on."""
    deep = tmp_path / "deep.json"
    deep.write_text('[{"detail":' + "[" * 100_000 + "]" * 100_000 + "}]")
    window.transfers.import_file(deep)
    qtbot.waitUntil(lambda: window.message_bar.isVisible(), timeout=WAIT)
    text = window.message_bar.label.text()
    assert text.startswith("Import of deep.json failed: ") and "Nothing was imported" in text
    assert "Error" not in text and "Traceback" not in text
    # A failure the importer does not know as a file problem (here open() raises ValueError
    # for a name with a NUL byte) ends the same way, through the receiver's catch-all.
    window.message_bar.hide()
    window.transfers.import_file(tmp_path / "bad\x00name.json")
    qtbot.waitUntil(lambda: window.message_bar.isVisible(), timeout=WAIT)
    text = window.message_bar.label.text()
    assert "Import of bad\u2400name.json failed: " in text  # the NUL shown as ␀
    assert "could not be imported: embedded null byte" in text
    assert "ValueError" not in text
    finish(post(window, EVENT_SAMPLE))
    qtbot.waitUntil(lambda: window.record_models["event"].rowCount() == 1, timeout=WAIT)


def test_the_full_batch_from_the_menu_arrives(qtbot, window):
    """Replay ▸ Send a sample ▸ the full batch: 3000 records arrive in the capture."""
    action = next(a for a in window.samples_menu.actions() if a.text() == find(FULL_BATCH).title)
    action.trigger()
    qtbot.waitUntil(lambda: window._counts["records"] == 3000, timeout=WAIT * 2)
    qtbot.waitUntil(lambda: "Sample sent: 3,000 of 3,000 records"
                    in window.statusBar().currentMessage(), timeout=WAIT)
    assert not window.message_bar.isVisible()


def test_the_full_batch_from_the_send_dialog_arrives(qtbot, window):
    endpoint = window.receiver.endpoint
    dialog = SendDialog(endpoint, window.settings.user, window.settings.password, {}, window)
    qtbot.addWidget(dialog)
    dialog.source.setCurrentText(f"Sample: {find(FULL_BATCH).title}")
    args = dialog.arguments()
    assert args[args.index("--sample") + 1] == FULL_BATCH
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.state.text().startswith("DONE"), timeout=WAIT * 2)
    assert dialog.state.text().startswith("DONE: 3,000 of 3,000 records acknowledged")
    qtbot.waitUntil(lambda: window._counts["records"] == 3000, timeout=WAIT)
    dialog.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_failing_send_child_says_why_in_the_message_bar(qtbot, window):
    dialog = SendDialog(window.receiver.endpoint, "", "", {}, window)
    qtbot.addWidget(dialog)
    dialog.failed.connect(window.show_error)
    dialog.url.setText(f"https://127.0.0.1:{closed_port()}/")
    dialog.retries.setValue(0)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: window.message_bar.isVisible(), timeout=WAIT)
    text = window.message_bar.label.text()
    assert text.startswith("Sending failed (exit code 1): cannot connect to 127.0.0.1:")
    assert "connection refused" in text
    dialog.close()


def test_a_failing_export_child_says_why_in_the_message_bar(qtbot, window, tmp_path):
    finish(post(window, EVENT_SAMPLE))
    qtbot.waitUntil(lambda: window.record_models["event"].rowCount() == 1, timeout=WAIT)
    from app.ui.transfer import ExportDialog

    dialog = ExportDialog(window.capture, {"All": []}, False, window)
    qtbot.addWidget(dialog)
    dialog.failed.connect(window.show_error)
    not_a_folder = tmp_path / "a-file"  # unwritable even for root: its parent is a file
    not_a_folder.write_text("")
    dialog.target.setText(str(not_a_folder / "out.json"))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: window.message_bar.isVisible(), timeout=WAIT)
    text = window.message_bar.label.text()
    assert text.startswith("Export failed (exit code ") and "Not a directory" in text
    assert "Error" not in text and "Traceback" not in text
    assert dialog.state.text().startswith("Could not export")
    dialog.close()


def test_export_of_the_selection_waits_for_the_complete_ids_file(qtbot, window, monkeypatch):
    """The export dialog (and so its child) starts only when the reader has written the ids
    file whole (written to a temporary name, then renamed)."""
    records = [json.loads(EVENT_SAMPLE.read_text())[0] for _ in range(50)]
    finish(post(window, body=json.dumps(records).encode()))
    events = window.record_models["event"]
    qtbot.waitUntil(lambda: events.rowCount() == 50, timeout=WAIT)
    window.tabs.setCurrentIndex(1)
    view = window.views["event"]
    view.selectAll()
    seen: list[tuple[str, bool, str]] = []

    def fake_exec(dialog) -> int:  # look at what the dialog would run, then close it
        args = dialog.arguments()
        path = Path(args[args.index("--ids-file") + 1])
        seen.append((dialog.scope.currentText(), path.exists(), path.read_text()))
        return 0

    from app.ui.transfer import ExportDialog

    monkeypatch.setattr(ExportDialog, "exec", fake_exec)
    with window.reader._lock:  # the reader is busy: the dialog must not open yet
        window.export_action.trigger()
        assert window.transfers.export_dialog is None and not seen
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT)
    scope, existed, text = seen[0]
    assert scope == "The 50 selected records" and existed
    assert text.split() == [str(events.id_at(r)) for r in range(50)]
    assert not list(window.transfers.tmp.glob("*.partial"))


@pytest.fixture
def masked(qtbot, window):
    body = hostile_body(["event", "usage"])
    finish(post(window, body=body))
    events = window.record_models["event"]
    qtbot.waitUntil(lambda: events.rowCount() == 1 and cell(events, 0, ICCID_AT) == ICCID_EVENT,
                    timeout=WAIT)
    window.mask_action.trigger()
    qtbot.waitUntil(lambda: (cell(events, 0, ICCID_AT) or ICCID_EVENT) != ICCID_EVENT, timeout=WAIT)
    return window


def test_filter_on_a_masked_value_never_writes_the_real_one(qtbot, masked):
    window = masked
    events = window.record_models["event"]
    bar = window.filter_bars["event"]
    window.reader.value_filter("event", events.id_at(0), "iccid", False)
    qtbot.waitUntil(lambda: window.message_bar.isVisible(), timeout=WAIT)
    assert "not while identifiers are masked" in window.message_bar.label.text()
    assert ICCID_EVENT not in bar.current_filter().text
    assert ICCID_EVENT not in window.message_bar.label.text()
    # The menu says so before: its entries are off for a masked column, on for the others.
    view = window.views["event"]
    select(qtbot, window, "event", 0)
    menu = window.context_menu(view, events.index(0, column_of(EVENT_COLUMNS, "iccid")))
    entries = {a.text(): a.isEnabled() for a in menu.actions() if "value" in a.text()}
    assert entries == {
        "Filter on this value (iccid): not while identifiers are masked": False,
        "Exclude this value (iccid): not while identifiers are masked": False}
    menu.deleteLater()
    menu = window.context_menu(view, events.index(0, column_of(EVENT_COLUMNS, "type")))
    assert [a.isEnabled() for a in menu.actions() if "value" in a.text()] == [True, True]
    menu.deleteLater()
    # a value that masking does not hide still filters
    window.reader.value_filter("event", events.id_at(0), "type", False)
    qtbot.waitUntil(lambda: bar.current_filter().text == 'type == "Update location"',
                    timeout=WAIT)


def test_detail_follows_a_fast_mask_toggle(qtbot, masked):
    """Details rendered with the mask state before a toggle are dropped: the pane ends with
    what the table shows."""
    window = masked
    events = window.record_models["event"]
    select(qtbot, window, "event", 0)
    for _ in range(5):
        window.mask_action.trigger()
        window.mask_action.trigger()
    window.mask_action.trigger()  # off
    qtbot.waitUntil(lambda: cell(events, 0, ICCID_AT) == ICCID_EVENT, timeout=WAIT)
    qtbot.waitUntil(lambda: ICCID_EVENT in window.detail._source_text, timeout=WAIT)
    qtbot.wait(300)
    assert ICCID_EVENT in window.detail._source_text
    window.mask_action.trigger()  # on
    qtbot.waitUntil(lambda: cell(events, 0, ICCID_AT) not in (None, ICCID_EVENT), timeout=WAIT)
    qtbot.waitUntil(lambda: ICCID_EVENT not in window.detail._source_text, timeout=WAIT)
    qtbot.wait(300)
    assert ICCID_EVENT not in window.detail._source_text


def test_masked_detail_hides_the_organisation_name(qtbot, window):
    """With masking on, the organisation (the 1NCE customer) is masked in the detail, as are
    the identifiers; the table and detail agree."""
    record = RECORDS["event"].replace(ORGANISATION, "Acme Logistics GmbH")
    finish(post(window, body=f"[{record}]".encode()))
    events = window.record_models["event"]
    qtbot.waitUntil(lambda: events.rowCount() == 1, timeout=WAIT)
    window.mask_action.trigger()
    select(qtbot, window, "event", 0)
    qtbot.waitUntil(lambda: "event record" in window.detail_title.text()
                    and ICCID_EVENT not in window.detail._source_text, timeout=WAIT)
    shown = window.detail._source_text + window.detail._raw_edit.toPlainText()
    assert "Acme" not in shown and ICCID_EVENT not in shown
    assert cell(events, 0, ICCID_AT) != ICCID_EVENT


def test_portal_dialog_hides_the_auth_header_while_masking(qtbot, window, monkeypatch):
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QLineEdit, QPlainTextEdit, QPushButton

    from app.ui.dialogs import PortalDialog

    opened: list[PortalDialog] = []
    monkeypatch.setattr(PortalDialog, "exec", lambda dialog: opened.append(dialog) or 0)
    window.mask_action.trigger()
    window.portal_action.trigger()
    (dialog,) = opened
    header = dialog.findChild(QLineEdit, "auth_header")
    real = window.receiver.endpoint["auth_header"]
    password = window.settings.password
    assert header.echoMode() == QLineEdit.EchoMode.Password and real not in header.displayText()
    curl = dialog.findChild(QPlainTextEdit, "curl_command").toPlainText()
    assert password not in curl and "••••" in curl
    reveal = dialog.findChild(QPushButton, "reveal_auth_header")
    assert reveal.isVisible() or not dialog.isVisible()
    reveal.click()
    assert header.displayText() == real
    dialog.findChild(QPushButton, "copy_auth_header").click()
    assert QGuiApplication.clipboard().text() == real  # Copy copies the real value
    # Without masking: shown as before, no reveal button.
    window.mask_action.trigger()
    window.portal_action.trigger()
    plain_dialog = opened[-1]
    assert plain_dialog.findChild(QLineEdit, "auth_header").displayText() == real
    assert plain_dialog.findChild(QPushButton, "reveal_auth_header").isHidden()
    assert password in plain_dialog.findChild(QPlainTextEdit, "curl_command").toPlainText()


def test_export_dialog_strict_json_and_its_note(qtbot, window, tmp_path):
    """JSON exports are byte-exact by default and say when records strict parsers refuse are
    in them; the dialog's Strict JSON box rewrites those records."""
    from app.ui.transfer import ExportDialog

    finish(post(window, body=hostile_body(["event", "surrogate_value", "huge_numbers"])))
    qtbot.waitUntil(lambda: window._counts["records"] == 3, timeout=WAIT)
    outputs = {}
    for strict in (False, True):
        dialog = ExportDialog(window.capture, {"All": []}, False, window)
        qtbot.addWidget(dialog)
        dialog.format.setCurrentIndex(dialog.format.findData("ndjson"))
        assert not dialog.strict.isHidden()
        dialog.strict.setChecked(strict)
        target = tmp_path / f"strict-{strict}.ndjson"
        dialog.target.setText(str(target))
        dialog.export_button.click()
        qtbot.waitUntil(lambda d=dialog: d.state.text().startswith("Exported"), timeout=WAIT)
        outputs[strict] = (target.read_text("utf-8"), dialog.state.text())
        dialog.format.setCurrentIndex(dialog.format.findData("csv"))
        assert dialog.strict.isHidden()
        dialog.close()
    exact, note = outputs[False]
    assert "\\ud83d" in exact and "1e400" in exact and "Note:" in note
    strict_text, _ = outputs[True]
    assert "\\ud83d" not in strict_text
    def finite(token: str) -> float:
        assert math.isfinite(float(token)), f"{token} is beyond a double"
        return float(token)

    for line in strict_text.splitlines():  # what jq or duckdb would read
        json.loads(line, parse_float=finite)


def test_a_failing_curl_child_says_why_in_the_message_bar(qtbot, window):
    from app.ui.replay import CurlDialog

    port = closed_port()
    dialog = CurlDialog(window.receiver.endpoint, "", "", window,
                        f"curl -H 'Content-Type: application/json' --data-raw '[]' "
                        f"https://127.0.0.1:{port}/")
    qtbot.addWidget(dialog)
    dialog.failed.connect(window.show_error)
    dialog.send_button.click()
    qtbot.waitUntil(lambda: window.message_bar.isVisible(), timeout=WAIT)
    assert window.message_bar.label.text() == (
        f"The cURL command failed (exit code 1): cannot connect to 127.0.0.1:{port}: "
        f"connection refused (is `streamer-inspector serve` running?)")
    assert dialog.response.toPlainText().startswith("Failed: cannot connect")
    dialog.close()


def test_child_error_lines_are_plain_words():
    from app.ui.replay import last_error_line

    assert last_error_line("warning: --insecure\nstreamer-inspector send: error: no sample 'x'"
                           "\n") == "no sample 'x'"
    assert last_error_line('Traceback (most recent call last):\n  File "x", line 1\n'
                           "    f()\n    ^^^\nNotADirectoryError: [Errno 20] Not a directory: "
                           "'/a'") == "Not a directory: '/a'"
    assert last_error_line("") == ""


def test_filter_on_an_integer_beyond_64_bits_is_exact(qtbot, window):
    """"Filter on this value" on an Id beyond 64 bits writes it exactly, and it matches."""
    finish(post(window, body=hostile_body(["big_id"])[:-1] + b',{"id":7,"kind":"x"}]'))
    other = window.record_models["other"]
    qtbot.waitUntil(lambda: other.rowCount() == 2, timeout=WAIT)
    id_column = column_of(OTHER_COLUMNS, "id")
    qtbot.waitUntil(lambda: cell(other, 0, id_column) == str(BIG_ID), timeout=WAIT)
    window.reader.value_filter("other", other.id_at(0), "id", False)
    bar = window.filter_bars["other"]
    qtbot.waitUntil(lambda: bar.current_filter().text == f"id == {BIG_ID}", timeout=WAIT)
    qtbot.waitUntil(lambda: other.rowCount() == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: cell(other, 0, id_column) == str(BIG_ID), timeout=WAIT)


def test_the_window_log_is_private_and_gets_the_tracebacks():
    import logging
    import stat

    from app.ui.application import log_file, start_logging

    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        path = start_logging()
        assert path == log_file() and path.is_file()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        try:
            raise ValueError("a job broke")
        except ValueError:
            logging.getLogger("app.ui.reader").exception("Showing record 7 failed")
        for handler in root.handlers:
            handler.flush()
        text = path.read_text("utf-8")
        assert "Showing record 7 failed" in text and "ValueError: a job broke" in text
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)


def test_the_receivers_notices_reach_the_message_bar(qtbot, tmp_path, user_dirs):
    """A notice of the receiver (here: the local CA of an earlier version was replaced) is
    shown in the message bar, as a warning, not only written to the child's stderr."""
    import trustme

    tls = Path(user_dirs["XDG_DATA_HOME"]) / "streamer-inspector" / "tls"
    tls.mkdir(parents=True)
    old = trustme.CA()
    (tls / "ca.pem").write_bytes(old.cert_pem.bytes())
    (tls / "ca-key.pem").write_bytes(old.private_key_pem.bytes())
    args = build_parser().parse_args(["--port", "0", "--capture", str(tmp_path / "c.sqlite")])
    win = build(args, QApplication.instance())
    qtbot.addWidget(win)
    try:
        qtbot.waitUntil(lambda: "local CA" in win.message_bar.label.text(), timeout=WAIT)
        assert win.message_bar.label.text().startswith("Endpoint: ")
        assert "earlier version" in win.message_bar.label.text()
        assert win.receiver.state == "listening"
    finally:
        win.close()
