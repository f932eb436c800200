"""Helpers shared by rule modules: building findings with the view's assumptions attached."""

from __future__ import annotations

from migrator.mesh import MeshView
from migrator.model import Finding


def make(meta, view: MeshView, *, path: str, line: int, resource: str, message: str, low: bool = False,
         severity: str | None = None, extra_assumptions: list[str] | None = None, **kw) -> Finding:
    """A finding; confidence drops when the view had to assume the Istio version or a SPIRE signal."""
    assumptions = list(extra_assumptions or [])
    confidence = "high"
    if view.istio_assumed and meta.istio:
        confidence = "low"
        assumptions.extend(a for a in view.assumptions if "Istio version unknown" in a)
    if low:
        confidence = "low"
    return Finding(rule=meta.id, severity=severity or meta.severity, path=path, line=line, resource=resource,
                   message=message, confidence=confidence, assumptions=assumptions or (), **kw)
