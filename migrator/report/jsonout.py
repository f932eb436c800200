"""The JSON report (schemas/report.schema.json): the stable machine interface of a scan."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator, Sequence

from migrator import __version__
from migrator.model import Finding, Pin, Problem
from migrator.rules import catalog
from migrator.scan import ScanResult

SCHEMA_VERSION = 1


def pin_dict(p: Pin) -> dict:
    return {"version": p.version, "raw": p.raw, "path": p.path, "line": p.line, "source": p.source,
            "component": p.component, "env": p.env}


def finding_dict(f: Finding) -> dict:
    meta = catalog().get(f.rule)
    return {
        "rule": f.rule, "severity": f.severity, "title": meta.title if meta else "", "path": f.path, "line": f.line,
        "column": f.column, "resource": f.resource, "message": f.message, "sds_resource": f.sds_resource,
        "confidence": f.confidence, "assumptions": f.assumptions, "env": f.env, "candidates": f.candidates, "proxies": f.proxies,
        "proxy_count": f.details.get("proxy_count", len(f.proxies)),
        "suppressed": f.suppressed, "suppression_reason": f.suppression_reason or None,
        "help_uri": meta.help_uri if meta else None,
        **({"details": {"template": f.details["template"]}} if "template" in f.details else {}),
    }


def problem_dict(p: Problem) -> dict:
    return {"path": p.path, "line": p.line, "message": p.message}


def control_planes(result: ScanResult) -> list[dict]:
    """The topology's control planes, as the report and `mesh-migrator inventory` show them."""
    topo = result.topology
    if topo is None:
        return []
    return [{"name": cp.name, "env": cp.env, "revision": cp.revision,
             "istio_version": str(result.options.istio_version or cp.version) if (result.options.istio_version or cp.version) else None,
             "installs": [{"path": i.path, "line": i.line, "via": i.via} for i in cp.installs],
             "pins": [pin_dict(p) for p in cp.pins], "assumptions": cp.assumptions} for cp in topo.control_planes]


def attribution(result: ScanResult) -> dict:
    topo = result.topology
    if topo is None:
        return {}
    return {path: {"envs": list(envs), "how": topo.how.get(path, ""), "ambiguous": path in topo.ambiguous}
            for path, envs in sorted(topo.attribution.items())}


class _Stream(list):
    """A list the JSON encoder walks item by item, making each item's dict as it is written.

    Why: the report's proxy and finding dicts, all built before the first byte was written, were the
    last ~1.2 MB per 10,000 files of a large scan's peak (bench/RESULTS.md "Memory", third round).
    json's pure-Python encoder (the one an indent selects) reads a list only through `not lst` and
    `for value in lst`, so the output is byte for byte that of the full list.
    """

    __slots__ = ("_make", "_items")

    def __init__(self, make: Callable[[Any], Any], items: Sequence):
        super().__init__()
        self._make, self._items = make, items

    def __iter__(self) -> Iterator:
        return map(self._make, self._items)

    def __len__(self) -> int:
        return len(self._items)


def _listed(make: Callable[[Any], Any], items: Sequence, stream: bool) -> list:
    return _Stream(make, items) if stream else [make(x) for x in items]


def proxy_dict(p) -> dict:
    return {"resource": p.resource, "kind": p.kind, "namespace": p.namespace, "spire": p.spire,
            "spire_reason": p.spire_reason or None, "confidence": p.confidence, "path": p.path, "line": p.line, "env": p.env}


def inventory_dict(result: ScanResult, stream: bool = False) -> dict:
    """The report's inventory; `stream`: its proxies made one by one as the encoder writes them (_Stream)."""
    inv = result.inventory
    by_product = {prod: [p for p in inv.pins if p.product == prod] for prod in ("istio", "spire")}
    return {
        "control_planes": control_planes(result),
        "environments": [
            {"name": v.env, "istio_version": str(v.istio) if v.istio else None, "istio_assumed": v.istio_assumed,
             "spire_version": str(v.spire) if v.spire else None, "assumptions": v.assumptions}
            for v in result.views
        ],
        "istio": {"versions": sorted({p.version for p in by_product["istio"]}, key=_vkey),
                  "pins": [pin_dict(p) for p in by_product["istio"]]},
        "spire": {"versions": sorted({p.version for p in by_product["spire"]}, key=_vkey),
                  "pins": [pin_dict(p) for p in by_product["spire"]]},
        "proxies": _listed(proxy_dict, inv.proxies, stream),
        "flags": [{"name": f.name, "value": f.value, "path": f.path, "line": f.line, "via": f.via, "env": f.env} for f in inv.flags],
        "injector_templates": [{"name": t.name, "spire": t.spire, "path": t.path, "line": t.line} for t in inv.templates],
        "spire_agents": [{"path": c.path, "line": c.line, "socket_path": c.socket_path or None, "trust_domain": c.trust_domain or None,
                          "sds": dict(c.sds)} for c in inv.spire_agent_configs],
    }


def _vkey(v: str):
    from packaging.version import Version

    return Version(v)


def report_dict(result: ScanResult, stream: bool = False) -> dict[str, Any]:
    """The whole report; `stream` (for render_parts only): its long lists as _Stream, not lists of dicts."""
    active = result.active
    by_sev = {s: sum(1 for f in active if f.severity == s) for s in ("error", "warning", "info")}
    return {
        "schema_version": SCHEMA_VERSION,
        "root": str(result.root) if result.stdin_text is None else None,  # paths below are relative to it
        "tool": {"name": "mesh-migrator", "version": __version__},
        "summary": {"files_read": result.files_read, "files_parsed": result.files_parsed, "findings": len(active),
                    "suppressed": len(result.findings) - len(active), "by_severity": by_sev},
        "inventory": inventory_dict(result, stream),
        "findings": _listed(finding_dict, result.findings, stream),
        "skipped": [problem_dict(p) for p in result.skipped],
        "errors": [problem_dict(p) for p in result.errors],
    }


def render(result: ScanResult) -> str:
    """The report as indented JSON, byte-identical to json.dumps(..., indent=2) + newline."""
    return "".join(render_parts(result))


def render_parts(result: ScanResult) -> Iterator[str]:
    """The report of render(), in consecutive parts of ~1,000 encoder fragments each.

    json.dumps with an indent runs the pure-Python encoder and joins one list holding every
    fragment (about ten times the output's size in memory: the peak of a large scan); here the
    fragments are joined in batches.  `scan --format json` writes the parts to stdout as they come,
    so the report is never in memory whole, nor a second time as encoded bytes: at 20,000 files
    that was the last ~8 MB of the peak (bench/RESULTS.md "Memory").  A batch of 8,000 fragments
    (their strings, the joined part and its encoding) still added ~0.3 MB on top of a large scan's
    end; 1,000 add ~0.1 MB, for a few hundred more writes (bench/RESULTS.md "Memory", fourth round).
    """
    batch: list[str] = []
    for chunk in json.JSONEncoder(indent=2, sort_keys=False).iterencode(report_dict(result, stream=True)):
        batch.append(chunk)
        if len(batch) >= 1024:
            yield "".join(batch)
            batch.clear()
    batch.append("\n")
    yield "".join(batch)
