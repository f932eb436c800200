"""Property tests for the ten invariants of yaml-editing.md §6 (plus "no ambiguous plain scalars").

Inputs are multi-document Kubernetes-like streams rendered by the small renderer below with a random
style profile (indent 2/4, dash offset 0/indent, quote style, null and bool spelling, CRLF, BOM,
final newline, leading `---`, `...`, a `%YAML` directive, blank lines, uniquely numbered comments,
flow collections, anchors/aliases, nasty scalars).  Because we render the text ourselves we know
the tree it means, independently of the engine; each test checks one invariant against that.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import zlib
from pathlib import Path
from dataclasses import dataclass, field

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from migrator import yamltext
from migrator import edits as engine
from migrator.edits import Append, DeleteKey, EditError, SetScalar, Upsert
from migrator.verify import verify_rewrite

SETTINGS = settings(max_examples=int(os.environ.get("PROP_EXAMPLES", "100")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: what the engine refuses by design and the generated streams can reach: an edit at the end of a file
#: without a final newline that would change the clip block scalar ending it (edits/apply.py
#: _check_not_ending_a_scalar; tests/test_edits.py pins exactly when)
DESIGNED_REFUSALS = ("would gain a line break", "would lose a line break")


def apply_edits(text: str, edits: list):
    """The engine's apply_edits, with an example it refuses by design discarded rather than failed.
    Every other refusal propagates, so `pytest.raises` checks and the invariants still see it."""
    try:
        return engine.apply_edits(text, edits)
    except EditError as exc:
        if any(reason in str(exc) for reason in DESIGNED_REFUSALS):
            assume(False)
        raise

# ------------------------------------------------------------------------------------ the model

SAFE = ["web", "payments", "api.example.com", "SIMPLE", "ISTIO_MUTUAL", "/etc/certs/ca.pem", "500m",
        "istio-system", "v1", "docker.io/istio/proxyv2:1.22.3-distroless"]
NASTY = ["yes", "on", "N", "y", "Off", "0755", "0o644", "1e3", "1.10", "12:30", "2024-01-01", "a: b", "#x", "*x",
         "&x", "!x", " lead", "trail ", "emoji 😀", "é", "", "null", "~", "true", "-", "- x", "? q", "x #y", "it's",
         'say "hi"', "back\\slash", "multi\nline", "tab\there", "x" * 151 + " end", "{a}", "[b]", "%p", "@at",
         "`tick", ",c", "=", "<<"]
KEYS = ["name", "image", "mode", "sni", "port", "host", "labels", "app", "tier", "env", "values", "config", "data",
        "items", "alpha", "beta", "gamma", "app.kubernetes.io/name", "maxRequestsPerConnection"]
NEW_KEYS = ["insecureSkipVerify", "caCertificates", "added", "extra", "VERIFY_CERTIFICATE_AT_CLIENT", "on", "n"]
SCALAR_VALUES = SAFE + NASTY + [0, 1, 8080, -3, True, False, None, 1.5, 0.25]
DEMO_KEYS = ("anchored", "aliasing")  # the anchor/alias pair: edits must refuse to touch them
BOOLS = {"lower": ("true", "false"), "title": ("True", "False"), "upper": ("TRUE", "FALSE")}


@dataclass
class S:
    value: object
    text: str
    lines: tuple = ()  # a multi-line scalar: block (`|`, `|-`) header in `text`, or folded plain words


@dataclass
class M:
    entries: list
    flow: bool = False


@dataclass
class L:
    items: list
    flow: bool = False


@dataclass
class Profile:
    indent: int
    dash: int
    quote: str
    null: str
    bools: str
    crlf: bool
    bom: bool
    final_newline: bool
    leading_marker: bool
    explicit_end: bool
    directive: bool
    comments: bool
    blank_lines: bool
    anchors: bool


def plain(node) -> object:
    """The Python value a node means (both YAML views agree by construction)."""
    if isinstance(node, S):
        return node.value
    if isinstance(node, M):
        return {k: plain(v) for k, v in node.entries}
    if isinstance(node, L):
        return [plain(v) for v in node.items]
    raise TypeError(node)


def spell_str(s: str, quote: str) -> str:
    """The test's own quoting, independent of migrator.yamltext (JSON strings are YAML)."""
    if quote == "'" and not re.search(r"[\x00-\x1f\x7f-\x9f]", s):
        return "'" + s.replace("'", "''") + "'"
    return json.dumps(s, ensure_ascii=False)


@st.composite
def profiles(draw) -> Profile:
    indent = draw(st.sampled_from([2, 4]))
    return Profile(indent=indent, dash=draw(st.sampled_from([0, indent])), quote=draw(st.sampled_from(['"', "'", "mixed"])),
                   null=draw(st.sampled_from(["~", "null", ""])), bools=draw(st.sampled_from(sorted(BOOLS))),
                   crlf=draw(st.booleans()), bom=draw(st.booleans()), final_newline=draw(st.booleans()),
                   leading_marker=draw(st.booleans()), explicit_end=draw(st.booleans()), directive=draw(st.booleans()),
                   comments=draw(st.booleans()), blank_lines=draw(st.booleans()), anchors=draw(st.booleans()))


