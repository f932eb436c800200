"""The SDS model: exact tables (proxy, name, server, ok) per scenario at two Istio versions.

These are the answers to "which SDS names will each of my proxies request, and which will SPIRE
refuse?" — worked out from domain-report §2.1 and checked by hand against the fixtures.
"""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES

SPIRE, AGENT, FILES, ISTIOD = "spire-agent", "istio-agent", "istio-agent (sds-files-grpc)", "istiod"
IDENTITY = [("default", SPIRE, True), ("ROOTCA", SPIRE, True)]


def table(run_cli, scenario, *args):
    code, out, err = run_cli("sds", str(FIXTURES / scenario), "--format", "json", *args)
    rows = {t["proxy"]: [(n["name"], n["server"], n["ok"]) for n in t["names"]] for t in json.loads(out)}
    return code, rows


CASES = {
    # seed: three SIMPLE blocks without CA -> file-root:system refused by SPIRE at 1.22, served by the agent at 1.26
    ("spire-istio-1.22", "1.22.3"): {"Deployment/payments/checkout": IDENTITY + [("file-root:system", SPIRE, False)] * 3},
    ("spire-istio-1.22", "1.26.0"): {"Deployment/payments/checkout": IDENTITY + [("file-root:system", FILES, True)] * 3},
    ("spire-istio-1.22", "1.20.8"): {"Deployment/payments/checkout": IDENTITY},  # verification off by default before 1.21
    ("ca-file-spire-1.23", "1.23.2"): {"Deployment/payments/checkout": IDENTITY + [
        ("file-root:/etc/certs/ca.pem", SPIRE, False),
        ("file-root:system", SPIRE, False),
        ("file-cert:/etc/certs/card-vault/tls.crt~/etc/certs/card-vault/tls.key", SPIRE, False),
        ("file-root:/etc/certs/clearing-root.pem", SPIRE, False),
        ("file-cert:/etc/certs/settlement/tls.crt~/etc/certs/settlement/tls.key", SPIRE, False)]},
    ("ca-file-spire-1.23", "1.26.1"): {"Deployment/payments/checkout": IDENTITY + [
        ("file-root:/etc/certs/ca.pem", FILES, True),
        ("file-root:system", FILES, True),
        ("file-cert:/etc/certs/card-vault/tls.crt~/etc/certs/card-vault/tls.key", FILES, True),
        ("file-root:/etc/certs/clearing-root.pem", FILES, True),
        ("file-cert:/etc/certs/settlement/tls.crt~/etc/certs/settlement/tls.key", FILES, True)]},
    ("gateway-file-certs", "1.23.3"): {"Deployment/istio-system/istio-ingressgateway": IDENTITY + [
        ("kubernetes://partners-tls", ISTIOD, True),
        ("file-cert:/etc/istio/ingressgateway-certs/tls.crt~/etc/istio/ingressgateway-certs/tls.key", SPIRE, False),
        ("file-cert:/etc/istio/ingressgateway-certs/tls.crt~/etc/istio/ingressgateway-certs/tls.key", SPIRE, False),
        ("file-root:/etc/istio/ingressgateway-ca-certs/ca.crt", SPIRE, False)]},
    ("gateway-file-certs", "1.26.0"): {"Deployment/istio-system/istio-ingressgateway": IDENTITY + [
        ("kubernetes://partners-tls", ISTIOD, True),
        ("file-cert:/etc/istio/ingressgateway-certs/tls.crt~/etc/istio/ingressgateway-certs/tls.key", FILES, True),
        ("file-cert:/etc/istio/ingressgateway-certs/tls.crt~/etc/istio/ingressgateway-certs/tls.key", FILES, True),
        ("file-root:/etc/istio/ingressgateway-ca-certs/ca.crt", FILES, True)]},
    # credentialName with a workloadSelector is served by istiod over ADS, never by SPIRE
    ("credential-name-with-selector", "1.22.3"): {"Deployment/payments/checkout": IDENTITY + [("kubernetes://stripe-ca-cacert", ISTIOD, True)]},
    ("credential-name-with-selector", "1.24.6"): {"Deployment/payments/checkout": IDENTITY + [("kubernetes://stripe-ca-cacert", ISTIOD, True)]},
    # credentialName without a selector: the sidecar builds no TLS context at all, so requests nothing
    ("credential-name-no-selector", "1.22.3"): {"Deployment/payments/checkout": IDENTITY},
    ("istio-mutual", "1.22.3"): {"Deployment/payments/checkout": IDENTITY},
    ("insecure-skip-verify", "1.22.3"): {"Deployment/payments/checkout": IDENTITY},
    ("insecure-skip-verify", "1.26.0"): {"Deployment/payments/checkout": IDENTITY},
}


