"""MM101: a SPIRE proxy will request `file-root:system` (Istio 1.21–1.25), derived from the SDS model."""

from __future__ import annotations

from migrator.rules.base import make
from migrator.sds import FILE_ROOT_SYSTEM, names_for_block, tls_blocks

ID = "MM101"


def check(view, meta):
    if not view.istio_in(meta.istio):
        return
    spire = [p for p in view.proxies if p.spire]
    for dr in view.of_kind("DestinationRule"):
        for block in tls_blocks(dr):
            hit = [(p, n) for p in spire if view_applies(dr, p) for n in names_for_block(p, block, view)
                   if n.name == FILE_ROOT_SYSTEM and not n.ok]
            if not hit:
                continue
            proxies = sorted({p.resource for p, _ in hit})
            low = any(p.confidence == "low" for p, _ in hit)
            mode = str(block.settings.get("mode")).upper()
            yield make(meta, view, path=dr.path, line=block.line, resource=dr.ref, low=low,
                       extra_assumptions=[p.spire_reason for p, _ in hit if p.confidence == "low"][:1],
                       message=(f"{block.where} is {mode} without caCertificates: on Istio {view.istio or '1.21-1.25 (assumed)'} "
                                f"the SPIRE-backed proxies {', '.join(proxies)} will request SDS resource "
                                f"\"{FILE_ROOT_SYSTEM}\" from the SPIRE agent, which refuses it; Envoy logs: {hit[0][1].log}"),
                       sds_resource=FILE_ROOT_SYSTEM, proxies=proxies,
                       details={"doc": dr.doc_index, "base_path": dr.base_path, "tls_path": block.path, "mode": mode,
                                "host": (dr.data.get("spec") or {}).get("host")})


def view_applies(dr, proxy):
    from migrator.mesh import dr_applies

    return dr_applies(dr, proxy)
