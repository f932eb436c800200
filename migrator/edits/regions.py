"""Where an edit may change text: the regions the verification gate allows to differ."""

from __future__ import annotations

from collections.abc import Sequence

from migrator.edits.compose import _Node, _Slot
from migrator.edits.locate import _locate
from migrator.edits.operations import Edit, EditError, SetEnv, SetScalar
from migrator.edits.source import _Source


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
