"""Bytes → YAML documents with positions, and every way a file can fail to be YAML, as data.

Parsing uses libyaml through PyYAML's CSafeLoader: it is the YAML 1.1 reader Kubernetes' own
decoders agree with for booleans and octals, and it keeps character-exact marks on every node so
findings can name a line.  A file that cannot be read is returned as a ``Problem``, never raised:
the scan goes on with the rest of the repository.
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

import yaml

from migrator.model import Problem

try:  # libyaml is a hard requirement for speed; the pure loader is 10x slower but still correct
    _BaseLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader

#: implicit tags of short plain scalars, shared by every file a process reads (bounded)
_RESOLVED: dict[tuple, str] = {}
_RESOLVED_MAX = 4096


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """The safe loader with a memo on implicit tag resolution.

    libyaml's composer calls the Python resolver once per scalar (keys included), and the resolver
    runs a list of regular expressions each time.  With no path resolvers (none are registered on
    the safe loaders) the tag of a scalar depends only on its text and on whether it was plain, so
    repeated keys and values ("name", "true", "80") are resolved once.  Quoted and block scalars are
    always strings.
    """

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode and not self.yaml_path_resolvers:
            if not implicit[0]:
                return self.DEFAULT_SCALAR_TAG
            if len(value) <= 32:
                key = (value, implicit[1])
                tag = _RESOLVED.get(key)
                if tag is None:
                    tag = super().resolve(kind, value, implicit)
                    if len(_RESOLVED) < _RESOLVED_MAX:
                        _RESOLVED[key] = tag
                return tag
        return super().resolve(kind, value, implicit)

BOM = "\ufeff"
#: expanded node count above which a document is treated as an alias bomb
MAX_EXPANDED_NODES = 250_000
HELM_TEMPLATE = "Helm chart template ({{ }} actions): not YAML until rendered; not scanned"
_TEMPLATE_ACTION = re.compile(r"\{\{-?\s*[^}]*\}\}")


@dataclass
class Document:
    """One YAML document (or one item of a ``kind: List``) with its node tree for line lookups."""

    path: str
    index: int  # document index in the file
    data: Any
    node: yaml.Node
    item: int | None = None  # index in `items` when this came from a kind: List
    line_offset: int = 0  # lines to add when the text was embedded in another file (Argo helm.values)
    base_path: tuple = ()  # key path of this node inside the file's document (("items", 3) for List items)

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", "")) if isinstance(self.data, dict) else ""

    @property
    def api_version(self) -> str:
        return str(self.data.get("apiVersion", "")) if isinstance(self.data, dict) else ""

    @property
    def metadata(self) -> dict:
        md = self.data.get("metadata") if isinstance(self.data, dict) else None
        return md if isinstance(md, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", "") or "")

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", "") or "")

    def node_at(self, path: tuple) -> yaml.Node | None:
        """The node at a key path, or None when a step is missing."""
        node = self.node
        for step in path:
            node = child_node(node, step)
            if node is None:
                return None
        return node

    def line_of(self, path: tuple) -> int:
        """1-based line of the key at path (the item for an index); nearest ancestor if absent."""
        node = self.node
        line = node.start_mark.line
        for step in path:
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(step):
                        line, node = k.start_mark.line, v
                        break
                else:
                    break
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
                node = node.value[step]
                line = node.start_mark.line
            else:
                break
        return line + 1 + self.line_offset

    def value_line(self, path: tuple) -> int:
        """1-based line where the value at path starts (block scalars: the indicator line)."""
        node = self.node_at(path)
        return (node.start_mark.line if node is not None else self.node.start_mark.line) + 1 + self.line_offset


def child_node(node: yaml.Node, step: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == str(step):
                return v
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        return node.value[step]
    return None


@dataclass
class LoadedFile:
    """The outcome of loading one file: its documents and the problems met on the way."""

    path: str
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    text: str = ""


def decode(path: str, raw: bytes, max_bytes: int) -> tuple[str | None, Problem | None]:
    """Bytes → text, refusing what is not a YAML text file with a one-line reason."""
    if len(raw) > max_bytes:
        mb = len(raw) / (1024 * 1024)
        return None, Problem(path, f"file is {mb:.1f} MB, over the {max_bytes // (1024 * 1024)} MB limit (--max-file-size); not scanned", kind="skipped")
    if b"\x00" in raw or raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        from migrator.fsio import wide_encoding

        wide = wide_encoding(raw)
        if wide:
            return None, Problem(path, f"{wide} text, not UTF-8; YAML files must be UTF-8 (convert with iconv -f {wide} -t UTF-8); not scanned")
        return None, Problem(path, "binary file (contains NUL bytes), not YAML; not scanned")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return None, Problem(path, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); YAML files must be UTF-8", line=line)
    return text, None


def load_text(path: str, text: str) -> LoadedFile:
    """Parse every document of a text; problems are returned, never raised."""
    # The cyclic GC would otherwise run every few hundred allocations while a file's node tree and
    # values are built, walking the whole (growing) inventory each time; what is built here has no
    # reference cycles, so reference counting frees it, and collection resumes right after.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_text(path, text)
    finally:
        if was_enabled:
            gc.enable()


def _load_text(path: str, text: str) -> LoadedFile:
    result = LoadedFile(path, text=text)
    body = text[1:] if text.startswith(BOM) else text
    in_templates_dir = "/templates/" in f"/{path}"
    if in_templates_dir and "{{" in body:
        result.problems.append(Problem(path, HELM_TEMPLATE, kind="skipped"))
        return result
    try:
        for index, (node, data, too_big, dups) in enumerate(_iter_nodes(body)):
            if node is None:
                continue
            if too_big:
                result.problems.append(Problem(path, f"document {index + 1} expands to more than {MAX_EXPANDED_NODES:,} nodes through aliases (alias bomb?); not scanned", line=node.start_mark.line + 1))
                continue
            for line, message in dups:
                result.problems.append(Problem(path, message, line=line))
            result.documents.extend(_expand_list(path, index, node, data))
    except yaml.MarkedYAMLError as exc:
        if "{{" in body:
            result.problems.append(Problem(path, HELM_TEMPLATE, kind="skipped"))
            result.documents.clear()
            return result
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        msg = " ".join(str(exc.problem or exc.context or "YAML syntax error").split())
        result.problems.append(Problem(path, f"YAML syntax error: {msg}", line=line))
    except yaml.YAMLError as exc:
        result.problems.append(Problem(path, f"YAML error: {' '.join(str(exc).split())}"))
    except RecursionError:
        result.problems.append(Problem(path, "YAML nesting too deep to read; not scanned"))
    return result


def _iter_nodes(text: str) -> Iterator[tuple[yaml.Node | None, Any, bool, list]]:
    """Yield (node, data, too_big, duplicate keys) per document: one parse gives marks and values."""
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                yield None, None, False, []
                continue
            try:
                data, too_big, dups = _build(loader, node)
            except _Unsupported:  # merge keys, explicit tags, recursive aliases: PyYAML's own constructor
                too_big, dups = inspect_node(node)
                data = None if too_big else loader.construct_document(node)
            if too_big:
                yield node, None, True, []  # never construct an alias bomb
                continue
            yield node, data, False, dups
    finally:
        loader.dispose()


class _Unsupported(Exception):
    """A node _build leaves to PyYAML's constructor."""


