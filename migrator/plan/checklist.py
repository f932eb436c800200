"""How to do a step safely: pre-checks, apply order, what to watch and how to roll back.

The checklist is the part of a step SREs follow by hand, so it is built from this repository's data:
the step's edits (in `ROLES` order), the findings that block it, and the knowledge base's skew policy
and compatibility profiles.
"""

from __future__ import annotations

import re

from packaging.version import Version

from migrator.model import Pin
from migrator.plan.model import ROLES, PinEdit, Step
from migrator.plan.releases import _kb, _minor, revision_name, version_text


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
