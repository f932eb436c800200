"""Markdown report for a CI job summary (``$GITHUB_STEP_SUMMARY``) or a PR comment.

A summary line, the versions found per environment, the active findings (rule id linked to its
help page), how many findings were suppressed and how, and the files that could not be scanned.
Plain text severities (no emoji) so the table reads the same in every renderer and in a terminal.
GitHub caps a step summary at 1 MiB, so long tables are cut at MAX_ROWS with a note.
"""

from __future__ import annotations

from collections import Counter

from migrator import __version__
from migrator.model import Finding, Problem
from migrator.rules import catalog
from migrator.scan import ScanResult

MAX_ROWS = 500
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def render(result: ScanResult) -> str:
    out: list[str] = ["## mesh-migrator scan", "", summary_line(result), ""]
    out += versions_section(result)
    out += findings_section(result)
    out += suppressed_section(result)
    out += problems_section(result)
    out.append(f"<sub>mesh-migrator {__version__} · `mesh-migrator explain RULE` prints a rule's full explanation</sub>")
    return "\n".join(out) + "\n"


def summary_line(result: ScanResult) -> str:
    active = result.active
    counts = Counter(f.severity for f in active)
    suppressed = len(result.findings) - len(active)
    if active:
        head = f"**{len(active)} finding(s)**: {counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info"
    else:
        head = "**No findings**"
    parts = [head, f"{result.files_read} file(s) read, {result.files_parsed} parsed"]
    if suppressed:
        parts.append(f"{suppressed} suppressed")
    if result.errors:
        parts.append(f"{len(result.errors)} file error(s)")
    if result.skipped:
        parts.append(f"{len(result.skipped)} file(s) skipped")
    return " · ".join(parts)


def versions_section(result: ScanResult) -> list[str]:
    if not result.views:
        return []
    out = ["### Versions", "", "| Environment | Istio | SPIRE | Notes |", "|---|---|---|---|"]
    for v in result.views:
        istio = str(v.istio) if v.istio else "unknown"
        if v.istio and v.istio_assumed:
            istio += " (assumed)"
        spire = str(v.spire) if v.spire else "none found"
        notes = "; ".join(v.assumptions)
        out.append(row(v.env or "(whole repository)", istio, spire, notes))
    return out + [""]


def findings_section(result: ScanResult) -> list[str]:
    active = sorted(result.active, key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.path, f.line, f.rule))
    if not active:
        return []
    out = ["### Findings", "", "| Severity | Rule | Location | Resource | Message |", "|---|---|---|---|---|"]
    for f in active[:MAX_ROWS]:
        out.append(finding_row(f))
    if len(active) > MAX_ROWS:
        out += ["", f"… and {len(active) - MAX_ROWS} more finding(s); see the SARIF or JSON report for all of them."]
    return out + [""]


def finding_row(f: Finding) -> str:
    meta = catalog().get(f.rule)
    rule = f"[{f.rule}]({meta.help_uri})" if meta and meta.help_uri else f.rule
    severity = f.severity if f.confidence == "high" else f"{f.severity} ({f.confidence} confidence)"
    message = f.message + (f" [env: {f.env}]" if f.env else "")
    return row(severity, rule, code(f"{f.path}:{f.line}"), cell(f.resource), cell(message), raw=True)


def suppressed_section(result: ScanResult) -> list[str]:
    suppressed = [f for f in result.findings if f.suppressed]
    if not suppressed:
        return []
    by_how = Counter(f.suppressed for f in suppressed)
    how = ", ".join(f"{n} {k}" for k, n in sorted(by_how.items()))
    out = [f"**{len(suppressed)} suppressed finding(s)** ({how}); they do not fail the job.", "",
           "<details><summary>Suppressed findings</summary>", "",
           "| Rule | Location | Resource | Suppressed by | Reason |", "|---|---|---|---|---|"]
    for f in suppressed[:MAX_ROWS]:
        out.append(row(f.rule, code(f"{f.path}:{f.line}"), cell(f.resource), f.suppressed or "", cell(f.suppression_reason), raw=True))
    if len(suppressed) > MAX_ROWS:
        out += ["", f"… and {len(suppressed) - MAX_ROWS} more."]
    return out + ["", "</details>", ""]


def problems_section(result: ScanResult) -> list[str]:
    out: list[str] = []
    if result.errors:
        out += ["### File errors", "", "These files could not be scanned; findings in them are unknown.", ""]
        out += [f"- {problem_line(p)}" for p in result.errors[:MAX_ROWS]] + [""]
    if result.skipped:
        out += [f"<details><summary>{len(result.skipped)} file(s) skipped</summary>", ""]
        out += [f"- {problem_line(p)}" for p in result.skipped[:MAX_ROWS]] + ["", "</details>", ""]
    return out


def problem_line(p: Problem) -> str:
    where = f"{p.path}:{p.line}" if p.line else p.path
    return f"{code(where)}: {cell(p.message)}"


# -- escaping ------------------------------------------------------------------------------------
def cell(text: str | None) -> str:
    """Text safe inside a table cell: no line breaks, no column breaks, no raw HTML or emphasis."""
    text = " ".join(str(text or "").split())
    for ch, rep in (("\\", "\\\\"), ("|", "\\|"), ("<", "&lt;"), (">", "&gt;"), ("*", "\\*"), ("_", "\\_"),
                    ("`", "\\`"), ("[", "\\["), ("]", "\\]")):
        text = text.replace(ch, rep)
    return text


def code(text: str) -> str:
    """A code span (paths); falls back to escaped text when the path itself holds a backtick or a pipe."""
    if "`" in text or "|" in text or "\n" in text:
        return cell(text)
    return f"`{text}`"


def row(*cells: str, raw: bool = False) -> str:
    return "| " + " | ".join(c if raw else cell(c) for c in cells) + " |"
