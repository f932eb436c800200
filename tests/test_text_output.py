"""Output people read: golden text reports at 80 and 120 columns and piped, rule lists, commit messages.

The golden files are the multi-environment fixture scanned from its own directory, so paths are
relative to the current directory as ruff prints them.  Regenerate with MM_UPDATE_GOLDEN=1 and read
the diff: every line of these files is a promise to a user.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from rich.console import Console

from conftest import FIXTURES

GOLDEN = FIXTURES.parent / "tests" / "golden" / "text"
MULTI_ENV = FIXTURES / "multi-env"


def _scan(monkeypatch):
    from migrator.app import add_problem_findings
    from migrator.model import ScanOptions
    from migrator.scan import scan

    monkeypatch.chdir(MULTI_ENV)
    options = ScanOptions()
    result = scan(["."], options)
    add_problem_findings(result, options)
    return result


def _golden(name: str, text: str) -> str:
    path = GOLDEN / name
    if os.environ.get("MM_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("width", [80, 120])
def test_terminal_report_matches_golden(monkeypatch, width):
    from migrator.report import text

    buf = io.StringIO()
    text.render(_scan(monkeypatch), Console(file=buf, width=width, no_color=True, highlight=False))
    got = buf.getvalue()
    assert got == _golden(f"multi-env__{width}.txt", got)
    assert all(len(line) <= width for line in got.splitlines())
    assert got.startswith("prod: Istio 1.22.3, 13 file(s)") and "\nstaging: Istio 1.26.2, 13 file(s)" in got  # env names are not eaten as markup


def test_piped_report_matches_golden_and_is_not_wrapped():
    """A real pipe with COLUMNS=80: long lines stay whole, no box drawing."""
    proc = subprocess.run([sys.executable, "-m", "migrator", "scan", "."], cwd=MULTI_ENV, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "80"}, timeout=300)
    assert proc.returncode == 1, proc.stderr
    got = proc.stdout
    assert got == _golden("multi-env__piped.txt", got)
    first = next(ln for ln in got.splitlines() if "MM101" in ln)
    assert first.startswith("base/payments/destinationrule-stripe.yaml:17:1: MM101 error: ") and len(first) > 80
    assert not any(ch in got for ch in "─│┃━┏┓┗┛╭╮╰╯")
    assert got.rstrip().endswith("mesh-migrator plan --to fixed")  # ends with what to run next


def test_user_strings_are_not_markup(monkeypatch, tmp_path):
    """A folder called [prod] and a resource name in brackets survive in the terminal renderer."""
    from migrator.report import text

    result = _scan(monkeypatch)
    result.topology.control_planes[0].env = "[prod]"  # the topology summary names control planes by environment
    result.findings[0].resource = "DestinationRule/payments/[bold]stripe"
    buf = io.StringIO()
    text.render(result, Console(file=buf, width=200, no_color=True, highlight=False))
    assert "[prod]: Istio" in buf.getvalue() and "DestinationRule/payments/[bold]stripe" in buf.getvalue()


def test_rules_one_per_line_when_piped():
    from migrator.rules import catalog

    proc = subprocess.run([sys.executable, "-m", "migrator", "rules"], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "60"}, timeout=120)
    lines = proc.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == list(catalog())


def test_files_skipped_on_purpose_are_a_count_unless_verbose(run_cli):
    """An unpacked release nothing deploys: one count line, not a line per file (a real release tree printed 100)."""
    repo = str(FIXTURES / "vendored-istio-release")
    code, _, err = run_cli("scan", repo, "--format", "json")
    assert "3 file(s) skipped on purpose (installer chart templates, vendored trees, profile definitions); --verbose lists them" in err
    assert "not deployed by anything" not in err
    _, _, verbose = run_cli("scan", repo, "--format", "json", "--verbose")
    assert verbose.count("unpacked release (istio-1.22.0/): not deployed by anything in the repo") == 3


def test_commit_message_wrapped_and_costs_said_once(tmp_path, run_cli):
    from test_pr import git, make_repo

    repo = make_repo(tmp_path)
    code, _, err = run_cli("pr", repo, "--strategy", "skip-verify", "--body-file", tmp_path / "body.md")
    assert code == 0, err
    subject, _, body = git(repo, "log", "-1", "--format=%B").stdout.partition("\n")
    assert len(subject) <= 72
    long_lines = [ln for ln in body.splitlines() if len(ln) > 72]
    assert all(" " not in ln.strip() for ln in long_lines), long_lines  # only unbreakable words (URLs, paths) may exceed 72
    assert body.count("the server certificate is NOT verified") == 1  # three findings, one remedy, one cost
    assert "0 of 0" not in body
    pr_body = (tmp_path / "body.md").read_text()
    assert pr_body.count("the server certificate is NOT verified") == 1


def test_plan_renders_markdown_in_a_terminal_and_stays_raw_when_asked(monkeypatch, capsys):
    import argparse

    from migrator import plan_cli

    text = "# Upgrade plan: Istio 1.22.3 → 1.26.8\n\n## Step 1: Istio 1.22.3 → 1.23.6\n\n- [ ] check the canary\n"
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    plan_cli._show(text, argparse.Namespace(format=None, output=None))
    rendered = capsys.readouterr().out
    assert "Upgrade plan: Istio 1.22.3 → 1.26.8" in rendered and "## Step 1" not in rendered  # headings rendered
    plan_cli._show(text, argparse.Namespace(format="markdown", output=None))
    assert capsys.readouterr().out == text  # --format markdown: the raw Markdown, for files and PRs
