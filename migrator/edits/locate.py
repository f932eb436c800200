"""Finding the node an edit targets: walking a path through a document, and finding a document by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from migrator.edits.compose import _Alias, _Node, _Slot, _compose
from migrator.edits.guards import _check_not_merged
from migrator.edits.operations import EditError, _fmt_path
from migrator.edits.source import _Source
from migrator.edits.values import _find_key, _is_null, _target, _value11


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


def _env_name(item) -> Any:
    item = _target(item)
    if item.kind != "map":
        return None
    pair = _find_key(item, "name")
    return _value11(pair[1]) if pair else None


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
