"""Human output, read the way ruff's is: `path:line:col: RULE severity: short sentence`, then a hint.

Every user-supplied string (paths, resource and environment names such as `[prod]`) goes into a
rich `Text` as plain text, never as markup, so nothing is eaten.  In a terminal rich wraps lines to
its width; piped or written to a file the lines are plain and never hard-wrapped, with no box
drawing, so `grep`, editors and CI logs see whole paths.  Paths are relative to the current
directory (clickable in terminals and editors); JSON and SARIF keep them relative to the scan root.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console
from rich.text import Text

from migrator.scan import ScanResult

COLOURS = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def display_path(result: ScanResult, path: str) -> str:
    """The finding's path relative to the current directory, as ruff prints it."""
    if path.startswith("<"):  # <stdin>
        return path
    full = Path(result.root) / path
    try:
        rel = os.path.relpath(full)
    except ValueError:  # another drive on Windows
        return str(full)
    return str(full) if rel.startswith("..") else rel


def lines(result: ScanResult, *, show_inventory: bool = True, show_suppressed: bool = False, verbose: bool = False) -> list[Text]:
    """The report as styled lines; `render` wraps them to a terminal, `render_plain` joins them."""
    out: list[Text] = []
    if show_inventory:
        out += _inventory(result)
    shown = [f for f in result.findings if show_suppressed or not f.suppressed]
    if shown:
        out.append(Text(""))
    for f in shown:
        out += _finding(result, f, verbose)
    out.append(Text(""))
    out.append(_summary(result))
    out += [Text(h, style="dim") for h in next_steps(result)]
    return out


def render(result: ScanResult, console: Console, *, show_inventory: bool = True, show_suppressed: bool = False,
           verbose: bool = False) -> None:
    """Print to a terminal: rich wraps each line to the console width (folding long paths, never cutting)."""
    for line in lines(result, show_inventory=show_inventory, show_suppressed=show_suppressed, verbose=verbose):
        console.print(line, overflow="fold")


def render_plain(result: ScanResult, *, show_inventory: bool = True, show_suppressed: bool = False, verbose: bool = False) -> str:
    """The same lines without styles or wrapping, for pipes and files."""
    return "".join(t.plain + "\n" for t in lines(result, show_inventory=show_inventory, show_suppressed=show_suppressed,
                                                   verbose=verbose))


def _finding(result: ScanResult, f, verbose: bool) -> list[Text]:
    from migrator.rules import catalog

    meta = catalog().get(f.rule)
    where = f"{display_path(result, f.path)}:{f.line}:{f.column}:"
    short = f.message if f.rule == "MM001" or not meta else meta.title
    head = Text.assemble((where, "bold"), " ", (f.rule, "bold"), " ", (f.severity, COLOURS.get(f.severity, "")), ": ", short)
    extra = [f.resource] if f.resource != f.path else []
    if f.env:
        extra.append(f"env {f.env}")
    if f.confidence != "high":
        extra.append(f"confidence {f.confidence}")
    if f.suppressed:
        extra.append(f"suppressed ({f.suppressed})")
    out = [head]
    if verbose and f.rule != "MM001":
        out.append(Text("    " + f.message))
    if extra:
        out.append(Text("    " + "; ".join(extra), style="dim"))
    if verbose:
        out += [Text(f"    assumed: {a}", style="dim") for a in f.assumptions]
    return out


def _inventory(result: ScanResult) -> list[Text]:
    """The topology summary (report/topology.py): per control plane its version, pins and assumptions."""
    from migrator.report.topology import summary_lines

    lines = summary_lines(result, show=lambda path: display_path(result, path))
    out = [Text(line, style="dim" if line.startswith("  ") else "") for line in lines]
    spire_versions = sorted({str(v.spire) for v in result.views if v.spire})
    spire_proxies = [p for p in result.inventory.proxies if p.spire]
    if spire_versions:
        out.append(Text(f"SPIRE {', '.join(spire_versions)}"))
    elif spire_proxies:
        out.append(Text("SPIRE version not pinned in the repo (--spire-version gives it)"))
    else:
        out.append(Text("SPIRE: none found"))
    if spire_proxies:
        out.append(Text(f"SPIRE-backed proxies: {len(spire_proxies)}"))
        for p in spire_proxies:
            out.append(Text(f"  {display_path(result, p.path)}:{p.line}: {p.resource}"))
            out.append(Text(f"    {p.spire_reason}", style="dim"))
    return out


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _summary(result: ScanResult) -> Text:
    active = result.active
    counts = {s: sum(1 for f in active if f.severity == s) for s in ("error", "warning", "info")}
    parts = [_plural(counts["error"], "error"), _plural(counts["warning"], "warning")]
    if counts["info"]:
        parts.append(f"{counts['info']} info")
    suppressed = len(result.findings) - len(active)
    if suppressed:
        parts.append(f"{suppressed} suppressed")
    if result.errors:
        parts.append(f"{_plural(len(result.errors), 'file')} unreadable (MM001)")
    if result.skipped:
        parts.append(f"{_plural(len(result.skipped), 'file')} skipped")
    return Text(f"{', '.join(parts)} in {_plural(result.files_read, 'file')} ({result.files_parsed} parsed)")


def next_steps(result: ScanResult) -> list[str]:
    """What to run next, one command a line: explain the first rule, then the safest fix, then the planner."""
    from migrator.rules import catalog

    active = [f for f in result.active if f.rule != "MM001"]
    if not active:
        return ["Next: fix or remove the unreadable files above (`mesh-migrator explain MM001`)."] if result.active else []
    metas = catalog()
    hints = [f"mesh-migrator explain {active[0].rule}"]
    remedies = [r for f in active for r in (metas[f.rule].remedies if f.rule in metas else ())]
    fixable = [r for r in remedies if r != "upgrade"]
    if fixable:
        strategy = "credential-name" if "credential-name" in fixable else fixable[0]
        hints.append(f"mesh-migrator fix --strategy {strategy}" + (" --ca-bundle FILE" if strategy == "credential-name" else ""))
    if "upgrade" in remedies:
        hints.append("mesh-migrator plan --to fixed")
    return ["Next:"] + [f"  {h}" for h in hints]
