"""``streamer-inspector stats``: the table, its units, --by/--every/--filter/--json, its errors."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from app.cli.main import main
from app.replay.generator import Generator
from tests.capture.test_stats import expected, texts_of, write_capture
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    """Generated records, some in USD, one with more decimals than records carry, one whose
    volume is not a number; half of them indexed."""
    gen = Generator(sims=6, seed=8)
    records = gen.records(300)
    usage = next(r for r in records if r.get("traffic_type", {}).get("id") == 5)
    extra = []
    for change in ({"currency": {"id": 2, "symbol": "$", "code": "USD"}, "cost": 2.25},
                   {"volume": {"total": 0.0000001, "rx": 0, "tx": 0}},
                   {"volume": {"total": "n/a"}}):
        rec = copy.deepcopy(usage)
        rec.update(change)
        extra.append(rec)
    path = tmp_path_factory.mktemp("stats_cli") / "c.sqlite"
    write_capture(path, records + extra, per_request=100, indexed=150)
    return path


def test_the_command_prints_the_totals_per_family(capture):
    result = subprocess.run([sys.executable, "-m", "app", "stats", str(capture)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    want = expected(texts_of(capture), ("family",))
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("Family"))
    assert header.split() == ["Family", "Records", "Data", "(MB)", "SMS", "Cost", "(EUR)",
                              "Cost", "(USD)"]
    usage = next(line for line in lines if line.startswith("usage")).split()
    records, data, sms, _, unreadable = want[(("usage",), None)]
    assert usage[:4] == ["usage", str(records), f"{data:.7f}", str(int(sms))]
    assert usage[-1] == "2.25"  # its own column, padded to the EUR column's decimals
    assert "1 record with a volume or cost that is not a number" in result.stdout
    assert unreadable == 1
    total = next(line for line in lines if line.startswith("Total")).split()
    assert total[1] == str(sum(g[0] for g in want.values()))
    # columns line up: every row as long as its rule
    rule = next(line for line in lines if line.startswith("------"))
    table = lines[lines.index(header):lines.index(header) + 5]
    assert {len(line) for line in table} == {len(rule)}


def test_by_every_and_json_are_the_records_sums(capture, capsys):
    code = main(["stats", str(capture), "--by", "iccid,rat", "--every", "1h", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["by"] == ["iccid", "rat"] and out["every"] == "1h"
    want = expected(texts_of(capture), ("iccid", "rat"), 3600.0)
    got = {((r["iccid"], r["rat"]), r["bucket"]): r for r in out["rows"]}
    assert set(got) == set(want)
    for key, (records, data, sms, cost, unreadable) in want.items():
        row = got[key]
        assert (row["records"], row["unreadable"]) == (records, unreadable)
        assert row["data_mb"] == pytest.approx(data, rel=1e-9, abs=1e-12)
        assert row["sms"] == pytest.approx(sms)
        costs = sum(row["cost_by_currency"].values()) if row["cost_by_currency"] else None
        assert costs == pytest.approx(cost) if cost is not None else costs is None
    assert out["totals"]["records"] == sum(g[0] for g in want.values())
    assert out["totals"]["cost"] is None  # two currencies: no one sum
    assert set(out["totals"]["cost_by_currency"]) == {"EUR", "USD"}


def test_filter_sort_and_top(capture, capsys):
    assert main(["stats", str(capture), "--by", "event_type", "--filter", "family == event",
                 "--sort", "records", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "Filter: family == event" in out
    want = expected(texts_of(capture), ("event_type",), keep=lambda rec, fam: fam == "event")
    top = sorted(want.items(), key=lambda item: (-item[1][0], item[0][0]))[:2]  # ties: by name
    lines = out.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("Event type")) + 2
    for line, ((key, _), group) in zip(lines[start:start + 2], top, strict=True):
        assert line.startswith(key[0]) and f" {group[0]} " in line
    total = next(line for line in lines if line.startswith("Total"))
    assert f" {sum(g[0] for g in want.values())} " in total  # all of them, not the top two


@pytest.mark.parametrize(("args", "message"), [
    (["--by", "iccid,volume"], "bad --by: cannot group by 'volume'; choose from family, "),
    (["--by", "rat,rat"], "bad --by: a field is named twice"),
    (["--every", "3x"], "bad --every: '3x' is not a time span"),
    (["--every", "0s"], "bad --every: '0s': a bucket must be between 1 ms and 10 years"),
    (["--filter", "sevrity == WARN"], 'bad --filter: unknown field "sevrity": did you mean '
                                      '"severity"?'),
    (["--filter", "(("], "bad --filter: "),
    (["--top", "-1"], "bad --top"),
])
def test_bad_options_say_why_and_exit_2(capture, capsys, args, message):
    assert main(["stats", str(capture), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"streamer-inspector: error: {message}")
    assert "Traceback" not in captured.err


def test_a_missing_file(tmp_path, capsys):
    assert main(["stats", str(tmp_path / "nope.sqlite")]) == 2
    assert "nope.sqlite does not exist" in capsys.readouterr().err


def test_a_command_that_sends_nothing_does_not_load_aiohttp():
    """Building the parser reads the sample library for `send --help` without the sender
    (aiohttp cost every command 0.6 s at start: a fresh `stats` took 2.4 s on 1M records)."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "import sys; from app.cli.main import build_parser; "
         "build_parser(); print('aiohttp' in sys.modules)"],
        capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_json_keeps_an_infinite_sum_and_lone_surrogates(tmp_path, capsys):
    """stats --json writes with orjson, but never turns an infinite sum into null, and writes
    what orjson refuses (a lone surrogate from the wire) with the standard library's json."""
    data = {"traffic_type": {"id": 5, "description": "Data"}, "volume": {"total": 1e308}}
    records = [{**data, "sim": {"iccid": "8988"}}, {**data, "sim": {"iccid": "8989"}}]
    path = tmp_path / "c.sqlite"
    write_capture(path, records)
    assert main(["stats", str(path), "--by", "iccid", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"data_mb": Infinity' in out and "null" not in out.split('"totals"')[1].split(
        '"cost"')[0]
    assert [row["data_mb"] for row in json.loads(out)["rows"]] == [1e308, 1e308]
    surrogate = tmp_path / "s.sqlite"
    write_capture(surrogate, [{**data, "volume": {"total": 1.5},
                               "sim": {"iccid": "89\ud800"}}])  # (a lone surrogate)
    assert main(["stats", str(surrogate), "--by", "iccid", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [(row["iccid"], row["data_mb"]) for row in rows] == [("89\ud800", 1.5)]
