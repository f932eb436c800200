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
