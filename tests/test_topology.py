"""The topology model (migrator/topology.py): control planes, attribution, liveness, as the CLI shows them."""

from __future__ import annotations

import json

from conftest import FIXTURES
from migrator.topology import is_release, non_live_reason, release_roots


PAYMENTS = FIXTURES / "two-installs-plain-folders/platform/main/apps/payments"


def _payments(folder) -> None:
    """A SPIRE-backed checkout Deployment and its SIMPLE DestinationRule without CA (MM101 on 1.21-1.25)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "deployment.yaml").write_text((PAYMENTS / "deployment.yaml").read_text())
    (folder / "destinationrule.yaml").write_text((PAYMENTS / "destinationrule.yaml").read_text())


def test_inventory_json_lists_each_control_plane_with_its_own_pin(run_cli):
    code, out, _ = run_cli("inventory", FIXTURES / "two-installs-plain-folders", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    planes = {cp["name"]: cp for cp in doc["control_planes"]}
    assert {n: cp["istio_version"] for n, cp in planes.items()} == {"platform/legacy": "1.20.8", "platform/main": "1.22.3"}
    assert [p["path"] for p in planes["platform/main"]["pins"]] == ["platform/main/istio/istiod-values.yaml"]
    dr = doc["attribution"]["platform/main/apps/payments/destinationrule.yaml"]
    assert dr == {"envs": ["platform/main"], "how": "nearest environment in platform/main", "ambiguous": False}


def test_flux_wiring_attributes_a_shared_base_to_both_clusters(run_cli):
    _, out, _ = run_cli("inventory", FIXTURES / "fleet-flux-two-clusters", "--format", "json")
    att = json.loads(out)["attribution"]
    assert att["apps/base/payments/destinationrule.yaml"]["envs"] == ["prod", "staging"]
    assert att["apps/base/payments/destinationrule.yaml"]["ambiguous"] is False
    assert att["infrastructure/prod/istiod.yaml"]["envs"] == ["prod"]
    assert "clusters/prod/apps.yaml" in att["apps/prod/kustomization.yaml"]["how"]


def test_same_named_proxies_in_two_clusters_stay_distinct_in_sds(run_cli):
    code, out, _ = run_cli("sds", FIXTURES / "fleet-flux-two-clusters", "--format", "json")
    rows = json.loads(out)
    checkout = sorted((r["env"], r["istio_version"]) for r in rows if r["proxy"] == "Deployment/payments/checkout")
    assert checkout == [("prod", "1.22.4"), ("staging", "1.26.2")]
    prod = next(r for r in rows if r["env"] == "prod")
    assert any(n["name"] == "file-root:system" and not n["ok"] for n in prod["names"])
    staging = next(r for r in rows if r["env"] == "staging")
    assert all(n["ok"] for n in staging["names"])
    assert code == 1


def test_ambiguous_file_is_low_confidence_with_candidates(tmp_path, scan_json):
    for env, ver in (("a", "1.22.3"), ("b", "1.23.1")):
        d = tmp_path / "platform" / env
        d.mkdir(parents=True)
        (d / "istiod-values.yaml").write_text(f"global:\n  hub: docker.io/istio\n  tag: {ver}\npilot:\n  autoscaleMin: 2\n")
    _payments(tmp_path / "platform" / "shared")
    code, report, _ = scan_json(str(tmp_path))
    [f] = [f for f in report["findings"] if f["rule"] == "MM101"]
    assert f["confidence"] == "low"
    assert f["candidates"] == ["platform/a", "platform/b"]
    assert f["env"] == "platform/a,platform/b"
    assert any("evaluated at each of platform/a, platform/b" in a for a in f["assumptions"])
    assert code == 1


def test_wiring_brings_a_vendored_tree_back(tmp_path, scan_json):
    src = FIXTURES / "two-installs-plain-folders/platform/main"
    vendored = tmp_path / "vendor" / "payments"
    vendored.mkdir(parents=True)
    (vendored / "deployment.yaml").write_text((src / "apps/payments/deployment.yaml").read_text())
    (vendored / "dr.yaml").write_text((src / "apps/payments/destinationrule.yaml").read_text())
    (tmp_path / "istiod-values.yaml").write_text((src / "istio/istiod-values.yaml").read_text())
    _, report, _ = scan_json(str(tmp_path))
    assert not report["findings"] and {s["path"] for s in report["skipped"]} == {"vendor/payments/deployment.yaml", "vendor/payments/dr.yaml"}
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - vendor/payments\n")
    (tmp_path / "clusters").mkdir()
    (tmp_path / "clusters" / "kustomization.yaml").write_text("resources:\n  - ../vendor/payments\n")
    (tmp_path / "clusters" / "sync.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\nspec:\n  path: ./vendor/payments\n")
    _, report, _ = scan_json(str(tmp_path))
    assert [(f["rule"], f["path"]) for f in report["findings"]] == [("MM101", "vendor/payments/dr.yaml")]
    _, report, _ = scan_json(str(tmp_path), "--include", "vendor/**")
    assert report["skipped"] == []


def test_non_live_reasons():
    assert "profile definition" in non_live_reason("manifests/charts/istiod/files/profile-compatibility-version-1.20.yaml")
    assert "profile definition" in non_live_reason("manifests/helm-profiles/compatibility-version-1.20.yaml")
    assert "vendored" in non_live_reason("vendor/github.com/x/deploy.yaml")
    assert "test data" in non_live_reason("pkg/testdata/dr.yaml")
    assert "unpacked release" in non_live_reason("tools/istio-1.22.0/samples/x.yaml")
    assert non_live_reason("clusters/prod/istio/istiod.yaml") is None
    assert release_roots(["up/manifests/charts/base/Chart.yaml", "up/samples/a.yaml", "manifests/charts/x.yaml"]) == {"up"}


def test_placeholder_versions_are_not_releases():
    assert is_release("1.22.3") and is_release("1.18.5")
    assert not is_release("1.0.0") and not is_release("0.1.0") and not is_release("1.99.0") and not is_release("2.1.0")


def _spire(tmp, folder, server, agent, client=None):
    d = tmp / folder
    d.mkdir(parents=True)
    (d / "server.yaml").write_text(f"apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: spire-server\n  namespace: spire\nspec:\n"
                                   f"  template:\n    spec:\n      containers:\n        - name: spire-server\n"
                                   f"          image: ghcr.io/spiffe/spire-server:{server}\n")
    (d / "agent.yaml").write_text(f"apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: spire-agent\n  namespace: spire\nspec:\n"
                                  f"  template:\n    spec:\n      containers:\n        - name: spire-agent\n"
                                  f"          image: ghcr.io/spiffe/spire-agent:{agent}\n")
    if client:  # spiffe/spire-tutorials' client: the agent image used as a Workload API CLI, not an agent
        (d / "client.yaml").write_text(f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: client\n  namespace: spire\nspec:\n"
                                       f"  template:\n    spec:\n      containers:\n        - name: client\n"
                                       f"          image: ghcr.io/spiffe/spire-agent:{client}\n          command: [sleep]\n")


def test_spire_agents_pair_with_the_server_beside_them(tmp_path, scan_json):
    _spire(tmp_path, "k8s/quickstart", "1.11.2", "1.11.2", client="1.5.1")
    _spire(tmp_path, "k8s/oidc-aws", "1.5.1", "1.5.1")
    _, report, _ = scan_json(str(tmp_path))
    assert report["findings"] == []
    _spire(tmp_path, "k8s/upgrade", "1.11.2", "1.9.6")
    _, report, _ = scan_json(str(tmp_path))
    assert [(f["rule"], f["path"]) for f in report["findings"]] == [("MM140", "k8s/upgrade/agent.yaml")]


def _appset(generators: str, path: str, dest: str) -> str:
    return ("apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: fleet\n  namespace: argocd\nspec:\n"
            f"  generators:\n{generators}  template:\n    metadata:\n      name: 'mesh-{{{{path.basename}}}}'\n    spec:\n"
            "      project: default\n      source:\n        repoURL: https://git.example.com/platform/fleet.git\n"
            f"        targetRevision: main\n        path: '{path}'\n      destination:\n        name: '{dest}'\n"
            "        namespace: istio-system\n")


def _region(tmp, folder, version):
    d = tmp / folder
    (d / "apps").mkdir(parents=True)
    (d / "istiod-values.yaml").write_text(f"global:\n  hub: docker.io/istio\n  tag: {version}\npilot:\n  autoscaleMin: 2\n")
    _payments(d / "apps")


def test_applicationset_git_directories_name_each_cluster(tmp_path, scan_json):
    _region(tmp_path, "regions/eu-west", "1.22.3")
    _region(tmp_path, "regions/us-east", "1.26.2")
    (tmp_path / "argocd").mkdir()
    (tmp_path / "argocd/fleet.yaml").write_text(_appset(
        "    - git:\n        repoURL: https://git.example.com/platform/fleet.git\n        revision: main\n"
        "        directories:\n          - path: regions/*\n", "{{path}}", "{{path.basename}}"))
    _, report, _ = scan_json(str(tmp_path))
    assert [(f["rule"], f["path"], f["env"], f["confidence"]) for f in report["findings"]] == [
        ("MM101", "regions/eu-west/apps/destinationrule.yaml", "eu-west", "high")]
    assert {e["name"]: e["istio_version"] for e in report["inventory"]["environments"]} == {"eu-west": "1.22.3", "us-east": "1.26.2"}


def test_applicationset_list_elements_name_each_cluster(tmp_path, scan_json):
    _region(tmp_path, "deploy/a", "1.23.4")
    _region(tmp_path, "deploy/b", "1.26.2")
    (tmp_path / "argocd").mkdir()
    (tmp_path / "argocd/fleet.yaml").write_text(_appset(
        "    - list:\n        elements:\n          - cluster: prod-eu\n            dir: deploy/a\n"
        "          - cluster: prod-us\n            dir: deploy/b\n", "{{dir}}", "{{cluster}}"))
    _, report, _ = scan_json(str(tmp_path))
    assert [(f["rule"], f["env"]) for f in report["findings"]] == [("MM101", "prod-eu")]


def test_spire_agents_pair_by_trust_domain(tmp_path, scan_json):
    """Two trust domains in one folder: the agent is checked against its own domain's server only."""
    _spire(tmp_path, "spire", "1.11.2", "1.11.2")
    d = tmp_path / "spire"
    (d / "lab-server.yaml").write_text(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: spire-server-lab\n  namespace: lab\nspec:\n  template:\n"
        "    spec:\n      containers:\n        - name: spire-server\n          image: ghcr.io/spiffe/spire-server:1.9.6\n")
    _, report, _ = scan_json(str(tmp_path))
    assert [f["rule"] for f in report["findings"]] == ["MM140"]  # without configs: every server in the folder, 1.11.2 > 1.9.6

    def with_conf(name: str, key: str, domain: str) -> None:  # each workload file carries its own ConfigMap
        section = key.split(".")[0]
        (d / name).write_text((d / name).read_text() + f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {section}\n"
                              f"data:\n  {key}: |\n    {section} {{\n      trust_domain = \"{domain}\"\n    }}\n")

    with_conf("agent.yaml", "agent.conf", "prod.example.org")
    with_conf("server.yaml", "server.conf", "prod.example.org")
    with_conf("lab-server.yaml", "server.conf", "lab.example.org")
    _, report, _ = scan_json(str(tmp_path))
    assert report["findings"] == []


