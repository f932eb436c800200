"""`mesh-migrator pr` against real temporary git repositories.

Every test builds its own repository (git init, a copy of a fixture, one commit) and checks git's view
of the result: the branch, the commit's files and content (equal to fix.render_diff of the same plan,
applied to a clean checkout), the PR description, the format-patch file (`git apply --check` on a
clean checkout) and the refusals (dirty tree, not a repository).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, interrupt_right_after_create

FIXTURE = "spire-istio-1.22"
DR_FILES = {"apps/payments/destinationrule-sift.yaml", "apps/payments/destinationrule-stripe.yaml"}
TEST_CA = (FIXTURES / "certs" / "example-root-ca.pem").read_text()  # the bundled test CA


def git(repo: Path, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc


def make_repo(tmp_path: Path, fixture: str = FIXTURE, subdir: str = "") -> Path:
    """A repository with the fixture committed on `main` (and a bare `origin` to prove nothing is pushed)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copytree(FIXTURES / fixture, repo / subdir if subdir else repo, dirs_exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=Fixture", "-c", "user.email=fixture@example.org", "commit", "-q", "-m", "fixture")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True, capture_output=True)
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "main")
    return repo


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def expected_diff(repo_root: Path, strategy: str, **ctx) -> str:
    """What `fix` would produce for the same checkout: render_diff of plan_fixes, without the # header."""
    from migrator.fix import plan_fixes, render_diff
    from migrator.model import ScanOptions
    from migrator.remedies import FixContext
    from migrator.scan import scan

    result = scan([str(repo_root)], ScanOptions())
    plan = plan_fixes(result, strategy=strategy, ctx=FixContext(**ctx))
    assert plan.pending, "the fixture must have something to fix"
    return render_diff(plan, header=False)


def clean_checkout(repo: Path, rev: str, dest: Path) -> Path:
    git(repo, "worktree", "add", "-q", "--detach", str(dest), rev)
    return dest


def committed_files(repo: Path, rev: str) -> set[str]:
    out = git(repo, "show", "--name-only", "--format=", rev).stdout
    return {ln for ln in out.splitlines() if ln.strip()}


# --------------------------------------------------------------------------------------------- tests


def test_branch_commit_holds_exactly_the_verified_edits(tmp_path, run_cli):
    repo = make_repo(tmp_path)
    base = head(repo)
    want = expected_diff(repo, "skip-verify")
    body_file = tmp_path / "body.md"

    code, out, err = run_cli("pr", repo, "--strategy", "skip-verify", "--body-file", body_file)

    assert code == 0, err
    branch = "mesh-migrator/mm101-skip-verify"
    assert git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False).returncode == 0
    assert git(repo, "symbolic-ref", "--short", "HEAD").stdout.strip() == branch
    assert git(repo, "rev-parse", "HEAD~1").stdout.strip() == base  # exactly one commit on top of main
    stat = git(repo, "show", "--stat", "--format=", "HEAD").stdout
    assert "2 files changed" in stat
    assert committed_files(repo, "HEAD") == DR_FILES
    # the commit's tree equals main + render_diff(plan) applied on a clean checkout
    check = clean_checkout(repo, base, tmp_path / "check")
    (tmp_path / "want.diff").write_text(want)
    git(check, "apply", str(tmp_path / "want.diff"))
    git(check, "add", "-A")
    assert git(check, "diff", "--cached", "--quiet", branch, check=False).returncode == 0, git(check, "diff", "--cached", branch).stdout
    # the work tree is clean after the commit: nothing else was written
    assert git(repo, "status", "--porcelain").stdout == ""
    # commit message: subject + findings fixed with rule ids
    message = git(repo, "log", "-1", "--format=%B").stdout
    assert message.splitlines()[0].startswith("mesh-migrator: fix MM101 with skip-verify (3 findings)")
    assert message.count("- MM101 DestinationRule/payments/") == 3
    assert "Signed-off-by" not in message
    # never pushes; prints what to run
    assert git(tmp_path / "origin.git", "branch", "--list", branch).stdout.strip() == ""
    assert f"gh pr create --base main --head {branch}" in err and f"--body-file {body_file}" in err
    assert "glab mr create" in err
    assert out == ""  # the body went to the file


