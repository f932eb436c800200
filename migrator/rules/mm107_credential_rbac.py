"""MM107: sidecar credentialName whose ServiceAccount may not list secrets in its namespace."""

from __future__ import annotations

from migrator.rules.base import make
from migrator.sds import tls_blocks

ID = "MM107"


def _grants_list_secrets(rule: dict) -> bool:
    resources = {str(r) for r in rule.get("resources") or []}
    verbs = {str(v) for v in rule.get("verbs") or []}
    groups = {str(g) for g in rule.get("apiGroups") or [""]}
    return bool(resources & {"secrets", "*"}) and bool(verbs & {"list", "*"}) and bool(groups & {"", "*"})


def _allowed(view, namespace: str, sa: str) -> tuple[bool, bool]:
    """(allowed, rbac_declared) for `list secrets` in namespace by ServiceAccount sa."""
    roles = {(r.kind, r.namespace if r.kind == "Role" else "", r.name): r for r in view.of_kind("Role", "ClusterRole")}
    declared = any(r.namespace == namespace for r in view.of_kind("Role", "RoleBinding"))
    for b in view.of_kind("RoleBinding", "ClusterRoleBinding"):
        if b.kind == "RoleBinding" and b.namespace != namespace:
            continue
        subjects = b.data.get("subjects") or []
        if not any(isinstance(s, dict) and s.get("kind") == "ServiceAccount" and s.get("name") == sa
                   and (s.get("namespace") or b.namespace) == namespace for s in subjects):
            continue
        ref = b.data.get("roleRef") or {}
        key = (ref.get("kind"), namespace if ref.get("kind") == "Role" else "", ref.get("name"))
        role = roles.get(key)
        if role and any(isinstance(r, dict) and _grants_list_secrets(r) for r in role.data.get("rules") or []):
            return True, True
    return False, declared


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
                ok, declared = _allowed(view, proxy.namespace, proxy.service_account)
                if ok:
                    continue
                note = "" if declared else " (the repo declares no Role/RoleBinding in that namespace, so this is unverified)"
                yield make(meta, view, path=dr.path, line=dr.line(block.path + ("credentialName",)), resource=dr.ref, low=not declared,
                           message=(f"credentialName {cred!r} is served by istiod only if ServiceAccount {proxy.namespace}/{proxy.service_account} "
                                    f"of {proxy.resource} may list secrets in {proxy.namespace}; no Role/RoleBinding in the repo grants it{note}"),
                           sds_resource=f"kubernetes://{cred}", proxies=[proxy.resource],
                           details={"namespace": proxy.namespace, "service_account": proxy.service_account})
                break
