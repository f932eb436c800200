"""Composing YAML with positions: libyaml events turned into nodes that know where their text is.

Splicing needs every node's text offsets, its anchor and the aliases that use it, so this builds its
own node graph (`_Node`, `_Alias`, `_Doc`) from libyaml's event stream; `_Slot` records where a node
lives (mapping value, sequence item or document root).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from migrator import yamltext
from migrator.edits.operations import EditError

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Node:
    """A composed node with absolute character positions in the edited text.

    We compose from libyaml events ourselves (instead of `yaml.compose_all`) because the stock
    composer replaces an alias by its target node and so loses where the `*alias` text is.
    """

    __slots__ = ("kind", "start", "end", "line", "col", "style", "value", "tag", "explicit_tag",
                 "anchor", "flow", "items", "aliases", "_v11", "_v12")

    def __init__(self, kind: str, start: int, end: int, line: int, col: int):
        self.kind, self.start, self.end, self.line, self.col = kind, start, end, line, col
        self.style, self.value, self.tag, self.explicit_tag = "", None, None, False
        self.anchor, self.flow, self.items, self.aliases = None, False, [], 0
        self._v11 = self._v12 = _UNSET

    @property
    def is_block_scalar(self) -> bool:
        return self.kind == "scalar" and self.style in ("|", ">")

    def describe(self) -> str:
        return {"scalar": "a scalar", "map": "a mapping", "seq": "a sequence"}[self.kind]


class _Alias:
    """An `*alias` occurrence: the node it stands for and where its own text is."""

    __slots__ = ("target", "start", "end", "line", "col")
    kind = "alias"

    def __init__(self, target: _Node, start: int, end: int, line: int, col: int):
        self.target, self.start, self.end, self.line, self.col = target, start, end, line, col


_UNSET = object()


@dataclass
class _Doc:
    index: int
    start: int
    end: int = 0
    root: Any = None
    checked: bool = False


class _Composer:
    """Turns libyaml events into `_Node` trees (one per document)."""

    def __init__(self, offset: int, line_offset: int = 0):
        self.offset, self.line_offset = offset, line_offset
        self.docs: list[_Doc] = []
        self.stack: list[list] = []  # [node, pending children]
        self.anchors: dict[str, _Node] = {}

    def run(self, body: str) -> list[_Doc]:
        for ev in yaml.parse(body, Loader=yaml.CSafeLoader):
            handler = getattr(self, "on_" + type(ev).__name__, None)
            if handler:
                handler(ev)
        return self.docs

    def _node(self, kind: str, ev) -> _Node:
        m = ev.start_mark
        node = _Node(kind, m.index + self.offset, ev.end_mark.index + self.offset, m.line + self.line_offset, m.column)
        if getattr(ev, "anchor", None):
            node.anchor = ev.anchor
            self.anchors[ev.anchor] = node
        return node

    def _add(self, node) -> None:
        if self.stack:
            self.stack[-1][1].append(node)
        else:
            self.docs[-1].root = node

    def on_DocumentStartEvent(self, ev) -> None:
        self.docs.append(_Doc(len(self.docs), ev.start_mark.index + self.offset))
        self.anchors = {}

    def on_DocumentEndEvent(self, ev) -> None:
        self.docs[-1].end = ev.end_mark.index + self.offset

    def on_ScalarEvent(self, ev) -> None:
        node = self._node("scalar", ev)
        node.value, node.style = ev.value, ev.style or ""
        if ev.tag and ev.tag != "!":
            node.tag, node.explicit_tag = ev.tag, True
        else:
            node.explicit_tag = ev.tag == "!"
            node.tag = yamltext._R11.resolve(yaml.ScalarNode, ev.value, ev.implicit)
        self._add(node)

    def on_AliasEvent(self, ev) -> None:
        target = self.anchors.get(ev.anchor)
        if target is None:  # pragma: no cover - libyaml's parser rejects unknown anchors first
            raise EditError(f"unknown alias *{ev.anchor}", ev.start_mark.line + 1)
        target.aliases += 1
        m = ev.start_mark
        self._add(_Alias(target, m.index + self.offset, ev.end_mark.index + self.offset, m.line + self.line_offset,
                         m.column))

    def _start(self, kind: str, ev) -> None:
        node = self._node(kind, ev)
        node.flow = bool(ev.flow_style)
        if ev.tag:
            node.tag, node.explicit_tag = ev.tag, True
        self.stack.append([node, []])

    def _end(self, ev) -> None:
        node, children = self.stack.pop()
        if node.flow:
            node.end = ev.end_mark.index + self.offset
        node.items = list(zip(children[::2], children[1::2])) if node.kind == "map" else children
        self._add(node)

    def on_MappingStartEvent(self, ev) -> None:
        self._start("map", ev)

    def on_SequenceStartEvent(self, ev) -> None:
        self._start("seq", ev)

    on_MappingEndEvent = on_SequenceEndEvent = _end


def _parse_error(text: str, exc: yaml.YAMLError, line_offset: int = 0) -> EditError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 + line_offset if mark is not None else None
    if "{{" in text:
        return EditError("looks like a Helm template ({{ ... }} actions): not YAML, never edited", line)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return EditError(f"not valid YAML: {problem}", line)


def _bom(text: str) -> int:
    return 1 if text.startswith("\ufeff") else 0


def _compose(text: str) -> tuple[int, list[_Doc]]:
    """(BOM offset, every document).  Parse failures become refusals with a line number."""
    offset = _bom(text)
    try:
        return offset, _Composer(offset).run(text[offset:])
    except yaml.YAMLError as exc:
        raise _parse_error(text, exc) from None


def _scan_spans(text: str) -> list[tuple[int, int]]:
    """`[start, end)` of every document, from libyaml's event marks (a fast pass in C).

    An implicit document ends where the next `---` line starts, an explicit one after its `...`;
    so every splice an edit makes inside a document stays inside that document's span.
    """
    offset = _bom(text)
    spans, start = [], 0
    try:
        for ev in yaml.parse(text[offset:], Loader=yaml.CSafeLoader):
            if isinstance(ev, yaml.DocumentStartEvent):
                start = ev.start_mark.index + offset
            elif isinstance(ev, yaml.DocumentEndEvent):
                spans.append((start, ev.end_mark.index + offset))
    except yaml.YAMLError as exc:
        raise _parse_error(text, exc) from None
    return spans


@dataclass
class _Slot:
    """Where a node lives: `parent` is None for the document root; `key` is a key node or index."""

    node: Any
    parent: _Node | None
    key: Any
    doc: _Doc
    path: tuple

    @property
    def in_flow(self) -> bool:
        return self.parent is not None and self.parent.flow


def _is_merge_key(k) -> bool:
    return isinstance(k, _Node) and k.kind == "scalar" and k.tag == _MERGE_TAG
