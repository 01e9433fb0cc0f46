"""cURL in and out: the documentation's commands, common forms, and "Copy as cURL" replayed
through the real curl binary against the real receiver."""

from __future__ import annotations

import gzip
import json
import re
import shlex
import subprocess
import zlib
from dataclasses import asdict
from pathlib import Path

import pytest

from app.capture.schema import open_reader
from app.db import sqlite3
from app.replay.curl import (
    MAX_ARGUMENT_BODY,
    CurlParseError,
    CurlRequest,
    Var,
    build_curl,
    is_local,
    map_placeholders,
    parse_curl,
    shell_word,
)
from tests.conftest import EVENT_SAMPLE, SAMPLES, folded

DOC_URL = "https://<server-domain>:<port>/<endpoint>/"
LOCATION_NOTE = "--location: curl would follow redirects; the Data Streamer never does"
FORM = ("Content-Type", "application/x-www-form-urlencoded")
FORM_NOTE = "no Content-Type given: curl sends application/x-www-form-urlencoded with data"
JSON_CT = ("Content-Type", "application/json")


# --- the documentation's two commands, verbatim -------------------------------------------

@pytest.mark.parametrize("name", ["update-location-event", "usage-record"])
def test_documented_commands_parse_to_the_documented_bodies(name):
    req = parse_curl((SAMPLES / f"{name}.curl").read_text(encoding="utf-8"))
    assert req.method == "POST"
    assert req.url == DOC_URL
    assert req.headers == [JSON_CT]
    assert req.body == (SAMPLES / f"{name}.json").read_bytes()
    assert (req.user, req.password, req.insecure, req.cacert) == (None, None, False, None)
    assert req.follow_redirects is True
    assert LOCATION_NOTE in req.notes
    assert json.loads(req.body)[0]["organisation"] == {"name": "8100xxxx", "id": 1234}


def test_documented_quotes_around_placeholders_are_kept():
    # The event example holds IMSI='<imsi>' inside its '…' body: bash would read a redirection,
    # the documentation means the quotes; the usage example has none.
    event = parse_curl((SAMPLES / "update-location-event.curl").read_text(encoding="utf-8"))
    description = json.loads(event.body)[0]["description"]
    assert description == ("New location received from VLR for IMSI='<imsi>', now attached "
                           "to VLR='<VLR>'.")
    assert any("quotes around <…>" in note for note in event.notes)
    usage = parse_curl((SAMPLES / "usage-record.curl").read_text(encoding="utf-8"))
    assert usage.notes == [LOCATION_NOTE]
    assert "€".encode() in usage.body


# --- other forms ----------------------------------------------------------------------------

@pytest.fixture
def files(tmp_path) -> Path:
    (tmp_path / "form.txt").write_bytes(b"a=1\r\nb=2\n")
    (tmp_path / "crlf.json").write_bytes(b'[{"a": 1},\r\n {"b": 2}]\r\n')
    (tmp_path / "headers.txt").write_text("X-One: 1\nX-Two: 2\n", encoding="utf-8")
    return tmp_path


def want(method, url="https://h/", **fields):
    base = {"method": method, "url": url, "headers": [], "body": None, "user": None,
            "password": None, "insecure": False, "cacert": None, "compressed": False,
            "follow_redirects": False, "notes": []}
    base.update(fields)
    return base


