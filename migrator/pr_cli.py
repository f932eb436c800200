"""`mesh-migrator pr`: the front end over migrator.pr (branch + commit + PR description, never pushes)."""

from __future__ import annotations

import sys
from pathlib import Path

from migrator.pr import (FALLBACK_EMAIL, FALLBACK_NAME, ChangeSet, PrError, check_clean, default_branch, dirty_message,
                         find_git, format_patch, has_crlf, next_steps, open_branch, render_body, subject, upgrade_changes,
                         verify_changes, write_text, report_unfixed)


def register(sub) -> None:
    import argparse

    from migrator.app import add_scan_options
    from migrator.remedies import STRATEGY_MODULES

    p = sub.add_parser("pr", help="commit verified fixes on a new branch (or write a patch) with a PR description; never pushes")
    p.set_defaults(run=run)
    add_scan_options(p)
    what = p.add_mutually_exclusive_group()
    what.add_argument("--strategy", choices=list(STRATEGY_MODULES), help="remedy to apply to every finding it fits")
    what.add_argument("--to", metavar="VERSION", help="upgrade Istio towards VERSION, 'latest' or 'fixed': commits the planner's next step")
    p.add_argument("--path", dest="upgrade_strategy", choices=["in-place", "canary"], default="in-place",
                   help="with --to: in-place (one minor per step) or canary (revisions, up to two minors per step; default in-place)")
    p.add_argument("--upgrade-strategy", dest="upgrade_strategy", choices=["in-place", "canary"], help=argparse.SUPPRESS)  # old name of --path
    p.add_argument("--branch", help="branch to create (default derived from the change, e.g. mesh-migrator/mm101-credential-name)")
    p.add_argument("--body-file", help="write the PR description (Markdown) here instead of stdout")
    p.add_argument("--patch", metavar="FILE", help="write a git format-patch-style patch instead of creating a branch and commit")
    p.add_argument("--allow-dirty", action="store_true", help="allow uncommitted changes in files this does not edit")
    p.add_argument("--secret-name", help="credential-name: name of the Secret holding the CA (default <dr-name>-ca)")
    p.add_argument("--no-verify", action="store_true", help="do not run the repository's pre-commit and commit-msg hooks "
                   "(git commit --no-verify); by default pr runs them like any commit")
    p.add_argument("--ca-bundle", action="append", metavar="[HOST=]FILE",
                   help="credential-name: CA bundle (PEM, certificates only) for one upstream host as HOST=FILE; repeat per host "
                        "(a plain FILE only when every DestinationRule has the same host)")
    p.add_argument("--ca-path", help="ca-file: path of the CA bundle inside the proxy")


def _fix_changes(args, result, options) -> ChangeSet:
    from migrator.fix import plan_from_args

    plan = plan_from_args(args, result)
    label = args.strategy or "-".join(sorted({r.strategy for r in plan.remedies})) or "fix"
    return ChangeSet(result, plan, label, None, options, list(args.paths or ["."]))


def run(args) -> int:
    from migrator.errors import CliError
    from migrator.app import options_from_args, print_problems, run_scan

    if not args.strategy and not args.to:
        raise CliError("pr needs --strategy NAME (fix findings with one remedy) or --to VERSION (the planner's next upgrade step)")
    if args.strategy == "upgrade":
        raise CliError("the upgrade strategy is the planner's job: use `mesh-migrator pr --to VERSION|latest|fixed`")
    options = options_from_args(args)
    paths = list(args.paths or ["."])
    start = Path(paths[0]) if paths[0] != "-" else Path.cwd()
    if paths == ["-"]:
        raise CliError("pr needs files in a git work tree, not stdin")
    git = find_git(start if start.is_dir() else start.parent)
    if git is None and not args.patch:
        raise CliError(f"{paths[0]} is not inside a git work tree (use `fix` to edit files, or --patch FILE)")
    try:
        if git is not None:  # refuse a dirty tree before doing any work
            dirty = git.status()
            if dirty and not args.allow_dirty:
                raise PrError(dirty_message(dirty))
        result = run_scan(args, options)
        print_problems(result)
        changes = (upgrade_changes(result, options, args.to, paths, strategy=args.upgrade_strategy) if args.to
                   else _fix_changes(args, result, options))
        report_unfixed(changes)
        unfixed = bool(changes.plan.applicable_refused or changes.plan.failed or changes.plan.undecided)
        if not changes.plan.pending:
            print("nothing to change: no verified edits" + (" (see above)" if unfixed else ""), file=sys.stderr)
            return 1 if unfixed else 0
        title = subject(changes)
        if args.patch:
            if git is not None:
                check_clean(git, changes, args.allow_dirty)
            ver = verify_changes(changes)
            author = git.author() if git else (FALLBACK_NAME, FALLBACK_EMAIL)
            write_text(args.patch, format_patch(changes, ver, author))
            body = render_body(changes, ver, patch_file=args.patch)
            _emit_body(body, args.body_file)
            print(f"patch written: {args.patch} ({len(changes.plan.pending)} file(s)); nothing committed", file=sys.stderr)
            for line in next_steps(None, args.body_file, title, patch_file=args.patch, keep_cr=has_crlf(changes.plan)):
                print(f"  {line}", file=sys.stderr)
            return 1 if unfixed else 0
        branch = args.branch or default_branch(changes)
        opened, ver = open_branch(git, changes, branch, allow_dirty=args.allow_dirty, no_verify=args.no_verify)
    except PrError as exc:
        raise CliError(str(exc)) from exc
    body = render_body(changes, ver, commit=opened.commit, branch=opened.branch)
    _emit_body(body, args.body_file)
    print(f"branch {opened.branch} created at {opened.commit[:12]} with {len(changes.plan.pending)} file(s) changed "
          f"(from {opened.base or opened.base_sha[:12]}); nothing pushed. Next"
          + (" (save the description printed above as PR_BODY.md, or re-run with --body-file)" if not args.body_file else "") + ":",
          file=sys.stderr)
    for line in next_steps(opened, args.body_file, title):
        print(f"  {line}", file=sys.stderr)
    return 1 if unfixed else 0


def _emit_body(body: str, body_file: str | None) -> None:
    if body_file:
        write_text(body_file, body)
        print(f"PR description written: {body_file}", file=sys.stderr)
    else:
        sys.stdout.write(body)
