"""The scanned repository is untrusted: hostile names, configs and file layouts built here, one test per attack.

Every test builds its repository under `tmp_path/repo` next to `tmp_path/outside` (a victim file) and
asserts that nothing outside the repository changed (a hash of every file, link and directory in
`tmp_path` except the repository, before and after), the exit code and the one-line reason.
Numbers refer to the items of issue 11.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FIXTURES, REPO

CA = FIXTURES / "certs" / "example-root-ca.pem"
#: the seed repo's two upstream hosts each need their own bundle (issue 14: a CA per host)
BUNDLES = ("--ca-bundle", f"api.stripe.com={CA}", "--ca-bundle", f"api.sift.com={CA}")
STRIPE = "apps/payments/destinationrule-stripe.yaml"
SIFT = "apps/payments/destinationrule-sift.yaml"


# ------------------------------------------------------------------------------------------ helpers


def outside_state(parent: Path, root: Path) -> dict:
    """Every entry under `parent` except inside `root`: content hash and mode of files, link targets, dirs."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(parent):
        here = Path(dirpath)
        for name in sorted(dirnames + filenames):
            p = here / name
            rel = p.relative_to(parent).as_posix()
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                state[rel] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                state[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), stat.S_IMODE(st.st_mode))
            else:
                state[rel] = ("dir", stat.S_IMODE(st.st_mode))
        dirnames[:] = [d for d in dirnames if here / d != root]
    return state


