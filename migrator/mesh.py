"""Per-environment views of the inventory: which Istio/SPIRE version applies, with what assumptions.

A repository often holds several environments (``clusters/prod``, ``overlays/staging``) pinned to
different releases.  Files outside any environment folder are shared by all of them.  Rules are
evaluated once per view, so a DestinationRule in ``base/`` can be broken in prod and fine in staging.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from packaging.version import Version

from migrator.inventory import Inventory, resolve_spire_templates
from migrator.model import FlagSetting, Pin, Proxy, Resource, ScanOptions

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
        """The setting that turns VERIFY_CERTIFICATE_AT_CLIENT off, where the version still honours it."""
        if self.istio is not None and self.istio >= Version("1.24"):
            return None
        for f in self.flags:
            if f.name == "VERIFY_CERTIFICATE_AT_CLIENT" and f.value.strip().lower() == "false" and not f.in_top_level_values_env:
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
        return [p for p in self.proxies if dr_applies(dr, p)]


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


def build_views(inv: Inventory, options: ScanOptions) -> list[MeshView]:
    """One view per environment found in the repository, each with its resolved versions."""
    resolve_spire_templates(inv)
    envs = sorted({x.env for x in _everything(inv) if x.env is not None})
    if not envs:
        return [_view(inv, None, options)]
    return [_view(inv, e, options) for e in envs]


def _everything(inv: Inventory) -> Iterable:
    yield from inv.pins
    yield from inv.flags
    yield from inv.proxies
    yield from inv.resources


def _in_env(item_env: str | None, env: str | None) -> bool:
    return item_env is None or item_env == env


def _view(inv: Inventory, env: str | None, options: ScanOptions) -> MeshView:
    pins = [p for p in inv.pins if _in_env(p.env, env)]
    assumptions: list[str] = []
    istio, assumed = _resolve(pins, "istio", options.istio_version, assumptions, env)
    spire, _ = _resolve(pins, "spire", options.spire_version, assumptions, env, quiet=True)
    return MeshView(
        env=env, istio=istio, istio_assumed=assumed, spire=spire, target=options.target, pins=pins,
        flags=[f for f in inv.flags if _in_env(f.env, env)],
        proxies=[p for p in inv.proxies if _in_env(p.env, env)],
        resources=[r for r in inv.resources if _in_env(r.env, env)],
        inventory=inv, assumptions=assumptions,
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
