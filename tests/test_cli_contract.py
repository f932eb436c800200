"""The CLI contract CI relies on: every exit code, run as a real subprocess on fixtures.

0 ok · 1 findings, pending or refused fixes, unreadable files (MM001) · 2 usage/config error · 3 bug.
The pre-commit hooks are run through `pre-commit try-repo` on a repository with MM101 (must fail)
and a clean one (must pass), because a hook that says "Passed" on a broken repo is the worst failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, REPO

MM101_REPO = FIXTURES / "spire-istio-1.22"  # three MM101 errors, no decided remedy
CLEAN_REPO = FIXTURES / "spire-istio-1.26"  # Istio 1.26: nothing to report


def mm(*args, stdin: str | None = None, cwd=None, env=None) -> subprocess.CompletedProcess:
    """`mesh-migrator ARGS` as CI runs it: a separate process, exit code and both streams."""
    return subprocess.run([sys.executable, "-m", "migrator", *map(str, args)], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=300)


def copy(tmp_path: Path, src: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


# --------------------------------------------------------------------------------------------- 0 / 1


def test_clean_repo_exits_0():
    proc = mm("scan", CLEAN_REPO)
    assert proc.returncode == 0, proc.stderr


def test_findings_exit_1():
    assert mm("scan", MM101_REPO).returncode == 1


def test_the_exit_that_skips_freeing_the_heap_still_delivers_everything():
    """cli.run() ends the process with os._exit after flushing: a report bigger than a pipe's buffer
    arrives whole, the exit code is main()'s, and stderr is complete too."""
    import json

    proc = mm("scan", FIXTURES, "--format", "json")
    assert len(proc.stdout) > 65536  # more than one pipe buffer
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and report["findings"]
    assert proc.stderr.rstrip().endswith("--verbose lists them")  # the last line main() writes to stderr


def test_a_profiler_still_gets_its_normal_exit():
    """`python -m cProfile -m migrator …` (or coverage, pyinstrument) writes its results at exit: run()
    exits normally when one is loaded (cProfile prints its table after the scan's own output)."""
    proc = subprocess.run([sys.executable, "-m", "cProfile", "-s", "tottime", "-m", "migrator", "scan", str(MM101_REPO)],
                          capture_output=True, text=True, timeout=300)
    assert "MM101" in proc.stdout, proc.stderr
    assert "function calls" in proc.stdout and "Ordered by: internal time" in proc.stdout