def test_body_has_rule_ids_links_security_cost_verification_and_rollback(tmp_path, run_cli):
    repo = make_repo(tmp_path)
    body_file = tmp_path / "body.md"
    code, _, err = run_cli("pr", repo, "--strategy", "skip-verify", "--body-file", body_file)
    assert code == 0, err
    body = body_file.read_text()
    sha = head(repo)
    assert "## Findings fixed" in body
    assert "[MM101](https://github.com/mesh-migrator/mesh-migrator/blob/main/docs/rules/MM101.md)" in body  # rule id linked to its page
    assert body.count("| [MM101](") == 3
    assert "`apps/payments/destinationrule-stripe.yaml:17`" in body
    assert "## Security cost of each remedy" in body
    assert "the server certificate is NOT verified for this host" in body  # skip-verify's cost, spelled out
    assert "api.stripe.com" in body
    assert "## How this was verified" in body
    assert "YAML 1.1 and YAML 1.2" in body and "deepdiff" in body
    assert "CRD schema (openAPIV3Schema) of **Istio 1.22**" in body
    assert "Re-scan with the edits in place: 3 of the 3 findings this change targets are no longer reported (MM101)" in body
    assert "## Rollback" in body and f"git revert {sha[:12]}" in body
    assert "<!-- mesh-migrator-data: " in body


def test_body_printed_to_stdout_by_default_and_security_notes_for_credential_name(tmp_path, run_cli):
    repo = make_repo(tmp_path)
    ca = tmp_path / "ca.pem"
    ca.write_text(TEST_CA)
    code, out, err = run_cli("pr", repo, "--strategy", "credential-name", "--rule", "MM101",
                             "--ca-bundle", f"api.stripe.com={ca}", "--ca-bundle", f"api.sift.com={ca}",
                             "--branch", "fix/stripe-ca")
    assert code == 0, err
    assert out.startswith("## Summary")
    assert "credential-name" in out
    assert "can list every Secret in namespace payments" in out  # the RBAC cost of credential-name
    assert "none for verification" in out
    files = committed_files(repo, "fix/stripe-ca")
    assert DR_FILES <= files
    new = files - DR_FILES
    assert new and all(f.startswith("apps/payments/") for f in new)  # the generated Secret and Role/RoleBinding
    assert any("secret" in f for f in new) and any("credential-reader" in f for f in new)
    assert "BEGIN CERTIFICATE" in git(repo, "show", "fix/stripe-ca", "--format=").stdout
    assert "BEGIN CERTIFICATE" not in out  # the CA lives in the commit, not in the description


def test_patch_file_applies_on_a_clean_checkout_and_nothing_is_committed(tmp_path, run_cli):
    repo = make_repo(tmp_path)
    base = head(repo)
    ca = tmp_path / "ca.pem"
    ca.write_text(TEST_CA)
    patch = tmp_path / "out" / "fix.patch"

    code, out, err = run_cli("pr", repo, "--strategy", "credential-name", "--ca-bundle", f"api.stripe.com={ca}",
                             "--ca-bundle", f"api.sift.com={ca}", "--patch", patch)

    assert code == 0, err
    assert head(repo) == base and git(repo, "branch", "--list").stdout.split() == ["*", "main"]
    assert git(repo, "status", "--porcelain").stdout == ""  # nothing written to the work tree
    text = patch.read_text()
    assert text.startswith("From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: ")
    assert "\nSubject: [PATCH] mesh-migrator: fix MM101 with credential-name" in text
    assert "new file mode 100644" in text and " create mode 100644 " in text
    assert "## Summary" in out  # the PR description still goes to stdout
    check = clean_checkout(repo, base, tmp_path / "check")
    assert git(check, "apply", "--check", str(patch), check=False).returncode == 0
    # `git am` takes the headers as the commit, and the result is the verified diff
    git(check, "-c", "user.name=Reviewer", "-c", "user.email=r@example.org", "am", "-q", str(patch))
    assert git(check, "log", "-1", "--format=%s").stdout.startswith("mesh-migrator: fix MM101 with credential-name")
    want = expected_diff(repo, "credential-name", ca_bundle={"api.stripe.com": str(ca), "api.sift.com": str(ca)})
    check2 = clean_checkout(repo, base, tmp_path / "check2")
    (tmp_path / "want.diff").write_text(want)
    git(check2, "apply", str(tmp_path / "want.diff"))
    git(check2, "add", "-A")
    assert git(check2, "diff", "--cached", "--quiet", git(check, "rev-parse", "HEAD").stdout.strip(), check=False).returncode == 0


