"""Copy as cURL of a request in the window: the command, run by bash with the real curl, sends
the request again as it was received (method, target, query, Content-Type, Content-Encoding,
body byte for byte, credentials as judged) to the window's real receiver."""

from __future__ import annotations

import base64
import gzip
import http.client
import os
import ssl
import subprocess
from urllib.parse import urlsplit

from PySide6.QtGui import QGuiApplication

from app.ui.transfer import ExportDialog
from tests.server.test_server import stored_rows
from tests.ui.conftest import WAIT


def send(window, method: str, target: str, headers: dict[str, str], body: bytes) -> int:
    """One request by http.client over TLS (not curl): target and headers go as given."""
    endpoint = window.receiver.endpoint
    url = urlsplit(endpoint["url"])
    conn = http.client.HTTPSConnection(
        url.hostname, url.port, timeout=30,
        context=ssl.create_default_context(cafile=endpoint["ca_file"]))
    try:
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def copy_request(qtbot, window, request_id: int) -> tuple[str, str]:
    """Select request ``request_id`` in the Requests table, Copy as cURL: the command and the
    message bar's sentence."""
    model = window.requests_model
    qtbot.waitUntil(lambda: any(model.id_at(r) == request_id for r in range(model.rowCount())),
                    timeout=WAIT)
    row = next(r for r in range(model.rowCount()) if model.id_at(r) == request_id)
    window.tabs.setCurrentIndex(0)
    window.views["requests"].setCurrentIndex(model.index(row, 0))
    clipboard = QGuiApplication.clipboard()
    clipboard.clear()
    window.copy_as_curl_action.trigger()
    # the message names this request: the clipboard may still hold the previous command
    qtbot.waitUntil(lambda: clipboard.text().startswith(("curl ", "printf ")) and
                    f"Copied request {request_id} " in window.statusBar().currentMessage(),
                    timeout=WAIT)
    return clipboard.text(), window.statusBar().currentMessage()


def bash(command: str) -> subprocess.CompletedProcess:
    """Run a copied command as a user pastes it into a shell (on bash's input)."""
    result = subprocess.run(["bash", "-s"], input=command.encode(), capture_output=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result


def test_copy_a_request_as_curl_sends_it_again_as_it_was_received(qtbot, window):
    settings = window.settings
    right = "Basic " + base64.b64encode(f"{settings.user}:{settings.password}".encode()).decode()
    wrong = "Basic " + base64.b64encode(f"{settings.user}:nope".encode()).decode()
    text = b"plain text \xe2\x82\xac\n$HOME `id` 'q'\n"
    sent = [  # (method, target, headers, body, status)
        ("PUT", "/put/x%2Fy?q=%20a&b", {"Content-Type": "text/plain", "Authorization": right},
         text, 405),
        ("POST", "/gz?x=1", {"Content-Type": "application/json", "Content-Encoding": "gzip",
                             "Authorization": right}, gzip.compress(b'[{"id": 1}]'), 200),
        ("POST", "/wrong", {"Content-Type": "application/json", "Authorization": wrong},
         b'[{"id": 2}]', 401),
        ("POST", "/missing", {"Content-Type": "application/json"}, b'[{"id": 3}]', 401),
    ]
    for method, target, headers, body, status in sent:
        assert send(window, method, target, headers, body) == status
    originals = stored_rows(window)
    assert len(originals) == len(sent)
    for original in originals:
        command, message = copy_request(qtbot, window, original["id"])
        assert f"Copied request {original['id']} as a cURL command" in message
        bash(command)
        again = stored_rows(window)[-1]
        for name in ("method", "target", "content_type", "content_encoding", "body", "auth",
                     "auth_user", "status"):
            assert again[name] == original[name], (original["target"], name)
    put = originals[0]
    assert (put["method"], put["content_type"], put["target"]) == (
        "PUT", "text/plain", "/put/x%2Fy?q=%20a&b")
    # The wrong credential stays wrong without the real password on the clipboard.
    command, message = copy_request(qtbot, window, originals[2]["id"])
    assert settings.password not in command and "wrong credentials" in message
    command, message = copy_request(qtbot, window, originals[3]["id"])
    assert " -u " not in command and "without credentials" in message


def test_file_export_as_curl_writes_a_script_that_replays_the_capture(qtbot, window, tmp_path):
    settings = window.settings
    right = "Basic " + base64.b64encode(f"{settings.user}:{settings.password}".encode()).decode()
    assert send(window, "PUT", "/a%2Fb?q=%20", {"Content-Type": "text/plain",
                                                 "Authorization": right}, b"x\n") == 405
    assert send(window, "POST", "/", {"Content-Type": "application/json"}, b"[]") == 401
    dialog = ExportDialog(window.capture, {"All requests": []}, False, window)
    qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(dialog.format.findData("curl"))
    assert dialog.target.text().endswith(".sh")
    script = tmp_path / "replay.sh"
    dialog.target.setText(str(script))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.state.text().startswith("Exported"), timeout=WAIT)
    assert "Exported 2 requests" in dialog.state.text()
    dialog.close()
    result = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "STREAMER_INSPECTOR_PASSWORD": settings.password,
             "CURL_CA": window.receiver.endpoint["ca_file"]})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All 2 requests got their recorded status." in result.stdout
    _, _, *again = stored_rows(window)
    assert [(r["method"], r["target"], r["status"]) for r in again] == [
        ("PUT", "/a%2Fb?q=%20", 405), ("POST", "/", 401)]


def test_copy_as_curl_masks_identifiers_while_the_view_does(qtbot, window):
    settings = window.settings
    right = "Basic " + base64.b64encode(f"{settings.user}:{settings.password}".encode()).decode()
    iccid, imsi = "8988228066602306710", "901405100000001"
    body = (f'[{{"id": 7, "timestamp": "2024-12-13T12:49:57Z", "event_type": {{"id": 1}}, '
            f'"sim": {{"iccid": "{iccid}"}}, "imsi": {{"imsi": "{imsi}"}}}}]').encode()
    assert send(window, "POST", f"/hook?iccid={iccid}",
                {"Content-Type": "application/json", "Authorization": right}, body) == 200
    (original,) = stored_rows(window)
    window.mask_action.trigger()
    command, message = copy_request(qtbot, window, original["id"])
    assert iccid not in command and imsi not in command
    assert "identifiers masked" in message
    bash(command)  # still a working command: a masked request arrives, its ICCID a pseudonym
    again = stored_rows(window)[-1]
    assert again["status"] == 200 and iccid not in again["body"].decode()
    assert again["body"].decode().count('"89') == 1 and iccid not in again["target"]
    # records too: the table's selection, as one JSON list
    events = window.record_models["event"]
    qtbot.waitUntil(lambda: events.rowCount() >= 1, timeout=WAIT)
    window.tabs.setCurrentIndex(1)
    window.views["event"].setCurrentIndex(events.index(0, 0))
    clipboard = QGuiApplication.clipboard()
    clipboard.clear()
    window.copy_as_curl_action.trigger()
    qtbot.waitUntil(lambda: clipboard.text().startswith(("curl ", "printf ")) and
                    "1 record as a cURL command" in window.statusBar().currentMessage(),
                    timeout=WAIT)
    assert "/hook" not in clipboard.text()  # the record as a list, not the request copied before
    assert iccid not in clipboard.text() and imsi not in clipboard.text()
    assert "identifiers masked" in window.statusBar().currentMessage()
    window.mask_action.trigger()
