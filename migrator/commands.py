"""The read-only front end: `scan`, `sds`, `rules` and `explain`, on top of migrator.app."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from migrator.app import emit, exit_code, print_problems, run_scan
from migrator.errors import CliError



def _console():
    """A rich console, imported on first use: JSON/SARIF output and piped runs never pay for rich."""
    from rich.console import Console

    return Console(highlight=False)

def register(sub) -> None:
    """The read-only commands: scan, sds, rules, explain."""
    from migrator.app import add_scan_options

    scan = sub.add_parser("scan", help="report configurations an Istio/SPIRE version boundary breaks",
                          description="Report configurations an Istio/SPIRE version boundary breaks.")
    add_scan_options(scan)
    scan.add_argument("--format", choices=["text", "json", "sarif", "markdown"], default="text",
                      help="report format (default: text; json and sarif are stable machine interfaces)")
    scan.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of stdout")
    scan.add_argument("--fail-on", choices=["info", "warning", "error", "never"], default="warning",
                      help="lowest severity that makes the exit code 1 (default: warning)")
    scan.add_argument("--show-suppressed", action="store_true", help="list suppressed findings in text output")
    scan.add_argument("--all-proxies", action="store_true",
                      help="name every affected proxy in each finding (default: the first 10 and `proxy_count`)")
    scan.add_argument("--baseline", metavar="FILE", help="baseline file: findings recorded there do not fail the run")
    scan.add_argument("--update-baseline", action="store_true", help="write the current findings to --baseline and exit 0")
    scan.set_defaults(run=cmd_scan)

    sds = sub.add_parser("sds", help="list the SDS names every proxy will request and which will fail",
                         description="List the SDS names every proxy will request and which will fail.")
    add_scan_options(sds)
    sds.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: text)")
    sds.add_argument("--all", action="store_true", help="include proxies that are not SPIRE-backed")
    sds.set_defaults(run=cmd_sds)

    inventory = sub.add_parser("inventory", help="print the mesh as deployed: control planes, versions, where each file goes",
                               description="Print the mesh as deployed: control planes, their versions and pins, and how every file was attributed.")
    add_scan_options(inventory)
    inventory.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: text)")
    inventory.set_defaults(run=cmd_inventory)

    rules = sub.add_parser("rules", help="list every rule", description="List every rule, one per line.")
    rules.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: text)")
    rules.set_defaults(run=cmd_rules)

    explain = sub.add_parser("explain", help="explain a rule: what breaks, at which versions, how to fix, sources",
                             description="Print a rule's documentation page (docs/rules/MMxxx.md).")
    explain.add_argument("rule_id", metavar="RULE", help="rule id, e.g. MM101")
    explain.set_defaults(run=cmd_explain)


def cmd_scan(args) -> int:
    from migrator.app import check_output
    from migrator.baseline import apply_baseline, write_baseline
    from migrator.config import load_config

    check_output(args.output)
    baseline = args.baseline or load_config(args.config, args.paths or ["."]).path_value("baseline")
    if args.update_baseline and not baseline:
        raise CliError("--update-baseline needs --baseline FILE (or `baseline:` in the config file)")
    args.baseline = baseline
    result = run_scan(args)
    if args.baseline:
        if args.update_baseline:
            write_baseline(Path(args.baseline), result)
            print(f"baseline written: {args.baseline} ({len(result.active)} finding(s))", file=sys.stderr)
            return 0
        apply_baseline(Path(args.baseline), result)
    # in text the unreadable files are MM001 findings of the report itself; elsewhere stdout is for machines
    print_problems(result, errors=args.format != "text", verbose=args.verbose)
    if args.format == "json" and not args.output:  # to stdout part by part: never the whole report in memory
        from migrator.report import jsonout

        for part in jsonout.render_parts(result):
            sys.stdout.write(part)
        return exit_code(result, args.fail_on)
    text = _render(args.format, result)
    if text is None:
        text = _render_text(result, args)
        if text is None:
            return exit_code(result, args.fail_on)
    emit(text, args.output)
    return exit_code(result, args.fail_on)


def _render_text(result, args) -> str | None:
    """To a terminal: print (rich wraps to its width, with colour); to a pipe or a file: return plain lines."""
    from migrator.report import text as text_report

    if not args.output and sys.stdout.isatty():

        text_report.render(result, _console(), show_suppressed=args.show_suppressed, verbose=args.verbose)
        return None
    return text_report.render_plain(result, show_suppressed=args.show_suppressed, verbose=args.verbose)


def _render(fmt: str, result):
    if fmt == "json":
        from migrator.report import jsonout

        return jsonout.render(result)
    if fmt == "sarif":
        from migrator.report import sarif

        return sarif.render(result)
    if fmt == "markdown":
        from migrator.report import markdown

        return markdown.render(result)
    return None


def cmd_rules(args) -> int:
    from migrator.rules import catalog

    metas = catalog()
    if args.format == "json":
        print(json.dumps([{"id": m.id, "severity": m.severity, "istio": m.istio or "any", "title": m.title,
                           "sources": list(m.sources)} for m in metas.values()], indent=2))
        return 0
    for m in metas.values():  # one rule per line, never wrapped: `rules | grep MM1` must see whole lines
        print(f"{m.id}  {m.severity:<7}  Istio {m.istio or 'any':<12}  {m.title}")
    return 0


def cmd_explain(args) -> int:
    """Print the rule's documentation page (the same text as docs/rules/MMxxx.md)."""
    from migrator.rules import catalog
    from migrator.ruledocs import page_url, render

    meta = catalog().get(args.rule_id.upper())
    if not meta:
        from migrator.errors import did_you_mean

        raise CliError(f"unknown rule {args.rule_id!r}{did_you_mean(args.rule_id, catalog())}; `mesh-migrator rules` lists them")
    sys.stdout.write(render(meta) + f"\nOnline: {page_url(meta.id)}\n")
    return 0