FORMS = [
    ("plain GET", "curl https://h/x", want("GET", "https://h/x")),
    ("-XPOST glued", "curl -XPOST https://h/ -H 'Content-Type: application/json' -d '[]'",
     want("POST", headers=[JSON_CT], body=b"[]")),
    ("-sSk cluster", "curl -sSk https://h/ --data-raw '[]'",
     want("POST", insecure=True, headers=[FORM], body=b"[]",
          notes=["ignored option --silent", "ignored option --show-error", FORM_NOTE])),
    ("-HName:value glued", "curl -HContent-Type:application/json -HX-Trace:abc https://h/ "
     "--data-binary '[1]'",
     want("POST", headers=[JSON_CT, ("X-Trace", "abc")], body=b"[1]")),
    ("--json", "curl --json '[{}]' https://h/",
     want("POST", headers=[JSON_CT, ("Accept", "application/json")], body=b"[{}]")),
    ("--json twice joins with nothing", "curl --json '[' --json ']' https://h/",
     want("POST", headers=[JSON_CT, ("Accept", "application/json")], body=b"[]")),
    ("-d twice joins with &", "curl -d a=1 -d b=2 https://h/",
     want("POST", headers=[FORM], body=b"a=1&b=2", notes=[FORM_NOTE])),
    ("-d @file strips newlines", "curl -d @form.txt https://h/",
     want("POST", headers=[FORM], body=b"a=1b=2", notes=[FORM_NOTE])),
    ("--data-binary @file keeps CRLF",
     "curl --data-binary @crlf.json -H 'Content-Type: application/json' https://h/",
     want("POST", headers=[JSON_CT], body=b'[{"a": 1},\r\n {"b": 2}]\r\n')),
    ("--data-raw never reads a file", "curl --data-raw @crlf.json https://h/",
     want("POST", headers=[FORM], body=b"@crlf.json", notes=[FORM_NOTE])),
    ("-u user:password", "curl -u streamer:test-password https://h/ -d '[]' "
     "-H 'content-type: application/json'",
     want("POST", headers=[("content-type", "application/json")], body=b"[]",
          user="streamer", password="test-password")),
    ("-u without password", "curl --user streamer https://h/",
     want("GET", user="streamer", notes=["--user gives no password: curl would prompt for it"])),
    ("--url and --data-ascii", "curl --url https://h/p --data-ascii x",
     want("POST", "https://h/p", headers=[FORM], body=b"x", notes=[FORM_NOTE])),
    ("--compressed and -L", "curl --compressed -L https://h/ --json '[]'",
     want("POST", headers=[JSON_CT, ("Accept", "application/json")], body=b"[]",
          compressed=True, follow_redirects=True, notes=[LOCATION_NOTE])),
    ("--cacert and -X PUT", "curl --cacert ca.pem -X PUT https://h/ -d x "
     "-H 'Content-Type: text/plain'",
     want("PUT", headers=[("Content-Type", "text/plain")], body=b"x", cacert="ca.pem")),
    ("output options noted", "/usr/local/bin/curl -s -o out.json -w '%{http_code}' --fail "
     "--max-time 5 --connect-timeout 2 -v -i https://h/",
     want("GET", notes=["ignored option --silent", "ignored option --output out.json",
                        "ignored option --write-out %{http_code}", "ignored option --fail",
                        "ignored option --max-time 5", "ignored option --connect-timeout 2",
                        "ignored option --verbose", "ignored option --include"])),
    ("-X explicit without data", "curl -sSXPOST https://h/",
     want("POST", notes=["ignored option --silent", "ignored option --show-error"])),
    ("continuations and double quotes",
     'curl \\\n  -H "Content-Type: application/json" \\\r\n  "https://h/" \\\n'
     '  -d "{\\"home\\": \\"\\$HOME\\"}"',
     want("POST", headers=[JSON_CT], body=b'{"home": "$HOME"}')),
    ("bash quote idioms", "curl https://h/ -H 'Content-Type: text/plain' "
     "-d 'it'\"'\"'s' --data-raw 'a'\\''b'",
     want("POST", headers=[("Content-Type", "text/plain")], body=b"it's&a'b")),
    ("$'…' as browsers copy it", r"""curl https://h/ -H 'Content-Type: application/json' """
     r"""--data-raw $'{"a": "it\'s \u00e9\\n"}\n'""",
     want("POST", headers=[JSON_CT], body='{"a": "it\'s é\\n"}\n'.encode())),
    ("header removal and empty header", "curl -H 'Accept:' -H 'X-Empty;' https://h/",
     want("GET", headers=[("X-Empty", "")], notes=["header Accept removed: curl sends none"])),
    ("-H @file", "curl -H @headers.txt -A probe/1 https://h/",
     want("GET", headers=[("X-One", "1"), ("X-Two", "2"), ("User-Agent", "probe/1")])),
    ("URL without scheme", "curl localhost:8443/hook -d x -H 'Content-Type: text/plain'",
     want("POST", "http://localhost:8443/hook", headers=[("Content-Type", "text/plain")],
          body=b"x", notes=["the URL localhost:8443/hook has no scheme: curl uses http://"])),
    ("pipe to jq", "curl -d '[]' https://h/ -H 'Content-Type: application/json' | jq .",
     want("POST", headers=[JSON_CT], body=b"[]",
          notes=["ignored the rest of the shell line from '|': | jq ."])),
    ("printf pipe into @-", r"printf '%b' '[\x27\xff\x5c]' | curl --data-binary @- https://h/ "
     r"-H 'Content-Type: application/json'",
     want("POST", headers=[JSON_CT], body=b"['\xff\\]")),
    ("shell variables stay literal", 'curl "https://h/$PATH_PART" -H "Content-Type: a/b" -d x',
     want("POST", "https://h/$PATH_PART", headers=[("Content-Type", "a/b")], body=b"x",
          notes=["shell expansion $PATH_PART was not performed: the text is taken literally"])),
]


