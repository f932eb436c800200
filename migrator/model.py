"""Plain data passed between the pipeline stages (discover → load → inventory → rules → report).

Everything here is a dataclass with no behaviour beyond small derived properties, so every stage can
be tested alone and the batch CLI, the wizard and PR generation share one pipeline.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

from packaging.version import Version

SEVERITIES = ("info", "warning", "error")


def severity_rank(severity: str) -> int:
    """Order used by --fail-on: info < warning < error."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Problem:
    """A file that could not be read or parsed (``error``), was deliberately not scanned (``skipped``),
    or was read in an unusual way worth saying (``note``: libyaml rejected it, the pure parser read it)."""

    path: str
    message: str
    line: int | None = None
    kind: str = "error"  # "error" | "skipped" | "note"
    internal: bool = False  # a bug met on this document (isolate.py): the run exits 3 after its output

    def one_line(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Pin:
    """One place the repo pins a version, with provenance."""

    product: str  # "istio" | "spire"
    version: str  # normalised version text, e.g. "1.22.3"
    path: str
    line: int
    source: str  # how it is pinned, e.g. "Argo CD Application istiod targetRevision"
    component: str = ""  # istiod, proxy, gateway, chart, server, agent …
    env: str | None = None
    raw: str = ""  # the text as written (keeps "-distroless", "v")
    doc: int = 0  # document index in the file (for the edit engine)
    key_path: tuple = ()  # path to the scalar inside that document
    embedded: tuple = ()  # path to a YAML-in-a-string scalar that holds key_path (Argo helm.values)


@dataclass(frozen=True)
class FlagSetting:
    """An istiod flag or install value that changes TLS behaviour (VERIFY_CERTIFICATE_AT_CLIENT …)."""

    name: str
    value: str
    path: str
    line: int
    via: str
    env: str | None = None
    doc: int = 0
    key_path: tuple = ()
    #: which rendering reads it: "istiod" (istiod's env: pilot.env, components.pilot.k8s.env, the
    #: Deployment), "values-env" (top-level `env:` of istiod chart values, read only from 1.24),
    #: "gateway" (a gateway release: its chart never renders istiod's env)
    scope: str = "istiod"


@dataclass
class InjectorTemplate:
    """A custom sidecar-injector template defined in istiod values (``sidecarInjectorWebhook.templates``)."""

    name: str
    spire: bool
    patches_containers: bool
    patches_init_containers: bool
    path: str
    line: int
    env: str | None = None


class _SlotMapping(Mapping):
    """A read-only mapping stored as a shared *layout* (key -> slot, one dict per key sequence, shared by
    every object with those keys in that order) and this object's own values by slot: the storage
    LineIndex and Labels have in common (bench/RESULTS.md "Memory").  Equal to a dict of the same items.
    """

    __slots__ = ("_layout", "_values")
    #: layouts by their key sequence; each subclass has its own (bounded: beyond it, unshared)
    _LAYOUTS: dict[tuple, dict] = {}
    _MAX_LAYOUTS = 4096

    @classmethod
    def _layout_of(cls, keys: tuple) -> dict:
        """The layout of this key sequence: the shared one, or a new one (a key given twice keeps its
        first place, as in a dict, and such a layout is not shared)."""
        layout = cls._LAYOUTS.get(keys)
        if layout is None:
            layout = {k: i for i, k in enumerate(dict.fromkeys(keys))}
            if len(layout) == len(keys) and len(cls._LAYOUTS) < cls._MAX_LAYOUTS:
                cls._LAYOUTS[keys] = layout
        return layout

    def get(self, key: Any, default: Any = None) -> Any:
        slot = self._layout.get(key)
        return default if slot is None else self._values[slot]

    def __getitem__(self, key: Any) -> Any:
        return self._values[self._layout[key]]

    def __contains__(self, key: object) -> bool:
        return key in self._layout

    def __iter__(self) -> Iterator:
        return iter(self._layout)

    def __len__(self) -> int:
        return len(self._layout)


class Labels(_SlotMapping):
    """A proxy's pod labels (str -> str), stored compactly: read-only, and equal to the dict it replaces.

    Why: every workload's labels differ (its `app`), so none is shared, and a dict of two labels is
    ~190 bytes kept per proxy for the whole scan.  The keys live once in a shared layout (key -> slot,
    like LineIndex) and each proxy keeps a tuple of values: ~100 bytes (bench/RESULTS.md "Memory",
    third round).  Workload selectors read it with `get`.
    """

    __slots__ = ()
    _LAYOUTS: dict[tuple, dict] = {}

    def __init__(self, items: Iterable[tuple[str, str]] = ()):
        pairs = tuple(items)
        layout = self._layout_of(tuple(k for k, _ in pairs))
        if len(layout) != len(pairs):  # a repeated key: the dict keeps the last value, in the first key's place
            pairs = tuple(dict(pairs).items())
        self._layout = layout
        self._values = tuple(v for _, v in pairs)

    @classmethod
    def _of(cls, layout: dict, values: tuple) -> "Labels":
        """The Labels of a layout and values already made (model.Proxy keeps them apart)."""
        labels = cls.__new__(cls)
        labels._layout, labels._values = layout, values
        return labels

    def __repr__(self) -> str:
        return repr(dict(self.items()))

    def __reduce__(self):
        return (Labels, (tuple(self.items()),))


#: a Proxy's fields, in the order of the dataclass it replaces (its constructor, equality, repr and pickle)
_PROXY_FIELDS = ("resource", "kind", "namespace", "labels", "service_account", "spire", "spire_reason", "path", "line",
                 "confidence", "templates", "annotations", "env", "revision")
#: the fields a Proxy keeps in its shared profile, in the profile's order (the labels' key layout follows)
_PROFILE_FIELDS = ("kind", "spire", "spire_reason", "confidence", "templates", "annotations", "env", "revision")
_LABEL_LAYOUT = len(_PROFILE_FIELDS)
#: profiles by the hash of their content (see _shared_profile); bounded
_PROFILES: dict[int, tuple] = {}


class Proxy:
    """An Envoy proxy the repo declares: a sidecar-injected workload or a gateway.

    Stored compactly.  What the proxies of a repository have in common (kind, SPIRE backing and its
    reason, confidence, templates, annotations, env, revision and the keys of their labels) is one
    shared *profile* tuple; each proxy keeps its resource, namespace, service account, path, line and
    its label values.  Why: a repository's proxies are the largest part of what a scan keeps, and a
    record of fourteen fields plus a Labels was ~250 bytes each; now ~145 (bench/RESULTS.md "Memory",
    fourth round).  Reads and writes like the dataclass it replaces: every field is an attribute
    (setting a profile field shares the new profile), `labels` is a Labels, equality compares fields.
    """

    __slots__ = ("resource", "namespace", "service_account", "path", "line", "_label_values", "_profile")

    def __init__(self, resource: str, kind: str, namespace: str, labels: Mapping[str, str], service_account: str,
                 spire: bool, spire_reason: str, path: str, line: int, confidence: str = "high",
                 templates: tuple[str, ...] = (), annotations: "Mapping[str, str] | None" = None,
                 env: str | None = None, revision: str = ""):
        self.resource, self.namespace, self.service_account, self.path, self.line = resource, namespace, service_account, path, line
        labels = _as_labels(labels)
        self._label_values = labels._values
        self._profile = _shared_profile((kind, spire, spire_reason, confidence, templates,
                                         {} if annotations is None else annotations, env, revision, labels._layout))

    @property
    def labels(self) -> "Labels":
        """The pod's labels (a Labels: read-only, equal to the dict)."""
        return Labels._of(self._profile[_LABEL_LAYOUT], self._label_values)

    @labels.setter
    def labels(self, value: Mapping[str, str]) -> None:
        labels = _as_labels(value)
        self._label_values = labels._values
        self._set_profile(_LABEL_LAYOUT, labels._layout)

    def _set_profile(self, i: int, value: Any) -> None:
        profile = list(self._profile)
        profile[i] = value
        self._profile = _shared_profile(tuple(profile))

    def _fields(self) -> tuple:
        return tuple(getattr(self, name) for name in _PROXY_FIELDS)

    def __eq__(self, other: object) -> bool:
        return self._fields() == other._fields() if type(other) is Proxy else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass

    def __repr__(self) -> str:
        return "Proxy(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in _PROXY_FIELDS) + ")"

    def __reduce__(self):
        """Pickled as its fields (--jobs): unpickling shares the profile with this process's equal one."""
        return (Proxy, self._fields())


