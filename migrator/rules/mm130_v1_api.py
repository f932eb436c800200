"""MM130: networking.istio.io/v1 (and security.istio.io/v1) resources on a control plane older than 1.22."""

from __future__ import annotations

from migrator.rules.base import make

ID = "MM130"
V1_GROUPS = ("networking.istio.io/v1", "security.istio.io/v1")


def check(view, meta):
    if not view.istio_in(meta.istio, unknown=False):
        return
    for r in view.resources:
        if r.api_version in V1_GROUPS:
            yield make(meta, view, path=r.path, line=r.line(("apiVersion",)), resource=r.ref,
                       message=f"{r.api_version} is served from Istio 1.22; the declared control plane {view.istio} rejects {r.kind} {r.name}; use v1beta1")
