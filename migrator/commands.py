"""What each subcommand does, on top of the pipeline; cli.py only parses arguments."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console

from migrator.model import ScanOptions, severity_rank

EXTRA_COMMANDS: dict = {}


COMMAND_MODULES = ("migrator.fix", "migrator.plan", "migrator.wizard", "migrator.pr")


def register_extra(sub) -> None:
    """Subcommands that live in their own modules (fix, plan, wizard, pr) register here."""
    import importlib
    import importlib.util

    for module in COMMAND_MODULES:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    for name, (register, _run) in EXTRA_COMMANDS.items():
        register(sub)


def options_from_args(args) -> ScanOptions:
    from migrator.config import load_config

    config = load_config(args.config, args.paths or ["."])
    options = config.scan_options()
    if args.istio_version:
        options.istio_version = args.istio_version
    if args.spire_version:
        options.spire_version = args.spire_version
    if args.target:
        options.target = args.target
    options.excludes = tuple(options.excludes) + tuple(args.exclude)
    options.includes = tuple(options.includes) + tuple(getattr(args, "include", None) or ())
    if args.rule:
        options.rules_enabled = tuple(args.rule)
    options.rules_disabled = tuple(options.rules_disabled) + tuple(args.disable)
    options.jobs = args.jobs
    options.render = bool(getattr(args, "render", False))
    options.max_file_bytes = int(args.max_file_size * 1024 * 1024)
    return options


def run_scan(args, options: ScanOptions | None = None):
    from migrator.scan import scan

    options = options or options_from_args(args)
    progress = _progress_factory() if sys.stderr.isatty() else None
    return scan(args.paths or ["."], options, progress_factory=progress)


def _progress_factory():
    """A rich progress bar on a TTY, shown only once a run has taken about a second."""
    from migrator.report.progress import delayed_progress

    return delayed_progress


def print_problems(result, stream=None) -> None:
    """One line per unreadable or skipped file: `path:line: error: message`."""
    stream = stream or sys.stderr  # looked up per call: tests (and wrappers) replace sys.stderr
    for p in result.problems:
        label = p.kind if p.kind in ("skipped", "note") else "error"
        where = f"{p.path}:{p.line}" if p.line else p.path
        print(f"{where}: {label}: {p.message}", file=stream)


def cmd_scan(args) -> int:
    from migrator.baseline import apply_baseline, write_baseline

    from migrator.cli import CliError
    from migrator.config import load_config

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
    print_problems(result)
    text = _render(args.format, result)
    if text is not None:
        _emit(text, args.output)
    elif args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            from migrator.report import text as text_report

            text_report.render(result, Console(file=fh, width=120, no_color=True), show_suppressed=args.show_suppressed)
    else:
        from migrator.report import text as text_report

        text_report.render(result, Console(highlight=False), show_suppressed=args.show_suppressed)
    return exit_code(result, args.fail_on)


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


def _emit(text: str, output: str | None) -> None:
    if output:
        from migrator.fsio import atomic_write

        Path(output).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(output), text)
    else:
        sys.stdout.write(text)


def exit_code(result, fail_on: str) -> int:
    if any(p.internal for p in result.problems):
        return 3  # a bug met on one document or rule (isolate.py); everything else was reported
    if fail_on == "never":
        return 0
    threshold = severity_rank(fail_on)
    return 1 if any(severity_rank(f.severity) >= threshold for f in result.active) else 0


def cmd_rules(args) -> int:
    from migrator.rules import catalog

    metas = catalog()
    if args.format == "json":
        print(json.dumps([{"id": m.id, "severity": m.severity, "istio": m.istio or "any", "title": m.title,
                           "sources": list(m.sources)} for m in metas.values()], indent=2))
        return 0
    console = Console(highlight=False)
    for m in metas.values():
        console.print(f"{m.id}  {m.severity:<7}  Istio {m.istio or 'any':<12}  {m.title}")
    return 0


def cmd_explain(args) -> int:
    from migrator.cli import CliError
    from migrator.rules import catalog

    meta = catalog().get(args.rule_id.upper())
    if not meta:
        raise CliError(f"unknown rule {args.rule_id!r}; `mesh-migrator rules` lists them")
    out = [f"{meta.id}: {meta.title}", f"severity: {meta.severity}    Istio versions: {meta.istio or 'any'}", ""]
    out.append(meta.explanation)
    if meta.sds_names:
        out += ["", "SDS names involved: " + ", ".join(meta.sds_names)]
    if meta.remedies:
        out += ["", "remedies (mesh-migrator fix --strategy): " + ", ".join(meta.remedies)]
    out += ["", "sources:"] + [f"  {s}" for s in meta.sources]
    print("\n".join(out))
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
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    if not tables:
        console.print("no SPIRE-backed proxies found (use --all to list every proxy)")
    for view, proxy, rows in tables:
        env = f" [{view.env}]" if view.env else ""
        title = f"{proxy.resource}{env} — {proxy.kind}, Istio {view.istio or 'unknown'}, SDS via {'SPIRE' if proxy.spire else 'istio-agent'}"
        table = Table(title=title, title_justify="left", show_lines=False)
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

    console = Console(highlight=False)
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


def dispatch(args) -> int:
    handlers = {"scan": cmd_scan, "rules": cmd_rules, "explain": cmd_explain, "sds": cmd_sds, "inventory": cmd_inventory}
    if args.command in handlers:
        return handlers[args.command](args)
    _register, run = EXTRA_COMMANDS[args.command]
    return run(args)