def _profile_field(i: int, name: str) -> property:
    def get(self: Proxy) -> Any:
        return self._profile[i]

    def set(self: Proxy, value: Any) -> None:
        self._set_profile(i, value)

    return property(get, set, doc=f"The proxy's {name} (kept in its shared profile).")


for _i, _name in enumerate(_PROFILE_FIELDS):
    setattr(Proxy, _name, _profile_field(_i, _name))
del _i, _name


def _as_labels(value: Mapping[str, str]) -> "Labels":
    return value if type(value) is Labels else Labels(value.items() if isinstance(value, Mapping) else ())


def _shared_profile(profile: tuple) -> tuple:
    """The equal profile made before, or this one: the proxies of one template share it.  Found by the
    hash of its content (annotations by their items, the label layout by identity: layouts are shared)
    and compared on a hit, so a profile no other proxy has costs the table one small entry, not a key
    of its own (workloads whose annotations differ, a checksum per Deployment, share nothing).  A
    profile whose annotations cannot be hashed is not shared."""
    try:
        key = hash((profile[:5], tuple(profile[5].items()), profile[6:_LABEL_LAYOUT], id(profile[_LABEL_LAYOUT])))
    except TypeError:
        return profile
    shared = _PROFILES.get(key)
    if shared is not None and shared[:_LABEL_LAYOUT] == profile[:_LABEL_LAYOUT] and shared[_LABEL_LAYOUT] is profile[_LABEL_LAYOUT]:
        return shared
    if shared is None and len(_PROFILES) < 4096:
        _PROFILES[key] = profile  # holds the layout, so its id is not reused while the entry lives
    return profile


