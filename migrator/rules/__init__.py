"""Rule registry: metadata from catalog.yaml, checks from one module per rule.

Like django-upgrade's fixers, each rule is a small module gated by the Istio versions it applies to.
The registry runs every enabled rule over every environment view and merges identical findings
that several environments share.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

from migrator import datacopy
from migrator.isolate import iterate_isolated, rule_problem
from migrator.model import Finding

RULE_MODULES = (
    "mm101_file_root_system", "mm102_dr_file_paths", "mm103_gateway_file_paths", "mm104_credential_no_selector",
    "mm105_gateway_spire_template", "mm106_native_sidecar_template", "mm107_credential_rbac", "mm110_private_upstream",
    "mm120_verify_flag", "mm121_insecure_skip_verify", "mm130_v1_api", "mm131_legacy_registry", "mm140_spire_skew",
    "mm141_spire_chart_tag",
)


@dataclass(frozen=True)
class RuleMeta:
    """What a rule is, independent of how it checks."""

    id: str
    title: str
    severity: str
    istio: str  # packaging specifier of the Istio versions where it can fire ("" = any)
    explanation: str
    sources: tuple[str, ...]
    sds_names: tuple[str, ...]
    remedies: tuple[str, ...]

    @property
    def help_uri(self) -> str:
        """The rule's page in the repository (docs/rules/MMxxx.md); its sources are listed there."""
        from migrator.ruledocs import page_url

        return page_url(self.id)


@dataclass(frozen=True)
class Rule:
    meta: RuleMeta
    check: Callable  # (MeshView, RuleMeta) -> Iterable[Finding]


@lru_cache(maxsize=1)
def catalog() -> dict[str, RuleMeta]:
    raw = datacopy.load(Path(__file__).resolve().parent, "catalog.yaml")  # its JSON copy when current: ~4 ms less a run
    return {
        rid: RuleMeta(rid, e["title"], e["severity"], e.get("istio", ""), " ".join(e["explanation"].split()),
                      tuple(e["sources"]), tuple(e.get("sds_names") or ()), tuple(e.get("remedies") or ()))
        for rid, e in raw.items()
    }


@lru_cache(maxsize=1)
def all_rules() -> tuple[Rule, ...]:
    metas = catalog()
    rules = []
    for name in RULE_MODULES:
        module = importlib.import_module(f"migrator.rules.{name}")
        rules.append(Rule(metas[module.ID], module.check))
    return tuple(rules)


def select(enabled: Iterable[str] = (), disabled: Iterable[str] = ()) -> list[Rule]:
    enabled_set = {e.upper() for e in enabled}
    disabled_set = {d.upper() for d in disabled}
    return [r for r in all_rules() if (not enabled_set or r.meta.id in enabled_set) and r.meta.id not in disabled_set]


def run(views, rules: list[Rule], severity_overrides: dict[str, str] | None = None,
        problems: list | None = None) -> list[Finding]:
    """Run rules over every view; findings identical across environments are merged (env joined).

    With a `problems` list, a rule that raises on one view is reported there as an internal
    problem naming the resource it was reading (isolate.py), and every other rule and view still
    runs; without one the exception propagates, as callers that cannot report it expect.
    """
    merged: dict[tuple, Finding] = {}
    envs: dict[tuple, list[str]] = {}
    for view in views:
        for rule in rules:
            found = rule.check(view, rule.meta)
            if problems is not None:
                found = iterate_isolated(found, lambda exc, r=rule, v=view: problems.append(rule_problem(r.meta.id, v.env, exc)))
            for f in found:
                if severity_overrides and f.rule in severity_overrides:
                    f.severity = severity_overrides[f.rule]
                key = f.key
                if key not in merged:
                    merged[key] = f
                if view.env:  # a list only where there is an environment to name (findings grow with the repo)
                    envs.setdefault(key, []).append(view.env)
    out = []
    topo = next((v.topology for v in views if v.topology is not None), None)
    unsure = topo is not None and bool(topo.ambiguous)  # else no finding is marked, and no proxy's path is needed
    proxy_paths = {p.resource: p.path for v in views for p in v.proxies} if unsure else {}
    for key, f in merged.items():
        f.env = ",".join(sorted(set(envs.get(key, ())))) or None
        if unsure:
            _mark_ambiguous(f, topo, proxy_paths)
        out.append(f)
    out.sort(key=lambda f: (f.path, f.line, f.rule, f.resource))
    return out


def _mark_ambiguous(f: Finding, topo, proxy_paths: dict[str, str]) -> None:
    """A finding whose file (or whose proxies' files) could belong to several environments is a guess: say so."""
    paths = [f.path] + [proxy_paths[p] for p in f.proxies if p in proxy_paths]
    unsure = [p for p in paths if p in topo.ambiguous]
    if not unsure:
        return
    f.candidates = sorted({c for p in unsure for c in topo.candidates(p)})
    f.confidence = "low"
    f.assumptions = [*f.assumptions, f"{unsure[0]} is not deployed by anything the repo wires up; {topo.how.get(unsure[0], '')}: "
                                     f"evaluated at each of {', '.join(f.candidates)}"]  # a new list: an empty one is a shared ()
