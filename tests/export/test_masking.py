"""Masking: consistent pseudonyms, and no identifier left in any exported byte."""

import json

import pytest

from app.capture.writer import CaptureWriter, Incoming
from app.export.masking import Masker, new_key
from app.replay.generator import Generator
from tests.conftest import ROOT

IDENTIFIER_FIELDS = (("sim", "iccid"), ("sim", "msisdn"), ("imsi",), ("imsi", "imsi"),
                     ("endpoint", "imei"), ("endpoint", "ip_address"), ("source_address",),
                     ("detail", "pdp_context", "ue_ip_address"))


def identifiers(records) -> set[str]:
    found = set()
    for record in records:
        for path in IDENTIFIER_FIELDS:
            value = record
            for step in path:
                value = value.get(step) if isinstance(value, dict) else None
            if isinstance(value, str) and value and not value.startswith("<"):
                found.add(value)
    return found


def test_same_value_same_pseudonym_and_shapes_kept():
    masker = Masker(new_key())
    iccid, imsi, ip = "89882280666000000123", "901405100000123", "10.1.2.3"
    assert masker.pseudonym(iccid) == masker.pseudonym(iccid) != iccid
    assert masker.pseudonym(iccid).startswith("89") and len(masker.pseudonym(iccid)) == 20
    assert masker.pseudonym(imsi).startswith("00101") and len(masker.pseudonym(imsi)) == 15
    masked = masker.mask_text(f"IMSI='{imsi}' at {ip} and again {imsi}")
    assert imsi not in masked and ip not in masked
    assert masked.count(masker.pseudonym(imsi)) == 2
    assert "198.1" in masked  # a benchmarking-range address
    assert Masker("aa" * 32).pseudonym(iccid) != Masker("bb" * 32).pseudonym(iccid)


def test_record_ids_and_times_are_kept():
    masker = Masker(new_key())
    text = ('{"id":1234567890,"timestamp":"2019-01-21T09:36:17Z",'
            '"sim":{"iccid":"89882280666000000123"}}')
    out = json.loads(masker.mask_record(text))
    assert out["id"] == 1234567890 and out["timestamp"] == "2019-01-21T09:36:17Z"
    assert out["sim"]["iccid"] != "89882280666000000123"


def test_masked_records_stay_valid_json_with_every_identifier_gone():
    records = Generator(sims=30, seed=8).records(500)
    masker = Masker(new_key())
    masked = [masker.mask_record(json.dumps(r)) for r in records]
    text = "\n".join(masked)
    for value in identifiers(records):
        assert value not in text
    assert all(isinstance(json.loads(m), dict) for m in masked)
    # One SIM stays one SIM.
    by_sim = {}
    for original, out in zip(records, masked, strict=True):
        by_sim.setdefault(original["sim"]["iccid"], set()).add(json.loads(out)["sim"]["iccid"])
    assert all(len(v) == 1 for v in by_sim.values())


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A capture of 400 generated records from a private address (built once: each format
    exports it to files of its own)."""
    records = Generator(sims=20, seed=4).records(400)
    path = tmp_path_factory.mktemp("masking") / "c.sqlite"
    writer = CaptureWriter(path)
    writer.store(Incoming("POST", "/", json.dumps(records).encode(), peer="192.168.7.7",
                          content_type="application/json"))
    writer.close()
    return path, records


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv", "har", "postman"])
def test_masked_exports_leak_no_identifier(tmp_path, fmt, generated, capsys):
    import subprocess
    import sys

    from app.cli import main as cli

    path, records = generated
    out = tmp_path / f"out.{fmt}"
    result = subprocess.run([sys.executable, "-m", "app", "export", str(path), "--format", fmt,
                             "--mask", "-o", str(out)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    assert len(data) > 1000
    for value in identifiers(records) | {"192.168.7.7"}:
        assert value.encode() not in data, value
    # The same capture masks the same way the next time (the same command, in this process:
    # the key is the user's, kept in the same folders).
    again = tmp_path / f"again.{fmt}"
    assert cli.main(["export", str(path), "--format", fmt, "--mask", "-o", str(again)]) == 0
    capsys.readouterr()
    if fmt not in ("postman",):  # postman collections carry a fresh id each time
        assert again.read_bytes() == data


def test_organisation_names_are_masked_even_in_a_body_that_is_not_utf8():
    """Issue 10 #7: the 1NCE customer number, and every byte of a non-UTF-8 body."""
    from app.export.common import transform_bytes
    from tests.hostile import LATIN1_BODY, LATIN1_IDENTIFIERS, RECORDS

    masker = Masker(new_key())
    masked = masker.mask_record(RECORDS["event"])
    assert "81013181" not in masked and '"name":"' in masked
    out = transform_bytes(LATIN1_BODY, Masker(new_key()).mask_text)
    assert b"\xe4" in out  # the bytes that are not UTF-8 are kept
    for value in LATIN1_IDENTIFIERS:
        assert value.encode() not in out, value


def test_an_ip_address_at_the_end_of_a_sentence_is_masked():
    masker = Masker(new_key())
    assert "10.196.70.12" not in masker.mask_text("Device IP 10.196.70.12. Done")
    assert masker.mask_text("version 1.2.3.4.5") == "version 1.2.3.4.5"
