"""Refusals: documents and targets that cannot be edited without changing what some reader sees.

Duplicate keys, complex keys (how Helm template actions read), alias bombs, keys supplied by a ``<<``
merge, anchored or aliased targets and ambiguous env lists are refused here, with a line number,
instead of being edited into something that means different things to different readers.
"""

from __future__ import annotations

from migrator.edits.compose import _Alias, _Doc, _Node, _Slot, _is_merge_key
from migrator.edits.operations import EditError, SetEnv, _fmt_path
from migrator.edits.values import _find_key, _hashable, _target, _value11


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


def _check_path(edit) -> None:
    path = edit.container if isinstance(edit, SetEnv) else edit.path
    if not isinstance(path, tuple) or not all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in path):
        raise EditError(f"path must be a tuple of keys and indexes, got {path!r}")


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