@pytest.mark.parametrize("scenario,version", sorted(CASES))
def test_exact_sds_table(run_cli, scenario, version):
    code, rows = table(run_cli, scenario, "--istio-version", version)
    assert {k: sorted(v) for k, v in rows.items()} == {k: sorted(v) for k, v in CASES[(scenario, version)].items()}
    assert code == (1 if any(not ok for v in rows.values() for _, _, ok in v) else 0)


def test_kubeflow_emptydir_trap_has_no_spire_proxy(run_cli):
    _, rows = table(run_cli, "kubeflow-emptydir-trap")
    assert rows == {}
    _, all_rows = table(run_cli, "kubeflow-emptydir-trap", "--all")
    assert all_rows and all(server == AGENT for v in all_rows.values() for _, server, _ in v)


def test_text_table_quotes_the_log_line(run_cli):
    code, out, _ = run_cli("sds", str(FIXTURES / "spire-istio-1.22"))
    assert code == 1
    assert 'workload is not authorized for the requested identities ["file-root:system"]' in out
    assert "FAILS" in out


def test_findings_are_derived_from_the_table(run_cli):
    """Every failing file name in the SDS table has an MM101/MM102 finding at the same place, and vice versa."""
    _, out, _ = run_cli("sds", str(FIXTURES / "ca-file-spire-1.23"), "--format", "json")
    failing = {(n["path"], n["line"]) for t in json.loads(out) for n in t["names"] if not n["ok"]}
    _, rep, _ = run_cli("scan", str(FIXTURES / "ca-file-spire-1.23"), "--format", "json")
    blocks = {(f["path"], f["line"]) for f in json.loads(rep)["findings"] if f["rule"] == "MM101"}
    assert blocks and blocks <= failing


MORE_CASES = {
    # the flag on 1.22 turns file-root:system off; on 1.24 the flag is gone and the name is requested again
    ("flag-false-istio-1.22", "1.22.3"): {"Deployment/payments/checkout": IDENTITY},
    ("flag-false-istio-1.22", "1.24.6"): {"Deployment/payments/checkout": IDENTITY + [("file-root:system", SPIRE, False)]},
    ("crlf-bom", "1.22.3"): {"Deployment/payments/checkout": IDENTITY + [("file-root:system", SPIRE, False)]},
    ("crlf-bom", "1.26.1"): {"Deployment/payments/checkout": IDENTITY + [("file-root:system", FILES, True)]},
    ("kubectl-dump", "1.22.3"): {"Deployment/payments/checkout": IDENTITY + [("file-root:system", SPIRE, False)]},
    ("kubectl-dump", "1.26.0"): {"Deployment/payments/checkout": IDENTITY + [("file-root:system", FILES, True)]},
    ("spire-istio-1.26", "1.26.1"): {"Deployment/payments/checkout": IDENTITY + [("file-root:system", FILES, True)] * 3},
    ("spire-istio-1.26", "1.25.5"): {"Deployment/payments/checkout": IDENTITY + [("file-root:system", SPIRE, False)] * 3},
}


@pytest.mark.parametrize("scenario,version", sorted(MORE_CASES))
def test_more_exact_sds_tables(run_cli, scenario, version):
    _, rows = table(run_cli, scenario, "--istio-version", version)
    assert {k: sorted(v) for k, v in rows.items()} == {k: sorted(v) for k, v in MORE_CASES[(scenario, version)].items()}


