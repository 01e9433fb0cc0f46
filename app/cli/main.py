"""The command line: ``streamer-inspector [serve|ca|summary] ...``; no sub-command opens the window.

Options are parsed here and passed on as arguments (:class:`~app.config.ServeOptions`); nothing
reads a global context.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from app.cli.cancel import cancel_on_stdin_if_asked
from app.cli.options import PASSWORD_ENV, build_parser, serve_options
from app.config import (
    Settings,
    tls_dir,
)
from app.display import printable


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    A reader that goes away (``summary … | head``) ends the command quietly with status 141
    (128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe), never with a
    traceback.
    """
    # Text from the wire may hold lone surrogates, which UTF-8 cannot encode: shown escaped
    # (\ud83d, a valid JSON escape too) rather than ending the command with a traceback.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, not at exit, where a broken pipe could not be caught
    except BrokenPipeError:
        # Python's advice: point stdout at devnull so the interpreter's last flush is quiet.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return 141
    except KeyboardInterrupt:
        # Ctrl+C (or the window's cancel line) before the command set its own handler, e.g.
        # while it was still starting: stopped, without a traceback.
        print("cancelled", file=sys.stderr, flush=True)
        return 130
    return code


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in ("send", "curl", "export", "check"):
        return _command(args, argv)
    # Run by the window: it cancels through stdin (a signal cannot, portably).
    watcher = cancel_on_stdin_if_asked()
    try:
        return _command(args, argv)
    finally:
        if watcher is not None:
            watcher.disarm()


def _command(args: argparse.Namespace, argv: list[str] | None) -> int:
    if args.command == "serve":
        from app.server.serve import serve

        return serve(serve_options(args, Settings.load_or_create()))
    if args.command == "ca":
        return _ca(args)
    if args.command == "summary":
        return _summary(args)
    if args.command == "stats":
        from app.cli.stats import run_stats

        return run_stats(args, _filter)
    if args.command == "send":
        from app.cli.send import run_send

        if args.user and args.password is None:  # the window passes it in the environment
            args.password = os.environ.get(PASSWORD_ENV)
        return run_send(args)
    if args.command == "curl":
        return _curl(args)
    if args.command == "check":
        return _check(args)
    if args.command == "import":
        return _import(args)
    if args.command == "export":
        from app.export.transfer import ExportJob, run_export

        flt = _filter(args.filter)
        if flt is None:
            return 2
        return run_export(ExportJob(
            capture=args.capture, format=args.format, output=args.output, filter=args.filter,
            ids_file=args.ids_file, request_ids_file=args.request_ids_file, mask=args.mask,
            strict_json=args.strict_json, csv_bom=args.csv_bom,
            csv_all_fields=args.csv_all_fields,
            csv_delimiter="\t" if args.csv_delimiter == "\\t" else args.csv_delimiter,
            base_url=args.base_url, events=args.events))
    return _window(argv)


def _import(args: argparse.Namespace) -> int:
    import signal

    from app.capture.importer import ImportFileError, plan, run_import
    from app.capture.schema import CaptureError
    from app.capture.writer import CaptureWriter

    jsonl = args.events == "jsonl"

    def say(event: dict, text: str, stream=sys.stdout) -> None:
        print(json.dumps(event) if jsonl else text, file=sys.stdout if jsonl else stream,
              flush=True)

    try:
        kind, planned = plan(args.file)
    except ImportFileError as exc:
        say({"event": "import", "state": "failed", "message": str(exc)},
            f"streamer-inspector: error: {exc}", sys.stderr)
        return 2
    try:
        writer = CaptureWriter(args.capture)
    except CaptureError as exc:
        hint = (" (import from the window that runs it: File > Import)"
                if "another" in str(exc) else "")
        say({"event": "import", "state": "failed", "message": str(exc)},
            f"streamer-inspector: error: {exc}{hint}", sys.stderr)
        return 2
    cancelled = []
    previous = signal.signal(signal.SIGINT, lambda *_: cancelled.append(True))
    try:
        result = run_import(writer, kind, planned, lambda r, n: not cancelled)
    finally:
        signal.signal(signal.SIGINT, previous)
        writer.close()
    say({"event": "import", "state": result.state, "kind": kind,
         "done_requests": result.requests, "done_records": result.records},
        f"{result.state}: imported {result.records:,} records in {result.requests:,} "
        f"requests from {args.file} ({kind}) into {args.capture}")
    return 0 if result.state == "done" else 130