class Details(_SlotMapping):
    """A finding's `details` (what remedies and SARIF read: document index, key paths, TLS mode …),
    stored compactly: read-only, and equal to the dict it replaces.

    Why: the SPIRE rules' findings grow with the repository (one per DestinationRule TLS block a SPIRE
    proxy cannot use), and the end of a large `--jobs` scan holds them all; as a dict of five or six keys
    their details were 184-272 bytes each.  The keys live once in a shared layout and each finding keeps
    a tuple of values (~130 bytes; bench/RESULTS.md "Memory", fourth round).  To add a key, replace the
    mapping (helmtemplate.mark_findings).
    """

    __slots__ = ()
    _LAYOUTS: dict[tuple, dict] = {}

    def __init__(self, **items: Any):
        self._layout = self._layout_of(tuple(items))
        self._values = tuple(items.values())

    def __repr__(self) -> str:
        return f"Details({dict(self.items())!r})"

    def __reduce__(self):
        return (_details, (tuple(self.items()),))


def _details(items: tuple) -> Details:
    """Unpickling a Details."""
    return Details(**dict(items))


class LineIndex(_SlotMapping):
    """A kept resource's line index (key path -> 1-based line), stored compactly.

    Why: the inventory keeps one index per DestinationRule/Gateway/RBAC resource for the whole scan, and
    as a dict of ~12 entries it was ~650-1,200 bytes each, the largest per-resource cost after the data
    itself (bench/RESULTS.md "Memory").  Resources of one shape index the same key paths in the same
    order, so the paths live once in a shared *layout* (path -> slot) and each resource keeps only its
    line numbers, 4 bytes each.  Reads as a read-only Mapping; equal to a dict with the same items.
    """

    __slots__ = ()
    #: layouts by their key sequence, shared by every index of that shape (bounded: beyond it, unshared)
    _LAYOUTS: dict[tuple, dict] = {}
    #: equal line-number arrays of one layout (never changed after construction)
    _NUMBERS: dict[tuple, array] = {}

    def __init__(self, paths: Iterable[tuple] = (), lines: Iterable[int] = ()):
        self._layout = self._layout_of(tuple(paths))
        self._values = array("I", lines)  # 4 bytes a line (a file of over 4 billion lines is not read)
        if len(self._values) != len(self._layout):
            raise ValueError(f"LineIndex: {len(self._layout)} paths but {len(self._values)} lines")

    #: equal indexes (one shared layout, one shared number array) are one object (bounded, like the layouts)
    _INDEXES: dict[tuple[int, int], "LineIndex"] = {}

    @classmethod
    def of(cls, lines: Mapping) -> "LineIndex":
        """The compact form of a {path: line} mapping (same items, same order)."""
        return cls.shared(lines.keys(), lines.values())

    @classmethod
    def shared(cls, paths: Iterable[tuple], lines: Iterable[int]) -> "LineIndex":
        """A LineIndex, or the equal one made before: resources made from one template have equal line
        indexes, and one read-only object serves them all (48 bytes a kept resource).  Its line numbers
        are shared by equal indexes of a shared layout too."""
        keys = tuple(paths)
        index = cls(keys, lines)
        layout, numbers = index._layout, index._values
        if cls._LAYOUTS.get(keys) is not layout:
            return index  # its layout is not shared: neither are its numbers nor the index
        key = (id(layout), numbers.tobytes())
        memo = cls._NUMBERS.get(key)
        if memo is None:
            if len(cls._NUMBERS) >= cls._MAX_LAYOUTS:
                return index
            memo = cls._NUMBERS[key] = numbers
        index._values = memo
        found = cls._INDEXES.get((id(layout), id(memo)))  # both kept alive by the memos above: the ids are not reused
        if found is not None:
            return found
        if len(cls._INDEXES) < cls._MAX_LAYOUTS:
            cls._INDEXES[(id(layout), id(memo))] = index
        return index

    def __repr__(self) -> str:
        return f"LineIndex({dict(self.items())!r})"

    def __reduce__(self):
        return (_line_index, (tuple(self._layout), self._values.tolist()))