def cmd_sds(args) -> int:
    from migrator.sds import sds_tables

    result = run_scan(args)
    print_problems(result)
    tables = []
    for view in result.views:
        for proxy, rows in sds_tables(view):
            if not (proxy.spire or args.all):
                continue
            tables.append((view, proxy, rows))
    if args.format == "json":
        doc = [{"env": v.env, "istio_version": str(v.istio) if v.istio else None, "proxy": p.resource, "path": p.path, "kind": p.kind,
                "spire": p.spire, "spire_reason": p.spire_reason or None,
                "names": [{"name": r.name, "server": r.server, "ok": r.ok, "status": r.status, "origin": r.origin, "path": r.path,
                           "line": r.line, "log": r.log} for r in rows]} for v, p, rows in tables]
        print(json.dumps(doc, indent=2))
    else:
        _sds_text(tables)
    if any(p.internal for p in result.problems):
        return 3
    return 1 if any(not r.ok for _, _, rows in tables for r in rows) else 0


def _sds_text(tables) -> None:
    """A table per proxy in a terminal; plain lines (no box drawing, no wrapping) when piped."""
    from rich.markup import escape
    from rich.table import Table

    if not sys.stdout.isatty():
        _sds_plain(tables)
        return
    console = _console()
    if not tables:
        console.print("no SPIRE-backed proxies found (use --all to list every proxy)")
    for view, proxy, rows in tables:
        table = Table(title=escape(_sds_title(view, proxy)), title_justify="left", show_lines=False)
        for col in ("SDS resource", "server", "result", "requested because"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(escape(r.name), escape(r.server), {"ok": "ok", "unknown": "[yellow]unknown[/]"}.get(r.status, "[bold red]FAILS[/]"),
                          escape(r.origin + (f"\n{r.path}:{r.line}" if r.path else "")))
        console.print(table)
        for r in rows:
            if r.log:
                console.print(f"  [red]{escape(r.name)}[/]: {escape(r.log)}", soft_wrap=True)


def cmd_inventory(args) -> int:
    """The full topology: control planes with pins and assumptions, and how every file was attributed."""
    from migrator.report import jsonout
    from migrator.report.topology import summary_lines

    result = run_scan(args)
    if args.format == "json":
        doc = jsonout.inventory_dict(result)
        doc["attribution"] = jsonout.attribution(result)
        doc["skipped"] = [jsonout.problem_dict(p) for p in result.skipped]
        print(json.dumps(doc, indent=2))
        return 0
    from rich.markup import escape

    console = _console()
    for line in summary_lines(result, verbose=True):
        console.print(escape(line), soft_wrap=True)
    topo = result.topology
    console.print("\nfiles:")
    for path, envs in sorted(topo.attribution.items()):
        names = ", ".join(e or "default" for e in envs)
        console.print(escape(f"  {path} -> {names}  ({topo.how.get(path, '')})"), soft_wrap=True)
    not_live = [p for p in result.skipped]
    if not_live:
        console.print(f"\n{len(not_live)} file(s) skipped:")
        for p in not_live:
            console.print(escape(f"  {p.path}: {p.message}"), soft_wrap=True)
    return 0


def _sds_title(view, proxy) -> str:
    env = f" [{view.env}]" if view.env else ""
    return f"{proxy.resource}{env} — {proxy.kind}, Istio {view.istio or 'unknown'}, SDS via {'SPIRE' if proxy.spire else 'istio-agent'}"


def _sds_plain(tables) -> None:
    if not tables:
        print("no SPIRE-backed proxies found (use --all to list every proxy)")
    for view, proxy, rows in tables:
        print(_sds_title(view, proxy))
        for r in rows:
            where = f" ({r.path}:{r.line})" if r.path else ""
            print(f"  {'ok   ' if r.ok else 'FAILS'}  {r.name}  from {r.server}: {r.origin}{where}")
            if r.log:
                print(f"         Envoy logs: {r.log}")