def local_endpoint_url(settings: Settings) -> str:
    scheme = "http" if settings.tls_mode == "off" else "https"
    host = "localhost" if settings.host in ("127.0.0.1", "::1", "0.0.0.0", "::") else settings.host
    return f"{scheme}://{host}:{settings.port}/"


def _curl(args: argparse.Namespace) -> int:
    from app import runtime
    from app.replay.curl import (
        CurlParseError,
        has_placeholders,
        is_local,
        map_placeholders,
        parse_curl,
    )

    if (args.curl_command is None) == (args.file is None):
        print("streamer-inspector: error: give the command, or --file", file=sys.stderr)
        return 2
    try:
        text = args.file.read_text("utf-8") if args.file else args.curl_command
        base = args.file.parent if args.file else Path.cwd()
        request = parse_curl(text, base_dir=base)
    except (OSError, CurlParseError) as exc:
        return _curl_result(args, {"error": f"cannot read the command: {exc}"}, 2)
    # Placeholders and local URLs go to a receiver that runs now (as it registered itself),
    # with its credentials and CA; only when none runs, to what the settings describe.
    live = runtime.running()
    notes: list[str] = []
    if args.endpoint:
        endpoint = args.endpoint
        running = next((e for e in live if e.reaches(endpoint)), None)
    elif has_placeholders(request.url) and live:
        running = live[0]
        endpoint = running.url
        if len(live) > 1:
            others = ", ".join(e.describe() for e in live[1:])
            notes.append(f"{len(live)} endpoints are running; placeholders go to the most "
                         f"recent, {running.describe()} (others: {others}; choose with "
                         f"--endpoint URL)")
        else:
            notes.append(f"placeholders go to the running endpoint {running.describe()}")
    else:
        running = next((e for e in live if e.reaches(request.url)), None)
        settings_url = local_endpoint_url(Settings.load())
        endpoint = running.url if running is not None else settings_url
        if running is None and has_placeholders(request.url):
            notes.append(f"no endpoint is running here: placeholders go to {endpoint}, as the "
                         f"settings describe it")
    request = map_placeholders(request, endpoint)
    if running is not None and running.reaches(request.url):
        if request.user is None and running.auth_enabled:
            if running.password is not None:
                request.user, request.password = running.user, running.password
            elif running.password_note:
                notes.append(running.password_note)
        if (request.cacert is None and not request.insecure and running.ca_file
                and request.url.lower().startswith("https:")):
            request.cacert = running.ca_file
    elif is_local(request.url, endpoint):
        settings = Settings.load()
        if request.user is None and settings.auth_enabled and settings.password:
            request.user, request.password = settings.user, settings.password
        ca = tls_dir() / "ca.pem"
        if request.cacert is None and not request.insecure and ca.is_file():
            request.cacert = str(ca)
    import asyncio

    outcome = asyncio.run(_perform(request))
    outcome["notes"] = [*request.notes, *notes]
    status = outcome.get("status")
    return _curl_result(args, outcome, 0 if status is not None and 200 <= status < 300 else 1)


async def _perform(request) -> dict:
    """Send ``request`` once. Redirects are never followed (the Data Streamer does not follow
    them, and following one to another host would post the body there): a 3xx is reported with
    its Location."""
    import ssl
    import time

    import aiohttp

    from app.replay.sender import describe_client_error

    ctx: ssl.SSLContext | bool = True
    try:
        if request.insecure:
            ctx = False
        elif request.cacert:
            ctx = ssl.create_default_context(cafile=request.cacert)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        return {"status": None, "url": request.url,
                "error": f"cannot use the CA file {request.cacert}: {reason}"}
    auth = None
    if request.user is not None:
        auth = aiohttp.BasicAuth(request.user, request.password or "")
    started = time.perf_counter()
    try:
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=True) as session, \
                session.request(request.method, request.url, data=request.body,
                                headers=request.headers, auth=auth, ssl=ctx,
                                allow_redirects=False) as resp:
            body = await resp.read()
            outcome = {"status": resp.status, "reason": resp.reason,
                       "headers": list(resp.headers.items()),
                       "body": body.decode("utf-8", "replace"),
                       "elapsed": time.perf_counter() - started, "url": str(resp.url)}
            if 300 <= resp.status < 400:
                outcome["location"] = resp.headers.get("Location")
            return outcome
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        return {"status": None, "error": describe_client_error(exc, request.url),
                "url": request.url}