def _line_index(paths: tuple, lines: list[int]) -> LineIndex:
    """Unpickling (--jobs): a worker's index becomes this process's shared one (LineIndex.shared)."""
    return LineIndex.shared(paths, lines)


@dataclass(slots=True)
class Resource:
    """A parsed Kubernetes/Istio resource kept for the rules (DestinationRule, Gateway, RBAC …)."""

    kind: str
    api_version: str
    name: str
    namespace: str
    data: dict
    path: str
    doc_index: int
    lines: Mapping  # path tuple -> 1-based line of that key (only for the paths rules need); a LineIndex when collected
    env: str | None = None
    base_path: tuple = ()  # key path of the resource inside its YAML document (kind: List items)
    embedded: tuple = ()  # path of the string scalar holding it, when it lives inside YAML-in-a-string
    template: Any = None  # helmtemplate.TemplateOrigin when read from a rendered Helm chart template

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    def line(self, path: tuple) -> int:
        """Line of the key at path; the nearest recorded ancestor when the key itself is absent."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)


@dataclass(slots=True)
class Finding:
    """One rule hit, located at a file and line."""

    rule: str
    severity: str
    path: str
    line: int
    resource: str
    message: str
    sds_resource: str | None = None
    confidence: str = "high"
    #: what the finding assumed; () when nothing (one shared empty tuple, not a list per finding:
    #: findings grow with the repository).  Replaced, never appended to (rules.run)
    assumptions: Sequence[str] = ()
    env: str | None = None
    column: int = 1
    proxies: list[str] = field(default_factory=list)
    details: Mapping[str, Any] = field(default_factory=dict)  # what remedies need (doc index, key path …); a dict or a Details
    suppressed: str | None = None  # how it was suppressed: "inline", "annotation", "baseline", "config"
    suppression_reason: str = ""
    candidates: Sequence[str] = ()  # environments an ambiguously attributed file may belong to (() as assumptions)

    @property
    def key(self) -> tuple:
        return (self.path, self.line, self.rule, self.resource)


class Deferred(tuple):
    """A finding's message made each time it is read, from a function and the facts it names.

    Why: the SPIRE rules' messages (~900 bytes: ten proxy names, the SDS names, the Envoy log line)
    were the largest part of a finding, and a repository's findings grow with it; the facts they are
    made of are kept anyway (the proxy list is the finding's own) or are shared strings, so keeping
    those instead costs ~100 bytes (bench/RESULTS.md "Memory", third and fourth rounds).  One tuple,
    the function then its arguments (an object holding the two was ~40 bytes more).  `make` must be
    pure: the same arguments give the same text every time.
    """

    __slots__ = ()

    def __new__(cls, make: Callable[..., str], *args: Any) -> "Deferred":
        return tuple.__new__(cls, (make, *args))

    def __str__(self) -> str:
        return self[0](*self[1:])

    def __reduce__(self):
        return (Deferred, tuple(self))


#: the slot that stores Finding.message: a str, or a Deferred the property below renders on every read
_MESSAGE_SLOT = Finding.message


def _message(self: Finding) -> str:
    value = _MESSAGE_SLOT.__get__(self, Finding)
    return value if type(value) is str else str(value)


Finding.message = property(_message, _MESSAGE_SLOT.__set__, doc="The finding's text (a Deferred is rendered on read).")


@dataclass
class ScanOptions:
    """What the user told the scan (CLI flags and config file)."""

    istio_version: Version | None = None
    spire_version: Version | None = None
    target: Version | None = None
    excludes: tuple[str, ...] = ()
    max_file_bytes: int = 8 * 1024 * 1024
    rules_enabled: tuple[str, ...] = ()
    rules_disabled: tuple[str, ...] = ()
    severity_overrides: dict[str, str] = field(default_factory=dict)
    jobs: int = 1
    all_proxies: bool = False  # --all-proxies: findings list every affected proxy, not the first ten
    includes: tuple[str, ...] = ()  # globs that bring vendored/sample/definition trees back into the scan
    render: bool = False  # --render: `helm template` for application charts where helm is on PATH
