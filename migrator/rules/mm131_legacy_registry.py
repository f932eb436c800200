"""MM131: chart repositories and registries that are not published to from Istio 1.31 on.

Which location moves where is data (migrator/knowledge/istio.yaml `registries`: gcr.io/istio-release,
registry.istio.io/release and its OCI charts, istio-release.storage.googleapis.com), shared with the
planner so the finding and the plan's rewrite always name the same replacement.
"""

from __future__ import annotations

from migrator import knowledge
from migrator.rules.base import make
from migrator.versions import in_range, minor_of

ID = "MM131"
_KIND = {"image-registry": "images", "helm-repo": "Helm charts", "oci-helm-repo": "OCI Helm charts", "artifacts": "release artifacts"}


def check(view, meta):
    target = view.target
    if target is None or not in_range(target, meta.istio):
        return
    for ref in view.inventory.registries:
        if not view.has(ref.path):
            continue
        moved = knowledge.registry_replacement(ref.url, minor_of(target))
        if moved is None:
            continue
        reg, new = moved
        what = _KIND.get(reg["kind"], reg["kind"])
        yield make(meta, view, path=ref.path, line=ref.line, resource=ref.via,
                   message=(f"{ref.url} is not published to from Istio 1.31 (target {target}; last minor there: {reg['until']}); "
                            f"{what} for {minor_of(target)} are at {new}"),
                   details={"replacement": new, "registry": reg["id"]})
