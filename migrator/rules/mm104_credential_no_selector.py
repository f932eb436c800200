"""MM104: DestinationRule credentialName without workloadSelector — sidecars drop TLS for that host."""

from __future__ import annotations

from migrator.rules.base import make
from migrator.sds import tls_blocks

ID = "MM104"


def check(view, meta):
    for dr in view.of_kind("DestinationRule"):
        spec = dr.data.get("spec") if isinstance(dr.data.get("spec"), dict) else {}
        if isinstance(spec.get("workloadSelector"), dict):
            continue
        for block in tls_blocks(dr):
            cred = str(block.settings.get("credentialName") or "")
            if not cred or cred.startswith(("configmap://", "builtin://")):
                continue
            if str(block.settings.get("mode", "")).upper() not in ("SIMPLE", "MUTUAL"):
                continue
            sidecars = sorted(p.resource for p in view.proxies_for_dr(dr) if p.kind == "sidecar")
            who = f" (sidecars in scope: {', '.join(sidecars)})" if sidecars else ""
            yield make(meta, view, path=dr.path, line=dr.line(block.path + ("credentialName",)), resource=dr.ref,
                       message=(f"{block.where} sets credentialName {cred!r} but the DestinationRule has no workloadSelector: "
                                f"only gateways use it; sidecars build no TLS context for {spec.get('host')!r} and send plaintext{who}"),
                       sds_resource=f"kubernetes://{cred}", proxies=sidecars,
                       details={"doc": dr.doc_index, "base_path": dr.base_path, "tls_path": block.path})
