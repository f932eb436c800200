"""MM130: an Istio API version the declared control plane does not serve (networking.istio.io/v1 before 1.22)."""

from __future__ import annotations

from migrator.rules.base import make

ID = "MM130"


def check(view, meta):
    from migrator.crds import served_api_versions

    if view.istio is None:
        return
    for r in view.resources:
        group, _, version = r.api_version.partition("/")
        if not group.endswith("istio.io") or not version:
            continue
        served = served_api_versions(r.kind, group, str(view.istio))
        if served is None or version in served:
            continue
        newest_old = next((v for v in ("v1beta1", "v1alpha3", "v1alpha1") if v in served), served[0] if served else "")
        yield make(meta, view, path=r.path, line=r.line(("apiVersion",)), resource=r.ref,
                   message=(f"{r.api_version} {r.kind} is not served by Istio {view.istio} (its CRDs serve {', '.join(served)}); "
                            f"the API server rejects {r.kind} {r.name}; use {group}/{newest_old}"))
