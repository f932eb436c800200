"""Surgical YAML edits: change exactly the characters an edit needs; never re-dump a document.

Why this design (yaml-editing.md §3 approach D, §5): every round-trip library reformats something
(indentation, quotes, comments, `yes` → bool), and SREs review every line of our diffs.  Here libyaml
gives node positions, we decide the smallest text splice that produces the new value, and the
rest of the file is left byte-for-byte alone.  `migrator.verify` then proves the result means what
`apply_to_tree` says it should, under both YAML 1.1 and 1.2 readers.

Vocabulary used below:

* a *splice* is `(start, end, text)` in the coordinates of the text being edited;
* a *slot* is where a node lives: a mapping value, a sequence item, or a document root;
* *content end* is where the last character of a node's text is (libyaml's end marks for block
  collections point at the next token, after comments and blank lines, which is useless for us).

Edits are applied one after the other, each on a freshly composed text, so later edits see earlier
results; a piece table maps every change back to the original text for `EditResult.spans`.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from migrator import yamltext

Path = tuple[str | int, ...]


# ============================================================================ public data types


@dataclass(frozen=True)
class SetScalar:
    """Set the scalar (or implicit null) at `path`; a missing last key is created like Upsert."""

    doc: int
    path: Path
    value: str | int | float | bool | None


@dataclass(frozen=True)
class Upsert:
    """Ensure the mapping at `path` has `key` == `value` (dicts merge recursively, others replace)."""

    doc: int
    path: Path
    key: str
    value: Any


@dataclass(frozen=True)
class DeleteKey:
    """Remove `key` (its whole value and end-of-line comment) from the mapping at `path`."""

    doc: int
    path: Path
    key: str


@dataclass(frozen=True)
class Append:
    """Append `value` to the sequence at `path` (created if absent); `unique` skips equal items."""

    doc: int
    path: Path
    value: Any
    unique: bool = True


@dataclass(frozen=True)
class SetEnv:
    """Upsert `{name, value}` in the `env` list of the container mapping at `container`."""

    doc: int
    container: Path
    name: str
    value: str


@dataclass(frozen=True)
class SetImageTag:
    """Replace the version part of the image tag at `path`, keeping suffixes like `-distroless`."""

    doc: int
    path: Path
    version: str


@dataclass(frozen=True)
class EditEmbedded:
    """Apply `edits` to the YAML held in the literal block scalar at `path` (Argo CD helm.values)."""

    doc: int
    path: Path
    edits: tuple


Edit = SetScalar | Upsert | DeleteKey | Append | SetEnv | SetImageTag | EditEmbedded


class EditError(Exception):
    """A refusal: the edit cannot be made safely.  `line` is 1-based, or None when not local."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


@dataclass
class EditResult:
    text: str
    changed: bool
    spans: list[tuple[int, int]]


# ============================================================================ composing with positions


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


# ============================================================================ values of nodes


def _target(node):
    return node.target if isinstance(node, _Alias) else node


def _to_pyyaml(node, memo: dict) -> yaml.Node:
    node = _target(node)
    if id(node) in memo:
        return memo[id(node)]
    if node.kind == "scalar":
        out = yaml.ScalarNode(node.tag, node.value, style=node.style or None)
        memo[id(node)] = out
        return out
    if node.kind == "seq":
        out = yaml.SequenceNode(node.tag or "tag:yaml.org,2002:seq", [])
        memo[id(node)] = out
        out.value = [_to_pyyaml(c, memo) for c in node.items]
        return out
    out = yaml.MappingNode(node.tag or "tag:yaml.org,2002:map", [])
    memo[id(node)] = out
    out.value = [(_to_pyyaml(k, memo), _to_pyyaml(v, memo)) for k, v in node.items]
    return out


def _value11(node) -> Any:
    """What a YAML 1.1 reader (PyYAML, Kubernetes) constructs for this node."""
    node = _target(node)
    if node._v11 is _UNSET:
        try:
            node._v11 = yaml.constructor.SafeConstructor().construct_document(_to_pyyaml(node, {}))
        except yaml.YAMLError as exc:  # e.g. an unknown `!Ref` tag: we cannot know what it means
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise EditError(f"cannot read this value: {problem}", node.line + 1) from None
    return node._v11


@lru_cache(maxsize=4096)
def _load12_plain(text: str) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def _value12(node, memo: dict | None = None) -> Any:
    """What a YAML 1.2 reader (ruamel.yaml) constructs for this node.

    Only plain scalars differ between the versions; quoted and block scalars are strings, and an
    explicit tag means the same thing in both.
    """
    node = _target(node)
    if node._v12 is not _UNSET:
        return node._v12
    memo = {} if memo is None else memo
    if id(node) in memo:
        return memo[id(node)]
    if node.kind == "scalar":
        if node.explicit_tag or node.style:
            value = _value11(node)
        elif yamltext.resolve_12(node.value) == yamltext.STR_TAG:
            value = node.value
        else:
            value = _load12_plain(node.value)
    elif node.kind == "seq":
        value = memo[id(node)] = []
        value.extend(_value12(c, memo) for c in node.items)
    else:
        value = memo[id(node)] = {}
        for k, v in node.items:
            value[_hashable(_value12(k, memo))] = _value12(v, memo)
    node._v12 = value
    return value


