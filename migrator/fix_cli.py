"""`mesh-migrator fix`: the front end over migrator.fix (findings → remedies → verified edits → diff or writes).

Exit codes: 1 when a fix that was asked for was refused or failed, and with --check when fixes are
pending or a finding has no decided remedy (the pre-commit hook must not say "Passed" then);
2 for a --ca-bundle that does not exist.
"""

from __future__ import annotations

import sys

from migrator.fix import BatchInterrupted, FixPlan, plan_from_args, render_diff, report_written, write_plan
from migrator.remedies import FixContext, options_for


def register(sub) -> None:
    from migrator.app import add_scan_options

    p = sub.add_parser("fix", help="rewrite manifests to fix findings (dry run: prints a unified diff)")
    p.set_defaults(run=run)
    add_scan_options(p)
    p.add_argument("--strategy", choices=["credential-name", "ca-file", "skip-verify", "disable-verify", "upgrade"],
                   help="remedy to apply (default: per-rule config, else credential-name when a CA/secret is given)")
    p.add_argument("--write", action="store_true", help="apply the changes (atomically); default is a dry run")
    p.add_argument("--check", action="store_true", help="exit 1 when fixes are pending (CI / pre-commit)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before writing (non-interactive)")
    p.add_argument("--secret-name", help="credential-name: Secret name; `{name}` stands for the DestinationRule/Gateway name (default {name}-ca)")
    p.add_argument("--ca-bundle", action="append", metavar="[HOST=]FILE",
                   help="credential-name: CA bundle (PEM, certificates only) for one upstream host as HOST=FILE; repeat per host "
                        "(a plain FILE only when every DestinationRule has the same host)")
    p.add_argument("--ca-path", help="ca-file: path of the CA bundle inside the proxy")
    p.add_argument("--no-header", action="store_true", help="omit the remedy/security-cost header from the diff")


def check_ca_bundle(args) -> None:
    """A --ca-bundle (or fix.ca_bundle) that cannot be used is a usage error, before any scanning work.

    fix._ca_bundle parses HOST=FILE values, resolves config paths inside the repository and checks
    every file is a certificates-only PEM bundle; it raises the usage/config error itself.
    """
    from migrator.config import load_config
    from migrator.fix import _ca_bundle

    _ca_bundle(getattr(args, "ca_bundle", None), load_config(args.config, args.paths or ["."]))


def exit_status(plan: FixPlan, *, check: bool) -> int:
    """1 when something asked for was not done: a refused or failed fix, or (with --check) a pending or undecided one."""
    if plan.failed or plan.applicable_refused:
        return 1
    if check and (plan.pending or plan.undecided):
        return 1
    return 0


def run(args) -> int:
    from migrator.app import options_from_args, print_problems, run_scan

    options = options_from_args(args)
    check_ca_bundle(args)
    result = run_scan(args, options)
    print_problems(result, verbose=args.verbose)
    plan = plan_from_args(args, result)
    for f, why in plan.refused:
        print(f"{f.path}:{f.line}: {f.rule}: not fixed: {why}", file=sys.stderr)
    for f in plan.undecided:
        print(f"{f.path}:{f.line}: {f.rule}: needs a decision: pass --strategy "
              f"({', '.join(n for n, why in options_for(f, FixContext(view=result.views[0])) if why is None) or 'see explain'})", file=sys.stderr)
    for fp in plan.failed:
        print(f"{fp.path}: not fixed: {fp.problem}", file=sys.stderr)
    diff = render_diff(plan, header=not args.no_header)
    if args.write:
        if not plan.pending:
            print("nothing to write", file=sys.stderr)
        else:
            if not args.yes and sys.stdin.isatty():
                sys.stdout.write(diff)
                if input(f"write {len(plan.pending)} file(s)? [y/N] ").strip().lower() not in ("y", "yes"):
                    print("nothing written", file=sys.stderr)
                    return 0
            try:
                problems = write_plan(plan, hold_sigint=True)
            except BatchInterrupted as exc:
                for line in exc.kept:
                    print(line, file=sys.stderr)
                print(f"interrupted: rolled back the {len(exc.restored)} file(s) already written"
                      + (f"; {len(exc.kept)} file(s) keep the fix (listed above)" if exc.kept else "; no file changed"),
                      file=sys.stderr)
                return 130
            report_written(problems, f"wrote {len(plan.pending) - len(problems)} file(s)", sys.stderr)
            if problems:
                return 1
            return exit_status(plan, check=False)
    else:
        sys.stdout.write(diff)
        if plan.pending and not args.check:
            print(f"Next: re-run with --write to apply these {len(plan.pending)} file(s), or `mesh-migrator pr` with the "
                  "same flags to commit them on a branch", file=sys.stderr)
    return exit_status(plan, check=args.check)
