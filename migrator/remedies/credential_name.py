"""credential-name: CA material served by istiod (`kubernetes://<secret>-cacert`), which works under SPIRE.

istiod, not the SPIRE agent, serves credentialName references over ADS, so this is the remedy that
keeps verification on before Istio 1.26.  On sidecars it only works with a workloadSelector
(otherwise istiod drops TLS for the cluster: MM104), with the Secret in the proxy's namespace and
with the proxy's ServiceAccount allowed to `list` secrets there (MM107) — so this strategy adds the
selector, narrows exportTo to the DR's namespace as validation requires, and generates the RBAC.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from migrator.edits import DeleteKey, Upsert
from migrator.remedies import FileChange, Refused, Remedy, ca_bundles, find_resource, spec_path, tls_path

NAME = "credential-name"
COST = "none for verification (the CA in the Secret verifies the upstream); keep that CA current"
RBAC_COST = ("ServiceAccount {sa} can list every Secret in namespace {ns} (istiod checks `list secrets` for the proxy's "
             "ServiceAccount; the permission cannot be narrowed to one Secret)")


def _affected(finding, ctx):
    """The proxies the fix must keep working: the finding's (SPIRE) proxies, else every proxy the DR reaches."""
    view = ctx.view
    if view is None:
        return []
    if finding.proxies and finding.details.get("proxy_count", len(finding.proxies)) <= len(finding.proxies):
        return [p for p in view.proxies if p.resource in finding.proxies]  # the finding lists them all
    dr = find_resource(view, finding)
    if finding.proxies and dr:  # the finding names only the first few SPIRE proxies: recompute them all
        return [p for p in view.proxies_for_dr(dr) if p.spire]
    return view.proxies_for_dr(dr) if dr else []


def check(finding, ctx) -> None:
    if finding.rule == "MM103":
        if not ctx.secret_name:
            raise Refused("a Gateway needs a TLS Secret with the server certificate and key: pass --secret-name of an existing Secret")
        from migrator.names import subdomain_problem

        problem = subdomain_problem(secret_for(ctx, finding.resource.rsplit("/", 1)[-1]))
        if problem:
            raise Refused(f"Secret name: {problem}")
        return
    if "tls_path" not in finding.details:
        raise Refused("credential-name needs a DestinationRule TLS block")
    dr = find_resource(ctx.view, finding) if ctx.view else None
    if dr is None:
        raise Refused("the DestinationRule was not found in the scanned files")
    proxies = _affected(finding, ctx)
    if finding.rule == "MM104" and not [p for p in proxies if p.kind == "sidecar"]:
        raise Refused("no sidecar in the repo uses this DestinationRule, so there are no workloads to put in a workloadSelector")
    foreign = sorted(p.resource for p in proxies if p.namespace != dr.namespace)
    if foreign:
        raise Refused(f"affected proxies {', '.join(foreign)} are outside namespace {dr.namespace}: a workloadSelector only selects "
                      "pods in the DR's own namespace, so each namespace needs its own DestinationRule (not automated)")
    _check_names(dr, proxies, ctx)
    if finding.details.get("mode") == "MUTUAL" and not ctx.secret_name:
        raise Refused("MUTUAL needs the client certificate and key in the Secret: pass --secret-name of an existing Secret")
    bundle = ca_bundles.bundle_for(ctx.ca_bundle, _host(dr), ctx.view)
    if bundle:
        _read_pem(bundle)
    sidecars = [p for p in proxies if p.kind == "sidecar"]
    if sidecars and not _common_labels(sidecars):
        raise Refused("the affected workloads share no label to select them with")
    if not proxies and not isinstance((dr.data.get("spec") or {}).get("workloadSelector"), dict):
        raise Refused("no workload in the repo uses this DestinationRule, so there is nothing to put in the workloadSelector "
                      "a sidecar needs (credentialName without one is MM104)")
    export = (dr.data.get("spec") or {}).get("exportTo")
    if export and [str(e) for e in export] != ["."] and [str(e) for e in export] != [dr.namespace]:
        raise Refused(f"exportTo {export} must be narrowed to the DR's namespace for a workloadSelector; change it by hand first")


