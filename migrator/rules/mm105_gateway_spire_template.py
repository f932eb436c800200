"""MM105: `inject.istio.io/templates` combining gateway and spire fails pod creation before 1.27."""

from __future__ import annotations

from migrator.rules.base import make

ID = "MM105"


def check(view, meta):
    if not view.istio_in(meta.istio):
        return
    for p in view.proxies:
        if "gateway" in p.templates and "spire" in p.templates:
            yield make(meta, view, path=p.path, line=p.line, resource=p.resource,
                       message=(f"inject.istio.io/templates {','.join(p.templates)!r}: before Istio 1.27 the gateway template's "
                                "`emptyDir: {}` workload-socket volume merges with the spire template's csi volume and the pod is "
                                "rejected (\"may not specify more than 1 volume type\")"))
