"""Issue 14: domain corrections checked against upstream sources at the release tags.

Each test names the upstream file and tag the expected behaviour comes from.
"""

from __future__ import annotations

import pytest
from packaging.version import Version

from conftest import FIXTURES
from migrator.model import ScanOptions
from migrator.plan import build_plan
from migrator.scan import scan


def plan_for(path, to, **kw):
    return build_plan(scan([str(path)], ScanOptions()), to, **kw)


# ---------------------------------------------------------------------------------------- MM106
# istio/istio 1.27.0 pkg/kube/inject/testdata/inject/sidecar-spire.yaml.injected: with native sidecars the
# spire template's `containers: [{name: istio-proxy, volumeMounts: ...}]` stays as a container without an
# image (the real proxy is in initContainers); the API server rejects such a pod.

def test_mm106_is_an_error_because_pod_creation_fails(scan_json):
    _, report, _ = scan_json(str(FIXTURES / "native-sidecar-spire-1.27"))
    [f] = [f for f in report["findings"] if f["rule"] == "MM106"]
    assert f["severity"] == "error" and "pod creation fails" in f["message"]


def test_plan_1_27_step_shows_mm106_as_an_error():
    plan = plan_for(FIXTURES / "native-sidecar-spire-1.27", "1.27", from_="1.26.8")
    [step] = plan.steps
    [c] = [c for c in step.findings if c.finding.rule == "MM106"]
    assert (c.status, c.finding.severity) == ("appears", "error")


# ------------------------------------------------------------------------------- plan --to fixed
# VERIFY_CERTIFICATE_AT_CLIENT=false / compatibilityVersion "1.20" hide MM101 on 1.21-1.23 and stop working at
# 1.24 (istio/istio#52317; istio.yaml verify-certificate-at-client-default keep_old removed_in); the SPIRE fix is
# 1.26 (istio/istio 1.26.0 releasenotes/notes/spire-files.yaml).

def _steps(plan):
    return {s.to_version.minor: {(c.status, c.finding.rule, c.finding.severity) for c in s.findings} for s in plan.steps}


@pytest.mark.parametrize("setting", ["flag", "compat"])
def test_to_fixed_with_the_flag_reaches_1_26_and_names_where_mm101_returns_and_clears(setting, tmp_path):
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "plan-flag-istio-1.23", repo)
    if setting == "compat":
        p = repo / "flux/istiod.yaml"
        text = p.read_text()
        p.write_text(text.replace('        VERIFY_CERTIFICATE_AT_CLIENT: "false"\n', '        PILOT_TRACE_SAMPLING: "1"\n')
                     .replace("  values:\n", '  values:\n    compatibilityVersion: "1.20"\n', 1))
    plan = plan_for(repo, "fixed")
    assert plan.istio_to >= Version("1.26")
    steps = _steps(plan)
    assert ("appears", "MM101", "error") in steps[24]
    assert ("disappears", "MM101", "error") in steps[26]
    note = next(n for n in plan.notes if n.startswith("MM101 "))
    assert "returns at the step to Istio 1.24" in note and "cleared by the step to Istio 1.26" in note


# ------------------------------------------------------------------------- version catalogue (item 10)

def test_latest_and_minor_targets_use_the_same_release_list():
    from migrator import knowledge
    from migrator.plan import latest_istio_release, resolve_istio_version

    latest = latest_istio_release()
    assert str(latest) == knowledge.latest_istio(include_announced=True)
    assert resolve_istio_version(f"{latest.major}.{latest.minor}")[0] == latest
    plan = plan_for(FIXTURES / "gcr-registry", "latest")
    assert plan.istio_to == resolve_istio_version("1.31")[0] == latest


SPIRE_CHART_REPO = FIXTURES / "plan-istio-1.22-spire-1.11"  # SPIRE 1.11.0 via spire chart 0.24.1


def test_spire_to_a_minor_names_what_a_chart_ships():
    """spire.yaml helm_chart.versions (spiffe/helm-charts-hardened charts/spire/Chart.yaml appVersion per tag):
    no released chart ships 1.14.7, the newest ships 1.14.5."""
    plan = plan_for(SPIRE_CHART_REPO, "1.22", spire_to="1.14")
    assert str(plan.spire_to) == str(plan.steps[-1].to_version) == "1.14.5"
    assert any("1.14.7 exists; no chart ships it" in n for n in plan.notes)


def test_spire_to_latest_works_and_stays_on_what_charts_ship():
    plan = plan_for(SPIRE_CHART_REPO, "1.22", spire_to="latest")
    assert str(plan.spire_to) == str(plan.steps[-1].to_version) == "1.14.5"


def test_spire_to_an_unshipped_patch_is_refused_for_chart_installs():
    from migrator.plan import PlanError

    with pytest.raises(PlanError, match="no released spire chart ships SPIRE 1.14.7"):
        plan_for(SPIRE_CHART_REPO, "1.22", spire_to="1.14.7")


# ------------------------------------------------------------- top-level values env before 1.24 (item 3)
# istio/istio 1.23.0 manifests/charts/istio-control/istio-discovery/templates/deployment.yaml ranges over
# .Values.pilot.env only; .Values.env is read from 1.24.0. A flag under top-level env does nothing on 1.23.

def test_top_level_env_flag_does_not_disable_verification_before_1_24(scan_json, tmp_path):
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "disable-verify-flat-env-1.23", repo)
    p = repo / "flux/istiod.yaml"
    p.write_text(p.read_text().replace('      PILOT_ENABLE_STATUS: "true"', '      VERIFY_CERTIFICATE_AT_CLIENT: "false"'))
    _, report, _ = scan_json(str(repo))
    rules = {(f["rule"], f["severity"]) for f in report["findings"]}
    assert ("MM101", "error") in rules
    [mm120] = [f for f in report["findings"] if f["rule"] == "MM120"]
    assert "has no effect: the istiod chart 1.23.4 reads only pilot.env" in mm120["message"]