def _hashable(value):
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def _strict_eq(a, b) -> bool:
    """Equality that also compares types, so `True != 1`, `1 != 1.0` and `"yes" != True`."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_strict_eq(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_strict_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def _equal_both(node, value) -> bool:
    """Does the node already hold `value` for YAML 1.1 *and* 1.2 readers?  Only then is it a no-op."""
    return _strict_eq(_value11(node), value) and _strict_eq(_value12(node), value)


def _is_empty_scalar(node) -> bool:
    """An implicit null (`key:` or a bare `-`): no text of its own, so writing needs a space first."""
    return isinstance(node, _Node) and node.kind == "scalar" and node.start == node.end


def _is_null(node) -> bool:
    return isinstance(node, _Node) and node.kind == "scalar" and node.tag == "tag:yaml.org,2002:null"


def _normalize(value: Any, where: str = "value") -> Any:
    """Check a caller's value is representable and turn tuples into lists (what a reader returns)."""
    if isinstance(value, dict):
        return {_normalize(k, "key"): _normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalize(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise EditError(f"cannot write a {type(value).__name__} {where} into YAML")


# ============================================================================ the source text


@dataclass
class _Profile:
    """Indentation and quoting habits of a document, for text we have to invent."""

    indent: int = 2  # columns from a key to its nested mapping's keys
    seq_offset: int = 2  # columns from a key to the dashes of its nested sequence
    quote: str = '"'  # quote character for new strings that need quoting


class _Source:
    """A text, its documents (composed only when an edit needs them), and line arithmetic.

    Composing in Python is the expensive step (about 0.7 MB/s); an edit touches one document, so
    only that document's span is composed.  `spans` may be handed over from the previous text when
    the caller knows how the last edit shifted them.
    """

    def __init__(self, text: str, spans: list[tuple[int, int]] | None = None):
        self.text = text
        self.offset = _bom(text)
        self.spans = list(spans) if spans is not None else _scan_spans(text)
        first_break = text.find("\n")
        self.nl = "\r\n" if first_break > 0 and text[first_break - 1] == "\r" else "\n"
        self._docs: dict[int, _Doc] = {}
        self._profiles: dict[int, _Profile] = {}
        self._quotes: dict[int, str] = {}

    # ---- lines

    def line_start(self, i: int) -> int:
        return self.text.rfind("\n", 0, i) + 1

    def line_end(self, i: int) -> int:
        """Index of the line break (CR of a CRLF) ending the line that contains `i`, or len."""
        j = self.text.find("\n", i)
        if j < 0:
            return len(self.text)
        return j - 1 if j > 0 and self.text[j - 1] == "\r" else j

    def next_line_start(self, i: int) -> int:
        j = self.text.find("\n", i)
        return len(self.text) if j < 0 else j + 1

    def col(self, i: int) -> int:
        ls = self.line_start(i)
        return i - ls - (self.offset if ls == 0 else 0)

    def _comment_col(self, start: int) -> int | None:
        """Column of the `#` when the line starting at `start` holds only a comment, else None."""
        line = self.text[start: self.line_end(start)]
        body = line.lstrip(" \t")
        return len(line) - len(body) if body.startswith("#") else None

    def trailing_comments(self, end: int, col: int) -> int:
        """End of the comment lines right after `end`'s line that are indented at least `col`.

        They belong to the block that ends there (`# end of trafficPolicy` under its block), so a
        key inserted into that block goes below them.  A blank line, content, or a comment indented
        less (it belongs to an outer level) ends the run.  Returns `end` when there are none.
        """
        pos = self.next_line_start(end)
        while pos < len(self.text):
            c = self._comment_col(pos)
            if c is None or c < col:
                break
            end = self.line_end(pos)
            pos = self.next_line_start(end)
        return end

    def leading_comments(self, start: int, col: int, floor: int) -> int:
        """Start of the comment lines right above `start`'s line, indented exactly `col`, not above `floor`.

        They describe the key on that line, so they go when it is deleted.  Returns the line start
        of `start` when there are none.
        """
        top = self.line_start(start)
        while top > floor:
            prev = self.line_start(top - 1)
            if prev < floor or self._comment_col(prev) != col:
                break
            top = prev
        return top

    # ---- documents

    def doc(self, index: int) -> _Doc:
        """The composed document, checked for what makes it unsafe to edit."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.spans):
            raise EditError(f"document index {index!r} out of range: the file has {len(self.spans)} document(s)")
        doc = self.composed(index)
        if not doc.checked:
            _check_document(doc)
            doc.checked = True
        return doc

    def composed(self, index: int) -> _Doc:
        if index not in self._docs:
            self._docs[index] = self._compose_one(index)
        return self._docs[index]

    def _compose_one(self, index: int) -> _Doc:
        """Compose just this document's text; fall back to the whole stream if that is not exact."""
        start, end = self.spans[index]
        chunk_start = max(self.line_start(start), self.offset)
        if not self.text[chunk_start:start].strip(" \t"):
            try:
                docs = _Composer(chunk_start, self.text.count("\n", 0, chunk_start)).run(self.text[chunk_start:end])
            except yaml.YAMLError:
                docs = []
            if len(docs) == 1 and docs[0].root is not None:
                docs[0].index = index
                return docs[0]
        _offset, docs = _compose(self.text)  # pragma: no cover - libyaml spans always split cleanly so far
        return docs[index]

    # ---- node geometry

    def content_end(self, node) -> int:
        """Index just after the last character of the node's own text (comments excluded)."""
        if isinstance(node, _Alias):
            return node.end
        if node.kind == "scalar":
            if node.is_block_scalar:
                return len(self.text[: node.end].rstrip(" \t\r\n"))
            return node.end
        if node.flow or not node.items:
            return node.end
        last = node.items[-1]
        return self.content_end(last[1] if node.kind == "map" else last)

    def last_leaf(self, node):
        while isinstance(node, _Node) and node.kind != "scalar" and not node.flow and node.items:
            node = node.items[-1][1] if node.kind == "map" else node.items[-1]
        return node

    def body_start(self, node) -> int:
        """Where a collection's content begins: its first key or first dash, after any `&anchor`."""
        if isinstance(node, _Alias) or node.kind == "scalar" or node.flow or not node.items:
            return node.start
        if node.kind == "map":
            return node.items[0][0].start
        return self.dash_pos(node)

    def dash_pos(self, seq: _Node) -> int:
        if self.text[seq.start] == "-":
            return seq.start
        i = seq.items[0].start
        while i > 0 and self.text[i - 1] in " \t\r\n":
            i -= 1
        if i == 0 or self.text[i - 1] != "-":
            raise EditError("cannot find the `-` of this sequence", seq.line + 1)
        return i - 1

    def colon_end(self, key) -> int:
        i = key.end
        while i < len(self.text) and self.text[i] in " \t":
            i += 1
        if i >= len(self.text) or self.text[i] != ":":
            raise EditError("complex mapping key (`? key`) is not supported", key.line + 1)
        return i + 1

    def value_start(self, node: _Node) -> int:
        """Start of a scalar's own text, after `&anchor` / `!tag` properties (which we keep)."""
        i = node.start
        while i < node.end and self.text[i] in "&!":
            while i < node.end and self.text[i] not in " \t\r\n":
                i += 1
            while i < node.end and self.text[i] in " \t\r\n":
                i += 1
        return i

    def starts_line(self, i: int) -> bool:
        return self.text[self.line_start(i): i].strip(" \t\ufeff") == ""

    # ---- style

    def profile(self, doc: _Doc) -> _Profile:
        if doc.index not in self._profiles:
            self._profiles[doc.index] = self._detect_profile(doc)
        return self._profiles[doc.index]

    def _detect_profile(self, doc: _Doc) -> _Profile:
        indents, offsets = Counter(), Counter()
        others = (self.composed(i) for i in range(len(self.spans)) if i != doc.index)
        for d in itertools.chain([doc], others):
            for node in _walk(d.root):
                self._measure(node, indents, offsets)
            if indents or offsets:
                break  # this document (or the first one with evidence) decides
        indent = indents.most_common(1)[0][0] if indents else 2
        offset = offsets.most_common(1)[0][0] if offsets else indent
        return _Profile(indent, offset, self.preferred_quote(doc.index))

    def _measure(self, node, indents: Counter, offsets: Counter) -> None:
        if node.kind != "map" or node.flow:
            return
        for k, v in node.items:
            if not isinstance(v, _Node) or v.flow or not v.items or isinstance(k, _Alias):
                continue
            start = self.body_start(v)
            if "\n" not in self.text[k.end:start]:
                continue
            diff = self.col(start) - k.col
            if v.kind == "map" and diff > 0:
                indents[diff] += 1
            elif v.kind == "seq" and diff >= 0:
                offsets[diff] += 1

    def preferred_quote(self, index: int) -> str:
        """Single quotes only when this document uses them more than double quotes.

        Per document, so that an edit in one document never changes how another one is written
        (edits on different documents commute, yaml-editing.md §6 invariant 10).  Counted on the
        text (a quote opening a value after `:`, `-`, `[`, `{` or `,`), which is cheap.
        """
        if index not in self._quotes:
            start, end = self.spans[index]
            styles = Counter(_QUOTE_OPENING.findall(self.text, self.line_start(start), end))
            self._quotes[index] = "'" if styles["'"] > styles['"'] else '"'
        return self._quotes[index]


_QUOTE_OPENING = re.compile(r"[:\-\[{,][ \t]+(['\"])")


def _walk(node):
    """Every node of a document once (aliases are not followed)."""
    if not isinstance(node, _Node):
        return
    yield node
    children = [c for pair in node.items for c in pair] if node.kind == "map" else node.items
    for child in children:
        yield from _walk(child)


_COMPLEX_KEY = ("a mapping or sequence used as a mapping key; a Helm template action ({{ ... }}) reads like that, "
                "and is never edited")


_MAX_EXPANDED = 100_000  # nodes after alias expansion; real manifests are far below, alias bombs far above


def _expanded_size(root) -> tuple[int, int]:
    """(nodes once aliases are expanded, distinct nodes): memoised, so a bomb costs linear time."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose children are still being sized: meeting one again is a cycle
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        node = _target(node)
        if id(node) in sizes:
            continue
        children = [c for pair in node.items for c in pair] if node.kind == "map" else (
            node.items if node.kind == "seq" else [])
        if done:
            sizes[id(node)] = 1 + sum(sizes[id(_target(c))] for c in children)
            open_.discard(id(node))
            continue
        if id(node) in open_:
            raise EditError("a recursive alias makes this document infinite; refusing to edit it", node.line + 1)
        open_.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(_target(c)) not in sizes)
    return sizes[id(_target(root))], len(sizes)


def _check_document(doc: _Doc) -> None:
    """Refuse documents whose meaning depends on the reader, or that cannot be handled safely.

    Duplicate keys: libyaml silently keeps the last, ruamel refuses, Go decoders differ
    (yaml-editing.md §1 pitfall 12).  (A `<<` merge makes keys appear that are not in the text;
    that is checked per edited path, not per document.)
    An alias bomb ("billion laughs") would make every comparison of the document's value explode;
    Kubernetes' decoder rejects those too.
    """
    if any(n.aliases for n in _walk(doc.root)):
        expanded, distinct = _expanded_size(doc.root)
        if expanded > _MAX_EXPANDED and expanded > 10 * distinct:
            raise EditError(f"aliases expand this document to {expanded} nodes from {distinct} (an alias bomb?); "
                            "refusing to edit it", doc.root.line + 1)
    for node in _walk(doc.root):
        if node.kind != "map":
            continue
        seen: dict = {}
        for k, _v in node.items:
            if _is_merge_key(k):
                continue  # judged per edited path (_check_not_merged): only keys the merge supplies are refused
            if not (isinstance(k, _Node) and k.kind == "scalar"):
                if isinstance(k, _Node):
                    raise EditError(_COMPLEX_KEY, k.line + 1)
                continue
            key = _hashable(_value11(k))
            if (type(key), key) in seen:
                raise EditError(f"duplicate key {k.value!r} (also on line {seen[(type(key), key)]}): readers disagree "
                                "on which value wins, fix the file first", k.line + 1)
            seen[(type(key), key)] = k.line + 1


# ============================================================================ locating nodes


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


def _find_key(mapping: _Node, key) -> tuple | None:
    for k, v in mapping.items:
        if isinstance(k, _Node) and k.kind == "scalar" and not _is_merge_key(k) and _strict_eq(_value11(k), key):
            return k, v
    return None


def _is_merge_key(k) -> bool:
    return isinstance(k, _Node) and k.kind == "scalar" and k.tag == _MERGE_TAG


def _merged_key_line(mapping: _Node, key) -> int | None:
    """Line of the `<<` that supplies `key` to this mapping (not written in it), or None.

    Merge sources are an alias or a list of aliases/mappings; their own merges count too
    (YAML 1.1 merge type, https://yaml.org/type/merge.html).  Explicit keys of the mapping
    override merged ones, so only a key the mapping does not write itself can come from a merge.
    """
    seen: set[int] = set()

    def supplies(node) -> bool:
        node = _target(node)
        if id(node) in seen or not isinstance(node, _Node):
            return False
        seen.add(id(node))
        if node.kind == "seq":
            return any(supplies(item) for item in node.items)
        if node.kind != "map":
            return False
        if _find_key(node, key) is not None:
            return True
        return any(supplies(v) for k, v in node.items if _is_merge_key(k))

    for k, v in mapping.items:
        if _is_merge_key(k) and supplies(v):
            return k.line + 1
    return None


def _check_not_merged(mapping: _Node, key, path) -> None:
    """Refuse to write or delete a key whose value comes from a `<<` merge: the text does not hold it."""
    line = _merged_key_line(mapping, key)
    if line is not None:
        raise EditError(f"{_fmt_path(tuple(path) + (key,))} comes from the `<<` merge on line {line}; "
                        "the text does not hold it here, so it is not edited", line)


def _fmt_path(path) -> str:
    return ".".join(str(p) for p in path) or "(document root)"


def _locate(src: _Source, doc_index: int, path: Sequence) -> tuple[list[_Slot], int]:
    """Walk `path`; returns the slots found and how many path elements exist.

    Stops early (count < len(path)) at a missing mapping key or at a null on the way, which the
    creating edits may turn into a mapping.  Raises for what no edit can fix: a scalar or an
    alias on the way, a sequence index out of range.
    """
    doc = src.doc(doc_index)
    chain = [_Slot(doc.root, None, None, doc, ())]
    for i, step in enumerate(path):
        node = chain[-1].node
        here = _fmt_path(path[:i])
        if isinstance(node, _Alias):
            raise EditError(f"{here} is an alias (*{node.target.anchor}); editing through it would change every user of "
                            f"&{node.target.anchor}", node.line + 1)
        if node.kind == "map":
            found = _find_key(node, step)
            if found is None:
                _check_not_merged(node, step, path[:i])
                return chain, i
            chain.append(_Slot(found[1], node, found[0], doc, tuple(path[: i + 1])))
        elif node.kind == "seq":
            index = _seq_index(node, step, here)
            chain.append(_Slot(node.items[index], node, index, doc, tuple(path[: i + 1])))
        elif _is_null(node):
            return chain, i
        else:
            raise EditError(f"path {_fmt_path(path)} traverses a scalar at {here}", node.line + 1)
    return chain, len(path)


def _seq_index(node: _Node, step, here: str) -> int:
    if isinstance(step, bool) or not isinstance(step, int):
        raise EditError(f"{here} is a sequence; path element {step!r} is not an index", node.line + 1)
    index = step + len(node.items) if step < 0 else step
    if not 0 <= index < len(node.items):
        raise EditError(f"index {step} out of range: {here} has {len(node.items)} item(s)", node.line + 1)
    return index


def _check_unaliased(chain: list[_Slot]) -> None:
    """Refuse targets whose text is shared through anchors: a splice would change every user."""
    for slot in chain:
        node = slot.node
        where = _fmt_path(slot.path)
        if isinstance(node, _Alias):
            raise EditError(f"{where} is an alias (*{node.target.anchor}); editing it would change every user of "
                            f"&{node.target.anchor}", node.line + 1)
        if node.aliases:
            raise EditError(f"{where} is anchored as &{node.anchor} and aliased elsewhere; editing it would change "
                            "every alias too", node.line + 1)


def _check_subtree_unshared(node) -> None:
    """A subtree we remove or replace must not hold an anchor that aliases elsewhere still use."""
    for n in _walk(node):
        if n.aliases:
            raise EditError(f"&{n.anchor} is aliased elsewhere; removing or replacing it would break those aliases",
                            n.line + 1)


# ============================================================================ rendering new text


class _Renderer:
    """Writes values we insert, in the document's indentation and quoting habits."""

    def __init__(self, profile: _Profile):
        self.p = profile

    def scalar(self, value, *, flow: bool = False) -> str:
        if isinstance(value, dict) and not value:
            return "{}"
        if isinstance(value, list) and not value:
            return "[]"
        try:
            return yamltext.render_scalar(value, flow=flow, preferred_quote=self.p.quote)
        except TypeError as exc:
            raise EditError(str(exc)) from None

    def flow(self, value) -> str:
        if isinstance(value, dict) and value:
            inner = ", ".join(f"{self.key(k, flow=True)}: {self.flow(v)}" for k, v in value.items())
            return "{" + inner + "}"
        if isinstance(value, list) and value:
            return "[" + ", ".join(self.flow(v) for v in value) + "]"
        return self.scalar(value, flow=True)

    def key(self, key, *, flow: bool = False) -> str:
        if isinstance(key, (dict, list)):
            raise EditError("mapping keys must be scalars")
        return self.scalar(key, flow=flow)

    def entry(self, key, value, col: int) -> list[str]:
        head = " " * col + self.key(key) + ":"
        if _is_block(value):
            return [head] + self.block(value, col + (self.p.indent if isinstance(value, dict) else self.p.seq_offset))
        return [head + " " + self.scalar(value)]

    def block(self, value, col: int, item_offset: int = 2) -> list[str]:
        """Lines for a block value whose content starts at column `col` (dash column for lists)."""
        if isinstance(value, dict):
            return [line for k, v in value.items() for line in self.entry(k, v, col)]
        lines = []
        for item in value:
            sub = self.block(item, col + item_offset) if _is_block(item) else [" " * (col + item_offset) + self.scalar(item)]
            lines.append(" " * col + "-" + " " * (item_offset - 1) + sub[0][col + item_offset:])
            lines.extend(sub[1:])
        return lines


def _is_block(value) -> bool:
    return isinstance(value, (dict, list)) and bool(value)


# ============================================================================ planning one edit


Splice = tuple[int, int, str]


class _Planner:
    """Turns one edit into splices on `src.text`, or into simpler edits to apply in turn."""

    def __init__(self, src: _Source):
        self.src = src
        self.text = src.text

    def plan(self, edit) -> list:
        handler = {SetScalar: self.set_scalar, Upsert: self.upsert, DeleteKey: self.delete_key, Append: self.append,
                   SetEnv: self.set_env, SetImageTag: self.set_image_tag, EditEmbedded: self.edit_embedded}.get(type(edit))
        if handler is None:
            raise EditError(f"unknown edit type {type(edit).__name__}")
        _check_path(edit)
        return handler(edit)

    def render(self, doc: _Doc) -> _Renderer:
        return _Renderer(self.src.profile(doc))

    # ---- SetScalar / SetImageTag

    def set_scalar(self, e: SetScalar) -> list:
        value = _normalize(e.value)
        if isinstance(value, (dict, list)):
            raise EditError("SetScalar takes a scalar value; use Upsert for mappings and lists")
        if not e.path:
            raise EditError("SetScalar needs a non-empty path")
        chain, found = _locate(self.src, e.doc, e.path)
        if found < len(e.path):
            if not isinstance(e.path[-1], str):
                raise EditError(f"{_fmt_path(e.path)} does not exist")
            return [Upsert(e.doc, tuple(e.path[:-1]), e.path[-1], value)]
        _check_unaliased(chain)
        slot = chain[-1]
        if slot.node.kind != "scalar":
            raise EditError(f"{_fmt_path(e.path)} is {slot.node.describe()}, not a scalar", slot.node.line + 1)
        return self.scalar_splices(slot, value)

    def set_image_tag(self, e: SetImageTag) -> list:
        chain, found = _locate(self.src, e.doc, e.path)
        node = chain[-1].node
        if found < len(e.path) or isinstance(node, _Alias) or node.kind != "scalar" or not isinstance(_value11(node), str):
            raise EditError(f"{_fmt_path(e.path)} is not an image reference string")
        return [SetScalar(e.doc, e.path, retag_image(_value11(node), e.version, line=node.line + 1))]

    def scalar_splices(self, slot: _Slot, value) -> list[Splice]:
        """Replace a scalar's text, keeping its quote style and its end-of-line comment's column."""
        node, src = slot.node, self.src
        if _equal_both(node, value):  # asking for what is there is fine even where writing is not
            return []
        if node.is_block_scalar:
            raise EditError("refusing to rewrite a block scalar (| or >); only EditEmbedded edits their content",
                            node.line + 1)
        if node.explicit_tag:
            raise EditError("refusing to rewrite an explicitly tagged scalar (!tag)", node.line + 1)
        like = node.value if not node.style else None
        style = node.style if isinstance(value, str) else ""
        quote = '"' if style or not isinstance(value, str) or yamltext.plain_is_string(value, flow=slot.in_flow) \
            else self.src.preferred_quote(slot.doc.index)
        text = yamltext.render_scalar(value, style=style, flow=slot.in_flow, preferred_quote=quote, like=like)
        if _is_empty_scalar(node):  # implicit null: `key:` → `key: value`
            return [(node.start, node.start, " " + text)]
        start = src.value_start(node)
        return [self._repad_comment(start, node.end, text)]

    def _repad_comment(self, start: int, end: int, text: str) -> Splice:
        """Keep an aligned end-of-line comment in its column when the value changes length."""
        line_end = self.src.line_end(end)
        if "\n" in self.text[start:end]:
            return (start, end, text)
        m = re.match(r" +(?=#)", self.text[end:line_end])
        if not m or len(m.group(0)) < 2:
            return (start, end, text)
        gap = len(m.group(0))
        new_gap = max(1, gap - (len(text) - (end - start)))
        return (start, end + gap, text + " " * new_gap)

    # ---- Upsert

    def upsert(self, e: Upsert) -> list:
        value = _normalize(e.value)
        chain, found = _locate(self.src, e.doc, e.path)
        if found < len(e.path):
            rest = tuple(e.path[found:])
            for step in rest:
                if isinstance(step, int) and not isinstance(step, bool):
                    raise EditError(f"{_fmt_path(e.path)}: sequence item {step} does not exist")
            nested = {e.key: value}
            for step in reversed(rest[1:]):
                nested = {step: nested}
            return self.upsert_into(chain, rest[0], nested)
        return self.upsert_into(chain, e.key, value)

    def upsert_into(self, chain: list[_Slot], key, value) -> list:
        _check_unaliased(chain)
        slot = chain[-1]
        node = slot.node
        if _is_null(node):
            return self.replace_value(slot, {key: value})
        if node.kind != "map":
            raise EditError(f"{_fmt_path(slot.path)} is {node.describe()}, not a mapping", node.line + 1)
        found = _find_key(node, key)
        if found is None:
            _check_not_merged(node, key, slot.path)
            return self.insert_key(slot, key, value)
        knode, vnode = found
        child = _Slot(vnode, node, knode, slot.doc, slot.path + (key,))
        _check_unaliased([child])
        if isinstance(value, dict) and vnode.kind == "map":
            return [Upsert(slot.doc.index, child.path, k, v) for k, v in value.items()]
        if _equal_both(vnode, value):
            return []
        if vnode.kind == "scalar" and not isinstance(value, (dict, list)):
            return self.scalar_splices(child, value)
        return self.replace_value(child, value)

    def insert_key(self, slot: _Slot, key, value) -> list[Splice]:
        mapping, r = slot.node, self.render(slot.doc)
        if mapping.flow and mapping.items:
            k, v = mapping.items[-1]
            pos = max(k.end, v.end)
            return [(pos, pos, f", {r.key(key, flow=True)}: {r.flow(value)}")]
        if mapping.flow:
            if slot.in_flow:
                return [(mapping.start, mapping.end, r.flow({key: value}))]
            return self.replace_value(slot, {key: value})
        col = mapping.items[0][0].col
        return [self.insert_after(mapping, r.entry(key, value, col), comment_col=col)]

    def insert_after(self, node, lines: list[str], comment_col: int | None = None) -> Splice:
        """Insert whole lines after the last line of `node`'s content, in the file's newline style.

        With `comment_col`, comment lines right after the content indented at least that much
        belong to the block (its last entry) and stay above the insertion; comments indented less,
        or after a blank line, stay below it.  A file without a final newline keeps having none.
        """
        leaf = self.src.last_leaf(node)
        if isinstance(leaf, _Node) and leaf.is_block_scalar and "+" in self.text[leaf.start: self.src.line_end(leaf.start)]:
            raise EditError("cannot insert after a keep-chomped block scalar (|+): its trailing blank lines are content",
                            leaf.line + 1)
        end = self.src.content_end(node)
        if comment_col is not None:
            end = self.src.trailing_comments(end, comment_col)
        nl = self.src.nl
        if self.src.line_end(end) == len(self.text):
            return (len(self.text), len(self.text), nl + nl.join(lines))
        pos = self.src.next_line_start(end)
        return (pos, pos, "".join(line + nl for line in lines))

    def replace_lines(self, first: int, last_content: int, lines: list[str]) -> Splice:
        start = max(self.src.line_start(first), self.src.offset)  # keep a byte-order mark
        nl = self.src.nl
        if self.src.line_end(last_content) == len(self.text):
            return (start, len(self.text), nl.join(lines))
        return (start, self.src.next_line_start(last_content), "".join(line + nl for line in lines))

    # ---- replacing a whole value

    def replace_value(self, slot: _Slot, value) -> list[Splice]:
        """Put `value` where `slot.node` is, whatever the old node's shape (null, scalar, {}, block)."""
        node = slot.node
        if isinstance(node, _Node) and node.is_block_scalar:
            raise EditError("refusing to replace a block scalar (| or >)", node.line + 1)
        _check_subtree_unshared(node)
        r = self.render(slot.doc)
        if slot.in_flow:
            return [(node.start, node.end, r.flow(value))]
        if not _is_block(value):
            if isinstance(node, _Node) and node.kind == "scalar":
                if isinstance(value, (dict, list)):
                    return self._inline_over_scalar(node, r.scalar(value))
                return self.scalar_splices(slot, value)
            return self._inline_over(slot, r.scalar(value))
        if slot.parent is None:
            return self._block_at_root(slot, value, r)
        if slot.parent.kind == "seq":
            return self._block_in_item(slot, value, r)
        return self._block_under_key(slot, value, r)

    def _inline_over_scalar(self, node: _Node, text: str) -> list[Splice]:
        if _is_empty_scalar(node):
            return [(node.start, node.start, " " + text)]
        return [(node.start, node.end, text)]

    def _inline_over(self, slot: _Slot, text: str) -> list[Splice]:
        """A one-line value where a collection was; a block one's lines go, the key line stays."""
        node, src = slot.node, self.src
        if isinstance(node, _Alias) or node.flow:
            return [(node.start, node.end, text)]
        end, body = src.content_end(node), src.body_start(node)
        if slot.parent is None or slot.parent.kind != "map":
            return [(body, end, text)]
        colon = src.colon_end(slot.key)
        after = self.text[colon: src.line_end(colon)].strip(" \t")
        if "\n" in self.text[colon:body] and (not after or after.startswith("#")):
            return [(colon, colon, " " + text), self._delete_lines(body, end)]  # keeps `key:  # comment`
        return [(colon, end, " " + text)]

    def _block_under_key(self, slot: _Slot, value, r: _Renderer) -> list[Splice]:
        node, key = slot.node, slot.key
        step = r.p.indent if isinstance(value, dict) else r.p.seq_offset
        lines = r.block(value, key.col + step)
        if isinstance(node, _Alias) or node.kind == "scalar" or node.flow:
            colon = self.src.colon_end(key)
            splices = [(colon, node.end, "")] if node.end > colon else []
            return splices + [self.insert_after(node, lines)]
        return [self.replace_lines(self.src.body_start(node), self.src.content_end(node), lines)]

    def _block_in_item(self, slot: _Slot, value, r: _Renderer) -> list[Splice]:
        node, seq = slot.node, slot.parent
        dash_col = self.src.col(self.src.dash_pos(seq))
        col = dash_col + 2
        lines = r.block(value, col)
        text = lines[0][col:] + "".join(self.src.nl + line for line in lines[1:])
        if _is_empty_scalar(node):
            return [(node.start, node.start, " " + text)]
        return [(self.src.body_start(node), self.src.content_end(node), text)]

    def _block_at_root(self, slot: _Slot, value, r: _Renderer) -> list[Splice]:
        node = slot.node
        start = self.src.body_start(node)
        if _is_empty_scalar(node) or self.src.col(start) != 0:
            raise EditError("cannot turn this document root into a block collection", node.line + 1)
        lines = r.block(value, 0)
        return [(start, self.src.content_end(node), self.src.nl.join(lines))]

    # ---- DeleteKey

    def delete_key(self, e: DeleteKey) -> list:
        chain, found = _locate(self.src, e.doc, e.path)
        slot = chain[-1]
        if found < len(e.path) or _is_null(slot.node):
            return []
        _check_unaliased(chain)
        node = slot.node
        if node.kind != "map":
            raise EditError(f"{_fmt_path(e.path)} is {node.describe()}, not a mapping", node.line + 1)
        _check_not_merged(node, e.key, e.path)  # deleting it would reveal (or cannot remove) the merged value
        pair = _find_key(node, e.key)
        if pair is None:
            return []
        _check_subtree_unshared(pair[1])
        if len(node.items) == 1:
            return self._delete_only_key(slot, *pair)
        j = next(i for i, (k, _v) in enumerate(node.items) if k is pair[0])
        if node.flow:
            return [self._delete_flow_pair(node, j)]
        return [self._delete_block_pair(node, j)]

    def _delete_only_key(self, slot: _Slot, k, v) -> list[Splice]:
        """The mapping becomes `{}`: `tls:` → `tls: {}` and the key's own lines go.

        Comments on the parent's line and on their own lines stay where they are.
        """
        src, node = self.src, slot.node
        if node.flow or slot.in_flow or slot.parent is None:
            return self.replace_value(slot, {})
        end = src.content_end(v)
        if not src.starts_line(k.start):  # `- only: key` → `- {}`
            return [(k.start, src.line_end(end), "{}")]
        if slot.parent.kind != "map":
            return self.replace_value(slot, {})
        colon = src.colon_end(slot.key)
        after = self.text[colon: src.line_end(colon)].strip(" \t")
        if after and not after.startswith("#"):  # `key: &anchor` — nowhere to put `{}` on that line
            return self.replace_value(slot, {})
        return [(colon, colon, " {}"), self._delete_lines(k.start, end)]

    def _delete_lines(self, start: int, end: int) -> Splice:
        """Remove the whole lines from `start`'s through `end`'s, keeping the final-newline state."""
        src = self.src
        first = max(src.line_start(start), src.offset)  # the first line keeps the byte-order mark
        if src.line_end(end) == len(self.text) and first > src.offset:  # last line, no final newline:
            keep = len(self.text[:first].rstrip(" \t\r\n"))  # also eat blank lines that would end the file
            return (src.line_end(keep), len(self.text), "")
        return (first, src.next_line_start(end), "")

    def _delete_flow_pair(self, mapping: _Node, j: int) -> Splice:
        k, v = mapping.items[j]
        if j + 1 < len(mapping.items):
            return (k.start, mapping.items[j + 1][0].start, "")
        pk, pv = mapping.items[j - 1]
        return (max(pk.end, pv.end), max(k.end, v.end), "")

    def _delete_block_pair(self, mapping: _Node, j: int) -> Splice:
        src = self.src
        k, v = mapping.items[j]
        end = src.content_end(v)
        if not src.starts_line(k.start):  # first key on a `- ` line: pull the next key up
            if j + 1 >= len(mapping.items):
                raise EditError("cannot delete this key: it shares its line with other content", k.line + 1)
            return (k.start, mapping.items[j + 1][0].start, "")
        return self._delete_lines(self._own_comments_start(mapping, j), end)

    def _own_comments_start(self, mapping: _Node, j: int) -> int:
        """Where the lines of entry j start, its own comment lines above it included.

        Comments above the first entry describe the whole block (a resource's header), and comments
        right under a multi-line sibling at the key column belong to that sibling's end
        (trailing_comments), so both stay.
        """
        src, k = self.src, mapping.items[j][0]
        if j == 0:
            return k.start
        prev_end = src.content_end(mapping.items[j - 1][1])
        top = src.leading_comments(k.start, k.col, src.next_line_start(prev_end))
        prev_multiline = src.line_start(prev_end) > src.line_start(mapping.items[j - 1][0].start)
        if prev_multiline and top == src.next_line_start(prev_end):
            return k.start
        return min(top, k.start)

    # ---- Append / SetEnv

    def append(self, e: Append) -> list:
        value = _normalize(e.value)
        chain, found = _locate(self.src, e.doc, e.path)
        if found < len(e.path):
            if not e.path or not isinstance(e.path[-1], str):
                raise EditError(f"{_fmt_path(e.path)} does not exist")
            return [Upsert(e.doc, tuple(e.path[:-1]), e.path[-1], [value])]
        _check_unaliased(chain)
        slot = chain[-1]
        node = slot.node
        if _is_null(node):
            return self.replace_value(slot, [value])
        if node.kind != "seq":
            raise EditError(f"{_fmt_path(e.path)} is {node.describe()}, not a sequence", node.line + 1)
        if e.unique and any(_equal_both(item, value) for item in node.items):
            return []
        return self.insert_item(slot, value)

    def insert_item(self, slot: _Slot, value) -> list[Splice]:
        seq, r = slot.node, self.render(slot.doc)
        if seq.flow and seq.items:
            pos = seq.items[-1].end
            return [(pos, pos, ", " + r.flow(value))]
        if seq.flow:
            if slot.in_flow:
                return [(seq.start, seq.end, r.flow([value]))]
            return self.replace_value(slot, [value])
        dash_col = self.src.col(self.src.dash_pos(seq))
        return [self.insert_after(seq, r.block([value], dash_col, self._item_offset(seq, dash_col)))]

    def _item_offset(self, seq: _Node, dash_col: int) -> int:
        """Columns from a dash to its item's text in this sequence (`- x` → 2, `-   x` → 4)."""
        for item in seq.items:
            if not isinstance(item, _Alias) and not _is_empty_scalar(item) and "\n" not in self.text[self.src.dash_pos(seq):item.start]:
                start = self.src.body_start(item)
                return max(2, self.src.col(start) - dash_col)
            break
        return 2

    def set_env(self, e: SetEnv) -> list:
        chain, found = _locate(self.src, e.doc, e.container)
        node = chain[-1].node
        if found < len(e.container) or isinstance(node, _Alias) or node.kind != "map":
            raise EditError(f"container {_fmt_path(e.container)} is not a mapping")
        pair = _find_key(node, "env")
        entry = {"name": e.name, "value": e.value}
        if pair is None or _is_null(pair[1]):
            return [Upsert(e.doc, tuple(e.container), "env", [entry])]
        env = _target(pair[1])
        if env.kind != "seq":
            raise EditError(f"{_fmt_path(e.container)}.env is {env.describe()}, not a list", env.line + 1)
        matches = [i for i, item in enumerate(env.items) if _env_name(item) == e.name]
        index = _single_env_match(matches, e.name, env.line + 1, [_value11(item) for item in env.items])
        if index is None:
            return [Append(e.doc, tuple(e.container) + ("env",), entry, unique=False)]
        return [Upsert(e.doc, tuple(e.container) + ("env", index), "value", e.value)]

    # ---- EditEmbedded

    def edit_embedded(self, e: EditEmbedded) -> list[Splice]:
        chain, found = _locate(self.src, e.doc, e.path)
        node = chain[-1].node
        if found < len(e.path) or isinstance(node, _Alias) or node.kind != "scalar":
            raise EditError(f"{_fmt_path(e.path)} is not an embedded YAML string")
        _check_unaliased(chain)
        block = _EmbeddedBlock(self.src, node)
        inner = _State(block.inner)
        try:
            for edit in e.edits:
                _apply_one(inner, edit)
        except EditError as exc:
            raise EditError(f"in the YAML embedded at {_fmt_path(e.path)}: {exc}",
                            None if exc.line is None else exc.line + block.header_line) from None
        return [block.outer_splice(s, t, text) for s, t, text in inner.pieces.changes()]


def _check_path(edit) -> None:
    path = edit.container if isinstance(edit, SetEnv) else edit.path
    if not isinstance(path, tuple) or not all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in path):
        raise EditError(f"path must be a tuple of keys and indexes, got {path!r}")


def _env_name(item) -> Any:
    item = _target(item)
    if item.kind != "map":
        return None
    pair = _find_key(item, "name")
    return _value11(pair[1]) if pair else None


def _single_env_match(matches: list[int], name: str, line: int | None, items: list) -> int | None:
    """Shared by the text engine and `apply_to_tree` so both refuse the same env lists."""
    if len(matches) > 1:
        raise EditError(f"env var {name} is defined {len(matches)} times; refusing to guess which one wins", line)
    if not matches:
        return None
    item = items[matches[0]]
    if isinstance(item, dict) and "valueFrom" in item:
        raise EditError(f"env var {name} is set from valueFrom; not replacing it with a literal value", line)
    return matches[0]


# ============================================================================ embedded YAML (block scalars)


class _EmbeddedBlock:
    """The text of a literal block scalar, de-indented, with a map back to outer positions.

    Inner splices are mapped line by line: a position at an inner line start maps to the outer
    line start (before the indentation), and every replacement line that starts a line gets the
    block's indentation back.  Newlines are kept raw, so a CRLF file stays CRLF inside too.
    """

    def __init__(self, src: _Source, node: _Node):
        text = src.text
        header_end = src.line_end(node.start)
        header = text[src.value_start(node): header_end].split("#")[0].strip()
        if node.style != "|" or any(ch.isdigit() for ch in header):
            raise EditError("embedded YAML must be a literal block scalar (`|`, `|-`, `|+`) without an indentation "
                            "indicator", node.line + 1)
        self.src, self.header_line = src, node.line + 1
        start = src.next_line_start(node.start)
        self.indent = self._indent(text, start, node.end)
        self.outer_starts: list[int] = []
        self.inner_starts: list[int] = []
        self.stripped: list[int] = []
        parts = []
        pos, inner_len, self.outer_end, self.inner_end = start, 0, start, 0
        while pos < node.end:
            nxt = src.next_line_start(pos)
            raw = text[pos:nxt]
            strip = min(self.indent, len(raw) - len(raw.lstrip(" ")))
            if raw.strip() and strip < self.indent:
                break  # a less indented line (a comment) is not part of the scalar
            self.outer_starts.append(pos)
            self.inner_starts.append(inner_len)
            self.stripped.append(strip)
            parts.append(raw[strip:])
            inner_len += len(raw) - strip
            if raw.strip():
                self.outer_end, self.inner_end = nxt, inner_len
            pos = nxt
        self.inner = "".join(parts)[: self.inner_end]

    @staticmethod
    def _indent(text: str, start: int, end: int) -> int:
        for line in text[start:end].splitlines():
            if line.strip():
                return len(line) - len(line.lstrip(" "))
        return 0

    def outer(self, p: int) -> int:
        if p >= len(self.inner):
            return self.outer_end
        i = bisect.bisect_right(self.inner_starts, p) - 1
        if p == self.inner_starts[i]:
            return self.outer_starts[i]
        return self.outer_starts[i] + self.stripped[i] + (p - self.inner_starts[i])

    def outer_splice(self, start: int, end: int, text: str) -> Splice:
        pad = " " * self.indent
        at_line_start = start >= len(self.inner) or start in self.inner_starts
        pieces = text.split("\n")
        out = []
        for n, piece in enumerate(pieces):
            starts_line = at_line_start if n == 0 else True
            out.append(pad + piece if starts_line and piece.strip("\r") else piece)
        return (self.outer(start), self.outer(end), "\n".join(out))


# ============================================================================ applying splices


class _Pieces:
    """A piece table over the original text, so spans can be reported in original coordinates."""

    def __init__(self, text: str):
        self.original = text
        self.text = text
        self.pieces: list = [(0, len(text))] if text else []

    def apply(self, splices: list[Splice]) -> None:
        ordered = sorted(enumerate(splices), key=lambda p: (p[1][0], p[1][1], p[0]), reverse=True)
        last_start = None
        for _i, (start, end, new) in ordered:
            if last_start is not None and end > last_start:
                raise AssertionError("overlapping splices")  # pragma: no cover - a planner bug
            if "{{" in self.text[start:end]:  # `}}` alone is just nested flow mappings
                raise EditError("refusing to edit text inside a Helm template action ({{ ... }})",
                                self.text.count("\n", 0, start) + 1)
            if self.text[start:end] != new:
                self._splice(start, end, new)
            last_start = start
        self.text = "".join(self.original[p[0]:p[1]] if isinstance(p, tuple) else p for p in self.pieces)

    def _splice(self, start: int, end: int, new: str) -> None:
        """Replace current-text range [start, end) by `new`, splitting pieces at the edges."""
        out, pos, inserted = [], 0, False
        for piece in self.pieces:
            length = piece[1] - piece[0] if isinstance(piece, tuple) else len(piece)
            a, b = pos, pos + length
            pos = b
            if b <= start:  # entirely before (an insertion at `b` goes after it)
                out.append(piece)
                continue
            if a < start:
                out.append(_cut(piece, 0, start - a))
            if not inserted:
                out.append(new)
                inserted = True
            if b > end:
                out.append(_cut(piece, max(end - a, 0), length))
        if not inserted:
            out.append(new)
        self.pieces = [p for p in out if (p[1] > p[0] if isinstance(p, tuple) else p)]

    def changes(self) -> list[Splice]:
        """`(original start, original end, replacement)` for every changed region."""
        out, pos, pending, dirty = [], 0, [], False
        for piece in self.pieces:
            if isinstance(piece, str):
                pending.append(piece)
                dirty = True
                continue
            if dirty or piece[0] != pos:
                out.append((pos, piece[0], "".join(pending)))
            pos, pending, dirty = piece[1], [], False
        if dirty or pos != len(self.original):
            out.append((pos, len(self.original), "".join(pending)))
        return out


def _cut(piece, a: int, b: int):
    if isinstance(piece, tuple):
        return (piece[0] + a, piece[0] + b)
    return piece[a:b]


class _State:
    """The text being edited: its piece table plus document spans kept in step with each splice."""

    def __init__(self, text: str):
        self.pieces = _Pieces(text)
        self._spans: list[tuple[int, int]] | None = None
        self._source: _Source | None = None

    @property
    def text(self) -> str:
        return self.pieces.text

    def source(self) -> _Source:
        if self._source is None:
            self._source = _Source(self.text, self._spans)
            self._spans = self._source.spans
        return self._source

    def apply(self, doc: int, splices: list[Splice]) -> None:
        """Splice, then shift the spans of the documents after `doc` by the change in length."""
        spans, text = self._spans, self.text
        inside = spans is not None and 0 <= doc < len(spans) and all(
            text.rfind("\n", 0, spans[doc][0]) + 1 <= a and b <= spans[doc][1] for a, b, _t in splices)
        self.pieces.apply(splices)
        self._source = None
        if not inside:
            self._spans = None  # pragma: no cover - planners only splice inside the document
            return
        delta = len(self.text) - len(text)
        start, end = spans[doc]
        self._spans = spans[:doc] + [(start, end + delta)] + [(a + delta, b + delta) for a, b in spans[doc + 1:]]


def _apply_one(state: _State, edit, depth: int = 0) -> None:
    if depth > 50:  # pragma: no cover - sub-edits always go deeper into a finite value
        raise EditError("edit expands without end")
    plan = _Planner(state.source()).plan(edit)
    if plan and not isinstance(plan[0], tuple):
        for sub in plan:
            _apply_one(state, sub, depth + 1)
    elif plan:
        state.apply(edit.doc, plan)


# ============================================================================ public functions


def apply_edits(text: str, edits: Sequence[Edit]) -> EditResult:
    """Apply `edits` in order; every edit sees the result of the previous ones.

    Raises EditError (and produces nothing) if any edit is refused: a file is rewritten entirely
    as asked, or not at all.
    """
    state = _State(text)
    for edit in edits:
        _apply_one(state, edit)
    pieces = state.pieces
    if pieces.text == text:
        return EditResult(text, False, [])
    return EditResult(pieces.text, True, [(s, e) for s, e, _ in pieces.changes()])


def find_document(text: str, kind: str, name: str, namespace: str | None = None) -> int:
    """Index of the one document with this kind and metadata.name (and namespace, if given)."""
    _offset, docs = _compose(text)
    hits = []
    for doc in docs:
        root = doc.root
        if not (isinstance(root, _Node) and root.kind == "map"):
            continue
        try:
            value = _value11(root)
        except EditError:
            continue  # a document nobody can read is not the one being looked for
        meta = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
        if value.get("kind") == kind and meta.get("name") == name and (namespace is None or meta.get("namespace") == namespace):
            hits.append(doc.index)
    what = f"{kind} {namespace + '/' if namespace else ''}{name}"
    if not hits:
        raise EditError(f"no document is {what}")
    if len(hits) > 1:
        raise EditError(f"{len(hits)} documents are {what} (documents {', '.join(str(h) for h in hits)}); ambiguous")
    return hits[0]


_VERSION_RE = re.compile(r"^(v?)(\d+(?:\.\d+)*(?:-(?:alpha|beta|rc)(?:\.?\d+)*)?)(.*)$")


def retag_image(ref: str, version: str, *, line: int | None = None) -> str:
    """`docker.io/istio/proxyv2:1.22.3-distroless` + `1.24.1` → `…:1.24.1-distroless`.

    `version` is the bare version; a `v` prefix follows the image's own convention (the old tag).
    A digest pins exact bytes, so changing the tag next to it would be a lie: refused.  A tag
    that does not start with a version (`latest`) has nothing to replace: refused.
    """
    if "@" in ref:
        raise EditError(f"image {ref} is pinned by digest; refusing to change its tag", line)
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon <= slash:
        return f"{ref}:{version}"
    name, tag = ref[:colon], ref[colon + 1:]
    m = _VERSION_RE.match(tag)
    if not m:
        raise EditError(f"image tag {tag!r} has no version to replace", line)
    prefix, _old, suffix = m.groups()
    return f"{name}:{prefix}{version.removeprefix('v')}{suffix}"


# ============================================================================ the same edits on plain trees


def apply_to_tree(tree: Any, edit: Edit) -> Any:
    """Apply `edit` to `tree`, the list of documents a loader returned; returns a new list.

    The input is never mutated; documents the edit does not target are shared with it, not copied
    (a gate over hundreds of documents would otherwise spend its time in deepcopy).

    This is the specification `apply_edits` is checked against (migrator.verify): same creation
    rules, same refusals where a tree can tell.  Equality here is in the reader's own view; the
    text engine only skips a write when the value is equal for both YAML 1.1 and 1.2 readers,
    which gives the same tree either way.
    """
    docs = list(tree)
    if isinstance(edit.doc, bool) or not isinstance(edit.doc, int) or not 0 <= edit.doc < len(docs):
        raise EditError(f"document index {edit.doc!r} out of range: the file has {len(docs)} document(s)")
    _check_path(edit)
    holder = [copy.deepcopy(docs[edit.doc])]
    _TREE_HANDLERS[type(edit)](holder, edit)
    docs[edit.doc] = holder[0]
    return docs


def _tree_walk(holder: list, path: Sequence, *, create: bool):
    """(container, key) of the last path element; None when absent and not creating."""
    parent, key = holder, 0
    for i, step in enumerate(path):
        node = parent[key]
        if node is None and create and isinstance(step, str):
            node = parent[key] = {}
        if isinstance(node, dict):
            if step not in node or (node[step] is None and i + 1 < len(path) and create):
                if not create:
                    return None
                if i + 1 < len(path) and not isinstance(path[i + 1], str):
                    raise EditError(f"{_fmt_path(path)}: sequence item {path[i + 1]} does not exist")
                node.setdefault(step, None)
            parent, key = node, step
        elif isinstance(node, list):
            if isinstance(step, bool) or not isinstance(step, int):
                raise EditError(f"{_fmt_path(path[:i])} is a sequence; path element {step!r} is not an index")
            index = step + len(node) if step < 0 else step
            if not 0 <= index < len(node):
                raise EditError(f"index {step} out of range: {_fmt_path(path[:i])} has {len(node)} item(s)")
            parent, key = node, index
        elif node is None and not create:
            return None
        else:
            raise EditError(f"path {_fmt_path(path)} traverses a scalar at {_fmt_path(path[:i])}")
    return parent, key


def _tree_container(holder: list, path: Sequence) -> dict:
    parent, key = _tree_walk(holder, path, create=True)
    if parent[key] is None:
        parent[key] = {}
    if not isinstance(parent[key], dict):
        raise EditError(f"{_fmt_path(path)} is not a mapping")
    return parent[key]


def _merge(target: dict, key, value) -> None:
    if isinstance(value, dict) and isinstance(target.get(key), dict):
        for k, v in value.items():
            _merge(target[key], k, v)
    else:
        target[key] = copy.deepcopy(value)


def _tree_set_scalar(holder: list, e: SetScalar) -> None:
    value = _normalize(e.value)
    if isinstance(value, (dict, list)) or not e.path:
        raise EditError("SetScalar takes a scalar value and a non-empty path")
    found = _tree_walk(holder, e.path, create=False)
    if found is None:
        _tree_container(holder, e.path[:-1])[e.path[-1]] = value
        return
    parent, key = found
    if isinstance(parent[key], (dict, list)):
        raise EditError(f"{_fmt_path(e.path)} is not a scalar")
    parent[key] = value


def _tree_upsert(holder: list, e: Upsert) -> None:
    _merge(_tree_container(holder, e.path), e.key, _normalize(e.value))


def _tree_delete(holder: list, e: DeleteKey) -> None:
    found = _tree_walk(holder, e.path, create=False)
    if found is None:
        return
    parent, key = found
    node = parent[key]
    if node is None:
        return
    if not isinstance(node, dict):
        raise EditError(f"{_fmt_path(e.path)} is not a mapping")
    node.pop(e.key, None)


def _tree_append(holder: list, e: Append) -> None:
    value = _normalize(e.value)
    found = _tree_walk(holder, e.path, create=False)
    if found is None:
        if not e.path or not isinstance(e.path[-1], str):
            raise EditError(f"{_fmt_path(e.path)} does not exist")
        _tree_container(holder, e.path[:-1])[e.path[-1]] = [value]
        return
    parent, key = found
    if parent[key] is None:
        parent[key] = [value]
    elif not isinstance(parent[key], list):
        raise EditError(f"{_fmt_path(e.path)} is not a sequence")
    elif not (e.unique and any(_strict_eq(item, value) for item in parent[key])):
        parent[key].append(value)


def _tree_set_env(holder: list, e: SetEnv) -> None:
    found = _tree_walk(holder, e.container, create=False)
    if found is None or not isinstance(found[0][found[1]], dict):
        raise EditError(f"container {_fmt_path(e.container)} is not a mapping")
    container = found[0][found[1]]
    env = container.get("env")
    entry = {"name": e.name, "value": e.value}
    if env is None:
        container["env"] = [entry]
        return
    if not isinstance(env, list):
        raise EditError(f"{_fmt_path(e.container)}.env is not a list")
    matches = [i for i, item in enumerate(env) if isinstance(item, dict) and item.get("name") == e.name]
    index = _single_env_match(matches, e.name, None, env)
    if index is None:
        env.append(entry)
    else:
        env[index]["value"] = e.value


def _tree_set_image_tag(holder: list, e: SetImageTag) -> None:
    found = _tree_walk(holder, e.path, create=False)
    if found is None or not isinstance(found[0][found[1]], str):
        raise EditError(f"{_fmt_path(e.path)} is not an image reference string")
    found[0][found[1]] = retag_image(found[0][found[1]], e.version)


def _tree_edit_embedded(holder: list, e: EditEmbedded) -> None:
    found = _tree_walk(holder, e.path, create=False)
    if found is None or not isinstance(found[0][found[1]], str):
        raise EditError(f"{_fmt_path(e.path)} is not an embedded YAML string")
    found[0][found[1]] = apply_edits(found[0][found[1]], e.edits).text


_TREE_HANDLERS = {SetScalar: _tree_set_scalar, Upsert: _tree_upsert, DeleteKey: _tree_delete, Append: _tree_append,
                  SetEnv: _tree_set_env, SetImageTag: _tree_set_image_tag, EditEmbedded: _tree_edit_embedded}


# ============================================================================ where an edit may change text


def edit_regions(text: str, edits: Sequence[Edit]) -> list[tuple[int, int]]:
    """Ranges of `text` that `edits` are allowed to touch, found without rendering anything.

    `migrator.verify` uses them as an independent bound: bytes outside every region must survive
    a rewrite unchanged.  A region is the whole lines of the deepest existing node an edit aims
    at (including the line of its key), through the start of the line after its content, where
    insertions land.
    """
    src = _Source(text)
    regions = []
    for edit in edits:
        path = tuple(edit.container if isinstance(edit, SetEnv) else edit.path)
        if isinstance(edit, SetScalar) and path:
            path = path[:-1]
        try:
            chain, _found = _locate(src, edit.doc, path)
        except EditError:
            continue
        regions.append(_slot_region(src, chain))
    return sorted(regions)


def _slot_region(src: _Source, chain: list[_Slot]) -> tuple[int, int]:
    slot = chain[-1]
    node = slot.node
    owner = slot.key.start if slot.parent is not None and slot.parent.kind == "map" else node.start
    if slot.parent is not None and slot.parent.kind == "seq":
        owner = min(owner, src.dash_pos(slot.parent))
    if slot.parent is None:
        owner = min(owner, slot.doc.start)
    end = src.content_end(node)
    if isinstance(node, _Node) and node.is_block_scalar:  # its end mark is the next token's line start
        end = max(end, node.end - 1)
    if isinstance(node, _Node) and node.kind == "map" and node.items and not node.flow:
        end = src.trailing_comments(end, node.items[0][0].col)  # insert_key lands below the block's own comments
    return (src.line_start(owner), src.next_line_start(end))