def _curl_result(args: argparse.Namespace, outcome: dict, code: int) -> int:
    if args.events == "jsonl":
        print(json.dumps(outcome, ensure_ascii=False), flush=True)
        return code
    for note in outcome.get("notes", ()):
        print(f"note: {note}", file=sys.stderr)
    if outcome.get("status") is None:
        print(f"streamer-inspector: error: {printable(str(outcome.get('error')))}",
              file=sys.stderr)
        return code
    head = (f"{outcome['status']} {outcome.get('reason') or ''} from {outcome['url']} in "
            f"{outcome['elapsed'] * 1000:.0f} ms")
    if 300 <= outcome["status"] < 400:
        where = outcome.get("location")
        head += (f": a redirect to {where}, not followed" if where else
                 ": a redirect without a Location header")
        head += " (the Data Streamer does not follow redirects either)"
    print(printable(head))
    print(printable(outcome["body"]))  # the answer is wire text: no ESC reaches the terminal
    return code


def _check(args: argparse.Namespace) -> int:
    """``check URL``: one line (or JSON object) per step as it finishes; 0 when all pass."""
    import asyncio

    from app.replay.check import CheckOptions, passed, run_check

    if args.timeout <= 0:
        print("streamer-inspector: --timeout must be more than 0 seconds", file=sys.stderr)
        return 2
    if args.user and args.password is None:  # the window passes it in the environment
        args.password = os.environ.get(PASSWORD_ENV)
    options = CheckOptions(url=args.url, user=args.user, password=args.password,
                           cacert=args.cacert, full_batch=args.full_batch,
                           timeout=args.timeout, allow_local=args.allow_local)

    async def run() -> list:
        steps = []
        async for step in run_check(options):
            steps.append(step)
            if args.json:
                print(json.dumps(step.event(), ensure_ascii=False), flush=True)
            else:
                print("\n".join(printable(line) for line in step.lines()), flush=True)
        return steps

    try:
        ok = passed(asyncio.run(run()))
    except KeyboardInterrupt:  # Ctrl+C, or the window's cancel line
        if args.json:
            print(json.dumps({"event": "done", "ok": False, "cancelled": True}), flush=True)
        else:
            print("cancelled", flush=True)
        return 130
    if args.json:
        print(json.dumps({"event": "done", "ok": ok}), flush=True)
    else:
        print("all steps passed" if ok else "the check failed", flush=True)
    return 0 if ok else 1