@pytest.mark.parametrize(("command", "expected"), [row[1:] for row in FORMS],
                         ids=[row[0] for row in FORMS])
def test_command_forms(files, command, expected):
    assert asdict(parse_curl(command, base_dir=files)) == expected


def test_relative_files_default_to_the_working_directory(files, monkeypatch):
    monkeypatch.chdir(files)
    assert parse_curl("curl --data-binary @crlf.json https://h/").body == (
        files / "crlf.json").read_bytes()


ERRORS = [
    ("curl --foo https://h/", "unknown option --foo"),
    ("curl -sZ https://h/", "unknown option -Z"),
    ("curl --header=X:1 https://h/", "unknown option --header=X:1"),
    ("curl https://h/ --header", "--header needs a value"),
    ("curl https://h/ -H", "-H: --header needs a value"),
    ("curl https://h/ -d", "-d: --data needs a value"),
    ("curl -d '[1] https://h/", "unclosed quote ' opened at line 1, column 9"),
    ('curl https://h/ \\\n -H "X: y', 'unclosed quote " opened at line 2, column 5'),
    ("curl $'abc https://h/", "unclosed quote $'"),
    ("curl -d x", "no URL"),
    ("curl -sS", "no URL"),
    ("curl --data-binary @- https://h/", "@- (read from standard input) is not supported"),
    ("curl -d @missing.json https://h/", "-d @missing.json: cannot read"),
    ("wget https://h/", "not a curl command: it starts with 'wget'"),
    ("", "empty command"),
    ("curl https://a/ https://b/", "more than one URL: https://a/, https://b/"),
    ("curl -H nocolon https://h/", "-H 'nocolon' is not a header"),
    ("curl https://h/ \\", "ends with a backslash"),
]


@pytest.mark.parametrize(("command", "part"), ERRORS)
def test_errors_name_the_part(tmp_path, command, part):
    with pytest.raises(CurlParseError, match=re.escape(part)) as info:
        parse_curl(command, base_dir=tmp_path)
    assert isinstance(info.value, ValueError)


# --- placeholders and locality ------------------------------------------------------------

