"""Command-line front end: argument parsing and exit codes only; the work is done by the pipeline.

Exit codes (documented in the README):
  0  no findings at or above --fail-on (or nothing to fix)
  1  findings (scan), or fixes pending (fix --check)
  2  usage or configuration error
  3  internal error (a bug: please report it with --debug output)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from migrator import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class CliError(Exception):
    """A usage/configuration error: printed as one line, exit code 2."""


def _version_arg(what: str):
    from migrator.versions import VersionError, require_version

    def parse(text: str):
        try:
            return require_version(text, what)
        except VersionError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return parse


def add_scan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", default=[], help="files or directories to scan ('-' reads a kubectl -o yaml dump from stdin)")
    p.add_argument("--istio-version", type=_version_arg("--istio-version"), help="Istio version to assume (overrides pins)")
    p.add_argument("--spire-version", type=_version_arg("--spire-version"), help="SPIRE version to assume (overrides pins)")
    p.add_argument("--target", type=_version_arg("--target"), help="Istio version you are upgrading to (enables target rules such as MM131)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip paths matching GLOB (repeatable)")
    p.add_argument("--include", action="append", default=[], metavar="GLOB",
                   help="scan vendored/sample/profile-definition files matching GLOB that are skipped as not live (repeatable)")
    p.add_argument("--rule", action="append", default=[], metavar="ID", help="run only these rules (repeatable)")
    p.add_argument("--disable", action="append", default=[], metavar="ID", help="do not run these rules (repeatable)")
    p.add_argument("--jobs", "-j", type=int, default=1, help="worker processes for large repos (0 = one per CPU)")
    p.add_argument("--max-file-size", type=float, default=8.0, metavar="MB", help="skip files larger than this (default 8 MB)")
    p.add_argument("--render", action="store_true", help="render application Helm charts with `helm template` when helm is on PATH "
                   "(exact values; findings keep template lines); without helm, templates are masked and read from values")
    p.add_argument("--config", help="config file (default: .mesh-migrator.yaml found from the scanned root upwards)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mesh-migrator", description="Find and fix Istio/SPIRE version-boundary breakages in GitOps repos.")
    parser.add_argument("--version", action="version", version=f"mesh-migrator {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    scan = sub.add_parser("scan", help="report configurations an Istio/SPIRE version boundary breaks")
    add_scan_options(scan)
    scan.add_argument("--format", choices=["text", "json", "sarif", "markdown"], default="text")
    scan.add_argument("--output", "-o", help="write the report to a file instead of stdout")
    scan.add_argument("--fail-on", choices=["info", "warning", "error", "never"], default="warning",
                      help="lowest severity that makes the exit code 1 (default: warning)")
    scan.add_argument("--show-suppressed", action="store_true", help="list suppressed findings in text output")
    scan.add_argument("--baseline", help="baseline file: findings recorded there do not fail the run")
    scan.add_argument("--update-baseline", action="store_true", help="write the current findings to --baseline and exit 0")

    sds = sub.add_parser("sds", help="list the SDS names every proxy will request and which will fail")
    add_scan_options(sds)
    sds.add_argument("--format", choices=["text", "json"], default="text")
    sds.add_argument("--all", action="store_true", help="include proxies that are not SPIRE-backed")

    inventory = sub.add_parser("inventory", help="print the mesh as deployed: control planes, versions, where files go")
    add_scan_options(inventory)
    inventory.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: text)")

    rules = sub.add_parser("rules", help="list every rule")
    rules.add_argument("--format", choices=["text", "json"], default="text")

    explain = sub.add_parser("explain", help="explain a rule")
    explain.add_argument("rule_id")

    from migrator import commands

    commands.register_extra(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors already; keep 0 for --help/--version
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    if getattr(args, "debug", False):
        import os

        os.environ["MESH_MIGRATOR_DEBUG"] = "1"  # isolate.py prints tracebacks of isolated errors (workers inherit it)
    from migrator import commands
    from migrator.config import ConfigError
    from migrator.discover import UsageError
    from migrator.versions import VersionError

    try:
        return commands.dispatch(args)
    except (CliError, UsageError, VersionError, ConfigError) as exc:
        print(f"mesh-migrator: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mesh-migrator: interrupted; nothing written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the one place internal errors become exit code 3
        if getattr(args, "debug", False):
            raise
        print(f"mesh-migrator: internal error: {type(exc).__name__}: {exc} (re-run with --debug for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
