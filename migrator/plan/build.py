"""Builds the plan: start version, control plane, target, the hops between them and each hop's edits.

This is the planner's one entry point (`build_plan`); it orders the work the other modules of the
package do and adds the notes that concern the whole plan.
"""

from __future__ import annotations

from pathlib import Path

from packaging.version import Version

from migrator.model import Finding, Pin
from migrator.plan.checklist import checklist
from migrator.plan.evaluate import Evaluator, compare, _resolve_target, _resolved_by_edits
from migrator.plan.materialise import _materialise, _repo_prefix
from migrator.plan.model import PinEdit, Plan, Step
from migrator.plan.pins import (_advance, _edit_order, _lowest, merge_image_moves, _pin_edit, registry_edits,
                                registry_sites, revision_pins)
from migrator.plan.releases import (STRATEGIES, PlanError, istio_path, _kb, _policies, resolve_spire_version,
                                    spire_path, _user_version, version_text)
from migrator.versions import replace_version_in_tag


def build_plan(result, to: str, *, strategy: str = "in-place", from_: str | None = None, spire_to: str | None = None,
               env: str | None = None) -> Plan:
    """The plan for one control plane of a scanned repository (`result` from migrator.scan.scan)."""
    if strategy not in STRATEGIES:
        raise PlanError(f"--strategy {strategy!r}: choose from {', '.join(STRATEGIES)}")
    root = Path(result.root)
    notes: list[str] = []
    plane = choose_control_plane(result, env, notes)
    mine = _plane_filter(result, plane)
    istio_pins = [p for p in result.inventory.pins if p.product == "istio" and mine(p.path)]
    rev_extra = [p for p in revision_pins(root, result) if mine(p.path)]
    all_istio = istio_pins + rev_extra
    spire_pins = [p for p in result.inventory.pins if p.product == "spire" and mine(p.path)]
    registries = [r for r in registry_sites(root, result) if mine(r.path)]

    start = _start_version(all_istio, from_, result, notes, plane)
    _check_known_start(start)
    spire_start = result.options.spire_version or _lowest(spire_pins)
    ev = Evaluator(result, plane)
    current = ev.at(start, spire_start) if start else []

    target, tnotes = _resolve_target(to, start, ev, spire_start)
    notes += tnotes
    if target is not None and start is not None and target < start:
        raise PlanError(f"--to {to}: Istio {version_text(target)} is older than the repo's {version_text(start)}; "
                        "the planner only plans upgrades")

    steps: list[Step] = []
    hops = istio_path(start, target, strategy) if (start and target) else []
    prev = start
    now: dict[tuple, str] = {}  # pin -> its text after the steps so far
    for v in hops:
        step = Step(len(steps) + 1, "istio", prev, v, strategy)
        for pin in all_istio:
            if Version(pin.version) >= v:
                continue
            edit, why = _pin_edit(pin, v, strategy)
            if edit:
                _advance(edit, now)
                step.edits.append(edit)
            elif why and not steps:
                step.kept.append((pin, why))
        step.edits.extend(registry_edits(registries, prev, v))
        step.edits = merge_image_moves(step.edits, now)
        step.edits.sort(key=_edit_order)
        before, after = ev.at(prev, spire_start), ev.at(v, spire_start)
        step.findings = _resolved_by_edits(compare(before, after), step.edits)
        step.changes = _relevant_changes(_kb().istio_changes_between(version_text(prev), version_text(v)), result, before + after)
        steps.append(step)
        prev = v

    spire_target = None
    if spire_to:
        if spire_start is None:
            raise PlanError("--spire-to: the repo pins no SPIRE version (spire chart or spire-server/agent image)")
        uses_chart = any(p.component == "chart" for p in spire_pins)
        spire_target, snotes = resolve_spire_version(spire_to, uses_chart)
        notes += snotes
        sprev = spire_start
        for app, chart in spire_path(spire_start, spire_target, uses_chart):
            step = Step(len(steps) + 1, "spire", sprev, app, strategy)
            for pin in spire_pins:
                edit = None
                if pin.component == "chart" and chart is not None:
                    if Version(pin.raw.lstrip("v")) < chart:
                        edit = PinEdit(pin, pin.raw, replace_version_in_tag(pin.raw, version_text(chart)), "spire-chart", "scalar")
                elif Version(pin.version) < app:
                    edit, _ = _pin_edit(pin, app, strategy)
                if edit:
                    _advance(edit, now)
                    step.edits.append(edit)
            final_istio = target or start
            before, after = ev.at(final_istio, sprev), ev.at(final_istio, app)
            step.findings = compare(before, after)
            steps.append(step)
            sprev = app

    _materialise(root, steps, result)
    policy = _policies(strategy, spire_to is not None)
    for step in steps:
        step.checklist = checklist(step, result, policy, all_istio)
    _general_notes(notes, result, all_istio, strategy)
    return Plan(root, _repo_prefix(root), to, strategy, start, target or start, spire_start,
                spire_target, steps, notes, policy, current, all_istio + spire_pins)