PLACES = [
    (DOC_URL, "https://localhost:8443/", "https://localhost:8443/"),
    ("https://<server-domain>:<port>/<endpoint>/events", "https://localhost:8443/",
     "https://localhost:8443/events"),
    (DOC_URL, "https://127.0.0.1:9000/hook/", "https://127.0.0.1:9000/hook/"),
    ("https://<server-ip>:<port>/<endpoint>", "https://localhost:8443/a/b",
     "https://localhost:8443/a/b"),
    ("https://<server-domain>/<endpoint>/?x=1#top", "https://localhost:8443/hook",
     "https://localhost:8443/hook/?x=1#top"),
    ("https://<server-domain>:<port>/", "https://user:pw@[::1]:8443/", "https://[::1]:8443/"),
    ("https://example.com/<endpoint>/x", "https://localhost:8443/hook",
     "https://example.com/hook/x"),
]


@pytest.mark.parametrize(("url", "endpoint", "mapped"), PLACES)
def test_map_placeholders(url, endpoint, mapped):
    req = CurlRequest(method="POST", url=url, headers=[JSON_CT], body=b"[]")
    out = map_placeholders(req, endpoint)
    assert out.url == mapped
    assert out.notes == [f"placeholder URL {url} mapped to {mapped}"]
    assert (out.method, out.headers, out.body) == ("POST", [JSON_CT], b"[]")
    assert (req.url, req.notes) == (url, [])  # the original is left alone


def test_map_placeholders_leaves_real_urls_alone():
    req = CurlRequest(method="POST", url="https://example.com/x", headers=[], body=b"[]")
    assert map_placeholders(req, "https://localhost:8443/") == req


def test_documented_command_maps_onto_the_endpoint():
    req = parse_curl((SAMPLES / "usage-record.curl").read_text(encoding="utf-8"))
    assert map_placeholders(req, "https://localhost:8443/").url == "https://localhost:8443/"


@pytest.mark.parametrize(("url", "endpoint", "local"), [
    ("https://localhost:8443/x", "https://localhost:8443/", True),
    ("https://127.0.0.1:8443/", "https://localhost:8443/", True),
    ("https://[::1]:8443/", "https://localhost:8443/", True),
    ("http://LOCALHOST:8443/", "https://localhost:8443/", True),
    ("https://localhost:8443/", "https://inspector.example:8443/", True),
    ("https://inspector.example:8443/", "https://inspector.example:8443/hook", True),
    ("https://localhost/", "https://localhost:443/", True),
    ("https://localhost:8444/", "https://localhost:8443/", False),
    ("https://example.com:8443/", "https://localhost:8443/", False),
    ("https://localhost/", "https://localhost:8443/", False),
    (DOC_URL, "https://localhost:8443/", False),
    ("not a url", "https://localhost:8443/", False),
])
def test_is_local(url, endpoint, local):
    assert is_local(url, endpoint) is local


# --- Copy as cURL ----------------------------------------------------------------------------

def curl_words(command: str) -> list[str]:
    return shlex.split(command.rpartition(" | ")[2] if command.startswith("printf") else command)


def test_build_curl_shape():
    command = build_curl("https://localhost:8443/", b'[{"a": 1}]', user="streamer",
                         password="test-password", cacert="/tmp/ca dir/ca.pem")
    assert curl_words(command) == [
        "curl", "-sS", "https://localhost:8443/", "-u", "streamer:test-password", "--cacert",
        "/tmp/ca dir/ca.pem", "-H", "Content-Type: application/json", "--data-raw",
        '[{"a": 1}]']


def test_build_curl_headers():
    command = build_curl(
        "https://h/", b"x", user="u", password="p", insecure=True, method="PUT",
        headers=[("content-type", "text/plain"), ("Authorization", "Basic ****"),
                 ("Content-Length", "1"), ("Host", "h"), ("X-Empty", ""), ("X-Id", "7")])
    assert curl_words(command) == [
        "curl", "-sS", "-X", "PUT", "https://h/", "-u", "u:p", "-k", "-H",
        "content-type: text/plain", "-H", "X-Empty;", "-H", "X-Id: 7", "--data-raw", "x"]
    req = parse_curl(command)
    assert req.headers == [("content-type", "text/plain"), ("X-Empty", ""), ("X-Id", "7")]
    assert (req.method, req.insecure) == ("PUT", True)


