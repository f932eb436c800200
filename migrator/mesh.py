"""Per-environment views of the inventory: which Istio/SPIRE version applies, with what assumptions.

A repository often holds several environments (``clusters/prod``, ``overlays/staging``) pinned to
different releases.  Files outside any environment folder are shared by all of them.  Rules are
evaluated once per view, so a DestinationRule in ``base/`` can be broken in prod and fine in staging.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from packaging.version import Version

from migrator.inventory import Inventory, resolve_spire_templates
from migrator.model import FlagSetting, Pin, Proxy, Resource, ScanOptions

if TYPE_CHECKING:
    from migrator.topology import ControlPlane, Topology

ISTIO_CONTROL_COMPONENTS = ("istiod", "base", "pilot", "chart")


@dataclass
class MeshView:
    """The mesh of one environment (or of the whole repo when it has none)."""

    env: str | None
    istio: Version | None
    istio_assumed: bool
    spire: Version | None
    target: Version | None
    pins: list[Pin]
    flags: list[FlagSetting]
    proxies: list[Proxy]
    resources: list[Resource]
    inventory: Inventory
    assumptions: list[str] = field(default_factory=list)
    control_plane: "ControlPlane | None" = None
    topology: "Topology | None" = None
    all_proxies: bool = False  # findings name every affected proxy (--all-proxies), not the first ten

    def has(self, path: str) -> bool:
        """Does this file belong to the view's environment?"""
        return self.topology is None or self.topology.belongs(path, self.control_plane.env if self.control_plane else None)

    # -- versions ------------------------------------------------------------------------------
    def istio_in(self, range_text: str, *, unknown: bool = True) -> bool:
        """Is the view's Istio version in range?  Unknown versions answer `unknown` (reduced confidence)."""
        from migrator.versions import in_range

        if self.istio is None:
            return unknown
        return in_range(self.istio, range_text)

    @property
    def confidence(self) -> str:
        return "low" if self.istio_assumed else "high"

    # -- flags ---------------------------------------------------------------------------------
    def flag(self, name: str) -> FlagSetting | None:
        for f in self.flags:
            if f.name == name:
                return f
        return None

    def verification_disabled_by(self) -> FlagSetting | None:
        """The setting that turns VERIFY_CERTIFICATE_AT_CLIENT off, where the version still honours it.

        Only settings istiod's Deployment renders count: `pilot.env` of the istiod chart on 1.21-1.23
        (top-level `env` is read from 1.24, where the flag is gone), IstioOperator values and
        components.pilot.k8s.env, and the istiod chart's or IstioOperator's compatibilityVersion.  A
        gateway release's settings never reach istiod (its chart renders no istiod env).
        """
        if self.istio is not None and self.istio >= Version("1.24"):
            return None
        for f in self.flags:
            if f.scope != "istiod":
                continue  # a gateway release, or top-level `env` that the 1.21-1.23 chart does not read
            if f.name == "VERIFY_CERTIFICATE_AT_CLIENT" and f.value.strip().lower() == "false":
                return f
            if f.name == "compatibilityVersion" and f.value.strip().strip('"') == "1.20":  # 1.2 (float) fails to render
                return f
        return None

    def verify_at_client(self) -> bool:
        """Does istiod fill an empty caCertificates with `system`?  (domain-report §2.1 verify_enabled)"""
        if self.istio is not None and self.istio < Version("1.21"):
            f = self.flag("VERIFY_CERTIFICATE_AT_CLIENT")
            return bool(f and f.value.strip().lower() == "true")
        return self.verification_disabled_by() is None

    # -- resources -----------------------------------------------------------------------------
    def of_kind(self, *kinds: str) -> list[Resource]:
        return [r for r in self.resources if r.kind in kinds]

    def proxies_for_dr(self, dr: Resource) -> list[Proxy]:
        """Every proxy that sees the DestinationRule, in the view's order."""
        seen = [p for _, chunk in self.visible_chunks(dr) for p in chunk]
        order = self._proxy_index().order
        return sorted(seen, key=lambda p: order[id(p)]) if len(seen) > 1 else seen

    def visible_chunks(self, dr: Resource, *, spire_only: bool = False) -> list[tuple[str, list[Proxy]]]:
        """The proxies that see a DestinationRule, as (kind, proxies) groups from the view's index.

        Visibility (exportTo, namespace, workloadSelector) is decided per group, not per proxy: a
        DestinationRule without exportTo is seen by every proxy, and walking (rule × proxy) pairs made
        scans quadratic on large repos (issue 12).  Groups are sorted by proxy resource name.
        """
        idx = self._proxy_index()
        groups = idx.spire if spire_only else idx.every
        spec = dr.data.get("spec") if isinstance(dr.data.get("spec"), dict) else {}
        export = spec.get("exportTo")
        names = {str(e) for e in export} if isinstance(export, list) and export else None
        selector = spec.get("workloadSelector")
        if isinstance(selector, dict):
            if names is not None and not ("*" in names or dr.namespace in names or "." in names):
                return []
            match = selector.get("matchLabels") if isinstance(selector.get("matchLabels"), dict) else {}
            return [(kind, [p for p in chunk if all(p.labels.get(str(k)) == str(v) for k, v in match.items())])
                    for kind, chunk in groups.by_ns.get(dr.namespace, {}).items()]
        if names is None or "*" in names:
            return list(groups.all.items())
        namespaces = {n for n in names if n not in (".", "~")} | ({dr.namespace} if "." in names else set())
        return [(kind, chunk) for ns in sorted(namespaces) for kind, chunk in groups.by_ns.get(ns, {}).items()]

    def _proxy_index(self) -> "_ProxyIndex":
        idx = self.__dict__.get("_idx")
        if idx is None:
            idx = self.__dict__["_idx"] = _ProxyIndex(self.proxies)
        return idx


