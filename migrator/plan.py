"""`mesh-migrator plan`: a step-by-step, reviewable Istio (and SPIRE) upgrade for one repository.

The planner answers four questions from data, never from code constants:

1. *Which versions to pass through.*  The upgrade policy in ``migrator/knowledge/istio.yaml``
   (in-place: one minor per step; canary/revision: up to two; never more than two by any method) and
   in ``spire.yaml`` (one minor per step, servers before agents).  Each hop lands on the newest known
   patch of its minor.  ``--to fixed`` is the lowest version at which the repository's current
   findings no longer apply, found by re-running the rules "as if" at every candidate version.
2. *Which lines to change.*  Every pin the inventory found (chart versions, image tags incl.
   ``-distroless``, kustomize ``newTag``, Helm ``global.tag``, also inside Argo CD ``helm.values``
   strings) and, for canary, the revision names (``istio.io/rev: 1-22-3`` and the ``revision`` value
   that installs it).  The edits go through the edit engine and the same verification gate as `fix`.
3. *What changes for this repository at that step.*  Findings that appear, disappear or change
   severity (the rules re-run with the step's version) and the knowledge base's behaviour changes
   crossing that step, with their sources, sorted into "affects this repo" and the rest.
4. *How to do it safely.*  A checklist: pre-checks, apply order (CRDs → istiod → gateways → data
   plane; SPIRE servers before agents), what to watch, how to roll back.

Pin edits are absolute ("set this scalar to 1.24.6"), so the text after step N is the original text
with step N's edits applied, whatever happened in between; that is also what ``--write --step N``
writes.  After ``--write`` the next ``plan`` starts from the written versions.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from packaging.version import Version

from migrator.model import Finding, Pin
from migrator.versions import VersionError, parse_revision, parse_tag, replace_version_in_tag

STRATEGIES = ("in-place", "canary")
_POLICY_KEY = {"in-place": "in_place", "canary": "canary"}
_IMAGE_SOURCE = re.compile(r" image (pilot|proxyv2|install-cni|ztunnel|spire-server|spire-agent)$")
_REVISION_NAME = re.compile(r"^(\d+)-(\d+)(?:-(\d+))?((?:-[A-Za-z0-9]+)*)$")
_PRE_NAMES = {"a": "alpha", "b": "beta", "rc": "rc"}

#: roles of pins, in the order a step is applied (the data plane never ahead of the control plane)
ROLES = (
    ("registries", "chart repositories and image registries (before the versions only published there)"),
    ("crds", "CRDs and cluster-wide resources (base chart)"),
    ("control-plane", "control plane (istiod)"),
    ("node-agents", "node agents (istio-cni, ztunnel)"),
    ("gateways", "gateways"),
    ("data-plane", "data plane (sidecar images, revision labels)"),
    ("spire-servers", "SPIRE servers"),
    ("spire-agents", "SPIRE agents"),
    ("spire-chart", "spire chart (servers and agents)"),
)


class PlanError(VersionError):
    """A --to/--from/--spire-to the planner cannot use; the CLI turns it into exit code 2."""


# ----------------------------------------------------------------------------------------- data


@dataclass
class PinEdit:
    """One pin changed by one step."""

    pin: Pin
    old: str  # the pin text as written (tag part for images)
    new: str
    role: str
    kind: str  # "scalar" | "image" | "revision"

    def as_dict(self) -> dict:
        p = self.pin
        return {"product": p.product, "path": p.path, "line": p.line, "source": p.source, "component": p.component,
                "role": self.role, "kind": self.kind, "old": self.old, "new": self.new,
                "embedded": bool(p.embedded), "env": p.env}


@dataclass
class FindingChange:
    status: str  # "appears" | "disappears" | "severity" | "remains" | "resolved" (by this step's own edits)
    finding: Finding
    old_severity: str | None = None

    def as_dict(self) -> dict:
        f = self.finding
        out = {"status": self.status, "rule": f.rule, "severity": f.severity, "path": f.path, "line": f.line,
               "resource": f.resource, "message": f.message}
        if self.old_severity:
            out["old_severity"] = self.old_severity
        return out


@dataclass
class Step:
    index: int
    product: str  # "istio" | "spire"
    from_version: Version
    to_version: Version
    strategy: str
    edits: list[PinEdit] = field(default_factory=list)
    kept: list[tuple[Pin, str]] = field(default_factory=list)  # pins deliberately not changed, with why
    files: list = field(default_factory=list)  # fix.FilePlan per changed file (old = text before this step)
    diff: str = ""
    problems: list[str] = field(default_factory=list)  # edit engine / verification gate refusals
    findings: list[FindingChange] = field(default_factory=list)
    changes: list[tuple[dict, str, str]] = field(default_factory=list)  # (knowledge change, relevance, why)
    checklist: dict[str, list[str]] = field(default_factory=dict)

    @property
    def title(self) -> str:
        name = "Istio" if self.product == "istio" else "SPIRE"
        return f"{name} {version_text(self.from_version)} → {version_text(self.to_version)}"

    @property
    def ok(self) -> bool:
        return not self.problems

    def of_status(self, status: str) -> list[FindingChange]:
        return [c for c in self.findings if c.status == status]


@dataclass
class Plan:
    root: Path
    repo_prefix: str
    target_spec: str
    strategy: str
    istio_from: Version | None
    istio_to: Version | None
    spire_from: Version | None
    spire_to: Version | None
    steps: list[Step]
    notes: list[str]
    policy: dict  # knowledge policies used: {"istio": {...}, "spire": {...}}
    current: list[Finding]
    pins: list[Pin]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)


# ------------------------------------------------------------------------------------- versions


def version_text(v: Version) -> str:
    """Istio/SPIRE spelling of a version: 1.31.0-rc.0, not packaging's 1.31.0rc0."""
    if v is None:
        return "unknown"
    base = ".".join(str(p) for p in (list(v.release) + [0, 0])[:3])
    if v.pre:
        return f"{base}-{_PRE_NAMES.get(v.pre[0], v.pre[0])}.{v.pre[1]}"
    return base