@pytest.mark.parametrize("body", [b'[{"a": "\xff"}]', b"[1]\r\n", b"a\x00b", b"\x1b[2J"])
def test_build_curl_pipes_bytes_on_one_line(body):
    command = build_curl("https://h/", body)
    assert "\n" not in command and "\r" not in command
    assert command.startswith("printf '%b' '")
    words = curl_words(command)
    assert words[-2:] == ["--data-binary", "@-"]
    assert not {"-d", "--data", "--data-ascii"} & set(words)
    assert parse_curl(command).body == body


def test_build_curl_refuses_what_basic_auth_cannot_carry():
    with pytest.raises(ValueError, match="cannot contain ':'"):
        build_curl("https://h/", b"[]", user="a:b", password="c")
    with pytest.raises(ValueError, match="line break"):
        build_curl("https://h/", b"[]", headers=[("X-Bad", "a\r\nInjected: 1")])


@pytest.mark.parametrize(("method", "headers", "body", "words", "absent"), [
    # curl's own method for what it sends: no -X; HEAD only with -I (-X HEAD waits for a body)
    ("GET", [], b"", ["--path-as-is", "https://h/x"], ["-X", "--data-raw", "--data-binary"]),
    ("HEAD", [], b"", ["-I"], ["-X", "--data-raw"]),
    ("DELETE", [], b"", ["-X", "DELETE"], ["--data-raw"]),
    # a recorded Content-Length: 0 sends an empty body; no Content-Type of curl's own
    ("PUT", [("Content-Length", "0")], b"", ["-X", "PUT", "--data-raw", "", "Content-Type:"],
     []),
    ("POST", [("Content-Type", "text/plain")], b"a" * 2000, ["Expect:", "User-Agent:"], []),
    ("POST", [("Expect", "100-continue"), ("User-Agent", "streamer/1")], b"[]",
     ["Expect: 100-continue", "User-Agent: streamer/1"], ["Expect:", "User-Agent:"]),
])
def test_build_curl_exact_sends_what_was_recorded(method, headers, body, words, absent):
    command = build_curl("https://h/x", body, headers=headers, method=method, exact=True)
    found = curl_words(command)
    for word in words:
        assert word in found, (word, found)
    for word in absent:
        assert word not in found, (word, found)
    request = parse_curl(command)
    assert request.method == method
    assert request.body == (body if "--data-raw" in found else None)


def test_build_curl_exact_keeps_bytes_a_terminal_would_not():
    # A header's Latin-1 bytes and a user with a control character go as $'…', on one line; a
    # gzip body is piped through gzip -c -n and reads back compressed.
    command = build_curl("https://h/", b'[{"a": 1}]\n', user="us\ter", password="pw",
                         headers=[("X-Note", "gr\xfc\xdfe"), ("Content-Encoding", "gzip")],
                         exact=True, encodings=("gzip",))
    assert "\n" not in command.partition(" | ")[2]
    assert "$'X-Note: gr\\xfc\\xdfe'" in command and "$'us\\x09er:'pw" in command
    assert "| gzip -c -n | curl " in command
    request = parse_curl(command)
    assert request.header("X-Note").encode("utf-8", "surrogateescape") == b"gr\xfc\xdfe"
    assert (request.user, request.password) == ("us\ter", "pw")
    assert gzip.decompress(request.body) == b'[{"a": 1}]\n'
    # deflate is compressed here (no shell tool is certain to make it)
    deflated = parse_curl(build_curl("https://h/", b"x" * 50, exact=True,
                                     encodings=("deflate",)))
    assert zlib.decompress(deflated.body) == b"x" * 50
    # variables go unquoted into their word
    assert shell_word((Var("BASE"), "/a?b=1")) == '"${BASE}"\'/a?b=1\''


