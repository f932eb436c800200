"""`mesh-migrator fix` end to end: golden diffs per scenario and strategy, re-scan, idempotence, safety.

Golden patches live in tests/golden/ and were reviewed by hand; regenerate them with
`MM_UPDATE_GOLDEN=1 python -m pytest tests/test_fix.py` and review the git diff before committing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, REPO

GOLDEN = REPO / "tests" / "golden"
CA = str(FIXTURES / "certs" / "example-root-ca.pem")
CA2 = str(FIXTURES / "certs" / "example-fraud-scoring-root-ca.pem")

#: (case name, scenario, strategy args, rules the strategy fixes there)
CASES = [
    # one CA per upstream host (stripe and sift have unrelated CAs)
    ("seed__credential-name", "spire-istio-1.22", ["--strategy", "credential-name", "--ca-bundle", f"api.stripe.com={CA}",
                                                   "--ca-bundle", f"api.sift.com={CA2}"], {"MM101"}),
    ("seed__skip-verify", "spire-istio-1.22", ["--strategy", "skip-verify"], {"MM101"}),
    ("seed__disable-verify", "spire-istio-1.22", ["--strategy", "disable-verify"], {"MM101"}),
    ("ca-file-spire__credential-name", "ca-file-spire-1.23", ["--strategy", "credential-name", "--secret-name", "{name}-credential"], {"MM101", "MM102"}),
    ("gateway-file-certs__credential-name", "gateway-file-certs", ["--strategy", "credential-name", "--secret-name", "public-gateway-tls"], {"MM103"}),
    ("no-spire__ca-file", "no-spire-istio-1.22", ["--strategy", "ca-file", "--ca-path", "/etc/ssl/certs/corp-root-ca.pem"], {"MM110"}),
    ("no-spire__skip-verify", "no-spire-istio-1.22", ["--strategy", "skip-verify"], {"MM110"}),
    ("crlf-bom__skip-verify", "crlf-bom", ["--strategy", "skip-verify"], {"MM101"}),
    ("kubectl-dump__skip-verify", "kubectl-dump", ["--strategy", "skip-verify", "--istio-version", "1.22.3"], {"MM101"}),
    ("multi-env__skip-verify", "multi-env", ["--strategy", "skip-verify"], {"MM101"}),
    ("flag-false-1.24__credential-name", "flag-false-istio-1.24", ["--strategy", "credential-name", "--ca-bundle", CA], {"MM101"}),
    ("bad-input__skip-verify", "bad-input", ["--strategy", "skip-verify"], {"MM101"}),
    # MM104 (credentialName without workloadSelector: the sidecar sends plaintext, istio/istio 1.22.0
    # pilot/pkg/networking/core/cluster_tls.go) is fixed without any input: the selector part of credential-name
    ("no-selector__default", "credential-name-no-selector", [], {"MM104"}),
    # 1.23 istiod chart reads only .Values.pilot.env (istio/istio 1.23.0 manifests/charts/istio-control/
    # istio-discovery/templates/deployment.yaml): pilot.env is written even where the values use top-level env,
    # and the revision-tags-only release is left alone
    ("flat-env-1.23__disable-verify", "disable-verify-flat-env-1.23", ["--strategy", "disable-verify"], {"MM101"}),
]


def _copy(tmp_path, scenario):
    dst = tmp_path / scenario
    shutil.copytree(FIXTURES / scenario, dst, symlinks=True)
    return dst


def _hashes(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def _rules(report, rules):
    return [(f["rule"], f["path"], f["line"]) for f in report["findings"] if f["rule"] in rules and not f["suppressed"]]


@pytest.mark.parametrize("case,scenario,args,rules", CASES, ids=[c[0] for c in CASES])
def test_fix_matches_golden_patch_then_rescan_is_clean_and_second_run_is_noop(case, scenario, args, rules, tmp_path, run_cli, scan_json):
    repo = _copy(tmp_path, scenario)
    before = _hashes(repo)
    code, diff, err = run_cli("fix", str(repo), *args)
    assert code == 0, err
    assert _hashes(repo) == before, "a dry run writes nothing"
    golden = GOLDEN / f"{case}.patch"
    if os.environ.get("MM_UPDATE_GOLDEN"):
        golden.write_bytes(diff.replace(str(FIXTURES), "<FIXTURES>").encode("utf-8"))
    assert diff.replace(str(FIXTURES), "<FIXTURES>") == golden.read_bytes().decode("utf-8")  # CRLF kept

    extra = [a for a in args if a.startswith("--istio")] + (["1.22.3"] if "--istio-version" in args else [])
    _, report, _ = scan_json(str(repo), *extra)
    assert _rules(report, rules), "the scenario has findings for the strategy to fix"
    code, _, err = run_cli("fix", str(repo), *args, "--write", "--yes")
    assert code == 0, err
    _, report, _ = scan_json(str(repo), *extra)
    assert _rules(report, rules) == [], "re-scan after the fix still reports the fixed rule"
    assert _rules(report, {"MM104", "MM107"}) == [], "a remedy must never create MM104/MM107"

    after = _hashes(repo)
    code, second, _ = run_cli("fix", str(repo), *args, "--check")
    assert code == 0 and "diff --git" not in second, "a second fix is a no-op"
    assert _hashes(repo) == after


def test_git_apply_accepts_the_dry_run_diff(tmp_path, run_cli):
    repo = _copy(tmp_path, "spire-istio-1.22")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "init"], check=True)
    _, diff, _ = run_cli("fix", str(repo), "--strategy", "credential-name", "--ca-bundle", f"api.stripe.com={CA}",
                         "--ca-bundle", f"api.sift.com={CA2}")
    patch = tmp_path / "fix.patch"
    patch.write_text(diff)
    proc = subprocess.run(git + ["apply", "--check", str(patch)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    subprocess.run(git + ["apply", str(patch)], check=True)
    status = subprocess.run(git + ["status", "--porcelain"], capture_output=True, text=True).stdout
    assert "?? apps/payments/stripe-tls-ca-secret.yaml" in status
    assert " M apps/payments/destinationrule-stripe.yaml" in status


def test_ca_file_is_refused_under_spire_before_1_26(tmp_path, run_cli):
    repo = _copy(tmp_path, "spire-istio-1.22")
    before = _hashes(repo)
    code, diff, err = run_cli("fix", str(repo), "--strategy", "ca-file", "--ca-path", "/etc/ssl/certs/ca.pem", "--write", "--yes")
    assert "diff --git" not in diff
    assert "apps/payments/destinationrule-stripe.yaml:17: MM101: not fixed: ca-file: caCertificates becomes the SDS name file-root:<path>" in err
    assert _hashes(repo) == before


def test_disable_verify_is_refused_on_1_24(tmp_path, run_cli):
    repo = _copy(tmp_path, "flag-false-istio-1.24")
    code, diff, err = run_cli("fix", str(repo), "--strategy", "disable-verify")
    assert "diff --git" not in diff
    assert "VERIFY_CERTIFICATE_AT_CLIENT does not exist on Istio 1.24.2 (removed in 1.24" in err


def test_credential_name_refuses_a_private_key(tmp_path, run_cli):
    repo = _copy(tmp_path, "spire-istio-1.22")
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(open(CA).read() + "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    code, diff, err = run_cli("fix", str(repo), "--strategy", "credential-name", "--ca-bundle", f"api.stripe.com={bundle}",
                           "--ca-bundle", f"api.sift.com={bundle}")
    assert "diff --git" not in diff
    assert "contains a private key; refusing to put it in a manifest" in err


def test_credential_name_refuses_garbage_pem(tmp_path, run_cli):
    repo = _copy(tmp_path, "spire-istio-1.22")
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGUgYXQgYWxs\n-----END CERTIFICATE-----\n")
    _, diff, err = run_cli("fix", str(repo), "--strategy", "credential-name", "--ca-bundle", f"api.stripe.com={bundle}",
                           "--ca-bundle", f"api.sift.com={bundle}")
    assert "diff --git" not in diff and "is not a DER X.509 certificate" in err


def test_without_strategy_findings_need_a_decision_and_nothing_changes(tmp_path, run_cli):
    repo = _copy(tmp_path, "spire-istio-1.22")
    code, diff, err = run_cli("fix", str(repo), "--check")
    assert code == 1 and "diff --git" not in diff, "an undecided finding is pending: the pre-commit hook must fail"
    assert "apps/payments/destinationrule-stripe.yaml:17: MM101: needs a decision: pass --strategy" in err


def test_config_file_strategy_per_rule(tmp_path, run_cli):
    repo = _copy(tmp_path, "spire-istio-1.22")
    (repo / ".mesh-migrator.yaml").write_text("rules:\n  strategy:\n    MM101: skip-verify\n")
    code, diff, _ = run_cli("fix", str(repo), "--check")
    assert code == 1 and diff.count("+      insecureSkipVerify: true") == 1


def test_failing_gate_writes_nothing(tmp_path, run_cli, monkeypatch):
    import migrator.verify as verify

    repo = _copy(tmp_path, "spire-istio-1.22")
    before = _hashes(repo)
    monkeypatch.setattr(verify, "verify_rewrite", lambda *a, **k: verify.GateResult(False, ["simulated: tree differs"]))
    code, diff, err = run_cli("fix", str(repo), "--strategy", "skip-verify", "--write", "--yes")
    assert code == 1
    assert "apps/payments/destinationrule-stripe.yaml: not fixed: verification gate failed: simulated: tree differs" in err
    assert _hashes(repo) == before


def test_schema_gate_blocks_an_invalid_result(tmp_path, run_cli):
    """A real gate failure: the DR is invalid for the CRD schema of the version in force (typo'd mode)."""
    repo = _copy(tmp_path, "spire-istio-1.22")
    f = repo / "apps/payments/destinationrule-stripe.yaml"
    f.write_text(f.read_text().replace("  host: api.stripe.com", "  host: api.stripe.com\n  exportTo: [\"*\"]\n  trafficPoliciy: {}"))
    before = _hashes(repo)
    code, _, err = run_cli("fix", str(repo), "--strategy", "skip-verify", "--write", "--yes")
    assert code == 1
    assert "destinationrule-stripe.yaml: not fixed: verification gate failed:" in err and "trafficPoliciy" in err
    assert _hashes(repo)["apps/payments/destinationrule-stripe.yaml"] == before["apps/payments/destinationrule-stripe.yaml"]


def test_duplicate_keys_are_refused_by_the_edit_engine(tmp_path, run_cli):
    repo = _copy(tmp_path, "spire-istio-1.22")
    f = repo / "apps/payments/destinationrule-stripe.yaml"
    f.write_text(f.read_text().replace("      mode: SIMPLE\n", "      mode: SIMPLE\n      mode: SIMPLE\n"))
    before = f.read_bytes()
    code, _, err = run_cli("fix", str(repo), "--strategy", "skip-verify", "--write", "--yes")
    assert code == 1 and "destinationrule-stripe.yaml: not fixed: edit refused" in err and "duplicate" in err
    assert f.read_bytes() == before


def test_read_only_file_is_left_intact(tmp_path, run_cli):
    repo = _copy(tmp_path, "spire-istio-1.22")
    f = repo / "apps/payments/destinationrule-stripe.yaml"
    before = f.read_bytes()
    f.chmod(0o444)
    code, _, err = run_cli("fix", str(repo), "--strategy", "skip-verify", "--write", "--yes")
    assert code == 1 and "destinationrule-stripe.yaml: not written:" in err
    assert f.read_bytes() == before and (f.stat().st_mode & 0o777) == 0o444


def test_full_disk_leaves_original_and_no_temp_file(tmp_path, run_cli, monkeypatch):
    import errno

    import migrator.fsio as fsio

    repo = _copy(tmp_path, "spire-istio-1.22")
    f = repo / "apps/payments/destinationrule-stripe.yaml"
    before = f.read_bytes()

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsio, "_write_all", full)
    code, _, err = run_cli("fix", str(repo), "--strategy", "skip-verify", "--write", "--yes")
    assert code == 1 and "No space left on device" in err
    assert f.read_bytes() == before
    assert sorted(p.name for p in f.parent.iterdir()) == sorted(p.name for p in (FIXTURES / "spire-istio-1.22/apps/payments").iterdir())


