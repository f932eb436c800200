"""Applying splices: a piece table that keeps every change mapped back to the original text.

Edits run one after another on the newest text, but `EditResult.spans` must be in the original
text's coordinates; the piece table tracks both.
"""

from __future__ import annotations

from migrator.edits.operations import EditError

Splice = tuple[int, int, str]


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
