"""The README is part of the CLI contract: its commands, flags and exit-code table match --help."""

from __future__ import annotations

import argparse
import re

import pytest

from conftest import REPO
from migrator.cli import build_parser

README = (REPO / "README.md").read_text(encoding="utf-8")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(p: argparse.ArgumentParser) -> set[str]:
    return {s for a in p._actions for s in a.option_strings}


def test_exit_code_table_matches_the_cli():
    table = README[README.index("### Exit codes"):]
    rows = dict(re.findall(r"^\| ([0-9]) \| (.+?) \|$", table, flags=re.M))
    assert sorted(rows) == ["0", "1", "2", "3"]
    import migrator.cli as cli

    documented = dict(re.findall(r"^  ([0-9])  (.+)$", cli.__doc__, flags=re.M))
    assert sorted(documented) == sorted(rows)
    epilog = build_parser().epilog
    for code in rows:
        assert f"{code} " in epilog
    assert (cli.EXIT_OK, cli.EXIT_FINDINGS, cli.EXIT_USAGE, cli.EXIT_INTERNAL) == (0, 1, 2, 3)
    assert "usage" in rows["2"] and "internal error" in rows["3"] and "MM001" in rows["1"]


def test_every_flag_the_readme_names_exists():
    known = _options(build_parser())
    for p in _subparsers().values():
        known |= _options(p)
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", README))
    assert named and named <= known, sorted(named - known)


def test_usage_block_lists_every_command_with_its_own_flags():
    usage = README[README.index("## Usage"):]
    usage = usage[usage.index("```sh"):usage.index("```", usage.index("```sh") + 3)]
    subs = _subparsers()
    listed = re.findall(r"^mesh-migrator ([a-z]+)", usage, flags=re.M)
    assert sorted(listed) == sorted(subs)
    for line in usage.splitlines():
        m = re.match(r"mesh-migrator ([a-z]+)", line)
        if not m:
            continue
        for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", line):
            assert flag in _options(subs[m.group(1)]), (m.group(1), flag)


@pytest.mark.parametrize("command", ["plan", "pr"])
def test_upgrade_path_is_called_path(command):
    assert "--path" in _options(_subparsers()[command])
    help_text = _subparsers()[command].format_help()
    assert "--path {in-place,canary}" in help_text
    assert "--upgrade-strategy" not in help_text and "--strategy {in-place" not in help_text


def test_plan_shows_one_name_per_version():
    help_text = _subparsers()["plan"].format_help()
    assert "--to" in help_text and "--from" in help_text
    assert "--istio-version" not in help_text and "--target" not in help_text


def test_every_parser_refuses_abbreviations_and_documents_format_and_positionals():
    for name, p in _subparsers().items():
        assert p.allow_abbrev is False, name
        for a in p._actions:
            if "--format" in a.option_strings:
                assert a.help and "default" in a.help, name
            if not a.option_strings and a.dest != "help":
                assert a.help, (name, a.dest)


def test_each_command_parses_alone_with_only_its_front_end_registered():
    """cli.COMMAND_MODULES (a run registers only its command's front end, for start-up) names every
    command, each under the module that registers it, and a one-command parser sees the same flags."""
    import importlib

    from migrator.cli import COMMAND_MODULES, FRONT_ENDS

    subs = _subparsers()
    assert sorted(COMMAND_MODULES) == sorted(subs)
    for command, module in COMMAND_MODULES.items():
        assert module in FRONT_ENDS
        probe = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).register(probe)
        assert command in probe.choices, (command, module)
        alone = build_parser([command, "--help"])
        action = next(a for a in alone._actions if isinstance(a, argparse._SubParsersAction))
        assert command in action.choices
        assert _options(action.choices[command]) == _options(subs[command])


def test_a_scan_does_not_import_the_fix_plan_pr_or_wizard_modules():
    """Start-up: `mesh-migrator scan` (what a pre-commit hook runs) loads none of the other front ends."""
    import subprocess
    import sys

    code = ("import sys; from migrator import cli; cli.main(['scan', sys.argv[1], '--format', 'json', '-o', '/dev/null']); "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('migrator'))))")
    out = subprocess.run([sys.executable, "-c", code, str(REPO / "fixtures" / "spire-istio-1.22")],
                         capture_output=True, text=True, check=True).stdout.split()
    assert "migrator.scan" in out
    for heavy in ("migrator.fix_cli", "migrator.plan_cli", "migrator.pr_cli", "migrator.wizard", "migrator.pr"):
        assert heavy not in out, heavy