def _minor(v: Version) -> str:
    return f"{v.major}.{v.minor}"


def _minor_distance(a: Version, b: Version) -> int:
    if a.major != b.major:
        raise PlanError(f"cannot plan across major versions ({version_text(a)} → {version_text(b)})")
    return b.minor - a.minor


def revision_name(old: str, v: Version) -> str:
    """`1-22-3` → `1-24-6`; keeps the shape of the old name (two or three parts, a trailing suffix)."""
    m = _REVISION_NAME.match(old.strip())
    parts = [str(v.major), str(v.minor)]
    if m is None or m.group(3) is not None:
        parts.append(str((list(v.release) + [0, 0])[2]))
    name = "-".join(parts)
    if v.pre:
        name += f"-{_PRE_NAMES.get(v.pre[0], v.pre[0])}-{v.pre[1]}"
    return name + (m.group(4) if m and m.group(4) else "")


def _user_version(text: str, what: str) -> Version:
    tag = parse_tag(text)
    if tag is None:
        raise PlanError(f"{what} {text!r} is not a version (expected e.g. 1.26, 1.26.3, v1.26.3, 1.31.0-rc.0, "
                        "or latest / fixed for --to)")
    return tag.version


# -------------------------------------------------------------------------------- knowledge base


def _kb():
    from migrator import knowledge

    return knowledge


def istio_policy(strategy: str) -> tuple[int, dict, dict]:
    """Max minors per step for a strategy, with the policy entries that say so (for citing)."""
    policies = _kb().istio()["upgrade_policy"]
    chosen = policies[_POLICY_KEY[strategy]]
    cap = policies["max_step_any_method"]
    step = min(int(chosen["parameters"]["max_minor_step"]), int(cap["parameters"]["max_minor_step"]))
    return step, chosen, cap


def _istio_releases() -> dict[str, dict]:
    return {r["minor"]: r for r in _kb().istio()["releases"]}


def _known_istio_versions(release: dict) -> list[Version]:
    """Every release of a minor the planner may name: git tags of the snapshot (patches, pre-releases)
    and the versions istio.io announced after it.  The one definition of "which releases exist" that
    `--to X.Y`, `--to X.Y.Z`, `--to latest`, `--to fixed` and every hop use."""
    out = [Version(p) for p in release.get("patches") or []]
    out += [Version(t) for t in release.get("prerelease_tags") or []]
    out += [Version(a["version"]) for a in release.get("announced_after_snapshot") or []]
    return sorted(set(out))


def newest_istio_release(minor: str) -> Version | None:
    """The newest stable release of a minor (a tag or an announced version), None when it has none yet."""
    rel = _istio_releases().get(minor)
    stable = [v for v in _known_istio_versions(rel) if not v.pre] if rel else []
    return stable[-1] if stable else None


def _announced_only(v: Version) -> bool:
    rel = _istio_releases().get(_minor(v)) or {}
    return not v.pre and version_text(v) not in (rel.get("patches") or [])


def _announced_note(v: Version) -> list[str]:
    return [f"Istio {version_text(v)} was announced after the knowledge snapshot; its changes may be incomplete"] if _announced_only(v) else []


def release_minors() -> list[str]:
    """Minors with at least one stable release (tag or announcement), oldest first."""
    return [m for m in _istio_releases() if newest_istio_release(m) is not None]


def latest_istio_release() -> Version:
    return max(newest_istio_release(m) for m in release_minors())


def istio_hop_version(minor: str) -> Version:
    """The version a hop to `minor` lands on: its newest known release (see _known_istio_versions)."""
    rel = _istio_releases().get(minor)
    if rel is None:
        raise PlanError(f"Istio {minor} is not in the knowledge base")
    return newest_istio_release(minor) or _known_istio_versions(rel)[-1]


def resolve_istio_version(text: str, what: str = "--to") -> tuple[Version, list[str]]:
    """A version typed by the user, checked against the knowledge base: minor only → its newest release."""
    v = _user_version(text, what)
    releases = _istio_releases()
    minor = _minor(v)
    rel = releases.get(minor)
    if rel is None:
        known = [m for m in releases]
        raise PlanError(f"{what} {text!r}: unknown Istio version; the knowledge base knows {known[0]}–{known[-1]} "
                        f"(latest stable {version_text(latest_istio_release())})")
    known = _known_istio_versions(rel)
    if len(v.release) == 2 and not v.pre:
        newest = newest_istio_release(minor)
        if newest is None:
            raise PlanError(f"{what} {text!r}: Istio {minor} has no stable release in the knowledge base "
                            f"(pre-releases: {', '.join(rel.get('prerelease_tags') or [])})")
        return newest, _announced_note(newest)
    if v not in known:
        raise PlanError(f"{what} {text!r}: unknown Istio release; known {minor} releases: "
                        f"{', '.join(version_text(k) for k in known)}")
    return v, _announced_note(v)


def istio_path(start: Version, target: Version, strategy: str) -> list[Version]:
    """The versions to pass through, honouring the strategy's max minor step."""
    if target <= start:
        return []
    dist = _minor_distance(start, target)
    if dist == 0:
        return [target]
    step, _, _ = istio_policy(strategy)
    known = set(_istio_releases())
    hops: list[Version] = []
    cur = start.minor
    while cur < target.minor:
        nxt = min(cur + step, target.minor)
        while f"{start.major}.{nxt}" not in known and nxt > cur + 1:
            nxt -= 1  # never skip a minor the knowledge base does not know
        minor = f"{start.major}.{nxt}"
        hops.append(target if nxt == target.minor else istio_hop_version(minor))
        cur = nxt
    return hops


# SPIRE ---------------------------------------------------------------------------------------


def _spire_releases() -> dict[str, dict]:
    return {r["minor"]: r for r in _kb().spire()["releases"]}


def _spire_chart_rows() -> list[tuple[Version, Version]]:
    return sorted((Version(r["chart"]), Version(r["app"])) for r in _kb().spire()["helm_chart"]["versions"])


