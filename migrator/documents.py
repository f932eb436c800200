"""Bytes → YAML documents with positions, and every way a file can fail to be YAML, as data.

Parsing uses libyaml through PyYAML's CSafeLoader: it is the YAML 1.1 reader Kubernetes' own
decoders agree with for booleans and octals, and it keeps character-exact marks on every node so
findings can name a line.  A file that cannot be read is returned as a ``Problem``, never raised:
the scan goes on with the rest of the repository.

The unit of failure is the document: a value that cannot be built (`2024-02-30`, `!!int abc`) is
a problem for its document only, and unknown tags (`!vault`, `!Ref`) are carried as `Tagged`
data.  Valid YAML libyaml rejects (`[1.2.3.4, 001:db8::]`) is re-read with a go-yaml-compatible
scanner (_GoCompatibleLoader) and a note says so.
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

#: one string object per distinct mapping key ("apiVersion", "trafficPolicy" …) across every document a
#: process keeps, instead of one per occurrence: the inventory holds thousands of resources (bounded)
_KEYS: dict[str, str] = {}
_KEYS_MAX = 4096
#: implicit tags of short plain scalars, shared by every file a process reads (bounded)
_RESOLVED: dict[tuple, str] = {}
_RESOLVED_MAX = 4096


@dataclass(frozen=True)
class Tagged:
    """A value under a tag this tool does not know (`!vault …`, `!reference […]`, `!Ref x`).

    GitOps repos carry tags that a later tool resolves (vault injectors, GitLab CI, CloudFormation);
    they are data to carry, not errors.  The value is what the node holds without the tag (a
    string, list or dict); rules never interpret it.
    """

    tag: str
    value: Any

    def __str__(self) -> str:
        return f"{self.tag} {self.value}"


class BadValue(Exception):
    """A scalar that cannot be constructed (`2024-02-30`, `!!int abc`, a 5,000-digit integer)."""

    def __init__(self, node: yaml.Node, reason: str):
        super().__init__(reason)
        self.node, self.reason = node, reason


_CONSTRUCT_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError)


def _bad_value(node: yaml.Node, exc: Exception) -> BadValue:
    """One line saying which value could not be read as what, and why."""
    text = str(getattr(node, "value", "")) if isinstance(node, yaml.ScalarNode) else ""
    shown = text if len(text) <= 40 else f"{text[:20]}…({len(text):,} characters)"
    tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
    reason = " ".join(str(exc).split(";")[0].split()) if isinstance(exc, (ValueError, OverflowError)) else ""
    if not isinstance(node, yaml.ScalarNode):
        return BadValue(node, f"a {tag} value cannot be read" + (f" ({reason})" if reason else ""))
    return BadValue(node, f"{shown!r} is not a valid {tag}" + (f" ({reason})" if reason else ""))


def _construct_tagged(loader, node: yaml.Node) -> Tagged:
    """Constructor for every tag the safe loader does not know: keep tag and plain value."""
    if isinstance(node, yaml.ScalarNode):
        return Tagged(node.tag, node.value)
    if isinstance(node, yaml.SequenceNode):
        return Tagged(node.tag, loader.construct_sequence(node, deep=True))
    return Tagged(node.tag, loader.construct_mapping(node, deep=True))


class _Defensive:
    """Mixin: a value that cannot be constructed raises BadValue naming its node, never a bare ValueError."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (BadValue, yaml.YAMLError, RecursionError):
            raise
        except _CONSTRUCT_ERRORS as exc:
            raise _bad_value(node, exc) from None

    def reset_construction(self) -> None:
        """Forget a failed document's half-built state, so the next document starts clean."""
        self.constructed_objects, self.recursive_objects = {}, {}
        self.state_generators, self.deep_construct = [], False


class _GoCompatibleLoader(_Defensive, yaml.constructor.SafeConstructor):
    """The fallback reader for valid YAML libyaml's scanner rejects: ruamel.yaml's parser, PyYAML's values.

    libyaml refuses a `:` followed by `,[]{}` inside a flow plain scalar ("found unexpected ':'"),
    so `addresses: [1.2.3.4, 001:db8::]` (an istio/istio ServiceEntry test file) is an error there.
    Kubernetes' go-yaml ends a plain scalar only at `:` + blank or, in flow context, at `,?[]{}`
    (kubernetes/kubernetes vendor/gopkg.in/yaml.v2/scannerc.go, yaml_parser_scan_plain_scalar), so it
    reads the string `001:db8::`.  ruamel.yaml's scanner reads it the same way (PyYAML's pure scanner
    does not: it makes a one-pair mapping of it).  ruamel composes the nodes with YAML 1.1 tag
    resolution; they are converted to PyYAML nodes and built by the same safe constructor as the
    libyaml path, so values (`yes`, `0755`, dates) are those Kubernetes sees.  Loader protocol:
    check_node / get_node / construct_document / dispose, as _iter_nodes uses it.
    """

    def __init__(self, text: str):
        super().__init__()
        from ruamel.yaml import YAML

        reader = YAML(typ="safe", pure=True)
        reader.version = (1, 1)
        memo: dict = {}
        self._nodes = [_pyyaml_node(n, memo) for n in reader.compose_all(text)]
        self._nodes.reverse()

    def check_node(self) -> bool:
        return bool(self._nodes)

    def get_node(self):
        return self._nodes.pop()

    def dispose(self) -> None:
        self._nodes = []


