"""The public URL (``serve --public``, the ``expose``/``unexpose`` commands): a real ``ssh -R``
tunnel through a real ``sshd`` on loopback carrying a real POST into the capture; cloudflared's
process management with a stand-in executable that prints cloudflared's banner; the clear
answers for a missing program, a missing ngrok token and ``--public`` with ``--no-auth``.

Nothing here reaches the internet: the real cloudflared and ngrok services were not tried.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from queue import Empty, Queue

import pytest

from app.net import client_address, forwarded_client
from app.runtime import running
from app.server.public import PublicError, check_public_url, parse_provider, service_url
from tests.conftest import EVENT_SAMPLE, ROOT, serve_command, start_receiver

SSHD = shutil.which("sshd") or next(
    (p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if os.access(p, os.X_OK)), None)
SSH = shutil.which("ssh")

# cloudflared's documented quick-tunnel banner (cloudflared tunnel --url ...), then an error.
CLOUDFLARED_STAND_IN = """#!/bin/sh
echo $$ >> "{pids}"
echo "$*" >> "{args}"
cat <<'EOF'
2026-11-30T15:00:00Z INF Thank you for trying Cloudflare Tunnel. Doing so, without a Cloudflare \
account, is a quick way to experiment and try it out. However, be aware that these account-less \
Tunnels have no uptime guarantee. If you intend to use Tunnels in production you should use a \
pre-created named tunnel by following: \
https://developers.cloudflare.com/cloudflare-one/connections/connect-apps
2026-11-30T15:00:00Z INF Requesting new quick Tunnel on trycloudflare.com...
2026-11-30T15:00:01Z INF +-------------------------------------------------------------------+
2026-11-30T15:00:01Z INF |  Your quick Tunnel has been created! Visit it at (it may take some \
time to be reachable):  |
2026-11-30T15:00:01Z INF |  https://seasonal-deck-organisms-sf.trycloudflare.com       |
2026-11-30T15:00:01Z INF +-------------------------------------------------------------------+
EOF
{ending}
"""
DIES_SOON = """sleep 1
echo '2026-11-30T15:00:05Z ERR Connection terminated error="stand-in ends here"'
exit 1"""
LIVES_ON = "exec sleep 60"  # one process: its pid is the tunnel's


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def public_events(next_event, count: int, timeout: float = 15.0) -> list[dict]:
    """The next ``count`` public_url events (other events skipped)."""
    found = []
    while len(found) < count:
        event = next_event(timeout)
        if event.get("event") == "public_url":
            found.append(event)
    return found


def post(url: str, user: str, password: str, headers: dict | None = None) -> int:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        url, data=EVENT_SAMPLE.read_bytes(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}",
                 **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


# -- the provider's name ---------------------------------------------------------------------

def test_providers_are_parsed_and_bad_ones_say_what_is_accepted():
    assert parse_provider("cloudflared").kind == "cloudflared"
    assert parse_provider("NGROK").kind == "ngrok"
    ssh = parse_provider("ssh:me@tunnel.example.org:2222")
    assert (ssh.kind, ssh.destination, ssh.ssh_port) == ("ssh", "me@tunnel.example.org", 2222)
    assert parse_provider("ssh:me@[::1]").destination == "me@::1"
    own = parse_provider("https://inspector.example.org")
    assert (own.kind, own.url) == ("url", "https://inspector.example.org/")
    for bad, why in [("pagekite", "unknown --public provider"),
                     ("ssh:-oProxyCommand=x@host", "USER@HOST"),  # never an ssh option
                     ("ssh:host-without-user", "USER@HOST"),
                     ("http://inspector.example.org/", "must be https"),
                     ("https://", "must be https")]:
        with pytest.raises(PublicError, match=why):
            parse_provider(bad)
    with pytest.raises(PublicError, match="must be https"):
        check_public_url("ftp://x.example.org/")


def test_a_tunnel_services_url_is_read_from_the_line_that_says_it_forwards():
    welcome = ["Welcome to localhost.run!",
               "Follow your favourite reverse tunnel at [https://twitter.com/localhost_run].",
               "To set up and manage custom domains go to https://admin.localhost.run/",
               "debug1: remote forward success for: listen 80, connect 127.0.0.1:4711"]
    assert [service_url(line) for line in welcome] == [None] * 4
    assert service_url("8f3a.lhr.life tunneled with tls termination, https://8f3a.lhr.life") \
        == "https://8f3a.lhr.life/"
    assert service_url("Forwarding HTTP traffic from https://abc123.serveo.net") \
        == "https://abc123.serveo.net/"


def test_the_original_client_is_derived_from_the_forwarding_headers():
    assert client_address("127.0.0.1", []) == "127.0.0.1"
    assert client_address("127.0.0.1", [("X-Forwarded-For", "203.0.113.5, 10.0.0.1")]) \
        == "203.0.113.5 via 127.0.0.1"
    # Cloudflare's own header first, whatever the order they came in
    assert client_address("127.0.0.1", [("X-Forwarded-For", "198.51.100.7"),
                                        ("Cf-Connecting-Ip", "2001:db8::5")]) \
        == "2001:db8::5 via 127.0.0.1"
    assert forwarded_client([("Forwarded", 'for="[2001:db8::1]:4711";proto=https')]) \
        == "2001:db8::1"
    assert forwarded_client([("X-Real-Ip", "203.0.113.9:5050")]) == "203.0.113.9"
    # wire text that is not an address is never shown as one
    assert client_address("127.0.0.1", [("X-Forwarded-For", "\x1b[31mevil")]) == "127.0.0.1"
    assert client_address("203.0.113.5", [("X-Real-Ip", "203.0.113.5")]) == "203.0.113.5"


# -- refusals --------------------------------------------------------------------------------

def test_public_with_no_auth_is_refused(tmp_path):
    result = subprocess.run(
        serve_command("--port", "0", "--no-auth", "--capture", str(tmp_path / "c.sqlite"),
                      "--public", "cloudflared"),
        cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--public with --no-auth is refused" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "c.sqlite").exists()


# -- cloudflared (a stand-in), ngrok without a token, through the control channel -----------

class Child:
    """``serve --events jsonl --stop-with-stdin``: commands in, events out."""

    def __init__(self, tmp_path: Path, env: dict, *args: str):
        self.proc = subprocess.Popen(
            serve_command("--port", "0", "--events", "jsonl", "--stop-with-stdin",
                          "--capture", str(tmp_path / "capture.sqlite"),
                          "--user", "streamer", "--password", "pw", *args),
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env)
        self.lines: Queue = Queue()
        self.stderr = ""
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        assert self.next_event(30)["event"] == "listening"

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def next_event(self, timeout: float = 15.0) -> dict:
        try:
            return json.loads(self.lines.get(timeout=timeout))
        except Empty:
            raise AssertionError("serve printed no event in time") from None

    def send(self, command: dict) -> None:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def close(self) -> int:
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.stderr = self.proc.stderr.read()
            self.proc.stderr.close()
            self._pump_thread.join(10)
            self.proc.stdout.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")


def test_cloudflared_url_restart_and_stop_and_clear_failures(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "NGROK_AUTHTOKEN"}
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    child = Child(tmp_path, env)
    try:
        # No cloudflared on the PATH: a clear line, not retried.
        child.send({"command": "expose", "provider": "cloudflared"})
        starting, failed = public_events(child.next_event, 2)
        assert (starting["state"], failed["state"]) == ("starting", "failed")
        assert "cloudflared is not installed" in failed["message"]
        # ngrok without a token: said before any network use.
        child.send({"command": "expose", "provider": "ngrok"})
        _, failed = public_events(child.next_event, 2)
        assert failed["provider"] == "ngrok" and failed["state"] == "failed"
        assert "ngrok needs your authtoken" in failed["message"]
        assert "NGROK_AUTHTOKEN" in failed["message"]
        child.send({"command": "expose", "provider": "pagekite"})
        (failed,) = public_events(child.next_event, 1)
        assert failed["state"] == "failed" and "unknown --public provider" in failed["message"]

        # The stand-in: the URL is read from its banner; it dies; it is started again.
        pids, args = tmp_path / "pids", tmp_path / "args"
        stand_in = bin_dir / "cloudflared"
        stand_in.write_text(CLOUDFLARED_STAND_IN.format(pids=pids, args=args, ending=DIES_SOON))
        stand_in.chmod(0o755)
        child.send({"command": "expose", "provider": "cloudflared"})
        events = public_events(child.next_event, 5)
        assert [e["state"] for e in events] == ["starting", "public", "failed", "starting",
                                                "public"]
        url = "https://seasonal-deck-organisms-sf.trycloudflare.com/"
        assert events[1]["url"] == url and events[4]["url"] == url
        assert {e["provider"] for e in events} == {"cloudflared"}
        assert "stand-in ends here" in events[2]["message"]
        assert "trying again in 1 s" in events[2]["message"]
        assert not events[2]["message"].startswith("2026")  # cloudflared's log prefix goes
        # It was told to forward to the loopback plain-HTTP origin, and that origin is the
        # receiver (Basic Auth and all).
        argv = args.read_text().splitlines()[0].split()
        assert argv[:3] == ["tunnel", "--no-autoupdate", "--url"]
        origin = argv[3]
        assert origin.startswith("http://127.0.0.1:")
        assert post(origin + "/", "streamer", "wrong") == 401
        assert post(origin + "/", "streamer", "pw",
                    {"Cf-Connecting-Ip": "198.51.100.20"}) == 200

        # unexpose stops the running one; the child process is gone.
        stand_in.write_text(CLOUDFLARED_STAND_IN.format(pids=pids, args=args, ending=LIVES_ON))
        child.send({"command": "expose", "provider": "cloudflared"})
        states = []
        while "public" not in states[-1:]:
            states.append(public_events(child.next_event, 1)[0]["state"])
        long_lived = int(pids.read_text().split()[-1])
        assert alive(long_lived)
        child.send({"command": "unexpose"})
        (stopped,) = public_events(child.next_event, 1)
        assert stopped["state"] == "stopped" and stopped["url"] is None
        assert not alive(long_lived)

        # ... and stopping serve stops a running tunnel too.
        child.send({"command": "expose", "provider": "cloudflared"})
        while public_events(child.next_event, 1)[0]["state"] != "public":
            pass
        last = int(pids.read_text().split()[-1])
        assert last != long_lived and alive(last)
    finally:
        status = child.close()
    assert status == 0
    assert not alive(last)
    assert "Traceback" not in child.stderr
    with sqlite3.connect(tmp_path / "capture.sqlite") as db:
        rows = db.execute("SELECT peer, headers FROM request WHERE status = 200").fetchall()
    assert [client_address(peer, json.loads(headers)) for peer, headers in rows] \
        == ["198.51.100.20 via 127.0.0.1"]


def test_own_url_is_public_at_once_and_in_the_banner(tmp_path):
    result = subprocess.Popen(
        serve_command("--port", "0", "--capture", str(tmp_path / "c.sqlite"), "--password",
                      "pw", "--public", "https://inspector.example.org/streamer"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in result.stdout:
            lines.append(line)
            if "Public URL:" in line:
                break
        assert "  Public URL:         https://inspector.example.org/streamer\n" in lines
    finally:
        result.terminate()
        result.wait(timeout=20)
        result.stdout.close()
        result.stderr.close()


# -- ssh -R through a real sshd on loopback ---------------------------------------------------

@pytest.fixture
def sshd(tmp_path):
    """A real sshd on a free loopback port for the current user, with keys made here; a
    stand-in ``ssh`` on a PATH of its own runs the real ssh with a config naming those keys."""
    if SSHD is None or SSH is None:
        pytest.fail("OpenSSH's sshd and ssh are needed (apt-get install openssh-server "
                    "openssh-client; .ci/run does)")
    d = tmp_path / "ssh"
    d.mkdir(mode=0o700)
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)],
                       check=True, timeout=30)
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile none\n"
        f"UsePAM no\nStrictModes no\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
        f"PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n"
        f"AllowTcpForwarding yes\nGatewayPorts no\nLogLevel VERBOSE\n"
        # A session says what a tunnel service says (a forward alone, ssh -N, opens none).
        f"ForceCommand echo 'Welcome! Docs at https://docs.example.org/'; "
        f"echo 'abc123.lhr.example tunneled with tls termination, https://abc123.lhr.example';"
        f" exec cat >/dev/null\n")  # until the client goes
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    host_key = (d / "host_key.pub").read_text().split()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    (d / "ssh_config").write_text(
        f"Host *\n  IdentityFile {d / 'client_key'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {d / 'known_hosts'}\n  StrictHostKeyChecking yes\n")
    bin_dir = tmp_path / "sshbin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ssh"
    wrapper.write_text(f"#!/bin/sh\nexec {SSH} -F {d / 'ssh_config'} \"$@\"\n")
    wrapper.chmod(0o755)
    for _ in range(100):  # until it listens
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        if proc.poll() is not None:
            pytest.fail(f"sshd did not start: {proc.stderr.read()}")
        threading.Event().wait(0.05)
    yield {"port": port, "path": f"{bin_dir}:{os.environ['PATH']}"}
    proc.terminate()
    proc.wait(timeout=10)
    proc.stderr.close()


def test_ssh_reverse_tunnel_carries_a_post_into_the_capture(tmp_path, sshd):
    import pwd

    user = pwd.getpwuid(os.getuid()).pw_name
    remote = free_port()
    env = {**os.environ, "PATH": sshd["path"]}
    rec = start_receiver(tmp_path, "--public", f"ssh:{user}@127.0.0.1:{sshd['port']}",
                         "--public-url", "https://inspector.example.org",
                         "--public-remote-port", str(remote), env=env)
    try:
        events = []
        while not events or events[-1]["state"] not in ("public", "failed"):
            events += public_events(rec.next_event, 1, timeout=20)
        assert [e["state"] for e in events] == ["starting", "public"], events
        assert events[-1]["provider"] == "ssh"
        assert events[-1]["url"] == "https://inspector.example.org/"
        # The running entry names it (check finds the receiver a public URL reaches).
        assert [e.public_url for e in running() if e.pid == rec.proc.pid] \
            == ["https://inspector.example.org/"]
        # The server's end of the tunnel (what a tunnel service's proxy would post to), with
        # the forwarding header such a proxy adds.
        assert post(f"http://127.0.0.1:{remote}/via-ssh", rec.user, rec.password,
                    {"X-Forwarded-For": "203.0.113.5"}) == 200
        stored = rec.next_event()
        assert stored["event"] == "request" and stored["status"] == 200
    finally:
        assert rec.stop() == 0
    # serve stopped, so did its ssh: the server's end of the tunnel is closed.
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", remote)) != 0
    with sqlite3.connect(rec.capture) as db:
        peer, path, headers = db.execute("SELECT peer, path, headers FROM request").fetchone()
    assert path == "/via-ssh"
    assert client_address(peer, json.loads(headers)) == "203.0.113.5 via 127.0.0.1"


def test_ssh_failure_is_said_and_retried(tmp_path, sshd):
    env = {**os.environ, "PATH": sshd["path"]}
    rec = start_receiver(tmp_path, "--public", f"ssh:nobody-here@127.0.0.1:{sshd['port']}",
                         "--public-url", "https://inspector.example.org/",
                         "--public-remote-port", str(free_port()), env=env)
    try:
        starting, failed = public_events(rec.next_event, 2, timeout=20)
        assert (starting["state"], failed["state"]) == ("starting", "failed")
        assert "ssh exited (status 255)" in failed["message"]
        assert "Permission denied" in failed["message"]
        assert "trying again in 1 s" in failed["message"]
        assert public_events(rec.next_event, 1, timeout=20)[0]["state"] == "starting"
    finally:
        assert rec.stop() == 0


def test_ssh_reads_the_url_a_tunnel_service_prints(tmp_path, sshd):
    import pwd

    user = pwd.getpwuid(os.getuid()).pw_name
    remote = free_port()
    rec = start_receiver(tmp_path, "--public", f"ssh:{user}@127.0.0.1:{sshd['port']}",
                         "--public-remote-port", str(remote),
                         env={**os.environ, "PATH": sshd["path"]})
    try:
        starting, public = public_events(rec.next_event, 2, timeout=20)
        assert (starting["state"], public["state"]) == ("starting", "public"), public
        assert public["url"] == "https://abc123.lhr.example/"
        assert post(f"http://127.0.0.1:{remote}/", rec.user, rec.password) == 200
    finally:
        assert rec.stop() == 0


def test_a_tunnel_does_not_outlive_a_killed_receiver(tmp_path):
    """kill -9 of serve (no clean stop): its tunnel process gets SIGKILL too (Linux)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pids = tmp_path / "pids"
    stand_in = bin_dir / "cloudflared"
    stand_in.write_text(CLOUDFLARED_STAND_IN.format(pids=pids, args=tmp_path / "args",
                                                    ending=LIVES_ON))
    stand_in.chmod(0o755)
    rec = start_receiver(tmp_path, "--public", "cloudflared",
                         env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert [e["state"] for e in public_events(rec.next_event, 2)] == ["starting", "public"]
    tunnel = int(pids.read_text().split()[-1])
    assert alive(tunnel)
    rec.kill()
    for _ in range(100):
        if not alive(tunnel):
            break
        threading.Event().wait(0.05)
    assert not alive(tunnel)
