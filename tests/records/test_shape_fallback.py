"""Without simdjson (no wheel, or STREAMER_INSPECTOR_SIMDJSON=off) bodies get the same answer.

The orjson path is compared with the simdjson path on every body that tells them apart: integers
beyond 64 bits (orjson reads a float, simdjson fails), duplicate keys (orjson keeps one), escaped
colons and quotes, deep nesting, every hostile record, and generated ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.records import shape
from app.records.shape import BodyError, _inspect_orjson, _maybe_inexact, inspect_body
from app.replay.generator import Generator
from tests.conftest import ROOT
from tests.hostile import LATIN1_BODY, RECORDS, hostile_body

BODIES = [
    b'[{"id":18446744073709551616}]', b'[{"id":18446744073709551615}]',
    # found by Hypothesis: the big integer is the value a duplicate key's first value hides
    b'[{"id":{"id":0, "id" : 18446744073709551616}}]',
    b'[{"id":-9223372036854775809}]', b'[{"id":-9223372036854775808}]',
    b'[{"id":[12345678901234567890]}]', b'[12345678901234567890123]', b"123456789012345678901234",
    b'[{"a":1e400}]', b'[{"a":1e-400}]', b'[{"a":-0}]', b'[{"a":1.0E+2}]',
    b'[{"a":"\\ud83d"}]', b'[{"\\ud83d":1}]', b'[{"a":NaN}]', b'[{"a":"\x01"}]',
    b'[{"a":"\xed\xa0\x80"}]', b'[{"a":"\xc0\xaf"}]', b'[{"a":01}]', b'[{"a":1.}]',
    b'[{"a":1}] x', b'[{"a":1},]', b'\x00[{}]', b'[{}]\x00', b"  [ { } ]  ",
    b'[{"a":1,"a":2}]', b'[{"a" : 1, "a" : 2}]', b'[{"event_type":1,"event_type":2}]',
    b'[{"a":{"b":1,"b":2}}]', b'[{"s":"\\u003a","k":1,"k":2}]', b'[{"s":"\\u0022:","k":1,"k":2}]',
    b'{"a":1}', b"[1]", b'[{}, "x"]', b'"x"', b"[]", b"[ ]",
    b"[" + b'{"a":' * 1022 + b"1" + b"}" * 1022 + b"]",
    b"[" + b'{"a":' * 1023 + b"1" + b"}" * 1023 + b"]",
    b"[" + b"[" * 1022 + b"]" * 1022 + b"]", b"[" + b"[" * 1024 + b"]" * 1024 + b"]",
    b'[{"volume":1,"start_timestamp":2},{"final_date":1},{"status":1,"submit_date":1},'
    b'{"payload":1,"dest_address":2},{"traffic_type":1}]',
    hostile_body(), LATIN1_BODY, *(hostile_body([name]) for name in RECORDS),
]


def _answer(inspect, body: bytes):
    try:
        got = inspect(body)
    except BodyError as exc:
        return "error", str(exc), exc.line, exc.column, exc.offset, exc.index
    return "shape", got.codes, got.counts, got.notes


# These compare the orjson path with simdjson, so they need simdjson; the main CI run has it.
# The CI run with STREAMER_INSPECTOR_SIMDJSON=off skips them and runs the rest of the suite on
# the orjson path instead, which is what that run is for.
needs_simdjson = pytest.mark.skipif(shape.simdjson is None, reason="simdjson is off here: "
                                    "the comparison runs where it is installed")


@needs_simdjson
@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_the_orjson_path_answers_as_simdjson_does(body):
    assert _answer(_inspect_orjson, body) == _answer(inspect_body, body)


_keys = st.sampled_from(["id", "event_type", "traffic_type", "volume", "start_timestamp",
                         "status", "submit_date", "payload", "dest_address", "k:", 'q"'])
_numbers = st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                     st.sampled_from(["1e400", "1E5", "-0", "1.50", "18446744073709551616"]))
_strings = st.sampled_from(['"a"', '"\\u003a"', '"x\\":"', '"\\ud83d"', '":"',
                           '"1234567890123456789012"'])


_texts = st.recursive(
    st.one_of(_numbers.map(str), _strings),
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.lists(st.tuples(_keys, children), max_size=4).map(
            lambda kv: "{" + ", ".join(f"{json.dumps(k)} : {v}" if i % 2 else
                                       f"{json.dumps(k)}:{v}" for i, (k, v) in enumerate(kv))
            + "}")),
    max_leaves=12)


@needs_simdjson
@settings(max_examples=300, deadline=None)
@given(st.lists(_texts, max_size=4))
def test_generated_bodies_get_the_same_answer(texts):
    body = ("[" + ",".join(texts) + "]").encode()
    assert _answer(_inspect_orjson, body) == _answer(inspect_body, body)


def test_a_usual_batch_takes_the_fast_way_without_simdjson():
    # The exact reader is for the rare body that needs it; a real batch never does.
    body = orjson.dumps(Generator(sims=50, seed=5).records(3000))
    assert not _maybe_inexact(body, orjson.loads(body))
    pretty = json.dumps(json.loads(body), indent=2).encode()
    assert not _maybe_inexact(pretty, orjson.loads(pretty))
    for odd in (b'[{"a":1,"a":2}]', b'[{"a":18446744073709551616}]', b'[{"a":"\\u003A"}]'):
        assert _maybe_inexact(odd, orjson.loads(odd))


def test_simdjson_off_in_the_environment_is_never_imported():
    code = ("import sys; from app.records import shape; "
            "print(shape.simdjson, 'simdjson' in sys.modules, "
            "shape.inspect_body(b'[{\"event_type\":1},{\"traffic_type\":2}]').counts)")
    env = {**os.environ, shape.SIMDJSON_ENV: "off"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.split(None, 2) == ["None", "False", "{'event': 1, 'usage': 1}\n"]
