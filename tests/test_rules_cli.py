"""Rule registry, `rules`, `explain`, exit codes and the module entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import FIXTURES, REPO
from migrator.rules import RULE_MODULES, all_rules, catalog
from migrator.versions import spec


def test_every_rule_module_has_catalog_metadata_with_sources():
    ids = [r.meta.id for r in all_rules()]
    assert len(ids) == len(RULE_MODULES) == len(set(ids))
    # MM001 (unreadable file) is raised by the pipeline itself (migrator/app.py), not by a check module
    assert set(ids) | {"MM001"} == set(catalog())
    for meta in catalog().values():
        assert meta.severity in ("info", "warning", "error")
        assert meta.sources and all(s.startswith("https://") for s in meta.sources), meta.id
        assert len(meta.explanation) > 80, meta.id
        spec(meta.istio)  # a valid packaging specifier


def test_rules_lists_every_rule(run_cli):
    code, out, _ = run_cli("rules", "--format", "json")
    assert code == 0
    assert [r["id"] for r in json.loads(out)] == list(catalog())


@pytest.mark.parametrize("rule", ["MM101", "mm101"])
def test_explain_shows_sds_names_and_sources(run_cli, rule):
    code, out, _ = run_cli("explain", rule)
    assert code == 0
    assert out.startswith("# MM101: SPIRE proxy will request file-root:system")
    assert "SDS resource names involved: `file-root:system`" in out
    assert out.startswith((REPO / "docs" / "rules" / "MM101.md").read_text())  # explain prints the rule's page
    assert "https://github.com/istio/istio/pull/54725" in out


def test_explain_unknown_rule_is_usage_error(run_cli):
    code, _, err = run_cli("explain", "MM999")
    assert code == 2 and "unknown rule 'MM999'" in err


def test_fail_on_error_ignores_warnings(run_cli):
    code, _, _ = run_cli("scan", str(FIXTURES / "insecure-skip-verify"), "--fail-on", "error")
    assert code == 0
    code, _, _ = run_cli("scan", str(FIXTURES / "insecure-skip-verify"))
    assert code == 1


def test_rule_selection(scan_json):
    _, report, _ = scan_json(str(FIXTURES / "ca-file-spire-1.23"), "--rule", "MM102")
    assert {f["rule"] for f in report["findings"]} == {"MM102"}
    _, report, _ = scan_json(str(FIXTURES / "ca-file-spire-1.23"), "--disable", "MM102")
    assert {f["rule"] for f in report["findings"]} == {"MM101"}


def test_seed_message_names_sds_resource_and_log_line(scan_json):
    _, report, _ = scan_json(str(FIXTURES / "spire-istio-1.22"))
    f = next(f for f in report["findings"] if f["path"] == "apps/payments/destinationrule-stripe.yaml")
    assert f["sds_resource"] == "file-root:system"
    assert f["resource"] == "DestinationRule/payments/stripe-tls"
    assert 'workload is not authorized for the requested identities ["file-root:system"]' in f["message"]
    assert f["proxies"] == ["Deployment/payments/checkout"]


def test_unknown_version_reports_low_confidence_with_assumption(scan_json, tmp_path):
    import shutil

    repo = tmp_path / "r"
    shutil.copytree(FIXTURES / "spire-istio-1.22", repo)
    for app in (repo / "argocd").glob("istio*.yaml"):
        app.write_text(app.read_text().replace("targetRevision: 1.22.3", "targetRevision: main"))
    _, report, _ = scan_json(str(repo))
    mm101 = [f for f in report["findings"] if f["rule"] == "MM101"]
    assert mm101 and all(f["confidence"] == "low" for f in mm101)
    assert any("Istio version unknown" in a for a in mm101[0]["assumptions"])
    assert report["inventory"]["environments"][0]["istio_version"] is None


def test_stdin_kubectl_list(tmp_path):
    data = (FIXTURES / "kubectl-dump" / "cluster-dump.yaml").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "migrator", "scan", "-", "--istio-version", "1.22.3", "--format", "json"],
                          input=data, capture_output=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert [(f["rule"], f["path"], f["line"]) for f in report["findings"]] == [("MM101", "<stdin>", 154)]


def test_version_flag():
    proc = subprocess.run([sys.executable, "-m", "migrator", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("mesh-migrator ")
