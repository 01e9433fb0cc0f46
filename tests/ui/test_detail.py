"""The JSON detail pane: pretty-printer, lazy tree model, paths, copy actions, big bodies."""

from __future__ import annotations

import json
import re

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QAction, QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QTreeView, QWidget

from app.ui.detail import (
    HIGHLIGHT_LIMIT,
    MIB,
    RAW_LIMIT,
    JsonDetail,
    JsonTreeModel,
    pretty_json,
    reindent,
)
from tests.conftest import EVENT_SAMPLE


@pytest.fixture
def record() -> dict:
    return json.loads(EVENT_SAMPLE.read_text(encoding="utf-8"))[0]


@pytest.fixture
def detail(qtbot) -> JsonDetail:
    widget = JsonDetail()
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def owner(qtbot) -> QWidget:
    """A Qt parent for models under test (every QObject has one); qtbot closes it."""
    widget = QWidget()
    qtbot.addWidget(widget)
    return widget


def parts(widget: JsonDetail) -> tuple[QTreeView, JsonTreeModel, QPlainTextEdit, QLabel]:
    tree = widget.findChild(QTreeView, "json_tree")
    raw = widget.findChild(QPlainTextEdit, "raw_json")
    note = widget.findChild(QLabel, "note_label")
    return tree, tree.model(), raw, note


def action(widget: JsonDetail, name: str) -> QAction:
    found = widget.findChild(QAction, name)
    assert found is not None, name
    return found


def child(model: JsonTreeModel, parent: QModelIndex, key: str) -> QModelIndex:
    for row in range(model.rowCount(parent)):
        index = model.index(row, 0, parent)
        if index.data() == key:
            return index
    raise AssertionError(f"no row {key!r}")


def row_texts(index: QModelIndex) -> tuple[str, str, str]:
    return tuple(index.siblingAtColumn(column).data() for column in range(3))


# -- pretty_json ---------------------------------------------------------------------------


def test_pretty_json_keeps_number_tokens():
    text = pretty_json('{"a":1.50,"b":1E2,"c":-0.0e-7,"d":[10000000000000000000001]}')
    assert "1.50" in text
    assert "1E2" in text
    assert "-0.0e-7" in text
    assert "10000000000000000000001" in text
    assert text == ('{\n  "a": 1.50,\n  "b": 1E2,\n  "c": -0.0e-7,\n'
                    '  "d": [\n    10000000000000000000001\n  ]\n}')


def test_pretty_json_matches_json_dumps_indent_2(record):
    assert pretty_json(json.dumps(record, separators=(",", ":"))) == json.dumps(record, indent=2)
    # already indented differently (the sample has 4 spaces and a stray 2): re-indented the same
    assert pretty_json(EVENT_SAMPLE.read_text(encoding="utf-8")) == json.dumps([record], indent=2)


def test_pretty_json_strings_with_structure_characters_escapes_and_backslashes():
    value = {
        "braces": "{[ ]}",
        "commas, colons": "a,b:c",
        "quote": 'say "hi", {ok}',
        "backslash": "C:\\dir\\",
        "both": '\\"',
        "unicode": "\u00e9\u2028\U0001f600",
    }
    minified = json.dumps(value, separators=(",", ":"))
    text = pretty_json(minified)
    assert json.loads(text) == value
    assert text == json.dumps(value, indent=2)
    # escapes are kept as written, not decoded
    assert pretty_json('{"e":"\\u00e9"}') == '{\n  "e": "\\u00e9"\n}'


def test_pretty_json_empty_containers_and_scalars():
    assert pretty_json('{"a":{},"b":[ ],"c":[{}]}') == (
        '{\n  "a": {},\n  "b": [],\n  "c": [\n    {}\n  ]\n}')
    assert pretty_json("  true ") == "true"
    assert pretty_json('"x"') == '"x"'
    assert pretty_json("") == ""


def test_pretty_json_does_not_raise_on_broken_text():
    assert pretty_json('{"a": [1, 2') == '{\n  "a": [\n    1,\n    2'
    assert pretty_json('{"a": "unterminated, {') == '{\n  "a": "unterminated, {'
    assert pretty_json("]]}{") == "\n]\n]\n}{"


