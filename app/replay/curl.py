"""cURL commands in and out: read the documentation's examples, write "Copy as cURL" lines.

:func:`parse_curl` understands the subset of curl's options that describe one HTTP request (the
vendor's two examples verbatim, and the forms people usually paste); it reads ``@file`` bodies
but does no network I/O. Output-only options (``-s``, ``-o FILE``, ``--max-time N`` …) are noted
and ignored; any other option is an error naming it, never silently dropped.

:func:`build_curl` writes one bash command that sends a body byte for byte; with ``exact``, a
recorded request as it came (Copy as cURL of a request, and every command of the curl export,
``app.export.curlscript``: one builder for both).

Shell syntax understood: single and double quotes, backslash escapes, backslash-newline
continuations, ``$'…'`` quoting (as browsers' "Copy as cURL" writes it) and a leading
``printf '%b' '…' |`` (or ``printf '%s' '…' |``, then any ``gzip -c -n |``) feeding ``@-`` (as
:func:`build_curl` writes it). Shell expansions (``$VAR``, backticks) are not performed: the
text is taken literally and a note says so.
"""

from __future__ import annotations

import gzip
import re
import shlex
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from app.net import LOOPBACK_NAMES, host_port

PLACEHOLDERS = ("<server-domain>", "<server-ip>", "<port>", "<endpoint>")
# Linux refuses a single exec argument of 128 KiB or more (MAX_ARG_STRLEN): bigger bodies are
# fed through the shell's builtin printf instead of a --data-raw argument.
MAX_ARGUMENT_BODY = 100_000


@dataclass
class CurlRequest:
    """A request as a cURL command describes it."""

    method: str  # "POST" when data is given and no -X; "GET" otherwise
    url: str
    headers: list[tuple[str, str]]
    body: bytes | None
    user: str | None = None  # from -u/--user "user:password" (kept apart from headers)
    password: str | None = None
    insecure: bool = False  # -k/--insecure
    cacert: str | None = None  # --cacert FILE
    compressed: bool = False
    follow_redirects: bool = False  # -L/--location (noted; the Data Streamer never follows)
    notes: list[str] = field(default_factory=list)  # e.g. "ignored option --silent"

    def header(self, name: str) -> str | None:
        """The value of the last header called ``name`` (any case), or None."""
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return values[-1] if values else None


class CurlParseError(ValueError):
    """A command that cannot be read as a curl request; the message names the part."""


# --- options --------------------------------------------------------------------------------

_VALUE_OPTIONS = {
    "--request", "--header", "--data", "--data-ascii", "--data-raw", "--data-binary",
    "--json", "--user", "--cacert", "--url", "--user-agent",
}
_IGNORED_VALUE_OPTIONS = {"--output", "--write-out", "--max-time", "--connect-timeout",
                          "--request-target"}