WORDS = ["alpha", "beta", "gamma", "x: y", "# not a comment", "- item"]


@st.composite
def scalars(draw, prof: Profile, flow: bool = False) -> S:
    kind = draw(st.sampled_from(["str", "str", "str", "int", "bool", "null", "float"] + ([] if flow else ["multi"])))
    if kind == "multi":
        words = tuple(draw(st.lists(st.sampled_from(WORDS), min_size=2, max_size=3)))
        header = draw(st.sampled_from(["|", "|-", "plain"]))
        if header == "plain":
            words = tuple(w for w in words if w.isalpha()) or ("alpha", "beta")
            words = words if len(words) > 1 else words + ("beta",)
            return S(" ".join(words), "", words)
        return S("\n".join(words) + ("\n" if header == "|" else ""), header, words)
    if kind == "str":
        s = draw(st.sampled_from(SAFE + NASTY))
        quote = draw(st.sampled_from(['"', "'"])) if prof.quote == "mixed" else prof.quote
        if s in SAFE and draw(st.booleans()):
            return S(s, s)
        return S(s, spell_str(s, quote))
    if kind == "int":
        v = draw(st.integers(0, 70000))
        return S(v, str(v))
    if kind == "bool":
        v = draw(st.booleans())
        return S(v, BOOLS[prof.bools][0 if v else 1])
    if kind == "float":
        v = draw(st.sampled_from([0.5, 1.5, 2.25, 100.0]))
        return S(v, repr(v))
    return S(None, "null" if flow and not prof.null else prof.null)


@st.composite
def flows(draw, prof: Profile):
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(KEYS), max_size=3, unique=True))
        return M([(k, draw(scalars(prof, flow=True))) for k in keys], flow=True)
    return L(draw(st.lists(scalars(prof, flow=True), max_size=3)), flow=True)


@st.composite
def values(draw, prof: Profile, depth: int):
    choice = draw(st.integers(0, 9)) if depth > 0 else 0
    if choice < 5:
        return draw(scalars(prof))
    if choice < 7:
        return draw(maps(prof, depth - 1))
    if choice < 9:
        items = draw(st.lists(st.one_of(scalars(prof), maps(prof, depth - 1)), min_size=1, max_size=3))
        return L(items)
    return draw(flows(prof))


@st.composite
def maps(draw, prof: Profile, depth: int) -> M:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=4, unique=True))
    return M([(k, draw(values(prof, depth))) for k in keys])


@st.composite
def documents(draw, prof: Profile, index: int) -> M:
    kind = draw(st.sampled_from(["DestinationRule", "Deployment", "ConfigMap", "IstioOperator"]))
    meta = M([("name", S(f"doc{index}", f"doc{index}"))] +
             ([("labels", draw(maps(prof, 0)))] if draw(st.booleans()) else []))
    entries = [("apiVersion", S("v1", "v1")), ("kind", S(kind, kind)), ("metadata", meta),
               ("spec", draw(maps(prof, 2)))]
    return M(entries)


@dataclass
class Stream:
    prof: Profile
    docs: list
    text: str = ""
    anchored: set = field(default_factory=set)


@st.composite
def streams(draw) -> Stream:
    prof = draw(profiles())
    docs = [draw(documents(prof, i)) for i in range(draw(st.integers(1, 3)))]
    stream = Stream(prof, docs)
    stream.text = Renderer(prof, random.Random(draw(st.integers(0, 2 ** 32)))).render(docs)
    return stream


