"""The window end to end: a real child receiver, real TLS posts, rows in the real tables."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QLabel, QLineEdit, QSpinBox

from app.capture.schema import SCHEMA_VERSION, open_reader
from app.capture.writer import CaptureWriter, Incoming
from app.cli.options import build_parser
from app.config import Settings
from app.db import sqlite3
from app.records.columns import EVENT_COLUMNS, RECORD_TABS, USAGE_COLUMNS
from app.replay.generator import Generator
from app.ui.application import build
from app.ui.dialogs import EndpointDialog
from tests.conftest import EVENT_SAMPLE, USAGE_SAMPLE
from tests.ui.conftest import WAIT


def post(window, body_file: Path | None = None, body: bytes | None = None,
         user_password: str | None = None, target: str = "hook/") -> subprocess.Popen:
    """POST with the curl binary in its own process, as a user would from a terminal."""
    endpoint = window.receiver.endpoint
    settings = window.settings
    auth = user_password or f"{settings.user}:{settings.password}"
    if body_file is None:
        fd, name = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "wb") as fh:
            fh.write(body or b"")
        body_file = Path(name)
    return subprocess.Popen(
        ["curl", "-sS", "--cacert", endpoint["ca_file"], "-u", auth, "-H",
         "Content-Type: application/json", "--data-binary", f"@{body_file}",
         endpoint["url"] + target],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    proc.stdout.close()
    proc.stderr.close()
    return json.loads(out)


def cell(model, row: int, column: int) -> str:
    return model.data(model.index(row, column))


def wait_cell(qtbot, model, row, column, text):
    qtbot.waitUntil(lambda: model.rowCount() > row and cell(model, row, column) == text,
                    timeout=WAIT)


def column_of(columns, name: str) -> int:
    """The model column of ``name`` in the window's table of a tab with these columns (the
    record's own, with "Seen" after the first)."""
    tab = next((t for t in RECORD_TABS if columns in (t.columns, t.view_columns)), None)
    return [c.name for c in (tab.view_columns if tab else columns)].index(name)


def test_documented_samples_appear_in_their_tables(qtbot, window, qtmodeltester):
    assert window.url_edit.text().startswith("https://localhost:")
    assert "Listening" in window.state_label.text()
    finish(post(window, EVENT_SAMPLE))
    finish(post(window, USAGE_SAMPLE))
    events, usage = window.record_models["event"], window.record_models["usage"]
    wait_cell(qtbot, events, 0, column_of(EVENT_COLUMNS, "type"), "Update location")
    assert cell(events, 0, column_of(EVENT_COLUMNS, "time")) == "2019-01-21 09:36:17.000"
    assert cell(events, 0, column_of(EVENT_COLUMNS, "country")) == "Netherlands / T-Mobile"
    assert cell(events, 0, column_of(EVENT_COLUMNS, "iccid")) == "<iccid>"
    wait_cell(qtbot, usage, 0, column_of(USAGE_COLUMNS, "volume"), "0.001176 MB")
    assert cell(usage, 0, column_of(USAGE_COLUMNS, "ratezone")) == "Rate Zone 2 (EU - DE)"
    assert cell(usage, 0, column_of(USAGE_COLUMNS, "cost")) == "0.001176 EUR"
    requests = window.requests_model
    wait_cell(qtbot, requests, 1, 4, "200")
    assert cell(requests, 0, 3) == "/hook/"
    assert cell(requests, 0, 5) == "1"
    assert window.tabs.tabText(1) == "Events (1)"
    assert window.tabs.tabText(0) == "Requests (2)"
    assert window.counter_label.text() == "2 requests · 2 records"
    # The receiver's ledger covers them while idle (issue 13): each arrived once. (Checked
    # before the models are: one qtmodeltester checks every later signal against the last
    # model it was given.)
    seen = "1\N{MULTIPLICATION SIGN}"
    wait_cell(qtbot, events, 0, column_of(EVENT_COLUMNS, "seen"), seen)
    wait_cell(qtbot, usage, 0, column_of(USAGE_COLUMNS, "seen"), seen)
    for model in (requests, events, usage, window.record_models["sms"]):
        qtmodeltester.check(model, force_py=True)


