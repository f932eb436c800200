"""Which versions a plan passes through: the release catalogue and upgrade policies of the knowledge base.

Everything here is read from ``migrator/knowledge/istio.yaml`` and ``spire.yaml`` (never from code
constants): the known releases per minor, the newest patch a hop lands on, how many minors one step
may cross per strategy, and how a user's ``--to``/``--from``/``--spire-to`` is resolved or refused.
"""

from __future__ import annotations

import re

from packaging.version import Version

from migrator.versions import VersionError, parse_tag

STRATEGIES = ("in-place", "canary")

_POLICY_KEY = {"in-place": "in_place", "canary": "canary"}

_REVISION_NAME = re.compile(r"^(\d+)-(\d+)(?:-(\d+))?((?:-[A-Za-z0-9]+)*)$")

_PRE_NAMES = {"a": "alpha", "b": "beta", "rc": "rc"}


class PlanError(VersionError):
    """A --to/--from/--spire-to the planner cannot use; the CLI turns it into exit code 2."""


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


def _policies(strategy: str, spire: bool) -> dict:
    step, chosen, cap = istio_policy(strategy)
    kb = _kb().istio()["upgrade_policy"]
    out = {"istio": {"strategy": strategy, "max_minor_step": step, "policy": chosen, "cap": cap,
                     "skew": kb["control_plane_data_plane_skew"]}}
    sp = _kb().spire()["upgrade_policy"]
    out["spire"] = {"order": sp["order"], "max_minor_step": sp["max_minor_step"], "agent_server_skew": sp["agent_server_skew"],
                    "downgrade_order": sp["downgrade_order"]} if spire else {}
    return out