class Renderer:
    """Block/flow YAML text for the model, with comments numbered in document order."""

    def __init__(self, prof: Profile, rnd: random.Random):
        self.p, self.rnd, self.n = prof, rnd, 0
        self.lines: list[str] = []

    def comment(self) -> str:
        self.n += 1
        return f"# c{self.n}"

    def maybe_eol(self) -> str:
        return "  " + self.comment() if self.p.comments and self.rnd.random() < 0.3 else ""

    def maybe_gap(self, col: int) -> None:
        if self.p.blank_lines and self.rnd.random() < 0.15:
            self.lines.append("")
        if self.p.comments and self.rnd.random() < 0.2:
            self.lines.append(" " * col + self.comment())

    def flow(self, node) -> str:
        if isinstance(node, S):
            return node.text
        if isinstance(node, M):
            return "{" + ", ".join(f"{k}: {self.flow(v)}" for k, v in node.entries) + "}"
        return "[" + ", ".join(self.flow(v) for v in node.items) + "]"

    def mapping(self, node: M, col: int, first_prefix: str | None = None) -> None:
        for i, (key, value) in enumerate(node.entries):
            prefix = first_prefix if (i == 0 and first_prefix is not None) else " " * col
            if not (i == 0 and first_prefix is not None):
                self.maybe_gap(col)
            self.entry(prefix, key, value, col)

    def multi(self, head: str, node: S, col: int) -> None:
        """A block scalar (`key: |` + indented lines) or a plain scalar folded over lines."""
        pad = " " * (col + self.p.indent)
        if node.text:
            self.lines.append(f"{head} {node.text}{self.maybe_eol()}")
            self.lines.extend(pad + line for line in node.lines)
            self.clip_tail = (len(self.lines), node) if node.text == "|" else None
        else:
            self.lines.append(f"{head} {node.lines[0]}")
            self.lines.extend(pad + w for w in node.lines[1:-1])
            self.lines.append(pad + node.lines[-1] + self.maybe_eol())

    def entry(self, prefix: str, key: str, value, col: int) -> None:
        if isinstance(value, S) and value.lines:
            self.multi(f"{prefix}{key}:", value, col)
        elif isinstance(value, S):
            sep = ":" if value.text == "" else ": "
            self.lines.append(f"{prefix}{key}{sep}{value.text}{self.maybe_eol()}")
        elif value.flow or not (value.entries if isinstance(value, M) else value.items):
            self.lines.append(f"{prefix}{key}: {self.flow(value)}{self.maybe_eol()}")
        elif isinstance(value, M):
            self.lines.append(f"{prefix}{key}:{self.maybe_eol()}")
            self.mapping(value, col + self.p.indent)
        else:
            self.lines.append(f"{prefix}{key}:{self.maybe_eol()}")
            self.sequence(value, col + self.p.dash)

    def sequence(self, node: L, col: int) -> None:
        for item in node.items:
            if isinstance(item, S) and item.lines:
                self.multi(f"{' ' * col}-", item, col)
            elif isinstance(item, S):
                text = item.text if item.text != "" else "null"
                self.lines.append(f"{' ' * col}- {text}{self.maybe_eol()}")
            elif isinstance(item, M) and item.entries and not item.flow:
                self.mapping(item, col + 2, first_prefix=" " * col + "- ")
            else:
                self.lines.append(f"{' ' * col}- {self.flow(item)}")

    def render(self, docs: list[M]) -> str:
        p = self.p
        for i, doc in enumerate(docs):
            if i == 0 and p.directive:
                self.lines.append("%YAML 1.1")
            if i > 0 or p.leading_marker or p.directive:
                self.lines.append("---")
            if p.comments:
                self.lines.append(self.comment())
            if p.anchors:
                doc.entries.append(("anchored", M([("shared", S("web", "&a" + str(i) + " web"))])))
                doc.entries.append(("aliasing", S("web", f"*a{i}")))
            self.mapping(doc, 0)
            if p.comments and self.rnd.random() < 0.5:
                self.lines.append(self.comment())
            if p.explicit_end:
                self.lines.append("...")
        nl = "\r\n" if p.crlf else "\n"
        tail = getattr(self, "clip_tail", None)
        if not p.final_newline and tail and tail[0] == len(self.lines):
            tail[1].value = tail[1].value[:-1]  # `|` keeps one line break only if the file has it
        text = nl.join(self.lines) + (nl if p.final_newline else "")
        return ("\ufeff" if p.bom else "") + text


# ------------------------------------------------------------------------------------ readers


def load11(text: str) -> list:
    return list(yaml.load_all(text.lstrip("\ufeff"), Loader=yaml.CSafeLoader))


def load12(text: str) -> list:
    return list(YAML(typ="safe", pure=True).load_all(text.lstrip("\ufeff")))


def strict(a) -> object:
    """A comparable form that keeps types: True, 1, 1.0 and "1" all differ."""
    if isinstance(a, dict):
        return ("dict", tuple((strict(k), strict(v)) for k, v in a.items()))
    if isinstance(a, list):
        return ("list", tuple(strict(v) for v in a))
    return (type(a).__name__, a)


def strict_set(a) -> object:
    """Like `strict` but ignoring key order (for comparing meaning, not layout)."""
    if isinstance(a, dict):
        return ("dict", frozenset((strict(k), strict_set(v)) for k, v in a.items()))
    if isinstance(a, list):
        return ("list", tuple(strict_set(v) for v in a))
    return (type(a).__name__, a)


def doc_spans(text: str) -> list[tuple[int, int]]:
    off = 1 if text.startswith("\ufeff") else 0
    spans, start = [], None
    for ev in yaml.parse(text[off:], Loader=yaml.CSafeLoader):
        if isinstance(ev, yaml.DocumentStartEvent):
            start = ev.start_mark.index + off
        elif isinstance(ev, yaml.DocumentEndEvent):
            spans.append((start, ev.end_mark.index + off))
    return spans


