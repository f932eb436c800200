"""The application layer every front end (scan, fix, plan, pr, wizard) stands on.

scan → findings (rule findings plus MM001 for unreadable input) → exit code, with the option
handling the commands share.  No front end owns this module and it imports none of them, so the
front ends are siblings: `cli` assembles them, each one calls down into here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from migrator.errors import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK, CliError, UsageError, did_you_mean
from migrator.model import Finding, ScanOptions, severity_rank

#: the rule id of "this file could not be read as YAML" (rules/catalog.yaml); it has no check module
UNREADABLE = "MM001"


# ------------------------------------------------------------------------------ shared arguments


def known_istio_minors() -> list[str]:
    """Istio minors the knowledge base describes (stable and pre-release), oldest first."""
    from packaging.version import Version

    from migrator import knowledge

    return sorted({r["minor"] for r in knowledge.istio()["releases"]}, key=Version)


def check_istio_version(v, what: str):
    """A version the knowledge base cannot reason about is a usage error that names the known ones."""
    known = known_istio_minors()
    minor = f"{v.major}.{v.minor}"
    if minor not in known:
        raise UsageError(f"{what} {v}: Istio {minor} is not a release the knowledge base knows "
                         f"(known: {', '.join(known)}){did_you_mean(minor, known, cutoff=0.75)}")
    return v


def version_arg(what: str, istio: bool = False):
    """argparse type for a version flag; Istio versions must be ones the knowledge base knows."""
    from migrator.versions import VersionError, require_version

    def parse(text: str):
        try:
            v = require_version(text, what)
            return check_istio_version(v, what) if istio else v
        except (VersionError, UsageError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return parse


def add_scan_options(p: argparse.ArgumentParser, *, plan: bool = False) -> None:
    """The flags every command that scans a repository accepts.

    `plan` has its own --from/--to for the same versions, so there --istio-version/--target are
    accepted but not shown in --help (one name per thing in what users read).
    """
    hidden = argparse.SUPPRESS
    p.add_argument("paths", nargs="*", default=[], metavar="PATH",
                   help="files or directories to scan (default: the current directory; '-' reads a kubectl -o yaml dump from stdin)")
    p.add_argument("--istio-version", type=version_arg("--istio-version", istio=True), metavar="VERSION",
                   help=hidden if plan else "Istio version to assume (overrides pins)")
    p.add_argument("--spire-version", type=version_arg("--spire-version"), metavar="VERSION",
                   help="SPIRE version to assume (overrides pins)")
    p.add_argument("--target", type=version_arg("--target", istio=True), metavar="VERSION",
                   help=hidden if plan else "Istio version you are upgrading to (enables target rules such as MM131)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip paths matching GLOB (repeatable)")
    p.add_argument("--include", action="append", default=[], metavar="GLOB",
                   help="scan vendored/sample/profile-definition files matching GLOB that are skipped as not live (repeatable)")
    p.add_argument("--rule", action="append", default=[], metavar="ID", help="run only these rules (repeatable)")
    p.add_argument("--disable", action="append", default=[], metavar="ID", help="do not run these rules (repeatable)")
    p.add_argument("--jobs", "-j", type=int, default=1, metavar="N", help="worker processes for large repos (0 = one per CPU; default 1)")
    p.add_argument("--max-file-size", type=float, default=8.0, metavar="MB", help="skip files larger than this (default 8 MB)")
    p.add_argument("--render", action="store_true", help="render application Helm charts with `helm template` when helm is on PATH "
                   "(exact values; findings keep template lines); without helm, templates are masked and read from values")
    p.add_argument("--config", metavar="FILE", help="config file (default: .mesh-migrator.yaml found from the scanned root upwards)")
    p.add_argument("--verbose", "-v", action="store_true", help="list every file skipped on purpose (Helm templates …), not just a count")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for internal errors")


def check_rule_ids(ids, where: str) -> None:
    """Unknown rule ids are usage errors, with a suggestion when one is close (MM10 → MM101)."""
    from migrator.rules import catalog

    known = list(catalog())
    for rid in ids:
        if str(rid).upper() not in known and str(rid).upper() != "ALL":
            raise UsageError(f"{where}: unknown rule {rid!r}{did_you_mean(str(rid), known)}; `mesh-migrator rules` lists them")


def options_from_args(args) -> ScanOptions:
    """ScanOptions from the config file, overridden by the command-line flags; bad input → UsageError."""
    from migrator.config import load_config

    config = load_config(args.config, args.paths or ["."])
    rules_cfg = config.data.get("rules") or {}
    where = str(config.path) if config.path else "config"
    for key in ("enable", "disable"):
        check_rule_ids(rules_cfg.get(key) or (), f"{where}: rules.{key}")
    for key in ("severity", "strategy"):
        check_rule_ids(list((rules_cfg.get(key) or {})), f"{where}: rules.{key}")
    check_rule_ids(args.rule, "--rule")
    check_rule_ids(args.disable, "--disable")
    if args.jobs < 0:
        raise UsageError(f"--jobs {args.jobs}: must be 0 (one per CPU) or more")
    options = config.scan_options()
    if args.istio_version:
        options.istio_version = args.istio_version
    if args.spire_version:
        options.spire_version = args.spire_version
    if args.target:
        options.target = args.target
    options.excludes = tuple(options.excludes) + tuple(args.exclude)
    options.includes = tuple(options.includes) + tuple(getattr(args, "include", None) or ())
    options.render = bool(getattr(args, "render", False))
    options.all_proxies = bool(getattr(args, "all_proxies", False))
    if args.rule:
        options.rules_enabled = tuple(args.rule)
    options.rules_disabled = tuple(options.rules_disabled) + tuple(args.disable)
    options.jobs = args.jobs
    options.max_file_bytes = int(args.max_file_size * 1024 * 1024)
    return options


# ---------------------------------------------------------------------------------- the pipeline


def run_scan(args, options: ScanOptions | None = None):
    """Scan the paths the arguments name; unreadable files become MM001 findings."""
    from migrator.scan import scan

    options = options or options_from_args(args)
    progress = _progress_factory() if sys.stderr.isatty() else None
    result = scan(args.paths or ["."], options, progress_factory=progress)
    add_problem_findings(result, options)
    if result.stdin_text is None and result.files_read == 0 and not result.problems:
        print(f"warning: no YAML files found in {', '.join(args.paths or ['.'])}", file=sys.stderr)
    return result


def _progress_factory():
    """A rich progress bar on a TTY, shown only once a run has taken about a second."""
    from migrator.report.progress import delayed_progress

    return delayed_progress


def add_problem_findings(result, options: ScanOptions) -> None:
    """Every file error (invalid YAML, duplicate keys, binary, non-UTF-8, alias bomb) as an MM001 finding.

    Like ruff's syntax errors: counted, failing the run, baselinable and disableable like any finding;
    the JSON report keeps its `errors` list too.  Suppression comments cannot apply: the file is unreadable.
    """
    from migrator.rules import catalog

    disabled = {r.upper() for r in options.rules_disabled}
    if UNREADABLE in disabled or any(f.rule == UNREADABLE for f in result.findings):
        return
    meta = catalog()[UNREADABLE]
    severity = options.severity_overrides.get(UNREADABLE, meta.severity)
    for p in result.errors:
        result.findings.append(Finding(UNREADABLE, severity, p.path, p.line or 1, p.path, p.message))
    result.findings.sort(key=lambda f: (f.path, f.line, f.rule, f.resource))


def print_problems(result, stream=None, *, errors: bool = True, verbose: bool = False) -> None:
    """Unreadable files one line each (`path:line: error: message`); Helm templates as a count unless verbose."""
    from migrator.documents import HELM_TEMPLATE

    stream = stream or sys.stderr  # looked up per call: tests (and wrappers) replace sys.stderr
    on_purpose = [p for p in result.skipped if p.message == HELM_TEMPLATE or skipped_on_purpose(p)]
    quiet = {id(p) for p in on_purpose}  # by identity: `p in on_purpose` compared dataclasses pairwise (quadratic)
    for p in result.problems:
        if p.kind != "skipped" and not errors:
            continue
        if id(p) in quiet and not verbose:
            continue
        label = p.kind if p.kind in ("skipped", "note") else "error"
        where = f"{p.path}:{p.line}" if p.line else p.path
        print(f"{where}: {label}: {p.message}", file=stream)
    if on_purpose and not verbose:
        print(f"{len(on_purpose)} file(s) skipped on purpose (installer chart templates, vendored trees, profile definitions); "
              "--verbose lists them", file=stream)


def skipped_on_purpose(p) -> bool:
    """Files left out by design (not live, installer charts) rather than because they could not be read."""
    return "brings it back" in p.message or "installer" in p.message or "not YAML until rendered" in p.message


def exit_code(result, fail_on: str) -> int:
    """3 when a bug was met on one document or rule (isolate.py; everything else was reported), else
    1 when an active finding is at or above --fail-on, else 0."""
    if any(getattr(p, "internal", False) for p in result.problems):
        return EXIT_INTERNAL
    if fail_on == "never":
        return EXIT_OK
    threshold = severity_rank(fail_on)
    return EXIT_FINDINGS if any(severity_rank(f.severity) >= threshold for f in result.active) else EXIT_OK


# ---------------------------------------------------------------------------------------- outputs


def check_output(output: str | None) -> None:
    """Refuse an --output that cannot be written before any work is done (exit 2 with the reason)."""
    if not output:
        return
    import os

    target = Path(output)
    if target.is_dir():
        raise UsageError(f"--output {output}: is a directory")
    parent = target.parent if str(target.parent) else Path(".")
    for anc in (parent, *parent.parents):
        if anc.exists():
            if not anc.is_dir():
                raise UsageError(f"--output {output}: {anc} is a file, not a directory")
            if not os.access(anc, os.W_OK | os.X_OK):
                raise UsageError(f"--output {output}: no permission to write in {anc}")
            break


def emit(text: str, output: str | None) -> None:
    """Write a report to --output atomically, or to stdout."""
    if output:
        from migrator.fsio import atomic_write

        check_output(output)
        try:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            atomic_write(Path(output), text)
        except OSError as exc:
            raise UsageError(f"--output {output}: cannot write: {exc.strerror or exc}") from exc
    else:
        sys.stdout.write(text)


__all__ = ["CliError", "UsageError", "UNREADABLE", "add_scan_options", "options_from_args", "run_scan", "print_problems",
           "exit_code", "emit", "check_output", "check_rule_ids", "check_istio_version", "version_arg"]