def _host(dr) -> str:
    return str((dr.data.get("spec") or {}).get("host") or "")


def _common_labels(proxies) -> dict:
    common = dict(proxies[0].labels)
    for p in proxies[1:]:
        common = {k: v for k, v in common.items() if p.labels.get(k) == v}
    for noisy in ("pod-template-hash", "version", "app.kubernetes.io/version", "helm.sh/chart"):
        common.pop(noisy, None)
    if "app" in common:
        return {"app": common["app"]}
    if "app.kubernetes.io/name" in common:
        return {"app.kubernetes.io/name": common["app.kubernetes.io/name"]}
    return dict(sorted(common.items())[:2])


def _read_pem(path: str) -> list[str]:
    """Certificates only (migrator/pem.py): key material under any label is refused, as is a bundle over 1 MiB."""
    from migrator.pem import PemError, read_ca_bundle

    try:
        return read_ca_bundle(path)
    except PemError as exc:
        raise Refused(f"--ca-bundle {exc}") from exc


def _check_names(dr, proxies, ctx) -> None:
    """Names from the repository become file names and YAML here: each must be a valid Kubernetes name."""
    from migrator.names import label_problem, subdomain_problem

    checks = [("metadata.name", subdomain_problem(dr.name)), ("metadata.namespace", label_problem(dr.namespace)),
              ("Secret name", subdomain_problem(secret_for(ctx, dr.name)))]
    checks += [(f"serviceAccountName of {p.resource}", subdomain_problem(p.service_account))
               for p in proxies if p.kind == "sidecar"]
    for what, problem in checks:
        if problem:
            raise Refused(f"{what}: {problem}; not used in a generated file")


def secret_for(ctx, resource_name: str) -> str:
    """--secret-name may be a template: `{name}` becomes the DestinationRule/Gateway name, so one batch
    run gives each upstream its own Secret instead of one CA for every host."""
    return (ctx.secret_name or "{name}-ca").replace("{name}", resource_name)


def build(finding, ctx) -> Remedy:
    if finding.rule == "MM103":
        return _gateway(finding, ctx)
    if finding.rule == "MM104":
        return _selector_only(finding, ctx)
    dr = find_resource(ctx.view, finding)
    doc = finding.details["doc"]
    secret = secret_for(ctx, dr.name)
    path = tls_path(finding)
    edits = [Upsert(doc, path, "credentialName", secret)]
    edits += [DeleteKey(doc, path, k) for k in ("caCertificates", "clientCertificate", "privateKey", "caCrl")]
    notes, costs = [], [COST]
    changes = [FileChange(finding.path, edits)]
    sidecars = [p for p in _affected(finding, ctx) if p.kind == "sidecar"]
    spec = dr.data.get("spec") or {}
    if sidecars and not isinstance(spec.get("workloadSelector"), dict):
        labels = _common_labels(sidecars)
        edits.append(Upsert(doc, spec_path(finding), "workloadSelector", {"matchLabels": labels}))
        if not spec.get("exportTo"):
            edits.append(Upsert(doc, spec_path(finding), "exportTo", ["."]))
        others = f"other workloads in namespace {dr.namespace} no longer receive {dr.ref} (they fall back to no TLS settings for {spec.get('host')!r})"
        costs.append(others)
    folder = PurePosixPath(finding.path).parent
    if finding.details.get("mode") == "MUTUAL":
        notes.append(f"Secret {dr.namespace}/{secret} must hold the client certificate and key (tls.crt, tls.key) and the CA (ca.crt)")
    elif bundle := ca_bundles.bundle_for(ctx.ca_bundle, _host(dr), ctx.view):
        pems = _read_pem(bundle)
        changes.append(FileChange(str(folder / f"{secret}-secret.yaml"), new_text=_secret_yaml(secret, dr.namespace, pems, bundle)))
    else:
        notes.append(f"create Secret {dr.namespace}/{secret} with key ca.crt (or {secret}-cacert) holding the upstream's CA bundle")
    for sa in sorted({p.service_account for p in sidecars}):
        changes.append(FileChange(str(folder / f"{sa}-istio-credential-reader.yaml"), new_text=_rbac_yaml(sa, dr.namespace)))
        costs.append(RBAC_COST.format(sa=f"{dr.namespace}/{sa}", ns=dr.namespace))
    return Remedy(NAME, finding, changes, f"set credentialName: {secret} on {finding.resource}"
                  + (" with a workloadSelector" if sidecars else ""), "; ".join(costs), notes)