def doc_events(text: str) -> list[list[tuple]]:
    off = 1 if text.startswith("\ufeff") else 0
    docs: list[list[tuple]] = []
    for ev in yaml.parse(text[off:], Loader=yaml.CSafeLoader):
        if isinstance(ev, yaml.DocumentStartEvent):
            docs.append([])
        elif docs and not isinstance(ev, (yaml.StreamEndEvent,)):
            docs[-1].append((type(ev).__name__, getattr(ev, "anchor", None), getattr(ev, "tag", None),
                             getattr(ev, "implicit", None), getattr(ev, "value", None), getattr(ev, "style", None)))
    return docs


def comments(text: str) -> list[str]:
    return re.findall(r"# c\d+", text)


def lines(text: str) -> list[str]:
    return text.lstrip("\ufeff").splitlines()


# ------------------------------------------------------------------------------------ edits


@dataclass
class Target:
    path: tuple
    node: object
    parent: object


def targets(node, path=()) -> list[Target]:
    """Every node reachable without going through the anchor/alias demo keys."""
    out = [Target(path, node, None)]
    if isinstance(node, M):
        for k, v in node.entries:
            if k in DEMO_KEYS and path == ():
                continue
            for t in targets(v, path + (k,)):
                t.parent = t.parent or node
                out.append(t)
    elif isinstance(node, L):
        for i, v in enumerate(node.items):
            for t in targets(v, path + (i,)):
                t.parent = t.parent or node
                out.append(t)
    return out


new_values = st.one_of(
    st.sampled_from(SCALAR_VALUES),
    st.dictionaries(st.sampled_from(["x", "y2", "mode", "on"]), st.sampled_from(SCALAR_VALUES), min_size=1, max_size=2),
    st.lists(st.sampled_from(SCALAR_VALUES), min_size=1, max_size=2),
    st.just({"env": {"VERIFY_CERTIFICATE_AT_CLIENT": "false"}}),
)


@st.composite
def edit_for(draw, stream: Stream, kinds=("set", "upsert", "delete", "append"), doc: int | None = None):
    doc = draw(st.integers(0, len(stream.docs) - 1)) if doc is None else doc
    all_targets = targets(stream.docs[doc])
    options = []
    if "set" in kinds:
        options += [("set", t) for t in all_targets if isinstance(t.node, S) and t.path and not is_block(t.node)]
    if "upsert" in kinds:
        options += [("upsert", t) for t in all_targets if isinstance(t.node, M)]
    if "delete" in kinds:
        options += [("delete", t) for t in all_targets if isinstance(t.node, M) and t.node.entries and t.path]
    if "append" in kinds:
        options += [("append", t) for t in all_targets if isinstance(t.node, L) and t.path]
    assume(options)
    kind, t = draw(st.sampled_from(options))
    entries = [k for k, _ in t.node.entries if not (t.path == () and k in DEMO_KEYS)] if isinstance(t.node, M) else []
    if kind == "set":
        return SetScalar(doc, t.path, draw(st.sampled_from(SCALAR_VALUES)))
    if kind == "upsert":
        key = draw(st.sampled_from(NEW_KEYS + [k for k in entries if not is_block(dict(t.node.entries)[k])]))
        return Upsert(doc, t.path, key, draw(new_values))
    if kind == "delete":
        return DeleteKey(doc, t.path, draw(st.sampled_from(entries)))
    return Append(doc, t.path, draw(st.sampled_from(SCALAR_VALUES)), unique=draw(st.booleans()))


def is_block(node) -> bool:
    return isinstance(node, S) and bool(node.text) and bool(node.lines)


def model_apply(docs: list, e) -> list:
    """An independent statement of what each edit means on plain data."""
    docs = copy.deepcopy(docs)
    node = docs[e.doc]
    path = e.path[:-1] if isinstance(e, SetScalar) else e.path
    for step in path:
        node = node[step]
    if isinstance(e, SetScalar):
        node[e.path[-1]] = e.value
    elif isinstance(e, Upsert):
        merge(node, e.key, e.value)
    elif isinstance(e, DeleteKey):
        node.pop(e.key, None)
    elif isinstance(e, Append):
        if not (e.unique and any(strict(x) == strict(e.value) for x in node)):
            node.append(copy.deepcopy(e.value))
    return docs


def merge(node: dict, key, value) -> None:
    if isinstance(value, dict) and isinstance(node.get(key), dict):
        for k, v in value.items():
            merge(node[key], k, v)
    else:
        node[key] = copy.deepcopy(value)


def scenario():
    """(stream, edit) with the stream valid for the engine (the renderer's own sanity check)."""
    return streams().flatmap(lambda s: st.tuples(st.just(s), edit_for(s)))