def test_file_changed_since_read_is_not_overwritten(tmp_path, monkeypatch):
    from migrator import fix as fixmod
    from migrator.model import ScanOptions
    from migrator.remedies import FixContext
    from migrator.scan import scan

    repo = _copy(tmp_path, "spire-istio-1.22")
    plan = fixmod.plan_fixes(scan([str(repo)], ScanOptions()), strategy="skip-verify", ctx=FixContext())
    f = repo / "apps/payments/destinationrule-stripe.yaml"
    f.write_text(f.read_text() + "# edited by a colleague meanwhile\n")
    problems = fixmod.write_plan(plan)
    assert "apps/payments/destinationrule-stripe.yaml: changed on disk since it was read; not overwritten" in problems
    assert f.read_text().endswith("# edited by a colleague meanwhile\n")


def test_interrupted_write_never_leaves_a_partial_file(tmp_path, monkeypatch):
    import migrator.fsio as fsio
    from migrator import fix as fixmod
    from migrator.model import ScanOptions
    from migrator.remedies import FixContext
    from migrator.scan import scan

    repo = _copy(tmp_path, "spire-istio-1.22")
    plan = fixmod.plan_fixes(scan([str(repo)], ScanOptions()), strategy="skip-verify", ctx=FixContext())
    before = _hashes(repo)

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(fsio.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fixmod.write_plan(plan)
    assert _hashes(repo) == before  # no partial file, no temp file left behind


def test_ctrl_c_after_the_last_write_waits_for_the_report(tmp_path):
    """write_plan(hold_sigint=True): once every file is written, Ctrl-C is held back until the caller
    has said so (release_sigint), so a late interrupt cannot end the run with "nothing written"."""
    import os
    import signal

    from migrator import fix as fixmod
    from migrator.model import ScanOptions
    from migrator.remedies import FixContext
    from migrator.scan import scan

    repo = _copy(tmp_path, "spire-istio-1.22")
    plan = fixmod.plan_fixes(scan([str(repo)], ScanOptions()), strategy="skip-verify", ctx=FixContext())
    before = _hashes(repo)
    handler = signal.getsignal(signal.SIGINT)
    try:
        assert fixmod.write_plan(plan, hold_sigint=True) == []
        os.kill(os.getpid(), signal.SIGINT)  # ignored: the batch is written, its report comes first
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        fixmod.release_sigint()
    assert signal.getsignal(signal.SIGINT) is handler
    assert len([k for k in before if _hashes(repo).get(k) != before[k]]) == len(plan.pending) > 0


def test_fix_json_free_text_header_states_security_cost(tmp_path, run_cli):
    repo = _copy(tmp_path, "spire-istio-1.22")
    _, diff, _ = run_cli("fix", str(repo), "--strategy", "skip-verify")
    assert "#   security cost: the server certificate is NOT verified for this host" in diff
    _, diff, _ = run_cli("fix", str(repo), "--strategy", "skip-verify", "--no-header")
    assert not diff.startswith("#")


def test_mm104_is_an_error_with_a_remedy(scan_json):
    _, report, _ = scan_json(str(FIXTURES / "credential-name-no-selector"))
    [f] = [f for f in report["findings"] if f["rule"] == "MM104"]
    assert f["severity"] == "error" and "plaintext" in f["message"]
    from migrator.rules import catalog

    assert list(catalog()["MM104"].remedies) == ["credential-name"]


def test_disable_verify_writes_pilot_env_never_top_level_env_nor_tag_values(tmp_path, run_cli):
    repo = _copy(tmp_path, "disable-verify-flat-env-1.23")
    tags = (repo / "flux/istio-revision-tags.yaml").read_bytes()
    code, _, err = run_cli("fix", str(repo), "--strategy", "disable-verify", "--write", "--yes")
    assert code == 0, err
    import yaml

    values = yaml.safe_load((repo / "flux/istiod.yaml").read_text())["spec"]["values"]
    assert values["pilot"]["env"] == {"VERIFY_CERTIFICATE_AT_CLIENT": "false"}
    assert "VERIFY_CERTIFICATE_AT_CLIENT" not in values["env"]
    assert (repo / "flux/istio-revision-tags.yaml").read_bytes() == tags
    _, out, _ = run_cli("fix", str(FIXTURES / "spire-istio-1.22"), "--strategy", "disable-verify")
    assert "stops working at Istio 1.24" in out and "1.26" not in out.split("stops working")[0]


# --------------------------------------------------------------- CA bundles per upstream host (issue 14 item 7)

def _cred_fix(run_cli, repo, *bundle_args):
    return run_cli("fix", str(repo), "--strategy", "credential-name", *bundle_args)


def test_each_host_gets_its_own_ca(run_cli):
    code, diff, err = _cred_fix(run_cli, FIXTURES / "spire-istio-1.22", "--ca-bundle", f"api.stripe.com={CA}",
                                "--ca-bundle", f"api.sift.com={CA2}")
    assert code == 0, err
    stripe = diff[diff.index("stripe-tls-ca-secret.yaml"):]
    sift = diff[diff.index("sift-tls-ca-secret.yaml"):]
    assert "from example-root-ca.pem" in stripe.split("diff --git")[0]
    assert "from example-fraud-scoring-root-ca.pem" in sift.split("diff --git")[0]


def test_a_host_without_a_bundle_is_refused(run_cli):
    code, diff, err = _cred_fix(run_cli, FIXTURES / "spire-istio-1.22", "--ca-bundle", f"api.stripe.com={CA}")
    assert "sift-tls" not in diff and "stripe-tls-ca-secret.yaml" in diff
    assert "no CA bundle for host 'api.sift.com'" in err and "--ca-bundle api.sift.com=FILE" in err


def test_one_plain_bundle_for_two_hosts_is_refused_with_the_hosts_named(run_cli):
    code, diff, err = _cred_fix(run_cli, FIXTURES / "spire-istio-1.22", "--ca-bundle", CA)
    assert "diff --git" not in diff
    assert "api.sift.com, api.stripe.com" in err or "api.stripe.com, api.sift.com" in err


def test_one_plain_bundle_still_works_when_every_dr_has_the_same_host(run_cli):
    code, diff, err = _cred_fix(run_cli, FIXTURES / "flag-false-istio-1.24", "--ca-bundle", CA)
    assert code == 0, err
    assert "stripe-tls-ca-secret.yaml" in diff


def test_config_file_maps_hosts_to_bundles(run_cli, tmp_path):
    repo = _copy(tmp_path, "spire-istio-1.22")
    (repo / "certs").mkdir()  # config paths resolve against the config file and must stay in the repo (issue 11)
    shutil.copy(CA, repo / "certs" / Path(CA).name)
    shutil.copy(CA2, repo / "certs" / Path(CA2).name)
    (repo / ".mesh-migrator.yaml").write_text(f"fix:\n  ca_bundle:\n    api.stripe.com: certs/{Path(CA).name}\n    api.sift.com: certs/{Path(CA2).name}\n")
    code, diff, err = run_cli("fix", str(repo), "--strategy", "credential-name")
    assert code == 0, err
    assert "from example-fraud-scoring-root-ca.pem" in diff and "from example-root-ca.pem" in diff


def test_malformed_ca_bundle_is_a_usage_error(run_cli):
    code, _, err = _cred_fix(run_cli, FIXTURES / "spire-istio-1.22", "--ca-bundle", CA, "--ca-bundle", CA2)
    assert code == 2 and "HOST=FILE" in err


def test_wizard_asks_for_the_ca_once_per_upstream_host():
    """Two findings on api.sift.com (port 443 and subset eu) and one on api.stripe.com: two CA questions."""
    from types import SimpleNamespace

    from migrator import wizard

    asked = []

    class Prompter:
        def text(self, msg, default="", validate=None):
            asked.append(msg)
            return default or (CA if "api.stripe.com" in msg else CA2)

        def select(self, msg, choices, default=None):
            asked.append(msg)
            return "pem"  # generate the Secret from a PEM file

    s = wizard.Session(args=None, console=wizard.Console(file=open(os.devnull, "w")), prompter=Prompter(), replay=None)
    for host in ("api.sift.com", "api.sift.com", "api.stripe.com"):
        d = SimpleNamespace(secret_name=None, ca_bundle=None)
        wizard._ask_credential_inputs(s, SimpleNamespace(rule="MM101", resource="DestinationRule/payments/x"), d, host)
        assert d.ca_bundle == {host: CA if host == "api.stripe.com" else CA2}
    assert [m for m in asked if m.startswith("PEM file")] == [
        "PEM file with the CA bundle of api.sift.com to generate the Secret from:",
        "PEM file with the CA bundle of api.stripe.com to generate the Secret from:"]