def test_flux_external_artifacts_map_back_to_the_folders_their_generator_copies(tmp_path, scan_json):
    """Flux 2.7 (fluxcd/flux2-kustomize-helm-example): a Kustomization's path is inside an ArtifactGenerator's artifact."""
    for cluster, version in (("production", "1.22.4"), ("staging", "1.26.2")):
        c = tmp_path / "clusters" / cluster
        c.mkdir(parents=True)
        (c / "artifacts.yaml").write_text(
            "apiVersion: source.extensions.fluxcd.io/v1beta1\nkind: ArtifactGenerator\nmetadata:\n  name: flux-system\nspec:\n"
            "  sources:\n    - alias: monorepo\n      kind: GitRepository\n      name: flux-system\n  artifacts:\n    - name: apps\n"
            "      copy:\n        - from: \"@monorepo/apps/base/**\"\n          to: \"@artifact/base/\"\n"
            f"        - from: \"@monorepo/apps/{cluster}/**\"\n          to: \"@artifact/{cluster}/\"\n")
        (c / "apps.yaml").write_text(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\nspec:\n"
            f"  sourceRef:\n    kind: ExternalArtifact\n    name: apps\n  path: ./{cluster}\n")
        a = tmp_path / "apps" / cluster
        a.mkdir(parents=True)
        (a / "kustomization.yaml").write_text("resources:\n  - ../base/payments\n  - istiod.yaml\n")
        (a / "istiod.yaml").write_text(
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: istiod\n  namespace: istio-system\nspec:\n"
            f"  chart:\n    spec:\n      chart: istiod\n      version: \"{version}\"\n")
    base = tmp_path / "apps/base/payments"
    _payments(base)
    (base / "kustomization.yaml").write_text("resources:\n  - deployment.yaml\n  - destinationrule.yaml\n")
    _, report, _ = scan_json(str(tmp_path))
    assert [(f["rule"], f["path"], f["env"], f["confidence"]) for f in report["findings"]] == [
        ("MM101", "apps/base/payments/destinationrule.yaml", "production", "high")]


