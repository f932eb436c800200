"""Rendering new values as YAML text in the profile (indentation, quotes) of the file being edited."""

from __future__ import annotations

from migrator import yamltext
from migrator.edits.operations import EditError
from migrator.edits.source import _Profile


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
