"""Bytes → YAML documents with positions, and every way a file can fail to be YAML, as data.

Parsing uses libyaml through PyYAML's CSafeLoader: it is the YAML 1.1 reader Kubernetes' own
decoders agree with for booleans and octals, and it keeps character-exact marks on every node so
findings can name a line.  A file that cannot be read is returned as a ``Problem``, never raised:
the scan goes on with the rest of the repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

import yaml

from migrator.model import Problem

try:  # libyaml is a hard requirement for speed; the pure loader is 10x slower but still correct
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

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
    if b"\x00" in raw:
        return None, Problem(path, "binary file (contains NUL bytes), not YAML; not scanned")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return None, Problem(path, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); YAML files must be UTF-8", line=line)
    return text, None


def load_text(path: str, text: str) -> LoadedFile:
    """Parse every document of a text; problems are returned, never raised."""
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
            too_big, dups = inspect_node(node)
            if too_big:
                yield node, None, True, []  # never construct an alias bomb
                continue
            yield node, loader.construct_document(node), False, dups
    finally:
        loader.dispose()


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
