"""MM107: sidecar credentialName whose ServiceAccount may not list secrets in its namespace.

Read off the SDS model (migrator/sds.py secret_access): istiod runs a SubjectAccessReview
(`list secrets` in the proxy's namespace) and drops `kubernetes://` resources the proxy is not
authorised for (istio/istio 1.22.0 pilot/pkg/xds/sds.go, pilot/pkg/credentials/kube/secrets.go), so TLS
origination fails: an error when the repo's RBAC for the ServiceAccount does not grant it, a
low-confidence warning when the repo declares no RBAC for it at all.
"""

from __future__ import annotations

from migrator.rules.base import make
from migrator.sds import secret_access, tls_blocks

ID = "MM107"


def check(view, meta):
    for dr in view.of_kind("DestinationRule"):
        spec = dr.data.get("spec") if isinstance(dr.data.get("spec"), dict) else {}
        if not isinstance(spec.get("workloadSelector"), dict):
            continue
        for block in tls_blocks(dr):
            cred = str(block.settings.get("credentialName") or "")
            if not cred or cred.startswith(("configmap://", "builtin://")):
                continue
            for proxy in view.proxies_for_dr(dr):
                if proxy.kind != "sidecar":
                    continue
                access = secret_access(view, proxy.namespace, proxy.service_account)
                if access == "granted":
                    continue
                who = f"ServiceAccount {proxy.namespace}/{proxy.service_account} of {proxy.resource}"
                if access == "denied":
                    message = (f"credentialName {cred!r}: the RBAC in the repo for {who} does not grant list on secrets in "
                               f"{proxy.namespace}; istiod drops kubernetes://{cred} and TLS origination to "
                               f"{spec.get('host')!r} fails")
                else:
                    message = (f"credentialName {cred!r} is served by istiod only if {who} may list secrets in {proxy.namespace}; "
                               "the repo declares no RoleBinding for it, so this is unverified")
                yield make(meta, view, path=dr.path, line=dr.line(block.path + ("credentialName",)), resource=dr.ref,
                           low=access == "unknown", severity=None if access == "denied" else "warning", message=message,
                           sds_resource=f"kubernetes://{cred}", proxies=[proxy.resource],
                           details={"namespace": proxy.namespace, "service_account": proxy.service_account, "rbac": access})
                break