def test_selecting_a_record_shows_it_and_leads_to_its_request(qtbot, window):
    finish(post(window, EVENT_SAMPLE))
    events = window.record_models["event"]
    qtbot.waitUntil(lambda: events.rowCount() == 1, timeout=WAIT)
    window.tabs.setCurrentIndex(1)
    view = window.views["event"]
    view.setCurrentIndex(events.index(0, 0))
    qtbot.waitUntil(lambda: "event record 1234567890" in window.detail_title.text(),
                    timeout=WAIT)
    assert window.jump_button.text() == "Show its request"
    raw = window.detail.findChild(type(window.info_text))
    assert raw is not None and "Update location" in raw.toPlainText()
    qtbot.mouseClick(window.jump_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentIndex() == 0
    assert window.views["requests"].currentIndex().row() == 0
    qtbot.waitUntil(lambda: window.detail_title.text().startswith("Request 1 · 200"),
                    timeout=WAIT)
    assert "POST /hook/" in window.info_text.toPlainText()
    assert "Authorization: Basic ****" in window.info_text.toPlainText()
    # ...and from the request back to its records.
    qtbot.mouseClick(window.jump_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.tabs.currentIndex() == 1, timeout=WAIT)
    assert view.selectionModel().isRowSelected(0)


def test_the_request_detail_shows_the_target_as_it_arrived_and_the_endpoint(qtbot, window):
    finish(post(window, EVENT_SAMPLE, target="p%20q/x%2Fy?a=%2F+b"))
    requests = window.requests_model
    qtbot.waitUntil(lambda: requests.rowCount() == 1, timeout=WAIT)
    # the Path column too: %2F told apart from /
    wait_cell(qtbot, requests, 0, 3, "/p%20q/x%2Fy?a=%2F+b")
    window.views["requests"].setCurrentIndex(requests.index(0, 0))
    port = urlsplit(window.receiver.endpoint["url"]).port
    qtbot.waitUntil(lambda: window.info_text.toPlainText().startswith(
        "POST /p%20q/x%2Fy?a=%2F+b HTTP/1.1\nFrom 127.0.0.1 to "), timeout=WAIT)
    assert f" to https://localhost:{port} at " in window.info_text.toPlainText()


def test_rejected_requests_are_marked_and_explained(qtbot, window):
    finish(post(window, body=b'[{"id": 1},]'))
    finish(post(window, body=b"[{}]", user_password="streamer:wrong"))
    requests = window.requests_model
    wait_cell(qtbot, requests, 1, 4, "401")
    assert cell(requests, 0, 4) == "400"
    assert "invalid JSON" in cell(requests, 0, 9)
    # The Auth column speaks the filter's words (issue 15, item 8): it said "wrong".
    assert cell(requests, 1, 8) == "invalid"
    assert "auth == invalid" in requests.data(requests.index(1, 8),
                                              Qt.ItemDataRole.ToolTipRole)
    window.reader.value_filter("requests", requests.id_at(1), "auth", False)
    bar = window.filter_bars["requests"]
    qtbot.waitUntil(lambda: bar.current_filter().text == "auth == invalid", timeout=WAIT)
    qtbot.waitUntil(lambda: requests.rowCount() == 1 and cell(requests, 0, 4) == "401",
                    timeout=WAIT)
    bar.set_text("")
    wait_cell(qtbot, requests, 1, 4, "401")  # both rows back, and read again
    wait_cell(qtbot, requests, 0, 4, "400")
    red = requests.data(requests.index(0, 0), Qt.ItemDataRole.ForegroundRole)
    assert red is not None and red.red() > red.green()
    window.views["requests"].setCurrentIndex(requests.index(0, 0))
    qtbot.waitUntil(lambda: "Answered 400: invalid JSON" in window.info_text.toPlainText(),
                    timeout=WAIT)


def test_big_batches_follow_the_bottom_unless_scrolled(qtbot, window):
    records = Generator(sims=30, seed=4).records(3000)
    finish(post(window, body=json.dumps(records).encode()))
    n_events = sum("event_type" in r for r in records)
    events = window.record_models["event"]
    qtbot.waitUntil(lambda: events.rowCount() == n_events, timeout=WAIT)
    window.tabs.setCurrentIndex(1)
    view = window.views["event"]
    qtbot.waitUntil(lambda: view.verticalScrollBar().value() == view.verticalScrollBar().maximum()
                    and view.verticalScrollBar().maximum() > 0, timeout=WAIT)
    last = events.rowCount() - 1
    wait_cell(qtbot, events, last, column_of(EVENT_COLUMNS, "iccid"),
              [r for r in records if "event_type" in r][-1]["sim"]["iccid"])
    view.verticalScrollBar().setValue(0)
    finish(post(window, body=json.dumps(records[:100]).encode()))
    qtbot.waitUntil(lambda: events.rowCount() > n_events, timeout=WAIT)
    assert view.verticalScrollBar().value() == 0


def test_settings_change_restarts_the_endpoint_on_the_new_port(qtbot, window):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    def fill_in_the_dialog():
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, EndpointDialog)
        dialog.findChild(QSpinBox, "port").setValue(port)
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)

    QTimer.singleShot(200, fill_in_the_dialog)
    window.settings_action.trigger()  # modal: returns when the dialog has been accepted
    qtbot.waitUntil(lambda: window.url_edit.text() == f"https://localhost:{port}/",
                    timeout=WAIT)
    assert Settings.load().port == port  # remembered across runs
    assert finish(post(window, USAGE_SAMPLE))["counts"] == {"usage": 1}