def check_rendering(stream: Stream) -> None:
    want = [strict(plain(d)) for d in stream.docs]
    assert [strict(d) for d in load11(stream.text)] == want
    assert [strict(d) for d in load12(stream.text)] == want


# ------------------------------------------------------------------------------------ invariants


@SETTINGS
@given(streams())
def test_invariant_1_noop_identity(stream):
    check_rendering(stream)
    result = apply_edits(stream.text, [])
    assert result.text == stream.text and result.changed is False and result.spans == []
    # edits that ask for what is already there are no-ops too (nothing to write, mtime untouched)
    same = [SetScalar(i, t.path, t.node.value) for i, d in enumerate(stream.docs) for t in targets(d)
            if isinstance(t.node, S) and t.path][:5]
    result = apply_edits(stream.text, same)
    assert result.text == stream.text and result.changed is False


@SETTINGS
@given(scenario())
def test_invariant_2_idempotence(case):
    stream, edit = case
    assume(not (isinstance(edit, Append) and not edit.unique))  # a non-unique append adds by definition
    once = apply_edits(stream.text, [edit])
    twice = apply_edits(once.text, [edit])
    assert twice.text == once.text and twice.changed is False


@SETTINGS
@given(scenario())
def test_invariant_3_semantic_correctness_in_yaml_1_1_and_1_2(case):
    stream, edit = case
    new = apply_edits(stream.text, [edit]).text
    expected = [strict_set(d) for d in model_apply([plain(d) for d in stream.docs], edit)]
    assert [strict_set(d) for d in load11(new)] == expected
    assert [strict_set(d) for d in load12(new)] == expected
    gate = verify_rewrite(stream.text, new, [edit])
    assert gate.ok, gate.problems


@SETTINGS
@given(scenario())
def test_invariant_4_locality(case):
    stream, edit = case
    old = stream.text
    result = apply_edits(old, [edit])
    new, pos, cursor = result.text, 0, 0
    for start, end in result.spans:  # bytes between spans appear unchanged and in order
        chunk = old[pos:start]
        if pos == 0:
            assert new.startswith(chunk)
            cursor = len(chunk)
        else:
            found = new.find(chunk, cursor)
            assert found >= cursor
            cursor = found + len(chunk)
        pos = end
    assert new.endswith(old[pos:])
    old_spans, new_spans = doc_spans(old), doc_spans(new)
    for i, (a, b) in enumerate(zip(old_spans, new_spans)):
        if i != edit.doc:
            assert old[a[0]:a[1]] == new[b[0]:b[1]], f"untargeted document {i} changed"


def value_lines(value, _nested=False) -> int:
    """How many lines a block rendering of `value` under a new key takes (the key line included)."""
    if isinstance(value, dict) and value:
        return 1 + sum(value_lines(v) for v in value.values())
    if isinstance(value, list) and value:
        return 1 + sum(value_lines(v) - 0 for v in value)
    return 1


def is_contiguous_insert(old: list[str], new: list[str], k: int) -> bool:
    if len(new) != len(old) + k:
        return False
    i = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), len(old))
    return new[:i] == old[:i] and new[i + k:] == old[i:]


@SETTINGS
@given(scenario())
def test_invariant_5_minimality(case):
    stream, edit = case
    old_doc = stream.docs[edit.doc]
    result = apply_edits(stream.text, [edit])
    old, new = lines(stream.text), lines(result.text)
    if not result.changed:
        return
    node = target_node(old_doc, edit.path)
    if isinstance(edit, SetScalar) or (isinstance(edit, Upsert) and edit.key in keys_of(node)
                                       and not isinstance(edit.value, (dict, list))
                                       and isinstance(dict(node.entries)[edit.key], S)):
        old_value = target_node(old_doc, edit.path if isinstance(edit, SetScalar) else edit.path + (edit.key,))
        folded = len(old_value.lines) - 1 if isinstance(old_value, S) and old_value.lines else 0
        assert len(new) == len(old) - folded
        assert sum(a != b for a, b in zip(old, new)) == 1 or folded
    elif isinstance(edit, Upsert) and edit.key not in keys_of(node) and not node.flow and node.entries:
        assert is_contiguous_insert(old, new, value_lines(edit.value))
    elif isinstance(edit, Append) and not node.flow and node.items:
        assert is_contiguous_insert(old, new, value_lines(edit.value))
    elif isinstance(edit, DeleteKey) and not node.flow and len(node.entries) > 1:
        assert len(new) < len(old)
        fresh = [line for line in new if line not in old]
        assert len(fresh) <= 1 and all(line.lstrip().startswith("- ") for line in fresh)  # a pulled-up key
    else:  # conversions ({} → block, a value replaced by another shape): the rest of the file survives
        # the node's own lines, and every comment or blank line inside it (they go with it: a deleted
        # last key leaves `- {}` for an item whose value held `# c2` and a blank line)
        replaced = max(old_doc_lines(node), old_span_lines(stream.text, edit.doc, edit.path))
        survivors = sum(1 for line in old if line in new)
        assert survivors >= len(old) - replaced - 1


