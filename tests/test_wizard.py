"""`mesh-migrator wizard`: the real program in a pseudo-terminal (pexpect), answering its prompts.

Each test copies fixtures/spire-istio-1.22 (Istio 1.22.3 + SPIRE, three MM101 findings: sift-tls
port 443 and subset eu, stripe-tls) and asserts on the files: the exact lines written, or that not a
byte changed (sha256 of every file before/after) after Ctrl-C and after choosing quit.  Timeouts are
generous: prompt_toolkit in a pty is slow on small CI machines.  No test asserts on timing.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES

pexpect = pytest.importorskip("pexpect")

TIMEOUT = 90
DOWN, ENTER, CTRL_C, CTRL_U = "\x1b[B", "\r", "\x03", "\x15"
SIFT = "apps/payments/destinationrule-sift.yaml"
STRIPE = "apps/payments/destinationrule-stripe.yaml"
TEST_CA = (FIXTURES / "certs" / "example-root-ca.pem").read_text()  # the bundled test CA


# ------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def repo(tmp_path) -> Path:
    dest = tmp_path / "gitops"
    shutil.copytree(FIXTURES / "spire-istio-1.22", dest)
    return dest


def hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """(added lines, removed lines), stripped of the trailing newline."""
    added, removed = [], []
    for ln in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0):
        if ln.startswith("+") and not ln.startswith("+++"):
            added.append(ln[1:])
        elif ln.startswith("-") and not ln.startswith("---"):
            removed.append(ln[1:])
    return added, removed


def wizard_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_")) and k not in ("MANPAGER", "LESS")}
    env.update({"TERM": "xterm", "COLUMNS": "160", "LINES": "50", "NO_COLOR": "1", "PAGER": "cat", "PYTHONUNBUFFERED": "1",
                "PROMPT_TOOLKIT_NO_CPR": "1"})
    env.update(extra)
    return env


def spawn(tmp_path: Path, *args, **env):
    child = pexpect.spawn(sys.executable, ["-m", "migrator", "wizard", *map(str, args)], cwd=str(tmp_path), env=wizard_env(**env),
                          encoding="utf-8", timeout=TIMEOUT, dimensions=(int(env.get("LINES", 50)), 160))
    child.logfile_read = open(tmp_path / "pty.log", "a", encoding="utf-8")  # for post-mortems
    return child


ANSI = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"


def see(child, text: str) -> None:
    """Wait for `text` on the terminal; styling escapes (bold, dim) may sit between any two characters."""
    child.expect(ANSI.join(re.escape(c) for c in text))


def finish(child) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def pick(child, prompt: str, downs: int = 0) -> None:
    """Wait for a select prompt, move the pointer down `downs` times (disabled entries are skipped), Enter."""
    see(child, prompt)
    see(child, "(arrow keys, Enter)")
    child.send(DOWN * downs)
    child.send(ENTER)


def type_text(child, prompt: str, text: str | None) -> None:
    """Answer a text prompt: keep the default (None) or replace it with `text`."""
    see(child, prompt)
    if text is not None:
        child.send(CTRL_U + text)
    child.send(ENTER)


# Remedies offered for these MM101 findings, in the order shown: upgrade, credential-name (default),
# ca-file (disabled: SPIRE before 1.26), skip-verify, disable-verify, skip.  From the default,
# one DOWN is skip-verify (the disabled ca-file is skipped), three DOWNs is "skip".
SKIP_VERIFY, DISABLE_VERIFY, SKIP = 1, 2, 3


# --------------------------------------------------------------------------------------------- tests


def test_non_tty_stdin_points_to_the_batch_commands(repo):
    before = hashes(repo)
    proc = subprocess.run([sys.executable, "-m", "migrator", "wizard", str(repo)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=TIMEOUT, env=wizard_env())
    assert proc.returncode == 2
    assert "needs a terminal (stdin is not a TTY)" in proc.stderr
    for cmd in ("mesh-migrator scan PATH", "mesh-migrator fix PATH --strategy", "mesh-migrator plan PATH --to",
                "mesh-migrator pr PATH", "--answers FILE"):
        assert cmd in proc.stderr
    assert proc.stdout == ""
    assert hashes(repo) == before


def test_shows_inventory_and_ctrl_c_at_the_first_prompt_writes_nothing(tmp_path, repo):
    before = hashes(repo)
    child = spawn(tmp_path, repo, "--save-answers", tmp_path / "answers.yaml")
    # versions with where they are pinned, SPIRE proxies and why, findings by severity
    see(child, "Istio 1.22.3")
    see(child, "argocd/istiod.yaml:17")
    see(child, "SPIRE 1.11.0")
    see(child, "SPIRE-backed proxies (1)")
    see(child, "Deployment/payments/checkout (sidecar)")
    see(child, "mounts a csi.spiffe.io workload-socket")
    see(child, "Findings: 3 error(s), 0 warning(s)")
    see(child, "What do you want to do?")
    child.send(CTRL_C)
    see(child, "interrupted; nothing written")
    assert finish(child) == 130
    assert hashes(repo) == before
    assert not (tmp_path / "answers.yaml").exists()  # Ctrl-C records nothing either


def test_remedy_choices_show_cost_and_refusals_then_ctrl_c_writes_nothing(tmp_path, repo):
    before = hashes(repo)
    child = spawn(tmp_path, repo)
    pick(child, "What do you want to do?")  # fix in place (default)
    see(child, "1/3")
    # every remedy's full cost, and the refusal reasons, are printed (wrapped) before the menu, whose lines stay short
    see(child, "credential-name (asks for the Secret) — security cost: none for verification")
    see(child, "ca-file — refused here: caCertificates becomes the SDS name file-root:<path>")
    see(child, "skip-verify — security cost: the server certificate is NOT verified")
    see(child, "disable-verify — security cost: server certificates are no longer verified for EVERY DestinationRule")
    see(child, "How should MM101 on DestinationRule/payments/sift-tls be fixed?")
    see(child, "» credential-name (asks for the Secret)")
    see(child, "- ca-file (refused: reason above)")
    child.send(CTRL_C)
    see(child, "interrupted; nothing written")
    assert finish(child) == 130
    assert hashes(repo) == before


def _answer_three_findings(child, pem: Path) -> None:
    """sift-tls port 443: skip-verify; sift-tls subset eu: skip; stripe-tls: credential-name + CA bundle."""
    pick(child, "What do you want to do?")
    see(child, "1/3")
    pick(child, "be fixed?", SKIP_VERIFY)
    see(child, "set insecureSkipVerify: true on DestinationRule/payments/sift-tls")
    see(child, "2/3")
    pick(child, "be fixed?", SKIP)
    see(child, "3/3")
    pick(child, "How should MM101 on DestinationRule/payments/stripe-tls be fixed?")  # credential-name
    type_text(child, "Name of the Secret holding the upstream's CA", "stripe-ca")
    pick(child, "Where does the CA in Secret stripe-ca come from?")  # generate from a PEM file (default)
    type_text(child, "PEM file with the CA bundle", str(pem))
    see(child, "set credentialName: stripe-ca on DestinationRule/payments/stripe-tls")
    see(child, "can list every Secret in namespace payments")  # the cost of the generated RBAC


def test_apply_writes_exactly_the_chosen_remedies_and_replay_reproduces_them(tmp_path, repo):
    before_hashes = hashes(repo)
    before = {p: (repo / p).read_text() for p in (SIFT, STRIPE)}
    pem = tmp_path / "stripe-ca.pem"
    pem.write_text(TEST_CA)
    paged = tmp_path / "paged.txt"
    answers = tmp_path / "answers.yaml"
    # a short terminal so the diff is longer than the screen and goes through $PAGER
    child = spawn(tmp_path, repo, "--save-answers", answers, LINES="24", PAGER=f"cat > {paged}")
    _answer_three_findings(child, pem)
    see(child, "Preview of the changes")
    see(child, "q to leave it and continue")  # the pager says how to leave it
    pick(child, "What now?")  # apply (default)
    see(child, "wrote 4 file(s)")
    see(child, "re-scan: MM101 no longer reported for DestinationRule/payments/stripe-tls")
    see(child, "answers saved")
    assert finish(child) == 0

    # the preview went through the pager, with the security-cost header and the diff
    shown = paged.read_text()
    header = [ln for ln in shown.splitlines() if ln.startswith("#")]
    assert any("DestinationRule/payments/stripe-tls" in ln for ln in header)
    assert any("security cost:" in ln and "NOT verified" in ln for ln in header)
    assert "+      credentialName: stripe-ca" in shown

    after = hashes(repo)
    changed = {p for p in after if before_hashes.get(p) != after[p]}
    assert changed == {SIFT, STRIPE, "apps/payments/stripe-ca-secret.yaml", "apps/payments/checkout-istio-credential-reader.yaml"}
    # sift-tls: only the port-level block gets insecureSkipVerify; the skipped subset is untouched
    added, removed = changed_lines(before[SIFT], (repo / SIFT).read_text())
    assert added == ["          insecureSkipVerify: true"] and removed == []
    sift = yaml.safe_load((repo / SIFT).read_text())
    assert sift["spec"]["subsets"][0]["trafficPolicy"]["tls"] == {"mode": "SIMPLE", "sni": "eu.api.sift.com"}
    # stripe-tls: credentialName, a workloadSelector for the SPIRE workload, exportTo narrowed
    added, removed = changed_lines(before[STRIPE], (repo / STRIPE).read_text())
    assert removed == []
    assert "      credentialName: stripe-ca" in added
    stripe = yaml.safe_load((repo / STRIPE).read_text())
    assert stripe["spec"]["workloadSelector"] == {"matchLabels": {"app": "checkout"}}
    assert stripe["spec"]["exportTo"] == ["."]
    assert stripe["spec"]["trafficPolicy"]["tls"] == {"mode": "SIMPLE", "sni": "api.stripe.com", "credentialName": "stripe-ca"}
    secret = yaml.safe_load((repo / "apps/payments/stripe-ca-secret.yaml").read_text())
    assert secret["metadata"] == {"name": "stripe-ca", "namespace": "payments"}
    assert secret["stringData"]["ca.crt"].strip() == TEST_CA.strip()

    # the recorded answers replay without a terminal and produce the same bytes on a fresh copy
    recorded = yaml.safe_load(answers.read_text())
    assert recorded["goal"] == "fix" and recorded["action"] == "apply"
    assert [(e["path"], e["line"], e["strategy"]) for e in recorded["findings"]] == [
        (SIFT, 21, "skip-verify"), (SIFT, 29, "skip"), (STRIPE, 17, "credential-name")]
    fresh = tmp_path / "fresh"
    shutil.copytree(FIXTURES / "spire-istio-1.22", fresh)
    proc = subprocess.run([sys.executable, "-m", "migrator", "wizard", str(fresh), "--answers", str(answers)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT, env=wizard_env())
    assert proc.returncode == 0, proc.stderr
    assert hashes(fresh) == after


def test_quit_after_the_preview_writes_nothing(tmp_path, repo):
    before = hashes(repo)
    pem = tmp_path / "stripe-ca.pem"
    pem.write_text(TEST_CA)
    child = spawn(tmp_path, repo)
    _answer_three_findings(child, pem)
    see(child, "+          insecureSkipVerify: true")  # the preview is shown on the terminal
    pick(child, "What now?", 2)  # apply, patch, [pr: disabled here, not a git repository], quit
    see(child, "quit: nothing written")
    assert finish(child) == 0
    assert hashes(repo) == before


def test_ctrl_c_at_the_final_prompt_writes_nothing(tmp_path, repo):
    before = hashes(repo)
    child = spawn(tmp_path, repo)
    pick(child, "What do you want to do?")
    for i in (1, 2, 3):
        see(child, f"{i}/3")  # this finding's header: never match a re-render of the previous prompt
        pick(child, "be fixed?", SKIP_VERIFY)
    see(child, "What now?")
    child.send(CTRL_C)
    see(child, "interrupted; nothing written")
    assert finish(child) == 130
    assert hashes(repo) == before


def test_quit_as_the_goal_writes_nothing(tmp_path, repo):
    before = hashes(repo)
    child = spawn(tmp_path, repo)
    pick(child, "What do you want to do?", 2)  # fix, upgrade, quit
    see(child, "quit: nothing written")
    assert finish(child) == 0
    assert hashes(repo) == before


def test_save_patch_interactively_leaves_the_tree_alone(tmp_path, repo):
    before = hashes(repo)
    patch = tmp_path / "wizard.patch"
    child = spawn(tmp_path, repo)
    pick(child, "What do you want to do?")
    for i in (1, 2, 3):
        see(child, f"{i}/3")  # this finding's header: never match a re-render of the previous prompt
        pick(child, "be fixed?", SKIP_VERIFY)
    pick(child, "What now?", 1)  # patch
    type_text(child, "Write the patch to:", str(patch))
    see(child, "patch written")
    assert finish(child) == 0
    assert hashes(repo) == before
    text = patch.read_text()
    assert "Subject: [PATCH] mesh-migrator: fix MM101 with skip-verify (3 findings)" in text
    assert text.count("+          insecureSkipVerify: true") == 2 and text.count("+      insecureSkipVerify: true") == 1
    # it applies to the untouched tree
    check = subprocess.run(["git", "apply", "--check", str(patch)], cwd=repo, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def write_answers(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_answers_replay_opens_a_pr_branch_in_ci(tmp_path, repo):
    """A recorded session replays without a terminal; the PR action commits on a new branch."""
    env = wizard_env()
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-q", "-m", "fixture"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    body = tmp_path / "body.md"
    answers = write_answers(tmp_path / "answers.json", {
        "goal": "fix",
        "findings": [{"rule": "MM101", "resource": "DestinationRule/payments/stripe-tls", "strategy": "skip-verify"},
                     {"rule": "MM101", "path": SIFT, "line": 21, "strategy": "skip-verify"},
                     {"rule": "MM101", "path": SIFT, "line": 29, "strategy": "skip"}],
        "action": "pr", "branch": "ci/wizard", "body_file": str(body)})
    proc = subprocess.run([sys.executable, "-m", "migrator", "wizard", str(repo), "--answers", str(answers)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "branch ci/wizard created" in proc.stdout and "gh pr create" in proc.stdout
    show = subprocess.run(["git", "-C", str(repo), "show", "--stat", "--format=%s", "ci/wizard"], capture_output=True, text=True).stdout
    assert show.startswith("mesh-migrator: fix MM101 with skip-verify (2 findings)")
    assert "2 files changed, 2 insertions(+)" in show
    text = body.read_text()
    assert text.count("| [MM101](") == 2 and "NOT verified" in text


@pytest.mark.parametrize("answers, message", [
    ({"goal": "sideways"}, "goal must be one of fix, upgrade, quit"),
    ({"findings": [{"rule": "MM101", "strategy": "skip-verify"}]}, "needs path and line, or resource"),
    ({"findings": [{"rule": "MM101", "path": STRIPE, "line": 17, "strategy": "ca-file"}], "action": "apply"},
     "recorded strategy ca-file no longer works"),
    ({"colour": "blue"}, "unknown key(s) colour"),
])
def test_bad_answers_file_is_a_usage_error_and_writes_nothing(tmp_path, repo, answers, message):
    before = hashes(repo)
    path = write_answers(tmp_path / "answers.yaml", answers)
    proc = subprocess.run([sys.executable, "-m", "migrator", "wizard", str(repo), "--answers", str(path)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT, env=wizard_env())
    assert proc.returncode == 2
    assert message in proc.stderr
    assert hashes(repo) == before


def test_upgrade_goal_shows_the_planners_path_and_applies_step_one(tmp_path, repo):
    pytest.importorskip("migrator.plan")
    before = hashes(repo)
    base = (repo / "argocd/istio-base.yaml").read_text()
    istiod = (repo / "argocd/istiod.yaml").read_text()
    child = spawn(tmp_path, repo)
    pick(child, "What do you want to do?", 1)  # upgrade
    pick(child, "Upgrade Istio to which version?")  # fixed
    pick(child, "Upgrade path")  # in-place
    see(child, "Upgrade plan: Istio 1.22.3 → 1.26.8 in 4 step(s), in-place")
    see(child, "step 1: Istio 1.22.3 → 1.23.6 (2 pin(s))")
    see(child, "step 4: Istio 1.25.5 → 1.26.8 (2 pin(s); clears MM101)")
    see(child, "argocd/istiod.yaml:17  1.22.3 → 1.23.6")
    see(child, "+    targetRevision: 1.23.6")  # the preview
    pick(child, "What now?")  # apply
    see(child, "wrote 2 file(s)")
    assert finish(child) == 0
    after = hashes(repo)
    assert {p for p in after if after[p] != before[p]} == {"argocd/istio-base.yaml", "argocd/istiod.yaml"}
    for name, old in (("argocd/istio-base.yaml", base), ("argocd/istiod.yaml", istiod)):
        assert changed_lines(old, (repo / name).read_text()) == (["    targetRevision: 1.23.6"], ["    targetRevision: 1.22.3"])


def test_unknown_istio_version_is_asked_not_guessed_and_recorded(tmp_path):
    dump = tmp_path / "dump"
    shutil.copytree(FIXTURES / "kubectl-dump", dump)
    before = hashes(dump)
    answers = tmp_path / "answers.yaml"
    child = spawn(tmp_path, dump, "--save-answers", answers)
    see(child, "Istio unknown (no pin found)")
    type_text(child, "The Istio version is unknown (no pin found)", "1.22.3")
    see(child, "re-scanned assuming Istio 1.22.3: 1 finding(s)")
    pick(child, "What do you want to do?", 2)  # quit
    see(child, "quit: nothing written")
    assert finish(child) == 0
    assert hashes(dump) == before
    assert yaml.safe_load(answers.read_text()) == {"istio_version": "1.22.3", "goal": "quit", "action": "quit"}


def test_pr_action_commits_on_a_new_branch_and_keeps_the_tree_clean(tmp_path, repo):
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-q", "-m", "fixture"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    child = spawn(tmp_path, repo)
    pick(child, "What do you want to do?")
    for i in (1, 2, 3):
        see(child, f"{i}/3")  # this finding's header: never match a re-render of the previous prompt
        pick(child, "be fixed?", SKIP_VERIFY)
    pick(child, "What now?", 2)  # apply, patch, pr
    type_text(child, "Branch name:", None)  # the derived default
    type_text(child, "Write the PR description to:", None)  # default: inside .git, so the tree stays clean
    see(child, "branch mesh-migrator/mm101-skip-verify created")
    see(child, "gh pr create --base main --head mesh-migrator/mm101-skip-verify")
    assert finish(child) == 0

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True).stdout

    assert git("symbolic-ref", "--short", "HEAD").strip() == "mesh-migrator/mm101-skip-verify"
    assert git("status", "--porcelain") == ""
    assert set(git("show", "--name-only", "--format=", "HEAD").split()) == {SIFT, STRIPE}
    body = (repo / ".git" / "MESH_MIGRATOR_PR_BODY.md").read_text()
    assert body.count("| [MM101](") == 3 and "NOT verified" in body


def test_secret_and_ca_are_asked_once_per_upstream_host(tmp_path, repo):
    """sift-tls has two TLS blocks for api.sift.com: one Secret question, reused; stripe-tls asks its own."""
    pem = tmp_path / "ca.pem"
    pem.write_text(TEST_CA)
    child = spawn(tmp_path, repo)
    pick(child, "What do you want to do?")
    see(child, "1/3")
    pick(child, "be fixed?")  # credential-name
    type_text(child, "Name of the Secret holding the upstream's CA (key ca.crt) for api.sift.com", "sift-ca")
    pick(child, "Where does the CA in Secret sift-ca come from?", 1)  # I manage it elsewhere: an explicit choice
    see(child, "2/3")
    pick(child, "be fixed?")  # credential-name again: no second question for the same host
    see(child, "using Secret sift-ca (Secret managed elsewhere), as answered for api.sift.com")
    see(child, "3/3")
    pick(child, "be fixed?")
    type_text(child, "Name of the Secret holding the upstream's CA (key ca.crt) for api.stripe.com", "stripe-ca")
    see(child, "Where does the CA in Secret stripe-ca come from?")
    see(child, "(arrow keys, Enter)")
    child.send(CTRL_C)
    see(child, "interrupted; nothing written")
    assert finish(child) == 130


def test_existing_branch_gets_a_fresh_default():
    from migrator.wizard import fresh_branch

    class Git:
        existing = {"mesh-migrator/mm101-skip-verify", "mesh-migrator/mm101-skip-verify-2"}

        def branch_exists(self, name):
            return name in self.existing

    assert fresh_branch(Git(), "mesh-migrator/mm101-skip-verify") == "mesh-migrator/mm101-skip-verify-3"
    assert fresh_branch(Git(), "mesh-migrator/other") == "mesh-migrator/other"


def test_remedy_costs_wrap_at_80_columns_without_losing_words():
    import io

    from rich.console import Console

    from migrator.wizard import Offer, Session, _show_offers

    buf = io.StringIO()
    s = Session(args=None, console=Console(file=buf, width=80, no_color=True), prompter=None, replay=None)
    _show_offers(s, [Offer("disable-verify", None), Offer("ca-file", "caCertificates becomes the SDS name file-root:<path>, "
                                                                   "which the SPIRE agent refuses before Istio 1.26")])
    out = buf.getvalue()
    assert all(len(line) <= 80 for line in out.splitlines()), out
    words = " ".join(out.split())
    assert "security cost: server certificates are no longer verified for EVERY DestinationRule" in words
    assert "which the SPIRE agent refuses before Istio 1.26" in words