_GoCompatibleLoader.add_constructor(None, _construct_tagged)


def _pyyaml_node(node, memo: dict) -> yaml.Node:
    """A ruamel node graph as PyYAML nodes (aliases stay shared; marks keep line and column)."""
    if id(node) in memo:
        return memo[id(node)]
    start = yaml.Mark("", node.start_mark.index, node.start_mark.line, node.start_mark.column, None, None)
    end = yaml.Mark("", node.end_mark.index, node.end_mark.line, node.end_mark.column, None, None)
    tag = str(getattr(node.tag, "value", node.tag))
    if node.id == "scalar":
        out: yaml.Node = yaml.ScalarNode(tag, node.value, start, end, style=node.style)
        memo[id(node)] = out
        return out
    if node.id == "sequence":
        out = yaml.SequenceNode(tag, [], start, end, flow_style=node.flow_style)
        memo[id(node)] = out
        out.value = [_pyyaml_node(v, memo) for v in node.value]
        return out
    out = yaml.MappingNode(tag, [], start, end, flow_style=node.flow_style)
    memo[id(node)] = out
    out.value = [(_pyyaml_node(k, memo), _pyyaml_node(v, memo)) for k, v in node.value]
    return out


class _Loader(_Defensive, _BaseLoader):  # type: ignore[misc,valid-type]
    """The safe loader with a memo on implicit tag resolution.

    libyaml's composer calls the Python resolver once per scalar (keys included), and the resolver
    runs a list of regular expressions each time.  With no path resolvers (none are registered on
    the safe loaders) the tag of a scalar depends only on its text and on whether it was plain, so
    repeated keys and values ("name", "true", "80") are resolved once.  Quoted and block scalars are
    always strings.
    """

    #: libyaml's composer calls these two around every node (hundreds of thousands of Python calls per
    #: scan); with no path resolvers they do nothing, so C callables that ignore their arguments stand in
    descend_resolver = slice  # slice(parent, index): built and dropped, no Python frame
    ascend_resolver = tuple  # tuple(): the empty tuple

    def resolve(self, kind, value, implicit):
        if self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        if kind is not yaml.ScalarNode:  # a mapping or sequence: its default tag, as BaseResolver gives it
            return self.DEFAULT_MAPPING_TAG if kind is yaml.MappingNode else self.DEFAULT_SEQUENCE_TAG
        if not implicit[0] or (value and value[0] not in _IMPLICIT_FIRST):
            return self.DEFAULT_SCALAR_TAG  # quoted/block, or no implicit resolver starts with that character
        if len(value) <= 32:
            key = (value, implicit[1])
            tag = _RESOLVED.get(key)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_RESOLVED) < _RESOLVED_MAX:
                    _RESOLVED[key] = tag
            return tag
        return super().resolve(kind, value, implicit)


_Loader.add_constructor(None, _construct_tagged)
assert not _Loader.yaml_path_resolvers, "descend/ascend_resolver are no-ops only without path resolvers"
#: first characters some implicit resolver (bool, int, float, null, timestamp, merge, value) can match;
#: BaseResolver.resolve returns the str tag for any other plain scalar (names, hosts, paths …)
_IMPLICIT_FIRST = frozenset(k for k in _Loader.yaml_implicit_resolvers if k)
assert None not in _Loader.yaml_implicit_resolvers, "a wildcard implicit resolver would see every scalar"


def tagged_loader() -> type:
    """The libyaml safe loader that reads unknown tags as `Tagged` (for readers outside this module)."""
    return _Loader


#: files up to this size that libyaml rejects are re-read with ruamel's pure-Python parser (~10x slower)
FALLBACK_MAX = 2 * 1024 * 1024
LIBYAML, FALLBACK = "libyaml", "ruamel.yaml parser"

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
    parser: str = LIBYAML  # which parser read it (FALLBACK when libyaml rejected valid YAML)


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
    error = _read_documents(path, body, _Loader, result)
    if error is not None and "{{" in body:
        result.problems.append(Problem(path, HELM_TEMPLATE, kind="skipped"))
        result.documents.clear()
        return result
    if error is not None and _libyaml_only(error) and len(body) <= FALLBACK_MAX:
        error = _fallback_read(path, body, result, error)
    if error is not None:
        result.problems.append(error_problem(path, error))
    return result


