"""The command line's options: every argparse parser and option type, for the command line
and the window alike (the window parses its own arguments with :func:`build_parser`).

Imports nothing from the window, and nothing that runs a command.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from app import APP_TITLE, __version__
from app.config import (
    DEFAULT_HOST,
    DEFAULT_MAX_BODY,
    DEFAULT_PORT,
    DEFAULT_USER,
    MAX_RECORDS_PER_POST,
    ServeOptions,
    Settings,
    new_capture_path,
)


def _size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    text = text.strip().lower().removesuffix("b").removesuffix("i")
    factor = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    try:
        value = int(float(number) * factor)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 64M, 512k)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the size must be positive")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is between 0 and 65535 (0 picks a free one)")
    return value


def _base_url(text: str) -> str:
    """An http(s) URL with a host (and optionally a port and a path prefix), no query."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text.strip())
        _ = parts.port  # a port out of range raises here
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http:// or https:// URL with a host "
            f"(e.g. https://backend.example:8443)")
    if parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(
            f"{text!r} has a query or fragment: give the scheme, host, port and at most a path "
            f"prefix (each request keeps its own path and query)")
    return text.strip().rstrip("/")


def _answer_rule(text: str) -> str:
    from app.capture.rules import RuleError, parse_rule

    try:
        return parse_rule(text).text
    except RuleError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``serve`` and the window, which starts ``serve`` as its child."""
    g = parser.add_argument_group("endpoint")
    g.add_argument("--host", default=None,
                   help=f"address to bind (default {DEFAULT_HOST}; other than loopback warns)")
    g.add_argument("--port", type=_port, default=None,
                   help=f"port (default {DEFAULT_PORT}; 0 picks a free one and prints it)")
    g.add_argument("--tls", choices=("local", "off"), default=None,
                   help="local: certificate from the app's local CA (default); off: plain HTTP "
                        "(behind a TLS tunnel); --cert/--key use your own certificate")
    g.add_argument("--cert", type=Path, help="certificate chain (PEM), e.g. from Let's Encrypt")
    g.add_argument("--key", type=Path, help="private key (PEM) of --cert")
    g.add_argument("--user", help=f"Basic Auth user (default {DEFAULT_USER}; remembered)")
    g.add_argument("--password", help="Basic Auth password (default: random, made on first "
                                      "start and remembered in the user's config)")
    g.add_argument("--no-auth", action="store_true", help="accept requests without credentials")
    g.add_argument("--max-body", type=_size, default=None,
                   help=f"largest body accepted, else 413 (default {DEFAULT_MAX_BODY >> 20}M)")
    g.add_argument("--capture", type=Path,
                   help="capture file (default: a new dated file in the user's data dir; an "
                        "existing capture is appended to, never overwritten)")


def serve_options(args: argparse.Namespace, settings: Settings) -> ServeOptions:
    """Combine command-line options with the persisted settings; remember credentials."""
    changed = False
    if args.user is not None and args.user != settings.user:
        settings.user, changed = args.user, True
    if args.password is not None and args.password != settings.password:
        settings.password, changed = args.password, True
    if changed:
        settings.save()
    if args.cert or args.key:
        tls = "custom"
    else:
        tls = args.tls or (settings.tls_mode if settings.tls_mode != "custom" else "local")
    return ServeOptions(
        capture=args.capture or new_capture_path(),
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
        tls=tls,
        cert_file=args.cert,
        key_file=args.key,
        user=None if args.no_auth else settings.user,
        password=None if args.no_auth else settings.password,
        max_body=args.max_body or settings.max_body,
        events=getattr(args, "events", "human"),
        sync=getattr(args, "sync", "normal"),
        stop_with_stdin=getattr(args, "stop_with_stdin", False),
        public=getattr(args, "public", None) or "",
        public_url=getattr(args, "public_url", None) or "",
        public_remote_port=80 if getattr(args, "public_remote_port", None) is None
        else args.public_remote_port,
        ngrok_authtoken=settings.ngrok_authtoken,
        ngrok_domain=settings.ngrok_domain,
        answers=tuple(getattr(args, "answer", None) or ()),
        answer_seed=getattr(args, "answer_seed", None),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamer-inspector",
        description=f"{APP_TITLE}: a local HTTPS endpoint and live inspector for the 1NCE "
                    f"Data Streamer. Without a command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_endpoint_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("serve", help="run the receiving endpoint and write the capture file",
                       description="Run the HTTPS endpoint; every request is stored in the "
                                   "capture file before it is answered.")
    add_endpoint_options(p)
    p.add_argument("--events", choices=("human", "jsonl"), default="human",
                   help="jsonl: one JSON line per stored request on stdout, for a follower")
    p.add_argument("--stop-with-stdin", action="store_true",
                   help="stop when standard input closes (how the window ends its child, "
                        "even when the window itself is killed)")
    p.add_argument("--sync", choices=("normal", "full"), default="normal",
                   help="normal: survives a killed receiver (default); full: also survives "
                        "power loss, at some cost per batch")
    g = p.add_argument_group("answer rules (docs/answer-rules.md)")
    g.add_argument("--answer", action="append", type=_answer_rule, metavar="RULE",
                   help="answer valid batches like a failing backend (repeatable; the first "
                        "rule that matches decides): ACTION [SCOPE ...]; ACTION: a status "
                        "(500, 503 [retry-after N], 429, 302 [to URL], 401, 413, ...), drop, "
                        "hang, or delay DURATION [STATUS]; SCOPE: for N (the next N POSTs), "
                        "for DURATION (30s, 5m), N%% (a share), on GLOB (paths); e.g. "
                        "'503 for 2', 'drop for 1', 'delay 40s for 1', '500 10%%'. Every "
                        "batch is still stored")
    g.add_argument("--answer-seed", type=int, metavar="N",
                   help="seed of the rules' percentages (the same run answers the same way)")
    g = p.add_argument_group("public URL (README: Exposing the endpoint)")
    g.add_argument("--public", metavar="PROVIDER",
                   help="expose the endpoint at a public https URL: cloudflared (a quick "
                        "tunnel), ngrok (authtoken from NGROK_AUTHTOKEN or the settings), "
                        "ssh:USER@HOST[:PORT] (ssh -R), or https://... (your own reverse "
                        "proxy); refused with --no-auth")
    g.add_argument("--public-url", metavar="URL",
                   help="with ssh:...: the public URL your server gives the forwarded port "
                        "(else read from what the server prints)")
    g.add_argument("--public-remote-port", type=_port, default=None, metavar="N",
                   help="with ssh:...: the server's port to forward (ssh -R N:...; default 80, "
                        "what tunnel services expect; 0: one the server picks)")

    p = sub.add_parser("ca", help="the local certificate authority",
                       description="Export the local CA certificate, to trust it in a client.")
    p.add_argument("--export", type=Path, metavar="FILE", help="write the CA certificate (PEM)")

    add_send_parser(sub)

    p = sub.add_parser("curl", help="run a pasted cURL command (placeholders go to this app's "
                                    "endpoint, with its credentials and CA)",
                       description="Run a cURL command as pasted from the documentation. "
                                   "Placeholders and local URLs go to the receiver running "
                                   "on this machine (serve or the window), with its "
                                   "credentials and CA; redirects are reported, not followed.")
    p.add_argument("curl_command", nargs="?", metavar="COMMAND",
                   help="the whole command, quoted")
    p.add_argument("--file", type=Path, help="read the command from a file")
    p.add_argument("--endpoint", metavar="URL",
                   help="where documentation placeholders go (default: the running endpoint, "
                        "the most recently started if several run; else the one the settings "
                        "describe)")
    p.add_argument("--events", choices=("human", "jsonl"), default="human")

    p = sub.add_parser("export", help="export records or requests: json, ndjson, csv, xlsx, "
                                      "har, postman, curl",
                       description="Export from a capture. The file is written under a "
                                   "temporary name and renamed when complete.")
    p.add_argument("capture", type=Path)
    p.add_argument("--format", required=True,
                   choices=("json", "ndjson", "csv", "har", "postman", "xlsx", "curl"))
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    p.add_argument("--filter", metavar="EXPR", default="",
                   help="only records matching EXPR (for har/postman: the requests they came in)")
    p.add_argument("--ids-file", type=Path, help="only these record ids (one a line)")
    p.add_argument("--request-ids-file", type=Path,
                   help="only these requests (one id a line); for a records format: their "
                        "records")
    p.add_argument("--mask", action="store_true",
                   help="replace ICCID, IMSI, MSISDN, IMEI, IP addresses and organisation "
                        "names with consistent pseudonyms")
    p.add_argument("--strict-json", action="store_true",
                   help="json/ndjson: write records that strict parsers refuse (lone "
                        "surrogates, numbers beyond a double, duplicate keys) as strict JSON "
                        "instead of byte for byte")
    p.add_argument("--csv-bom", action="store_true", help="CSV: start with a BOM (Excel)")
    p.add_argument("--csv-all-fields", action="store_true",
                   help="CSV: every JSON path of every record as a column (numbers as spelt; "
                        "slower), instead of the columns of the window's tables")
    p.add_argument("--csv-delimiter", default=",", choices=(",", ";", "\t"))
    p.add_argument("--base-url", metavar="URL", type=_base_url,
                   help="har/postman/curl: send the requests to URL (scheme, host, port and "
                        "optionally a path prefix, e.g. https://backend.example:8443) instead of "
                        "the endpoint that received each one")
    p.add_argument("--events", choices=("human", "jsonl"), default="human")

    p = sub.add_parser("import", help="import a JSON list, NDJSON, HAR or capture file",
                       description="Import records into a capture: they look like received "
                                   "ones, marked as imported. The file is checked completely "
                                   "first; a bad file imports nothing.")
    p.add_argument("file", type=Path)
    p.add_argument("--capture", type=Path, required=True,
                   help="the capture to import into (made if new)")
    p.add_argument("--events", choices=("human", "jsonl"), default="human")

    p = sub.add_parser("summary", help="what a capture file holds")
    p.add_argument("capture", type=Path)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--filter", metavar="EXPR", default="",
                   help="only records matching EXPR (docs/filters.md), e.g. "
                        "'type ~ PDP and alert'")

    p = sub.add_parser("stats", help="records, data MB, SMS and cost, grouped (docs/stats.md)",
                       description="Records, data volume (MB), SMS and cost of a capture's "
                                   "records: without --by, per family; --by groups by fields, "
                                   "--every by time. Sums read every record (indexed or not "
                                   "yet); see docs/stats.md for what each measure counts.")
    p.add_argument("capture", type=Path)
    p.add_argument("--filter", metavar="EXPR", default="",
                   help="only records matching EXPR (docs/filters.md), e.g. 'family == usage'")
    p.add_argument("--by", metavar="FIELD[,FIELD]", default="",
                   help="group by these fields: family, event_type, severity, alert, iccid, "
                        "endpoint, operator, country, rat, currency, ... (docs/stats.md; "
                        "default: family)")
    p.add_argument("--every", metavar="SPAN", default="",
                   help="and by time buckets of SPAN of the record's time: 30s, 15m, 1h, 1d, 1w")
    p.add_argument("--sort", choices=("records", "data_mb", "sms", "cost"), default="records",
                   help="order the groups (within each bucket) by this measure, largest first "
                        "(default: records)")
    p.add_argument("--top", metavar="N", type=int, default=0,
                   help="only the N largest groups (of each bucket) by --sort")
    p.add_argument("--json", action="store_true", help="print the table as JSON")

    p = sub.add_parser("check", help="check a URL the way the 1NCE Data Streamer will use it",
                       description="Check, in order: the URL (https, a domain name, not an IP "
                                   "address), DNS, TLS against the system trust store, a POST "
                                   "of a JSON list as the streamer sends it (only 200 passes; "
                                   "redirects are not followed), and, for this app's own "
                                   "endpoint, that the request arrived in the capture. Exit "
                                   "status 0 only when every step passes.")
    p.add_argument("url", metavar="URL", help="the URL to give the Portal as API Callback")
    p.add_argument("--user", help="Basic Auth user (default for this app's running endpoint: "
                                  "its own)")
    p.add_argument("--password", help="Basic Auth password")
    p.add_argument("--cacert", metavar="FILE",
                   help="trust this CA (PEM) instead of the system trust store (tests and "
                        "private setups: the streamer trusts only public CAs)")
    p.add_argument("--full-batch", action="store_true",
                   help="also post a realistic 3000-record batch (several MB)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per step, then {\"event\": \"done\", \"ok\": ...}")
    p.add_argument("--timeout", type=_seconds, default=10.0, metavar="S",
                   help="seconds to wait for each step's answer (default 10)")
    p.add_argument("--allow-local", action="store_true",
                   help="let a local name (localhost, *.local) pass the URL step, for a trial "
                        "against a local server (the Portal still refuses it)")
    return parser


PASSWORD_ENV = "STREAMER_INSPECTOR_PASSWORD"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("cannot be negative")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError("must be zero or more seconds")
    return value


class _HelpFormatter(argparse.HelpFormatter):
    """Help text wrapped between words only: sample names keep their hyphens whole."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def add_send_parser(sub) -> None:
    """Add the ``send`` sub-command to ``sub`` (from ``ArgumentParser.add_subparsers``)."""
    from app.replay.samples import sample_names  # the library, read only for the help (not
    # app.replay.sender: it imports aiohttp, 0.6 s that every command would pay at start)

    p = sub.add_parser(
        "send", help="send records to an endpoint like the 1NCE Data Streamer",
        formatter_class=_HelpFormatter,
        description="POST records as JSON lists of at most 3000 records with Basic Auth; only "
                    "HTTP 200 acknowledges; redirects are not followed; unacknowledged batches "
                    "are retried with back-off, and after --retries the run fails, like a "
                    "FAILED stream.")
    p.add_argument("url", metavar="URL", help="the endpoint, e.g. https://localhost:8443/")
    src = p.add_argument_group("records (exactly one source)")
    one = src.add_mutually_exclusive_group(required=True)
    one.add_argument("--sample", metavar="NAME",
                     help="a sample of the library (Replay > Send a sample): "
                          + ", ".join(sample_names()))
    one.add_argument("--file", type=Path, metavar="F",
                     help="a JSON list of records or NDJSON (one record a line), sent as written")
    one.add_argument("--capture", type=Path, metavar="C",
                     help="the records of a capture file, in the order received")
    one.add_argument("--generate", type=_positive_int, metavar="N",
                     help="N realistic fake records")
    src.add_argument("--filter", metavar="EXPR", default="",
                     help="with --capture: only records matching EXPR (docs/filters.md)")
    src.add_argument("--seed", type=int, default=None,
                     help="with --generate: seed (default 1); the same seed gives the same "
                          "records, ids and all (sent again: redeliveries), another seed "
                          "other ids")
    src.add_argument("--sims", type=_positive_int, default=None, metavar="K",
                     help="with --generate: number of fake SIMs (default 100)")
    g = p.add_argument_group("delivery")
    g.add_argument("--batch", type=_positive_int, default=MAX_RECORDS_PER_POST, metavar="N",
                   help=f"records per POST (default and streamer maximum {MAX_RECORDS_PER_POST})")
    g.add_argument("--repeat", type=_positive_int, default=1, metavar="N",
                   help="send the records N times (as one stream)")
    g.add_argument("--interval", type=_seconds, default=0.0, metavar="S",
                   help="seconds between batches, after the previous one was acknowledged")
    g.add_argument("--user", help="Basic Auth user")
    g.add_argument("--password", help="Basic Auth password")
    tls = g.add_mutually_exclusive_group()
    tls.add_argument("--cacert", metavar="F",
                     help="trust this CA certificate (PEM), e.g. from 'streamer-inspector ca'")
    tls.add_argument("--insecure", action="store_true",
                     help="do not verify the server's certificate (warns)")
    g.add_argument("--retries", type=_count, default=5, metavar="N",
                   help="retries of an unacknowledged batch (with --redeliver-unacked: "
                        "redeliveries of a record) before the run fails (default 5)")
    g.add_argument("--redeliver-unacked", action="store_true",
                   help="like the streamer's buffer: the records of an unacknowledged batch "
                        "go back to the front of the queue and, after the back-off, come "
                        "again in the next batch followed by --batch new records (at most "
                        "3000 a POST), instead of the same batch again")
    g.add_argument("--backoff", type=_seconds, default=1.0, metavar="S",
                   help="first retry delay, doubled for each further retry, at most 60 s "
                        "(default 1)")
    g.add_argument("--timeout", type=_seconds, default=30.0, metavar="S",
                   help="seconds to wait for each answer (default 30)")
    p.add_argument("--events", choices=("human", "jsonl"), default="human",
                   help="jsonl: one JSON line per batch and one for the report, for the window")
    p.set_defaults(send_parser=p)