def tree_hashes(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.fixture
def box(tmp_path):
    """tmp_path/outside/victim.txt and a copy of the SPIRE + Istio 1.22 fixture at tmp_path/repo."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("precious, not a baseline\n")
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "spire-istio-1.22", repo, symlinks=True)

    class Box:
        def __init__(self):
            self.tmp, self.repo, self.outside = tmp_path, repo, outside
            self.before = None

        def edit(self, rel, old, new):
            p = repo / rel
            text = p.read_text()
            assert old in text, f"{old!r} not in {rel}"
            p.write_text(text.replace(old, new))

        def snapshot(self):
            self.before = outside_state(tmp_path, repo)

        def assert_outside_unchanged(self):
            assert self.before is not None
            assert outside_state(tmp_path, repo) == self.before, "a byte outside the repository changed"

    return Box()


def error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if "error" in ln or "not fixed" in ln or "refus" in ln]


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc


def commit_all(repo: Path) -> None:
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=Fixture", "-c", "user.email=fixture@example.org", "commit", "-q", "-m", "fixture")


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ---------------------------------------------------------------- 1. names from manifests are not paths


def test_1_metadata_name_with_dotdot_is_refused_and_nothing_is_written_outside(box, run_cli):
    box.edit(STRIPE, "name: stripe-tls", "name: ../../../ESCAPED")
    box.snapshot()
    code, _, err = run_cli("fix", box.repo, "--strategy", "credential-name", *BUNDLES, "--write", "--yes")
    assert code == 1, err  # a finding it was asked to fix was refused: not "ok"
    reasons = [ln for ln in err.splitlines() if "ESCAPED" in ln]
    assert reasons == [f"{STRIPE}:17: MM101: not fixed: credential-name: metadata.name: '../../../ESCAPED' is not a valid "
                       "Kubernetes name (DNS-1123: lowercase letters, digits, '-' and '.', starting and ending with a letter "
                       "or digit); not used in a generated file"]
    assert not list(box.tmp.rglob("*ESCAPED*"))
    assert "stripe" not in "".join(p.name for p in (box.repo / "apps/payments").glob("*secret*"))
    box.assert_outside_unchanged()


def test_1_service_account_name_with_dotdot_is_refused(box, run_cli):
    box.edit("apps/payments/deployment-checkout.yaml", "serviceAccountName: checkout", "serviceAccountName: ../../../../SA")
    box.snapshot()
    code, _, err = run_cli("fix", box.repo, "--strategy", "credential-name", *BUNDLES, "--write", "--yes")
    assert code == 1, err
    lines = [ln for ln in err.splitlines() if "serviceAccountName" in ln]
    assert lines and all("'../../../../SA' is not a valid Kubernetes name" in ln and ln.count("\n") == 0 for ln in lines)
    assert not list(box.tmp.rglob("*SA-istio-credential-reader*"))
    box.assert_outside_unchanged()


def test_1_generated_file_behind_a_symlink_out_of_the_root_is_not_written(box, run_cli):
    """A name can be valid and the path still escape: a (dangling) symlink where the Secret would go."""
    link = box.repo / "apps/payments/stripe-tls-ca-secret.yaml"
    link.symlink_to(box.outside / "created-through-link.yaml")
    box.snapshot()
    code, _, err = run_cli("fix", box.repo, "--strategy", "credential-name", *BUNDLES, "--write", "--yes")
    assert code == 1, err
    line = next(ln for ln in err.splitlines() if "stripe-tls-ca-secret.yaml: not fixed" in ln)
    assert line == (f"apps/payments/stripe-tls-ca-secret.yaml: not fixed: apps/payments/stripe-tls-ca-secret.yaml: resolves to "
                    f"{box.outside / 'created-through-link.yaml'}, outside {box.repo}; not written")
    assert not (box.outside / "created-through-link.yaml").exists()
    box.assert_outside_unchanged()


def test_1_inside_root_is_checked_after_resolution(tmp_path):
    from migrator.fsio import OutsideRootError, atomic_write, inside_root

    root = tmp_path / "repo"
    (root / "sub").mkdir(parents=True)
    (root / "up").symlink_to(tmp_path)
    assert inside_root(root, "sub/x.yaml") == (root / "sub/x.yaml").resolve()
    for bad in ("../x.yaml", "sub/../../x.yaml", "up/x.yaml", str(tmp_path / "x.yaml"), "."):
        with pytest.raises(OutsideRootError):
            inside_root(root, bad)
        with pytest.raises(OutsideRootError):
            atomic_write(root / bad, "x\n", root=root)
    assert not (tmp_path / "x.yaml").exists()


@pytest.mark.parametrize("name,ok", [("stripe-tls", True), ("a.b-c", True), ("x" * 253, True), ("x" * 254, False),
                                     ("../x", False), ("Stripe", False), ("-a", False), ("a_b", False), ("", False),
                                     ("a\nb", False), ("a/b", False)])
def test_1_dns1123_subdomain(name, ok):
    from migrator.names import subdomain_problem

    assert (subdomain_problem(name) is None) is ok


# ------------------------------------------------------------ 2. paths in the config file stay in the repo


def test_2_config_baseline_outside_the_repository_is_refused(box, run_cli):
    victim = box.outside / "victim.txt"
    for value in (str(victim), "../outside/victim.txt", "apps/../../outside/victim.txt"):
        (box.repo / ".mesh-migrator.yaml").write_text(f"baseline: {value}\n")
        box.snapshot()
        code, _, err = run_cli("scan", box.repo, "--update-baseline")
        assert code == 2, err
        assert err.count("\n") == 1
        assert err.startswith(f"mesh-migrator: error: {box.repo / '.mesh-migrator.yaml'}:1: baseline: {value} resolves to "
                              f"{victim}, outside the repository")
        assert victim.read_text() == "precious, not a baseline\n"
        box.assert_outside_unchanged()


def test_2_config_baseline_through_a_symlink_out_of_the_repository_is_refused(box, run_cli):
    (box.repo / "baseline.json").symlink_to(box.outside / "victim.txt")
    (box.repo / ".mesh-migrator.yaml").write_text("baseline: baseline.json\n")
    box.snapshot()
    code, _, err = run_cli("scan", box.repo, "--update-baseline")
    assert code == 2 and "outside the repository" in err and err.count("\n") == 1
    box.assert_outside_unchanged()


def test_2_baseline_is_only_written_over_a_baseline_or_nothing(box, run_cli):
    (box.repo / ".mesh-migrator.yaml").write_text(f"baseline: {STRIPE}\n")
    box.snapshot()
    before = tree_hashes(box.repo)
    code, _, err = run_cli("scan", box.repo, "--update-baseline")
    assert code == 2
    assert err == f"mesh-migrator: error: {box.repo / STRIPE}: exists and is not a mesh-migrator baseline; not overwritten " \
                  "(remove it or choose another --baseline)\n"
    assert tree_hashes(box.repo) == before
    # a new file, then an update of that baseline, both work; the path resolved against the config's directory
    (box.repo / ".mesh-migrator.yaml").write_text("baseline: ci/mesh-baseline.json\n")
    (box.repo / "ci").mkdir()
    code, _, err = run_cli("scan", box.repo / "apps", "--update-baseline")
    assert code == 0, err
    doc = json.loads((box.repo / "ci/mesh-baseline.json").read_text())
    assert doc["tool"] == "mesh-migrator" and doc["findings"]
    code, _, err = run_cli("scan", box.repo, "--update-baseline")
    assert code == 0, err
    code, _, _ = run_cli("scan", box.repo)
    assert code == 0  # everything is baselined
    box.assert_outside_unchanged()


def test_2_baseline_that_is_a_directory_is_a_usage_error(box, run_cli):
    (box.repo / "ci").mkdir()
    (box.repo / ".mesh-migrator.yaml").write_text("baseline: ci\n")
    box.snapshot()
    code, _, err = run_cli("scan", box.repo, "--update-baseline")
    assert code == 2 and err.endswith("baseline: ci is a directory, not a file\n") and err.count("\n") == 1
    code, _, err = run_cli("scan", box.repo, "--baseline", box.repo / "ci")
    assert code == 2 and err.endswith("ci: is a directory, not a baseline file\n")
    box.assert_outside_unchanged()


def test_2_config_ca_bundle_resolves_against_the_config_file_and_stays_inside(box, run_cli, monkeypatch):
    (box.repo / "certs").mkdir()
    shutil.copy(CA, box.repo / "certs/upstream-ca.pem")
    shutil.copy(CA, box.outside / "ca.pem")
    monkeypatch.chdir(box.outside)  # the current directory must not matter
    (box.repo / ".mesh-migrator.yaml").write_text(
        "fix:\n  ca_bundle:\n    api.stripe.com: certs/upstream-ca.pem\n    api.sift.com: certs/upstream-ca.pem\n")
    box.snapshot()
    code, diff, err = run_cli("fix", box.repo, "--strategy", "credential-name")
    assert code == 0, err
    assert "+    -----BEGIN CERTIFICATE-----" in diff
    for value, reason in (("../outside/ca.pem", "outside the repository"), ("certs/missing.pem", "cannot read a PEM file")):
        (box.repo / ".mesh-migrator.yaml").write_text(f"fix:\n  ca_bundle:\n    api.stripe.com: {value}\n    api.sift.com: {value}\n")
        code, diff, err = run_cli("fix", box.repo, "--strategy", "credential-name")
        assert code == 2 and diff == "" and reason in err and err.count("\n") == 1, err
        assert str(box.repo / ".mesh-migrator.yaml") in err
    box.assert_outside_unchanged()


# ---------------------------------------------------- 3. pr never commits what the user did not ask for


@pytest.fixture
def quoted_repo(box):
    """The two DestinationRules renamed to names `git status` quotes: non-ASCII and a double quote."""
    pay = box.repo / "apps/payments"
    (pay / "destinationrule-stripe.yaml").rename(pay / "dr-strïpe.yaml")
    (pay / "destinationrule-sift.yaml").rename(pay / 'dr"q.yaml')
    (pay / "notes-ü.yaml").write_text("# team notes\nowner: payments\n")
    commit_all(box.repo)
    return box


def test_3_allow_dirty_refuses_to_edit_a_modified_file_with_a_quoted_name(quoted_repo, run_cli):
    box = quoted_repo
    user_edit = box.repo / "apps/payments/dr-strïpe.yaml"
    user_edit.write_text(user_edit.read_text() + "# my uncommitted edit\n")
    head = git(box.repo, "rev-parse", "HEAD").stdout
    box.snapshot()
    code, _, err = run_cli("pr", box.repo, "--strategy", "skip-verify", "--allow-dirty")
    assert code == 2
    assert "these files would be edited but have uncommitted changes" in err
    assert ' M "apps/payments/dr-str\\303\\257pe.yaml"' in err  # shown the way git shows it
    assert git(box.repo, "rev-parse", "HEAD").stdout == head
    assert git(box.repo, "branch", "--list").stdout.strip() == "* main"
    assert user_edit.read_text().endswith("# my uncommitted edit\n")
    box.assert_outside_unchanged()


def test_3_allow_dirty_commits_exactly_the_written_files(quoted_repo, run_cli):
    box = quoted_repo
    notes = box.repo / "apps/payments/notes-ü.yaml"
    notes.write_text(notes.read_text() + "oncall: me\n")
    (box.repo / "apps/payments/untracked ü.yaml").write_text("kind: ConfigMap\n")
    box.snapshot()
    code, _, err = run_cli("pr", box.repo, "--strategy", "skip-verify", "--allow-dirty", "--branch", "fix/quoted")
    assert code == 0, err
    files = git(box.repo, "diff-tree", "-r", "--no-commit-id", "--name-only", "-z", "fix/quoted").stdout.split("\0")
    assert sorted(f for f in files if f) == ['apps/payments/dr"q.yaml', "apps/payments/dr-strïpe.yaml"]
    status = git(box.repo, "status", "--porcelain=v1", "-z").stdout.split("\0")
    assert " M apps/payments/notes-ü.yaml" in status and "?? apps/payments/untracked ü.yaml" in status
    box.assert_outside_unchanged()


def test_3_literal_pathspecs_a_file_named_like_a_glob_stages_only_itself(box, run_cli):
    pay = box.repo / "apps/payments"
    (pay / "destinationrule-stripe.yaml").rename(pay / "*.yaml")
    commit_all(box.repo)
    (pay / "service.yaml").write_text((pay / "service.yaml").read_text() + "# dirty, not the tool's\n")
    box.snapshot()
    code, _, err = run_cli("pr", box.repo, "--strategy", "skip-verify", "--allow-dirty", "--branch", "fix/glob")
    assert code == 0, err
    files = git(box.repo, "diff-tree", "-r", "--no-commit-id", "--name-only", "fix/glob").stdout.split()
    assert sorted(files) == ["apps/payments/*.yaml", SIFT]
    assert git(box.repo, "status", "--porcelain").stdout == " M apps/payments/service.yaml\n"
    box.assert_outside_unchanged()


# ------------------------------------------------------------ 4. Ctrl-C during --write: all or nothing


def _many_drs(box, n):
    text = (box.repo / STRIPE).read_text()
    for i in range(n):
        (box.repo / f"apps/payments/dr-{i:03d}.yaml").write_text(
            text.replace("name: stripe-tls", f"name: upstream-{i:03d}").replace("api.stripe.com", f"api{i}.example.com"))


@pytest.mark.parametrize("after_replace", [False, True], ids=["before-3rd-rename", "after-3rd-rename"])
def test_4_interrupt_rolls_back_the_batch_and_says_so(box, run_cli, monkeypatch, after_replace):
    import migrator.fsio as fsio

    _many_drs(box, 5)
    box.snapshot()
    before = tree_hashes(box.repo)
    real, calls = fsio.atomic_write, []

    def interrupted(*a, **kw):
        calls.append(a[0])
        if len(calls) == 3:
            if after_replace:
                real(*a, **kw)
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(fsio, "atomic_write", interrupted)
    code, _, err = run_cli("fix", box.repo, "--strategy", "skip-verify", "--write", "--yes")
    assert code == 130
    n = 3 if after_replace else 2
    assert err.splitlines()[-1] == f"interrupted: rolled back the {n} file(s) already written; no file changed"
    assert tree_hashes(box.repo) == before
    assert not [p for p in box.repo.rglob("*.tmp")]
    box.assert_outside_unchanged()


def test_4_real_sigint_leaves_all_or_nothing_and_the_message_matches(box):
    _many_drs(box, 120)
    box.snapshot()
    before = tree_hashes(box.repo)
    targets = [box.repo / STRIPE] + sorted((box.repo / "apps/payments").glob("dr-*.yaml"))
    proc = subprocess.Popen([sys.executable, "-m", "migrator", "fix", str(box.repo), "--strategy", "skip-verify", "--write",
                             "--yes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if any(hashlib.sha256(t.read_bytes()).hexdigest() != before[t.relative_to(box.repo).as_posix()] for t in targets[::7]):
            proc.send_signal(2)
            break
    _, err = proc.communicate(timeout=120)
    after = tree_hashes(box.repo)
    changed = {k for k in before if after.get(k) != before[k]}
    if proc.returncode == 130:
        assert "interrupted: rolled back the" in err and "no file changed" in err
        assert changed == set()
    else:  # the batch finished before the signal arrived: then everything is written and said
        assert proc.returncode == 0, err
        assert f"wrote {len(changed)} file(s)" in err and len(changed) == 122
    assert not [p for p in box.repo.rglob("*.tmp")]
    box.assert_outside_unchanged()


# ------------------------------------------------------------------- 5. no key material in a Secret


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + body


def _pem(label: str, der: bytes) -> str:
    b64 = base64.b64encode(der).decode()
    return f"-----BEGIN {label}-----\n" + "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64)) + f"\n-----END {label}-----\n"


PBES2 = _der(0x06, bytes.fromhex("2a864886f70d01050d"))  # 1.2.840.113549.1.5.13
ENCRYPTED_PKCS8 = _der(0x30, _der(0x30, PBES2 + _der(0x30, b"")) + _der(0x04, os.urandom(1200)))
PKCS8 = _der(0x30, _der(0x02, b"\x00") + _der(0x30, _der(0x06, bytes.fromhex("2a8648ce3d0201"))) + _der(0x04, os.urandom(100)))


@pytest.mark.parametrize("bundle,reason", [
    (_pem("CERTIFICATE", ENCRYPTED_PKCS8), "block 1 is not a DER X.509 certificate (it is an encrypted PKCS#8 private key)"),
    (CA.read_text() + _pem("CERTIFICATE", PKCS8), "block 2 is not a DER X.509 certificate (it is a PKCS#8 private key)"),
    (CA.read_text() + _pem("ENCRYPTED PRIVATE KEY", ENCRYPTED_PKCS8), "contains a private key"),
    (_pem("EC PARAMETERS", b"\x06\x05+\x81\x04\x00\x22") + CA.read_text(), "block 1 is 'EC PARAMETERS', not CERTIFICATE"),
    (_pem("PUBLIC KEY", PKCS8) + CA.read_text(), "block 1 is labelled 'PUBLIC KEY': key material"),
    (CA.read_text() * 900, "over the 1 MiB Kubernetes Secret limit"),
], ids=["encrypted-pkcs8-as-certificate", "pkcs8-as-certificate", "key-label", "other-label", "key-under-other-label", "over-1MiB"])
def test_5_key_material_and_oversized_bundles_are_refused(box, run_cli, bundle, reason):
    pem = box.repo / "certs" / "bundle.pem"
    pem.parent.mkdir()
    pem.write_text(bundle)
    box.snapshot()
    before = tree_hashes(box.repo)
    code, diff, err = run_cli("fix", box.repo, "--strategy", "credential-name", "--ca-bundle", pem, "--write", "--yes")
    assert code == 2 and diff == ""
    assert err.count("\n") == 1 and err.startswith(f"mesh-migrator: error: --ca-bundle {pem}: ") and reason in err, err
    assert tree_hashes(box.repo) == before
    box.assert_outside_unchanged()


def test_5_real_certificates_pass_the_strict_check():
    from migrator.pem import certificate_problem, parse_bundle

    pems = parse_bundle(CA.read_text() * 3)
    assert len(pems) == 3
    der = base64.b64decode("".join(pems[0].splitlines()[1:-1]))
    assert certificate_problem(der) is None
    assert certificate_problem(der + b"\x00") == "bytes after the certificate"
    assert certificate_problem(der[:-1]) is not None


# ------------------------------------------------------------------ 6. symlinks inside the root


def test_6_symlink_inside_the_root_is_one_file(box, run_cli, scan_json):
    (box.repo / "apps/payments/stripe-link.yaml").symlink_to("destinationrule-stripe.yaml")
    (box.repo / "mirror").symlink_to("apps", target_is_directory=True)
    box.snapshot()
    _, plain, _ = scan_json(FIXTURES / "spire-istio-1.22")
    _, report, _ = scan_json(box.repo)
    found = sorted((f["rule"], f["path"], f["line"]) for f in report["findings"])
    assert found == sorted((f["rule"], f["path"], f["line"]) for f in plain["findings"])  # not doubled, real paths
    assert {f["path"] for f in report["findings"] if f["rule"] == "MM101"} == {SIFT, STRIPE}
    code, _, err = run_cli("fix", box.repo, "--strategy", "skip-verify", "--write", "--yes")
    assert code == 0, err
    assert "changed on disk" not in err and err.strip().endswith("wrote 2 file(s)")
    assert (box.repo / "apps/payments/stripe-link.yaml").is_symlink()
    assert "insecureSkipVerify: true" in (box.repo / STRIPE).read_text()
    box.assert_outside_unchanged()


def test_6_pr_with_a_symlinked_manifest_commits_the_real_file(box, run_cli):
    (box.repo / "apps/payments/stripe-link.yaml").symlink_to("destinationrule-stripe.yaml")
    commit_all(box.repo)
    box.snapshot()
    code, _, err = run_cli("pr", box.repo, "--strategy", "skip-verify", "--branch", "fix/links")
    assert code == 0, err
    files = git(box.repo, "diff-tree", "-r", "--no-commit-id", "--name-only", "fix/links").stdout.split()
    assert sorted(files) == [SIFT, STRIPE]
    box.assert_outside_unchanged()


# ------------------------------------------------------------- 7. temp files left by a killed write


def test_7_stale_temp_files_are_reported_then_removed_by_the_next_write(box, run_cli):
    pay = box.repo / "apps/payments"
    pid = dead_pid()
    ours = pay / f".destinationrule-stripe.yaml.mm{pid}.k3j4h5g6.tmp"
    ours.write_text("half a manifest")
    old_style = pay / ".destinationrule-sift.yaml.q8w7e6r5.tmp"  # before the pid was in the name: only reported
    old_style.write_text("half a manifest")
    not_ours = pay / ".destinationrule-sift.yaml.swp"
    not_ours.write_text("an editor's")
    box.snapshot()
    code, _, err = run_cli("scan", box.repo)
    assert code == 1
    reported = sorted(ln.split(":")[0] for ln in err.splitlines() if "interrupted mesh-migrator write" in ln)
    assert reported == sorted(str(p.relative_to(box.repo)) for p in (ours, old_style))
    code, _, err = run_cli("fix", box.repo, "--strategy", "skip-verify", "--write", "--yes")
    assert code == 0, err
    assert not ours.exists() and old_style.exists() and not_ours.exists()
    box.assert_outside_unchanged()


def test_7_a_killed_writer_leaves_a_temp_file_the_next_run_removes(box):
    """The real thing: a child creates its temp file like atomic_write and is SIGKILLed before the rename."""
    target = box.repo / STRIPE
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        import tempfile

        os.close(r)
        tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.mm{os.getpid()}.", suffix=".tmp")
        os.write(w, b"x")
        time.sleep(60)
        os._exit(0)
    os.close(w)
    os.read(r, 1)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    left = list(target.parent.glob(f".{target.name}.mm{pid}.*.tmp"))
    assert len(left) == 1
    box.snapshot()
    from migrator.fsio import atomic_write

    text = target.read_text()
    atomic_write(target, text + "# touched\n", root=box.repo)
    assert not left[0].exists()
    box.assert_outside_unchanged()


# ----------------------------------------------------------------- 8. unreadable directories


def _run_unprivileged(repo: Path, out: Path, *args: str) -> tuple[int, str]:
    """Run the CLI as `nobody` when we are root (root reads every directory), in a child either way."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 3
        try:
            if os.geteuid() == 0:
                os.environ["HOME"] = str(out)
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            with open(out / "stderr", "w") as err_fh, open(out / "stdout", "w") as out_fh:
                sys.stderr, sys.stdout = err_fh, out_fh
                from migrator.cli import main

                code = main([*args, str(repo)])
        except BaseException as exc:
            with open(out / "stderr", "a") as fh:
                fh.write(f"child failed: {type(exc).__name__}: {exc}\n")
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), (out / "stderr").read_text()