def _read_documents(path: str, body: str, loader_cls, result: LoadedFile) -> Exception | None:
    """Append every readable document (and per-document problems); return what stopped the file, if anything."""
    try:
        for index, (node, data, too_big, dups, bad) in enumerate(_iter_nodes(body, loader_cls)):
            if node is None:
                continue
            if bad is not None:
                line, why = bad
                result.problems.append(Problem(path, f"{why}; document {index + 1} not scanned", line=line))
                continue
            if too_big:
                result.problems.append(Problem(path, f"document {index + 1} expands to more than {MAX_EXPANDED_NODES:,} nodes through aliases (alias bomb?); not scanned", line=node.start_mark.line + 1))
                continue
            for line, message in dups:
                result.problems.append(Problem(path, message, line=line))
            result.documents.extend(_expand_list(path, index, node, data))
    except (yaml.YAMLError, RecursionError) as exc:
        return exc
    return None


def _libyaml_only(error: Exception) -> bool:
    """Is this a rejection peculiar to libyaml (so another reader may accept the file)?

    Only libyaml's "found unexpected ':'" in a flow plain scalar qualifies; retrying every syntax
    error with a slower parser would cost time on files nobody can read.
    """
    return isinstance(error, yaml.scanner.ScannerError) and "found unexpected ':'" in str(error.problem or "")


def _fallback_read(path: str, body: str, result: LoadedFile, error: Exception) -> Exception | None:
    """libyaml rejects some valid YAML (`[1.2.3.4, 001:db8::]`) that Kubernetes accepts (_GoCompatibleLoader).

    The whole file is re-read with the fallback parser; if it accepts the file its documents
    replace libyaml's partial read and a note says which parser read it.  If it also rejects the
    file, libyaml's error (the one users know) is reported.
    """
    retry = LoadedFile(path, text=result.text, parser=FALLBACK)
    try:
        failed = _read_documents(path, body, _GoCompatibleLoader, retry)
    except Exception:  # noqa: BLE001 - ruamel raises its own error types; libyaml's error is the one to report
        return error
    if failed is not None:
        return error
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark else ""
    problem = " ".join(str(getattr(error, "problem", "") or "").split())
    result.documents[:] = retry.documents
    result.problems[:] = retry.problems + [Problem(path, f"read with the {FALLBACK} (YAML 1.1 values): libyaml rejected it{where} ({problem}); Kubernetes' go-yaml accepts it", kind="note")]
    result.parser = FALLBACK
    return None


def error_problem(path: str, exc: Exception) -> Problem:
    """The one-line problem for what stopped reading a file."""
    if isinstance(exc, RecursionError):
        return Problem(path, "YAML nesting too deep to read; not scanned")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        msg = " ".join(str(exc.problem or exc.context or "YAML syntax error").split())
        return Problem(path, f"YAML syntax error: {msg}", line=line)
    return Problem(path, f"YAML error: {' '.join(str(exc).split())}")


def _iter_nodes(text: str, loader_cls=_Loader) -> Iterator[tuple[yaml.Node | None, Any, bool, list, tuple | None]]:
    """Yield (node, data, too_big, duplicate keys, bad value) per document: one parse gives marks and values.

    A value that cannot be constructed (`rotated: 2024-02-30`, `!!int abc`) spoils only its own
    document: it is yielded as `bad` = (line, reason) and the next document is read normally.
    """
    loader = loader_cls(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                yield None, None, False, [], None
                continue
            try:
                try:
                    data, too_big, dups = _build(loader, node)
                except _Unsupported:  # merge keys, explicit tags, recursive aliases: PyYAML's own constructor
                    too_big, dups = inspect_node(node)
                    data = None if too_big else loader.construct_document(node)
            except BadValue as exc:
                loader.reset_construction()
                yield node, None, False, [], (exc.node.start_mark.line + 1, exc.reason)
                continue
            except yaml.constructor.ConstructorError as exc:  # unhashable keys, bad !!binary …: this document only
                loader.reset_construction()
                mark = exc.problem_mark or exc.context_mark or node.start_mark
                yield node, None, False, [], (mark.line + 1, " ".join(str(exc.problem or exc.context).split()))
                continue
            if too_big:
                yield node, None, True, [], None  # never construct an alias bomb
                continue
            yield node, data, False, dups, None
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
                try:
                    value = ctors[tag](loader, n)
                except _CONSTRUCT_ERRORS as exc:
                    raise _bad_value(n, exc) from None
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
                    shared = _KEYS.get(kk)
                    if shared is not None:
                        kk = shared
                    elif len(_KEYS) < _KEYS_MAX and len(kk) <= 64:
                        _KEYS[kk] = kk
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