def choose_control_plane(result, env: str | None, notes: list[str]):
    """The control plane a plan upgrades: --env NAME, the only one, or the oldest (with a note naming the rest).

    A plan bumps the pins of one control plane together; another cluster's istiod (or a canary
    revision) is its own plan, so a fleet never has all its clusters moved by one step.
    """
    topo = getattr(result, "topology", None)
    if topo is None:
        return None
    planes = [cp for cp in topo.control_planes if cp.installs or cp.version is not None]
    if env is not None:
        chosen = [cp for cp in topo.control_planes if env in (cp.name, cp.env or "default")]
        if not chosen:
            names = ", ".join(cp.name for cp in planes) or "none"
            raise PlanError(f"--env {env!r}: no such control plane (the repo has: {names})")
        return chosen[0]
    if len(planes) <= 1:
        return planes[0] if planes else None
    known = [cp for cp in planes if cp.version is not None]
    chosen = min(known, key=lambda cp: cp.version) if known else planes[0]
    others = ", ".join(f"{cp.name} ({cp.version or 'version unknown'})" for cp in planes if cp is not chosen)
    notes.append(f"the repo has {len(planes)} control planes; this plan upgrades {chosen.name} ({chosen.version or 'version unknown'}), "
                 f"the oldest; plan the others with --env NAME: {others}")
    return chosen


def _plane_filter(result, plane):
    """Is a file's pin one this control plane's upgrade moves?  Its environment's, not another revision's install."""
    topo = getattr(result, "topology", None)
    if topo is None or plane is None:
        return lambda path: True
    others = {i.path for cp in topo.planes_of(plane.env) if cp is not plane for i in cp.installs} - plane.paths
    return lambda path: topo.belongs(path, plane.env) and path not in topo.ambiguous and path not in others


def _check_known_start(start: Version | None) -> None:
    """A start below the knowledge base's first release: say how to get there, instead of failing mid-path."""
    if start is None:
        return
    minors = _kb().istio_minors()
    first = Version(minors[0])
    if Version(f"{start.major}.{start.minor}") >= first:
        return
    manual = [f"{start.major}.{m}" for m in range(start.minor + 1, first.minor + 1)]
    links = ", ".join(f"https://istio.io/latest/news/releases/{m}.x/announcing-{m}/upgrade-notes/" for m in manual)
    raise PlanError(f"Istio {version_text(start)} is older than the oldest release the knowledge base covers ({minors[0]}), so "
                    f"its behaviour changes cannot be checked here. Upgrade one minor at a time to {' then '.join(manual)} following "
                    f"the upgrade notes ({links}), then run `mesh-migrator plan --from {minors[0]}` (or re-scan) for the rest of the path")


def _start_version(pins: list[Pin], from_: str | None, result, notes: list[str], plane=None) -> Version | None:
    if from_:
        v = _user_version(from_, "--from")
        notes.append(f"starting version {version_text(v)} given with --from")
        return v
    if result.options.istio_version:
        v = result.options.istio_version
        notes.append(f"starting version {version_text(v)} given with --istio-version")
        return v
    if plane is not None and plane.version is not None:
        return plane.version  # the control plane's own pins (topology.py), not the lowest pin of the repo
    named = [p for p in pins if p.component != "revision"]
    use = named or pins
    if not use:
        raise PlanError("the repo pins no Istio version (no chart version, image tag, IstioOperator tag or revision "
                        "label found); pass --from VERSION")
    versions = sorted({Version(p.version) for p in use})
    if len(versions) > 1:
        listed = ", ".join(f"{version_text(Version(p.version))} ({p.path}:{p.line})" for p in sorted(use, key=lambda p: Version(p.version)))
        notes.append(f"Istio pins disagree: {listed}; the plan starts from the lowest, {version_text(versions[0])}, "
                     "and every step brings all lower pins up to the step's version")
    return versions[0]


def _relevant_changes(changes: list[dict], result, findings: list[Finding]) -> list[tuple[dict, str, str]]:
    """(change, relevance, why): "repo" when this repo is affected, "kinds" when it has such resources."""
    inv = result.inventory
    rules_hit = {f.rule for f in findings}
    flags = {}
    for f in inv.flags:
        flags.setdefault(f.name, f)
    kinds = {f"{r.api_version.split('/')[0]}/{r.kind}" for r in inv.resources if "/" in r.api_version}
    out = []
    for c in changes:
        why = []
        names = c.get("flag") or []
        names = [names] if isinstance(names, str) else list(names)
        for n in names:
            if n in flags:
                why.append(f"the repo sets {n} ({flags[n].path}:{flags[n].line})")
        hit = sorted(rules_hit & set(c.get("related_rules") or []))
        if hit:
            why.append("findings " + ", ".join(hit) + " in this repo")
        if why:
            out.append((c, "repo", "; ".join(why)))
            continue
        rk = set((c.get("detect") or {}).get("resource_kinds") or [])
        if rk & kinds:
            out.append((c, "kinds", "the repo has " + ", ".join(sorted(k.split("/")[-1] for k in rk & kinds))))
        else:
            out.append((c, "other", ""))
    return out


def _general_notes(notes: list[str], result, pins: list[Pin], strategy: str) -> None:
    envs = sorted({p.env for p in pins if p.env})
    if len(envs) > 1:
        notes.append(f"the repo has environments {', '.join(envs)}: every step bumps the pins of all of them; "
                     "roll each step out environment by environment (least critical first)")
    revs = sorted({p.raw for p in pins if p.component == "revision"})
    if revs and strategy == "in-place":
        notes.append(f"the repo uses revision name(s) {', '.join(revs)}: an in-place upgrade keeps them, so they stop "
                     "spelling the version; `--strategy canary` moves to revisions named after each step's version")
    if strategy == "canary" and not revs:
        notes.append("the repo selects istiod without revisions (istio-injection=enabled / default revision): a canary "
                     "upgrade first needs a revision for the new control plane; the pin edits below do not create it")