def resolve_spire_version(text: str, uses_chart: bool = False) -> tuple[Version, list[str]]:
    """`--spire-to` → the SPIRE version the plan ends on, and notes.

    One definition of which SPIRE releases exist for this repo: when it installs SPIRE with the spire
    Helm chart, only versions some released chart ships (spire.yaml helm_chart.versions) — the plan
    never promises 1.14.7 when the newest chart ships 1.14.5; otherwise every release tag."""
    rels = _spire_releases()
    shipped = sorted({a for _, a in _spire_chart_rows()})
    if text == "latest":
        v = shipped[-1] if uses_chart else max(Version(r["latest_patch"]) for r in rels.values())
        newest = max(Version(r["latest_patch"]) for r in rels.values())
        notes = [f"`--spire-to latest` = SPIRE {version_text(v)}"
                 + (f", the newest a released spire chart ships (SPIRE {version_text(newest)} exists; no chart ships it yet)"
                    if uses_chart and v != newest else "")]
        return v, notes
    v = _user_version(text, "--spire-to")
    rel = rels.get(_minor(v))
    if rel is None:
        known = list(rels)
        raise PlanError(f"--spire-to {text!r}: unknown SPIRE version; the knowledge base knows {known[0]}–{known[-1]}")
    if len(v.release) == 2:
        v = Version(rel["latest_patch"])
        if uses_chart:
            in_minor = [a for a in shipped if (a.major, a.minor) == (v.major, v.minor)]
            if not in_minor:
                raise PlanError(f"--spire-to {text!r}: no released spire chart ships SPIRE {_minor(v)} (spire.yaml helm_chart.versions)")
            if in_minor[-1] != v:
                return in_minor[-1], [f"`--spire-to {text}` = SPIRE {version_text(in_minor[-1])}, the newest {_minor(v)} a released "
                                      f"spire chart ships (SPIRE {version_text(v)} exists; no chart ships it)"]
        return v, []
    if version_text(v) not in rel["patches"]:
        raise PlanError(f"--spire-to {text!r}: unknown SPIRE release; known {_minor(v)} releases: {', '.join(rel['patches'])}")
    if uses_chart and v not in shipped:
        ships = [a for a in shipped if (a.major, a.minor) == (v.major, v.minor)]
        raise PlanError(f"--spire-to {text!r}: no released spire chart ships SPIRE {version_text(v)} "
                        f"(charts ship {', '.join(version_text(a) for a in ships) or f'no {_minor(v)} release'}); "
                        "the repo installs SPIRE with the spire chart")
    return v, []


def spire_path(start: Version, target: Version, uses_chart: bool) -> list[tuple[Version, Version | None]]:
    """(SPIRE version, spire chart version or None) per hop, one minor at a time (spire.yaml policy)."""
    if target <= start:
        return []
    pol = _kb().spire()["upgrade_policy"]["max_minor_step"]
    step = int(pol["parameters"]["max_minor_step"])
    rels = _spire_releases()
    hops = []
    cur = start.minor
    while True:
        nxt = min(cur + step, target.minor)
        final = nxt == target.minor
        minor = f"{start.major}.{nxt}"
        if minor not in rels:
            raise PlanError(f"SPIRE {minor} is not in the knowledge base")
        app = target if final else Version(rels[minor]["latest_patch"])
        chart = None
        if uses_chart:
            rows = [(c, a) for c, a in _spire_chart_rows() if (a.major, a.minor) == (app.major, app.minor) and a <= app]
            if not rows:
                raise PlanError(f"no released spire chart ships SPIRE {minor} (spire.yaml helm_chart.versions)")
            best_app = max(a for _, a in rows)
            chart = max(c for c, a in rows if a == best_app)
            app = best_app
        hops.append((app, chart))
        if final:
            break
        cur = nxt
    return hops


# ------------------------------------------------------------------------------------ findings


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


# ----------------------------------------------------------------------------------------- pins


def _role(pin: Pin) -> str:
    c = pin.component
    if pin.product == "spire":
        return {"server": "spire-servers", "agent": "spire-agents"}.get(c, "spire-chart")
    if c in ("base", "istio-base"):
        return "crds"
    if c in ("istiod", "pilot", "istiod-remote", "chart"):
        return "control-plane"
    if c in ("cni", "istio-cni", "install-cni", "ztunnel"):
        return "node-agents"
    if c in ("gateway", "istio-ingress", "istio-egress"):
        return "gateways"
    if c == "revision" and "revision value" in pin.source:
        return "gateways" if "gateway revision value" in pin.source else "control-plane"
    return "data-plane"


def revision_pins(root: Path, result) -> list[Pin]:
    """Revision names the inventory does not list: `revision:` values (istiod, gateway charts,
    IstioOperator spec.revision, Argo CD helm.parameters) and `istio.io/rev` labels outside
    workloads/namespaces.  Only names that spell a version (`1-22-3`) are returned."""
    known = {_pin_key(p) for p in result.inventory.pins}
    files = {p.path for p in result.inventory.pins if p.product == "istio"}
    files |= {c.path for c in getattr(result.inventory, "istiod_configs", [])}
    out = []
    for site in _sites(root, files, _revision_hit):
        pin = _rev_pin(site)
        if _pin_key(pin) not in known:
            out.append(pin)
    return out


@dataclass
class _Site:
    """A scalar found by walking a file: where it is for the edit engine and for people."""

    path: str
    doc: int  # document index in the file (the outer one for embedded text)
    key_path: tuple  # inside the document (inside the embedded text when `embedded`)
    embedded: tuple
    value: str
    line: int
    where: str  # "Application istiod", "Helm values" …
    gateway: bool


