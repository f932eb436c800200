"""YAML embedded in a literal block scalar (e.g. Argo CD ``helm.values``): edited as its own text.

The block is de-indented, edited with the same engine, and every splice is mapped back to the outer
text's positions and indentation.
"""

from __future__ import annotations

import bisect

from migrator.edits.compose import _Node
from migrator.edits.operations import EditError
from migrator.edits.pieces import Splice
from migrator.edits.source import _Source


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
