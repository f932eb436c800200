"""The SDS model: which secret names each proxy will ask for, from which server, and who refuses.

This is the heart of the tool.  An Envoy proxy fetches every certificate by SDS resource name
(istio/istio PR #54725 describes the three kinds).  Workload identity (`default`, `ROOTCA`) goes to
the SPIRE agent when SPIRE is mounted, and — before Istio 1.26 — so did every file reference
(`file-root:<path>`, `file-cert:<cert>~<key>`, `file-root:system`), which SPIRE refuses with
`workload is not authorized for the requested identities`.  `credentialName` references
(`kubernetes://…`) are served by istiod over ADS and never touch SPIRE.  Rules MM101–MM103 are
read off this table, so the table and the findings can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from packaging.version import Version

from migrator.inventory import shared_path
from migrator.mesh import MeshView, dr_applies
from migrator.model import Proxy, Resource

SPIRE_FIX = Version("1.26")
FILE_ROOT_SYSTEM = "file-root:system"


@dataclass(frozen=True)
class TlsBlock:
    """One DestinationRule TLS settings block at one of its four locations."""

    dr: Resource
    path: tuple  # key path of the `tls` mapping inside the resource
    settings: dict
    where: str  # human text: "spec.trafficPolicy.tls", "subset v1 port 443" …

    @property
    def line(self) -> int:
        return self.dr.line(self.path)


@dataclass(frozen=True)
class SdsName:
    """One SDS resource a proxy requests, and whether its server can serve it."""

    proxy: str
    name: str
    server: str  # istio-agent | spire-agent | istiod
    ok: bool
    origin: str  # what makes the proxy ask for it
    path: str | None = None
    line: int | None = None
    log: str | None = None
    kind: str = "identity"  # identity | file-root | file-cert | credential
    block: TlsBlock | None = field(default=None, compare=False, hash=False)
    gateway_server: tuple | None = None  # (Gateway resource, server index) for Gateway TLS
    unknown: bool = False  # the outcome depends on something the repo does not show (RBAC not declared)

    @property
    def status(self) -> str:
        """ok | fails | unknown, as the `sds` table prints it."""
        return "fails" if not self.ok else ("unknown" if self.unknown else "ok")


def refusal_log(name: str) -> str:
    """The Envoy log line users will see (istio/istio#54220, spiffe/spire#5687)."""
    return f'StreamSecrets gRPC config stream to sds-grpc closed: 3, workload is not authorized for the requested identities ["{name}"]'


def tls_blocks(dr: Resource) -> Iterator[TlsBlock]:
    """The four places a DestinationRule carries client TLS settings (most specific evaluated alone)."""
    spec = dr.data.get("spec") if isinstance(dr.data.get("spec"), dict) else {}
    yield from _policy_blocks(dr, spec.get("trafficPolicy"), ("spec", "trafficPolicy"), "")
    for i, subset in enumerate(spec.get("subsets") or []):
        if isinstance(subset, dict):
            yield from _policy_blocks(dr, subset.get("trafficPolicy"), ("spec", "subsets", i, "trafficPolicy"), f"subset {subset.get('name', i)} ")


def _policy_blocks(dr: Resource, policy, path: tuple, prefix: str) -> Iterator[TlsBlock]:
    if not isinstance(policy, dict):
        return
    if isinstance(policy.get("tls"), dict):
        yield TlsBlock(dr, shared_path(path + ("tls",)), policy["tls"], f"{prefix}trafficPolicy.tls")
    for j, pls in enumerate(policy.get("portLevelSettings") or []):
        if isinstance(pls, dict) and isinstance(pls.get("tls"), dict):
            port = (pls.get("port") or {}).get("number") if isinstance(pls.get("port"), dict) else None
            yield TlsBlock(dr, shared_path(path + ("portLevelSettings", j, "tls")), pls["tls"], f"{prefix}trafficPolicy.portLevelSettings[port {port}].tls")


def _truthy(value) -> bool:
    return value is True or str(value).strip().lower() == "true"


def file_server(proxy: Proxy, view: MeshView) -> tuple[str, bool]:
    """Who answers file-root:/file-cert: names for this proxy, and can it."""
    if not proxy.spire:
        return "istio-agent", True
    if view.istio is not None and view.istio >= SPIRE_FIX:
        return "istio-agent (sds-files-grpc)", True
    return "spire-agent", False


def names_for_block(proxy: Proxy, block: TlsBlock, view: MeshView) -> list[SdsName]:
    """The SDS names one DR TLS block makes this proxy request (domain-report §2.1 predicate)."""
    t = block.settings
    mode = str(t.get("mode", "")).upper()
    if mode not in ("SIMPLE", "MUTUAL"):
        return []  # DISABLE and ISTIO_MUTUAL never request file names
    dr = block.dr
    origin = f"{dr.ref} {block.where}"
    cred = str(t.get("credentialName") or "")
    if cred:
        return _credential_names(proxy, block, cred, mode, view, origin)
    server, ok = file_server(proxy, view)
    out: list[SdsName] = []
    skip_verify = _truthy(t.get("insecureSkipVerify"))
    ca = str(t.get("caCertificates") or "")
    if not skip_verify:
        if ca:
            name = f"file-root:{ca}"
        elif view.verify_at_client():
            name = FILE_ROOT_SYSTEM
        else:
            name = ""
        if name:
            out.append(SdsName(proxy.resource, name, server, ok, origin, dr.path, block.line, None if ok else refusal_log(name), "file-root", block))
    if mode == "MUTUAL" and t.get("clientCertificate") and t.get("privateKey"):
        name = f"file-cert:{t['clientCertificate']}~{t['privateKey']}"
        out.append(SdsName(proxy.resource, name, server, ok, origin, dr.path, block.line, None if ok else refusal_log(name), "file-cert", block))
    return out


def _grants_list_secrets(rule: dict) -> bool:
    """A PolicyRule that allows `list secrets` (core group); resourceNames cannot restrict list,
    so a rule carrying them does not count (Kubernetes RBAC docs, "Referring to resources")."""
    resources = {str(r) for r in rule.get("resources") or []}
    verbs = {str(v) for v in rule.get("verbs") or []}
    groups = {str(g) for g in rule.get("apiGroups") or [""]}
    return (bool(resources & {"secrets", "*"}) and bool(verbs & {"list", "*"}) and bool(groups & {"", "*"})
            and not rule.get("resourceNames"))


def _binds(binding: Resource, namespace: str, sa: str) -> bool:
    """Does this (Cluster)RoleBinding name ServiceAccount namespace/sa (directly or by its groups)?"""
    groups = {"system:serviceaccounts", f"system:serviceaccounts:{namespace}"}
    for s in binding.data.get("subjects") or []:
        if not isinstance(s, dict):
            continue
        if s.get("kind") == "ServiceAccount" and s.get("name") == sa and (s.get("namespace") or binding.namespace) == namespace:
            return True
        if s.get("kind") == "Group" and s.get("name") in groups:
            return True
    return False


def secret_access(view: MeshView, namespace: str, sa: str) -> str:
    """May ServiceAccount namespace/sa `list secrets` in its namespace, per the RBAC in the repo?

    istiod serves a `kubernetes://` credential to a proxy only after a SubjectAccessReview for exactly
    that (verb list, resource secrets, the proxy's namespace) and drops the resource otherwise
    (pilot/pkg/credentials/kube/secrets.go Authorize and pilot/pkg/xds/sds.go filterAuthorizedResources,
    istio/istio 1.22.0).  "granted" when a binding in the repo grants it; "denied" when the repo binds
    roles to that ServiceAccount and none grants it; "unknown" when the repo declares no RBAC for it
    (it may live elsewhere).
    """
    roles = {(r.kind, r.namespace if r.kind == "Role" else "", r.name): r for r in view.of_kind("Role", "ClusterRole")}
    declared = False
    for b in view.of_kind("RoleBinding", "ClusterRoleBinding"):
        if b.kind == "RoleBinding" and b.namespace != namespace or not _binds(b, namespace, sa):
            continue
        declared = True
        ref = b.data.get("roleRef") or {}
        role = roles.get((ref.get("kind"), namespace if ref.get("kind") == "Role" else "", ref.get("name")))
        if role and any(isinstance(r, dict) and _grants_list_secrets(r) for r in role.data.get("rules") or []):
            return "granted"
    return "denied" if declared else "unknown"


def denied_log(namespace: str, sa: str, names: list[str]) -> str:
    """What istiod logs when it drops the resources (secrets.go Authorize + sds.go at 1.22.0)."""
    return (f"istiod: proxy attempted to access unauthorized certificates {names}: "
            f"{sa}/{namespace} is not authorized to read secrets")


def _credential_names(proxy: Proxy, block: TlsBlock, cred: str, mode: str, view: MeshView, origin: str) -> list[SdsName]:
    dr = block.dr
    has_selector = isinstance((dr.data.get("spec") or {}).get("workloadSelector"), dict)
    if cred.startswith("builtin://"):
        server = "spire-agent" if proxy.spire else "istio-agent"
        return [SdsName(proxy.resource, n, server, True, origin, dr.path, block.line, kind="identity", block=block) for n in ("default", "ROOTCA")]
    if cred.startswith("configmap://"):
        return [SdsName(proxy.resource, cred, "istiod", True, origin, dr.path, block.line, kind="credential", block=block)]
    if proxy.kind == "sidecar" and not has_selector:
        return []  # istiod builds no TLS context at all (MM104): nothing is requested, traffic is plaintext
    names = [f"kubernetes://{cred}-cacert"] if mode == "SIMPLE" else [f"kubernetes://{cred}", f"kubernetes://{cred}-cacert"]
    access = secret_access(view, proxy.namespace, proxy.service_account) if proxy.kind == "sidecar" else "granted"
    ok = access != "denied"
    if access == "unknown":
        origin += f"; RBAC for ServiceAccount {proxy.namespace}/{proxy.service_account} is not in the repo (istiod needs list on secrets)"
    return [SdsName(proxy.resource, n, "istiod", ok, origin, dr.path, block.line,
                    None if ok else denied_log(proxy.namespace, proxy.service_account, [n.removeprefix("kubernetes://")]),
                    kind="credential", block=block, unknown=access == "unknown") for n in names]


def gateway_names(proxy: Proxy, gw: Resource, view: MeshView) -> list[SdsName]:
    """Server-side TLS of a Gateway bound to this proxy (file paths → file-cert:/file-root:)."""
    out: list[SdsName] = []
    spec = gw.data.get("spec") if isinstance(gw.data.get("spec"), dict) else {}
    server_name, ok = file_server(proxy, view)
    for i, srv in enumerate(spec.get("servers") or []):
        tls = srv.get("tls") if isinstance(srv, dict) else None
        if not isinstance(tls, dict):
            continue
        # the TLSmode enum's zero value is PASSTHROUGH (istio/api networking/v1alpha3/gateway.proto;
        # istio/istio 1.22.0 pkg/config/gateway/gateway.go IsPassThroughServer): no mode, no certificate
        mode = str(tls.get("mode") or "PASSTHROUGH").upper()
        if mode in ("PASSTHROUGH", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL"):
            continue
        origin = f"{gw.ref} servers[{i}].tls"
        line = gw.line(("spec", "servers", i, "tls"))
        cred = tls.get("credentialName")
        if cred:
            names = [f"kubernetes://{cred}"] + ([f"kubernetes://{cred}-cacert"] if mode in ("MUTUAL", "OPTIONAL_MUTUAL") else [])
            out.extend(SdsName(proxy.resource, n, "istiod", True, origin, gw.path, line, kind="credential", gateway_server=(gw, i)) for n in names)
            continue
        if tls.get("serverCertificate") and tls.get("privateKey"):
            n = f"file-cert:{tls['serverCertificate']}~{tls['privateKey']}"
            out.append(SdsName(proxy.resource, n, server_name, ok, origin, gw.path, line, None if ok else refusal_log(n), "file-cert", gateway_server=(gw, i)))
        if tls.get("caCertificates") and mode in ("MUTUAL", "OPTIONAL_MUTUAL"):
            n = f"file-root:{tls['caCertificates']}"
            out.append(SdsName(proxy.resource, n, server_name, ok, origin, gw.path, line, None if ok else refusal_log(n), "file-root", gateway_server=(gw, i)))
    return out


def gateway_selects(gw: Resource, proxy: Proxy) -> bool:
    """A Gateway binds to the gateway pods whose labels contain its selector."""
    spec = gw.data.get("spec") if isinstance(gw.data.get("spec"), dict) else {}
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not selector:
        return False
    return proxy.kind == "gateway" and all(proxy.labels.get(str(k)) == str(v) for k, v in selector.items())


def identity_names(proxy: Proxy, view: MeshView) -> list[SdsName]:
    """`default` and `ROOTCA`; under SPIRE only served if the agent's sds names are Istio's.

    SPIRE's defaults are `default`/`ROOTCA`/`ALL` (spiffe/spire doc/spire_agent.md); the federation
    setup on istio.io moves ROOTCA to default_all_bundles_name.  An agent.conf in the repo that names
    them otherwise breaks mTLS itself — checked here so the table shows it.
    """
    if not proxy.spire:
        return [SdsName(proxy.resource, n, "istio-agent", True, "workload identity (mTLS)") for n in ("default", "ROOTCA")]
    confs = [c for c in view.inventory.spire_agent_configs if view.has(c.path)]
    rows = []
    for name, keys in (("default", ("default_svid_name",)), ("ROOTCA", ("default_bundle_name", "default_all_bundles_name"))):
        defaults = {"default_svid_name": "default", "default_bundle_name": "ROOTCA", "default_all_bundles_name": "ALL"}
        bad = [c for c in confs if not any(c.sds_name(k, defaults[k]) == name for k in keys)]
        origin = "workload identity (mTLS)"
        if bad:
            c = bad[0]
            rows.append(SdsName(proxy.resource, name, "spire-agent", False, origin + f"; SPIRE agent sds block ({c.path}:{c.line}) does not serve it",
                                c.path, c.line, refusal_log(name)))
        else:
            rows.append(SdsName(proxy.resource, name, "spire-agent", True, origin))
    return rows


def proxy_table(proxy: Proxy, view: MeshView) -> list[SdsName]:
    """Every SDS name one proxy requests in this view."""
    rows = identity_names(proxy, view)
    for dr in view.of_kind("DestinationRule"):
        if dr_applies(dr, proxy):
            for block in tls_blocks(dr):
                rows.extend(names_for_block(proxy, block, view))
    if proxy.kind == "gateway":
        for gw in view.of_kind("Gateway"):
            if gw.api_version.startswith("networking.istio.io") and gateway_selects(gw, proxy):
                rows.extend(gateway_names(proxy, gw, view))
    return _dedupe(rows)


def _dedupe(rows: list[SdsName]) -> list[SdsName]:
    seen, out = set(), []
    for r in rows:
        key = (r.name, r.server, r.origin)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def sds_tables(view: MeshView) -> list[tuple[Proxy, list[SdsName]]]:
    """Every proxy of the view with its SDS names; same-named proxies from different files stay distinct."""
    return [(p, proxy_table(p, view)) for p in view.proxies]


#: how many affected proxies a finding names; the count is always complete (issue 12: listing every
#: proxy in every finding grew quadratically with the repository)
LISTED_PROXIES = 10


@dataclass
class BlockHits:
    """The SPIRE proxies one TLS block breaks: a count, the first few names and what they request."""

    count: int = 0
    proxies: list[str] = field(default_factory=list)  # the first LISTED_PROXIES, sorted
    names: list[str] = field(default_factory=list)  # the failing SDS names, sorted
    log: str = ""
    low: list[str] = field(default_factory=list)  # spire reasons of low-confidence proxies (first few)


def described(proxies: list[str], count: int) -> str:
    """The first proxies by name, then how many more: how a finding names the proxies a block breaks."""
    more = count - len(proxies)
    return ", ".join(proxies) + (f" and {more} more" if more > 0 else "")


def failing_blocks(view: MeshView, wanted) -> Iterator[tuple[TlsBlock, BlockHits]]:
    """DestinationRule TLS blocks whose SDS names (those `wanted` selects) a SPIRE proxy cannot get.

    The names a block makes a proxy request depend on the proxy's kind and SPIRE backing (and the
    view's version), not on the proxy itself: one representative per visible group decides for all.
    """
    import heapq
    from itertools import islice

    lows: dict[int, tuple[list, list[str]]] = {}
    for dr in view.of_kind("DestinationRule"):
        chunks = [(kind, chunk) for kind, chunk in view.visible_chunks(dr, spire_only=True) if chunk]
        if not chunks:
            continue
        for block in tls_blocks(dr):
            hits, failing = BlockHits(), []
            for kind, chunk in chunks:
                bad = [n for n in names_for_block(chunk[0], block, view) if wanted(n) and not n.ok]
                if not bad:
                    continue
                failing.append(chunk)
                hits.count += len(chunk)
                hits.names = sorted(set(hits.names) | {n.name for n in bad})
                hits.log = hits.log or bad[0].log or ""
                if len(hits.low) < 3:
                    hits.low += _low_reasons(chunk, lows)[:3 - len(hits.low)]
            if failing:
                limit = None if view.all_proxies else LISTED_PROXIES
                hits.proxies = [p.resource for p in islice(heapq.merge(*failing, key=lambda p: p.resource), limit)]
                yield block, hits


def _low_reasons(chunk: list[Proxy], memo: dict[int, tuple[list, list[str]]]) -> list[str]:
    """The SPIRE reasons of a group's first three low-confidence proxies.  A large group is walked once
    per rule and view, not once per DestinationRule that sees it (every DestinationRule without
    exportTo sees the same groups: walking them each time was rules × proxies); `memo` keeps the group
    it answered for, so an id is not reused while it is there."""
    if len(chunk) <= 32:
        return [p.spire_reason for p in chunk if p.confidence == "low"][:3]
    hit = memo.get(id(chunk))
    if hit is None or hit[0] is not chunk:
        hit = memo[id(chunk)] = (chunk, [p.spire_reason for p in chunk if p.confidence == "low"][:3])
    return hit[1]