class _TooBig(Exception):
    """The document expands past MAX_EXPANDED_NODES."""


_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
#: scalar tags whose SafeConstructor methods are plain functions of the node (not generators)
_SCALAR_TAGS = frozenset("tag:yaml.org,2002:" + t for t in ("null", "bool", "int", "float", "binary", "timestamp"))


def _build(loader, root: yaml.Node) -> tuple[Any, bool, list[tuple[int, str]]]:
    """Construct a document and run inspect_node's checks in one walk: (data, too_big, duplicate keys).

    The same values SafeLoader's construct_document gives (plain str/int/float/bool/None/date/bytes,
    dict, list; a node referenced by aliases is built once and shared), at about a third of its cost,
    because the per-node machinery of BaseConstructor is skipped and the alias-bomb size and duplicate
    keys are computed on the way instead of in a second walk.  Raises _Unsupported for what only
    PyYAML's constructor handles (merge keys, explicit or unknown tags, complex keys, recursive
    aliases); the caller then takes the old path, so behaviour never changes, only speed.
    """
    ctors = loader.yaml_constructors
    built: dict[int, Any] = {}  # id(node) -> value (aliases share it)
    sizes: dict[int, int] = {}  # id(node) -> expanded size, as inspect_node counts it
    dups: list[tuple[int, str]] = []
    total = 0
    in_progress = built  # sentinel stored while a collection is being built

    def conv(n: yaml.Node) -> Any:
        nonlocal total
        key = id(n)
        if key in built:
            value = built[key]
            if value is in_progress:
                raise _Unsupported  # a recursive alias
            total += sizes[key]
            if total > MAX_EXPANDED_NODES:
                raise _TooBig
            return value
        cls = n.__class__
        if cls is yaml.ScalarNode:
            total += 1
            tag = n.tag
            if tag == _STR_TAG:
                value = n.value
            elif tag in _SCALAR_TAGS:
                value = ctors[tag](loader, n)
            else:
                raise _Unsupported
            built[key] = value
            sizes[key] = 1
            return value
        start = total
        total += 1
        if total > MAX_EXPANDED_NODES:
            raise _TooBig
        built[key] = in_progress
        if cls is yaml.MappingNode:
            if n.tag != _MAP_TAG:
                raise _Unsupported
            out: Any = {}
            typed_keys = False
            for k, v in n.value:
                if k.__class__ is not yaml.ScalarNode or k.value == "<<":
                    raise _Unsupported
                if k.tag == _STR_TAG:
                    total += 1
                    kk = k.value
                else:
                    typed_keys = True
                    kk = conv(k)
                out[kk] = conv(v)
            if typed_keys or len(out) != len(n.value):  # duplicates are judged on the text, as inspect_node does
                dups.extend(_duplicates(n))
        elif cls is yaml.SequenceNode:
            if n.tag != _SEQ_TAG:
                raise _Unsupported
            out = [conv(v) for v in n.value]
        else:  # pragma: no cover - composer yields only these three
            raise _Unsupported
        built[key] = out
        sizes[key] = total - start
        return out

    try:
        data = conv(root)
    except _TooBig:
        return None, True, []
    finally:
        conv = None  # type: ignore[assignment]  # break the closure's self-reference: free the memo now, not at the next GC
    return data, False, sorted(dups)