@pytest.mark.parametrize("in_git", [False, True], ids=["plain-tree", "git-work-tree"])
def test_8_unreadable_directory_is_reported_like_an_unreadable_file(box, in_git, run_cli):
    import tempfile

    run_cli("scan", box.repo, "--format", "json")  # warm up: `nobody` may not read every directory on sys.path

    # a place `nobody` can reach: pytest's tmp_path is private to root
    base = Path(tempfile.mkdtemp(prefix="mm-unreadable-"))
    try:
        os.chmod(base, 0o755)
        repo = base / "repo"
        shutil.copytree(box.repo, repo)
        (repo / "apps/secret-team").mkdir()
        shutil.move(repo / SIFT, repo / "apps/secret-team/destinationrule-sift.yaml")
        if in_git:
            commit_all(repo)
        out = base / "out"
        out.mkdir()
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "65534:65534", str(repo), str(out)], check=True)
        os.chmod(repo / "apps/secret-team", 0)
        before = outside_state(base, repo)
        code, err = _run_unprivileged(repo, out, "scan", "--format", "json")
        os.chmod(repo / "apps/secret-team", 0o755)
        assert code == 1, err  # the Stripe finding is still there
        assert "apps/secret-team/: error: cannot read directory: Permission denied; files in it were not scanned" in err.splitlines()
        report = json.loads((out / "stdout").read_text())
        assert [f["path"] for f in report["findings"] if f["rule"] == "MM101"] == [STRIPE]
        assert {k: v for k, v in outside_state(base, repo).items() if not k.startswith("out/")} == \
               {k: v for k, v in before.items() if not k.startswith("out/")}
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", str(base)], check=False)
        shutil.rmtree(base, ignore_errors=True)