def _selector_only(finding, ctx) -> Remedy:
    """MM104: the credentialName (and its Secret) are there already; sidecars ignore it only because the
    DestinationRule has no workloadSelector (istio/istio 1.22.0 pilot/pkg/networking/core/cluster_tls.go).
    Add the selector (and exportTo ".", which validation requires with one), and the `list secrets` RBAC
    istiod checks unless the repo already grants it.  The Secret name is kept."""
    from migrator.sds import secret_access

    dr = find_resource(ctx.view, finding)
    doc = finding.details["doc"]
    spec = dr.data.get("spec") or {}
    sidecars = [p for p in _affected(finding, ctx) if p.kind == "sidecar"]
    edits = [Upsert(doc, spec_path(finding), "workloadSelector", {"matchLabels": _common_labels(sidecars)})]
    if not spec.get("exportTo"):
        edits.append(Upsert(doc, spec_path(finding), "exportTo", ["."]))
    changes = [FileChange(finding.path, edits)]
    costs = [f"other workloads in namespace {dr.namespace} no longer receive {dr.ref} (they fall back to no TLS settings for {spec.get('host')!r})"]
    folder = PurePosixPath(finding.path).parent
    for sa in sorted({p.service_account for p in sidecars if secret_access(ctx.view, p.namespace, p.service_account) != "granted"}):
        changes.append(FileChange(str(folder / f"{sa}-istio-credential-reader.yaml"), new_text=_rbac_yaml(sa, dr.namespace)))
        costs.append(RBAC_COST.format(sa=f"{dr.namespace}/{sa}", ns=dr.namespace))
    return Remedy(NAME, finding, changes, f"add a workloadSelector to {finding.resource} so its sidecars use the existing credentialName",
                  "; ".join(costs))


def _gateway(finding, ctx) -> Remedy:
    doc = finding.details["doc"]
    path = tuple(finding.details.get("base_path", ())) + ("spec", "servers", finding.details["server"], "tls")
    secret = secret_for(ctx, finding.resource.rsplit("/", 1)[-1])
    edits = [Upsert(doc, path, "credentialName", secret)]
    edits += [DeleteKey(doc, path, k) for k in ("serverCertificate", "privateKey", "caCertificates")]
    return Remedy(NAME, finding, [FileChange(finding.path, edits)],
                  f"serve {finding.resource} servers[{finding.details['server']}] from Secret {secret} (credentialName)",
                  "none; the Secret must hold tls.crt/tls.key (and ca.crt for MUTUAL) in the gateway's namespace")


def _secret_yaml(name: str, namespace: str, pems: list[str], source: str) -> str:
    body = "\n".join(pems)
    indented = "\n".join("    " + ln for ln in body.splitlines())
    return (f"# Generated by mesh-migrator from {PurePosixPath(source).name}: CA bundle istiod serves as\n"
            f"# kubernetes://{name}-cacert to the proxies selected by the DestinationRule (works under SPIRE).\n"
            f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\ntype: Opaque\n"
            f"stringData:\n  ca.crt: |\n{indented}\n")


def _rbac_yaml(sa: str, namespace: str) -> str:
    return (f"# Generated by mesh-migrator: istiod serves credentialName Secrets to a sidecar only if its\n"
            f"# ServiceAccount may list secrets in its namespace (SubjectAccessReview in pilot/pkg/xds/sds.go).\n"
            f"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: istio-credential-reader-{sa}\n"
            f"  namespace: {namespace}\nrules:\n  - apiGroups: [\"\"]\n    resources: [\"secrets\"]\n    verbs: [\"get\", \"watch\", \"list\"]\n"
            f"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: istio-credential-reader-{sa}\n"
            f"  namespace: {namespace}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: istio-credential-reader-{sa}\n"
            f"subjects:\n  - kind: ServiceAccount\n    name: {sa}\n    namespace: {namespace}\n")