def _window(argv: list[str] | None) -> int:
    if sys.platform.startswith("linux") and not any(
            os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        print("streamer-inspector: no display to open the window on (DISPLAY is not set). "
              "Run it in a desktop session, or run only the endpoint: "
              "streamer-inspector serve", file=sys.stderr)
        return 2
    try:
        from app.ui.application import run
    except ImportError as exc:
        print(f"streamer-inspector: the window cannot start: {exc}", file=sys.stderr)
        return 2
    return run(argv)


def _ca(args: argparse.Namespace) -> int:
    from app.server.tls import TlsError, ensure_local_ca

    try:
        ca = ensure_local_ca(tls_dir())
    except TlsError as exc:
        print(f"streamer-inspector: error: {exc}", file=sys.stderr)
        return 2
    if args.export is None:
        print(ca.ca_cert)
        return 0
    try:
        args.export.write_bytes(ca.ca_cert.read_bytes())
    except OSError as exc:
        print(f"streamer-inspector: error: cannot write {args.export}: {exc.strerror}",
              file=sys.stderr)
        return 2
    print(f"wrote the local CA certificate to {args.export}")
    return 0


def _filter(text: str, known=None):
    """Parse --filter; prints the error with a caret under its position, and any warning
    (``known``: the capture's names, see :func:`app.filters.parser.parse`)."""
    from app.filters.parser import FilterError, parse

    try:
        flt = parse(text, known=known)
    except FilterError as exc:
        print(f"streamer-inspector: error: bad --filter: {exc.args[0]}\n  {text}\n"
              f"  {' ' * exc.position}^", file=sys.stderr)
        return None
    for warning in flt.warnings:
        print(f"streamer-inspector: warning: --filter: {warning}", file=sys.stderr)
    return flt


def _summary(args: argparse.Namespace) -> int:
    from app.capture.schema import CaptureError, open_reader
    from app.capture.summary import summary
    from app.filters.known import CaptureNames

    if _filter(args.filter) is None:  # a filter that cannot be read: before the file is opened
        return 2
    try:
        db = open_reader(args.capture)
    except CaptureError as exc:
        print(f"streamer-inspector: error: {exc}", file=sys.stderr)
        return 2
    try:
        # the names it uses, against the capture's: a misspelt field is an error
        flt = _filter(args.filter, CaptureNames(db)) if args.filter else _filter("")
        if flt is None:
            return 2
        info = summary(db, flt)
    finally:
        db.close()
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
    else:
        print(format_summary(args.capture, info))
    return 0


def format_summary(path: Path, info: dict) -> str:
    lines = [f"Capture {path}"]
    if info.get("filter"):
        lines.append(f"  Filter:          {printable(info['filter'])}")
    by_status = ", ".join(f"{s}: {n}" for s, n in info["requests_by_status"].items())
    requests = f"  Requests:        {info['requests']}"
    lines.append(requests + (f"  ({by_status})" if by_status else ""))
    fams = ", ".join(f"{f}: {n}" for f, n in info["records_by_family"].items())
    lines.append(f"  Records:         {info['records']}" + (f"  ({fams})" if fams else ""))
    lines.append(f"  Distinct ICCIDs: {info['distinct_iccids']}")
    rec = info["received"]
    if rec["first"]:
        lines.append(f"  Received:        {rec['first']} .. {rec['last']}")
    rt = info["record_time"]
    if rt["first"]:
        lines.append(f"  Record times:    {printable(str(rt['first']))} .. "
                     f"{printable(str(rt['last']))}")
    if rt.get("unreadable"):
        n = rt["unreadable"]
        lines.append(f"                   ({n} record{'' if n == 1 else 's'} with a time that "
                     f"is not an ISO 8601 date or a Unix time: left out)")
    if info["event_types"]:
        lines.append("  Event types:")
        width = max(len(str(t["count"])) for t in info["event_types"])
        for t in info["event_types"]:
            desc = (printable(str(t["description"])) if t["description"] is not None
                    else "(no description)")
            lines.append(f"    {t['count']:>{width}}  {printable(str(t['id'])):>4}  {desc}")
    if info.get("ledger"):
        lines += _ledger_lines(info["ledger"], filtered=bool(info.get("filter")))
    return "\n".join(lines)


def _ledger_lines(led: dict, filtered: bool) -> list[str]:
    """The redelivery ledger's figures (app.capture.ledger.LedgerSummary.as_json)."""
    cover = led["coverage"]
    title = "  Redeliveries" + (" (whole capture):" if filtered else ":")
    if not cover["available"]:
        return [title, "    none recorded: the capture was made before format 6 (the receiver "
                       "adds the ledger when it opens it)"]

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:g} s"

    lines = [title,
             f"    Unacknowledged:     {led['unacknowledged_requests']} requests, "
             f"{led['unacknowledged_records']} records",
             f"    Came again:         {led['records_redelivered']} of them "
             f"(delay median {seconds(led['median_delay_s'])}, "
             f"max {seconds(led['max_delay_s'])}); never yet: {led['never_redelivered']}",
             f"    Repeated arrivals:  {led['redeliveries']} (after an acknowledgement: "
             f"{led['duplicates_after_ack']})",
             f"    Conflicts:          {led['conflicts']} (same id, other content; "
             f"{led['conflicting_records']} ids)"]
    if not cover["complete"]:
        lines.append(f"    Incomplete:         the ledger covers records 1 to "
                     f"{cover['through']} of {cover['records']} (the receiver fills it while "
                     f"idle): these figures count only those")
    return lines


if __name__ == "__main__":
    sys.exit(main())