# ------------------------------------------------------------------------------ 9. the smaller ones


def test_9_file_names_with_tab_and_newline_give_a_diff_git_apply_accepts(box, run_cli):
    pay = box.repo / "apps/payments"
    (pay / "destinationrule-stripe.yaml").rename(pay / "dr\tstripe.yaml")
    (pay / "destinationrule-sift.yaml").rename(pay / "dr\nsift.yaml")
    box.snapshot()
    code, diff, err = run_cli("fix", box.repo, "--strategy", "skip-verify", "--no-header")
    assert code == 0, err
    assert 'diff --git "a/apps/payments/dr\\tstripe.yaml" "b/apps/payments/dr\\tstripe.yaml"' in diff
    assert '+++ "b/apps/payments/dr\\nsift.yaml"' in diff
    copy = box.tmp / "copy"
    shutil.copytree(box.repo, copy, symlinks=True)
    patch = box.tmp / "fix.patch"
    patch.write_text(diff)
    subprocess.run(["git", "apply", "--check", str(patch)], cwd=copy, check=True, capture_output=True)
    subprocess.run(["git", "apply", str(patch)], cwd=copy, check=True, capture_output=True)
    code, _, err = run_cli("fix", box.repo, "--strategy", "skip-verify", "--write", "--yes")
    assert code == 0, err
    assert tree_hashes(copy) == tree_hashes(box.repo)
    shutil.rmtree(copy)
    patch.unlink()
    box.assert_outside_unchanged()


