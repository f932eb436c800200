"""What a file's kind lets the scan skip, judged on its bytes before any YAML node is built (issue 15).

Composing YAML nodes with positions is most of a scan's cost (six times libyaml's bare syntax check,
bench/RESULTS.md), so two sorts of files are read less:

- ``ignored_kind_only``: every document is a kind nothing reads (IGNORED_KINDS: Services, dashboard
  ConfigMaps, CRD bundles …) — the file is not parsed at all;
- ``reduced_text``: in any other file, documents of those kinds are blanked, and documents of a kind
  the tool reads only by its header (HEADER_ONLY_KINDS: VirtualService, AuthorizationPolicy … —
  MM130 and the plan read apiVersion, kind and metadata; no rule, remedy or SDS model reads their
  spec) keep only apiVersion, kind and metadata.  Lines are blanked, not removed, so every document
  keeps its index and every position is the file's own (CRD bundles beside a Deployment, a
  VirtualService per file).

Both run only after ``well_formed``: libyaml checks the whole file's syntax in C (no Python
objects), so a broken file is still read the full way and reported (MM001).  What the inventory
gets is what a full parse gives (tests/test_parse_paths.py compares both paths on every fixture and
the Istio release tree; for header-only kinds, resources carry the header only).  What a full parse
would add and these gates do not: duplicate-key and bad-value notes inside the skipped parts.
"""

from __future__ import annotations

import re

#: kinds the inventory never reads (inventory.Collector.add): a file whose only document is one of them
#: cannot contribute anything.  In dense repos these are half the files (Services labelled `istio.io/…`)
#: and the biggest ones (dashboard ConfigMaps); a ConfigMap holding a SPIRE `agent.conf`/`server.conf`
#: or Helm `values.yaml` is read.
IGNORED_KINDS = frozenset((b"Service", b"ConfigMap", b"Secret", b"Endpoints", b"EndpointSlice", b"ServiceMonitor", b"PodMonitor",
                           b"PrometheusRule", b"PersistentVolumeClaim", b"Ingress", b"NetworkPolicy", b"PodDisruptionBudget",
                           b"HorizontalPodAutoscaler", b"CustomResourceDefinition"))
#: istio.io kinds kept as resources only for their header: MM130 (served API versions) reads apiVersion
#: and its line, the plan reads group/kind.  tests/test_parse_paths.py fails if a rule, remedy, the
#: SDS model or the mesh view names one of them, or if the inventory reads one beyond its header.
HEADER_ONLY_KINDS = frozenset((b"VirtualService", b"AuthorizationPolicy", b"PeerAuthentication", b"RequestAuthentication",
                               b"EnvoyFilter", b"Telemetry", b"WorkloadEntry", b"WorkloadGroup", b"ProxyConfig", b"WasmPlugin"))
HEADER_KEYS = ("apiVersion", "kind", "metadata")
#: ConfigMap data keys the inventory reads (SPIRE agent/server config, Helm values): a ConfigMap naming
#: one is read whole
READ_CONFIGMAP_KEYS = ("agent.conf", "server.conf", "values.y")
#: the same keys as names_read_configmap_key looks for them: those ending in `.conf` only where that
#: suffix is in the file (one pass that multi-MB dashboards fail), the others one pass each
_CONF_KEYS = tuple(k.encode() for k in READ_CONFIGMAP_KEYS if k.endswith(".conf"))
_OTHER_KEYS = tuple(k.encode() for k in READ_CONFIGMAP_KEYS if not k.endswith(".conf"))
_KIND_LINE = re.compile(rb"kind:[ \t]*([A-Za-z]+)[ \t]*(?:#[^\n]*)?\r?(?:\n|$)")
#: the line starts document_kinds looks at: a document marker, a document end, a top-level kind
_LINE_MARKS = re.compile(rb"\n(---|\.\.\.|kind:)")
_FIRST_MARK = re.compile(rb"(---|\.\.\.|kind:)")
#: a top-level entry the header gate understands: a plain key (no quotes, tags, anchors, complex keys)
_PLAIN_ENTRY = re.compile(r"[A-Za-z_][\w.-]*[ \t]*:(?:[ \t\r]|$)")


