"""What a file's kind lets the scan skip, judged on its bytes before any YAML node is built (issue 15).

Composing YAML nodes with positions is most of a scan's cost (six times libyaml's bare syntax check,
bench/RESULTS.md), so two kinds of single-document files are read less:

- ``ignored_kind_only``: the document is a kind nothing reads (IGNORED_KINDS: Services, dashboard
  ConfigMaps …) — it is not parsed at all;
- ``header_only``: the document is a kind the tool reads only by its header (HEADER_ONLY_KINDS:
  VirtualService, AuthorizationPolicy … — MM130 and the plan read apiVersion, kind and metadata;
  no rule, remedy or SDS model reads their spec) — only apiVersion, kind and metadata are parsed,
  the other top-level entries are blanked line for line, so every position stays the file's own.

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
                           b"HorizontalPodAutoscaler"))
#: istio.io kinds kept as resources only for their header: MM130 (served API versions) reads apiVersion
#: and its line, the plan reads group/kind.  tests/test_parse_paths.py fails if a rule, remedy, the
#: SDS model or the mesh view names one of them, or if the inventory reads one beyond its header.
HEADER_ONLY_KINDS = frozenset((b"VirtualService", b"AuthorizationPolicy", b"PeerAuthentication", b"RequestAuthentication",
                               b"EnvoyFilter", b"Telemetry", b"WorkloadEntry", b"WorkloadGroup", b"ProxyConfig", b"WasmPlugin"))
HEADER_KEYS = ("apiVersion", "kind", "metadata")
_KIND_LINE = re.compile(rb"kind:[ \t]*([A-Za-z]+)[ \t]*(?:#[^\n]*)?\r?(?:\n|$)")
#: a top-level entry the header gate understands: a plain key (no quotes, tags, anchors, complex keys)
_PLAIN_ENTRY = re.compile(r"[A-Za-z_][\w.-]*[ \t]*:(?:[ \t]|$)")


def single_kind(raw: bytes) -> bytes | None:
    """The kind of a file that is one plain document with one top-level `kind:` line, else None.

    Byte-level and conservative: exactly one column-0 `kind:` line, no document marker (`---`,
    `...`) after the first line, no suppression comment (its region needs the whole document), no
    anchor with aliases (an alias bomb is reported whatever its kind).  Only substring searches run
    over the whole file (multi-MB dashboards: a regex there cost more than the parse it saves).
    """
    at = 0 if raw.startswith(b"kind:") else raw.find(b"\nkind:") + 1
    if at == 0 and not raw.startswith(b"kind:"):
        return None
    if raw.find(b"\nkind:", at) != -1:  # a second column-0 kind: several documents, or a List
        return None
    m = _KIND_LINE.match(raw, at)
    if m is None:
        return None
    if b"mesh-migrator" in raw or (b"&" in raw and b"*" in raw) or b"\n---" in raw or b"\n..." in raw:
        return None
    return m.group(1)


def ignored_kind_only(raw: bytes) -> bool:
    """Is this file one document whose top-level `kind` is one nothing reads (IGNORED_KINDS)?

    The caller also checks the syntax (well_formed).  SPIRE agent/server configs and Helm values kept
    in a ConfigMap are read, so their names keep a file on the full path.
    """
    kind = single_kind(raw)
    if kind is None or kind not in IGNORED_KINDS:
        return False
    return not (b"agent.conf" in raw or b"server.conf" in raw or b"values.y" in raw)


def header_only(raw: bytes, text: str) -> str | None:
    """For a file whose one document is a HEADER_ONLY kind: its text with every top-level entry but
    apiVersion, kind and metadata blanked (newlines kept, so lines and columns are the file's own);
    else None.  Any top-level line the gate does not understand (quoted or complex keys, a flow
    mapping, a root sequence) sends the file down the full path.  The caller checks the syntax.
    """
    kind = single_kind(raw)
    if kind is None or kind not in HEADER_ONLY_KINDS:
        return None
    lines = text.split("\n")
    keep = True  # leading comments and blank lines
    for i, line in enumerate(lines):
        first = line[:1]
        if first in ("", " ", "\t", "#", "\r"):
            if not keep and first not in ("#", ""):
                lines[i] = ""
            continue
        if i == 0 and line.startswith("---"):  # the document start marker of the first line
            continue
        if _PLAIN_ENTRY.match(line) is None:
            return None
        keep = line.split(":", 1)[0].rstrip() in HEADER_KEYS
        if not keep:
            lines[i] = ""
    return "\n".join(lines)


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
