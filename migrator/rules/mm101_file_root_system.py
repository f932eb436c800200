"""MM101: a SPIRE proxy will request `file-root:system` (Istio 1.21–1.25), derived from the SDS model."""

from __future__ import annotations

from migrator.rules.base import make
from migrator.sds import FILE_ROOT_SYSTEM, failing_blocks

ID = "MM101"


def check(view, meta):
    if not view.istio_in(meta.istio):
        return
    for block, hits in failing_blocks(view, lambda n: n.name == FILE_ROOT_SYSTEM):
        dr = block.dr
        mode = str(block.settings.get("mode")).upper()
        yield make(meta, view, path=dr.path, line=block.line, resource=dr.ref, low=bool(hits.low), extra_assumptions=hits.low[:1],
                   message=(f"{block.where} is {mode} without caCertificates: on Istio {view.istio or '1.21-1.25 (assumed)'} "
                            f"the SPIRE-backed proxies {hits.described()} will request SDS resource "
                            f"\"{FILE_ROOT_SYSTEM}\" from the SPIRE agent, which refuses it; Envoy logs: {hits.log}"),
                   sds_resource=FILE_ROOT_SYSTEM, proxies=hits.proxies,
                   details={"doc": dr.doc_index, "base_path": dr.base_path, "tls_path": block.path, "mode": mode,
                            "host": (dr.data.get("spec") or {}).get("host"), "proxy_count": hits.count})