def test_dirty_tree_is_refused_with_a_clear_message(tmp_path, run_cli):
    repo = make_repo(tmp_path)
    base = head(repo)
    readme = repo / "README.md"
    readme.write_text(readme.read_text() + "\nlocal edit\n")
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}

    code, out, err = run_cli("pr", repo, "--strategy", "skip-verify")

    assert code == 2
    assert "uncommitted changes" in err and "--allow-dirty" in err and "README.md" in err
    assert git(repo, "branch", "--list").stdout.split() == ["*", "main"] and head(repo) == base
    assert {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts} == before
    assert out == ""


def test_untracked_file_counts_as_dirty(tmp_path, run_cli):
    repo = make_repo(tmp_path)
    (repo / "notes.txt").write_text("wip\n")
    code, _, err = run_cli("pr", repo, "--strategy", "skip-verify")
    assert code == 2 and "notes.txt" in err


def test_allow_dirty_commits_only_the_edits(tmp_path, run_cli):
    repo = make_repo(tmp_path)
    readme = repo / "README.md"
    readme.write_text(readme.read_text() + "\nlocal edit\n")
    code, _, err = run_cli("pr", repo, "--strategy", "skip-verify", "--allow-dirty", "--body-file", tmp_path / "b.md")
    assert code == 0, err
    assert committed_files(repo, "HEAD") == DR_FILES
    assert git(repo, "status", "--porcelain").stdout.strip() == "M README.md"  # the user's change is still theirs


def test_allow_dirty_still_refuses_to_edit_a_modified_file(tmp_path, run_cli):
    repo = make_repo(tmp_path)
    stripe = repo / "apps/payments/destinationrule-stripe.yaml"
    stripe.write_text(stripe.read_text() + "# my uncommitted note\n")
    edited = stripe.read_bytes()
    code, _, err = run_cli("pr", repo, "--strategy", "skip-verify", "--allow-dirty")
    assert code == 2
    assert "would be edited but have uncommitted changes" in err and "destinationrule-stripe.yaml" in err
    assert stripe.read_bytes() == edited
    assert git(repo, "branch", "--list").stdout.split() == ["*", "main"]


def test_existing_branch_is_refused(tmp_path, run_cli):
    repo = make_repo(tmp_path)
    git(repo, "branch", "mesh-migrator/mm101-skip-verify")
    code, _, err = run_cli("pr", repo, "--strategy", "skip-verify")
    assert code == 2 and "already exists" in err
    assert git(repo, "symbolic-ref", "--short", "HEAD").stdout.strip() == "main"
    assert git(repo, "status", "--porcelain").stdout == ""


def test_not_a_git_repository(tmp_path, run_cli):
    plain = tmp_path / "plain"
    shutil.copytree(FIXTURES / FIXTURE, plain)
    code, _, err = run_cli("pr", plain, "--strategy", "skip-verify")
    assert code == 2 and "not inside a git work tree" in err