def _sites(root: Path, files: Iterable[str], match) -> list[_Site]:
    """Walk every document of `files` (and Argo CD `helm.values` strings); `match(path, value, data)`
    returns the key path to report or None."""
    from migrator.documents import embedded_document, load_text

    out: list[_Site] = []
    for rel in sorted(set(files)):
        try:
            text = (root / rel).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            continue
        for doc in load_text(rel, text).documents:
            where = f"{doc.kind} {doc.name}".strip() if doc.kind else "Helm values"
            for path, value in _walk(doc.data, ()):
                hit = match(path, value, doc.data)
                if hit:
                    out.append(_Site(rel, doc.index, doc.base_path + hit, (), value, doc.line_of(hit), where, _is_gateway(doc, hit)))
            if doc.kind not in ("Application", "ApplicationSet"):
                continue
            for vpath, sval in list(_walk(doc.data, ())):
                if vpath[-2:] != ("helm", "values") or not isinstance(sval, str):
                    continue
                for inner in embedded_document(doc, vpath):
                    for path, value in _walk(inner.data, ()):
                        hit = match(path, value, inner.data)
                        if hit:
                            out.append(_Site(rel, doc.index, hit, doc.base_path + vpath, value, inner.line_of(hit),
                                             f"{where} helm.values", _is_gateway(doc, vpath)))
    return out


