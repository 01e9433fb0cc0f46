"""A public ``https://`` URL for the local endpoint (``serve --public PROVIDER``): a tunnel that
the receiver owns, starts, restarts with back-off and stops with itself.

Providers: ``cloudflared`` (a quick tunnel: ``cloudflared tunnel --url``, no account), ``ngrok``
(the official SDK, the agent in the wheel; an authtoken), ``ssh:USER@HOST[:PORT]`` (the system
``ssh -R``, to the user's own server or a service that prints its URL) and an ``https://`` URL
the user already has (a reverse proxy: nothing to run).

Every tunnel forwards to the *tunnel origin*: a second, plain-HTTP listener of the same receiver
on a free loopback port. The public TLS ends at the tunnel's service; the hop from the tunnel's
agent to the receiver stays inside this computer, so no agent has to trust (or be told to skip
checking) the local CA. Basic Auth is required on that listener as on the endpoint.

Each state change is one ``public_url`` event: ``starting``, ``public`` (with the URL),
``failed`` (with why, and when it is tried again) and ``stopped``. Qt-free.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.display import printable

NGROK_TOKEN_ENV = "NGROK_AUTHTOKEN"
PROVIDER_HELP = ("cloudflared, ngrok, ssh:USER@HOST[:PORT], or the https:// URL of your own "
                 "reverse proxy")
CLOUDFLARED_URL = re.compile(r"https://[-a-z0-9]+\.trycloudflare\.com\b", re.IGNORECASE)
# A URL a tunnel service prints on a line that says it forwards (localhost.run: "... tunneled
# with tls termination, https://x.lhr.life"; serveo: "Forwarding HTTP traffic from https://...").
SERVICE_URL = re.compile(r"https://[-A-Za-z0-9.]+\.[A-Za-z]{2,}(?::\d+)?/?(?=[\s\],;)]|$)")
SERVICE_URL_LINE = re.compile(r"tunnel|forward", re.IGNORECASE)
LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\S+ +(?:ERR|WRN|INF|DBG) +")  # cloudflared's
SSH_FORWARD_UP = re.compile(r"remote forward success|Allocated port (\d+) for remote forward")
SSH_TARGET = re.compile(r"(?:(?P<user>[A-Za-z0-9_][-A-Za-z0-9_.]*)@)?"
                        r"(?P<host>[A-Za-z0-9][-A-Za-z0-9.]*|\[[0-9A-Fa-f:.]+\])"
                        r"(?::(?P<port>\d{1,5}))?")


def _parent_death_signal():
    """Linux: a function that makes the calling (child) process get SIGKILL when the thread
    that started it ends (prctl PR_SET_PDEATHSIG), so that a tunnel never outlives a receiver
    killed outright (kill -9); None elsewhere. Resolved here, before any fork."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, sigkill = 1, int(signal.SIGKILL)

    def die_with_parent() -> None:
        prctl(pr_set_pdeathsig, sigkill)

    return die_with_parent


_DIE_WITH_PARENT = _parent_death_signal()


class PublicError(Exception):
    """A provider that cannot work as given (bad name, missing program or token): said in one
    line, and not retried."""


@dataclass(frozen=True)
class Provider:
    """One way to get a public URL, as ``--public`` names it."""

    kind: str  # cloudflared | ngrok | ssh | url
    destination: str = ""  # ssh: USER@HOST
    ssh_port: int | None = None
    url: str = ""  # url: the user's own public URL

    @property
    def name(self) -> str:
        return self.kind

    @property
    def label(self) -> str:
        if self.kind == "ssh":
            port = f" port {self.ssh_port}" if self.ssh_port else ""
            return f"SSH tunnel to {self.destination}{port}"
        return {"cloudflared": "cloudflared quick tunnel", "ngrok": "ngrok tunnel",
                "url": "your own URL"}[self.kind]


def check_public_url(text: str) -> str:
    """``text`` if it is an ``https://`` URL with a host name, else :class:`PublicError`."""
    text = text.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise PublicError(f"not a URL: {printable(text)}") from None
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise PublicError(f"the public URL must be https://HOST/... (the streamer posts only "
                          f"to https): {printable(text)}")
    return text if parts.path else text + "/"


