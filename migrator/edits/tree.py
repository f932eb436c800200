"""The same edits on plain trees: the specification `apply_edits` is checked against.

`migrator.verify` loads the old text, applies the edits here, and compares with what the text engine
wrote; so the creation rules and refusals mirror the text engine's.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from migrator.edits.apply import apply_edits
from migrator.edits.guards import _check_path, _single_env_match
from migrator.edits.images import retag_image
from migrator.edits.operations import (Append, DeleteKey, Edit, EditEmbedded, EditError, SetEnv, SetImageTag,
                                       SetScalar, Upsert, _fmt_path)
from migrator.edits.values import _normalize, _strict_eq


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