def test_no_spire_repo_lists_istio_agent_for_everything(run_cli):
    _, rows = table(run_cli, "no-spire-istio-1.22", "--all")
    assert rows and all(server in (AGENT,) for v in rows.values() for _, server, _ in v)
    assert any(name == "file-root:system" for v in rows.values() for name, _, _ in v)


def _with_agent_sds(tmp_path, sds_block):
    import shutil

    repo = tmp_path / "r"
    shutil.copytree(FIXTURES / "spire-istio-1.22", repo)
    cm = repo / "spire" / "agent-configmap.yaml"
    text = cm.read_text()
    start = text.index("      sds {")
    end = text.index("      }\n", start) + len("      }\n")
    cm.write_text(text[:start] + sds_block + text[end:])
    return repo


def test_federation_style_agent_still_serves_rootca(tmp_path, run_cli):
    repo = _with_agent_sds(tmp_path, '      sds {\n        default_svid_name = "default"\n        default_bundle_name = "null"\n'
                                     '        default_all_bundles_name = "ROOTCA"\n      }\n')
    code, out, _ = run_cli("sds", str(repo), "--format", "json", "--istio-version", "1.26.0")
    names = {(n["name"], n["ok"]) for t in json.loads(out) for n in t["names"]}
    assert ("ROOTCA", True) in names and code == 0


def test_renamed_bundle_breaks_rootca(tmp_path, run_cli):
    repo = _with_agent_sds(tmp_path, '      sds {\n        default_bundle_name = "spire-bundle"\n      }\n')
    code, out, _ = run_cli("sds", str(repo), "--format", "json", "--istio-version", "1.26.0")
    rows = [n for t in json.loads(out) for n in t["names"] if n["name"] == "ROOTCA"]
    assert rows and not rows[0]["ok"] and rows[0]["path"] == "spire/agent-configmap.yaml" and code == 1


# ------------------------------------------------------------------ RBAC for kubernetes:// names (issue 14 item 4)
# istiod drops a kubernetes:// resource unless a SubjectAccessReview allows the proxy's ServiceAccount to
# `list` `secrets` in its namespace: istio/istio 1.22.0 pilot/pkg/credentials/kube/secrets.go (Authorize)
# and pilot/pkg/xds/sds.go (filterAuthorizedResources).

def _statuses(run_cli, path, *args):
    code, out, _ = run_cli("sds", str(path), "--format", "json", *args)
    return code, {(t["proxy"], n["name"]): (n["status"], n["ok"], n["log"]) for t in json.loads(out) for n in t["names"]}


def test_declared_rbac_without_list_secrets_makes_the_cacert_name_fail(run_cli):
    code, rows = _statuses(run_cli, FIXTURES / "credential-name-no-rbac")
    status, ok, log = rows[("Deployment/payments/checkout", "kubernetes://stripe-ca-cacert")]
    assert (status, ok) == ("fails", False)
    assert "checkout/payments is not authorized to read secrets" in log
    assert code == 1


def test_rbac_granting_list_secrets_is_ok(run_cli):
    _, rows = _statuses(run_cli, FIXTURES / "credential-name-with-selector")
    assert rows[("Deployment/payments/checkout", "kubernetes://stripe-ca-cacert")][:2] == ("ok", True)


def test_no_rbac_in_the_repo_is_unknown_and_mm107_a_low_warning(run_cli, scan_json, tmp_path):
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "credential-name-no-rbac", repo)
    (repo / "apps/payments/rbac.yaml").unlink()
    _, rows = _statuses(run_cli, repo)
    assert rows[("Deployment/payments/checkout", "kubernetes://stripe-ca-cacert")][:2] == ("unknown", True)
    _, report, _ = scan_json(str(repo))
    [f] = [f for f in report["findings"] if f["rule"] == "MM107"]
    assert (f["severity"], f["confidence"]) == ("warning", "low")


def test_mm107_is_an_error_when_declared_rbac_does_not_grant(scan_json):
    _, report, _ = scan_json(str(FIXTURES / "credential-name-no-rbac"))
    [f] = [f for f in report["findings"] if f["rule"] == "MM107"]
    assert (f["severity"], f["confidence"]) == ("error", "high")
    assert "does not grant list on secrets" in f["message"]