def test_scan_root_in_a_subdirectory_and_no_git_identity(tmp_path, run_cli, monkeypatch):
    """Paths are relative to the top level; without a configured identity -c user.name/email is used."""
    repo = make_repo(tmp_path, subdir="gitops")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "none"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    # never let git guess an identity from the host name (it would on machines with a FQDN)
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.useConfigOnly")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "true")
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    assert git(repo, "config", "user.email", check=False).returncode != 0

    code, _, err = run_cli("pr", repo / "gitops", "--strategy", "skip-verify", "--body-file", tmp_path / "b.md")

    assert code == 0, err
    assert committed_files(repo, "HEAD") == {f"gitops/{f}" for f in DR_FILES}
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>").stdout.strip() == (
        "mesh-migrator <mesh-migrator@localhost>|mesh-migrator <mesh-migrator@localhost>")
    assert git(repo, "config", "user.email", check=False).returncode != 0  # no config was written


def test_nothing_to_fix_creates_no_branch(tmp_path, run_cli):
    repo = make_repo(tmp_path, fixture="no-spire-istio-1.22")
    code, _, err = run_cli("pr", repo, "--strategy", "skip-verify", "--rule", "MM101")
    assert code == 0
    assert "nothing to change" in err
    assert git(repo, "branch", "--list").stdout.split() == ["*", "main"]


def test_upgrade_pr_commits_the_planners_first_step(tmp_path, run_cli):
    pytest.importorskip("migrator.plan")
    repo = make_repo(tmp_path)
    body_file = tmp_path / "body.md"
    code, _, err = run_cli("pr", repo, "--to", "1.26", "--body-file", body_file)
    assert code == 0, err
    branch = git(repo, "symbolic-ref", "--short", "HEAD").stdout.strip()
    assert branch == "mesh-migrator/istio-1.23.6"
    diff = git(repo, "show", "--format=", "HEAD").stdout
    assert "-    targetRevision: 1.22.3" in diff and "+    targetRevision: 1.23.6" in diff
    assert committed_files(repo, "HEAD") == {"argocd/istio-base.yaml", "argocd/istiod.yaml"}
    body = body_file.read_text()
    assert "## Upgrade steps" in body and "step 1 of 4" in body
    assert "https://istio.io/latest/news/releases/1.23.x/announcing-1.23/upgrade-notes/" in body
    assert "## Rollback" in body and "Planner:" in body
    message = git(repo, "log", "-1", "--format=%B").stdout
    assert message.startswith("mesh-migrator: upgrade Istio 1.22.3 → 1.23.6")
    assert "targetRevision: 1.22.3 -> 1.23.6" in message


def test_patch_of_crlf_manifests_applies_and_says_keep_cr(tmp_path, run_cli):
    repo = make_repo(tmp_path, fixture="crlf-bom")
    base = head(repo)
    patch = tmp_path / "crlf.patch"
    code, _, err = run_cli("pr", repo, "--strategy", "skip-verify", "--patch", patch)
    assert code == 0, err
    assert "+      insecureSkipVerify: true\r\n" in patch.read_bytes().decode()
    assert f"git am --keep-cr {patch}" in err
    check = clean_checkout(repo, base, tmp_path / "check")
    assert git(check, "apply", "--check", str(patch), check=False).returncode == 0
    git(check, "-c", "user.name=R", "-c", "user.email=r@example.org", "am", "-q", "--keep-cr", str(patch))
    text = (check / "apps/payments/destinationrule-stripe.yaml").read_bytes()
    assert b"      insecureSkipVerify: true\r\n" in text and b"\n" not in text.replace(b"\r\n", b"")


def test_patch_and_body_files_are_written_like_every_other_file(tmp_path, monkeypatch):
    """`--patch`/`--body-file` go through fsio.atomic_write: an interrupt right after the temp file
    exists leaves the previous file and nothing else (a fixed temp name, as before, could be clobbered
    by a second run and was left behind)."""
    from migrator.pr import write_text

    out = tmp_path / "out" / "fix.patch"
    write_text(str(out), "first\n")
    assert out.read_text() == "first\n"
    interrupt_right_after_create(monkeypatch, lambda: write_text(str(out), "second\n"))
    assert out.read_text() == "first\n"
    assert [p.name for p in out.parent.iterdir()] == ["fix.patch"]