def old_doc_lines(node) -> int:
    """Upper bound on the lines a node's own rendering occupies (its entries, one per scalar)."""
    if isinstance(node, M) and not node.flow:
        return sum(1 + old_doc_lines(v) for _, v in node.entries)
    if isinstance(node, L) and not node.flow:
        return sum(1 + old_doc_lines(v) for v in node.items)
    if isinstance(node, S) and node.lines:
        return len(node.lines) - (0 if node.text else 1)
    return 0


def target_node(node, path):
    for step in path:
        node = dict(node.entries)[step] if isinstance(node, M) else node.items[step]
    return node


def keys_of(node) -> list:
    return [k for k, _ in node.entries] if isinstance(node, M) else []


def compose_node(text: str, doc: int, path: tuple) -> yaml.Node:
    node = list(yaml.compose_all(text.lstrip("\ufeff"), Loader=yaml.CSafeLoader))[doc]
    for step in path:
        if isinstance(node, yaml.MappingNode):
            node = next(v for k, v in node.value if k.value == step)
        else:
            node = node.value[step]
    return node


def compose_scalar(text: str, doc: int, path: tuple) -> yaml.ScalarNode:
    return compose_node(text, doc, path)


def old_span_lines(text: str, doc: int, path: tuple) -> int:
    """The lines the node at `path` spans in the original text, comments and blank lines inside it included."""
    node = compose_node(text, doc, path)
    return node.end_mark.line - node.start_mark.line + 1


@SETTINGS
@given(streams().flatmap(lambda s: st.tuples(st.just(s), edit_for(s, kinds=("set", "upsert")))))
def test_invariant_6_local_style_preservation(case):
    stream, edit = case
    result = apply_edits(stream.text, [edit])
    if not result.changed:
        return
    old_lines, new_lines = lines(stream.text), lines(result.text)
    if isinstance(edit, SetScalar):
        old_node = compose_scalar(stream.text, edit.doc, edit.path)
        new_node = compose_scalar(result.text, edit.doc, edit.path)
        old_style, new_style = old_node.style or "", new_node.style or ""
        if isinstance(edit.value, str) and old_style in ("'", '"'):
            assert new_style == old_style or (old_style == "'" and new_style == '"')
        elif isinstance(edit.value, str):  # plain stays plain unless plain would change the value
            in_flow = target_node(stream.docs[edit.doc], edit.path[:-1]).flow
            if yamltext.plain_is_string(edit.value, flow=in_flow):
                assert new_style == ""
            else:
                assert new_style in ("'", '"')
        else:
            assert new_style == ""
        # the end-of-line comment follows the value's last line (a folded plain scalar spans several)
        old_line, new_line = old_node.end_mark.line, new_node.end_mark.line
        assert re.findall(r"# c\d+", old_lines[old_line]) == re.findall(r"# c\d+", new_lines[new_line])
    else:
        node = target_node(stream.docs[edit.doc], edit.path)
        if edit.key not in keys_of(node) and not node.flow and node.entries:
            mapping = compose_scalar(result.text, edit.doc, edit.path)
            cols = {k.start_mark.column for k, _ in mapping.value}
            assert len(cols) == 1, f"inserted key not aligned with its siblings: {cols}"


@SETTINGS
@given(scenario())
def test_invariant_7_encoding_and_line_ending_stability(case):
    stream, edit = case
    new = apply_edits(stream.text, [edit]).text
    old = stream.text
    assert new.startswith("\ufeff") == old.startswith("\ufeff")
    assert "\ufeff" not in new[1:]
    if stream.prof.crlf:
        assert re.search(r"(?<!\r)\n", new) is None, "bare LF in a CRLF file"
    else:
        assert "\r" not in new
    assert new.endswith(("\n",)) == old.endswith(("\n",))
    assert new.count("\\u") == old.count("\\u")
    new.encode("utf-8")


@SETTINGS
@given(scenario())
def test_invariant_8_comment_preservation(case):
    stream, edit = case
    old, new = stream.text, apply_edits(stream.text, [edit]).text
    before, after = comments(old), comments(new)
    if isinstance(edit, DeleteKey) or replaces_subtree(stream, edit):  # comments inside removed text go
        it = iter(before)
        assert all(c in it for c in after), "comments reordered"
    else:
        assert before == after
    old_doc_of = {c: i for i, (a, b) in enumerate(doc_bounds(old)) for c in comments(old[a:b])}
    new_doc_of = {c: i for i, (a, b) in enumerate(doc_bounds(new)) for c in comments(new[a:b])}
    assert all(old_doc_of[c] == new_doc_of[c] for c in new_doc_of), "a comment crossed a ---"


