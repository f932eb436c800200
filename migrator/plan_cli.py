"""`mesh-migrator plan`: the front end over the upgrade planner (migrator.plan).

The path choice is `--path in-place|canary` as in `pr` and the wizard (`--strategy` means a remedy
everywhere else; the old `plan --strategy` spelling is a hidden, deprecated alias).  In a terminal
the Markdown plan is rendered by rich; piped, with --output or --format markdown it stays raw.
"""

from __future__ import annotations

import sys

from migrator.plan import STRATEGIES, PlanError, _user_version, build_plan, render_json, render_markdown, write_step


def register(sub) -> None:
    import argparse

    from migrator.app import add_scan_options

    p = sub.add_parser("plan", help="plan an Istio (and SPIRE) upgrade: steps, pin diffs, findings per step, checklist",
                       description="Plan an Istio (and SPIRE) upgrade: steps, pin diffs, findings per step, checklist.")
    p.set_defaults(run=run)
    add_scan_options(p, plan=True)
    p.add_argument("--to", required=True, metavar="VERSION",
                   help="target Istio version (1.26, 1.26.3, v1.26.3), `latest`, or `fixed` (lowest version where the current findings no longer apply)")
    p.add_argument("--from", dest="from_version", metavar="VERSION", help="starting Istio version (default: the lowest Istio pin in the repo)")
    p.add_argument("--path", dest="path", choices=STRATEGIES, default=None,
                   help="in-place: one minor per step; canary: revision-based, up to two minors per step (default: in-place)")
    p.add_argument("--strategy", dest="old_strategy", choices=STRATEGIES, default=None, help=argparse.SUPPRESS)  # deprecated: --path
    p.add_argument("--env", metavar="NAME", help="the control plane to upgrade when the repo has several (`mesh-migrator inventory` names them; default: the oldest)")
    p.add_argument("--spire-to", metavar="VERSION", help="also plan SPIRE to this version (or `latest`), one minor per step, servers before agents")
    p.add_argument("--format", choices=["markdown", "json"], default=None,
                   help="output format (default: Markdown rendered for a terminal, raw Markdown when piped or with --output)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the plan to FILE instead of stdout")
    p.add_argument("--write", action="store_true", help="apply the pin edits of step 1 (or --step N) to the files, atomically")
    p.add_argument("--step", type=int, default=1, metavar="N", help="with --write: the step whose resulting versions to write (default 1)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before writing")


def _path_choice(args) -> str:
    """--path, or the deprecated --strategy spelling (which now means a remedy everywhere else)."""
    if args.old_strategy:
        print("warning: `plan --strategy` is deprecated; use --path in-place|canary", file=sys.stderr)
    return args.path or args.old_strategy or "in-place"


def _check_from(text: str | None) -> None:
    """--from must be an Istio release the knowledge base knows (like --istio-version)."""
    if not text:
        return
    from migrator.app import check_istio_version

    check_istio_version(_user_version(text, "--from"), "--from")


def _show(text: str, args) -> None:
    """Raw text to pipes, files and --format markdown/json; a terminal gets the Markdown rendered by rich."""
    from migrator.app import emit

    if args.format is None and not args.output and sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text))
        return
    emit(text, args.output)


def run(args) -> int:
    from migrator.app import check_output, options_from_args, print_problems, run_scan

    check_output(args.output)
    _check_from(args.from_version)
    strategy = _path_choice(args)
    options = options_from_args(args)
    result = run_scan(args, options)
    if result.stdin_text is not None:
        raise PlanError("plan needs files to edit; it cannot read a repository from stdin")
    print_problems(result, verbose=args.verbose)
    plan = build_plan(result, args.to, strategy=strategy, from_=args.from_version, spire_to=args.spire_to, env=args.env)
    text = render_json(plan) if args.format == "json" else render_markdown(plan)
    code = 0 if plan.ok else 1
    for s in plan.steps:
        for p in s.problems:
            print(f"step {s.index}: {p}", file=sys.stderr)
    if args.write:
        if not plan.steps:
            print("nothing to write: the plan has no steps", file=sys.stderr)
        else:
            if args.step > 1:
                print(f"warning: writing the versions of step {args.step} skips steps 1–{args.step - 1} in git; "
                      "they must already be rolled out in the cluster", file=sys.stderr)
            if not 1 <= args.step <= len(plan.steps):
                raise PlanError(f"--step {args.step}: the plan has {len(plan.steps)} step(s)")
            if not args.yes and sys.stdin.isatty():
                sys.stdout.write(plan.steps[args.step - 1].diff)
                if input(f"write step {args.step} ({plan.steps[args.step - 1].title})? [y/N] ").strip().lower() not in ("y", "yes"):
                    print("nothing written", file=sys.stderr)
                    return 0
            from migrator.fix import report_written

            written, problems = write_step(plan, args.step, hold_sigint=True)  # Ctrl-C waits for the report
            report_written(problems, f"wrote {len(written)} file(s) for step {args.step} ({plan.steps[args.step - 1].title})", sys.stderr)
            if problems:
                code = 1
    _show(text, args)
    return code