_FLAGS = {"--insecure", "--compressed", "--location", "--head"}
_IGNORED_FLAGS = {
    "--silent", "--show-error", "--verbose", "--include", "--fail", "--fail-with-body",
    "--no-progress-meter", "--path-as-is",
}
_SHORT = {
    "X": "--request", "H": "--header", "d": "--data", "u": "--user", "A": "--user-agent",
    "o": "--output", "w": "--write-out", "m": "--max-time",
    "k": "--insecure", "L": "--location", "I": "--head", "s": "--silent", "S": "--show-error",
    "v": "--verbose", "i": "--include", "f": "--fail",
}
_TAKES_VALUE = _VALUE_OPTIONS | _IGNORED_VALUE_OPTIONS
_SHELL_OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "2>", "2>&1", "&>"}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_EXPANSION = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*|\{[^}]*\}?|\(|[0-9@*#?$!-])")


# --- the shell layer ------------------------------------------------------------------------

def _where(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}"


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "e": 27, "E": 27, "f": 12, "n": 10, "r": 13, "t": 9,
                   "v": 11, "\\": 92, "'": 39, '"': 34, "?": 63}


def _unescape(text: str, ansi_c: bool) -> bytes:
    """Backslash escapes of bash's ``$'…'`` (ansi_c) or of ``printf %b`` to bytes."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 == len(text):
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
            continue
        nxt = text[i + 1]
        i += 2
        if nxt == "x":
            digits = re.match(r"[0-9A-Fa-f]{1,2}", text[i:])
            if digits:
                out.append(int(digits.group(), 16))
                i += digits.end()
            else:
                out += b"\\x"
        elif nxt in "uU" and ansi_c:
            digits = re.match(f"[0-9A-Fa-f]{{1,{4 if nxt == 'u' else 8}}}", text[i:])
            if digits and int(digits.group(), 16) <= 0x10FFFF:
                out += chr(int(digits.group(), 16)).encode("utf-8", "surrogateescape")
                i += digits.end()
            else:
                out += b"\\" + nxt.encode()
        elif nxt in "01234567":
            # $'\nnn': one to three octal digits; printf %b also takes '\0nnn'.
            skip = 1 if nxt == "0" and not ansi_c else 0
            digits = re.match(r"[0-7]{0,3}", text[i - 1 + skip:])
            assert digits is not None
            out.append(int(digits.group() or "0", 8) & 0xFF)
            i = i - 1 + skip + digits.end()
        elif nxt == "c":
            if ansi_c and i < len(text):  # control character \cX
                out.append(ord(text[i]) & 0x1F)
                i += 1
            elif not ansi_c:  # printf %b: \c ends the output
                break
        elif nxt in _SIMPLE_ESCAPES and (ansi_c or nxt not in "'\"?"):
            out.append(_SIMPLE_ESCAPES[nxt])
        else:
            out += b"\\" + nxt.encode("utf-8", "surrogateescape")
    return bytes(out)


def _quoted_placeholder(command: str, at: int) -> str | None:
    """At a ``'`` closing a single-quoted string: ``'<word>'`` when the unquoted run up to the
    next ``'`` has no blank and holds ``<`` or ``>`` (a redirection glued inside a word)."""
    end = command.find("'", at + 1)
    if end < 0:
        return None
    run = command[at + 1:end]
    if not run or any(c.isspace() for c in run) or not ("<" in run or ">" in run):
        return None
    return command[at:end + 1]


def _prepare(command: str, notes: list[str]) -> str:
    """Resolve what ``shlex`` does not: continuations, ``$'…'``; check the quotes balance."""
    out: list[str] = []
    quote: str | None = None
    opened = 0
    i = 0
    n = len(command)

    def expansion_note(at: int) -> None:
        if command[at] == "`":
            word = "`…`"
        else:
            found = _EXPANSION.match(command, at)
            word = found.group() if found else ""
        if word:
            note = f"shell expansion {word} was not performed: the text is taken literally"
            if note not in notes:
                notes.append(note)

    while i < n:
        ch = command[i]
        if quote == "'":
            if ch == "'" and (literal := _quoted_placeholder(command, i)):
                # The vendor's examples write IMSI='<imsi>' inside a '…' body: bash would see a
                # redirection there, the documentation means the quotes. Keep them.
                out.append(literal.replace("'", "'\"'\"'"))
                note = ("quotes around <…> inside '…' kept as text, as the documentation "
                        "means them (bash would read a redirection)")
                if note not in notes:
                    notes.append(note)
                i += len(literal)
                continue
            out.append(ch)
            if ch == "'":
                quote = None
            i += 1
            continue
        if ch == "\\":
            if command.startswith("\n", i + 1):
                i += 2
                continue
            if command.startswith("\r\n", i + 1):
                i += 3
                continue
            if i + 1 == n:
                raise CurlParseError(
                    "the command ends with a backslash: a continuation line is missing")
            nxt = command[i + 1]
            if quote == '"' and nxt in "$`":
                out.append(nxt)  # bash drops the backslash; shlex would keep it
            else:
                out.append(command[i:i + 2])
            i += 2
            continue
        if quote == '"':
            if ch == '"':
                quote = None
            elif ch in "$`":
                expansion_note(i)
            out.append(ch)
            i += 1
            continue
        # Unquoted.
        if ch == "$" and command.startswith("'", i + 1):
            end = i + 2
            while end < n and command[end] != "'":
                end += 2 if command[end] == "\\" else 1
            if end >= n:
                raise CurlParseError(
                    f"unclosed quote $' opened at {_where(command, i)}: "
                    f"{command[i:i + 30]!r}")
            raw = _unescape(command[i + 2:end], ansi_c=True)
            out.append(shlex.quote(raw.decode("utf-8", "surrogateescape")))
            i = end + 1
            continue
        if ch in "'\"":
            quote = ch
            opened = i
        elif ch in "$`":
            expansion_note(i)
        out.append(ch)
        i += 1
    if quote is not None:
        raise CurlParseError(
            f"unclosed quote {quote} opened at {_where(command, opened)}: "
            f"{command[opened:opened + 30]!r}")
    return "".join(out)


def _split(command: str, notes: list[str]) -> tuple[list[str], bytes | None]:
    """The curl words of ``command``, and the bytes a leading ``printf … |`` pipes in."""
    prepared = _prepare(command, notes)
    try:
        words = shlex.split(prepared, posix=True)
    except ValueError as exc:  # not expected after _prepare; keep the promise of the API
        raise CurlParseError(f"cannot split the command: {exc}") from None
    stdin: bytes | None = None
    if len(words) >= 4 and words[0] == "printf" and words[1] in ("%b", "%s") and words[3] == "|":
        stdin = _unescape(words[2], ansi_c=False) if words[1] == "%b" else (
            words[2].encode("utf-8", "surrogateescape"))
        words = words[4:]
        while words[:4] == ["gzip", "-c", "-n", "|"]:  # as build_curl writes a gzip body
            stdin = gzip.compress(stdin, mtime=0)
            words = words[4:]
    if not words:
        raise CurlParseError("empty command: no curl")
    program = words[0].replace("\\", "/").rsplit("/", 1)[-1]
    if program.lower() not in ("curl", "curl.exe"):
        raise CurlParseError(f"not a curl command: it starts with {words[0]!r}")
    return words[1:], stdin


# --- the curl layer -------------------------------------------------------------------------

def _text_file(data: bytes) -> bytes:
    """A ``--data @file`` body as curl makes it: it reads the file with ``fgets`` into a
    256-byte buffer and keeps each piece up to its first CR, LF or NUL (so CR LF and LF
    vanish, and a lone CR or a NUL drops the rest of its line or 255-byte piece)."""
    out = bytearray()
    at = 0
    while at < len(data):
        newline = data.find(b"\n", at, at + 255)
        end = newline + 1 if newline >= 0 else min(at + 255, len(data))
        piece = data[at:end]
        at = end
        cut = min((i for i in (piece.find(b"\r"), piece.find(b"\n"), piece.find(b"\0"))
                   if i >= 0), default=len(piece))
        out += piece[:cut]
    return bytes(out)


@dataclass
class _State:
    """What the options read so far say; :meth:`finish` turns it into a request."""

    base_dir: Path
    stdin: bytes | None
    notes: list[str]
    method: str | None = None
    urls: list[str] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    removed: set[str] = field(default_factory=set)
    data: list[tuple[bytes, bool]] = field(default_factory=list)  # (piece, is --json)
    user: str | None = None
    password: str | None = None
    insecure: bool = False
    cacert: str | None = None
    compressed: bool = False
    follow: bool = False
    head: bool = False  # -I/--head: HEAD unless -X says otherwise

    def read(self, spelled: str, name: str) -> bytes:
        if name == "-":
            if self.stdin is None:
                raise CurlParseError(
                    f"{spelled} @- (read from standard input) is not supported: put the body "
                    "in the command or in a file")
            return self.stdin
        path = Path(name)
        if not path.is_absolute():
            path = self.base_dir / path
        try:
            return path.read_bytes()
        except OSError as exc:
            raise CurlParseError(f"{spelled} @{name}: cannot read {path}: "
                                 f"{exc.strerror or exc}") from None

    def add_header(self, spelled: str, value: str) -> None:
        if value.startswith("@"):
            text = self.read(spelled, value[1:]).decode("utf-8", "surrogateescape")
            for line in text.splitlines():
                if line.strip():
                    self.add_header(spelled, line.strip())
            return
        colon, semi = value.find(":"), value.find(";")
        if colon > 0 and (semi < 0 or colon < semi):
            name, rest = value[:colon].strip(), value[colon + 1:].strip()
            if not rest:
                self.headers = [(n, v) for n, v in self.headers if n.lower() != name.lower()]
                self.removed.add(name.lower())
                self.notes.append(f"header {name} removed: curl sends none")
                return
            self.headers.append((name, rest))
        elif semi > 0 and not value[semi + 1:].strip():
            self.headers.append((value[:semi].strip(), ""))
        else:
            raise CurlParseError(f"{spelled} {value!r} is not a header: it needs 'Name: value'")

    def apply(self, option: str, spelled: str, value: str | None) -> None:
        if option in _IGNORED_FLAGS:
            self.notes.append(f"ignored option {option}")
        elif option in _IGNORED_VALUE_OPTIONS:
            self.notes.append(f"ignored option {option} {value}")
        elif option == "--insecure":
            self.insecure = True
        elif option == "--compressed":
            self.compressed = True
        elif option == "--head":
            self.head = True
        elif option == "--location":
            self.follow = True
            self.notes.append("--location: curl would follow redirects; "
                              "the Data Streamer never does")
        else:
            assert value is not None
            self._apply_value(option, spelled, value)

    def _apply_value(self, option: str, spelled: str, value: str) -> None:
        if option == "--request":
            self.method = value
        elif option == "--header":
            self.add_header(spelled, value)
        elif option == "--user-agent":
            self.headers.append(("User-Agent", value))
        elif option == "--url":
            self.urls.append(value)
        elif option == "--cacert":
            self.cacert = value
        elif option == "--user":
            user, colon, password = value.partition(":")
            self.user = user
            self.password = password if colon else None
            if not colon:
                self.notes.append(f"{spelled} gives no password: curl would prompt for it")
        elif option in ("--data", "--data-ascii"):
            if value.startswith("@"):
                piece = _text_file(self.read(spelled, value[1:]))
            else:
                piece = value.encode("utf-8", "surrogateescape")
            self.data.append((piece, False))
        elif option == "--data-raw":
            self.data.append((value.encode("utf-8", "surrogateescape"), False))
        else:  # --data-binary, --json: @file as is
            if value.startswith("@"):
                piece = self.read(spelled, value[1:])
            else:
                piece = value.encode("utf-8", "surrogateescape")
            self.data.append((piece, option == "--json"))

    def has_header(self, name: str) -> bool:
        return name in self.removed or any(n.lower() == name for n, _ in self.headers)

    def finish(self) -> CurlRequest:
        if not self.urls:
            raise CurlParseError("no URL")
        if len(self.urls) > 1:
            raise CurlParseError(f"more than one URL: {', '.join(self.urls)}")
        url = self.urls[0]
        if not _SCHEME.match(url):
            self.notes.append(f"the URL {url} has no scheme: curl uses http://")
            url = "http://" + url
        body: bytes | None = None
        if self.data:
            body = self.data[0][0]
            for piece, is_json in self.data[1:]:  # curl joins with &, --json pieces with nothing
                body += piece if is_json else b"&" + piece
            if any(is_json for _, is_json in self.data):
                if not self.has_header("content-type"):
                    self.headers.append(("Content-Type", "application/json"))
                if not self.has_header("accept"):
                    self.headers.append(("Accept", "application/json"))
            elif not self.has_header("content-type"):
                self.headers.append(("Content-Type", "application/x-www-form-urlencoded"))
                self.notes.append("no Content-Type given: curl sends "
                                  "application/x-www-form-urlencoded with data")
        method = self.method or ("HEAD" if self.head else "POST" if body is not None else "GET")
        return CurlRequest(method=method, url=url, headers=self.headers, body=body,
                           user=self.user, password=self.password, insecure=self.insecure,
                           cacert=self.cacert, compressed=self.compressed,
                           follow_redirects=self.follow, notes=self.notes)


def parse_curl(command: str, base_dir: Path | None = None) -> CurlRequest:
    """Read a curl command line into a :class:`CurlRequest`.

    ``@file`` bodies are read relative to ``base_dir`` (default: the current directory).
    Raises :class:`CurlParseError` naming the part not understood.
    """
    notes: list[str] = []
    words, stdin = _split(command, notes)
    state = _State(base_dir=Path(base_dir) if base_dir is not None else Path.cwd(),
                   stdin=stdin, notes=notes)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word in _SHELL_OPERATORS:
            notes.append(f"ignored the rest of the shell line from {word!r}: "
                         f"{' '.join(words[i - 1:])}")
            break
        if word.startswith("--"):
            if word not in _TAKES_VALUE | _FLAGS | _IGNORED_FLAGS:
                raise CurlParseError(f"unknown option {word}")
            value = None
            if word in _TAKES_VALUE:
                if i == len(words):
                    raise CurlParseError(f"{word} needs a value")
                value = words[i]
                i += 1
            state.apply(word, word, value)
        elif word.startswith("-") and len(word) > 1:
            for j, letter in enumerate(word[1:], start=1):
                option = _SHORT.get(letter)
                spelled = f"-{letter}"
                if option is None:
                    inside = f" (in {word})" if len(word) > 2 else ""
                    raise CurlParseError(f"unknown option {spelled}{inside}")
                if option not in _TAKES_VALUE:
                    state.apply(option, spelled, None)
                    continue
                value = word[j + 1:]
                if not value:
                    if i == len(words):
                        raise CurlParseError(f"{spelled}: {option} needs a value")
                    value = words[i]
                    i += 1
                state.apply(option, spelled, value)
                break
        elif word == "-":
            raise CurlParseError("unknown option -")
        else:
            state.urls.append(word)
    return state.finish()


# --- placeholders and locality --------------------------------------------------------------

_URL_PARTS = re.compile(r"^(?P<origin>(?:[A-Za-z][A-Za-z0-9+.-]*:)?//[^/?#]*)?(?P<rest>.*)$",
                        re.DOTALL)


def has_placeholders(url: str) -> bool:
    """Whether ``url`` still holds one of the documentation's ``<…>`` placeholders."""
    return any(p in url for p in PLACEHOLDERS)


def map_placeholders(req: CurlRequest, endpoint_url: str) -> CurlRequest:
    """Point a documentation URL at ``endpoint_url``; other URLs are returned unchanged.

    When the host part holds a placeholder (``<server-domain>``, ``<server-ip>``, ``<port>``),
    scheme, host and port become those of ``endpoint_url``; ``<endpoint>`` in the path becomes
    the endpoint's path (``/`` makes it vanish):
    ``https://<server-domain>:<port>/<endpoint>/events`` + ``https://localhost:8443/`` ->
    ``https://localhost:8443/events``.
    """
    if not has_placeholders(req.url):
        return req
    target = urlsplit(endpoint_url)
    parts = _URL_PARTS.match(req.url)
    assert parts is not None
    origin, rest = parts.group("origin") or "", parts.group("rest")
    if not origin or any(p in origin for p in PLACEHOLDERS):
        origin = f"{target.scheme}://{target.netloc.rpartition('@')[2]}"
    path_end = re.search(r"[?#]|$", rest)
    assert path_end is not None
    path, tail = rest[:path_end.start()], rest[path_end.start():]
    endpoint_path = target.path.strip("/")
    path = path.replace("<endpoint>", endpoint_path)
    path = "/" + re.sub(r"/{2,}", "/", path).lstrip("/")
    url = origin + path + tail
    notes = [*req.notes, f"placeholder URL {req.url} mapped to {url}"]
    return replace(req, url=url, notes=notes, headers=list(req.headers))


def is_local(url: str, endpoint_url: str) -> bool:
    """Whether ``url`` reaches the endpoint: same host and port, or a loopback name
    (localhost, 127.0.0.1, ::1) with the endpoint's port."""
    mine, theirs = host_port(url), host_port(endpoint_url)
    if mine is None or theirs is None:
        return False
    return mine == theirs or (mine[0] in LOOPBACK_NAMES and mine[1] == theirs[1])


# --- Copy as cURL ---------------------------------------------------------------------------

_NOT_COPIED = {"content-length", "transfer-encoding", "host"}
# Hop-by-hop headers of a recorded request: curl manages its own connection.
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection"}
# Methods a recorded request without a body or a Content-Length is sent again without data.
_BODILESS = {"GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
# curl sends "Expect: 100-continue" on its own for bodies above about this size (1 KiB up to
# curl 8.0, 1 MiB after): a recorded request that had none is sent without it.
_EXPECT_FROM = 1024


@dataclass(frozen=True)
class Var:
    """A shell variable in a built command, written ``"${NAME}"``: bash expands it."""

    name: str


@dataclass(frozen=True)
class Shell:
    """Shell text put in a built command as it is: this app's own fixed fragments (say, an
    option that appears only when a variable is set), never text taken from a capture."""

    text: str


Word = str | bytes | Var | Shell | tuple[str | bytes | Var, ...]


# Control characters (a terminal's paste may alter them); in a body, newline and tab are fine.
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_BODY_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def _shell_text(text: str) -> bool:
    """Whether ``text`` goes in single quotes on one line, unchanged by a terminal's paste."""
    return _CONTROL.search(text) is None


def _quote(part: str | bytes) -> str:
    """One argument's text for bash: ``shlex.quote`` for text a terminal keeps as it is,
    ``$'…'`` with ``\\xNN`` escapes (as :func:`printf_escape` writes them) for control
    characters and bytes that are not UTF-8."""
    if isinstance(part, bytes):
        try:
            text = part.decode("utf-8")
        except UnicodeDecodeError:
            return f"$'{printf_escape(part)}'"
    else:
        text = part
    if _shell_text(text):
        return shlex.quote(text)
    return f"$'{printf_escape(text.encode('utf-8', 'surrogateescape'))}'"


def shell_word(word: Word) -> str:
    """``word`` for bash: text quoted (:func:`_quote`), variables as ``"${NAME}"``, joined
    into one word; :class:`Shell` text as it is."""
    if isinstance(word, Shell):
        return word.text
    parts = word if isinstance(word, tuple) else (word,)
    parts = tuple(p for p in parts if p != "") or ("",)  # no '' beside a variable
    return "".join(f'"${{{p.name}}}"' if isinstance(p, Var) else _quote(p) for p in parts)


def _printable_text(body: bytes, limit: int | None = MAX_ARGUMENT_BODY) -> str | None:
    """``body`` as text when it can travel as a quoted argument unchanged, else None."""
    if limit is not None and len(body) > limit:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # Control characters other than newline and tab may be altered by a terminal on paste.
    return None if _BODY_CONTROL.search(text) else text


def printf_escape(body: bytes) -> str:
    """``body`` for ``printf '%b'``: printable ASCII as is, every other byte, the backslash and
    the single quote as ``\\xNN`` (so the result fits in single quotes on one line)."""
    return "".join(map(_PRINTF_ESCAPES.__getitem__, body))


_PRINTF_ESCAPES = [chr(b) if 0x20 <= b < 0x7F and b not in (0x5C, 0x27) else f"\\x{b:02x}"
                   for b in range(256)]


def _header_bytes(name: str, value: str) -> bytes:
    """A recorded header line as it came: the capture holds header bytes decoded as Latin-1
    (as HTTP does); text no Latin-1 decoding made (a masked value) goes as UTF-8."""
    line = f"{name}: {value}" if value else f"{name};"
    try:
        return line.encode("latin-1")
    except UnicodeEncodeError:
        return line.encode("utf-8", "surrogateescape")


def _encoded(body: bytes, encodings: list[str]) -> bytes:
    for coding in encodings:
        body = gzip.compress(body, mtime=0) if coding != "deflate" else zlib.compress(body)
    return body


def build_curl(url: Word, body: bytes, *, user: str | None = None,
               password: Word | None = None, cacert: Word | None = None,
               insecure: bool = False, headers: list[tuple[str, str]] | None = None,
               method: str = "POST", exact: bool = False, options: tuple[Word, ...] = (),
               request_target: str | None = None, encodings: tuple[str, ...] = (),
               pad_to: int = 0) -> str:
    """One bash command line that sends ``body`` to ``url`` byte for byte with curl.

    UTF-8 text goes in ``--data-raw`` (no ``@file`` reading, no newline stripping); other bytes
    (and bodies too big for one argument) are piped in by bash's builtin ``printf '%b'`` to
    ``--data-binary @-``. ``Content-Type: application/json`` is added unless ``headers`` set
    one; Content-Length, Transfer-Encoding and Host are left to curl, and an Authorization
    header is dropped when ``user`` is given (``-u`` makes it). ``url``, ``password`` and
    ``cacert`` may hold shell variables (:class:`Var`); ``options`` come right after ``curl``.

    ``exact`` sends a recorded request again as it came (``app.export.curlscript``):
    ``headers`` are the recorded ones (values as the capture holds them: Latin-1), the path as
    is (``--path-as-is``), no Content-Type, User-Agent, Accept or Expect of curl's own where
    the request had none, connection headers left to curl, and a body only when the request
    had one (or a Content-Length, or a method that carries one). ``encodings`` (``gzip``,
    ``x-gzip``, ``deflate``, in the order applied) compress the body again, so that the
    receiver decodes ``body``: gzip alone by ``gzip -c -n`` in the pipe (the body stays
    readable), with deflate here. ``pad_to`` appends NUL bytes up to that size (a body the
    capture holds only the start of: a 413). ``request_target`` sends that target instead of
    the URL's path (``*``, a target with a fragment, which curl would drop from a URL).
    """
    if user is not None and ":" in user:
        raise ValueError(f"a Basic Auth user name cannot contain ':': {user!r}")
    headers = headers or []
    dropped = _NOT_COPIED | (_HOP_BY_HOP if exact else set())
    sent: list[tuple[str, str]] = []
    for name, value in headers:
        if name.lower() in dropped or (user is not None and name.lower() == "authorization"):
            continue
        if any(c in name + value for c in "\r\n") or not name:
            raise ValueError(f"header {name!r} cannot be sent: empty name or line break")
        sent.append((name, value))
    names = {name.lower() for name, _ in sent}
    method_upper = method.upper()
    with_body = not exact or bool(body) or method_upper not in _BODILESS or any(
        name.lower() in ("content-length", "transfer-encoding") for name, _ in headers)
    if method_upper == "HEAD" and exact:
        with_body = False  # curl sends HEAD with -I only, and never with data
    wire = body
    codings = [c.strip().lower() for c in encodings]
    shell_gzip = bool(codings) and all(c in ("gzip", "x-gzip") for c in codings)
    if codings and not shell_gzip:
        wire = _encoded(body, codings)
    # What goes on the wire (gzip in the pipe: at most a few bytes more than the body).
    size = max(len(wire) + (64 if shell_gzip else 0), pad_to)

    args: list[str] = ["curl", "-sS", *(shell_word(o) for o in options)]
    if exact:
        args.append("--path-as-is")
    if method_upper == "HEAD" and exact:
        args.append("-I")
    elif method != ("POST" if with_body else "GET"):  # what curl sends by itself
        args += ["-X", shlex.quote(method)]
    args.append(shell_word(url))
    if request_target is not None:
        args += ["--request-target", shlex.quote(request_target)]
    if user is not None:
        args += ["-u", shell_word((f"{user}:", password if password is not None else ""))]
    if cacert:
        args += ["--cacert", shell_word(cacert)]
    if insecure:
        args.append("-k")
    if not exact and "content-type" not in names:
        sent.insert(0, ("Content-Type", "application/json"))
    for name, value in sent:
        # "Name:" would make curl remove the header; "Name;" sends it empty.
        line = _header_bytes(name, value) if exact else (
            f"{name}: {value}" if value else f"{name};")
        args += ["-H", _quote(line)]
    if exact:
        removed = [n for n in ("User-Agent", "Accept") if n.lower() not in names]
        if with_body and "content-type" not in names:
            removed.append("Content-Type")
        if with_body and size > _EXPECT_FROM and "expect" not in names:
            removed.append("Expect")
        args += [a for n in removed for a in ("-H", shlex.quote(f"{n}:"))]
    if not with_body:
        return " ".join(args)
    text = _printable_text(wire)
    if text is not None and not shell_gzip and pad_to <= len(wire):
        return " ".join([*args, "--data-raw", shlex.quote(text)])
    args += ["--data-binary", "@-"]
    # A recorded request's text stays readable (a script); Copy as cURL keeps it on one line.
    whole = _printable_text(wire, limit=None) if exact else None
    feed = (f"printf '%s' {shlex.quote(whole)}" if whole is not None
            else f"printf '%b' '{printf_escape(wire)}'")
    if pad_to > len(wire):
        zeros = f"head -c {pad_to - len(wire)} /dev/zero"
        feed = f"{{ {feed}; {zeros}; }}" if wire else zeros
    if shell_gzip:
        feed += " | gzip -c -n" * len(codings)
    return f"{feed} | " + " ".join(args)
