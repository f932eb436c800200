"""Istio 1.31 registry moves (issue 14 items 1-2).

Source: istio.io 1.31 upgrade notes ("From Istio 1.31 forwards, we will no longer publish artifacts to
`gcr.io/istio-release`, `registry.istio.io`, and `istio-release.storage.googleapis.com`"), encoded in
migrator/knowledge/istio.yaml `registries`; registry.istio.io as an OCI chart repository:
https://github.com/istio/istio/blob/1.31.0-rc.0/manifests/charts/README.md; registry.istio.io as the 1.30
default hub: https://github.com/istio/istio/blob/1.30.0/releasenotes/notes/use-registry-istio-io.yaml.
"""

from __future__ import annotations

import shutil

import pytest

from conftest import FIXTURES
from migrator import knowledge

MOVE = FIXTURES / "registry-move-1.30"


@pytest.mark.parametrize("text, want", [
    ("gcr.io/istio-release/proxyv2:1.30.3-distroless", "docker.io/istio/proxyv2:1.30.3-distroless"),
    ("registry.istio.io/release", "docker.io/istio"),
    ("registry.istio.io/release/pilot:1.30.3", "docker.io/istio/pilot:1.30.3"),
    ("oci://registry.istio.io/release/charts", "oci://ghcr.io/istio/release/charts"),
    ("gcr.io/istio-release/charts", "ghcr.io/istio/release/charts"),
    ("https://istio-release.storage.googleapis.com/charts", "https://blob.istio.io/istio-release/charts"),
])
def test_replacement_table_images_to_docker_hub_charts_to_new_repos(text, want):
    reg, new = knowledge.registry_replacement(text, "1.31")
    assert new == want
    assert knowledge.registry_replacement(text, "1.30") is None  # still published for 1.30


def test_mm131_flags_registry_istio_io_and_names_the_replacement(scan_json):
    code, report, _ = scan_json(str(MOVE), "--target", "1.31.0")
    by_line = {(f["path"], f["line"]): f["message"] for f in report["findings"] if f["rule"] == "MM131"}
    assert "images for 1.31 are at docker.io/istio" in by_line[("flux/istiod.yaml", 18)]
    assert "OCI Helm charts for 1.31 are at oci://ghcr.io/istio/release/charts" in by_line[("flux/istio-repo.yaml", 10)]
    assert "docker.io/istio/proxyv2:1.30.3-distroless" in by_line[("egress/egress-gateway.yaml", 26)]
    assert code == 1


def test_plan_write_to_1_31_then_rescan_has_no_mm131(run_cli, scan_json, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(MOVE, repo)
    code, _, err = run_cli("plan", repo, "--to", "1.31", "--write", "--yes")
    assert code == 0, err
    v = knowledge.istio_release("1.31")["announced_after_snapshot"][-1]["version"]
    gw = (repo / "egress/egress-gateway.yaml").read_text()
    assert f"image: docker.io/istio/proxyv2:{v}-distroless\n" in gw and "gcr.io" not in gw
    kust = (repo / "egress/kustomization.yaml").read_text()
    assert "newName: docker.io/istio/proxyv2\n" in kust and f"newTag: {v}-distroless" in kust
    assert "url: oci://ghcr.io/istio/release/charts\n" in (repo / "flux/istio-repo.yaml").read_text()
    istiod = (repo / "flux/istiod.yaml").read_text()
    assert "hub: docker.io/istio   " in istiod and f"version: {v}\n" in istiod
    assert "repoURL: https://blob.istio.io/istio-release/charts\n" in (repo / "argocd/istio-base.yaml").read_text()
    code, report, _ = scan_json(str(repo), "--target", "1.31.0")
    assert [f for f in report["findings"] if f["rule"] == "MM131"] == []
    assert code == 0


def test_plan_write_gcr_fixture_then_rescan_has_no_mm131(run_cli, scan_json, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "gcr-registry", repo)
    assert run_cli("plan", repo, "--to", "1.31", "--write", "--yes")[0] == 0
    code, report, _ = scan_json(str(repo), "--target", "1.31.0")
    assert [f["line"] for f in report["findings"] if f["rule"] == "MM131"] == [] and code == 0


def test_two_steps_retag_first_then_move_registry_with_the_tag(tmp_path):
    """1.29 -> 1.30 keeps gcr.io (1.30 is still published there); 1.30 -> 1.31 moves registry and tag at once."""
    from migrator.model import ScanOptions
    from migrator.plan import build_plan
    from migrator.scan import scan

    repo = tmp_path / "repo"
    shutil.copytree(MOVE, repo)
    for p in repo.rglob("*.yaml"):
        p.write_text(p.read_text().replace("1.30.3", "1.29.6"))
    plan = build_plan(scan([str(repo)], ScanOptions()), "1.31")
    first, second = plan.steps
    img = lambda step: next(e for e in step.edits if e.pin.path == "egress/egress-gateway.yaml")  # noqa: E731
    v30, v31 = (str(s.to_version) for s in plan.steps)
    assert (img(first).old, img(first).new) == ("1.29.6-distroless", f"{v30}-distroless")
    assert f"+          image: gcr.io/istio-release/proxyv2:{v30}-distroless" in first.diff
    assert "+          image: docker.io" not in first.diff
    assert (img(second).old, img(second).new) == (f"gcr.io/istio-release/proxyv2:{v30}-distroless",
                                                  f"docker.io/istio/proxyv2:{v31}-distroless")
