"""The named-field catalogue: every request field says what it means (the filter bar shows it)."""

from __future__ import annotations

from app.records.fields import REQUEST_FIELDS, REQUEST_FIELDS_BEFORE_6, REQUEST_HELP


def test_every_request_field_has_its_help_and_nothing_else_does():
    assert set(REQUEST_HELP) == set(REQUEST_FIELDS)
    assert all(text and text == text.strip() for text in REQUEST_HELP.values())
    assert set(REQUEST_FIELDS_BEFORE_6) <= set(REQUEST_FIELDS)
