"""MM110: without SPIRE, 1.21+ verifies TLS origination to private upstreams against the OS bundle."""

from __future__ import annotations

import ipaddress

from migrator.rules.base import make
from migrator.sds import tls_blocks

ID = "MM110"
PRIVATE_SUFFIXES = (".svc.cluster.local", ".svc", ".cluster.local", ".internal", ".local", ".corp", ".lan", ".intranet", ".home.arpa")


def _private_ip(text: str) -> bool:
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False).is_private
    except ValueError:
        return False


def private_hosts(view) -> dict[str, str]:
    """ServiceEntry hosts that resolve to private addresses or are mesh-internal, with the reason."""
    out = {}
    for se in view.of_kind("ServiceEntry"):
        spec = se.data.get("spec") if isinstance(se.data.get("spec"), dict) else {}
        addrs = [str(a) for a in spec.get("addresses") or []]
        addrs += [str(e.get("address")) for e in spec.get("endpoints") or [] if isinstance(e, dict) and e.get("address")]
        reason = ""
        if str(spec.get("location", "")).upper() == "MESH_INTERNAL":
            reason = f"ServiceEntry {se.ref} is MESH_INTERNAL"
        elif any(_private_ip(a) for a in addrs):
            reason = f"ServiceEntry {se.ref} has private addresses"
        if reason:
            for h in spec.get("hosts") or []:
                out[str(h)] = reason
    return out


def why_private(host: str, se_hosts: dict[str, str]) -> str:
    if host in se_hosts:
        return se_hosts[host]
    if _private_ip(host):
        return "a private IP"
    if host.endswith(PRIVATE_SUFFIXES):
        return f"a private name (*{next(s for s in PRIVATE_SUFFIXES if host.endswith(s))})"
    if "." not in host and host and host != "*":
        return "a short in-cluster name"
    return ""


def check(view, meta):
    if not view.istio_in(meta.istio) or not view.verify_at_client():
        return
    se_hosts = private_hosts(view)
    for dr in view.of_kind("DestinationRule"):
        if any(chunk for _, chunk in view.visible_chunks(dr, spire_only=True)):
            continue  # MM101's territory
        host = str((dr.data.get("spec") or {}).get("host", ""))
        reason = why_private(host, se_hosts)
        if not reason:
            continue
        for block in tls_blocks(dr):
            t = block.settings
            if str(t.get("mode", "")).upper() not in ("SIMPLE", "MUTUAL"):
                continue
            if t.get("caCertificates") or t.get("credentialName") or t.get("insecureSkipVerify") in (True, "true"):
                continue
            yield make(meta, view, path=dr.path, line=block.line, resource=dr.ref,
                       message=(f"{block.where} originates TLS to {host!r} ({reason}) without caCertificates: since Istio 1.21 the "
                                "proxy verifies it against the OS CA bundle (file-root:system), which a private CA or self-signed "
                                "certificate fails"),
                       sds_resource="file-root:system",
                       details={"doc": dr.doc_index, "base_path": dr.base_path, "tls_path": block.path, "host": host})