def _walk(node: Any, path: tuple) -> Iterable[tuple[tuple, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield path + (k,), v
            yield from _walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield path + (i,), v
            yield from _walk(v, path + (i,))


def _revision_hit(path: tuple, value: Any, data: Any) -> tuple | None:
    """The key path to edit when (path, value) is a version-spelling revision name."""
    if not isinstance(value, str) or not _REVISION_NAME.match(value) or parse_revision(value) is None:
        return None
    if path and path[-1] in ("revision", "istio.io/rev"):
        return path
    if len(path) >= 2 and path[-1] == "value" and isinstance(path[-2], int) and "parameters" in path:
        item = data
        for step in path[:-1]:
            item = item[step]
        if isinstance(item, dict) and item.get("name") == "revision":
            return path
    return None


def _is_gateway(doc, path: tuple) -> bool:
    """Is this revision inside the source of an Argo CD Application for Istio's gateway chart?"""
    data = doc.data
    if not (doc.kind in ("Application", "ApplicationSet") and isinstance(data, dict)):
        return "gateway" in doc.path.lower()
    node: Any = data
    for step in path:
        if isinstance(node, dict) and node.get("chart") is not None:
            return str(node.get("chart")) == "gateway"
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return False
    return False


def _rev_pin(site: _Site) -> Pin:
    label = site.key_path[-1] == "istio.io/rev"
    what = "label istio.io/rev" if label else ("gateway revision value" if site.gateway else "revision value")
    from migrator.inventory import env_of

    return Pin("istio", str(parse_revision(site.value)), site.path, site.line,
               f"{site.where} {'.'.join(str(h) for h in site.key_path)} ({what})", "revision", env_of(site.path), site.value,
               site.doc, site.key_path, site.embedded)


# registries ------------------------------------------------------------------------------------


_REGISTRY_KEYS = ("repoURL", "url", "hub", "repository", "repo", "newName", "image")


def registry_sites(root: Path, result) -> list[_Site]:
    """Chart repositories, hubs and image references that name a known registry (istio.yaml registries).

    Image references are pins too (their tag); they are listed here as well so that a step crossing
    the registry's last published minor moves the registry together with the tag (an image tag
    1.31.x under gcr.io/istio-release would never exist).
    """
    files = {r.path for r in result.inventory.registries} | {p.path for p in result.inventory.pins if p.product == "istio"}
    pins = {_pin_key(p) for p in result.inventory.pins}

    def match(path, value, data):
        if not isinstance(value, str) or not path or not isinstance(path[-1], str):
            return None
        if path[-1] in _REGISTRY_KEYS and _kb().registry_for(value):
            return path
        return None

    return [s for s in _sites(root, files, match)
            if s.key_path[-1] == "image" or (s.path, s.doc, tuple(s.key_path), tuple(s.embedded)) not in pins]


def registry_edits(sites: list[_Site], prev: Version, v: Version) -> list[PinEdit]:
    """Moves for registries whose last published minor lies between the step's versions (istio.yaml registries)."""
    out = []
    for site in sites:
        moved = _kb().registry_replacement(site.value, _minor(v))
        if moved is None or _kb().registry_replacement(site.value, _minor(prev)) is not None:
            continue
        reg, new = moved
        pin = Pin("istio", version_text(v), site.path, site.line, f"{site.where} {'.'.join(str(h) for h in site.key_path)} "
                  f"({reg['url']} is published to up to {reg['until']}; {_short_url(reg['sources'][0])})", "registry",
                  None, site.value, site.doc, site.key_path, site.embedded)
        out.append(PinEdit(pin, site.value, new, "registries", "scalar"))
    return out


def merge_image_moves(edits: list[PinEdit], now: dict[tuple, str]) -> list[PinEdit]:
    """One edit per image reference: a registry move and a tag bump of the same `image:` become one
    rewrite of the whole reference (docker.io/istio/proxyv2:1.31.1), because SetImageTag keeps the
    registry and a separate SetScalar would put the old tag back."""
    from migrator.edits import retag_image

    moves = {_pin_key(e.pin): e for e in edits if e.role == "registries"}
    out = []
    for e in edits:
        key = _pin_key(e.pin)
        if e.kind == "image" and key in moves:
            move = moves.pop(key)
            new = retag_image(move.new, _image_version(e))
            merged = PinEdit(e.pin, retag_image(move.old, version_text(parse_tag(e.old).version)) if parse_tag(e.old) else move.old,
                             new, e.role, "scalar")
            now[key] = e.new
            out.append(merged)
        elif e.role != "registries":
            out.append(e)
        elif key in moves:  # a registry move alone; an image retagged by an earlier step keeps that tag
            tag = parse_tag(now.get(key, ""))
            if tag and e.pin.key_path and e.pin.key_path[-1] == "image":
                e.old, e.new = retag_image(e.old, version_text(tag.version)), retag_image(e.new, version_text(tag.version))
            now[key] = now.get(key, e.new)
            out.append(e)
    return out


def _pin_edit(pin: Pin, v: Version, strategy: str) -> tuple[PinEdit | None, str | None]:
    """The edit that moves one pin to v, or (None, why not)."""
    if pin.component == "revision":
        if strategy != "canary":
            return None, ("in-place upgrades keep the revision name; it no longer spells the version afterwards "
                          "(use --strategy canary to move to a revision named after the new version)")
        new = revision_name(pin.raw, v)
        return (PinEdit(pin, pin.raw, new, _role(pin), "revision"), None) if new != pin.raw else (None, None)
    if pin.product == "spire" and pin.component == "chart":
        return None, None  # chart pins are moved by the SPIRE step with a chart version, not an app version
    new = replace_version_in_tag(pin.raw, version_text(v))
    kind = "image" if _IMAGE_SOURCE.search(pin.source) else "scalar"
    if new == pin.raw:
        return None, None
    return PinEdit(pin, pin.raw, new, _role(pin), kind), None


def _engine_edits(edits: list[PinEdit]) -> dict[str, list]:
    """Edit-engine operations per file; edits inside one YAML-in-a-string scalar are grouped."""
    from migrator.edits import EditEmbedded, SetImageTag, SetScalar

    per_file: dict[str, list] = {}
    embedded: dict[tuple, list] = {}
    for e in edits:
        p = e.pin
        if e.kind == "image":
            op = SetImageTag(0 if p.embedded else p.doc, tuple(p.key_path), _image_version(e))
        else:
            op = SetScalar(0 if p.embedded else p.doc, tuple(p.key_path), e.new)
        if p.embedded:
            embedded.setdefault((p.path, p.doc, tuple(p.embedded)), []).append(op)
        else:
            per_file.setdefault(p.path, []).append(op)
    for (path, doc, emb), ops in embedded.items():
        per_file.setdefault(path, []).append(EditEmbedded(doc, emb, tuple(ops)))
    return per_file


def _image_version(e: PinEdit) -> str:
    """SetImageTag takes the version; it keeps the tag's suffix (-distroless) itself."""
    tag = parse_tag(e.new)
    return version_text(tag.version) if tag else e.new


# ---------------------------------------------------------------------------------- the planner


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


def _edit_order(e: PinEdit) -> tuple:
    roles = [r for r, _ in ROLES]
    return (roles.index(e.role) if e.role in roles else len(roles), e.pin.path, e.pin.line)


def _pin_key(pin: Pin) -> tuple:
    return (pin.path, pin.doc, tuple(pin.key_path), tuple(pin.embedded))


def _advance(edit: PinEdit, now: dict[tuple, str]) -> None:
    """Record the pin's new text; the edit's `old` becomes the text before this step."""
    key = _pin_key(edit.pin)
    edit.old = now.get(key, edit.pin.raw)
    now[key] = edit.new


def _lowest(pins: list[Pin]) -> Version | None:
    versions = sorted({Version(p.version) for p in pins})
    return versions[0] if versions else None


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


def _policies(strategy: str, spire: bool) -> dict:
    step, chosen, cap = istio_policy(strategy)
    kb = _kb().istio()["upgrade_policy"]
    out = {"istio": {"strategy": strategy, "max_minor_step": step, "policy": chosen, "cap": cap,
                     "skew": kb["control_plane_data_plane_skew"]}}
    sp = _kb().spire()["upgrade_policy"]
    out["spire"] = {"order": sp["order"], "max_minor_step": sp["max_minor_step"], "agent_server_skew": sp["agent_server_skew"],
                    "downgrade_order": sp["downgrade_order"]} if spire else {}
    return out


def _materialise(root: Path, steps: list[Step], result) -> None:
    """Apply each step's edits to the text after the previous step, verify, and render the diff."""
    from migrator.fix import FilePlan

    texts: dict[str, tuple[str, str | None]] = {}
    for step in steps:
        ops = _engine_edits(step.edits) if step.edits else {}
        for path, file_ops in sorted(ops.items()):
            if path not in texts:
                try:
                    texts[path] = _read(root / path)
                except OSError as exc:
                    step.problems.append(f"{path}: cannot read: {exc.strerror or exc}")
                    continue
            old, sha = texts[path]
            new, problem = _apply_verified(old, file_ops, step)
            if problem:
                step.problems.append(f"{path}: {problem}")
                continue
            if new != old:
                step.files.append(FilePlan(path, old, new, sha))
                texts[path] = (new, sha)
        step.diff = _render(root, step.files)


def _read(path: Path) -> tuple[str, str | None]:
    from migrator.fsio import read_text

    return read_text(path)


def _apply_verified(old: str, ops: list, step: Step) -> tuple[str, str | None]:
    from migrator.edits import EditError, apply_edits
    from migrator.verify import verify_rewrite

    try:
        res = apply_edits(old, ops)
    except EditError as exc:
        line = f" (line {exc.line})" if getattr(exc, "line", None) else ""
        return old, f"edit refused{line}: {exc}"
    gate = verify_rewrite(old, res.text, ops, schema_validator=_validator(step))
    if not gate.ok:
        return old, "verification gate failed: " + "; ".join(gate.problems)
    return res.text, None


def _validator(step: Step):
    if step.product != "istio":
        return None
    from migrator.crds import validate_istio_resource

    version = version_text(step.to_version)

    def validate(obj):
        return validate_istio_resource(obj, version) if isinstance(obj, dict) else []

    return validate


def _repo_prefix(root: Path) -> str:
    """The scan root relative to the git top level (diff paths are repo-relative), asked once per root."""
    return _prefix_cached(str(Path(root).resolve()))


@lru_cache(maxsize=64)
def _prefix_cached(root: str) -> str:
    from migrator.fix import repo_prefix as prefix

    return prefix(Path(root))


def _render(root: Path, files: list) -> str:
    """Unified diff of one step, paths relative to the repository root (fix.render_diff)."""
    if not files:
        return ""
    from migrator.fix import FixPlan, render_diff

    return render_diff(FixPlan(root, _repo_prefix(root), files, [], [], []), header=False)


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


# ------------------------------------------------------------------------------------ checklist


def checklist(step: Step, result, policy: dict, pins: list[Pin]) -> dict[str, list[str]]:
    if step.product == "spire":
        return _spire_checklist(step, policy)
    v, prev = version_text(step.to_version), version_text(step.from_version)
    canary = step.strategy == "canary"
    pre: list[str] = []
    blocking = [c for c in step.findings if c.status in ("appears", "severity") and c.finding.severity == "error"]
    for c in blocking:
        f = c.finding
        pre.append(f"**Blocking**: {f.rule} becomes an error at {v} for {f.resource} ({f.path}:{f.line}): "
                   f"fix it before this step (`mesh-migrator fix --rule {f.rule}`, `mesh-migrator explain {f.rule}`)")
    pre += _compat_checks(step, result)
    pre.append(f"`mesh-migrator scan --istio-version {v}` on this branch shows only the findings listed for this step")
    pre.append(f"`istioctl x precheck` with istioctl {v} against the cluster (it checks the live cluster, not the repo)")
    sk = policy["istio"]["skew"]
    pre.append(f"every workload runs the {prev} proxy (or at most one minor older) before you start: "
               f"{sk['summary']} ([source]({sk['sources'][0]}))")
    if canary:
        pre.append("the old revision keeps running until every namespace has moved: with Argo CD, sync the new istiod as a "
                   "separate Application/release or sync without pruning, so renaming the revision does not delete the old one")
    order: list[str] = []
    by_role: dict[str, list[PinEdit]] = {}
    for e in step.edits:
        by_role.setdefault(e.role, []).append(e)
    n = 1
    for role, label in ROLES:
        items = by_role.get(role)
        if not items:
            continue
        where = ", ".join(f"`{e.pin.path}:{e.pin.line}`" for e in items)
        order.append(f"{n}. {label}: {where}")
        n += 1
    if canary:
        names = sorted({e.new for e in step.edits if e.kind == "revision"}) or [revision_name("1-0-0", step.to_version)]
        order.append(f"{n}. move workloads: namespaces labelled `istio.io/rev={names[0]}` "
                     "(remove `istio-injection` where set: it takes precedence), then `kubectl rollout restart` them")
        order.append(f"{n + 1}. remove the {prev} revision once `istioctl proxy-status` shows no proxy on it")
    else:
        order.append(f"{n}. restart workloads (`kubectl rollout restart deployment -n <namespace>`) so sidecars run {v}; "
                     "gateways with `image: auto` are re-injected on restart too")
    watch = [f"`istioctl proxy-status`: istiod and every proxy report {v}; none left on {prev} before the next step",
             "istiod logs: rejected configuration, webhook or certificate errors"]
    spire_proxies = sorted({p.resource for p in result.inventory.proxies if p.spire})
    if spire_proxies:
        watch.append("Envoy logs of the SPIRE-backed proxies (" + ", ".join(spire_proxies[:5]) + ("…" if len(spire_proxies) > 5 else "")
                     + "): `workload is not authorized for the requested identities` means an SDS name SPIRE refuses")
    for c in step.of_status("disappears"):
        f = c.finding
        watch.append(f"{f.rule} gone for {f.resource}: confirm the traffic it broke now works ({f.path}:{f.line})")
    for c in step.of_status("appears") + step.of_status("severity"):
        f = c.finding
        watch.append(f"{f.rule} ({f.severity}) for {f.resource}: {_first_sentence(f.message)}")
    for change, relevance, why in step.changes:
        if relevance == "repo":
            watch.append(f"{change['title']} ({change['version']}; {why})")
    rollback = ["`git revert` this step's commit and let the GitOps controller sync; the pins go back to "
                + ", ".join(dict.fromkeys(f"`{e.old}`" for e in step.edits)) if step.edits else "nothing to revert in git"]
    if canary:
        rollback.append(f"move namespaces back to the {prev} revision label and restart them (the old revision is still "
                        "installed until you remove it)")
    else:
        rollback.append(f"roll back in reverse order: workloads (restart after istiod is back on {prev}), gateways, istiod, "
                        "then the base chart; downgrades also move one minor at a time "
                        f"([source]({policy['istio']['policy']['sources'][0]}))")
    return {"before": pre, "apply_order": order, "watch": watch, "rollback": rollback}


def _compat_checks(step: Step, result) -> list[str]:
    accepted = _kb().compatibility_profiles(_minor(step.to_version))
    out = []
    for f in result.inventory.flags:
        if f.name != "compatibilityVersion":
            continue
        value = f.value.strip().strip('"')  # an unquoted 1.20 reads as 1.2: no profile has that name, the render fails
        if value not in accepted:
            out.append(f"**Blocking**: compatibilityVersion {value!r} ({f.path}:{f.line}) is not accepted by Istio "
                       f"{_minor(step.to_version)} (accepts {', '.join(accepted) or 'none'}): the Helm render fails; remove or raise it")
            continue
        out += _profile_gaps(value, step.to_version, f)
    return out


def _profile_gaps(value: str, v: Version, flag) -> list[str]:
    """Behaviour a compatibility profile is documented to keep but does not on this exact patch
    (istio.yaml keep_old `since`, e.g. the 1.21 profile and enhanced resource scoping before 1.22.2)."""
    out = []
    for c in _kb().istio()["changes"]:
        for k in c.get("keep_old") or []:
            if "compatibilityVersion" in (k.get("manifest_paths") or []) and f'"{value}"' in k["how"] \
                    and _kb().change_present(c, version_text(v)) and not _kb().keep_old_works(k, version_text(v)) and k.get("since"):
                out.append(f"compatibilityVersion {value!r} ({flag.path}:{flag.line}) does not keep {c['id']} on Istio "
                           f"{version_text(v)}: the profile carries it only from {k['since']}; go to {k['since']} or later")
    return out


def _spire_checklist(step: Step, policy: dict) -> dict[str, list[str]]:
    sp = policy["spire"]
    v, prev = version_text(step.to_version), version_text(step.from_version)
    chart = [e for e in step.edits if e.role == "spire-chart"]
    pre = [f"SPIRE {prev} → {v} is one minor at most: {sp['max_minor_step']['summary']} "
           f"([source]({sp['max_minor_step']['sources'][0]}))",
           f"{sp['agent_server_skew']['summary']} ([source]({sp['agent_server_skew']['sources'][0]}))",
           "back up the SPIRE server datastore before the server upgrade"]
    order = [f"{sp['order']['summary']} ([source]({sp['order']['sources'][0]}))"]
    n = 1
    for role, label in ROLES:
        items = [e for e in step.edits if e.role == role]
        if items:
            order.append(f"{n}. {label}: " + ", ".join(f"`{e.pin.path}:{e.pin.line}`" for e in items))
            n += 1
    if chart:
        order.append(f"the spire chart rolls out servers and agents in one sync: keep agents on {prev} for the first sync "
                     f"(`spire-agent.image.tag: \"{prev}\"`), check the servers, then drop the override")
    watch = ["SPIRE server logs and `spire-server healthcheck`; agents re-attest and keep serving SVIDs",
             "Envoy SDS errors on SPIRE-backed proxies (certificate rotation keeps working)"]
    rollback = [f"{sp['downgrade_order']['summary']} ([source]({sp['downgrade_order']['sources'][0]}))",
                "`git revert` this step's commit (agents first if they were upgraded separately)"]
    return {"before": pre, "apply_order": order, "watch": watch, "rollback": rollback}


def _first_sentence(text: str) -> str:
    m = re.match(r"(.+?[.;:])(\s|$)", text)
    return (m.group(1) if m else text)[:240]


# ---------------------------------------------------------------------------------------- write


def write_step(plan: Plan, number: int) -> tuple[list[str], list[str]]:
    """Write the repository state after step `number` (1-based); returns (written paths, problems)."""
    from migrator.fix import FilePlan, FixPlan, write_plan

    if not plan.steps:
        return [], []
    if not 1 <= number <= len(plan.steps):
        raise PlanError(f"--step {number}: the plan has {len(plan.steps)} step(s)")
    step = plan.steps[number - 1]
    if not step.ok:
        return [], [f"step {number} did not pass the verification gate: " + "; ".join(step.problems)]
    # pin edits are absolute: the state after step N is the disk text with step N's edits (plus the
    # edits of earlier steps of the same product for pins step N leaves alone).
    edits = _cumulative_edits(plan, number)
    ops = _engine_edits(edits)
    files, problems = [], []
    for path, file_ops in sorted(ops.items()):
        try:
            old, sha = _read(plan.root / path)
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        new, problem = _apply_verified(old, file_ops, step)
        if problem:
            problems.append(f"{path}: {problem}")
        elif new != old:
            files.append(FilePlan(path, old, new, sha))
    if problems:
        return [], problems
    fp = FixPlan(plan.root, plan.repo_prefix, files, [], [], [])
    problems = write_plan(fp)
    return [f.path for f in files], problems


def _cumulative_edits(plan: Plan, number: int) -> list[PinEdit]:
    latest: dict[tuple, PinEdit] = {}
    for step in plan.steps[:number]:
        for e in step.edits:
            p = e.pin
            latest[_pin_key(p)] = e
    out = []
    for e in latest.values():
        out.append(replace(e, old=e.pin.raw))
    return out


# -------------------------------------------------------------------------------------- renderers


def _link(url: str, text: str | None = None) -> str:
    return f"[{text or url}]({url})"


def _src_links(sources: list[str]) -> str:
    return ", ".join(_link(u, _short_url(u)) for u in sources)


def _short_url(u: str) -> str:
    m = re.match(r"https://github\.com/([^/]+/[^/]+)/(?:pull|issues)/(\d+)", u)
    if m:
        return f"{m.group(1)}#{m.group(2)}"
    m = re.match(r"https://github\.com/([^/]+/[^/]+)/blob/([^/]+)/(.+)", u)
    if m:
        return f"{m.group(1)} {m.group(3).rsplit('/', 1)[-1]} @ {m.group(2)}"
    return re.sub(r"^https://", "", u).rstrip("/")


def _findings_cell(changes: list[FindingChange]) -> str:
    if not changes:
        return "—"
    counts: dict[str, int] = {}
    for c in changes:
        label = f"{c.finding.rule}"
        counts[label] = counts.get(label, 0) + 1
    return ", ".join(f"{k}" + (f" ×{n}" if n > 1 else "") for k, n in sorted(counts.items()))


def render_markdown(plan: Plan) -> str:
    out: list[str] = []
    frm = version_text(plan.istio_from) if plan.istio_from else "unknown"
    to = version_text(plan.istio_to) if plan.istio_to else frm
    title = f"# Upgrade plan: Istio {frm} → {to}"
    if plan.spire_to:
        title += f", SPIRE {version_text(plan.spire_from)} → {version_text(plan.spire_to)}"
    out.append(title)
    out.append("")
    pol = plan.policy["istio"]
    out.append(f"Target `--to {plan.target_spec}` · path **{plan.strategy}**: at most {pol['max_minor_step']} minor "
               f"version(s) per step — {pol['policy']['summary']} ({_src_links(pol['policy']['sources'][:1])}); "
               f"{pol['cap']['summary']} ({_src_links(pol['cap']['sources'][:1])}).")
    out.append("")
    for n in plan.notes:
        out.append(f"- {n}")
    if plan.notes:
        out.append("")
    if plan.current:
        out.append(f"Findings now (Istio {frm}): " + ", ".join(sorted({f"{f.rule} ({f.severity})" for f in plan.current})))
        out.append("")
    if not plan.steps:
        out.append("No upgrade steps: nothing to change.")
        return "\n".join(out) + "\n"
    out.append("| step | versions | pins changed | findings appear | findings disappear | errors at this step |")
    out.append("|---|---|---|---|---|---|")
    for s in plan.steps:
        errors = [c for c in s.findings if c.status not in ("disappears", "resolved") and c.finding.severity == "error"]
        out.append(f"| {s.index} | {s.title} | {len(s.edits)} | {_findings_cell(s.of_status('appears'))} | "
                   f"{_findings_cell(s.of_status('disappears'))} | {_findings_cell(errors)} |")
    out.append("")
    for s in plan.steps:
        out += _render_step(s, plan)
    return "\n".join(out).rstrip("\n") + "\n"


def _render_step(s: Step, plan: Plan) -> list[str]:
    out = [f"## Step {s.index}: {s.title}", ""]
    if s.problems:
        out.append("> **Not verified — edits withheld:** " + "; ".join(s.problems))
        out.append("")
    out.append("### Pin edits")
    out.append("")
    if s.edits:
        out.append("| file:line | pin | old | new |")
        out.append("|---|---|---|---|")
        for e in s.edits:
            where = f"{e.pin.path}:{e.pin.line}"
            out.append(f"| `{where}` | {e.pin.source}{' (in the helm.values string)' if e.pin.embedded else ''} | `{e.old}` | `{e.new}` |")
        out.append("")
    else:
        out.append("No pin changes (every pin is already at this version or later).")
        out.append("")
    for pin, why in s.kept:
        out.append(f"- kept `{pin.path}:{pin.line}` `{pin.raw}`: {why}")
    if s.kept:
        out.append("")
    if s.diff:
        out.append("```diff")
        out.append(s.diff.rstrip("\n"))
        out.append("```")
        out.append("")
    out.append(f"### Findings at {version_text(s.to_version)}")
    out.append("")
    labels = {"appears": "appears", "disappears": "**disappears**", "severity": "severity changes", "remains": "still present",
              "resolved": "resolved by this step's edits"}
    if s.findings:
        out.append("| change | rule | severity | where | resource |")
        out.append("|---|---|---|---|---|")
        for c in s.findings:
            f = c.finding
            sev = f"{c.old_severity} → **{f.severity}**" if c.status == "severity" else f.severity
            out.append(f"| {labels[c.status]} | {f.rule} | {sev} | `{f.path}:{f.line}` | {f.resource} |")
        out.append("")
        details = [c for c in s.findings if c.status in ("appears", "severity")]
        for c in details:
            out.append(f"- {c.finding.rule} at `{c.finding.path}:{c.finding.line}`: {c.finding.message}")
        if details:
            out.append("")
    else:
        out.append("No findings before or after this step.")
        out.append("")
    if s.product == "istio":
        out += _render_changes(s)
    out.append("### Checklist")
    out.append("")
    titles = {"before": "Before", "apply_order": "Apply in this order", "watch": "Watch", "rollback": "Rollback"}
    for key, label in titles.items():
        items = s.checklist.get(key) or []
        if not items:
            continue
        out.append(f"**{label}**")
        out.append("")
        for item in items:
            if key == "apply_order" and re.match(r"^\d+\. ", item):
                out.append(item)
            elif key in ("before", "watch"):
                out.append(f"- [ ] {item}")
            else:
                out.append(f"- {item}")
        out.append("")
    return out


def _render_changes(s: Step) -> list[str]:
    prev, to = _minor(s.from_version), _minor(s.to_version)
    out = [f"### Behaviour changes crossing {prev} → {to}", ""]
    if not s.changes:
        out += ["None recorded in the knowledge base (patch upgrade or no entries).", ""]
        return out
    repo = [(c, w) for c, r, w in s.changes if r == "repo"]
    kinds = [(c, w) for c, r, w in s.changes if r == "kinds"]
    other = [c for c, r, _ in s.changes if r == "other"]
    if repo:
        out += ["**Affects this repo**", ""]
        for c, why in repo:
            out.append(f"- **{c['title']}** ({c['version']}, {c['kind']}) — {why}. {' '.join(c['what_breaks'].split())}")
            for k in c.get("keep_old") or []:
                until = f" (works until {k['until']}" + (f", removed in {k['removed_in']})" if k.get("removed_in") else ")") if k.get("until") else ""
                out.append(f"  - keep the old behaviour: {k['how']}{until}")
            out.append(f"  - sources: {_src_links(c['sources'])}")
        out.append("")
    if kinds:
        out += ["**May affect this repo** (it has the resource kinds involved)", ""]
        for c, why in kinds:
            out.append(f"- **{c['title']}** ({c['version']}) — {why}. {' '.join(c['what_breaks'].split())} "
                       f"Sources: {_src_links(c['sources'][:2])}")
        out.append("")
    if other:
        out.append(f"<details><summary>{len(other)} other change(s) in {prev} → {to}</summary>")
        out.append("")
        for c in other:
            out.append(f"- {c['title']} ({c['version']}) — {_src_links(c['sources'][:1])}")
        out.append("")
        out.append("</details>")
        out.append("")
    return out


def render_json(plan: Plan) -> str:
    import json

    doc = {
        "target": plan.target_spec,
        "strategy": plan.strategy,
        "istio": {"from": version_text(plan.istio_from) if plan.istio_from else None,
                  "to": version_text(plan.istio_to) if plan.istio_to else None},
        "spire": {"from": version_text(plan.spire_from) if plan.spire_from else None,
                  "to": version_text(plan.spire_to) if plan.spire_to else None},
        "policy": {"max_minor_step": plan.policy["istio"]["max_minor_step"],
                   "sources": plan.policy["istio"]["policy"]["sources"] + plan.policy["istio"]["cap"]["sources"]},
        "notes": plan.notes,
        "current_findings": [{"rule": f.rule, "severity": f.severity, "path": f.path, "line": f.line, "resource": f.resource}
                             for f in plan.current],
        "ok": plan.ok,
        "steps": [{
            "index": s.index,
            "product": s.product,
            "from": version_text(s.from_version),
            "to": version_text(s.to_version),
            "edits": [e.as_dict() for e in s.edits],
            "kept": [{"path": p.path, "line": p.line, "raw": p.raw, "why": why} for p, why in s.kept],
            "diff": s.diff,
            "problems": s.problems,
            "findings": [c.as_dict() for c in s.findings],
            "changes": [{"id": c["id"], "version": c["version"], "kind": c["kind"], "title": c["title"], "flag": c.get("flag"),
                         "what_breaks": " ".join(c["what_breaks"].split()), "keep_old": c.get("keep_old") or [],
                         "related_rules": c.get("related_rules") or [], "sources": c["sources"],
                         "relevance": rel, "why": why} for c, rel, why in s.changes],
            "checklist": s.checklist,
        } for s in plan.steps],
    }
    return json.dumps(doc, indent=2) + "\n"
