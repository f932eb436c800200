"""MM131: chart repositories and registries that are not published to from Istio 1.31 on."""

from __future__ import annotations

from migrator.rules.base import make
from migrator.versions import in_range

ID = "MM131"
REPLACEMENTS = {
    "istio-release.storage.googleapis.com/charts": "https://blob.istio.io/istio-release/charts",
    "gcr.io/istio-release/charts": "oci://ghcr.io/istio/release/charts",
    "gcr.io/istio-release": "docker.io/istio",
}


def check(view, meta):
    target = view.target
    if target is None or not in_range(target, meta.istio):
        return
    for ref in view.inventory.registries:
        if not view.has(ref.path):
            continue
        new = next((v for k, v in REPLACEMENTS.items() if k in ref.url), "")
        yield make(meta, view, path=ref.path, line=ref.line, resource=ref.via,
                   message=f"{ref.url} is not published to from Istio 1.31 (target {target}); move to {new}")