def replaces_subtree(stream: Stream, edit) -> bool:
    """An Upsert that swaps an existing collection for a value of another shape."""
    if not isinstance(edit, Upsert):
        return False
    node = target_node(stream.docs[edit.doc], edit.path)
    old = dict(node.entries).get(edit.key) if isinstance(node, M) else None
    return isinstance(old, (M, L)) and not (isinstance(old, M) and isinstance(edit.value, dict))


def doc_bounds(text: str) -> list[tuple[int, int]]:
    """Text between `---` separator lines (comments after `...` stay with the document before)."""
    starts = [0] + [m.end() for m in re.finditer(r"^---[ \r]*$", text, flags=re.M)]
    if re.match(r"\ufeff?(%YAML[^\n]*\n)?---", text):
        starts = starts[1:] if len(starts) > 1 else starts
    ends = starts[1:] + [len(text)]
    return list(zip(starts, ends))


def mapping_key_orders(doc, path=()) -> list:
    if isinstance(doc, dict):
        out = [(path, list(doc))]
        for k, v in doc.items():
            out += mapping_key_orders(v, path + (k,))
        return out
    if isinstance(doc, list):
        return [o for i, v in enumerate(doc) for o in mapping_key_orders(v, path + (i,))]
    return []


@SETTINGS
@given(scenario())
def test_invariant_9_structure_preservation(case):
    stream, edit = case
    old, new = stream.text, apply_edits(stream.text, [edit]).text
    markers = re.compile(r"^(---|\.\.\.|%YAML.*|%TAG.*)\r?$", re.M)
    assert markers.findall(old) == markers.findall(new)
    assert len(load11(old)) == len(load11(new))
    assert re.findall(r"[&*]a\d+", old) == re.findall(r"[&*]a\d+", new)
    if stream.prof.anchors:  # the alias graph is never edited through
        for refused in (SetScalar(0, ("aliasing",), "x"), SetScalar(0, ("anchored", "shared"), "x"),
                        DeleteKey(0, (), "anchored"), Upsert(0, (), "aliasing", "x")):
            with pytest.raises(EditError, match="alias"):
                apply_edits(new, [refused])
    old_events, new_events = doc_events(old), doc_events(new)
    for i, (a, b) in enumerate(zip(old_events, new_events)):
        if i != edit.doc:
            assert a == b
    new_docs = load11(new)
    for path, keys in mapping_key_orders(load11(old)[edit.doc]):
        node = new_docs[edit.doc]
        try:
            for step in path:
                node = node[step]
        except (KeyError, IndexError, TypeError):
            continue  # the edit removed or replaced this mapping
        if isinstance(node, dict):
            kept = [k for k in node if k in keys]
            assert kept == [k for k in keys if k in node], f"key order changed at {path}"


@SETTINGS
@given(streams().flatmap(lambda s: st.tuples(st.just(s), edit_for(s, doc=0), edit_for(s, doc=len(s.docs) - 1),
                                             edit_for(s, kinds=("set",), doc=0))))
def test_invariant_10_independence_and_atomicity(case):
    stream, e1, e2, e3 = case
    x = stream.text
    if e1.doc != e2.doc:  # disjoint by construction: different documents commute
        a = apply_edits(apply_edits(x, [e1]).text, [e2]).text
        b = apply_edits(apply_edits(x, [e2]).text, [e1]).text
        assert a == b == apply_edits(x, [e1, e2]).text
    # a refused edit anywhere in the list means no output at all
    bad = Append(0, ("metadata",), "x")  # metadata is a mapping, never a sequence
    with pytest.raises(EditError):
        apply_edits(x, [e3, bad])
    with pytest.raises(EditError):
        apply_edits(x, [e3, Upsert(len(stream.docs), (), "k", 1)])
    # inputs that are not plain YAML are never "fixed" as a side effect
    nl = "\r\n" if stream.prof.crlf else "\n"
    body = x.rstrip("\r\n")
    duplicated = body + nl + "kind: Again" + nl if e3.doc == len(stream.docs) - 1 and not stream.prof.explicit_end else None
    if duplicated is not None:
        with pytest.raises(EditError, match="duplicate key"):
            apply_edits(duplicated, [SetScalar(e3.doc, e3.path, e3.value)])
    templated = x + nl + "{{- if .Values.enabled }}" + nl
    with pytest.raises(EditError):
        apply_edits(templated, [e3])


def plain_scalars(text: str):
    off = 1 if text.startswith("\ufeff") else 0
    for ev in yaml.parse(text[off:], Loader=yaml.CSafeLoader):
        if isinstance(ev, yaml.ScalarEvent) and not ev.style and ev.tag is None:
            yield ev.value


@SETTINGS
@given(scenario())
def test_no_plain_scalar_with_different_yaml_1_1_and_1_2_types(case):
    stream, edit = case
    new = apply_edits(stream.text, [edit]).text
    for value in plain_scalars(new):
        assert yamltext.resolve_11(value) == yamltext.resolve_12(value) or value in ("=",), value


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
       st.sampled_from(["", "'", '"']), st.booleans())