def test_argo_multi_source_value_files_belong_to_the_application_cluster(tmp_path, scan_json):
    """`$values/...` value files of a multi-source Application configure that Application's istiod, in its cluster."""
    (tmp_path / "argocd").mkdir()
    (tmp_path / "values").mkdir()
    for cluster, version, flag in (("prod", "1.22.3", "true"), ("lab", "1.22.3", "false")):
        (tmp_path / f"argocd/istiod-{cluster}.yaml").write_text(
            f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: istiod-{cluster}\nspec:\n  sources:\n"
            f"    - repoURL: https://istio-release.storage.googleapis.com/charts\n      chart: istiod\n      targetRevision: {version}\n"
            f"      helm:\n        valueFiles:\n          - $values/values/istiod-{cluster}.yaml\n"
            "    - repoURL: https://git.example.com/platform/mesh.git\n      targetRevision: main\n      ref: values\n"
            f"  destination:\n    name: {cluster}\n    namespace: istio-system\n")
        (tmp_path / f"values/istiod-{cluster}.yaml").write_text(
            f"pilot:\n  env:\n    VERIFY_CERTIFICATE_AT_CLIENT: \"{flag}\"\n")
        (tmp_path / f"argocd/payments-{cluster}.yaml").write_text(
            f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: payments-{cluster}\nspec:\n  source:\n"
            "    repoURL: https://git.example.com/platform/mesh.git\n    path: apps/payments\n"
            f"  destination:\n    name: {cluster}\n    namespace: payments\n")
    _payments(tmp_path / "apps/payments")
    _, report, _ = scan_json(str(tmp_path))
    # lab turns verification off (its own values file), prod does not: MM101 in prod only, MM120 in lab only
    assert sorted((f["rule"], f["env"]) for f in report["findings"]) == [("MM101", "prod"), ("MM120", "lab")]


def test_flux_values_from_a_configmap_configure_istiod(tmp_path, scan_json):
    """Flux `valuesFrom: ConfigMap` keeps istiod's values in a ConfigMap (key values.yaml): they count, at their lines."""
    infra = tmp_path / "infrastructure/istio"
    infra.mkdir(parents=True)
    (infra / "istiod.yaml").write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: istiod\n  namespace: istio-system\nspec:\n"
        "  chart:\n    spec:\n      chart: istiod\n      version: 1.22.3\n  valuesFrom:\n    - kind: ConfigMap\n      name: istiod-values\n")
    (infra / "istiod-values.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istiod-values\n  namespace: istio-system\ndata:\n  values.yaml: |\n"
        "    pilot:\n      env:\n        VERIFY_CERTIFICATE_AT_CLIENT: \"false\"\n")
    _payments(tmp_path / "apps/payments")
    _, report, _ = scan_json(str(tmp_path))
    # the flag hides MM101 on 1.22 and is reported where it is set: line 10 of the ConfigMap
    assert [(f["rule"], f["path"], f["line"]) for f in report["findings"]] == [("MM120", "infrastructure/istio/istiod-values.yaml", 10)]
