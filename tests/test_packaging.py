"""The Linux build: it builds, starts without Python, and answers a POST. Slow: run with
``uv run pytest -m slow tests/test_packaging.py``."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import EVENT_SAMPLE, ROOT

pytestmark = pytest.mark.slow

APP = ROOT / "dist" / "streamer-inspector" / "streamer-inspector"


@pytest.fixture(scope="module")
def build():
    result = subprocess.run(["bash", str(ROOT / "packaging" / "build-linux.sh")], cwd=ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return APP


def clean_env(tmp_path) -> dict:
    """No virtual environment, no Python on the PATH: only what the build carries."""
    return {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME":
            str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}


def test_the_build_serves_and_answers_a_post(build, tmp_path):
    with subprocess.Popen([str(build), "serve", "--port", "0", "--events", "jsonl",
                           "--capture", str(tmp_path / "c.sqlite"), "--password", "pw"],
                          env=clean_env(tmp_path), stdout=subprocess.PIPE, text=True) as proc:
        try:
            listening = json.loads(proc.stdout.readline())
            assert listening["event"] == "listening"
            out = subprocess.run(
                ["curl", "-sS", "--cacert", listening["ca_file"], "-u", "streamer:pw",
                 "-H", "Content-Type: application/json", "--data-binary", f"@{EVENT_SAMPLE}",
                 listening["url"]], capture_output=True, text=True, timeout=30, check=True)
            assert json.loads(out.stdout)["counts"] == {"event": 1}
            # The samples travel with the build.
            assert "/_internal/app/_resources/samples/" in listening["curl"]
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def test_the_build_opens_its_window_with_its_receiver(build, tmp_path):
    env = clean_env(tmp_path) | {"QT_QPA_PLATFORM": "offscreen"}
    with subprocess.Popen([str(build), "--port", "0", "--capture", str(tmp_path / "w.sqlite")],
                          env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE) as proc:
        try:
            deadline = time.monotonic() + 30
            children = []
            while not children and time.monotonic() < deadline:
                found = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                       text=True)
                children = found.stdout.split()
                time.sleep(0.3)
            assert children, "the window started no receiver"
            time.sleep(2)
            assert proc.poll() is None, proc.stderr.read()
            assert (tmp_path / "w.sqlite").exists()
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    time.sleep(1)
    alive = []
    for child in children:
        stat = Path(f"/proc/{child}/stat")
        if stat.exists() and stat.read_text().split()[2] != "Z":
            alive.append(child)
    assert not alive, "the receiver outlived its window"


def test_desktop_files_validate():
    app_id = "io.github.streamer_inspector.StreamerInspector"
    desktop = ROOT / "packaging" / f"{app_id}.desktop"
    metainfo = ROOT / "packaging" / f"{app_id}.metainfo.xml"
    for tool, path in (("desktop-file-validate", desktop),
                       ("appstreamcli", metainfo)):
        args = [tool, str(path)] if tool != "appstreamcli" else [tool, "validate", "--no-net",
                                                                 str(path)]
        result = subprocess.run(args, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    from app.ui.application import APP_ID

    assert app_id == APP_ID