def test_a_reader_that_goes_away_is_not_an_error():
    """`mesh-migrator scan … | head -1`: the closed pipe ends the run quietly, with no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "migrator", "scan", str(FIXTURES), "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert proc.returncode in (0, 1)


def test_unreadable_file_is_mm001_and_fails_the_run(tmp_path):
    repo = copy(tmp_path, CLEAN_REPO)
    (repo / "broken.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio-mesh\n data: {}\n")
    proc = mm("scan", repo, cwd=repo)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "broken.yaml:5:1: MM001 error: YAML syntax error" in proc.stdout
    assert "1 file unreadable (MM001)" in proc.stdout


def test_mm001_can_be_disabled_and_baselined(tmp_path):
    repo = copy(tmp_path, CLEAN_REPO)
    (repo / "broken.yaml").write_bytes(b"kind: ConfigMap\x00\x01")
    assert mm("scan", repo, "--disable", "MM001").returncode == 0
    baseline = tmp_path / "baseline.json"
    assert mm("scan", repo, "--baseline", baseline, "--update-baseline").returncode == 0
    proc = mm("scan", repo, "--baseline", baseline, "--format", "json")
    assert proc.returncode == 0, proc.stdout
    assert '"rule": "MM001"' in proc.stdout and '"suppressed": "baseline"' in proc.stdout
    assert "binary file" in proc.stdout  # the JSON `errors` list is kept as well


def test_stdin_dump_with_a_non_yaml_part_fails():
    dump = (MM101_REPO / "apps/payments/serviceentry-stripe.yaml").read_text() + "\n---\nkey: [unclosed\n  other: : :\n"
    proc = mm("scan", "-", "--format", "json", stdin=dump)
    assert proc.returncode == 1
    assert '"rule": "MM001"' in proc.stdout and '"path": "<stdin>"' in proc.stdout


def test_fix_check_with_undecided_findings_exits_1():
    proc = mm("fix", MM101_REPO, "--check")
    assert proc.returncode == 1, proc.stderr
    assert "needs a decision: pass --strategy" in proc.stderr


def test_fix_check_on_clean_repo_exits_0():
    assert mm("fix", CLEAN_REPO, "--check").returncode == 0


@pytest.mark.parametrize("fixture,args", [
    ("spire-istio-1.22", ["--strategy", "ca-file", "--ca-path", "/etc/ssl/certs/ca.pem"]),
    ("flag-false-istio-1.24", ["--strategy", "disable-verify"]),
])
@pytest.mark.parametrize("write", [[], ["--write", "--yes"]])
def test_refused_strategy_exits_1(tmp_path, fixture, args, write):
    repo = copy(tmp_path, FIXTURES / fixture)
    proc = mm("fix", repo, *args, *write)
    assert proc.returncode == 1, proc.stderr
    assert "not fixed:" in proc.stderr and "diff --git" not in proc.stdout


# ----------------------------------------------------------------------------------------------- 2


@pytest.mark.parametrize("args,message", [
    (["scan", MM101_REPO, "--rule", "MM10"], "unknown rule 'MM10' (did you mean MM140?)"),
    (["scan", MM101_REPO, "--disable", "MM1011"], "unknown rule 'MM1011' (did you mean MM101?)"),
    (["scan", MM101_REPO, "--istio-version", "1.12"], "Istio 1.12 is not a release the knowledge base knows (known: 1.20, "),
    (["scan", MM101_REPO, "--target", "2.0"], "Istio 2.0 is not a release the knowledge base knows"),
    (["plan", MM101_REPO, "--to", "1.26", "--from", "1.9"], "Istio 1.9 is not a release the knowledge base knows"),
    (["scan", MM101_REPO, "--jobs", "-1"], "--jobs -1: must be 0"),
    (["scan", MM101_REPO, "--output", REPO / "README.md" / "report.txt"], "README.md is a file, not a directory"),
    (["fix", MM101_REPO, "--strategy", "credential-name", "--ca-bundle", "/nonexistent/ca.pem"], "--ca-bundle /nonexistent/ca.pem: cannot read a PEM file"),
    (["pr", MM101_REPO], "pr needs --strategy NAME"),
    (["scna", MM101_REPO], "did you mean scan?"),
    (["scan", MM101_REPO, "--fromat", "json"], "did you mean --format?"),
    (["scan", MM101_REPO, "--form", "json"], "unrecognized arguments: --form"),  # no silent abbreviations
])
def test_usage_errors_exit_2(args, message):
    proc = mm(*args)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_rule_in_config_exits_2(tmp_path):
    repo = copy(tmp_path, MM101_REPO)
    (repo / ".mesh-migrator.yaml").write_text("rules:\n  disable: [MM199]\n")
    proc = mm("scan", repo)
    assert proc.returncode == 2 and ".mesh-migrator.yaml: rules.disable: unknown rule 'MM199'" in proc.stderr


def test_output_without_permission_exits_2(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        proc = mm("scan", MM101_REPO, "--output", locked / "report.json", "--format", "json")
    finally:
        locked.chmod(0o700)
    assert proc.returncode == 2 and "no permission to write" in proc.stderr


def test_path_without_yaml_warns(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    proc = mm("scan", tmp_path)
    assert proc.returncode == 0
    assert f"warning: no YAML files found in {tmp_path}" in proc.stderr


def test_debug_is_accepted_after_the_subcommand():
    before, after = mm("--debug", "scan", CLEAN_REPO), mm("scan", CLEAN_REPO, "--debug")
    assert before.returncode == after.returncode == 0, after.stderr


# ----------------------------------------------------------------------------------------------- 3


def test_internal_error_exits_3_and_debug_shows_the_traceback(run_cli, monkeypatch):
    import migrator.scan

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(migrator.scan, "scan", boom)
    code, _, err = run_cli("scan", str(CLEAN_REPO))
    assert code == 3 and "internal error: RuntimeError: boom (re-run with --debug" in err
    with pytest.raises(RuntimeError):
        run_cli("scan", str(CLEAN_REPO), "--debug")


# ------------------------------------------------------------------------------------- pre-commit


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false", *args],
                   cwd=cwd, check=True, capture_output=True, timeout=60)


def _git_repo(path: Path) -> Path:
    _git(path, "init", "-q")
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "initial")
    return path


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory):
    """This checkout's package and .pre-commit-hooks.yaml as a committed git repo, as try-repo needs."""
    if shutil.which("pre-commit") is None and not (Path(sys.executable).parent / "pre-commit").exists():
        pytest.skip("pre-commit is not installed (pip install -e '.[test]' installs it)")
    dst = tmp_path_factory.mktemp("hooks") / "mesh-migrator"
    dst.mkdir()
    for name in ("migrator", "schemas"):
        shutil.copytree(REPO / name, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(REPO / name, dst / name)
    return _git_repo(dst)


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory):
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.mark.parametrize("hook", ["mesh-migrator-scan", "mesh-migrator-fix-check"])
@pytest.mark.parametrize("fixture,expected", [(MM101_REPO, "Failed"), (CLEAN_REPO, "Passed")])
def test_pre_commit_hooks(tmp_path, hooks_repo, pre_commit_home, hook, fixture, expected):
    target = _git_repo(copy(tmp_path, fixture))
    exe = shutil.which("pre-commit") or str(Path(sys.executable).parent / "pre-commit")
    proc = subprocess.run([exe, "try-repo", str(hooks_repo), hook, "--all-files"], cwd=target, capture_output=True, text=True,
                          env={**os.environ, "PRE_COMMIT_HOME": str(pre_commit_home)}, timeout=600)
    out = proc.stdout + proc.stderr
    if "Installing environment" in out and proc.returncode != 0 and "An unexpected error has occurred" in out:
        pytest.skip(f"pre-commit could not build the hook environment here: {out[-500:]}")
    status = [ln for ln in out.splitlines() if ln.startswith("mesh-migrator")]
    assert status and status[0].endswith(expected), out
    assert (proc.returncode != 0) == (expected == "Failed"), out