def document_kinds(raw: bytes) -> tuple[bytes, ...] | None:
    """The top-level kind of every document of a plain file (one `kind:` line at column 0 each), else None.

    Byte-level and conservative: documents are split at `---` lines; each one that holds more than
    comments must have exactly one column-0 `kind:` line with a plain value; a `...` line sends the
    file down the full path.  The line starts that matter are found in one pass of one regular
    expression anchored on the newline (a substring search per marker cost three passes over
    multi-MB dashboards and CRD bundles).  A gate also needs plain_enough(raw).
    """
    kinds: list[bytes] = []
    start, kind = 0, None  # the current piece: where it starts, its kind line's value
    marks = _LINE_MARKS.finditer(raw)
    first = _FIRST_MARK.match(raw)
    for at, mark in ([(0, first.group(1))] if first else []) + [(m.start(1), m.group(1)) for m in marks]:
        if mark == b"...":
            return None
        if mark == b"---":
            if at > 0:
                if kind is None and _has_content(raw[start:at - 1]):
                    return None  # a document without a column-0 kind: a values file, a List item …
                if kind is not None:
                    kinds.append(kind)
            start, kind = at, None
            continue
        if kind is not None:  # a second column-0 kind in one document: a List, a mis-split
            return None
        m = _KIND_LINE.match(raw, at)
        if m is None:
            return None
        kind = m.group(1)
    if kind is None and _has_content(raw[start:]):
        return None
    if kind is not None:
        kinds.append(kind)
    return tuple(kinds) or None


def plain_enough(raw: bytes) -> bool:
    """No suppression comment (its region needs the whole document) and no alias (an alias bomb is
    reported whatever its kind): checked only for files whose kinds a gate would take."""
    return b"mesh-migrator" not in raw and not has_aliases(raw)


def _has_content(chunk: bytes) -> bool:
    """Does this piece between `---` lines hold more than its marker line, blank lines and comments?"""
    lines = chunk.split(b"\n")
    if lines[0].startswith(b"---"):
        rest = lines[0][3:].strip()
        if rest and not rest.startswith(b"#"):
            return True  # `--- value` or `--- |`: content on the marker line
        lines = lines[1:]
    return any(line.strip() and not line.lstrip().startswith(b"#") for line in lines)


def ignored_kind_only(raw: bytes, kinds: tuple[bytes, ...] | None = None) -> bool:
    """Is every document of this file of a kind nothing reads (IGNORED_KINDS)?

    `kinds`: document_kinds(raw) when the caller has it.  The caller also checks the syntax
    (well_formed).  SPIRE agent/server configs and Helm values kept in a ConfigMap are read, so
    their names keep a file on the full path.
    """
    kinds = document_kinds(raw) if kinds is None else kinds
    if not kinds or any(k not in IGNORED_KINDS for k in kinds):
        return False
    return not (b"ConfigMap" in kinds and names_read_configmap_key(raw)) and plain_enough(raw)


def names_read_configmap_key(raw: bytes) -> bool:
    """Does the file name a ConfigMap key the inventory reads (READ_CONFIGMAP_KEYS)?  Two passes over
    the bytes, not three: the `.conf` keys share that suffix, and multi-MB dashboards have none."""
    return (b".conf" in raw and any(k in raw for k in _CONF_KEYS)) or any(k in raw for k in _OTHER_KEYS)


def reduced_text(text: str) -> tuple[str, tuple[str, ...]] | None:
    """The text with what nothing reads blanked, and the kinds of the documents still read, or None.

    Documents (pieces between `---` lines) of IGNORED_KINDS are blanked whole, those of
    HEADER_ONLY_KINDS down to apiVersion, kind and metadata; newlines and `---` lines are kept, so
    every document keeps its index and every line its number.  A blanked first document (no `---`
    before it) becomes `~`, so it still counts as a document.  None when nothing can be blanked, or
    when any top-level line of a piece to reduce is not understood (quoted or complex keys, a flow
    mapping, content on a `---` line): the full read takes the file.  The caller checks
    document_kinds, plain_enough and the syntax (well_formed).
    """
    pieces = text.split("\n---")
    kept: list[str] = []
    reduced = False
    for n, piece in enumerate(pieces):
        kind = _piece_kind(piece)
        if kind is None:
            continue  # no column-0 kind: comments only (document_kinds sent anything else to the full read)
        if kind == "List":
            return None  # its items are documents of their own
        keep = _keep_of(kind, piece)
        if keep is None:
            kept.append(kind)
            continue
        new = _blank(piece, keep, first=(n == 0))
        if new is None:
            return None
        pieces[n] = new
        reduced = True
        if keep:
            kept.append(kind)
    return ("\n---".join(pieces), tuple(kept)) if reduced else None


