"""What a node means to a reader, under YAML 1.1 (PyYAML, Go decoders) and YAML 1.2 (ruamel).

An edit is skipped only when the value is already equal for both readers, and new values are
checked to be writable; both need the node's value in each reader's own view.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import yaml

from migrator import yamltext
from migrator.edits.compose import _UNSET, _Alias, _Node, _is_merge_key
from migrator.edits.operations import EditError


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


def _find_key(mapping: _Node, key) -> tuple | None:
    for k, v in mapping.items:
        if isinstance(k, _Node) and k.kind == "scalar" and not _is_merge_key(k) and _strict_eq(_value11(k), key):
            return k, v
    return None
