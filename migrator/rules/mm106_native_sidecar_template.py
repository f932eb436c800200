"""MM106: a SPIRE injection template patching `containers` while native sidecars can be on (1.27+).

An error: with native sidecars the template's `containers: [{name: istio-proxy}]` patch becomes a
container without an image (istio/istio 1.27.0 pkg/kube/inject/testdata/inject/sidecar-spire.yaml.injected),
which the Kubernetes API server refuses, so the pods are never created.
"""

from __future__ import annotations

from migrator.rules.base import make

ID = "MM106"


def check(view, meta):
    if not view.istio_in(meta.istio, unknown=False):
        return
    native = view.flag("ENABLE_NATIVE_SIDECARS")
    if native and native.value.strip().lower() == "false":
        return
    for t in view.inventory.templates:
        if not view.has(t.path) or not t.spire or not t.patches_containers or t.patches_init_containers:
            continue
        users = [p for p in view.proxies if t.name in p.templates and p.kind == "sidecar"
                 and p.annotations.get("sidecar.istio.io/nativeSidecar", "").lower() != "false"]
        yield make(meta, view, path=t.path, line=t.line, resource=f"InjectorTemplate/{t.name}",
                   message=(f"injection template {t.name!r} patches spec.containers[istio-proxy]; with native sidecars "
                            f"(Istio {view.istio}, Kubernetes 1.33+) istio-proxy runs in initContainers, so the SPIRE socket "
                            "is mounted into an extra image-less container instead, and Kubernetes rejects the pod "
                            "(spec.containers[].image is required): pod creation fails"
                            + (f" (used by {', '.join(p.resource for p in users)})" if users else "")),
                   proxies=[p.resource for p in users])
