"""The documentation runs as written: every shell example of README.md and docs/*.md, and every
filter example of docs/filters.md and the README.

Commands run through bash against one real ``serve`` child on a random port (its own
credentials and CA), with the documentation's placeholders replaced by real things
(``CAPTURE.sqlite`` by a capture of generated records, ``https://localhost:8443/`` by the
child's URL, ``my-backend.example`` by the child too, ``PASSWORD`` by its password ...) and
``uv run streamer-inspector`` by this checkout's command line. Each must exit 0 without a
traceback. Commands that cannot run here are listed in :data:`EXEMPT` with the reason; a new
example is either run or must be listed there.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.capture.schema import open_reader
from app.capture.summary import summary
from app.capture.writer import CaptureWriter, Incoming
from app.filters.parser import parse
from app.replay.generator import Generator
from tests.conftest import EVENT_SAMPLE, ROOT, USAGE_SAMPLE, start_receiver

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
APP = f"{shlex.quote(sys.executable)} -m app"

# (pattern matched against the command as written, why it is not run)
EXEMPT = [
    (r"^uv run streamer-inspector(\s+#.*)?$", "opens the window: tests/ui drive it offscreen"),
    (r"^uv run streamer-inspector --port 9443", "opens the window with an option"),
    (r"^(UV_PYTHON=\S+ )?uv run pytest", "the test suite itself"),
    (r"^packaging/build-linux\.sh", "the packaging build (a minute, 200 MB): "
                                    "`pytest -m slow` (tests/test_packaging.py) runs it"),
    (r"^dist/streamer-inspector/install\.sh", "installs into the user's home, after the build"),
    (r"^uv run python benchmarks/", "benchmarks run for minutes over a million records"),
    (r"^streamer-inspector serve\|send\|", "a synopsis of the sub-commands, not a command"),
    (r"^streamer-inspector summary --filter EXPR$", "a synopsis: EXPR stands for a filter; "
                                                    "every filter example is run below"),
    (r"^streamer-inspector import$", "names the command in a table (no arguments)"),
    (r"^streamer-inspector$", "the meta table's application name, not a command"),
    (r"^npx --yes newman", "needs Node and newman from npm: tests/export/test_postman.py runs "
                           "newman against a real receiver (pytest -m slow)"),
    (r"^STREAMER_INSPECTOR_PASSWORD=\S+ CURL_CA=\S+ bash replay\.sh$",
     "replays to the endpoint that recorded the capture, which must be running: "
     "tests/export/test_curl_export.py runs the script against a real receiver"),
]

# Filter spans of docs/filters.md that are notation, not filters.
NOT_FILTERS = {
    "<", "<=", ">", ">=", "~", "!~", "==", "!=", "and", "or", "not", "&&", "||", "!", "s", "m",
    "h", "d", "true", "false", "null", "(", ")", "\u2026",
}


def exempt_reason(command: str) -> str | None:
    for pattern, reason in EXEMPT:
        if re.search(pattern, command):
            return reason
    return None


def sh_blocks(text: str) -> list[list[str]]:
    """The commands of each ```sh block, continuation lines joined, comment lines dropped."""
    blocks = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        commands = []
        logical = ""
        for line in block.splitlines():
            if logical:
                logical += "\n" + line
            elif line.strip() and not line.lstrip().startswith("#"):
                logical = line
            if logical and not logical.endswith("\\"):
                commands.append(logical)
                logical = ""
        blocks.append(commands)
    return blocks


def inline_commands(text: str) -> list[str]:
    """``streamer-inspector …`` in inline code outside the blocks."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return [m.replace("\u2026", "").strip() for m in re.findall(
        r"`((?:uv run )?streamer-inspector(?:\s[^`]*)?)`", prose)]


def example_chains() -> list[tuple[str, list[str]]]:
    """(document, commands) for each ```sh block (its commands run in order: an example may
    use what the previous one wrote) and for each inline command."""
    chains = []
    for doc in DOCS:
        text = doc.read_text("utf-8")
        chains += [(doc.name, block) for block in sh_blocks(text)]
        chains += [(doc.name, [command]) for command in inline_commands(text)]
    return chains


def examples() -> list[tuple[str, str]]:
    return [(doc, command) for doc, chain in example_chains() for command in chain]


def test_the_examples_are_found():
    found = examples()
    commands = [c for _, c in found]
    assert len(found) >= 25
    assert any("usage-record.curl" in c for c in commands)
    assert any(c.startswith("sqlite3 capture.sqlite") for c in commands)
    assert "streamer-inspector ca --export ca.pem" in commands


# --- the world the examples run in ---------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One serve child, a capture of generated records, and a folder to run commands in."""
    base = tmp_path_factory.mktemp("docs")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("XDG_")}
    env.update({"XDG_CONFIG_HOME": str(base / "config"), "XDG_DATA_HOME": str(base / "data"),
                "XDG_STATE_HOME": str(base / "state"), "XDG_CACHE_HOME": str(base / "cache"),
                "HOME": str(base / "home")})
    work = base / "work"
    work.mkdir()
    (work / "resources").symlink_to(ROOT / "resources")
    capture = base / "CAPTURE.sqlite"
    records = Generator(sims=20, seed=5).records(2000)
    writer = CaptureWriter(capture)
    for sample in (EVENT_SAMPLE, USAGE_SAMPLE):
        writer.store(Incoming("POST", "/", sample.read_bytes(), content_type="application/json"))
    for i in range(0, len(records), 500):
        writer.store(Incoming("POST", "/", json.dumps(records[i:i + 500]).encode(),
                              content_type="application/json"))
    writer.store(Incoming("POST", "/", b"[1]", content_type="application/json"))
    writer.store(Incoming("POST", "/", b"[]", content_type="application/json", auth="invalid"),
                 status=401, reason="wrong credentials")
    writer.close()
    rec = start_receiver(base, user="streamer", password="docs-pass-123", env=env,
                         capture=base / "served.sqlite")
    try:
        yield {"env": env, "work": work, "capture": capture, "receiver": rec,
               "records": records}
    finally:
        rec.stop()


def substitute(command: str, world: dict) -> str:
    rec = world["receiver"]
    url, ca = rec.url, shlex.quote(rec.ca_file)
    pairs = [
        ("uv run streamer-inspector", APP),
        ("https://localhost:8443/", url),
        ("https://my-backend.example/1nce/", f"{url}1nce/"),
        ("--user u --password p", f"--user {rec.user} --password {rec.password}"),
        ("--password \u2026", f"--password {rec.password}"),
        ("--generate 30000", "--generate 300"),  # the example's size, shortened
        ("--interval 1", "--interval 0"),
        ("~/.local/share/streamer-inspector/tls/ca.pem", ca),
        ("CA.pem", ca),
        ("streamer:PASSWORD", f"{rec.user}:{rec.password}"),
        ("CAPTURE.sqlite", shlex.quote(str(world["capture"]))),
        ("old.sqlite", shlex.quote(str(world["capture"]))),
        ("sqlite3 capture.sqlite", f"sqlite3 {shlex.quote(str(world['capture']))}"),
    ]
    for old, new in pairs:
        command = command.replace(old, new)
    if command.startswith("streamer-inspector "):
        command = APP + command.removeprefix("streamer-inspector")
    return command


def run_serve_example(command: str, world: dict) -> tuple[int, str, str]:
    """``serve`` runs until stopped: on a free port, stopped once it says it listens."""
    command += f" --port 0 --capture {shlex.quote(str(world['work'] / 'serve-example.sqlite'))}"
    proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=world["work"],
                            env=world["env"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    seen = ""
    while "Endpoint URL:" not in seen and proc.poll() is None:
        seen += proc.stdout.readline()
    url = re.search(r"Endpoint URL:\s+(\S+)", seen)
    if url is not None:
        # Its answer to a GET comes once it waits for requests, its signal handlers set.
        context = ssl.create_default_context(cafile=world["receiver"].ca_file)
        with urllib.request.urlopen(url.group(1), context=context, timeout=30) as answer:
            assert answer.status == 200
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, seen + out, err


def run_example(written: str, world: dict) -> dict:
    command = substitute(written, world)
    assert "uv run streamer-inspector" not in command, command
    started = time.monotonic()
    if re.search(r"-m app serve$", command):
        code, out, err = run_serve_example(command, world)
        expect = "is listening."
    else:
        result = subprocess.run(["bash", "-c", command], cwd=world["work"], env=world["env"],
                                capture_output=True, text=True, timeout=120)
        code, out, err = result.returncode, result.stdout, result.stderr
        expect = ""
        if " send " in command:
            expect = "done: "
        elif " -m app curl " in command:  # not "export --format curl"
            expect = "200 OK from "
        elif command.startswith("curl "):
            expect = '"ok": true'
    return {"command": command, "code": code, "out": out, "err": err, "expect": expect,
            "seconds": round(time.monotonic() - started, 2)}


@pytest.fixture(scope="module")
def ran(world) -> dict:
    """Every example that is not exempt, run: written command -> what happened. The blocks run
    side by side (each in its order); the ``serve`` examples after them, one at a time, so
    that the documentation's placeholders meet one running endpoint."""
    chains, serves, exempted = [], [], []
    for doc, chain in example_chains():
        todo = []
        for written in chain:
            reason = exempt_reason(written)
            if reason is None and written.startswith("sqlite3 ") and not shutil.which("sqlite3"):
                reason = "no sqlite3 tool here"
            if reason is not None:
                exempted.append((written, reason))
            elif re.search(r"streamer-inspector serve$", written):
                serves.append((doc, written))
            else:
                todo.append((doc, written))
        if todo:
            chains.append(todo)
    results: dict = {}

    def run_chain(chain):
        for doc, written in chain:
            results[written] = {"doc": doc, **run_example(written, world)}

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(run_chain, chains))
    run_chain(serves)
    return {"results": results, "exempted": exempted}


def test_every_shell_example_runs_as_written(ran):
    failures = [
        f"{r['doc']}: {written}\n  ran: {r['command']}\n  exit {r['code']}\n"
        f"  stdout: {r['out'][-800:]}\n  stderr: {r['err'][-800:]}"
        for written, r in ran["results"].items()
        if r["code"] != 0 or "Traceback" in r["out"] + r["err"] or r["expect"] not in r["out"]]
    assert not failures, "\n\n".join(failures)
    assert len(ran["results"]) >= 17, list(ran["results"])
    exempted = ran["exempted"]
    unused = [p for p, _ in EXEMPT if not any(re.search(p, w) for w, _ in exempted)]
    assert not unused, f"exemptions no example needs any more: {unused}"


def test_the_send_example_without_credentials_gets_200_not_401(ran, world):
    """Regression (issue 10): ``send … --capture old.sqlite --filter 'type_id == 3'
    --insecure`` got 401 six times: it now takes the running endpoint's credentials."""
    result = ran["results"]["uv run streamer-inspector send https://localhost:8443/ --capture "
                            "old.sqlite --filter 'type_id == 3' --insecure"]
    assert result["code"] == 0, result["err"]
    expected = sum(r.get("event_type", {}).get("id") == 3 for r in world["records"])
    assert f"done: {expected} of {expected} records acknowledged" in result["out"]
    # no 401 answer (a word on its own: a process id such as "pid 5401" is not one)
    assert not re.search(r"(?<!\d)401(?!\d)", result["out"] + result["err"])
    assert "using the credentials of the running endpoint" in result["err"]


def test_the_placeholder_curl_example_reaches_the_running_serve(ran, world):
    result = ran["results"]['uv run streamer-inspector curl "$(cat '
                            'resources/samples/usage-record.curl)"']
    assert result["out"].startswith(f"200 OK from {world['receiver'].url} in ")
    assert json.loads(result["out"].partition("\n")[2])["counts"] == {"usage": 1}


# --- filters ----------------------------------------------------------------------------------

def _spans(cell: str) -> list[str]:
    return [s.replace("\\|", "|") for s in re.findall(r"`((?:[^`\\]|\\.)+)`", cell)]


def _table_column(text: str, header: str, column: int) -> list[str]:
    """The code spans in ``column`` of the Markdown table whose header row starts ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    spans = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line)[1:-1]
        spans += _spans(cells[column])
    return spans


def filter_examples() -> list[tuple[str, str, str]]:
    """(where, filter, table) for every filter example."""
    text = (ROOT / "docs" / "filters.md").read_text("utf-8")
    found = [("filters.md language", s, "records")
             for s in _table_column(text, "| you write |", 0)]
    for span in _table_column(text, "| task |", 1):
        table = "requests" if span.startswith(("status ", "auth ")) else "records"
        found.append(("filters.md examples", span, table))
    rules = text[text.index("### Rules of comparison"):text.index("## Examples")]
    found += [("filters.md rules", s, "records") for s in _spans(rules) if " " in s]
    readme = (ROOT / "README.md").read_text("utf-8")
    bar = readme[readme.index("tests like"):readme.index("combine with")]
    found += [("README filter bar", s, "records") for s in _spans(bar)]
    found += [("README summary", s, "records")
              for s in re.findall(r"--filter '([^']+)'", readme)]
    return [(w, f, t) for w, f, t in found if f not in NOT_FILTERS]


def _count(world: dict, text: str, table: str) -> int:
    flt = parse(text, table)
    db = open_reader(world["capture"])
    try:
        if table == "requests":
            where, params = flt.where()
            return db.execute(f"SELECT count(*) FROM request AS q WHERE {where}",
                              params).fetchone()[0]
        return summary(db, flt)["records"]
    finally:
        db.close()


def _get(record: dict, *path: str):
    for key in path:
        record = record.get(key) if isinstance(record, dict) else None
    return record


def _event(r: dict, n: int) -> bool:
    return _get(r, "event_type", "id") == n


# What some examples say they mean, as a test on the generated records.
MEANINGS = {
    "type_id == 3 and alert": lambda r: _event(r, 3) and bool(r.get("alert")),
    "family == event and type_id == 5": lambda r: _event(r, 5),
    "type_id == 5": lambda r: _event(r, 5) or _get(r, "traffic_type", "id") == 5,
    "type == SMS": lambda r: _get(r, "traffic_type", "description") == "SMS",
    "type ~ quota and alert": lambda r: _get(r, "event_type", "id") in (18, 19),
}


def _usage(r: dict) -> bool:
    return "traffic_type" in r


def _volume(r: dict) -> float:
    total = _get(r, "volume", "total") if _usage(r) else _get(r, "detail", "volume", "total")
    return float(total or 0)


def _country(r: dict) -> str | None:
    return _get(r, "operator", "country", "name") or _get(r, "detail", "country", "name")


# The tasks of filters.md's examples table, as tests on records: the row's filter (and an
# "(or …)" alternative) must find exactly what the task says, on the table it names.
TASKS = {
    "rejected PDP contexts": (None, lambda r: _event(r, 3) and r.get("alert") is True),
    "data sessions that ended (Delete PDP Context events)": (None, lambda r: _event(r, 5)),
    "usage above 1 MB in Germany": (
        _usage, lambda r: _volume(r) > 1 and _country(r) == "Germany"),
    "SMS usage records": (_usage, lambda r: _get(r, "traffic_type", "description") == "SMS"),
    "quota alerts": (None, lambda r: _get(r, "event_type", "id") in (18, 19)
                     and r.get("alert") is True),
}


def test_the_examples_table_finds_what_each_task_says(world):
    """Regression (issue 10): "data sessions that ended" was ``type_id == 5``, which also
    matches every Data usage record (traffic type 5)."""
    text = (ROOT / "docs" / "filters.md").read_text("utf-8")
    rows = {}
    for line in text.splitlines():
        cells = re.split(r"(?<!\\)\|", line)[1:-1]
        if len(cells) == 2 and cells[0].strip() in TASKS:
            spans = _spans(cells[1])
            alternatives = re.findall(r"\(or `([^`]+)`", cells[1])
            rows[cells[0].strip()] = [spans[0], *alternatives]
    assert set(rows) == set(TASKS)
    records = world["records"]
    first = 3  # record ids: the two documented samples, then the generated records
    db = open_reader(world["capture"])
    try:
        for task, filters in rows.items():
            table, meaning = TASKS[task]
            expected = [first + i for i, r in enumerate(records)
                        if (table is None or table(r)) and meaning(r)]
            assert expected, task
            for expression in filters:
                query, params = parse(expression).record_query(
                    ("usage",) if table is _usage else None)
                found = [i for (i,) in db.execute(query, params)
                         if first <= i < first + len(records)]
                assert found == expected, (task, expression, len(found), len(expected))
    finally:
        db.close()


def test_every_filter_example_parses_and_runs(world):
    found = filter_examples()
    texts = {f for _, f, _ in found}
    assert len(found) >= 30
    assert {"type_id == 3 and alert", "family == event and type_id == 5", "last 15m",
            "status >= 400", "type ~ PDP and alert"} <= texts
    failures = []
    for where, text, table in found:
        try:
            _count(world, text, table)
        except Exception as exc:  # every failure is listed
            failures.append(f"{where}: {text!r}: {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures)


def test_the_filter_examples_mean_what_the_docs_say(world):
    records = world["records"]
    for text, meaning in MEANINGS.items():
        expected = sum(1 for r in records if meaning(r))
        # The two documented samples are in the capture too: a Data usage record (type 5)
        # and an Update location event.
        if text == "type_id == 5":
            usage = json.loads(USAGE_SAMPLE.read_text())[0]
            expected += meaning(usage)
        assert _count(world, text, "records") == expected, text
        assert expected > 0, text
    # Delete PDP Context events only: Data usage records (traffic type 5) are not among them.
    assert _count(world, "type_id == 5", "records") > _count(
        world, "family == event and type_id == 5", "records")
    assert _count(world, "status >= 400", "requests") == 2  # the [1] (400) and the 401
    assert _count(world, "auth == invalid", "requests") == 1
    assert _count(world, "last 15m", "records") == len(records) + 2