def test_reindent_stops_near_the_limit():
    text = json.dumps(list(range(100_000)))
    shown, consumed = reindent(text, 50_000)
    assert 50_000 <= len(shown) < 100_000
    assert 0 < consumed < len(text)
    assert shown == pretty_json(text[:consumed])
    assert reindent(text) == (pretty_json(text), len(text))


# -- JsonTreeModel -------------------------------------------------------------------------


def test_model_tester_on_a_record(qtmodeltester, owner, record):
    model = JsonTreeModel(owner)
    model.set_value(record)
    qtmodeltester.check(model)
    assert model.rowCount() == len(record)


def test_model_tester_on_a_list_body(qtmodeltester, owner, record):
    model = JsonTreeModel(owner)
    model.set_value([record, {"a": [], "b": {}}, 3, None, "x", [1, [2]]])
    qtmodeltester.check(model)
    assert model.rowCount() == 6


def test_model_tester_on_a_scalar_and_on_nothing(qtmodeltester, owner):
    model = JsonTreeModel(owner)
    model.set_value("just a string")
    qtmodeltester.check(model)
    index = model.index(0, 0)
    assert row_texts(index) == ("(value)", "just a string", "string")
    assert model.path(index) is None
    model.set_value()
    qtmodeltester.check(model)
    assert model.rowCount() == 0


def test_model_values_types_and_summaries(owner):
    model = JsonTreeModel(owner)
    model.set_value({"s": "text", "i": 42, "f": 1.5, "t": True, "n": None,
                     "o": {"a": 1}, "oo": {"a": 1, "b": 2}, "l": [1], "ll": [1, 2, 3],
                     "multi": "line 1\nline 2", "long": "x" * 5000})
    rows = {model.index(r, 0).data(): row_texts(model.index(r, 0))
            for r in range(model.rowCount())}
    assert rows["s"] == ("s", "text", "string")
    assert rows["i"] == ("i", "42", "number")
    assert rows["f"] == ("f", "1.5", "number")
    assert rows["t"] == ("t", "true", "boolean")
    assert rows["n"] == ("n", "null", "null")
    assert rows["o"] == ("o", "{1 key}", "object")
    assert rows["oo"] == ("oo", "{2 keys}", "object")
    assert rows["l"] == ("l", "[1 item]", "array")
    assert rows["ll"] == ("ll", "[3 items]", "array")
    assert rows["multi"][1] == "line 1↵line 2"
    assert len(rows["long"][1]) < 1100
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(3)] == [
        "Key", "Value", "Type"]


def test_model_paths(owner, record):
    model = JsonTreeModel(owner)
    model.set_value({"detail": record["detail"], "key with space": {"a.b": [{"x": 1}]},
                     "_ok9": 1, "9no": 2})
    detail = child(model, QModelIndex(), "detail")
    mnc = child(model, detail, "mnc")
    assert model.path(child(model, model.index(0, 0, mnc), "mnc")) == "detail.mnc[0].mnc"
    assert model.path(child(model, child(model, detail, "country"), "iso_code")) == (
        "detail.country.iso_code")
    odd = child(model, QModelIndex(), "key with space")
    dotted = child(model, odd, "a.b")
    assert model.path(child(model, model.index(0, 0, dotted), "x")) == (
        '["key with space"]["a.b"][0].x')
    assert model.path(child(model, QModelIndex(), "_ok9")) == "_ok9"
    assert model.path(child(model, QModelIndex(), "9no")) == '["9no"]'
    assert model.path(QModelIndex()) is None

    model.set_value([{}] * 12 + [record])
    body_record = model.index(12, 0)
    assert body_record.data() == "[12]"
    assert model.path(child(model, child(model, body_record, "sim"), "iccid")) == (
        "[12].sim.iccid")


def test_model_builds_nodes_only_for_opened_containers(owner, record):
    model = JsonTreeModel(owner)
    model.set_value([record] * 3000)
    for row in range(model.rowCount()):
        assert model.index(row, 2).data() == "object"
    assert model.node_count == 0
    detail = child(model, model.index(7, 0), "detail")
    assert model.index(0, 0, detail).data() == "mnc"
    assert model.node_count == 2  # record 7 and its detail