def test_9_diff_header_cannot_be_injected_by_a_resource_name(box, run_cli):
    box.edit(STRIPE, "name: stripe-tls", 'name: "x\\ndiff --git a/../outside/victim.txt b/../outside/victim.txt"')
    code, diff, _ = run_cli("fix", box.repo, "--strategy", "skip-verify")
    assert code == 0
    assert all(ln.startswith("#") for ln in diff.split("diff --git", 1)[0].splitlines())
    assert "\ndiff --git a/../" not in diff


def test_9_failing_hook_is_quoted_without_the_commit_message_and_no_verify_skips_it(box, run_cli):
    commit_all(box.repo)
    hook = box.repo / ".git/hooks/pre-commit"
    hook.write_text("#!/bin/sh\necho 'yamllint: 3 errors' >&2\ntouch .git/hook-ran\nexit 1\n")
    hook.chmod(0o755)
    box.snapshot()
    code, _, err = run_cli("pr", box.repo, "--strategy", "skip-verify", "--branch", "fix/hooked")
    assert code == 2
    assert err == ("mesh-migrator: error: git commit failed (pr runs your git hooks; --no-verify skips them): "
                   "yamllint: 3 errors\n")
    assert (box.repo / ".git/hook-ran").exists()
    assert git(box.repo, "status", "--porcelain").stdout == ""  # rolled back
    (box.repo / ".git/hook-ran").unlink()
    code, _, err = run_cli("pr", box.repo, "--strategy", "skip-verify", "--branch", "fix/hooked", "--no-verify")
    assert code == 0, err
    assert not (box.repo / ".git/hook-ran").exists()
    assert git(box.repo, "rev-parse", "--verify", "-q", "fix/hooked", check=False).returncode == 0
    box.assert_outside_unchanged()


