"""The shared spellings for people: sizes and JSON values (one implementation for every layer)."""

from __future__ import annotations

from app.display import human_size, scalar_text
from app.records.columns import cell_text
from app.records.fields import MISSING
from app.records.shape import parse_record


def test_human_size():
    assert human_size(None) == ""
    assert [human_size(n) for n in (0, 1023, 1024, 1536, 1024 * 1024 - 1, 3 * 1024 * 1024)] == [
        "0 B", "1023 B", "1.0 KiB", "1.5 KiB", "1024.0 KiB", "3.0 MiB"]


def test_scalar_text_spells_values_as_json_and_strings_as_they_are():
    record = parse_record('{"s": "a \\"b\\"", "n": null, "t": true, "f": false, "i": '
                          '123456789012345678901234567890, "x": 1.50, "big": 1e400, '
                          '"o": {"k": "ü"}, "l": [1, "2"]}')
    assert {k: scalar_text(v) for k, v in record.items()} == {
        "s": 'a "b"', "n": "null", "t": "true", "f": "false",
        "i": "123456789012345678901234567890", "x": "1.5", "big": "1e400",
        "o": '{"k":"ü"}', "l": '[1,"2"]'}


def test_a_table_cell_is_empty_for_a_missing_or_null_value():
    assert cell_text(MISSING) == cell_text(None) == ""
    assert cell_text(False) == "false"
    assert cell_text(0) == "0"
    assert cell_text("") == ""