# -- JsonDetail ----------------------------------------------------------------------------


def test_shows_the_event_sample(detail, record):
    tree, model, raw, note = parts(detail)
    raw_text = json.dumps(record, separators=(",", ":"))
    detail.show_value(record, raw_text, title="Event 1")
    assert detail.findChild(QLabel, "title_label").text() == "Event 1"
    assert note.isHidden()
    assert model.rowCount() == 13
    root = QModelIndex()
    assert row_texts(child(model, root, "alert")) == ("alert", "false", "boolean")
    assert row_texts(child(model, root, "user")) == ("user", "null", "null")
    assert row_texts(child(model, root, "id")) == ("id", "1234567890", "number")
    assert row_texts(child(model, root, "timestamp")) == (
        "timestamp", "2019-01-21T09:36:17Z", "string")
    detail_index = child(model, root, "detail")
    assert row_texts(detail_index) == ("detail", "{5 keys}", "object")
    assert row_texts(child(model, detail_index, "mnc")) == ("mnc", "[2 items]", "array")
    # first level expanded, the next one not
    assert tree.isExpanded(detail_index)
    assert tree.isExpanded(child(model, root, "sim"))
    country = child(model, detail_index, "country")
    assert not tree.isExpanded(country)
    # the raw pane: the record pretty-printed with two spaces
    assert raw.toPlainText() == json.dumps(record, indent=2)
    assert raw.isReadOnly()


def test_select_and_copy(qtbot, detail, record):
    tree, model, _raw, _note = parts(detail)
    raw_text = json.dumps(record)
    detail.show_value(record, raw_text)
    assert detail.current_path() is None
    assert not action(detail, "copy_value_action").isEnabled()
    assert action(detail, "copy_all_action").isEnabled()

    country = child(model, child(model, QModelIndex(), "detail"), "country")
    tree.expand(country)
    iso_code = child(model, country, "iso_code")
    tree.setCurrentIndex(iso_code)
    assert tree.selectionModel().isRowSelected(iso_code.row(), iso_code.parent())
    assert detail.current_path() == "detail.country.iso_code"
    assert action(detail, "copy_value_action").isEnabled()

    clipboard = QGuiApplication.clipboard()
    with qtbot.waitSignal(detail.copied) as blocker:
        action(detail, "copy_value_action").trigger()
    assert clipboard.text() == "nl"
    assert blocker.args == ["Copied value of detail.country.iso_code"]

    with qtbot.waitSignal(detail.copied) as blocker:
        action(detail, "copy_path_action").trigger()
    assert clipboard.text() == "detail.country.iso_code"
    assert blocker.args == ["Copied JSON path detail.country.iso_code"]

    with qtbot.waitSignal(detail.copied):
        action(detail, "copy_all_action").trigger()
    assert clipboard.text() == raw_text

    # a container is copied as compact JSON
    tree.setCurrentIndex(country)
    action(detail, "copy_value_action").trigger()
    assert clipboard.text() == json.dumps(record["detail"]["country"], separators=(",", ":"))
    assert json.loads(clipboard.text()) == record["detail"]["country"]

    # the context menu offers the same actions
    assert [a.text() for a in tree.actions()] == [
        "Copy value", "Copy JSON path", "Copy whole JSON"]