@pytest.mark.parametrize("encoding,bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b""), ("utf-32-le", b"")])
def test_9_utf16_and_utf32_files_are_named_not_called_binary(box, run_cli, encoding, bom):
    dr = box.repo / SIFT
    dr.write_bytes(bom + dr.read_text().encode(encoding))
    box.snapshot()
    code, _, err = run_cli("scan", box.repo, "--format", "json")  # text output shows it as an MM001 finding instead
    assert code == 1
    name = encoding.upper().replace("-LE", "LE").replace("-BE", "BE").replace("UTF-", "UTF-")
    line = next(ln for ln in err.splitlines() if ln.startswith(SIFT))
    assert line == (f"{SIFT}: error: {name} text, not UTF-8; YAML files must be UTF-8 (convert with iconv -f {name} "
                    "-t UTF-8); not scanned")
    assert "binary" not in err
    box.assert_outside_unchanged()


@pytest.mark.parametrize("content,expected", [
    (b"target: '1.23'\nexclude: [a]\ntarget: '1.24'\n", ":3: duplicate key 'target' (first at line 1)"),
    (b"fix:\n  secret_name: a\n  secret_name: b\n", ":3: duplicate key 'secret_name' (first at line 2)"),
    (b"target: 2024-01-01\n", ":1: target: datetime.date(2024, 1, 1) is not of type 'string'"),
    (b"target: " + b"9" * 5000 + b"\n", ": a value cannot be read: Exceeds the limit"),
    (b"versions:\n  istio: 1.22\n  spire: 1.9\n", ":2: versions.istio: 1.22 is not of type 'string'"),
    (b"exclude:\n  - caf\xe9/*\n", ":2: not UTF-8 (byte 0xe9 at offset 16); the config file must be UTF-8"),
    ("target: '1.22'\n".encode("utf-16"), ":1: the config file is UTF-16LE text; it must be UTF-8"),
    (b"baseline: [a, b]\n", ":1: baseline: ['a', 'b'] is not of type 'string'"),
    (b"- just\n- a list\n", ":1: (top level): ['just', 'a list'] is not of type 'object'"),
    (b"exclude: *nope\n", ":1: YAML syntax error: found undefined alias"),
], ids=["dup-top", "dup-nested", "timestamp", "5000-digit-int", "float-version", "latin-1", "utf-16", "list-baseline",
        "not-a-mapping", "bad-alias"])
def test_9_bad_config_values_are_usage_errors_with_file_and_line(box, run_cli, content, expected):
    cfg = box.repo / ".mesh-migrator.yaml"
    cfg.write_bytes(content)
    box.snapshot()
    code, _, err = run_cli("scan", box.repo)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"mesh-migrator: error: {cfg}") and expected in err, err
    box.assert_outside_unchanged()


