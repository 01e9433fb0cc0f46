"""Cancelling a child through its stdin (app/cli/cancel.py), as the window does on every
platform: a ``{"command": "cancel"}`` line, or stdin closing, acts as Ctrl+C."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from app.cli.cancel import CANCEL_ENV, CANCEL_LINE


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens here once the socket is closed


@pytest.mark.parametrize("how", ["line", "close"])
def test_a_send_child_is_cancelled_through_stdin(how):
    with subprocess.Popen(
            [sys.executable, "-m", "app", "send", f"http://127.0.0.1:{dead_port()}/",
             "--sample", "usage-record", "--events", "jsonl", "--retries", "10",
             "--backoff", "60"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, CANCEL_ENV: "1"}) as child:
        for line in child.stdout:  # wait for the long back-off
            if json.loads(line)["event"] == "retry":
                break
        if how == "line":
            child.stdin.write(CANCEL_LINE)
            child.stdin.flush()
        out, err = child.communicate(timeout=20)
        assert child.returncode == 130
    report = json.loads(out.splitlines()[-1])
    assert report["event"] == "report" and report["state"] == "cancelled"
    assert b"Traceback" not in err


def test_without_the_switch_stdin_is_left_alone(tmp_path):
    """A send run from a shell with its stdin closed is not cancelled."""
    out = subprocess.run(
        [sys.executable, "-m", "app", "send", f"http://127.0.0.1:{dead_port()}/", "--sample",
         "usage-record", "--events", "jsonl", "--retries", "0"],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k != CANCEL_ENV})
    report = json.loads(out.stdout.splitlines()[-1])
    assert report["state"] == "failed" and out.returncode == 1
