"""The text being edited: line and column arithmetic, comments, and the document's own style.

New text must look like its neighbours (indentation, sequence offsets, quote style), and splices must
know where a node's text really ends (libyaml's end marks point past comments), so `_Source`
answers those questions about one text and caches its composed documents.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass

import yaml

from migrator.edits.compose import _Alias, _Composer, _Doc, _Node, _bom, _compose, _scan_spans
from migrator.edits.guards import _check_document, _walk
from migrator.edits.operations import EditError


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