@dataclass
class _Groups:
    all: dict[str, list[Proxy]]  # kind -> proxies, sorted by resource
    by_ns: dict[str, dict[str, list[Proxy]]]  # namespace -> kind -> proxies


class _ProxyIndex:
    """Proxies grouped once per view, so visibility is decided per group (linear, not rule × proxy).

    Each grouping is made on first use: the SPIRE rules ask only for the SPIRE proxies', and every
    grouping holds two references per proxy it groups for the rest of the scan (bench/RESULTS.md
    "Memory", fourth round).
    """

    def __init__(self, proxies: list[Proxy]):
        self.proxies = proxies

    @cached_property
    def every(self) -> _Groups:
        return _group(self.proxies)

    @cached_property
    def spire(self) -> _Groups:
        return _group([p for p in self.proxies if p.spire])

    @cached_property
    def order(self) -> dict[int, int]:
        """Position of each proxy in the view (id -> index); built on first use: only rules on
        credentialName DestinationRules ask, and it is ~80 bytes a proxy (bench/RESULTS.md "Memory")."""
        return {id(p): i for i, p in enumerate(self.proxies)}


def _group(items: list[Proxy]) -> _Groups:
    """Proxies by kind, and by namespace then kind, each group sorted by resource."""
    g = _Groups({}, {})
    for p in sorted(items, key=lambda p: p.resource):
        g.all.setdefault(p.kind, []).append(p)
        g.by_ns.setdefault(p.namespace, {}).setdefault(p.kind, []).append(p)
    return g


def dr_applies(dr: Resource, proxy: Proxy) -> bool:
    """DestinationRule visibility: exportTo, and a workloadSelector only within its own namespace."""
    spec = dr.data.get("spec") if isinstance(dr.data.get("spec"), dict) else {}
    export = spec.get("exportTo")
    if export:
        names = {str(e) for e in export}
        visible = "*" in names or proxy.namespace in names or ("." in names and proxy.namespace == dr.namespace)
        if not visible:
            return False
    selector = spec.get("workloadSelector")
    if isinstance(selector, dict):
        if proxy.namespace != dr.namespace:
            return False
        match = selector.get("matchLabels") if isinstance(selector.get("matchLabels"), dict) else {}
        return all(proxy.labels.get(str(k)) == str(v) for k, v in match.items())
    return True


def build_views(inv: Inventory, options: ScanOptions, topo: "Topology | None" = None) -> list[MeshView]:
    """One view per control plane of every environment (topology.py), each with its resolved version."""
    from migrator.topology import build

    resolve_spire_templates(inv)
    topo = topo or build(inv, ())
    ns_revs = {ns: label.split("=", 1)[1] for ns, label in inv.injected_namespaces.items() if label.startswith("istio.io/rev=")}
    return [_view(inv, cp, topo, options, ns_revs) for cp in topo.control_planes]


def _view(inv: Inventory, cp: "ControlPlane", topo: "Topology", options: ScanOptions, ns_revs: dict[str, str]) -> MeshView:
    from migrator.topology import attach

    env = cp.env
    multi = len(topo.planes_of(env)) > 1
    label = (cp.name if multi else env) if (env is not None or multi) else None
    assumptions = list(cp.assumptions)
    pins = [p for p in inv.pins if topo.belongs(p.path, env)]
    if options.istio_version is not None:
        istio, assumed = options.istio_version, False
    else:
        istio, assumed = cp.version, cp.version is None
        if istio is None:
            where = f" in {label}" if label else ""
            assumptions.append(f"Istio version unknown{where}: no pin found; rules that depend on it report at low confidence (pass --istio-version)")
    spire, _ = _resolve(pins, "spire", options.spire_version, assumptions, label, quiet=True)
    install_paths = {i.path for plane in topo.control_planes for i in plane.installs}
    flags = [f for f in inv.flags if topo.belongs(f.path, env) and (f.path in cp.paths or f.path not in install_paths)]
    proxies = [p for p in inv.proxies if topo.belongs(p.path, env) and (not multi or attach(p.revision, env, topo, ns_revs.get(p.namespace, "")) is cp)]
    return MeshView(
        env=label, istio=istio, istio_assumed=assumed, spire=spire, target=options.target, pins=pins, flags=flags, proxies=proxies,
        resources=[r for r in inv.resources if topo.belongs(r.path, env)],
        inventory=inv, assumptions=assumptions, control_plane=cp, topology=topo, all_proxies=options.all_proxies,
    )


def _resolve(pins: list[Pin], product: str, override: Version | None, assumptions: list[str], env: str | None, quiet: bool = False) -> tuple[Version | None, bool]:
    """The version rules use: the override, else the lowest pin (every component must be fixed)."""
    where = f" in {env}" if env else ""
    if override is not None:
        return override, False
    mine = [p for p in pins if p.product == product]
    # revision labels (istio.io/rev: 1-22-3) name a control plane; they are not the installed version
    # when anything else pins it, and an in-place upgrade legitimately leaves them behind
    real = [p for p in mine if p.component != "revision"]
    mine = real or mine
    if not mine:
        if not quiet:
            assumptions.append(f"{product.capitalize()} version unknown{where}: no pin found; rules that depend on it report at low confidence (pass --{product}-version)")
        return None, True
    versions = sorted({Version(p.version) for p in mine})
    if len(versions) > 1:
        listed = ", ".join(f"{p.version} ({p.path}:{p.line})" for p in sorted(mine, key=lambda p: Version(p.version)))
        assumptions.append(f"{product.capitalize()} pins disagree{where}: {listed}; rules use the lowest, {versions[0]}")
    return versions[0], False
