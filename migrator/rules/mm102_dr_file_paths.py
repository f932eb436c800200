"""MM102: DestinationRule caCertificates/clientCertificate paths reach SPIRE before Istio 1.26."""

from __future__ import annotations

from migrator.rules.base import make
from migrator.sds import FILE_ROOT_SYSTEM, failing_blocks

ID = "MM102"


def check(view, meta):
    if not view.istio_in(meta.istio):
        return
    for block, hits in failing_blocks(view, lambda n: n.kind in ("file-root", "file-cert") and n.name != FILE_ROOT_SYSTEM):
        dr = block.dr
        key = "caCertificates" if block.settings.get("caCertificates") else "clientCertificate"
        yield make(meta, view, path=dr.path, line=dr.line(block.path + (key,)), resource=dr.ref, low=bool(hits.low),
                   message=(f"{block.where} uses certificate files; the SPIRE-backed proxies {hits.described()} request "
                            f"{', '.join(repr(n) for n in hits.names)} from the SPIRE agent, which refuses them before Istio 1.26; "
                            f"Envoy logs: {hits.log}"),
                   sds_resource=hits.names[0], proxies=hits.proxies,
                   details={"doc": dr.doc_index, "base_path": dr.base_path, "tls_path": block.path,
                            "mode": str(block.settings.get("mode")).upper(), "proxy_count": hits.count})
