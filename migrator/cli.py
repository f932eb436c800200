"""Command-line entry point: assembles the front ends' parsers and turns errors into exit codes.

Exit codes (the README's table is tested against this list):
  0  no findings at or above --fail-on (or nothing to fix)
  1  findings, or fixes pending or refused (fix --check, fix, pr)
  2  usage or configuration error
  3  internal error (a bug: please report it with --debug output)

The front ends (commands: scan/sds/rules/explain; fix_cli, plan_cli, pr_cli, wizard) are siblings:
each registers its subcommands here and calls down into migrator.app and the libraries below it
(fix, plan, pr); none imports another or this module (tests/test_import_layers.py).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import NoReturn

from migrator import __version__
from migrator.errors import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, CliError, UsageError, did_you_mean

EXIT_FINDINGS = 1
__all__ = ["main", "build_parser", "CliError", "EXIT_OK", "EXIT_FINDINGS", "EXIT_USAGE", "EXIT_INTERNAL"]

#: the front-end modules, each with register(sub) and run(args); the order is the order of --help
FRONT_ENDS = ("migrator.commands", "migrator.fix_cli", "migrator.plan_cli", "migrator.wizard", "migrator.pr_cli")
#: which front end registers each command: a run imports only the one it needs (a pre-commit `scan`
#: does not pay for the fix, plan, PR and wizard modules: a third of its start-up, bench/RESULTS.md).
#: tests/test_readme_cli.py checks this map against what the front ends register.
COMMAND_MODULES = {"scan": "migrator.commands", "sds": "migrator.commands", "inventory": "migrator.commands",
                   "rules": "migrator.commands", "explain": "migrator.commands", "fix": "migrator.fix_cli",
                   "plan": "migrator.plan_cli", "wizard": "migrator.wizard", "pr": "migrator.pr_cli"}


class Parser(argparse.ArgumentParser):
    """argparse without silent abbreviations, and with a "did you mean" for misspelled commands and flags."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def option_strings(self) -> list[str]:
        out = [s for a in self._actions for s in a.option_strings]
        for a in self._actions:
            if isinstance(a, argparse._SubParsersAction):
                for sub in a.choices.values():
                    out += [s for b in sub._actions for s in b.option_strings]
        return sorted(set(out))

    def error(self, message: str):
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            choices = re.findall(r"'?([\w.-]+)'?", m.group(2))
            message += did_you_mean(m.group(1), choices).replace(" (", "; ", 1).rstrip(")")
        m = re.search(r"unrecognized arguments: (\S+)", message)
        if m and m.group(1).startswith("--"):
            message += did_you_mean(m.group(1).split("=")[0], self.option_strings()).replace(" (", "; ", 1).rstrip(")")
        super().error(message)


def _front_ends(argv: list[str] | None) -> tuple[str, ...]:
    """The front ends to register: the command's own when argv names one, else all (help, typos)."""
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    module = COMMAND_MODULES.get(words[0]) if words else None
    return (module,) if module else FRONT_ENDS


def build_parser(argv: list[str] | None = ()) -> argparse.ArgumentParser:
    """The parser for argv's command (argv=None: sys.argv); with no known command, every command's."""
    import importlib

    parser = Parser(prog="mesh-migrator", description="Find and fix Istio/SPIRE version-boundary breakages in GitOps repos.",
                    epilog="exit codes: 0 ok, 1 findings or fixes pending, 2 usage or config error, 3 internal error")
    parser.add_argument("--version", action="version", version=f"mesh-migrator {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in _front_ends(argv):
        importlib.import_module(name).register(sub)
    for p in sub.choices.values():  # --debug is accepted after the subcommand too
        if "--debug" not in p._option_string_actions:
            p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for internal errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors already; keep 0 for --help/--version
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    from migrator.config import ConfigError
    from migrator.discover import UsageError as PathError
    from migrator.versions import VersionError

    debug_before = os.environ.get("MESH_MIGRATOR_DEBUG")
    if getattr(args, "debug", False):
        os.environ["MESH_MIGRATOR_DEBUG"] = "1"  # isolate.py prints tracebacks of isolated errors (workers inherit it)
    try:
        return args.run(args)
    except (UsageError, PathError, VersionError, ConfigError) as exc:
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
    finally:  # in-process callers (tests, wrappers) must not inherit one run's --debug
        if debug_before is None:
            os.environ.pop("MESH_MIGRATOR_DEBUG", None)
        else:
            os.environ["MESH_MIGRATOR_DEBUG"] = debug_before


def run() -> NoReturn:
    """The `mesh-migrator` console script and `python -m migrator`: main(), then an exit that does not
    free the heap.

    Why: once the report is written, a normal interpreter exit only frees what the run built — every
    YAML node, fact and module, one object at a time — which was 12–16 ms of a 0.17–0.4 s scan
    (bench/RESULTS.md).  Output is flushed first, and nothing here relies on atexit: worker processes
    are joined and temporary directories removed before main() returns.  mypy exits the same way.
    In-process callers (tests, wrappers) call main() and get its exit code.
    """
    code = main()
    if _observed():
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (`| head`), or a closed stream: nothing to save
            pass
    os._exit(code)


#: tools that write their results when the interpreter exits normally
_OBSERVERS = ("coverage", "cProfile", "profile", "pyinstrument", "trace")


def _observed() -> bool:
    """Is a coverage tool, profiler or tracer running in this process?  They write their results at a
    normal exit, which os._exit would skip."""
    return sys.gettrace() is not None or sys.getprofile() is not None or any(m in sys.modules for m in _OBSERVERS)


if __name__ == "__main__":  # pragma: no cover
    run()