def test_9_a_2mb_config_value_is_not_echoed(box, run_cli):
    cfg = box.repo / ".mesh-migrator.yaml"
    cfg.write_text("target: '" + "1" * 2_000_000 + "'\nrules:\n  enable: ['" + "X" * 2_000_000 + "']\n")
    box.snapshot()
    code, _, err = run_cli("scan", box.repo)
    assert code == 2
    assert err.count("\n") == 1 and len(err) < 600, err[:1000]
    box.assert_outside_unchanged()


def test_9_two_hundred_thousand_exclude_patterns_are_fast(box, run_cli, scan_json):
    patterns = [f"generated/tenant-{i}/*.yaml" for i in range(100_000)] + [f"*.bak{i}" for i in range(50_000)] \
        + [f"legacy-{i}" for i in range(50_000)] + ["apps/payments/destinationrule-sift.yaml"]
    (box.repo / ".mesh-migrator.yaml").write_text(json.dumps({"exclude": patterns}))
    box.snapshot()
    started = time.monotonic()
    code, report, err = scan_json(box.repo)
    elapsed = time.monotonic() - started
    assert code == 1, err
    assert [f["path"] for f in report["findings"] if f["rule"] == "MM101"] == [STRIPE]  # the excluded one is gone
    assert elapsed < 20, f"{elapsed:.1f}s"  # was over a minute; about 3 s here on a shared 2-core machine
    box.assert_outside_unchanged()


