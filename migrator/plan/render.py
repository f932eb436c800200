"""Renders a plan as Markdown (for people and PR descriptions) or JSON (for tools)."""

from __future__ import annotations

import re

from migrator.plan.model import FindingChange, Plan, Step
from migrator.plan.releases import _minor, version_text


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