def _duplicates(n: yaml.MappingNode) -> list[tuple[int, str]]:
    """Duplicate keys of one mapping, reported as inspect_node reports them."""
    first: dict[str, int] = {}
    out = []
    for k, _ in n.value:
        if k.value in first:
            out.append((k.start_mark.line + 1, f"duplicate key {k.value!r} (first at line {first[k.value]}); Kubernetes decoders disagree on which value wins"))
        else:
            first[k.value] = k.start_mark.line + 1
    return out


def inspect_node(node: yaml.Node) -> tuple[bool, list[tuple[int, str]]]:
    """One walk over a document's node graph: is it an alias bomb, and which keys are duplicated?

    Sizes are memoised per node, so aliases count as expanded (what a consumer would build) while
    the walk stays linear in the number of distinct nodes.  libyaml keeps the last of duplicate
    keys silently and Go decoders differ, so duplicates are reported, never resolved.
    """
    memo: dict[int, int] = {}
    dups: list[tuple[int, str]] = []
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        n, done = stack.pop()
        key = id(n)
        if done:
            if isinstance(n, yaml.MappingNode):
                size = 1 + sum(memo.get(id(k), 1) + memo.get(id(v), 1) for k, v in n.value)
            else:
                size = 1 + sum(memo.get(id(v), 1) for v in n.value)
            memo[key] = size
            if size > MAX_EXPANDED_NODES:
                return True, []
            continue
        if key in memo:
            continue
        memo[key] = 1  # provisional: a recursive alias counts once
        if isinstance(n, yaml.ScalarNode):
            continue
        stack.append((n, True))
        if isinstance(n, yaml.MappingNode):
            first: dict[str, int] = {}
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode) and k.value != "<<":
                    if k.value in first:
                        dups.append((k.start_mark.line + 1, f"duplicate key {k.value!r} (first at line {first[k.value]}); Kubernetes decoders disagree on which value wins"))
                    else:
                        first[k.value] = k.start_mark.line + 1
                if id(v) not in memo:
                    stack.append((v, False))
        else:
            for v in n.value:
                if id(v) not in memo:
                    stack.append((v, False))
    return memo[id(node)] > MAX_EXPANDED_NODES, sorted(dups)


def duplicate_keys(node: yaml.Node) -> list[tuple[int, str]]:
    """Duplicate mapping keys as (line, message)."""
    return inspect_node(node)[1]


def _expand_list(path: str, index: int, node: yaml.Node, data: Any) -> list[Document]:
    """`kubectl get … -o yaml` wraps resources in kind: List; each item is a document of its own."""
    doc = Document(path, index, data, node)
    if not (isinstance(data, dict) and str(data.get("kind", "")).endswith("List") and isinstance(data.get("items"), list)):
        return [doc]
    items_node = child_node(node, "items")
    out = []
    for i, item in enumerate(data["items"]):
        item_node = child_node(items_node, i) if items_node is not None else None
        if isinstance(item, dict) and item_node is not None:
            out.append(Document(path, index, item, item_node, item=i, base_path=("items", i)))
    return out


def embedded_document(outer: Document, path: tuple) -> list[Document]:
    """Parse YAML kept in a string (Argo CD `helm.values: |`), mapping its lines back to the file."""
    node = outer.node_at(path)
    if not isinstance(node, yaml.ScalarNode) or not node.value.strip():
        return []
    offset = node.start_mark.line + outer.line_offset
    if node.style in ("|", ">"):
        offset += 1  # content starts on the line after the indicator
    loaded = load_text(outer.path, node.value)
    docs = []
    for d in loaded.documents:
        d.line_offset = offset
        docs.append(d)
    return docs