def test_dark_palette_recolours_marked_rows(qtbot, window):
    finish(post(window, body=b"nope"))
    requests = window.requests_model
    wait_cell(qtbot, requests, 0, 4, "400")
    light = requests.data(requests.index(0, 0), Qt.ItemDataRole.ForegroundRole)
    app = QApplication.instance()
    original = app.palette()
    dark = QPalette(original)
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.Window, QColor("#2b2b2b"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e6e6e6"))
    try:
        app.setPalette(dark)
        shown = requests.data(requests.index(0, 0), Qt.ItemDataRole.ForegroundRole)
        assert shown.lightness() > light.lightness()  # readable on a dark background
    finally:
        app.setPalette(original)


def test_receiver_death_is_reported_and_restart_works(qtbot, window):
    pid = window.receiver.endpoint["pid"]
    os.kill(pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: window.message_bar.isVisible(), timeout=WAIT)
    assert "The receiver stopped" in window.message_bar.label.text() or \
        "crashed" in window.message_bar.label.text()
    assert "Error" in window.state_label.text()
    restart = window.message_bar.buttons()["Restart"]
    qtbot.mouseClick(restart, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.receiver.state == "listening", timeout=WAIT)
    assert finish(post(window, EVENT_SAMPLE))["ok"] is True


def test_port_taken_offers_another(qtbot, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        args = build_parser().parse_args(["--port", str(port), "--capture",
                                          str(tmp_path / "c.sqlite")])
        win = build(args, QApplication.instance())
        qtbot.addWidget(win)
        try:
            qtbot.waitUntil(lambda: win.message_bar.isVisible(), timeout=WAIT)
            assert "already in use" in win.message_bar.label.text()
            # No command-line advice in the window (issue 15, item 10): the button is the way.
            assert "--port" not in win.message_bar.label.text()
            (offer,) = [b for text, b in win.message_bar.buttons().items()
                        if text.startswith("Use port ")]
            qtbot.mouseClick(offer, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: win.receiver.state == "listening", timeout=WAIT)
            assert win.url_edit.text() == f"https://localhost:{win.settings.port}/"
        finally:
            win.close()


def test_closing_stops_the_receiver_and_remembers_the_layout(qtbot, window):
    pid = window.receiver.endpoint["pid"]
    window.splitter.setSizes([500, 700])
    window.views["event"].setColumnWidth(0, 222)
    window.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    saved = Settings.load()
    assert saved.ui["geometry"] and saved.ui["columns.event"]
    assert saved.last_capture.endswith("c.sqlite")


def test_last_capture_reopens_with_its_rows(qtbot, tmp_path):
    path = tmp_path / "old.sqlite"
    w = CaptureWriter(path)
    w.store(Incoming("POST", "/", EVENT_SAMPLE.read_bytes(), content_type="application/json"))
    w.close()
    settings = Settings.load_or_create()
    settings.last_capture = str(path)
    settings.port = 0
    settings.save()
    win = build(build_parser().parse_args([]), QApplication.instance())
    qtbot.addWidget(win)
    try:
        qtbot.waitUntil(lambda: win.record_models["event"].rowCount() == 1, timeout=WAIT)
        assert win.capture == path.resolve()
        qtbot.waitUntil(lambda: win.receiver.state == "listening", timeout=WAIT)
        finish(post(win, USAGE_SAMPLE))
        qtbot.waitUntil(lambda: win.record_models["usage"].rowCount() == 1, timeout=WAIT)
        # The receiver started on the capture the reader already follows: nothing twice.
        assert win.record_models["event"].rowCount() == 1
        assert win.requests_model.rowCount() == 2
    finally:
        win.close()


def test_capture_from_a_newer_version_is_explained(qtbot, window, tmp_path):
    path = tmp_path / "future.sqlite"
    CaptureWriter(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    window.open_capture(path)
    qtbot.waitUntil(lambda: window.message_bar.isVisible()
                    and "newer Streamer Inspector" in window.message_bar.label.text(),
                    timeout=WAIT)


def test_killed_window_takes_its_receiver_along(tmp_path):
    """However the window ends (here SIGKILL, no clean-up at all), its receiver stops too."""
    import sys
    import time

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    with subprocess.Popen([sys.executable, "-m", "app", "--port", "0", "--capture",
                           str(tmp_path / "c.sqlite")], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) as gui:
        deadline = time.monotonic() + 30
        children: list[int] = []
        while not children and time.monotonic() < deadline:
            out = subprocess.run(["pgrep", "-P", str(gui.pid)], capture_output=True, text=True)
            children = [int(p) for p in out.stdout.split()]
            time.sleep(0.2)
        assert children, "the window started no receiver"
        # Let it get going (it has made the capture and announced itself) before the kill.
        running = Path(os.environ["XDG_STATE_HOME"]) / "streamer-inspector" / "running"
        while not ((tmp_path / "c.sqlite").exists() and running.is_dir()
                   and any(running.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.1)
        gui.kill()
        gui.wait(timeout=10)
    deadline = time.monotonic() + 15
    alive = set(children)
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            try:
                os.kill(pid, 0)
                with open(f"/proc/{pid}/stat") as fh:
                    if fh.read().split()[2] == "Z":
                        alive.discard(pid)
            except ProcessLookupError:
                alive.discard(pid)
        time.sleep(0.2)
    assert not alive, "the receiver outlived its window"


def test_filter_bar_restricts_rows_live_and_is_remembered(qtbot, window):
    records = Generator(sims=8, seed=12).records(400)
    finish(post(window, body=json.dumps(records).encode()))
    events = window.record_models["event"]
    n_events = sum("event_type" in r for r in records)
    qtbot.waitUntil(lambda: events.rowCount() == n_events, timeout=WAIT)
    iccid = records[0]["sim"]["iccid"]
    bar = window.filter_bars["event"]
    window.tabs.setCurrentIndex(1)
    qtbot.keyClicks(bar.findChild(QLineEdit), f"iccid == {iccid}")
    qtbot.keyClick(bar.findChild(QLineEdit), Qt.Key.Key_Return)
    expected = [r for r in records if "event_type" in r and r["sim"]["iccid"] == iccid]
    qtbot.waitUntil(lambda: events.rowCount() == len(expected), timeout=WAIT)
    column = column_of(EVENT_COLUMNS, "iccid")
    wait_cell(qtbot, events, 0, column, iccid)
    assert all(cell(events, row, column) == iccid for row in range(events.rowCount()))
    assert bar.findChild(QLabel, "filter_count").text() == f"{len(expected):,} of {n_events:,}"
    assert window.tabs.tabText(1) == f"Events ({len(expected)} of {n_events})"
    # Live: a new batch adds only its matching rows.
    more = Generator(sims=8, seed=12).records(400)[:50]
    finish(post(window, body=json.dumps(more).encode()))
    extra = [r for r in more if "event_type" in r and r["sim"]["iccid"] == iccid]
    qtbot.waitUntil(lambda: events.rowCount() == len(expected) + len(extra), timeout=WAIT)
    # A bad filter is refused and the previous one stays in force.
    edit = bar.findChild(QLineEdit)
    edit.setText("iccid == (")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert "Column 10" in bar.findChild(QLabel, "filter_error").text()
    assert events.rowCount() == len(expected) + len(extra)
    window.close()
    assert Settings.load().table_filters == {"event": f"iccid == {iccid}"}


def test_filter_on_this_value_from_a_cell(qtbot, window):
    finish(post(window, EVENT_SAMPLE))
    records = Generator(sims=4, seed=2).records(60)
    finish(post(window, body=json.dumps(records).encode()))
    events = window.record_models["event"]
    qtbot.waitUntil(lambda: events.rowCount() > 10, timeout=WAIT)
    column = column_of(EVENT_COLUMNS, "country")
    wait_cell(qtbot, events, 0, column, "Netherlands / T-Mobile")
    window.reader.value_filter("event", events.id_at(0), "country", False)
    bar = window.filter_bars["event"]
    qtbot.waitUntil(lambda: bar.current_filter().text == "country == Netherlands",
                    timeout=WAIT)
    want = 1 + sum(1 for r in records if "event_type" in r
                   and (r.get("detail") or {}).get("country", {}).get("name") == "Netherlands")
    qtbot.waitUntil(lambda: events.rowCount() == want, timeout=WAIT)
    window.reader.value_filter("event", events.id_at(0), "type", True)
    qtbot.waitUntil(lambda: bar.current_filter().text
                    == 'country == Netherlands and not type == "Update location"',
                    timeout=WAIT)


def test_new_capture_clear_save_as_and_recent(qtbot, window, tmp_path):
    first = window.capture
    finish(post(window, EVENT_SAMPLE))
    qtbot.waitUntil(lambda: window.record_models["event"].rowCount() == 1, timeout=WAIT)
    # Save a copy: a consistent snapshot in a file of its own.
    copy = tmp_path / "copy.sqlite"
    window.reader.save_as(copy)
    qtbot.waitUntil(lambda: "Saved a copy" in window.statusBar().currentMessage(),
                    timeout=WAIT)
    db = open_reader(copy)
    assert db.execute("SELECT count(*) FROM record").fetchone()[0] == 1
    db.close()
    # Clear: a new, empty capture; the old file stays and is in the recent list.
    window.clear_action.trigger()
    qtbot.waitUntil(lambda: window.receiver.state == "listening"
                    and window.capture != first, timeout=WAIT)
    assert window.record_models["event"].rowCount() == 0
    assert first.exists()
    finish(post(window, USAGE_SAMPLE))
    qtbot.waitUntil(lambda: window.record_models["usage"].rowCount() == 1, timeout=WAIT)
    # Open recent: back to the first capture, the endpoint now writes there.
    window.recent_menu.aboutToShow.emit()
    action = next(a for a in window.recent_menu.actions() if a.text() == str(first))
    action.trigger()
    qtbot.waitUntil(lambda: window.capture == first
                    and window.record_models["event"].rowCount() == 1
                    and window.receiver.state == "listening", timeout=WAIT)
    assert window.record_models["usage"].rowCount() == 0
    finish(post(window, USAGE_SAMPLE))
    qtbot.waitUntil(lambda: window.record_models["usage"].rowCount() == 1, timeout=WAIT)
    # New capture: empty again.
    window.new_action.trigger()
    qtbot.waitUntil(lambda: window.capture not in (first,)
                    and window.receiver.state == "listening", timeout=WAIT)
    assert window.requests_model.rowCount() == 0


def test_stop_closes_the_receivers_stdin_and_it_stops_cleanly(qtbot, window):
    """Stopping the endpoint closes the child's stdin (``serve --stop-with-stdin``), which
    stops a console child on every platform; no signal is sent: the kill that backs it up
    comes only after STOP_GRACE_MS, far beyond this wait."""
    from app.ui import receiver as receiver_module

    assert receiver_module.STOP_GRACE_MS > WAIT
    with qtbot.waitSignal(window.receiver.stopped, timeout=WAIT) as stopped:
        window.stop_action.trigger()
    qtbot.waitUntil(lambda: window.receiver.state == "stopped", timeout=WAIT)
    assert window.receiver.exit_code == 0
    assert stopped.args[0]["event"] == "stopped" and stopped.args[0]["requests"] == 0
    assert window.state_label.text() == "● Stopped"


def test_stopping_while_it_starts_ends_stopped(qtbot, window):
    """A stop asked for while the receiver is still starting (its "listening" line may come
    after the stop) ends in "stopped", not in an error about an exit."""
    window.stop_action.trigger()
    qtbot.waitUntil(lambda: window.receiver.state == "stopped", timeout=WAIT)
    window.start_action.trigger()
    assert window.receiver.state == "starting"
    with qtbot.waitSignal(window.receiver.stopped, timeout=WAIT):
        window.stop_action.trigger()
    qtbot.waitUntil(lambda: window.receiver.state == "stopped", timeout=WAIT)
    qtbot.wait(200)
    assert window.receiver.state == "stopped" and not window.message_bar.isVisible()
    assert window.state_label.text() == "● Stopped"
    window.start_action.trigger()  # and it starts again
    qtbot.waitUntil(lambda: window.receiver.state == "listening", timeout=WAIT)