def _piece_kind(piece: str) -> str | None:
    at = 0 if piece.startswith("kind:") else piece.find("\nkind:") + 1
    if at == 0 and not piece.startswith("kind:"):
        return None
    return piece[at + 5:].split("\n", 1)[0].split("#", 1)[0].strip()


def _keep_of(kind: str, piece: str) -> tuple[str, ...] | None:
    """The top-level keys to keep of a document of this kind, or None to keep it whole."""
    if kind.encode() in IGNORED_KINDS and not any(k in piece for k in READ_CONFIGMAP_KEYS):
        return ()
    if kind.encode() in HEADER_ONLY_KINDS:
        return HEADER_KEYS
    return None


def _blank(piece: str, keep: tuple[str, ...], first: bool) -> str | None:
    """The piece with every top-level entry whose key is not in `keep` blanked, or None when a
    top-level line is not a plain key."""
    lines = piece.split("\n")
    marker = not first or lines[0].startswith("---")  # the piece's own `---` line (a file may start with one)
    start = 0
    if marker:  # the rest of the `---` line: nothing but a comment may follow the marker
        rest = lines[0][3:].strip() if first else lines[0].strip()
        if rest and not rest.startswith("#"):
            return None
        start = 1
    keeping = True  # comments and blank lines before the first key
    for i in range(start, len(lines)):
        line = lines[i]
        head = line[:1]
        if head in ("", " ", "\t", "#", "\r"):
            if not keeping and head not in ("#", ""):
                lines[i] = ""
            continue
        if _PLAIN_ENTRY.match(line) is None:
            return None
        keeping = line.split(":", 1)[0].rstrip() in keep
        if not keeping:
            lines[i] = ""
    if not keep and not marker:  # a first document without a `---` of its own: keep it a (null) document
        at = next((i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")), None)
        lines[at if at is not None else 0] = "~"
    return "\n".join(lines)


#: `&`/`*` characters looked at one by one before has_aliases gives up and says "maybe"
_MARKS_LOOKED_AT = 20_000
#: what may stand right before an anchor or alias: a blank, a line break, a flow indicator, `:` after a
#: quoted flow key ({"a":*b})
_MARK_AFTER = frozenset(b" \t\r\n[{,:")
_MARK_NAME = re.compile(rb"[^ \t\r\n\[\]{},]+")


def has_aliases(raw: bytes) -> bool:
    """Could a document of this file use an alias (`*name` where the file also has `&name`)?

    Aliases are why the gates step aside: an alias bomb is reported whatever its kind, and an
    alias in a header may point into a part that would be blanked.  `&&` and `**bold**` in CRD
    descriptions are not aliases of any anchor, so they do not count.  Each `&` and `*` is found
    with a C search and judged by its neighbours: the cost follows their number, not the file's size.
    """
    if b"&" not in raw or b"*" not in raw:
        return False
    anchors = _marked_names(raw, b"&")
    if anchors is None:
        return True
    if not anchors:
        return False
    aliases = _marked_names(raw, b"*")
    return aliases is None or not anchors.isdisjoint(aliases)


def _marked_names(raw: bytes, mark: bytes) -> set[bytes] | None:
    """The names after every `mark` that stands where an anchor/alias can (None: too many to look at)."""
    names: set[bytes] = set()
    looked = 0
    i = raw.find(mark)
    while i != -1:
        looked += 1
        if looked > _MARKS_LOOKED_AT:
            return None
        if i == 0 or raw[i - 1] in _MARK_AFTER or (i == 3 and raw.startswith(b"\xef\xbb\xbf")):
            m = _MARK_NAME.match(raw, i + 1)
            if m:
                names.add(m.group())
        i = raw.find(mark, i + 1)
    return names


def well_formed(raw: bytes) -> bool:
    """Does libyaml parse these bytes without a syntax error?  Events are checked in C and never become
    Python objects (~0.15x a CSafeLoader load), so a broken file a gate would skip is still read the
    full way and reported (MM001), as the CLI contract says."""
    try:
        from yaml._yaml import CParser
    except ImportError:  # pragma: no cover - PyYAML without libyaml: no gate
        return False
    try:
        CParser(raw).raw_parse()
    except Exception:  # noqa: BLE001 - any complaint at all: let the full read report it
        return False
    return True
