"""The lexer that both the filters and the filter bar read with: words, quoting, literals."""

from __future__ import annotations

import pytest

from app.filters.lexer import (
    WORD_END,
    FilterError,
    filter_literal,
    tokenize,
    value_literal,
    word_before,
    word_span,
)


def test_word_helpers():
    assert word_span("alert and sev", 13) == (10, 13)
    assert word_span("a and detail.country.iso_code == nl", 12) == (6, 29)
    assert word_span('type == "Upd', 12) == (8, 12)
    assert word_span('type == "a \\" b" and x', 10) == (8, 16)
    assert word_before("type ==", 4) == "type"
    assert word_before("(", 1) == ""
    assert value_literal("Data") == "Data"
    assert value_literal("Update location") == '"Update location"'
    assert value_literal('say "hi"') == '"say \\"hi\\""'


@pytest.mark.parametrize("value", ["Data", "Update location", 'say "hi"', "a\\b", "x'y",
                                   "(a)", "a==b", "", "ünïcode", "tab\there"])
def test_a_value_literal_reads_back_as_one_token_with_the_value(value):
    tokens = tokenize(value_literal(value))
    assert [t.kind for t in tokens] == [("word" if value_literal(value) == value else "string"),
                                         "end"]
    assert tokens[0].text == value
    assert tokenize(filter_literal(value))[0].text == value


def test_word_end_is_where_the_tokenizer_ends_a_word():
    for c in WORD_END:
        if c in "&|":
            continue  # a lone & or | is an error, tested below
        tokens = tokenize(f"ab{c}cd" if c not in "\"'" else f"ab{c}x{c}")
        assert tokens[0].kind == "word" and tokens[0].text == "ab", repr(c)
    assert [t.text for t in tokenize("a.b[0]:c-d/e")][:1] == ["a.b[0]:c-d/e"]
    with pytest.raises(FilterError) as info:
        tokenize("a & b")
    assert info.value.position == 2