def test_rendered_strings_read_back_identically_in_both_views(text, style, flow):
    spelled = yamltext.render_str(text, style=style, flow=flow)
    doc = f"k: [{spelled}]\n" if flow else f"k: {spelled}\n"
    assert yaml.load(doc, Loader=yaml.CSafeLoader) == {"k": [text] if flow else text}
    assert YAML(typ="safe", pure=True).load(doc) == {"k": [text] if flow else text}


# ------------------------------------------------------------------------------------ real files

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FIXTURE_FILES = sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".yaml", ".yml") and p.name != "alias-bomb.yaml")  # a bomb is refused before any load (test_bad_input)
ACCEPTED_REFUSALS = ("block scalar", "alias", "tagged", "keep-chomped", "merge key", "Helm template action", "duplicate key")


def fixture_text(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.read()
    except UnicodeDecodeError:
        return None  # not text; reading is fsio's business, not the engine's


def tree_paths(node, path=(), seen=None):
    """Every (path, value), visiting each shared (aliased) object once: alias bombs stay cheap."""
    seen = set() if seen is None else seen
    yield path, node
    if isinstance(node, (dict, list)):
        if id(node) in seen:
            return
        seen.add(id(node))
    if isinstance(node, dict):
        for k, v in node.items():
            yield from tree_paths(v, path + (k,), seen)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from tree_paths(v, path + (i,), seen)


def random_fixture_edits(docs: list, rnd: random.Random, count: int = 3) -> list:
    """Random set/upsert/delete/append edits at real paths of a real file."""
    edits = []
    for _ in range(count):
        doc = rnd.randrange(len(docs))
        paths = [(p, n) for p, n in tree_paths(docs[doc]) if all(isinstance(k, (str, int)) for k in p)]
        kind = rnd.choice(["set", "upsert", "delete", "append"])
        if kind == "set" and (leaves := [p for p, n in paths if p and not isinstance(n, (dict, list))]):
            edits.append(SetScalar(doc, rnd.choice(leaves), rnd.choice(SCALAR_VALUES)))
        elif kind == "upsert" and (maps_ := [p for p, n in paths if isinstance(n, dict)]):
            value = rnd.choice([rnd.choice(SCALAR_VALUES), {"env": {"X": "false"}}, ["a", "yes"]])
            edits.append(Upsert(doc, rnd.choice(maps_), rnd.choice(NEW_KEYS), value))
        elif kind == "delete" and (maps_ := [(p, n) for p, n in paths if isinstance(n, dict) and n]):
            p, n = rnd.choice(maps_)
            edits.append(DeleteKey(doc, p, rnd.choice(list(n))))
        elif kind == "append" and (seqs := [p for p, n in paths if isinstance(n, list) and p]):
            edits.append(Append(doc, rnd.choice(seqs), rnd.choice(SCALAR_VALUES)))
    return edits


def own_line_comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_invariants_on_fixture_corpus(path):
    """Invariants 1-4, 7, 8 and 10 on every real manifest in fixtures/, with seeded random edits."""
    text = fixture_text(path)
    if text is None:  # gzip or Latin-1: the reader refuses, so the engine never sees it
        from migrator.fsio import read_text

        with pytest.raises(UnicodeDecodeError):
            read_text(path)
        return
    assert apply_edits(text, []).text == text  # 1
    try:
        docs = load11(text)
    except yaml.YAMLError:
        with pytest.raises(EditError):  # 10: never "fixed" as a side effect
            apply_edits(text, [Upsert(0, (), "x", 1)])
        return
    if not docs or not all(isinstance(d, dict) for d in docs):
        return
    applied = 0
    for edit in random_fixture_edits(docs, random.Random(zlib.crc32(str(path.relative_to(FIXTURES)).encode()))):
        try:
            result = apply_edits(text, [edit])
        except EditError as exc:
            assert any(reason in str(exc) for reason in ACCEPTED_REFUSALS), (edit, str(exc))
            continue
        applied += 1
        gate = verify_rewrite(text, result.text, [edit])  # 3, 4 (regions), 7
        assert gate.ok, (edit, gate.problems)
        assert apply_edits(result.text, [edit]).changed is False  # 2
        if not isinstance(edit, (DeleteKey, Upsert)):
            assert own_line_comments(result.text) == own_line_comments(text)  # 8
        spans_old, spans_new = doc_spans(text), doc_spans(result.text)
        for i, (a, b) in enumerate(zip(spans_old, spans_new)):
            if i != edit.doc:
                assert text[a[0]:a[1]] == result.text[b[0]:b[1]]  # 4: other documents untouched
    assert applied or len(docs) == 0 or "bad-input" in path.parts  # bad input: every edit is refused