def stored(receiver) -> list[dict]:
    db = open_reader(folded(receiver.capture))
    try:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(
            "SELECT status, method, path, auth, auth_user, content_type, body FROM request "
            "ORDER BY id")]
    finally:
        db.close()


TRICKY = json.dumps([{"text": "it's a \\ back`slash` $HOME $(id) \"q\" 😀 naïve",
                      "lines": "a\nb", "doc": "IMSI='<imsi>'"}],
                    ensure_ascii=False, indent=2).encode()
ROUND_TRIPS = [
    # (id, body, status the receiver answers, UTF-8 so --data-raw)
    ("documented event", EVENT_SAMPLE.read_bytes(), 200, True),
    ("quotes, backslashes, $HOME, backticks, newlines, emoji", TRICKY, 200, True),
    ("leading @", b"@payload.json", 400, True),
    ("not UTF-8", b'[{"a": "\xff"}]', 400, False),
]


@pytest.mark.parametrize(("body", "status", "utf8"), [r[1:] for r in ROUND_TRIPS],
                         ids=[r[0] for r in ROUND_TRIPS])
def test_copy_as_curl_replays_byte_for_byte(shared_receiver, tmp_path, body, status, utf8):
    receiver = shared_receiver  # (the cases' requests follow one another in one capture)
    before = len(stored(receiver))
    # A file named like the '@' body: curl must not read it.
    (tmp_path / "payload.json").write_bytes(b'[{"wrong": "file"}]')
    command = build_curl(receiver.url, body, user="streamer", password="test-password",
                         cacert=receiver.ca_file)
    assert ("--data-raw" in curl_words(command)) is utf8
    result = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)  # -sS: the output is just the response
    assert answer["ok"] is (status == 200)
    rows = stored(receiver)
    assert len(rows) == before + 1  # this request, stored once
    row = rows[-1]
    assert row["body"] == body
    assert (row["status"], row["method"], row["path"]) == (status, "POST", "/")
    assert (row["auth"], row["auth_user"]) == ("ok", "streamer")
    assert row["content_type"] == "application/json"
    back = parse_curl(command, base_dir=tmp_path)
    assert (back.body, back.url, back.user, back.password) == (
        body, receiver.url, "streamer", "test-password")
    assert (back.method, back.cacert, back.headers) == ("POST", receiver.ca_file, [JSON_CT])


def test_documented_command_reaches_the_receiver(shared_receiver, tmp_path):
    receiver = shared_receiver
    before = len(stored(receiver))
    # Paste the documentation's command, point it at the endpoint, copy it out, run it.
    req = map_placeholders(parse_curl((SAMPLES / "usage-record.curl").read_text("utf-8")),
                           receiver.url)
    assert is_local(req.url, receiver.url)
    command = build_curl(req.url, req.body, headers=req.headers, user="streamer",
                         password="test-password", cacert=receiver.ca_file)
    result = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["counts"] == {"usage": 1}
    rows = stored(receiver)
    assert len(rows) == before + 1
    assert rows[-1]["body"] == (SAMPLES / "usage-record.json").read_bytes()