# ------------------------------------------------------------------ repository content is never run


def test_git_config_in_the_scanned_tree_cannot_run_a_program(box, run_cli):
    """A copied or unpacked tree may carry its own .git/config; core.fsmonitor there names a program
    that `git ls-files`/`git status` would run.  The tool passes core.fsmonitor=false to every git call."""
    commit_all(box.repo)
    hook = box.tmp / "fsmonitor-hook"  # lives outside: if it ran, the outside hash would change too
    hook.write_text(f"#!/bin/sh\ntouch {box.outside / 'PWNED'}\n")
    hook.chmod(0o755)
    git(box.repo, "config", "core.fsmonitor", str(hook))
    subprocess.run(["git", "-C", str(box.repo), "status"], capture_output=True)
    assert (box.outside / "PWNED").exists(), "the hook must work for this test to mean anything"
    (box.outside / "PWNED").unlink()
    box.snapshot()
    code, _, err = run_cli("scan", box.repo)
    assert code == 1, err
    code, _, err = run_cli("fix", box.repo, "--strategy", "skip-verify", "--write", "--yes")
    assert code == 0, err
    code, _, err = run_cli("pr", box.repo, "--strategy", "skip-verify", "--allow-dirty", "--patch", box.repo / "fix.patch")
    assert not (box.outside / "PWNED").exists()
    box.assert_outside_unchanged()


def test_9_patch_file_with_a_newline_in_a_file_name_applies_and_cannot_smuggle_a_diff(box, run_cli):
    pay = box.repo / "apps/payments"
    (pay / "destinationrule-sift.yaml").rename(pay / "x\ndiff --git a b\nsift.yaml")
    commit_all(box.repo)
    patch = box.repo / "fix.patch"
    box.snapshot()
    code, _, err = run_cli("pr", box.repo, "--strategy", "skip-verify", "--patch", patch, "--body-file", box.repo / "body.md")
    assert code == 0, err
    text = patch.read_text()
    assert not [ln for ln in text.splitlines() if ln.startswith(("diff --git a b", "sift.yaml"))]
    assert '"apps/payments/x\\ndiff --git a b\\nsift.yaml"' in text  # quoted as git quotes it
    copy = box.tmp / "copy"
    git(box.repo, "worktree", "add", "-q", "--detach", str(copy), "HEAD")
    subprocess.run(["git", "apply", "--check", str(patch)], cwd=copy, check=True, capture_output=True)
    git(box.repo, "worktree", "remove", "--force", str(copy))
    box.assert_outside_unchanged()


def test_9_exclude_matcher_agrees_with_fnmatch_semantics():
    """The indexed matcher must exclude exactly what the old loop over fnmatch excluded."""
    import fnmatch

    from hypothesis import given, settings, strategies as st

    from migrator.discover import ExcludeMatcher

    def reference(rel, patterns):
        for pattern in patterns:
            pat = pattern.rstrip("/")
            if fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(rel, pat + "/*") or any(fnmatch.fnmatch(p, pat) for p in rel.split("/")):
                return True
        return False

    atoms = st.sampled_from(["a", "b", "cache", ".d", "x.yaml", "*", "?", "[ab]", "/", "-", "**"])
    pattern = st.lists(atoms, min_size=1, max_size=5).map("".join)
    path = st.lists(st.sampled_from(["a", "b", "cache", "x.yaml", "a.d", "ab", "b-a"]), min_size=1, max_size=4).map("/".join)

    @settings(max_examples=400, deadline=None)
    @given(st.lists(pattern, min_size=1, max_size=4), path)
    def check(patterns, rel):
        assert ExcludeMatcher(patterns)(rel) == reference(rel, patterns), (patterns, rel)

    check()
    assert ExcludeMatcher(["*/cache"])("a/cache/x.yaml")  # a leading directory matches a wildcard-first pattern
