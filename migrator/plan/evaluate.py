"""What changes for this repository at a version: the rules re-run "as if" at that version.

`--to fixed` and the per-step findings both need the same question answered (which findings appear,
disappear or change severity), so the re-run, the comparison and the search for the lowest fixed
version live together here.
"""

from __future__ import annotations

from dataclasses import replace

from packaging.version import Version

from migrator.model import Finding
from migrator.plan.model import FindingChange, PinEdit
from migrator.plan.releases import (PlanError, _announced_note, istio_hop_version, _kb, latest_istio_release, _minor,
                                    release_minors, resolve_istio_version, version_text)


class Evaluator:
    """Re-runs the rules over the scanned inventory "as if" at another Istio/SPIRE version."""

    def __init__(self, result, plane=None):
        self.result = result
        self.plane = plane  # the control plane being planned: only its environment's findings count
        self._cache: dict[tuple, list[Finding]] = {}

    def at(self, istio: Version | None, spire: Version | None = None, drop: frozenset = frozenset()) -> list[Finding]:
        """Findings at (istio, spire); `drop` = (path, line, name) of flag settings to leave out, to see
        what a setting hides today (see hidden_findings)."""
        key = (istio, spire, drop)
        if key not in self._cache:
            from migrator import rules as rules_mod
            from migrator.mesh import build_views
            from migrator.scan import apply_suppressions

            opts = self.result.options
            options = replace(opts, istio_version=istio or opts.istio_version, target=istio or opts.target,
                              spire_version=spire or opts.spire_version)
            inv = self.result.inventory
            if drop:
                inv = replace(inv, flags=[f for f in inv.flags if (f.path, f.line, f.name) not in drop])
            views = build_views(inv, options, getattr(self.result, "topology", None))
            if self.plane is not None:
                views = [v for v in views if v.control_plane is self.plane]
            found = rules_mod.run(views, rules_mod.select(options.rules_enabled, options.rules_disabled), options.severity_overrides)
            apply_suppressions(found, self.result.inventory)
            self._cache[key] = [f for f in found if not f.suppressed]
        return self._cache[key]


def compare(before: list[Finding], after: list[Finding]) -> list[FindingChange]:
    old = {f.key: f for f in before}
    new = {f.key: f for f in after}
    out = []
    for k, f in new.items():
        if k not in old:
            out.append(FindingChange("appears", f))
        elif old[k].severity != f.severity:
            out.append(FindingChange("severity", f, old[k].severity))
        else:
            out.append(FindingChange("remains", f))
    out += [FindingChange("disappears", f) for k, f in old.items() if k not in new]
    order = {"appears": 0, "severity": 1, "disappears": 2, "resolved": 3, "remains": 4}
    out.sort(key=lambda c: (order[c.status], c.finding.path, c.finding.line, c.finding.rule))
    return out


def _resolved_by_edits(changes: list[FindingChange], edits: list[PinEdit]) -> list[FindingChange]:
    """A finding on a line this step rewrites (MM131 on a repoURL the step moves) is resolved by the step."""
    edited = {(e.pin.path, e.pin.line) for e in edits}
    for c in changes:
        if c.status != "disappears" and (c.finding.path, c.finding.line) in edited:
            c.status = "resolved"
    return changes


def hidden_findings(ev: Evaluator, start: Version, spire: Version | None) -> tuple[dict, list, str | None]:
    """Findings a setting hides at `start` although a later minor removes that setting.

    VERIFY_CERTIFICATE_AT_CLIENT=false (or compatibilityVersion "1.20") hides MM101 on 1.21-1.23; both
    stop working at 1.24 (istio.yaml verify-certificate-at-client-default keep_old removed_in), so MM101
    comes back there until the 1.26 fix.  Returns ({key: finding}, the settings, the removal minor)."""
    from migrator.mesh import build_views

    opts = replace(ev.result.options, istio_version=start, target=start, spire_version=spire or ev.result.options.spire_version)
    views = build_views(ev.result.inventory, opts, getattr(ev.result, "topology", None))
    settings = {f for v in views if (ev.plane is None or v.control_plane is ev.plane) and (f := v.verification_disabled_by()) is not None}
    if not settings:
        return {}, [], None
    change = next(c for c in _kb().istio()["changes"] if c["id"] == "verify-certificate-at-client-default")
    removed_in = min((k["removed_in"] for k in change["keep_old"] if k.get("removed_in")), key=Version)
    drop = frozenset((f.path, f.line, f.name) for f in settings)
    current = {f.key for f in ev.at(start, spire)}
    hidden = {f.key: f for f in ev.at(start, spire, drop) if f.key not in current}
    return hidden, sorted(settings, key=lambda f: (f.path, f.line)), removed_in