def test_a_full_batch_goes_through_printf(shared_receiver, tmp_path):
    receiver = shared_receiver
    before = len(stored(receiver))
    # 3000 records exceed what one exec argument may hold: the body is piped by bash's printf.
    records = [{"event_type": {"id": 1, "description": "Update location"}, "id": i,
                "description": "IMSI='<imsi>' ü"} for i in range(3000)]
    body = json.dumps(records, ensure_ascii=False).encode()
    assert len(body) > MAX_ARGUMENT_BODY * 2
    command = build_curl(receiver.url, body, user="streamer", password="test-password",
                         cacert=receiver.ca_file)
    assert command.startswith("printf '%b' '")
    # Pasted into a shell (its standard input), not exec'd as one argument.
    result = subprocess.run(["bash"], input=command.encode(), cwd=tmp_path,
                            capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["records"] == 3000
    rows = stored(receiver)
    assert len(rows) == before + 1
    assert rows[-1]["body"] == body
    assert parse_curl(command).body == body


# --- the curl sub-command does not follow redirects ------------------------------------------

def test_the_curl_command_reports_a_redirect_and_never_reposts_the_body_elsewhere():
    """Regression (issue 10): ``curl --location`` re-posted the body to another host and said
    "200 OK from <original URL>". Like the streamer, the command follows no redirect."""
    import asyncio
    import sys

    from aiohttp import web

    from tests.conftest import ROOT

    async def scenario():
        elsewhere: list[bytes] = []

        async def other_host(request: web.Request) -> web.Response:
            elsewhere.append(await request.read())
            return web.json_response({"ok": True})

        async def redirecting(request: web.Request) -> web.Response:
            await request.read()
            raise web.HTTPTemporaryRedirect(other_url)

        runners = []
        urls = []
        for handler in (other_host, redirecting):
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handler)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            runners.append(runner)
            urls.append(f"http://127.0.0.1:{runner.addresses[0][1]}")
        other_url = f"{urls[0]}/collect"
        command = (f"curl --location --request POST '{urls[1]}/ingest' "
                   f"--header 'Content-Type: application/json' --data-raw '[{{\"id\": 1}}]'")
        async def run(events: str) -> tuple[int | None, str, str]:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app", "curl", "--events", events, command, cwd=ROOT,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode, out.decode(), err.decode()

        try:  # (the two commands side by side: each starts a Python)
            results = await asyncio.gather(run("human"), run("jsonl"))
        finally:
            for runner in runners:
                await runner.cleanup()
        return urls, other_url, elsewhere, results

    urls, other_url, elsewhere, results = asyncio.run(scenario())
    assert elsewhere == []  # the body never went to the other host
    (code, out, err), (code_jsonl, out_jsonl, _) = results
    assert code == code_jsonl == 1
    assert out.startswith(f"307 Temporary Redirect from {urls[1]}/ingest in ")
    assert f"a redirect to {other_url}, not followed" in out.splitlines()[0]
    assert LOCATION_NOTE in err
    outcome = json.loads(out_jsonl)
    assert (outcome["status"], outcome["url"], outcome["location"]) == (
        307, f"{urls[1]}/ingest", other_url)


