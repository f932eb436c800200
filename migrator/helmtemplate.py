"""Application Helm chart templates read for detection, without Helm.

Teams keep their DestinationRules in their own chart (`templates/destinationrule.yaml` with `{{ }}`
actions), which is not YAML until rendered.  This module renders a template *line for line*: line N
of the output is line N of the template, so findings point at the template line a reviewer opens.

What it does, and why it stops there:
  * control actions (`if`/`else`/`with`/`range`/`end`, comments, `define` blocks) become blank
    lines; a condition it can evaluate (`.Values.egress.enabled`) picks the branch, one it cannot is
    assumed true (the resource is checked rather than silently dropped) and noted;
  * simple references (`.Values.a.b`, `.Release.Name/Namespace`, `.Chart.Name/Version/AppVersion`,
    `$.Values…`, `.` inside `with`) are resolved from the chart's values.yaml deep-merged with what
    the deploying release passes, through a small set of pure functions (quote, default, trunc,
    printf, include of `define`s …); anything else becomes the placeholder scalar `PLACEHOLDER`;
  * output with several lines (`toYaml … | nindent N`, `include … | nindent N`) cannot be inserted
    without moving lines, so it is written as one flow collection (`<<: {…}` merged into the
    surrounding mapping, or `[…]` under an empty key) when the context allows, else masked and noted;
  * every scalar taken verbatim from values keeps its provenance (values file, key, line), so `fix`
    can propose the edit in values.yaml instead of touching template text.

Istio's own charts (base, istiod, gateway, cni, ztunnel …) are installers that the inventory reads
through their release values; they are never rendered here.  `helm template` is used only when asked
(`render_with_helm`) and `helm` is on PATH; everything else works without it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from migrator.model import Problem

PLACEHOLDER = "helm-unresolved"
_FAST = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: templates are many small files
#: chart names of Istio's installer charts (Chart.yaml `name`), never rendered as application charts
ISTIO_CHART_NAMES = {"base", "istiod", "gateway", "cni", "ztunnel", "istiod-remote", "istio-base", "istio-cni", "istio-ingress",
                     "istio-egress", "istio-discovery", "istio-control", "istio-operator"}
ISTIO_CHART_SKIPPED = "Istio installer chart template ({chart}): read through its release values, not rendered"
#: SPIRE's own charts (spiffe/helm-charts-hardened): installers too, read through their release values
SPIRE_CHART_NAMES = {"spire", "spire-nested", "spire-crds", "spire-server", "spire-agent", "spiffe-csi-driver",
                     "spiffe-oidc-discovery-provider", "tornjak-frontend"}
SPIRE_CHART_SKIPPED = "SPIRE installer chart template ({chart}): read through its release values, not rendered"
NOT_A_CHART = "Helm template outside a chart (no Chart.yaml above templates/): not YAML until rendered; not scanned"

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


# ============================================================================ results


@dataclass(frozen=True)
class ValuesRef:
    """Where a rendered setting came from: a key in a values file (chart values.yaml or a release's values)."""

    file: str  # path relative to the scan root
    key: tuple  # key path inside the values mapping
    line: int | None  # 1-based line of the key in `file`, when it is set there
    doc: int = 0  # document index in `file`
    base: tuple = ()  # key path of the values mapping inside that document (() for values.yaml)
    editable: bool = True  # False for values held in a YAML string (Argo CD `helm.values: |`)

    def where(self) -> str:
        dotted = ".".join(str(k) for k in self.key)
        return f"{self.file}:{self.line} ({dotted})" if self.line else f"{self.file} ({dotted}, not set there yet)"


@dataclass(frozen=True)
class TemplateOrigin:
    """Attached to every Resource read from a Helm template: what rendered it and where its values live."""

    template: str  # the template file (relative path), also the Resource's path
    chart: str  # chart directory (relative path)
    chart_name: str
    values_files: tuple  # values files in merge order (chart values.yaml first)
    provenance: tuple = ()  # ((key path in the resource, ValuesRef), ...) for settings taken from values
    notes: tuple = ()  # assumptions made while rendering (unknown conditions, masked lines)
    renderer: str = "mask"  # "mask" (this module) | "helm" (helm template)

    def source_of(self, key_path: tuple) -> ValuesRef | None:
        """The values key a setting (or the mapping holding it) comes from, or None for template text."""
        table = dict(self.provenance)
        if tuple(key_path) in table:
            return table[tuple(key_path)]
        return None

    def as_json(self) -> dict:
        return {"template": self.template, "chart": self.chart, "values": list(self.values_files),
                "from_values": {".".join(map(str, k)): r.where() for k, r in self.provenance},
                "notes": list(self.notes), "renderer": self.renderer}


@dataclass
class RenderedFile:
    """One template rendered line for line, split into the documents that parse."""

    path: str
    text: str  # the rendered text, same number of lines as the template
    documents: list = field(default_factory=list)  # migrator.documents.Document
    origins: dict = field(default_factory=dict)  # document index -> TemplateOrigin
    problems: list[Problem] = field(default_factory=list)


# ============================================================================ values


@dataclass
class ValuesSource:
    """One layer of values: the chart's values.yaml or what a release passes, with key lines."""

    file: str
    data: dict
    lines: dict  # key path -> 1-based line
    doc: int = 0
    base: tuple = ()
    editable: bool = True


def load_values_file(path: Path, rel: str) -> ValuesSource:
    """values.yaml with the line of every key, so a finding can name the values line to change."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=_FAST)
        data = yaml.load(text, Loader=_FAST) if node is not None else {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ValuesSource(rel, {}, {})
    lines: dict = {}
    if node is not None:
        _key_lines(node, (), lines)
    return ValuesSource(rel, data if isinstance(data, dict) else {}, lines)


def values_from_document(doc, base: tuple, file: str) -> ValuesSource:
    """A release's inline values (Argo CD `helm.valuesObject`, Flux `spec.values`) as a layer."""
    data = doc.data
    for step in base:
        data = data.get(step) if isinstance(data, dict) else None
    lines: dict = {}
    node = doc.node_at(base)
    if node is not None:
        _key_lines(node, (), lines, doc.line_offset)
    return ValuesSource(file, data if isinstance(data, dict) else {}, lines, doc.index, doc.base_path + tuple(base))


def _key_lines(node: yaml.Node, path: tuple, out: dict, offset: int = 0) -> None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                out[path + (k.value,)] = k.start_mark.line + 1 + offset
                _key_lines(v, path + (k.value,), out, offset)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out[path + (i,)] = v.start_mark.line + 1 + offset
            _key_lines(v, path + (i,), out, offset)


def merge_values(layers: Iterable[ValuesSource]) -> tuple[dict, dict]:
    """Deep-merge layers as Helm does (later wins, maps merge, null deletes): (values, key -> layer)."""
    merged: dict = {}
    owner: dict = {}

    def walk(dst: dict, src: dict, path: tuple, layer: ValuesSource) -> None:
        for k, v in src.items():
            p = path + (k,)
            if v is None:
                dst.pop(k, None)
                owner[p] = layer
            elif isinstance(v, dict) and isinstance(dst.get(k), dict):
                owner[p] = layer
                walk(dst[k], v, p, layer)
            else:
                dst[k] = _copy(v)
                _own(p, v, layer)

    def _own(p: tuple, v: Any, layer: ValuesSource) -> None:
        owner[p] = layer
        if isinstance(v, dict):
            for k, x in v.items():
                _own(p + (k,), x, layer)

    for layer in layers:
        walk(merged, layer.data, (), layer)
    return merged, owner


def _copy(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v


# ============================================================================ template parsing


@dataclass
class _Text:
    text: str


@dataclass
class _Expr:
    body: str
    start: int
    end: int
    trim_left: bool
    trim_right: bool


@dataclass
class _Branch:
    cond: str | None  # None: the else branch
    opener: tuple  # (start, end) of the opening action
    children: list = field(default_factory=list)
    body_start: int = 0
    body_end: int = 0


@dataclass
class _Block:
    kind: str  # if | with | range | define
    branches: list
    end_action: tuple = (0, 0)
    name: str = ""  # define name


class TemplateSyntaxError(ValueError):
    """An action structure this reader cannot follow (unbalanced end, unterminated action)."""


def parse_template(text: str) -> tuple[list, dict]:
    """Template text → (tree, defines); `{{ define }}` bodies are collected, not rendered in place."""
    root: list = []
    stack: list = []  # open _Block
    defines: dict = {}
    pos = 0

    def children() -> list:
        return stack[-1].branches[-1].children if stack else root

    def close_branch(at: int) -> None:
        stack[-1].branches[-1].body_end = at

    for m in _ACTION.finditer(text):
        if m.start() > pos:
            children().append(_Text(text[pos:m.start()]))
        pos = m.end()
        body = m.group(2).strip()
        word = body.split(None, 1)[0] if body else ""
        rest = body[len(word):].strip()
        if body.startswith("/*"):
            children().append(_Text("\n" * m.group(0).count("\n")))
            continue
        if word in ("if", "with", "range", "define", "block"):
            blk = _Block("define" if word == "block" else word, [_Branch(rest, (m.start(), m.end()), body_start=m.end())])
            if word in ("define", "block"):
                blk.name = _unquote(rest.split()[0]) if rest else ""
            children().append(blk)
            stack.append(blk)
        elif word == "else":
            if not stack:
                raise TemplateSyntaxError(f"`else` without if/with/range at line {text.count(chr(10), 0, m.start()) + 1}")
            close_branch(m.start())
            cond = rest[len(rest.split(None, 1)[0]):].strip() if rest.split(None, 1)[:1] in (["if"], ["with"]) else None
            stack[-1].branches.append(_Branch(cond, (m.start(), m.end()), body_start=m.end()))
        elif word == "end":
            if not stack:
                raise TemplateSyntaxError(f"`end` without an open block at line {text.count(chr(10), 0, m.start()) + 1}")
            close_branch(m.start())
            blk = stack.pop()
            blk.end_action = (m.start(), m.end())
            if blk.kind == "define":
                defines[blk.name] = blk
        else:
            children().append(_Expr(body, m.start(), m.end(), bool(m.group(1)), bool(m.group(3))))
    if "{{" in text[pos:]:
        raise TemplateSyntaxError(f"unterminated action at line {text.count(chr(10), 0, text.index('{{', pos)) + 1}")
    if stack:
        raise TemplateSyntaxError(f"`{stack[-1].kind}` opened at line {text.count(chr(10), 0, stack[-1].branches[0].opener[0]) + 1} has no `end`")
    if pos < len(text):
        root.append(_Text(text[pos:]))
    return root, defines


# ============================================================================ expressions


class _Unknown:
    """A value this reader cannot compute (a function it does not know, a lookup, a capability)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


@dataclass
class V:
    """A value with the values key it was read from (None when computed or literal)."""

    value: Any
    src: tuple | None = None
    block: bool = False  # came out of toYaml/nindent/include: meant to span several lines


_TOKEN = re.compile(r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)
  | (?P<num>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<field>(?:\$[A-Za-z0-9_]*)?(?:\.[A-Za-z0-9_]+)+|\$[A-Za-z0-9_]*|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>:=|=|[()|,])
)""", re.X)


def _tokens(body: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(body):
        if body[pos:].strip() == "":
            break
        m = _TOKEN.match(body, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read {body[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _unquote(s: str) -> str:
    if s.startswith("`"):
        return s[1:-1]
    if s.startswith('"'):
        try:
            return json.loads(s)
        except ValueError:
            return s[1:-1]
    return s


def truthy(v: Any) -> bool | None:
    """Go template truth; None when unknown."""
    if v is UNKNOWN:
        return None
    if isinstance(v, str) and PLACEHOLDER in v:
        return None
    return bool(v) if v is not None else False


def go_print(v: Any) -> str:
    """How text/template prints a value (Helm turns <no value> into an empty string)."""
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e21 else repr(v)
    if isinstance(v, (dict, list)):
        return flow(v)
    if v is UNKNOWN:
        return PLACEHOLDER
    return str(v)


def flow(data: Any) -> str:
    """One-line YAML for a collection (flow style), for output that must stay on its line."""
    return yaml.safe_dump(data, default_flow_style=True, width=1 << 30, sort_keys=False).strip()


class Evaluator:
    """Evaluates pipelines against the root context; `include` renders `define`s in string mode."""

    def __init__(self, root: dict, defines: dict, source: str):
        self.root = root
        self.defines = defines
        self.source = source  # text the define spans index into
        self.vars: dict = {}
        self.depth = 0
        self.picks: dict = {}  # id(range branch) -> item index to render (default 0)
        self.sizes: dict = {}  # id(range branch) -> number of items

    def eval(self, body: str, dot: V) -> V:
        try:
            toks = _tokens(body)
        except ValueError:
            return V(UNKNOWN)
        if len(toks) >= 2 and toks[0][0] == "field" and toks[0][1].startswith("$") and toks[1][1] in (":=", "="):
            value = self._pipeline(toks[2:], dot)
            self.vars[toks[0][1]] = value
            return V("")  # an assignment prints nothing
        if len(toks) >= 4 and toks[0][0] == "field" and toks[1][1] == "," and toks[3][1] == ":=":
            return V(UNKNOWN)  # range $k, $v := … handled by the caller
        return self._pipeline(toks, dot)

    def _pipeline(self, toks: list, dot: V) -> V:
        cmds, cur, depth = [], [], 0
        for t in toks:
            if t[1] == "(":
                depth += 1
            elif t[1] == ")":
                depth -= 1
            if t[1] == "|" and depth == 0:
                cmds.append(cur)
                cur = []
            else:
                cur.append(t)
        cmds.append(cur)
        value: V | None = None
        for cmd in cmds:
            value = self._command(cmd, dot, value)
        return value if value is not None else V(UNKNOWN)

    def _args(self, toks: list, dot: V) -> list[V]:
        out, i = [], 0
        while i < len(toks):
            kind, text = toks[i]
            if text == "(":
                depth, j = 1, i + 1
                while j < len(toks) and depth:
                    depth += {"(": 1, ")": -1}.get(toks[j][1], 0)
                    j += 1
                out.append(self._pipeline(toks[i + 1:j - 1], dot))
                i = j
                continue
            out.append(self._operand(kind, text, dot))
            i += 1
        return out

    def _operand(self, kind: str, text: str, dot: V) -> V:
        if kind == "str":
            return V(_unquote(text))
        if kind == "num":
            return V(float(text) if "." in text else int(text))
        if kind == "ident":
            if text in ("true", "false"):
                return V(text == "true")
            if text == "nil":
                return V(None)
            return V(("func", text))
        if kind == "field":
            return self._field(text, dot)
        return V(UNKNOWN)

    def _field(self, text: str, dot: V) -> V:
        if text == ".":
            return dot
        if text.startswith("$"):
            head, _, rest = text.partition(".")
            base = V(self.root) if head == "$" else self.vars.get(head, V(UNKNOWN))
            parts = [p for p in rest.split(".") if p]
        else:
            base = dot
            parts = [p for p in text.split(".") if p]
        cur, src = base.value, base.src
        if base.value is self.root and parts[:1] == ["Values"]:
            cur, src, parts = self.root["Values"], (), parts[1:]
        for p in parts:
            if cur is UNKNOWN:
                return V(UNKNOWN)
            if isinstance(cur, dict):
                if p not in cur and cur is self.root:
                    return V(UNKNOWN)  # .Capabilities, .Files …
                cur = cur.get(p)
                src = src + (p,) if src is not None else None
            elif cur is None:
                cur, src = None, (src + (p,) if src is not None else None)
            else:
                return V(UNKNOWN)
        return V(cur, src)

    def _command(self, cmd: list, dot: V, piped: V | None) -> V:
        if not cmd:
            return V(UNKNOWN)
        args = self._args(cmd, dot)
        head = args[0]
        if isinstance(head.value, tuple) and len(head.value) == 2 and head.value[0] == "func":
            rest = args[1:] + ([piped] if piped is not None else [])
            return self._call(head.value[1], rest, dot)
        if len(args) > 1 or piped is not None:
            return V(UNKNOWN)  # calling a field with arguments
        return head

    # -- functions -----------------------------------------------------------------------------
    def _call(self, name: str, args: list[V], dot: V) -> V:
        vals = [a.value for a in args]
        if name in ("include", "template"):
            return self._include(args)
        if name == "default":
            if len(args) != 2:
                return V(UNKNOWN)
            d, x = args
            t = truthy(x.value)
            if t is None:
                return V(UNKNOWN)
            return V(x.value, x.src, x.block) if t else V(d.value, x.src if x.src is not None else d.src, d.block)
        if name == "required":
            return args[-1] if len(args) == 2 else V(UNKNOWN)
        if name in ("toYaml", "toYAML", "nindent", "indent"):
            x = args[-1] if args else V(UNKNOWN)
            if name in ("nindent", "indent") and len(args) != 2:
                return V(UNKNOWN)
            return V(x.value, x.src, True) if x.value is not UNKNOWN else V(UNKNOWN, block=True)
        if any(v is UNKNOWN for v in vals):
            return V(UNKNOWN, block=any(a.block for a in args))
        fn = _FUNCS.get(name)
        if fn is None:
            return V(UNKNOWN)
        try:
            out = fn(*vals)
        except (TypeError, ValueError, IndexError, KeyError, AttributeError):
            return V(UNKNOWN)
        keep = name in _KEEPS_SOURCE and args and args[-1].src is not None
        return V(out, args[-1].src if keep else None)

    def _include(self, args: list[V]) -> V:
        """Render a `define` (in string mode, against the text it was defined in)."""
        name = args[0].value if args else None
        blk = self.defines.get(name) if isinstance(name, str) else None
        if blk is None or len(args) != 2 or self.depth > 8:
            return V(UNKNOWN, block=True)
        saved, self.source = self.source, blk.source
        self.depth += 1
        try:
            text = branch_text(blk, blk.branches[0], self, args[1])
        finally:
            self.depth -= 1
            self.source = saved
        return V(text, None, "\n" in text.strip())


def _printf(fmt: str, *args: Any) -> str:
    it = iter(args)
    return re.sub(r"%[-+ #0-9.]*[svdq%]", lambda m: "%" if m.group(0) == "%%" else (json.dumps(go_print(next(it))) if m.group(0).endswith("q") else go_print(next(it))), fmt)


def _eq(a, *bs):
    return any(a == b for b in bs)


_FUNCS = {
    "quote": lambda *xs: " ".join(json.dumps(go_print(x)) for x in xs),
    "squote": lambda *xs: " ".join(f"'{go_print(x)}'" for x in xs),
    "lower": lambda s: go_print(s).lower(),
    "upper": lambda s: go_print(s).upper(),
    "title": lambda s: go_print(s).title(),
    "trim": lambda s: go_print(s).strip(),
    "toString": go_print,
    "trunc": lambda n, s: go_print(s)[:n] if n >= 0 else go_print(s)[n:],
    "trimSuffix": lambda suf, s: go_print(s)[: -len(suf)] if suf and go_print(s).endswith(suf) else go_print(s),
    "trimPrefix": lambda pre, s: go_print(s)[len(pre):] if pre and go_print(s).startswith(pre) else go_print(s),
    "replace": lambda old, new, s: go_print(s).replace(old, new),
    "printf": _printf,
    "print": lambda *xs: "".join(go_print(x) for x in xs),
    "toJson": lambda x: json.dumps(x, separators=(",", ":")),
    "int": int, "int64": int, "float64": float,
    "not": lambda x: not truthy(x),
    "and": lambda *xs: next((x for x in xs if not truthy(x)), xs[-1]),
    "or": lambda *xs: next((x for x in xs if truthy(x)), xs[-1]),
    "eq": _eq,
    "ne": lambda a, b: a != b,
    "empty": lambda x: not truthy(x),
    "hasKey": lambda d, k: k in d,
    "contains": lambda sub, s: sub in go_print(s),
    "hasPrefix": lambda pre, s: go_print(s).startswith(pre),
    "hasSuffix": lambda suf, s: go_print(s).endswith(suf),
    "coalesce": lambda *xs: next((x for x in xs if truthy(x)), None),
    "ternary": lambda a, b, c: a if c else b,
}
#: functions whose result is still "the value from values" as far as an edit in values.yaml is concerned
_KEEPS_SOURCE = {"quote", "squote", "toString", "trim"}


def render_string(nodes: list, ev: Evaluator, dot: V) -> str:
    """Render nodes to text as Go's text/template would (trim markers honoured): used for `include`."""
    parts: list[str] = []
    trim_next = False
    for n in nodes:
        if isinstance(n, _Text):
            parts.append(n.text.lstrip() if trim_next else n.text)
            trim_next = False
            continue
        start, end = (n.start, n.end) if isinstance(n, _Expr) else (n.branches[0].opener[0], n.end_action[1])
        if ev.source.startswith("{{-", start) and parts:
            parts[-1] = parts[-1].rstrip()
        if isinstance(n, _Expr):
            v = ev.eval(n.body, dot)
            block = isinstance(v.value, (dict, list)) and v.block
            parts.append(yaml.safe_dump(v.value, default_flow_style=False, sort_keys=False).rstrip() if block else go_print(v.value))
        else:
            branch, inner_dot, _ = _choose(n, ev, dot)
            if branch is not None:
                parts.append(branch_text(n, branch, ev, inner_dot))
        trim_next = ev.source[end - 3:end] == "-}}"
    return "".join(parts)


def branch_text(blk: "_Block", br: "_Branch", ev: Evaluator, dot: V) -> str:
    """A branch's text with the trim markers of its opening and closing actions applied."""
    text = render_string(br.children, ev, dot)
    if ev.source[br.opener[1] - 3:br.opener[1]] == "-}}":
        text = text.lstrip()
    if ev.source.startswith("{{-", br.body_end):
        text = text.rstrip()
    return text


def _choose(blk: _Block, ev: Evaluator, dot: V) -> tuple[_Branch | None, V, str | None]:
    """The branch a block renders, the dot inside it, and a note when the choice was assumed."""
    if blk.kind == "define":
        return None, dot, None
    for br in blk.branches:
        if br.cond is None:
            return br, dot, None
        if blk.kind == "range":
            return _range(br, ev, dot)
        v = ev.eval(br.cond, dot)
        t = truthy(v.value)
        if t is None:
            return br, (V(UNKNOWN) if blk.kind == "with" else dot), f"{blk.kind} {br.cond.strip()}: cannot evaluate; assumed true"
        if t:
            return br, (v if blk.kind == "with" else dot), None
    return None, dot, None


def _range(br: _Branch, ev: Evaluator, dot: V) -> tuple[_Branch | None, V, str | None]:
    """A range renders one item (ev.picks says which; the first by default) so lines stay in place."""
    names, expr = ([], br.cond)
    if ":=" in br.cond:
        lhs, expr = br.cond.split(":=", 1)
        names = [n.strip() for n in lhs.split(",") if n.strip()]
    v = ev.eval(expr, dot)
    items = v.value
    if isinstance(items, dict):
        keys = sorted(items, key=str)  # Go ranges over map keys in sorted order
        pairs = [(k, items[k]) for k in keys]
    elif isinstance(items, list):
        pairs = list(enumerate(items))
    elif truthy(items) is False:
        return None, dot, None
    else:
        return br, V(UNKNOWN), f"range over {br.cond.strip()}: items unknown; rendered once with unresolved values"
    if not pairs:
        return None, dot, None
    ev.sizes[id(br)] = len(pairs)
    key, item = pairs[min(ev.picks.get(id(br), 0), len(pairs) - 1)]
    inner = V(item, v.src + (key,) if v.src is not None else None)
    if len(names) == 2:
        ev.vars[names[0]], ev.vars[names[1]] = V(key), inner
    elif len(names) == 1:
        ev.vars[names[0]] = inner
    return br, inner, None


# ============================================================================ line-preserving render


@dataclass
class _Slot:
    """A standalone action whose output spans several lines; resolved after the whole text is out."""

    line: int  # 0-based output line
    indent: str
    value: V
    action: str


class _LineRenderer:
    """Renders the document tree so that output line N is template line N."""

    def __init__(self, source: str, ev: Evaluator):
        self.source = source
        self.ev = ev
        self.parts: list[str] = []
        self.line = 0
        self.col = 0
        self.subs: list[tuple[int, int, int, tuple, bool]] = []  # (line, col, end col, values key, collection)
        self.slots: list[_Slot] = []
        self.notes: list[str] = []
        self.ranges: dict = {}  # id(range branch) -> (items, (first, last output line), condition)

    def emit(self, text: str) -> None:
        self.parts.append(text)
        nl = text.count("\n")
        if nl:
            self.line += nl
            self.col = len(text) - text.rindex("\n") - 1
        else:
            self.col += len(text)

    def newlines_of(self, start: int, end: int) -> None:
        self.emit("\n" * self.source.count("\n", start, end))

    def render(self, nodes: list, dot: V) -> None:
        for n in nodes:
            if isinstance(n, _Text):
                self.emit(n.text)
            elif isinstance(n, _Expr):
                self.expr(n, dot)
            else:
                self.block(n, dot)

    def block(self, blk: _Block, dot: V) -> None:
        branch, inner_dot, note = _choose(blk, self.ev, dot)
        if note:
            self.notes.append(f"line {self.line + 1}: {note}")
        for br in blk.branches:
            self.newlines_of(*br.opener)
            if br is branch:
                start = self.line
                size = self.ev.sizes.get(id(br), 0) if blk.kind == "range" else 0
                first = size > 1 and not self.ranges  # the outermost, first range over several items is varied
                if size > 1 and (not first or size > MAX_RANGE_ITEMS):
                    self.notes.append(f"line {start + 1}: range over {br.cond.strip()}: only item "
                                      f"{self.ev.picks.get(id(br), 0) + 1} of {size} is rendered")
                if size > 1:
                    self.ranges.setdefault(id(br), None)
                self.render(br.children, inner_dot)
                if first:
                    self.ranges[id(br)] = (size, (start, self.line), br.cond.strip())
            else:
                self.newlines_of(br.body_start, br.body_end)
        self.newlines_of(*blk.end_action)

    def _standalone(self, n: _Expr) -> str | None:
        """The indentation of the action's line when the action is alone on it, else None."""
        line_start = self.source.rfind("\n", 0, n.start) + 1
        line_end = self.source.find("\n", n.end)
        line_end = len(self.source) if line_end < 0 else line_end
        before, after = self.source[line_start:n.start], self.source[n.end:line_end]
        if before.strip() or after.strip():
            return None
        return before

    def expr(self, n: _Expr, dot: V) -> None:
        v = self.ev.eval(n.body, dot)
        inner_newlines = self.source.count("\n", n.start, n.end)
        indent = self._standalone(n)
        value = v.value
        multi = v.block or isinstance(value, (dict, list)) or (isinstance(value, str) and "\n" in value.strip())
        if indent is not None and (multi or value is UNKNOWN):
            if value is UNKNOWN:
                self.notes.append(f"line {self.line + 1}: {{{{ {n.body} }}}} cannot be resolved; masked")
            else:
                self.slots.append(_Slot(self.line, indent, v, n.body))
        elif multi:
            data = _as_data(value)
            if isinstance(data, (dict, list)):
                self.subs.append((self.line, self.col, self.col + len(flow(data)), v.src, True))
                self.emit(flow(data))
            elif data in (None, ""):
                pass
            else:
                self.emit(PLACEHOLDER)
                self.notes.append(f"line {self.line + 1}: {{{{ {n.body} }}}} gives several lines; replaced by a placeholder")
        else:
            text = go_print(value)
            if v.src is not None and value is not UNKNOWN and not isinstance(value, (dict, list)):
                self.subs.append((self.line, self.col, self.col + len(text), v.src, False))
            self.emit(text)
        self.emit("\n" * inner_newlines)


def _as_data(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return yaml.load(value, Loader=_FAST)
        except yaml.YAMLError:
            return UNKNOWN
    return value


_KEY_LINE = re.compile(r"^(\s*)((?:-\s+)*)(?:[^\s#][^#]*?|\"[^\"]*\"|'[^']*'):(?:\s|$)")


def _content(line: str) -> str:
    """A line without its comment (good enough for the context checks below)."""
    stripped = line.split(" #", 1)[0].rstrip()
    return "" if stripped.lstrip().startswith("#") else stripped


def _resolve_slots(lines: list[str], slots: list[_Slot], subs: list, notes: list[str]) -> None:
    """Write each multi-line output on its own line as a flow collection where the YAML context allows."""
    slot_lines = {s.line for s in slots}
    for s in slots:
        data = _as_data(s.value.value)
        if data in (None, "", {}, []):
            continue
        prev = next((lines[i] for i in range(s.line - 1, -1, -1) if _content(lines[i])), "")
        nxt = next((lines[i] for i in range(s.line + 1, len(lines)) if _content(lines[i]) and i not in slot_lines), "")
        ic = len(s.indent)
        pc = _content(prev)
        ip = len(pc) - len(pc.lstrip())
        key = _KEY_LINE.match(pc)
        opens = pc.endswith(":") and ip < ic
        key_col = (len(key.group(1)) + len(key.group(2))) if key else -1
        text = None
        if isinstance(data, dict) and (opens or key_col == ic or pc.lstrip().startswith("<<:") and ip == ic):
            text = s.indent + "<<: " + flow(data)
            col = ic + 4
        elif isinstance(data, list) and opens:
            nc = _content(nxt)
            if not (nc.lstrip().startswith("- ") and len(nc) - len(nc.lstrip()) >= ip):
                text, col = s.indent + flow(data), ic
        if text is None:
            notes.append(f"line {s.line + 1}: {{{{ {s.action} }}}} gives several lines that cannot be kept on one here; masked")
            continue
        lines[s.line] = text
        subs.append((s.line, col, len(text), s.value.src, True))


# ============================================================================ provenance


def _provenance(node: yaml.Node, subs: list, owner: dict, layers_by_file: dict) -> list[tuple[tuple, ValuesRef]]:
    """Key path (inside the document) → values key, for scalars and collections written from values."""
    by_pos = {(ln, col): (end, src, coll) for ln, col, end, src, coll in subs if src is not None}
    out: list[tuple[tuple, ValuesRef]] = []

    def ref(src: tuple) -> ValuesRef:
        layer = owner.get(src) or _nearest_owner(owner, src) or layers_by_file.get("__chart__")
        if layer is None:
            return ValuesRef("values.yaml", src, None, editable=False)
        return ValuesRef(layer.file, src, layer.lines.get(src), layer.doc, layer.base, layer.editable)

    def under(path: tuple, src: tuple, n: yaml.Node) -> None:
        out.append((path, ref(src)))
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode):
                    under(path + (k.value,), src + (k.value,), v)
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                under(path + (i,), src + (i,), v)

    def walk(n: yaml.Node, path: tuple) -> None:
        hit, inner = by_pos.get((n.start_mark.line, n.start_mark.column)), 0
        if hit is None and isinstance(n, yaml.ScalarNode) and n.style in ("'", '"'):
            hit, inner = by_pos.get((n.start_mark.line, n.start_mark.column + 1)), 1  # "{{ .Values.x }}"
        if hit is not None:
            end, src, coll = hit
            if coll and not isinstance(n, yaml.ScalarNode):
                under(path, src, n)
                return
            if isinstance(n, yaml.ScalarNode) and n.end_mark.line == n.start_mark.line and n.end_mark.column - inner == end:
                out.append((path, ref(src)))  # the whole scalar is the value (a partial one is template text)
                return
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                if not isinstance(k, yaml.ScalarNode):
                    continue
                if k.value == "<<":
                    hit = by_pos.get((v.start_mark.line, v.start_mark.column))
                    if hit and hit[2] and isinstance(v, yaml.MappingNode):
                        out.append((path, ref(hit[1])))  # keys not written in the template can be set in values
                        for kk, vv in v.value:
                            if isinstance(kk, yaml.ScalarNode):
                                under(path + (kk.value,), hit[1] + (kk.value,), vv)
                    continue
                walk(v, path + (k.value,))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, path + (i,))

    walk(node, ())
    return out


def _nearest_owner(owner: dict, src: tuple):
    for i in range(len(src) - 1, 0, -1):
        if src[:i] in owner:
            return owner[src[:i]]
    return None


# ============================================================================ charts


def chart_dir_of(template_abspath: Path) -> Path | None:
    """The chart a template belongs to: the directory holding `templates/` and a Chart.yaml."""
    parts = template_abspath.parts
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] == "templates":
            chart = Path(*parts[:i])
            if (chart / "Chart.yaml").is_file():
                return chart
    return None


#: Chart.yaml of each chart directory, read once per scan (set_rendering clears it): every template of a
#: chart asks, and an Istio release tree has ~200 templates in a dozen charts (14 ms of a 0.2 s scan)
_CHART_META: dict[str, dict] = {}


def read_chart_meta(chart: Path) -> dict:
    """The chart's Chart.yaml as a mapping ({} when unreadable); callers only read it."""
    key = str(chart)
    meta = _CHART_META.get(key)
    if meta is None:
        meta = _CHART_META[key] = _read_chart_meta(chart)
    return meta


def _read_chart_meta(chart: Path) -> dict:
    try:
        data = yaml.load((chart / "Chart.yaml").read_text(encoding="utf-8"), Loader=_FAST)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def is_istio_chart(chart_rel: str, meta: dict) -> bool:
    """Istio's installer charts: by name, or by living in an Istio release tree (manifests/charts/)."""
    name = str(meta.get("name", ""))
    return name in ISTIO_CHART_NAMES or name.startswith("istio-") or "manifests/charts/" in f"/{chart_rel}/"


_CHARTS: dict[str, tuple] = {}


def _chart_context(chart: Path, chart_rel: str) -> tuple:
    """(Chart.yaml, values.yaml layer, helpers text, defines): read once per chart and scan, not per template."""
    key = f"{chart}\0{chart_rel}"
    if key not in _CHARTS:
        helpers = _helpers(chart)
        try:
            defines: Any = parse_template(helpers)[1]
        except TemplateSyntaxError as exc:
            defines = exc
        values = load_values_file(chart / "values.yaml", f"{chart_rel}/values.yaml" if chart_rel else "values.yaml")
        _CHARTS[key] = (read_chart_meta(chart), values, helpers, defines)
    return _CHARTS[key]


def _helpers(chart: Path) -> str:
    out = []
    for p in sorted((chart / "templates").glob("**/*.tpl")):
        try:
            out.append(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    return "\n".join(out)


@dataclass
class Release:
    """What a deploying release passes to the chart (Argo CD / Flux), as values layers."""

    name: str | None = None
    namespace: str | None = None
    layers: list[ValuesSource] = field(default_factory=list)
    note: str | None = None  # an assumption about which release applies
    source: str | None = None  # file declaring the release


def render_template(path: str, text: str, chart: Path, chart_rel: str, release: Release | None = None) -> RenderedFile:
    """Render one template of an application chart line for line and load the documents that parse."""
    release = release or Release()
    meta, chart_values, helpers, defines = _chart_context(chart, chart_rel)
    layers = [chart_values] + list(release.layers)
    values, owner = merge_values(layers)
    chart_name = str(meta.get("name") or chart.name)
    root = {
        "Values": values,
        "Release": {"Name": release.name or "release-name", "Namespace": release.namespace or "default", "Service": "Helm",
                    "IsInstall": True, "IsUpgrade": False, "Revision": 1},
        "Chart": {"Name": chart_name, "Version": str(meta.get("version", "")), "AppVersion": str(meta.get("appVersion", "")),
                  "Type": str(meta.get("type", "application"))},
        "Template": {"Name": f"{chart_name}/{path.split('/templates/', 1)[-1]}", "BasePath": f"{chart_name}/templates"},
    }
    result = RenderedFile(path, text)
    try:
        if isinstance(defines, TemplateSyntaxError):
            raise TemplateSyntaxError(f"{chart_rel}/templates/*.tpl: {defines}")
        tree, own_defines = parse_template(text)
    except TemplateSyntaxError as exc:
        result.problems.append(Problem(path, f"Helm template not rendered: {exc}", kind="skipped"))
        return result
    picks: dict = {}
    ev, renderer, lines = _render_pass(text, tree, root, helpers, defines, own_defines, picks)
    renderer.notes[:0] = [release.note] if release.note else []
    result.text = "\n".join(lines)
    values_files = tuple(dict.fromkeys(layer.file for layer in layers))
    base_origin = dict(template=path, chart=chart_rel, chart_name=chart_name, values_files=values_files)
    _load_pass(result, lines, renderer, owner, chart_values, base_origin, 0, None)
    varied = next(((key,) + info for key, info in renderer.ranges.items() if info is not None), None)
    if varied is not None:  # one more pass per item of the file's first range over several items
        key, size, span, cond = varied
        for k in range(1, min(size, MAX_RANGE_ITEMS)):
            picks = {key: k}
            _, again, more = _render_pass(text, tree, root, helpers, defines, own_defines, picks)
            again.notes.append(f"line {span[0] + 1}: range over {cond}: item {k + 1} of {size}")
            _load_pass(result, more, again, owner, chart_values, base_origin, k, span)
    return result


#: a range over more items than this is rendered for the first MAX_RANGE_ITEMS only
MAX_RANGE_ITEMS = 64


def _render_pass(text, tree, root, helpers, defines, own_defines, picks: dict):
    """One rendering of the file, with `picks` choosing which item a range renders (default the first)."""
    ev = Evaluator(root, {k: _Rebased(b, helpers) for k, b in defines.items()}, text)
    ev.defines.update({k: _Rebased(b, text) for k, b in own_defines.items()})
    ev.picks = picks
    renderer = _LineRenderer(text, ev)
    renderer.render(tree, V(root))
    lines = "".join(renderer.parts).split("\n")
    _resolve_slots(lines, renderer.slots, renderer.subs, renderer.notes)
    return ev, renderer, lines


def _load_pass(result: RenderedFile, lines: list[str], renderer, owner: dict, chart_values, base_origin: dict,
               variant: int, span: tuple | None) -> None:
    """Load the documents of one pass (for a range variant, only those inside the range's lines)."""
    from migrator.documents import load_text

    chunks = _split_documents("\n".join(lines))
    for index, (first, chunk) in enumerate(chunks):
        last = chunks[index + 1][0] if index + 1 < len(chunks) else len(lines)
        body_start = first + len(chunk) - len(chunk.lstrip("\n-"))
        if span is not None and not (span[0] <= body_start <= span[1]):
            continue
        loaded = load_text(result.path, "\n" * first + chunk)
        if loaded.problems:
            p = loaded.problems[0]
            if not result.problems:
                result.problems.append(Problem(result.path, f"rendered Helm template does not parse as YAML ({p.message}); not scanned",
                                               line=p.line, kind="skipped"))
            continue
        composed = _compose("\n" * first + chunk)  # unflattened: the loader resolves `<<` in place
        for doc in loaded.documents:
            doc.index = index + variant * len(chunks)
            node = _descend(composed, doc.base_path) if composed is not None else None
            prov = _provenance(node, renderer.subs, owner, {"__chart__": chart_values}) if node is not None else []
            notes = tuple(n for n in renderer.notes if (first if index else 0) < _note_line(n) <= last or not _note_line(n))
            result.documents.append(doc)
            result.origins[(doc.index, doc.item)] = TemplateOrigin(provenance=tuple(prov), notes=notes, **base_origin)


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_FAST)
    except yaml.YAMLError:
        return None


def _descend(node: yaml.Node, path: tuple) -> yaml.Node | None:
    from migrator.documents import child_node

    for step in path:
        node = child_node(node, step)
        if node is None:
            return None
    return node


def _note_line(note: str) -> int:
    m = re.match(r"line (\d+):", note)
    return int(m.group(1)) if m else 0


def _split_documents(text: str) -> list[tuple[int, str]]:
    """(first line, text) per `---`-separated document, so one bad document does not hide the others."""
    out, start, lines = [], 0, text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("---") and line[3:].strip() in ("",) or line.rstrip() == "---":
            out.append((start, "\n".join(lines[start:i])))
            start = i
    out.append((start, "\n".join(lines[start:])))
    return [(first, chunk) for first, chunk in out if chunk.strip() and chunk.strip() != "---"]


class _Rebased(_Block):
    """A define block with the source text its offsets refer to (helpers and templates differ)."""

    def __init__(self, blk: _Block, source: str):
        super().__init__(blk.kind, blk.branches, blk.end_action, blk.name)
        self.source = source


# ============================================================================ helm template (exact)


def helm_available() -> str | None:
    return shutil.which("helm")


def render_with_helm(chart: Path, value_files: list[Path], release: str = "release-name", namespace: str = "default",
                     timeout: int = 60) -> dict[str, str]:
    """`helm template` output per template file (exact, but line numbers are Helm's, not the template's)."""
    helm = helm_available()
    if helm is None:
        raise FileNotFoundError("helm is not on PATH")
    cmd = [helm, "template", release, str(chart), "--namespace", namespace]
    for f in value_files:
        cmd += ["--values", str(f)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True).stdout
    files: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        m = re.match(r"# Source: [^/]+/(.+)$", line)
        if m:
            current = m.group(1)
            files.setdefault(current, []).append("---")
        elif current is not None:
            files[current].append(line)
    return {k: "\n".join(v) + "\n" for k, v in files.items()}


_HELM_OUTPUT: dict[tuple, dict | None] = {}
USE_HELM = False  # set by `--render` (scan.set_rendering); inherited by forked --jobs workers


def set_rendering(use_helm: bool) -> None:
    """Called once per scan: `--render` uses `helm template` where helm is on PATH; caches start empty
    (a `fix --write` between two scans of one process may have changed values or releases)."""
    global USE_HELM
    USE_HELM = bool(use_helm)
    _RELEASES_CACHE.clear()
    stop_release_searches()
    _HELM_OUTPUT.clear()
    _CHARTS.clear()
    _CHART_META.clear()


def _helm_text(chart: Path, template_rel: str, release: Release | None) -> str | None:
    """`helm template` output for one template file, or None (helm missing or failing: masking is used)."""
    if not (USE_HELM and helm_available()):
        return None
    overrides = merge_values(release.layers)[0] if release else {}
    key = (str(chart), release.name if release else None, json.dumps(overrides, sort_keys=True, default=str))
    if key not in _HELM_OUTPUT:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:  # the release's values, merged, as one values file
            extra = Path(tmp) / "release-values.yaml"
            extra.write_text(yaml.safe_dump(overrides), encoding="utf-8")
            try:
                _HELM_OUTPUT[key] = render_with_helm(chart, [extra], (release.name if release else None) or "release-name",
                                                     (release.namespace if release else None) or "default")
            except (OSError, subprocess.SubprocessError):
                _HELM_OUTPUT[key] = None
    out = _HELM_OUTPUT[key]
    return out.get(template_rel) if out is not None else None


def _with_template_lines(exact_docs: list, masked_docs: list) -> list:
    """Helm's documents with every node moved to the line of the same key in the masked rendering.

    `helm template` gives exact values but its own line numbers; the masked rendering has the
    template's lines.  Documents are matched by kind/namespace/name, nodes by key path; a key the
    masked rendering lacks takes the line of its nearest ancestor.
    """
    by_id = {(d.kind, d.name): d for d in masked_docs}
    out = []
    for d in exact_docs:
        twin = by_id.get((d.kind, d.name))
        if twin is None:
            continue
        _relocate(d.node, twin.node, twin.node.start_mark)
        d.index = twin.index
        out.append(d)
    return out


def _relocate(node: yaml.Node, twin: yaml.Node | None, fallback) -> None:
    mark = twin.start_mark if twin is not None else fallback
    node.start_mark = node.end_mark = mark
    if isinstance(node, yaml.MappingNode):
        from migrator.documents import child_node

        for k, v in node.value:
            t = child_node(twin, k.value) if twin is not None and isinstance(k, yaml.ScalarNode) else None
            tk = next((kk for kk, _ in twin.value if isinstance(kk, yaml.ScalarNode) and kk.value == k.value), None) if isinstance(twin, yaml.MappingNode) else None
            k.start_mark = k.end_mark = tk.start_mark if tk is not None else mark
            _relocate(v, t, mark)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            t = twin.value[i] if isinstance(twin, yaml.SequenceNode) and i < len(twin.value) else None
            _relocate(v, t, mark)


# ============================================================================ scan integration


def scan_template(path: str, raw: bytes, abspath: Path | None, max_bytes: int):
    """A `templates/` file with `{{ }}`: (inventory, problems, parsed, documents) for the scan pipeline."""
    from migrator.documents import HELM_TEMPLATE, decode
    from migrator.inventory import Inventory, collect

    chart = chart_dir_of(abspath) if abspath is not None else None
    if chart is None:
        reason = HELM_TEMPLATE if abspath is None else NOT_A_CHART
        return Inventory(), [Problem(path, reason, kind="skipped")], False, 0
    chart_rel = _rel_chart(path, abspath, chart)
    meta = read_chart_meta(chart)
    if is_istio_chart(chart_rel, meta):
        return Inventory(), [Problem(path, ISTIO_CHART_SKIPPED.format(chart=meta.get("name") or chart.name), kind="skipped")], False, 0
    if str(meta.get("name", "")) in SPIRE_CHART_NAMES:
        return Inventory(), [Problem(path, SPIRE_CHART_SKIPPED.format(chart=meta.get("name")), kind="skipped")], False, 0
    text, problem = decode(path, raw, max_bytes)
    if problem:
        return Inventory(), [problem], False, 0
    try:
        release = releases_for(_root_of(path, abspath), chart_rel)
        rendered = render_template(path, text, chart, chart_rel, release)
    except (RecursionError, ValueError, TypeError, KeyError, AttributeError, IndexError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())[:200]
        return Inventory(), [Problem(path, f"Helm template not rendered ({type(exc).__name__}: {reason}); not scanned", kind="skipped")], False, 0
    exact = _helm_text(chart, abspath.relative_to(chart).as_posix(), release)
    if exact is not None:
        from migrator.documents import load_text

        rendered.documents = _with_template_lines(load_text(path, exact).documents, rendered.documents)
        rendered.origins = {k: TemplateOrigin(**{**o.__dict__, "renderer": "helm"}) for k, o in rendered.origins.items()}
    from migrator import shapes
    from migrator.isolate import collect_isolated

    documents, shape_problems = shapes.admit(rendered.documents)  # the same gate as plain files
    inv, internal = collect_isolated(path, rendered.text, documents, collect)
    attach_origins(inv, rendered)
    return inv, rendered.problems + shape_problems + internal, True, len(rendered.documents)


def attach_origins(inv, rendered: RenderedFile) -> None:
    """Mark every resource the template produced with its TemplateOrigin (rules and fix read it)."""
    for r in inv.resources:
        item = r.base_path[1] if r.base_path[:1] == ("items",) else None
        origin = rendered.origins.get((r.doc_index, item))
        if origin is not None:
            r.template = origin


def _rel_chart(path: str, abspath: Path, chart: Path) -> str:
    depth = len(abspath.relative_to(chart).parts)
    parts = path.split("/")
    return "/".join(parts[:-depth]) if depth < len(parts) else ""


def _root_of(path: str, abspath: Path) -> Path:
    depth = len(path.split("/"))
    return Path(*abspath.parts[:-depth]) if depth < len(abspath.parts) else abspath.parent


def releases_for(root: Path, chart_rel: str) -> Release | None:
    """The release that deploys a chart from this repo, when exactly one does (see find_releases)."""
    found = find_releases(str(root)).get(chart_rel.strip("/"), [])
    if len(found) <= 1:
        return found[0] if found else None
    where = ", ".join(sorted({r.source or "?" for r in found}))
    return Release(note=f"deployed by {len(found)} releases ({where}); rendered with the chart's values.yaml only")


_RELEASES_CACHE: dict[str, dict] = {}
#: directories find_releases does not look into (besides hidden ones)
_NOT_RELEASE_DIRS = ("node_modules", "templates", "vendor")


def _release_dir(name: str) -> bool:
    """May a directory of this name hold a release find_releases counts?"""
    return name not in _NOT_RELEASE_DIRS and not name.startswith(".")


#: `git grep` searches started ahead of need (start_release_search), by root, until find_releases takes them
_SEARCHES: dict[str, subprocess.Popen] = {}


def _release_search(root: str) -> subprocess.Popen:
    """A `git grep` for the YAML files under root that name argoproj.io or HelmRelease (see _mentioning_releases)."""
    from migrator.discover import SAFE_GIT

    return subprocess.Popen(["git", *SAFE_GIT, "-C", root, "grep", "--untracked", "-l", "-z", "-I", "-F",
                             "-e", "argoproj.io", "-e", "HelmRelease", "--", "*.yaml", "*.yml"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


def start_release_search(root: str) -> None:
    """Start the `git grep` find_releases(root) will need, so that it runs while the scan reads files.

    Why: the search waited for was 0.03 s of a scan of istio/istio (a ninth), spent on the first chart
    template, while the second core idled.  Called after discovery when the repository has chart
    templates; what nobody takes is stopped by stop_release_searches.  `--jobs` workers inherit the
    Popen but never use it: chart templates are the parent's alone (scan._parallel).
    """
    if root in _RELEASES_CACHE or root in _SEARCHES:
        return
    try:
        _SEARCHES[root] = _release_search(root)
    except OSError:  # no git: find_releases walks the tree when it is asked
        pass


def stop_release_searches() -> None:
    """End every search nobody took (the scan is over, or a new one starts with fresh caches)."""
    while _SEARCHES:
        _end(_SEARCHES.popitem()[1])


def _end(proc: subprocess.Popen) -> None:
    """Kill a search and reap it (no zombie, its pipe closed)."""
    proc.kill()
    proc.communicate()


def _mentioning_releases(root: str) -> list[tuple[str, str]] | None:
    """(relative, absolute) paths of the YAML files under root that name argoproj.io or HelmRelease,
    as `git grep` finds them among the files git lists (tracked, and untracked but not ignored: what
    discover reads); None outside a work tree.  Reading every YAML file of istio/istio to find none
    took 0.1 s; git's search takes 0.03 s (started ahead by start_release_search when it can be).
    """
    try:
        proc = _SEARCHES.pop(root, None) or _release_search(root)
    except OSError:
        return None
    try:
        stdout, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        _end(proc)
        return None
    if proc.returncode not in (0, 1):  # 1: no file matches; 128: not a work tree
        return None
    found = []
    for raw in stdout.split(b"\0"):
        rel = os.fsdecode(raw)
        if rel and all(_release_dir(part) for part in rel.split("/")[:-1]):
            found.append((rel, os.path.join(root, rel)))
    return found


def find_releases(root: str) -> dict[str, list[Release]]:
    """Argo CD Applications (`source.path`) and Flux HelmReleases (`chart: ./path`) deploying in-repo charts.

    A stop-gap for issue 10 item 2 (the topology owns deployment wiring): values passed inline
    (`helm.valuesObject`, `helm.values` maps, Flux `spec.values`) and `helm.valueFiles` inside the
    chart directory become override layers.  Cached per root and process.
    """
    if root in _RELEASES_CACHE:
        return _RELEASES_CACHE[root]
    from migrator.documents import load_text

    out: dict[str, list[Release]] = {}
    base = Path(root)
    found = _mentioning_releases(root)
    if found is None:  # not a git work tree: walk it
        found = []  # (relative path, absolute path) as strings: a Path per file was half of this walk's cost
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if _release_dir(d))
            rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
            found += [(f if rel_dir == "." else f"{rel_dir}/{f}", os.path.join(dirpath, f)) for f in filenames if f.endswith((".yaml", ".yml"))]
    for rel, path in sorted(found):
        try:
            with open(path, "rb") as fh:
                raw = fh.read((1 << 20) + 1)
        except OSError:
            continue
        if len(raw) > 1 << 20 or not (b"argoproj.io" in raw or b"HelmRelease" in raw):
            continue
        for doc in load_text(rel, raw.decode("utf-8", "replace")).documents:
            for chart_rel, release in _release_of(doc, rel, base):
                out.setdefault(chart_rel, []).append(release)
    _RELEASES_CACHE[root] = out
    return out


def _release_of(doc, rel: str, base: Path) -> list[tuple[str, Release]]:
    data = doc.data if isinstance(doc.data, dict) else {}
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
    out = []
    if doc.kind == "Application" and "argoproj.io" in doc.api_version:
        dest = spec.get("destination") if isinstance(spec.get("destination"), dict) else {}
        sources = [(("spec", "source"), spec.get("source"))] + [(("spec", "sources", i), s) for i, s in enumerate(spec.get("sources") or [])]
        for key, src in sources:
            if not isinstance(src, dict) or not isinstance(src.get("path"), str):
                continue
            chart_rel = src["path"].strip("/").removeprefix("./")
            if not (base / chart_rel / "Chart.yaml").is_file():
                continue
            helm = src.get("helm") if isinstance(src.get("helm"), dict) else {}
            release = Release(str(helm.get("releaseName") or doc.name), str(dest.get("namespace") or "") or None, source=rel)
            for vf in helm.get("valueFiles") or []:
                vpath = base / chart_rel / str(vf)
                if vpath.is_file() and vf != "values.yaml":
                    release.layers.append(load_values_file(vpath, f"{chart_rel}/{vf}"))
            if isinstance(helm.get("values"), dict):
                release.layers.append(values_from_document(doc, key + ("helm", "values"), rel))
            elif isinstance(helm.get("values"), str):
                try:
                    inline = yaml.safe_load(helm["values"])
                except yaml.YAMLError:
                    inline = None
                if isinstance(inline, dict):
                    release.layers.append(ValuesSource(rel, inline, {}, doc.index, editable=False))
            if isinstance(helm.get("valuesObject"), dict):
                release.layers.append(values_from_document(doc, key + ("helm", "valuesObject"), rel))
            out.append((chart_rel, release))
    elif doc.kind == "HelmRelease":
        chart_spec = ((spec.get("chart") or {}).get("spec")) if isinstance(spec.get("chart"), dict) else None
        chart = str((chart_spec or {}).get("chart") or "")
        chart_rel = chart.strip("/").removeprefix("./")
        if chart_rel and (base / chart_rel / "Chart.yaml").is_file():
            release = Release(str(spec.get("releaseName") or doc.name), str(spec.get("targetNamespace") or doc.namespace or "") or None,
                              source=rel)
            if isinstance(spec.get("values"), dict):
                release.layers.append(values_from_document(doc, ("spec", "values"), rel))
            out.append((chart_rel, release))
    return out


def mark_findings(findings: list, inventory) -> None:
    """Findings on a resource read from a template say so: message suffix and `details.template`."""
    by_key = {(r.path, r.ref): r for r in inventory.resources if getattr(r, "template", None) is not None}
    if not by_key:
        return
    for f in findings:
        r = by_key.get((f.path, f.resource))
        if r is None:
            continue
        origin: TemplateOrigin = r.template
        info = origin.as_json()
        tls = tuple(f.details.get("tls_path") or ())
        settings = [(k, origin.source_of(tls + (k,))) for k in ("mode", "caCertificates", "credentialName", "insecureSkipVerify")] if tls else []
        from_values = [f"{k} from {ref.where()}" for k, ref in settings if ref is not None]
        info["settings_from_values"] = from_values
        f.details = {**f.details, "template": info}  # replaced, not changed: it may be a read-only model.Details
        where = f"; {', '.join(from_values)}" if from_values else ""
        f.message += f" [in Helm chart template {origin.chart or '.'} ({origin.chart_name}), rendered with {', '.join(origin.values_files)}{where}]"