def parse_provider(text: str) -> Provider:
    """The provider ``--public`` names; :class:`PublicError` says what is accepted."""
    text = (text or "").strip()
    lower = text.lower()
    if lower in ("cloudflared", "cloudflare"):
        return Provider("cloudflared")
    if lower == "ngrok":
        return Provider("ngrok")
    if lower.startswith("ssh:"):
        match = SSH_TARGET.fullmatch(text[4:])
        if not match or not match["user"]:
            raise PublicError(f"--public ssh: wants USER@HOST or USER@HOST:PORT (the SSH port), "
                              f"not {printable(text[4:])!r}")
        port = int(match["port"]) if match["port"] else None
        if port is not None and not 0 < port < 65536:
            raise PublicError(f"not an SSH port: {port}")
        return Provider("ssh", destination=f"{match['user']}@{match['host'].strip('[]')}",
                        ssh_port=port)
    if "://" in text:
        return Provider("url", url=check_public_url(text))
    raise PublicError(f"unknown --public provider {printable(text)!r}: use {PROVIDER_HELP}")


def _with_slash(url: str) -> str:
    return url if urlsplit(url).path else url + "/"


class _Ended(Exception):
    """One run of a tunnel ended (it may be tried again): why, in one line."""


class Public:
    """The receiver's public URL: at most one provider at a time, run as a child process (or
    an SDK session) of the receiver, restarted with back-off when it fails, stopped with it.

    ``origin`` starts (once) and returns the loopback port of the plain-HTTP tunnel origin;
    ``emit`` gets each ``public_url`` event. All methods run in the receiver's event loop.
    """

    def __init__(self, origin: Callable[[], Awaitable[int]], emit: Callable[[dict], None], *,
                 auth_enabled: bool = True, ngrok_authtoken: str = "", ngrok_domain: str = "",
                 public_url: str = "", ssh_remote_port: int = 80, backoff: float = 1.0,
                 max_backoff: float = 60.0, url_wait: float = 20.0,
                 ngrok_options: dict | None = None):
        self._origin = origin
        self._emit = emit
        self._auth_enabled = auth_enabled
        self._ngrok_authtoken = ngrok_authtoken
        self._ngrok_domain = ngrok_domain
        self._public_url = public_url
        self._ssh_remote_port = ssh_remote_port
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._url_wait = url_wait
        self._ngrok_options = dict(ngrok_options or {})
        self._task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.provider: Provider | None = None
        self.state = "stopped"
        self.url: str | None = None
        self.remote_port: int | None = None  # ssh: the port the server allocated (-R 0:...)

    # -- commands ---------------------------------------------------------------------------

    def command(self, command: dict) -> None:
        """The control channel's ``expose`` / ``unexpose`` (others are not ours)."""
        name = command.get("command")
        if name == "expose":  # "url": for ssh, the public URL the server gives (optional)
            url = command.get("url")
            self._spawn(self.expose(str(command.get("provider") or ""),
                                    url if isinstance(url, str) else None))
        elif name == "unexpose":
            self._spawn(self.unexpose())

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def expose(self, text: str, public_url: str | None = None) -> bool:
        """Start the provider ``text`` names (stopping the one running); False, with a
        ``failed`` event, when it cannot start at all. ``public_url``: for ssh, the URL the
        server gives the forwarded port (None: as given to the constructor)."""
        name = text.strip().lower().partition(":")[0] or "none"
        name = "url" if name in ("https", "http") else name
        if not self._auth_enabled:
            self._event(name, "failed", None, "refused: the endpoint runs without "
                        "authentication (--no-auth); a public URL needs Basic Auth")
            return False
        try:
            provider = parse_provider(text)
            if public_url:
                check_public_url(public_url)
        except PublicError as exc:
            self._event(name, "failed", None, str(exc))
            return False
        await self.unexpose(quiet=True)
        if public_url is not None:
            self._public_url = public_url
        self.provider = provider
        self._task = asyncio.get_running_loop().create_task(self._run(provider))
        return True

    async def unexpose(self, quiet: bool = False) -> None:
        """Stop the tunnel (a ``stopped`` event, unless ``quiet`` and nothing ran)."""
        task, self._task = self._task, None
        provider = self.provider
        running = task is not None and not task.done()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if provider is not None and (running or not quiet):
            self._event(provider.name, "stopped", None, f"{provider.label} stopped")
        elif not quiet:
            self._event("none", "stopped", None, "nothing was exposed")
        self.provider = None

    async def close(self) -> None:
        """Stop with the receiver."""
        if self._task is not None:
            await self.unexpose()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- running ----------------------------------------------------------------------------

    def _event(self, provider: str, state: str, url: str | None, message: str) -> None:
        self.state, self.url = state, url
        self._emit({"event": "public_url", "provider": provider, "state": state, "url": url,
                    "message": printable(message)})

    async def _run(self, provider: Provider) -> None:
        loop = asyncio.get_running_loop()
        delay = self._backoff
        while True:
            self._event(provider.name, "starting", None, f"starting the {provider.label}")
            started = loop.time()
            try:
                if provider.kind == "url":
                    self._event("url", "public", provider.url,
                                f"public URL {provider.url} (your own reverse proxy or domain: "
                                f"it must forward to this endpoint; the check command tells "
                                f"whether it does)")
                    return
                port = await self._origin()
                runner = {"cloudflared": self._cloudflared, "ngrok": self._ngrok,
                          "ssh": self._ssh}[provider.kind]
                await runner(provider, port)
                reason = f"the {provider.label} ended"
            except PublicError as exc:
                self._event(provider.name, "failed", None, str(exc))
                return
            except _Ended as exc:
                reason = str(exc)
            except OSError as exc:
                reason = f"the {provider.label} could not run: {exc.strerror or exc}"
            if loop.time() - started > 120:  # it had been working: start again soon
                delay = self._backoff
            self._event(provider.name, "failed", None,
                        f"{reason}; trying again in {delay:g} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)

    async def _child(self, argv: list[str], on_line: Callable[[str], None],
                     keep_stdin: bool = False) -> tuple[int, str]:
        """Run ``argv`` until it exits, each output line to ``on_line``; its exit status and
        its last line that looked like an error. Cancelled: the child is ended."""
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if keep_stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True, preexec_fn=_DIE_WITH_PARENT, limit=1 << 20)
        last_error = ""
        try:
            while True:
                try:
                    raw = await proc.stdout.readline()
                except ValueError:  # a line beyond the limit: skip it
                    continue
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").strip()
                if _looks_like_error(line):
                    last_error = LOG_PREFIX.sub("", line)
                on_line(line)
            return await proc.wait(), last_error
        finally:
            # The whole process group (its own session): a child of the child holding the
            # output pipe open goes too.
            _signal_group(proc.pid, signal.SIGTERM)
            if proc.returncode is None:
                try:
                    await asyncio.wait_for(asyncio.shield(proc.wait()), 5)
                except (TimeoutError, asyncio.CancelledError):
                    _signal_group(proc.pid, signal.SIGKILL)
                    await proc.wait()

    async def _cloudflared(self, provider: Provider, port: int) -> None:
        exe = shutil.which("cloudflared")
        if exe is None:
            raise PublicError("cloudflared is not installed (no cloudflared on the PATH): "
                              "install it from https://developers.cloudflare.com/cloudflare-one/"
                              "connections/connect-networks/downloads/, or use another provider")

        def on_line(line: str) -> None:
            found = CLOUDFLARED_URL.search(line)
            if found and self.state != "public":
                url = _with_slash(found.group(0).lower())
                self._event(provider.name, "public", url,
                            f"public URL {url} (a quick tunnel: it may take a few seconds to "
                            f"be reachable, and it changes at every start)")

        status, error = await self._child(
            [exe, "tunnel", "--no-autoupdate", "--url", f"http://127.0.0.1:{port}"], on_line)
        raise _Ended(f"cloudflared exited (status {status})" + (f": {error}" if error else ""))

    async def _ngrok(self, provider: Provider, port: int) -> None:
        token = self._ngrok_authtoken or os.environ.get(NGROK_TOKEN_ENV, "")
        if not token.strip():
            raise PublicError(f"ngrok needs your authtoken: set {NGROK_TOKEN_ENV} or the "
                              f"ngrok_authtoken setting (from "
                              f"https://dashboard.ngrok.com/get-started/your-authtoken)")
        import ngrok  # the SDK, only when used

        options = {"authtoken": token.strip(), **self._ngrok_options}
        if self._ngrok_domain:
            options["domain"] = self._ngrok_domain
        loop = asyncio.get_running_loop()
        try:
            listener = await loop.run_in_executor(
                None, functools.partial(ngrok.forward, f"127.0.0.1:{port}", **options))
        except Exception as exc:  # the SDK raises ValueError("failed to ...", "why")
            raise _Ended("ngrok: " + "; ".join(str(a) for a in exc.args if a)) from None
        url = _with_slash(listener.url())
        try:
            self._event(provider.name, "public", url, f"public URL {url} (ngrok)")
            await asyncio.Event().wait()  # the SDK keeps its session up; until unexposed
        finally:
            with contextlib.suppress(Exception):
                await loop.run_in_executor(None, ngrok.disconnect, listener.url())

    async def _ssh(self, provider: Provider, port: int) -> None:
        exe = shutil.which("ssh")
        if exe is None:
            raise PublicError("ssh is not installed (no ssh on the PATH): install OpenSSH's "
                              "client, or use another provider")
        given = check_public_url(self._public_url) if self._public_url else ""
        forward_up = False
        printed: str | None = None

        def ready() -> None:
            url = given or printed
            if forward_up and url and self.state != "public":
                where = f" (remote port {self.remote_port})" if self.remote_port else ""
                self._event(provider.name, "public", url,
                            f"public URL {url} through the {provider.label}{where}")

        def on_line(line: str) -> None:
            nonlocal forward_up, printed
            up = SSH_FORWARD_UP.search(line)
            if up:
                forward_up = True
                if up.group(1):
                    self.remote_port = int(up.group(1))
            elif printed is None:
                printed = service_url(line)
            ready()

        argv = [exe, "-v", "-T",
                "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",
                "-R", f"{self._ssh_remote_port}:127.0.0.1:{port}"]
        if given:
            argv.append("-N")  # no session: the forward is all
        if provider.ssh_port:
            argv += ["-p", str(provider.ssh_port)]
        argv += ["--", provider.destination]
        self.remote_port = None
        child = asyncio.ensure_future(self._child(argv, on_line, keep_stdin=not given))
        try:
            if not given:
                done, _ = await asyncio.wait({child}, timeout=self._url_wait)
                if not done and self.state != "public":
                    raise PublicError(
                        f"the {provider.label} is up, but the server printed no https URL: "
                        f"give the public URL with --public-url https://..." if forward_up else
                        f"the {provider.label} did not start within {self._url_wait:g} s")
            status, error = await child
        finally:
            if not child.done():
                child.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await child
        hint = ""
        if "forwarding failed" in error:
            hint = " (choose another remote port with --public-remote-port)"
        elif "Host key verification failed" in error:
            hint = f" (connect once with: ssh {provider.destination} to accept its host key)"
        raise _Ended(f"ssh exited (status {status})" + (f": {error}" if error else "") + hint)


def service_url(line: str) -> str | None:
    """The public URL a tunnel service prints (over SSH) on a line that says it forwards, e.g.
    localhost.run's "… tunneled with tls termination, https://x.lhr.life" or serveo's
    "Forwarding HTTP traffic from https://x.serveo.net"; None for any other line (a welcome
    text's links, ssh's own debug lines)."""
    if line.startswith("debug") or not SERVICE_URL_LINE.search(line):
        return None
    found = SERVICE_URL.search(line)
    return _with_slash(found.group(0)) if found else None


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _looks_like_error(line: str) -> bool:
    if line.startswith("debug"):
        return False
    return bool(re.search(r"\bERR\b|error|fail|denied|refused|not |cannot|could not|"
                          r"unreachable|timed out", line, re.IGNORECASE))