def test_the_curl_command_prints_a_hostile_answer_safely():
    """Regression (issue 10): the answer of the user's backend is wire text; an ESC in it
    reached the terminal as a live escape sequence. It is shown as ␛ (and a lone surrogate
    as U+FFFD); ``--events jsonl`` keeps it exact, escaped in JSON."""
    import asyncio
    import sys

    from aiohttp import web

    from tests.conftest import ROOT

    async def scenario():
        async def backend(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(text='{"ok": "\x1b[31mred"}', content_type="application/json")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", backend)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/in"
        async def run(events: str) -> tuple[int | None, str]:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app", "curl", "--events", events,
                f"curl {url} --data-raw '[{{\"id\": 1}}]'", cwd=ROOT,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, _ = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode, out.decode()

        try:  # (the two commands side by side: each starts a Python)
            results = await asyncio.gather(run("human"), run("jsonl"))
        finally:
            await runner.cleanup()
        return results

    (code, out), (code_jsonl, out_jsonl) = asyncio.run(scenario())
    assert code == code_jsonl == 0
    assert "\x1b" not in out
    assert '{"ok": "\u241b[31mred"}' in out
    assert json.loads(out_jsonl)["body"] == '{"ok": "\x1b[31mred"}'


# --- what is pasted is what is sent (issue 14) ----------------------------------------------

def run_cli_curl(command: str, cwd: Path) -> dict:
    """``streamer-inspector curl COMMAND`` as a user runs it (the receiver registered itself, so
    placeholders and its URL get its credentials and CA)."""
    import os
    import sys

    from tests.conftest import ROOT

    result = subprocess.run([sys.executable, "-m", "app", "curl", "--events", "jsonl", command],
                            cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            capture_output=True, timeout=60, check=False)
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


def run_cli_curl_here(command: str, cwd: Path, capsys, monkeypatch) -> dict:
    """:func:`run_cli_curl` in this process: the same command line code without a Python
    start-up each time (about 1 s a command); the child process is :func:`run_cli_curl`'s."""
    from app.cli import main as cli

    monkeypatch.chdir(cwd)
    capsys.readouterr()
    cli.main(["curl", "--events", "jsonl", command])
    out = capsys.readouterr().out
    assert out, command
    return json.loads(out)


@pytest.mark.parametrize("name", ["update-location-event", "usage-record"])
def test_the_curl_command_sends_the_documented_body_byte_for_byte(receiver, tmp_path, name):
    """Regression (issue 14): the documentation's 1,603-byte --data-raw was stored as 1,455
    bytes after Paste cURL; ``streamer-inspector curl "$(cat sample.curl)"`` must store the
    body between the quotes exactly, white space and all."""
    command = (SAMPLES / f"{name}.curl").read_text(encoding="utf-8")
    outcome = run_cli_curl(command, tmp_path)
    assert outcome["status"] == 200, outcome
    body = stored(receiver)[0]["body"]
    assert body == (SAMPLES / f"{name}.json").read_bytes()
    if name == "update-location-event":
        assert len(body) == 1603


# Every option that carries a body, sent by the real curl binary and by our curl command to
# the same receiver: the stored bodies and Content-Types must be identical.
BODY_FORMS = [
    "--data-raw @crlf.json",  # @ is literal for --data-raw
    "-d @form.txt",  # --data strips CR and LF from a file
    "-d @odd.txt",  # … and a lone CR or a NUL ends its line (or 255-byte piece)
    "--data-binary @odd.txt",
    "--data-ascii @crlf.json",
    "--data-binary @crlf.json",  # --data-binary keeps them
    "-d a=1 -d b=2",  # repeated pieces joined with &
    "-da=1 --data-binary @form.txt --data-raw 'x y'",
    "-H 'Content-Type: application/json' "
    "--data-raw $'[{\"a\": 1},\\r\\n\\t{\"b\": \"\\xc3\\xbc\"}]'",
    "--json @crlf.json",
    "--json '{\"a\": 1}' --json ' [2]\n'",  # --json pieces are joined with nothing
    "-d ''",
]


# (app/cli/main.py sends credentials with aiohttp.BasicAuth, deprecated in aiohttp 3.14: in
# this process the warning shows; it goes when that sends an Authorization header itself)
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning")
def test_body_options_send_what_the_real_curl_sends(receiver, files, capsys, monkeypatch):
    """Regression (issue 14): ``-d @file`` dropped every CR and LF, where curl (it reads the
    file line by line with fgets) drops the rest of a line after a lone CR or a NUL."""
    (files / "odd.txt").write_bytes(b"a=1\rlost\r\nb=2\x00lost\n" + b"x" * 300 + b"\ry" * 3
                                    + b"z" * 300 + b"\n\rc=3")
    auth = f"-u streamer:test-password --cacert {shlex.quote(receiver.ca_file)}"
    for form in BODY_FORMS:
        command = f"curl -sS {auth} {shlex.quote(receiver.url)} {form}"
        real = subprocess.run(["bash", "-c", command], cwd=files, capture_output=True,
                              timeout=60, check=False)
        assert real.returncode == 0, (form, real.stderr)
        ours = run_cli_curl_here(command, files, capsys, monkeypatch)  # (the child: above)
        assert ours.get("status") is not None, (form, ours)
        *_, by_curl, by_us = stored(receiver)
        assert by_us["body"] == by_curl["body"], form
        assert by_us["content_type"] == by_curl["content_type"], form
        assert by_us["status"] == by_curl["status"], form
