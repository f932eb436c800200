"""Human output: findings grouped by file with line numbers and severity colours (rich)."""

from __future__ import annotations

from itertools import groupby

from rich.console import Console
from rich.markup import escape

from migrator.scan import ScanResult

COLOURS = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def render(result: ScanResult, console: Console, *, show_inventory: bool = True, show_suppressed: bool = False) -> None:
    if show_inventory:
        _inventory(result, console)
    shown = [f for f in result.findings if show_suppressed or not f.suppressed]
    for path, group in groupby(shown, key=lambda f: f.path):
        console.print(f"\n[bold underline]{escape(path)}[/]")
        for f in group:
            colour = COLOURS.get(f.severity, "")
            extra = []
            if f.env:
                extra.append(f"env {f.env}")
            if f.confidence != "high":
                extra.append(f"confidence {f.confidence}")
            if f.suppressed:
                extra.append(f"suppressed ({f.suppressed})")
            tail = f" [dim]({'; '.join(extra)})[/]" if extra else ""
            console.print(f"  {f.line:>4}  [{colour}]{f.severity:<7}[/] [bold]{f.rule}[/]  {escape(f.resource)}{tail}")
            console.print(f"        {escape(f.message)}", soft_wrap=True)
            for a in f.assumptions:
                console.print(f"        [dim]assumed: {escape(a)}[/]", soft_wrap=True)
    _summary(result, console)


def _inventory(result: ScanResult, console: Console) -> None:
    from migrator.report.topology import summary_lines

    inv = result.inventory
    for line in summary_lines(result):
        style = "dim" if line.startswith("  ") else ""
        console.print(f"[{style}]{escape(line)}[/]" if style else escape(line), highlight=False, soft_wrap=True)
    spire_versions = sorted({str(v.spire) for v in result.views if v.spire})
    console.print(f"SPIRE {', '.join(spire_versions) or 'none found'}", highlight=False)
    spire_proxies = [p for p in inv.proxies if p.spire]
    if spire_proxies:
        console.print(f"SPIRE-backed proxies: {len(spire_proxies)}", highlight=False)
        for p in spire_proxies:
            console.print(f"  {escape(p.resource)} [dim]({escape(p.path)}:{p.line}: {escape(p.spire_reason)})[/]", soft_wrap=True)


def _summary(result: ScanResult, console: Console) -> None:
    active = result.active
    counts = {s: sum(1 for f in active if f.severity == s) for s in ("error", "warning", "info")}
    suppressed = len(result.findings) - len(active)
    parts = [f"{counts['error']} error(s)", f"{counts['warning']} warning(s)"]
    if suppressed:
        parts.append(f"{suppressed} suppressed")
    if result.skipped:
        parts.append(f"{len(result.skipped)} file(s) skipped")
    if result.errors:
        parts.append(f"{len(result.errors)} file error(s)")
    console.print(f"\n{', '.join(parts)} in {result.files_read} file(s) ({result.files_parsed} parsed)", highlight=False)