def test_ctrl_c_on_the_tree_copies_the_value(qtbot, detail, record):
    tree, model, _raw, _note = parts(detail)
    detail.show_value(record, json.dumps(record))
    mnc = child(model, child(model, QModelIndex(), "detail"), "mnc")
    tree.expand(mnc)
    second = model.index(1, 0, mnc)
    tree.expand(second)
    target = child(model, second, "id")
    tree.setCurrentIndex(target)
    assert detail.current_path() == "detail.mnc[1].id"
    detail.activateWindow()
    tree.setFocus()
    qtbot.waitUntil(tree.hasFocus)
    QGuiApplication.clipboard().clear()
    with qtbot.waitSignal(detail.copied):
        qtbot.keyClick(tree, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "328"


def test_html_looking_payload_is_shown_literally(detail):
    _tree, model, raw, note = parts(detail)
    value = {"html": "<b>x</b>", "script": "<script>alert(1)</script>", "<i>key</i>": 1}
    detail.show_value(value, json.dumps(value), title="<b>title</b>")
    title = detail.findChild(QLabel, "title_label")
    assert title.textFormat() == Qt.TextFormat.PlainText
    assert title.text() == "<b>title</b>"
    assert child(model, QModelIndex(), "html").siblingAtColumn(1).data() == "<b>x</b>"
    assert child(model, QModelIndex(), "script").siblingAtColumn(1).data() == (
        "<script>alert(1)</script>")
    assert child(model, QModelIndex(), "<i>key</i>").siblingAtColumn(2).data() == "number"
    assert '"html": "<b>x</b>"' in raw.toPlainText()
    assert "<script>alert(1)</script>" in raw.toPlainText()

    detail.show_text("<b>not json</b>", title="<i>t</i>", note="Not JSON: <b>bad</b> at 1")
    assert raw.toPlainText() == "<b>not json</b>"
    assert note.textFormat() == Qt.TextFormat.PlainText
    assert note.text() == "Not JSON: <b>bad</b> at 1"
    assert title.text() == "<i>t</i>"


def test_show_text_and_clear(qtbot, detail, record):
    _tree, model, raw, note = parts(detail)
    detail.show_value(record, json.dumps(record))
    text = "this is {not json"
    detail.show_text(text, title="Request 3", note="Not JSON: Expecting value: line 1 column 1")
    assert model.rowCount() == 0
    assert raw.toPlainText() == text
    assert note.isVisible()
    assert note.text() == "Not JSON: Expecting value: line 1 column 1"
    assert detail.current_path() is None
    assert not action(detail, "copy_value_action").isEnabled()
    with qtbot.waitSignal(detail.copied):
        action(detail, "copy_all_action").trigger()
    assert QGuiApplication.clipboard().text() == text

    detail.show_text("plain")
    assert note.text() == "Not JSON."

    detail.clear()
    assert model.rowCount() == 0
    assert raw.toPlainText() == ""
    assert note.isHidden()
    assert detail.findChild(QLabel, "title_label").text() == ""
    assert not action(detail, "copy_all_action").isEnabled()
    assert not action(detail, "copy_path_action").isEnabled()


def test_a_scalar_value(detail):
    _tree, model, raw, _note = parts(detail)
    detail.show_value(1.5, "1.50")
    assert row_texts(model.index(0, 0)) == ("(value)", "1.5", "number")
    assert raw.toPlainText() == "1.50"


def test_without_raw_text_the_value_is_serialised(detail, record):
    _tree, _model, raw, _note = parts(detail)
    detail.show_value(record, "")
    assert raw.toPlainText() == json.dumps(record, indent=2)


def test_a_list_body_builds_no_nodes_up_front(qtbot, detail, record):
    tree, model, _raw, _note = parts(detail)
    body = [record] * 3000
    detail.show_value(body, json.dumps(body, separators=(",", ":")), title="Request 1")
    qtbot.wait(50)  # let the view lay out and paint
    assert model.rowCount() == 3000
    assert model.node_count < 100
    assert not tree.isExpanded(model.index(0, 0))
    assert tree.visualRect(model.index(0, 0)).isValid()
    tree.setCurrentIndex(model.index(2999, 0))
    assert detail.current_path() == "[2999]"
    assert model.node_count < 100


def test_a_3_mb_body_is_cut_and_not_coloured(qtbot, detail, record):
    _tree, model, raw, note = parts(detail)
    one = len(json.dumps(record, separators=(",", ":"))) + 1
    body = [record] * (3 * MIB // one + 50)
    raw_text = json.dumps(body, separators=(",", ":"))
    assert 3 * MIB < len(raw_text) < 3.2 * MIB
    detail.show_value(body, raw_text)
    qtbot.wait(50)
    assert note.isVisible()
    assert re.fullmatch(r"Large body: showing the first \d\.\d MiB of 3\.\d MiB "
                        r"\(Copy whole JSON copies all of it\)\.", note.text()), note.text()
    shown = raw.toPlainText()
    assert RAW_LIMIT <= len(shown) < RAW_LIMIT * 1.1
    assert shown.startswith('[\n  {\n    "imsi": {')
    assert raw.document().findBlockByNumber(2).layout().formats() == []
    assert model.node_count < 100
    # the whole text is still there for the copy
    action(detail, "copy_all_action").trigger()
    assert QGuiApplication.clipboard().text() == raw_text

    big_text = "x" * (3 * MIB)
    detail.show_text(big_text, note="Not JSON: too odd")
    assert len(raw.toPlainText()) == RAW_LIMIT
    assert note.text() == ("Not JSON: too odd Large body: showing the first 2.0 MiB of 3.0 MiB "
                           "(Copy whole JSON copies all of it).")


def wait_coloured(qtbot, raw: QPlainTextEdit) -> None:
    """The highlighter colours a new text from the event loop, right after it was set."""
    qtbot.waitUntil(lambda: raw.document().findBlockByNumber(1).layout().formats() != [])


def key_colour(raw: QPlainTextEdit, block: int = 1) -> QColor:
    """The colour of the first formatted range (the key) on a line of the raw pane."""
    ranges = raw.document().findBlockByNumber(block).layout().formats()
    assert ranges, "the line is not coloured"
    return ranges[0].format.foreground().color()


def test_syntax_colours(qtbot, detail):
    _tree, _model, raw, _note = parts(detail)
    detail.show_value({"k": "s", "n": 1.50, "b": True, "z": None}, '{"k":"s","n":1.50,'
                      '"b":true,"z":null}')
    wait_coloured(qtbot, raw)
    lines = raw.toPlainText().splitlines()
    assert lines[2] == '  "n": 1.50,'
    ranges = {(r.start, r.length): r.format.foreground().color().name()
              for r in raw.document().findBlockByNumber(1).layout().formats()}
    key, colon, string, comma = ((2, 3), (5, 1), (7, 3), (10, 1))
    assert set(ranges) == {key, colon, string, comma}
    assert len({ranges[key], ranges[string], ranges[colon]}) == 3
    assert ranges[colon] == ranges[comma]
    number = raw.document().findBlockByNumber(2).layout().formats()[-2]
    assert (number.start, number.length) == (7, 4)
    keyword = raw.document().findBlockByNumber(3).layout().formats()[-2]
    assert (keyword.start, keyword.length) == (7, 4)
    assert len({ranges[key], ranges[string], number.format.foreground().color().name(),
                keyword.format.foreground().color().name()}) == 4


def test_colours_follow_utf16_positions(qtbot, detail):
    _tree, _model, raw, _note = parts(detail)
    detail.show_value({"\U0001f600": "x"}, '{"\U0001f600":"x"}')
    wait_coloured(qtbot, raw)
    ranges = [(r.start, r.length) for r in raw.document().findBlockByNumber(1).layout().formats()]
    # the emoji is two UTF-16 code units: key "😀" spans 4, the string "x" starts at 8
    assert ranges == [(2, 4), (6, 1), (8, 3)]


def test_colours_follow_the_palette(qtbot, detail, record):
    _tree, _model, raw, _note = parts(detail)
    detail.show_value(record, json.dumps(record))
    wait_coloured(qtbot, raw)
    light = QPalette(detail.palette())
    light.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
    light.setColor(QPalette.ColorRole.Text, QColor("#000000"))
    detail.setPalette(light)
    on_light = key_colour(raw)
    dark = QPalette(light)
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e0e0e0"))
    detail.setPalette(dark)
    on_dark = key_colour(raw)
    assert on_light.lightness() < 128 < on_dark.lightness()


def test_highlighter_limit(qtbot, detail, record):
    _tree, _model, raw, _note = parts(detail)
    body = [record] * (HIGHLIGHT_LIMIT // 1500 + 10)
    raw_text = json.dumps(body)
    assert len(pretty_json(raw_text)) > HIGHLIGHT_LIMIT
    detail.show_value(body, raw_text)
    qtbot.wait(50)
    assert raw.document().findBlockByNumber(3).layout().formats() == []
    detail.show_value(record, json.dumps(record))
    wait_coloured(qtbot, raw)