def fixed_target(ev: Evaluator, start: Version, spire: Version | None) -> tuple[Version | None, list[str]]:
    """Lowest known version where every current finding that some upgrade clears is gone, counting the
    findings a setting hides today but a later version stops honouring (hidden_findings)."""
    current = {f.key: f for f in ev.at(start, spire)}
    hidden, settings, removed_in = hidden_findings(ev, start, spire)
    goal = {**current, **hidden}
    if not goal:
        return None, [f"`--to fixed`: nothing to fix, the repo has no findings at Istio {version_text(start)}"]
    candidates = [istio_hop_version(m) for m in release_minors() if Version(m) > Version(_minor(start))]
    remaining = {}
    for v in candidates:
        rem = {f.key for f in ev.at(v, spire)} & set(goal)
        if removed_in and Version(_minor(v)) < Version(removed_in):
            rem |= set(hidden)  # the setting still works there: the findings are only hidden
        remaining[v] = rem
    fixable = {k for k in goal if any(k not in rem for rem in remaining.values())}
    stubborn = [goal[k] for k in goal if k not in fixable]
    notes = []
    if stubborn:
        notes.append("no Istio version clears " + ", ".join(sorted({f"{f.rule} ({f.path}:{f.line})" for f in stubborn}))
                     + "; they need a configuration change (`mesh-migrator fix`)")
    if not fixable:
        return None, notes + [f"`--to fixed`: no known Istio version up to {version_text(latest_istio_release())} clears the current findings"]
    for v in candidates:
        if not (remaining[v] & fixable):
            cleared = sorted({goal[k].rule for k in fixable})
            what = "current findings" + (" and those a setting hides until it is removed" if hidden else "")
            notes.insert(0, f"`--to fixed` = Istio {version_text(v)}: the lowest known version where "
                         f"the {what} ({', '.join(cleared)}) no longer apply (rules re-run at every candidate version)")
            notes[1:1] = _hidden_notes(hidden, settings, removed_in, candidates, remaining, start)
            return v, notes
    return None, notes  # pragma: no cover - fixable implies some candidate clears them


def _hidden_notes(hidden: dict, settings: list, removed_in: str | None, candidates: list[Version],
                  remaining: dict, start: Version) -> list[str]:
    """One note per hidden finding: which setting hides it, the step where it returns, the step that clears it."""
    out = []
    set_text = ", ".join(f"{f.name}={f.value} ({f.path}:{f.line})" for f in settings)
    for key, f in sorted(hidden.items(), key=lambda kv: (kv[1].rule, kv[1].path, kv[1].line)):
        back = next((v for v in candidates if Version(_minor(v)) >= Version(removed_in) and key in remaining[v]), None)
        clear = next((v for v in candidates if back and v > back and key not in remaining[v]), None)
        if back is None:
            continue
        out.append(f"{f.rule} ({f.path}:{f.line}) is hidden at Istio {version_text(start)} by {set_text}; that setting stops "
                   f"working at {removed_in}, so {f.rule} returns at the step to Istio {_minor(back)}"
                   + (f" and is cleared by the step to Istio {_minor(clear)}" if clear else " and no known version clears it"))
    return out


def _resolve_target(to: str, start: Version | None, ev: Evaluator, spire: Version | None) -> tuple[Version | None, list[str]]:
    spec = (to or "").strip()
    if not spec:
        raise PlanError("--to is required: a version (e.g. 1.26), `latest` or `fixed`")
    if spec == "latest":
        v = latest_istio_release()
        return v, [f"`--to latest` = Istio {version_text(v)}, the newest stable release in the knowledge base"] + _announced_note(v)
    if spec == "fixed":
        if start is None:
            raise PlanError("--to fixed needs the repo's Istio version; pass --from VERSION")
        return fixed_target(ev, start, spire)
    v, notes = resolve_istio_version(spec)
    return v, notes
