"""Istio's own 1.22.0 release tree (samples/ + manifests/, fixtures/real-trees): what an SRE would expect.

A release tree is the hardest "not a GitOps repo" input: a dozen sample installs, an Argo CD sample
pinned to 1.18.5, compatibility-profile definitions that set VERIFY_CERTIFICATE_AT_CLIENT=false, and
chart templates.  Before the topology model it was scanned as Istio 1.18.5 and the profile
definitions hid every MM101.
"""

from __future__ import annotations

VERSION_GATED = {"MM101", "MM102", "MM103", "MM105", "MM106", "MM110", "MM120", "MM130", "MM131"}


def test_archive_is_the_release_tree(release_tree):
    assert "Apache License" in (release_tree / "LICENSE").read_text()[:300]
    assert len(list(release_tree.rglob("*.yaml"))) > 300


def test_with_version_the_sample_drs_without_ca_are_mm101(release_tree, scan_json):
    code, report, _ = scan_json(str(release_tree), "--istio-version", "1.22.0")
    mm101 = sorted((f["path"], f["line"]) for f in report["findings"] if f["rule"] == "MM101")
    assert mm101 == [
        ("samples/bookinfo/networking/egress-rule-google-apis.yaml", 45),  # www.googleapis.com, SIMPLE, no CA
        ("samples/multicluster/expose-istiod-https.yaml", 68),  # port 15012 SIMPLE, no CA
        ("samples/multicluster/expose-istiod-https.yaml", 75),  # port 443 SIMPLE, no CA
    ]
    assert code == 1
    # the SPIRE proxies come from samples/security/spire (template `spire` defined there)
    spire = sorted(p["resource"] for p in report["inventory"]["proxies"] if p["spire"])
    assert "Deployment/default/sleep" in spire


def test_profile_definitions_are_not_settings(release_tree, scan_json):
    _, report, _ = scan_json(str(release_tree), "--istio-version", "1.22.0")
    assert not [f for f in report["findings"] if f["rule"] == "MM120"]
    skipped = {s["path"]: s["message"] for s in report["skipped"]}
    assert "manifests/helm-profiles/compatibility-version-1.20.yaml" in skipped
    assert "profile definition" in skipped["manifests/charts/istio-control/istio-discovery/files/profile-compatibility-version-1.20.yaml"]


def test_without_version_nothing_version_gated_is_high_confidence(release_tree, scan_json):
    _, report, _ = scan_json(str(release_tree))
    gated = [f for f in report["findings"] if f["rule"] in VERSION_GATED]
    assert gated, "the sample DRs are still reported, at low confidence"
    assert all(f["confidence"] == "low" for f in gated), [(f["rule"], f["path"]) for f in gated if f["confidence"] != "low"]
    # the Argo CD sample's 1.18.5 is not taken as the installed version
    env = report["inventory"]["environments"]
    assert [e["istio_version"] for e in env] == [None]
    assert any("1.18.5" in a and "sample" in a for e in env for a in e["assumptions"])
