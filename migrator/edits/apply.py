"""Planning and applying edits: each edit kind becomes the smallest set of text splices.

`_Planner` decides the splices of one edit on the current text; `apply_edits` applies the edits one
after the other on freshly composed text, all or nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from migrator import yamltext
from migrator.edits.compose import _Alias, _Doc, _Node, _Slot
from migrator.edits.embedded import _EmbeddedBlock
from migrator.edits.guards import (_check_not_merged, _check_path, _check_subtree_unshared, _check_unaliased,
                                   _single_env_match)
from migrator.edits.images import retag_image
from migrator.edits.locate import _env_name, _locate
from migrator.edits.operations import (Append, DeleteKey, Edit, EditEmbedded, EditError, EditResult, SetEnv,
                                       SetImageTag, SetScalar, Upsert, _fmt_path)
from migrator.edits.pieces import _Pieces, Splice
from migrator.edits.render import _Renderer, _is_block
from migrator.edits.source import _Source
from migrator.edits.values import _equal_both, _find_key, _is_empty_scalar, _is_null, _normalize, _target, _value11


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
            self._check_not_ending_a_scalar(leaf, len(self.text), "gain")
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
        splice = self._delete_lines(self._own_comments_start(mapping, j), end)
        if j > 0 and splice[1] == len(self.text) and splice[0] < len(self.text):  # the file will end where entry j-1 does
            self._check_not_ending_a_scalar(src.last_leaf(mapping.items[j - 1][1]), src.line_end(splice[0]), "lose")
        return splice

    def _check_not_ending_a_scalar(self, leaf, last_line_end: int, what: str) -> None:
        """Refuse an edit at the end of a file without a final newline when a block scalar (| or >, not
        |-) ends on that last line: the line break after it is part of its value, so adding a line
        after it would give the value one, and deleting the lines after it would take it away."""
        if not (isinstance(leaf, _Node) and leaf.is_block_scalar):
            return
        if self.src.line_end(self.src.content_end(leaf)) != last_line_end:
            return
        header = self.text[leaf.start: self.src.line_end(leaf.start)].split("#", 1)[0]
        if "-" not in header:
            raise EditError(f"cannot edit after this block scalar: it ends a file that has no final newline, and its "
                            f"value would {what} a line break (add the final newline, or use |-)", leaf.line + 1)

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
