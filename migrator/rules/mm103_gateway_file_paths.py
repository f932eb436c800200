"""MM103: Gateway server TLS with file paths on a SPIRE gateway before Istio 1.26."""

from __future__ import annotations

from migrator.rules.base import make
from migrator.sds import gateway_names, gateway_selects

ID = "MM103"


def check(view, meta):
    if not view.istio_in(meta.istio):
        return
    gateways = [p for p in view.proxies if p.spire and p.kind == "gateway"]
    for gw in view.of_kind("Gateway"):
        if not gw.api_version.startswith("networking.istio.io"):
            continue
        failing: dict[int, list] = {}
        for proxy in gateways:
            if gateway_selects(gw, proxy):
                for n in gateway_names(proxy, gw, view):
                    if not n.ok:
                        failing.setdefault(n.gateway_server[1], []).append((proxy, n))
        for index, hits in sorted(failing.items()):
            proxies = sorted({p.resource for p, _ in hits})
            names = sorted({n.name for _, n in hits})
            yield make(meta, view, path=gw.path, line=gw.line(("spec", "servers", index, "tls")), resource=gw.ref,
                       low=any(p.confidence == "low" for p, _ in hits),
                       message=(f"servers[{index}].tls uses certificate files on SPIRE gateway {', '.join(proxies)}: it requests "
                                f"{', '.join(repr(n) for n in names)} from the SPIRE agent, which refuses them before Istio 1.26; "
                                f"Envoy logs: {hits[0][1].log}"),
                       sds_resource=names[0], proxies=proxies,
                       details={"doc": gw.doc_index, "base_path": gw.base_path, "server": index})
