"""The text a filter searches for, and where it occurs in a cell: what the window highlights
(:mod:`app.ui.highlight`). Plain Python, no Qt.

A filter's search terms are its bare words and quoted phrases (:class:`~app.filters.nodes.Text`)
that a row passing the filter may contain: not the ones under ``not`` (a row that passes
``not foo`` has no ``foo``), nor field comparisons (``iccid == 8988…`` compares a value, it does
not search the text). Terms match as the filter does: ignoring ASCII letter case.
"""

from __future__ import annotations

from app.filters.nodes import And, Node, Or, Text, ascii_lower
from app.filters.planner import Filter


def search_terms(flt: Filter | None) -> tuple[str, ...]:
    """The bare words and quoted phrases of ``flt`` outside any ``not``, each once (ignoring
    ASCII case), in the order written; an empty phrase (``""``) is none."""
    if flt is None:
        return ()
    found: dict[str, str] = {}
    _collect(flt.root, found)
    return tuple(found.values())


def _collect(node: Node, found: dict[str, str]) -> None:
    # Iterative: a long chain of "a b c ..." is as deep as it is long.
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, (And, Or)):
            stack += (node.right, node.left)  # left first: the order written
        elif isinstance(node, Text) and node.word:
            found.setdefault(ascii_lower(node.word), node.word)
        # Not: what it searches is what a passing row lacks; other nodes search no text.


def match_spans(text: str, terms: tuple[str, ...]) -> list[tuple[int, int]]:
    """Where ``terms`` occur in ``text`` (ASCII case ignored): sorted, merged ``(start, end)``
    character ranges."""
    if not text or not terms:
        return []
    lowered = ascii_lower(text)
    spans: list[tuple[int, int]] = []
    for term in terms:
        needle = ascii_lower(term)
        if not needle:
            continue
        at = lowered.find(needle)
        while at >= 0:
            spans.append((at, at + len(needle)))
            at = lowered.find(needle, at + 1)
    if not spans:
        return []
    spans.sort()
    merged = [spans[0]]
    for start, end in spans[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged
