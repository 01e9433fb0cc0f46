"""Import, export and masking from the window."""

from __future__ import annotations

import csv
import json

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from app.capture.schema import open_reader
from app.records.columns import RECORD_TABS
from app.replay.generator import Generator
from app.ui.transfer import ExportDialog
from tests.conftest import folded
from tests.ui.conftest import WAIT

EVENT_TAB = next(t for t in RECORD_TABS if t.key == "event")


def iccid_column() -> int:
    return [c.name for c in EVENT_TAB.view_columns].index("iccid")


def test_dropping_a_file_imports_it_through_the_receiver(qtbot, window, tmp_path):
    records = Generator(sims=6, seed=5).records(300)
    src = tmp_path / "records.ndjson"
    src.write_text("\n".join(json.dumps(r) for r in records))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(src))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window._counts["records"] == 300, timeout=WAIT)
    qtbot.waitUntil(lambda: "Imported 300 records from records.ndjson"
                    in window.statusBar().currentMessage(), timeout=WAIT)
    db = open_reader(folded(window.capture))
    assert {s for (s,) in db.execute("SELECT source FROM request")} == {"imported"}
    stored = [json.loads(t) for (t,) in db.execute("SELECT json FROM record ORDER BY id")]
    db.close()
    assert stored == records


def test_a_bad_file_imports_nothing_and_says_why(qtbot, window, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"a": 1}, 5]')
    window.transfers.import_file(bad)
    qtbot.waitUntil(lambda: window.message_bar.isVisible(), timeout=WAIT)
    assert "element 1 of the list is not a record" in window.message_bar.label.text()
    assert "Nothing was imported" in window.message_bar.label.text()
    assert window.requests_model.rowCount() == 0
    # The status bar no longer says "Importing bad.json…" (issue 15, item 10).
    assert "Importing" not in window.statusBar().currentMessage()


def test_mask_view_hides_identifiers_and_keeps_them_consistent(qtbot, window, tmp_path):
    records = Generator(sims=3, seed=9).records(60)
    src = tmp_path / "r.json"
    src.write_text(json.dumps(records))
    window.transfers.import_file(src)
    events = window.record_models["event"]
    qtbot.waitUntil(lambda: events.rowCount() > 5, timeout=WAIT)
    column = iccid_column()
    originals = {r["sim"]["iccid"] for r in records}
    qtbot.waitUntil(lambda: events.data(events.index(0, column)) in originals, timeout=WAIT)
    window.mask_action.trigger()
    qtbot.waitUntil(lambda: (events.data(events.index(0, column)) or "").startswith("89")
                    and events.data(events.index(0, column)) not in originals, timeout=WAIT)
    shown = {events.data(events.index(r, column)) for r in range(events.rowCount())}
    qtbot.waitUntil(lambda: all(events.data(events.index(r, column))
                                for r in range(events.rowCount())), timeout=WAIT)
    shown = {events.data(events.index(r, column)) for r in range(events.rowCount())}
    assert not shown & originals and len(shown) == len(
        {r["sim"]["iccid"] for r in records if "event_type" in r})
    window.views["event"].setCurrentIndex(events.index(0, 0))
    qtbot.waitUntil(lambda: "event record" in window.detail_title.text(), timeout=WAIT)
    window.mask_action.trigger()
    qtbot.waitUntil(lambda: events.data(events.index(0, column)) in originals, timeout=WAIT)


def test_export_dialog_writes_the_filtered_table(qtbot, window, tmp_path):
    records = Generator(sims=4, seed=3).records(200)
    src = tmp_path / "r.json"
    src.write_text(json.dumps(records))
    window.transfers.import_file(src)
    qtbot.waitUntil(lambda: window._counts["records"] == 200, timeout=WAIT)
    window.tabs.setCurrentIndex(1)
    window.filter_bars["event"].set_text("type_id == 5")
    scopes = {"Deletes": ["--filter", "(family == event) and (type_id == 5)"]}
    dialog = ExportDialog(window.capture, scopes, False, window)
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(dialog.format.findData("csv"))
    target = tmp_path / "deletes.csv"
    dialog.target.setText(str(target))
    dialog.bom.setChecked(True)
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.state.text().startswith("Exported"), timeout=WAIT)
    with target.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = [r for r in records if r.get("event_type", {}).get("id") == 5]
    assert len(rows) == len(expected)
    assert {r["sim.iccid"] for r in rows} == {r["sim"]["iccid"] for r in expected}
    dialog.close()


def test_cancelling_an_export_goes_through_the_childs_stdin(qtbot, window, tmp_path):
    """Cancel reaches the export child as a line on its stdin (a signal cannot do that on
    Windows): it stops cleanly, says "cancelled" and leaves nothing under the chosen name."""
    import subprocess
    import sys

    from app.replay.samples import find

    record = json.loads(find("usage-record").body())[0]
    src = tmp_path / "many.ndjson"
    src.write_text((json.dumps(record) + "\n") * 60_000)
    capture = tmp_path / "big.sqlite"
    subprocess.run([sys.executable, "-m", "app", "import", "--capture", str(capture), str(src)],
                   check=True, capture_output=True, timeout=120)
    # masked, so that it takes seconds (unmasked it may be done before a progress line is read)
    dialog = ExportDialog(capture, {"All requests": []}, True, window)
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(dialog.format.findData("json"))
    target = tmp_path / "all.json"
    dialog.target.setText(str(target))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.progress.maximum() > 1, timeout=WAIT)  # it is under way
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.state.text() == "Cancelled: nothing was written.",
                    timeout=WAIT)
    qtbot.waitUntil(dialog.export_button.isEnabled, timeout=WAIT)  # the child has exited
    assert not target.exists() and not list(tmp_path.glob(".all.json*"))
    # Cancelled at once, while the child is still starting (before its own handler is set):
    # stopped without a traceback, and the dialog says so.
    dialog.mask.setChecked(False)
    dialog.export_button.click()
    dialog.cancel_button.click()
    qtbot.waitUntil(dialog.export_button.isEnabled, timeout=WAIT)
    assert dialog.state.text() == "Cancelled: nothing was written."
    assert not target.exists() and not list(tmp_path.glob(".all.json*"))
    dialog.close()


def test_export_dialog_sends_requests_to_the_url_given_or_says_why_not(qtbot, window, tmp_path):
    src = tmp_path / "r.json"
    src.write_text(json.dumps(Generator(sims=2, seed=5).records(3)))
    window.transfers.import_file(src)
    qtbot.waitUntil(lambda: window._counts["records"] == 3, timeout=WAIT)
    dialog = ExportDialog(window.capture, {"All": []}, False, window)
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(dialog.format.findData("csv"))
    assert dialog.base_url.isHidden()  # records formats are not sent anywhere
    dialog.format.setCurrentIndex(dialog.format.findData("har"))
    assert not dialog.base_url.isHidden()
    target = tmp_path / "c.har"
    dialog.target.setText(str(target))
    dialog.base_url.setText("ftp://backend.example")
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.export_button.isEnabled() and dialog.state.text()
                    .startswith("Could not export"), timeout=WAIT)
    assert "is not an http:// or https:// URL with a host" in dialog.state.text()
    assert not target.exists()
    dialog.base_url.setText("https://backend.example:9443/")
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.state.text().startswith("Exported"), timeout=WAIT)
    entries = json.loads(target.read_text("utf-8"))["log"]["entries"]
    assert entries and all(e["request"]["url"].startswith("https://backend.example:9443/")
                           for e in entries)
    dialog.close()
