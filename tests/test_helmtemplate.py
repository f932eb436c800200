"""Helm chart templates read for detection (migrator/helmtemplate.py) and fixed through their values.

The fixture `app-chart-dr-template` is scanned in test_scan_fixtures.py against its expectation; here
are its variants (values set caCertificates → MM102; the DR guarded off → no finding), the renderer's
contract (line N out = line N in, masks, provenance), skipping rules, and `fix` on template findings.
"""

from __future__ import annotations

import os

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES
from migrator.helmtemplate import PLACEHOLDER, Release, render_template, values_from_document

APP = FIXTURES / "app-chart-dr-template"
LEDGER = APP / "charts" / "ledger"


def _copy(tmp_path: Path, name: str = "app-chart-dr-template") -> Path:
    dst = tmp_path / name
    shutil.copytree(FIXTURES / name, dst)
    return dst


def _findings(report) -> list[tuple]:
    return sorted((f["rule"], f["path"], f["line"]) for f in report["findings"] if not f["suppressed"])


def _chart(tmp_path: Path, templates: dict[str, str], values: str = "", name: str = "demo") -> Path:
    chart = tmp_path / "charts" / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\nappVersion: \"1.0\"\n")
    (chart / "values.yaml").write_text(values)
    for fname, text in templates.items():
        (chart / "templates" / fname).write_text(text)
    return chart


def _render(chart: Path, fname: str, release: Release | None = None):
    text = (chart / "templates" / fname).read_text()
    return render_template(f"charts/{chart.name}/templates/{fname}", text, chart, f"charts/{chart.name}", release)


# ------------------------------------------------------------------------------- renderer contract


TEMPLATES = sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("*/charts/*/templates/**/*.yaml"))


def test_both_chart_fixtures_have_templates():
    assert len(TEMPLATES) >= 10, TEMPLATES


@pytest.mark.parametrize("template", TEMPLATES)
def test_rendering_keeps_every_line_in_place(template):
    path = FIXTURES / template
    chart = path.parents[len(path.relative_to(FIXTURES).parts) - 4]
    text = path.read_text()
    out = render_template(f"t/templates/{path.name}", text, chart, "t").text
    assert out.count("\n") == text.count("\n")
    for i, (src, got) in enumerate(zip(text.split("\n"), out.split("\n")), 1):
        if "{{" not in src and got.strip():
            assert got == src, f"line {i}: literal text changed"


def test_ledger_dr_renders_from_values_and_release_overrides():
    app = yaml.safe_load((APP / "apps" / "ledger.yaml").read_text())
    from migrator.documents import load_text

    doc = load_text("apps/ledger.yaml", (APP / "apps" / "ledger.yaml").read_text()).documents[0]
    release = Release("ledger", "finance", [values_from_document(doc, ("spec", "source", "helm", "valuesObject"), "apps/ledger.yaml")])
    r = _render(LEDGER, "destinationrule.yaml", release)
    assert r.problems == []
    [dr] = r.documents
    assert dr.data["metadata"] == {"name": "ledger-settlements", "namespace": "finance", "labels": {
        "helm.sh/chart": "ledger-1.4.2", "app.kubernetes.io/name": "ledger", "app.kubernetes.io/instance": "ledger",
        "app.kubernetes.io/version": "5.2.0", "app.kubernetes.io/managed-by": "Helm"}}
    assert dr.data["spec"] == {"host": app["spec"]["source"]["helm"]["valuesObject"]["egress"]["host"],
                               "trafficPolicy": {"tls": {"mode": "SIMPLE", "sni": "api.settlements.example.com"}}}
    assert dr.line_of(("spec", "trafficPolicy", "tls")) == 12
    origin = r.origins[(0, None)]
    prov = {k: (v.file, v.key, v.line) for k, v in origin.provenance}
    assert prov[("spec", "trafficPolicy", "tls", "mode")] == ("charts/ledger/values.yaml", ("egress", "tls", "mode"), 33)
    assert prov[("spec", "host")] == ("apps/ledger.yaml", ("egress", "host"), 20)
    assert ("spec", "trafficPolicy", "tls") not in prov  # the tls mapping itself is template text


def test_to_yaml_of_a_values_mapping_is_merged_in_place_with_provenance():
    r = _render(LEDGER, "fx-rates.yaml")
    dr = [d for d in r.documents if d.kind == "DestinationRule"][0]
    assert dr.data["spec"]["trafficPolicy"]["tls"] == {"mode": "SIMPLE", "sni": "rates.fx-feed.example.net"}
    assert r.text.split("\n")[25] == "      <<: {mode: SIMPLE, sni: rates.fx-feed.example.net}"
    prov = dict(r.origins[(1, None)].provenance)
    assert prov[("spec", "trafficPolicy", "tls")].key == ("fxRates", "tls")
    assert prov[("spec", "trafficPolicy", "tls", "sni")].line == 42


def test_masks_conditions_ranges_and_unknowns(tmp_path):
    chart = _chart(tmp_path, {"cm.yaml": (
        "{{- /* a comment\n   on two lines */ -}}\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: {{ .Release.Name }}-cfg\n"
        "  annotations:\n"
        "    checksum: {{ include (print $.Template.BasePath \"/x.yaml\") . | sha256sum }}\n"
        "data:\n"
        "  {{- if .Values.off }}\n"
        "  off: \"yes\"\n"
        "  {{- else }}\n"
        "  mode: {{ .Values.word | upper | quote }}\n"
        "  {{- end }}\n"
        "  {{- range .Values.hosts }}\n"
        "  host: {{ . }}\n"
        "  {{- end }}\n"
        "  {{- with .Values.missing }}\n"
        "  never: {{ . }}\n"
        "  {{- end }}\n"
        "  lookup: {{ (lookup \"v1\" \"Secret\" \"ns\" \"x\").data }}\n"
        "  {{ tpl .Values.extra . | nindent 2 }}\n")},
        values="off: false\nword: quiet\nhosts: [only.example.com]\nextra: 'a: b'\n")
    r = _render(chart, "cm.yaml")
    [doc] = r.documents
    assert doc.data["data"] == {"mode": "QUIET", "host": "only.example.com", "lookup": PLACEHOLDER}
    assert doc.data["metadata"] == {"name": "release-name-cfg", "annotations": {"checksum": PLACEHOLDER}}
    assert doc.line_of(("data", "mode")) == 13 and doc.line_of(("data", "host")) == 16
    notes = r.origins[(0, None)].notes
    assert any(n.startswith("line 22:") and "masked" in n for n in notes), notes


def test_an_unknown_condition_is_assumed_true_and_noted(tmp_path):
    chart = _chart(tmp_path, {"dr.yaml": (
        "{{- if .Capabilities.APIVersions.Has \"networking.istio.io/v1\" }}\n"
        "apiVersion: networking.istio.io/v1\n"
        "kind: DestinationRule\n"
        "metadata:\n  name: x\n"
        "spec:\n  host: a.example.com\n"
        "{{- end }}\n")})
    r = _render(chart, "dr.yaml")
    assert [d.kind for d in r.documents] == ["DestinationRule"]
    assert r.origins[(0, None)].notes == ("line 1: if .Capabilities.APIVersions.Has \"networking.istio.io/v1\": cannot evaluate; assumed true",)


def test_a_document_that_still_does_not_parse_is_skipped_once_and_the_others_are_read(tmp_path):
    chart = _chart(tmp_path, {"two.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: [unclosed\n"
        "---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}\n"
        "---\n"
        "kind: Broken\n  bad: indentation: here\n")}, values="name: b\n")
    r = _render(chart, "two.yaml")
    assert [d.name for d in r.documents] == ["b"]
    assert len(r.problems) == 1
    assert r.problems[0].kind == "skipped" and r.problems[0].line == 7
    assert r.problems[0].message.startswith("rendered Helm template does not parse as YAML")


# ------------------------------------------------------------------------------- scan integration


def test_findings_in_templates_say_so(scan_json):
    _, report, _ = scan_json(str(APP))
    by_path = {f["path"]: f for f in report["findings"]}
    dr = by_path["charts/ledger/templates/destinationrule.yaml"]
    assert dr["details"]["template"]["chart"] == "charts/ledger"
    assert dr["details"]["template"]["values"] == ["charts/ledger/values.yaml", "apps/ledger.yaml"]
    assert dr["details"]["template"]["settings_from_values"] == ["mode from charts/ledger/values.yaml:33 (egress.tls.mode)"]
    assert "[in Helm chart template charts/ledger (ledger)" in dr["message"]
    assert "resource" in dr and dr["resource"] == "DestinationRule/finance/ledger-settlements"


def test_variant_values_set_ca_certificates_gives_mm102_on_the_template_line(tmp_path, scan_json):
    root = _copy(tmp_path)
    values = root / "charts/ledger/values.yaml"
    values.write_text(values.read_text().replace("    # caCertificates:", "    caCertificates:"))
    code, report, _ = scan_json(str(root))
    assert _findings(report) == [("MM101", "charts/ledger/templates/fx-rates.yaml", 25),
                                 ("MM102", "charts/ledger/templates/destinationrule.yaml", 16)]
    assert code == 1


def test_variant_release_passes_ca_certificates(tmp_path, scan_json):
    """The release's valuesObject wins over values.yaml, and the finding names the Application line."""
    root = _copy(tmp_path)
    app = root / "apps/ledger.yaml"
    app.write_text(app.read_text().replace("          host: api.settlements.example.com\n",
                                           "          host: api.settlements.example.com\n"
                                           "          tls:\n            caCertificates: /etc/ssl/certs/settlements-ca.pem\n"))
    _, report, _ = scan_json(str(root))
    assert ("MM102", "charts/ledger/templates/destinationrule.yaml", 16) in _findings(report)
    mm102 = [f for f in report["findings"] if f["rule"] == "MM102"][0]
    assert mm102["details"]["template"]["from_values"]["spec.trafficPolicy.tls.caCertificates"] == \
        "apps/ledger.yaml:22 (egress.tls.caCertificates)"


def test_variant_dr_guarded_off_gives_no_finding(tmp_path, scan_json):
    root = _copy(tmp_path)
    values = root / "charts/ledger/values.yaml"
    values.write_text(values.read_text().replace("egress:\n  enabled: true", "egress:\n  enabled: false"))
    code, report, _ = scan_json(str(root))
    assert _findings(report) == [("MM101", "charts/ledger/templates/fx-rates.yaml", 25)]
    assert report["skipped"] == []


def test_existing_chart_fixture_is_now_read(tmp_path):
    """helm-chart-templates used to list its templates as skipped; their resources are now in the inventory."""
    from migrator.model import ScanOptions
    from migrator.scan import scan

    result = scan([str(FIXTURES / "helm-chart-templates")], ScanOptions())
    refs = sorted((r.ref, r.path, r.template.renderer) for r in result.inventory.resources if r.template)
    assert refs == [
        ("DestinationRule/default/release-name-payments-api-stripe", "charts/payments-api/templates/destinationrule.yaml", "mask"),
        ("ServiceEntry/default/release-name-payments-api-stripe", "charts/payments-api/templates/serviceentry.yaml", "mask"),
    ]
    assert result.skipped == []


def test_istio_installer_charts_stay_skipped_with_the_reason(tmp_path, scan_json):
    _chart(tmp_path, {"deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
                      "  labels:\n    istio: pilot\n"}, name="istiod")
    release = tmp_path / "manifests" / "charts" / "mygw"
    (release / "templates").mkdir(parents=True)
    (release / "Chart.yaml").write_text("apiVersion: v2\nname: mygw\nversion: 1.22.0\n")
    (release / "templates" / "svc.yaml").write_text("kind: Service # istio\nmetadata:\n  name: {{ .Release.Name }}\n")
    spire = _chart(tmp_path, {"agent.yaml": "kind: DaemonSet # spire\nmetadata:\n  name: {{ .Release.Name }}-agent\n"}, name="spire-agent")
    assert spire.name == "spire-agent"
    loose = tmp_path / "misc" / "templates"
    loose.mkdir(parents=True)
    (loose / "x.yaml").write_text("kind: ConfigMap # istio\nmetadata:\n  name: {{ .Values.n }}\n")
    _, report, _ = scan_json(str(tmp_path))
    skipped = {s["path"]: s["message"] for s in report["skipped"]}
    assert skipped == {
        "charts/istiod/templates/deployment.yaml": "Istio installer chart template (istiod): read through its release values, not rendered",
        "manifests/charts/mygw/templates/svc.yaml": "Istio installer chart template (mygw): read through its release values, not rendered",
        "charts/spire-agent/templates/agent.yaml": "SPIRE installer chart template (spire-agent): read through its release values, not rendered",
        "misc/templates/x.yaml": "Helm template outside a chart (no Chart.yaml above templates/): not YAML until rendered; not scanned",
    }


# ------------------------------------------------------------------------------- fix


def test_fix_moves_the_edit_into_values_yaml_and_refuses_template_text(tmp_path, run_cli, scan_json):
    root = _copy(tmp_path)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    code, out, err = run_cli("fix", str(root), "--strategy", "skip-verify", "--no-header")
    assert code == 1  # one finding is refused (template text): not everything asked for was fixed
    assert ("charts/ledger/templates/destinationrule.yaml:12: MM101: not fixed: skip-verify: spec.trafficPolicy.tls is template "
            "text in charts/ledger/templates/destinationrule.yaml:12 (from values: mode, sni); add insecureSkipVerify in the chart, "
            "or make the chart read it from values and pass them") in err
    diff_lines = [ln for ln in out.splitlines() if ln.startswith(("+", "-", "diff"))]
    assert len(diff_lines) == 4 and all(ln.endswith("charts/ledger/values.yaml") for ln in diff_lines[:3]), diff_lines
    assert diff_lines[3] == "+    insecureSkipVerify: true"
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before  # dry run

    code, _, err = run_cli("fix", str(root), "--strategy", "skip-verify", "--write", "--yes")
    assert code == 1, err  # written, but the template-text finding is still refused
    changed = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.read_bytes() != before[p])
    assert changed == ["charts/ledger/values.yaml"]
    _, report, _ = scan_json(str(root))
    # MM101 is gone from fx-rates; MM121 (insecureSkipVerify) now reports the merged values line instead
    assert _findings(report) == [("MM101", "charts/ledger/templates/destinationrule.yaml", 12),
                                 ("MM121", "charts/ledger/templates/fx-rates.yaml", 26)]
    code, out, _ = run_cli("fix", str(root), "--strategy", "skip-verify", "--no-header")
    assert "diff --git" not in out  # idempotent: nothing left to move into values


def test_fix_ca_certificates_from_values_edits_values(tmp_path, run_cli):
    """Where the key itself is `{{ .Values.x }}` (a SetScalar target), the values key is set."""
    from migrator.edits import Upsert
    from migrator.fix import plan_remedies
    from migrator.model import ScanOptions
    from migrator.remedies import FixContext, Remedy, FileChange
    from migrator.remedies.in_template import to_values
    from migrator.scan import scan

    root = _copy(tmp_path)
    result = scan([str(root)], ScanOptions())
    f = [x for x in result.findings if x.path.endswith("destinationrule.yaml")][0]
    remedy = Remedy("test", f, [FileChange(f.path, [Upsert(0, ("spec", "trafficPolicy", "tls"), "mode", "MUTUAL")])], "mode", "none")
    moved = to_values(remedy, FixContext(view=result.views[0]))
    plan = plan_remedies(result, [moved])
    [fp] = plan.pending
    assert fp.path == "charts/ledger/values.yaml"
    assert [ln for ln in fp.new.splitlines() if "mode:" in ln] == ["    mode: MUTUAL", "    mode: SIMPLE"]


def test_fix_never_edits_template_text_even_when_asked(tmp_path):
    from migrator.edits import Upsert
    from migrator.fix import plan_remedies
    from migrator.model import ScanOptions
    from migrator.remedies import Remedy, FileChange
    from migrator.scan import scan

    root = _copy(tmp_path)
    result = scan([str(root)], ScanOptions())
    f = result.findings[0]
    plan = plan_remedies(result, [Remedy("raw", f, [FileChange(f.path, [Upsert(0, ("spec",), "x", 1)])], "raw", "none")])
    assert plan.pending == []
    assert plan.failed[0].problem.startswith("is a Helm chart template (Go template text): never edited")


# ------------------------------------------------------------------------------- helm template


@pytest.mark.skipif(shutil.which("helm") is None, reason="helm is not on PATH: --render falls back to the masked rendering tested above")
def test_render_with_helm_keeps_template_lines(scan_json):
    _, report, _ = scan_json(str(APP), "--render")
    assert _findings(report) == [("MM101", "charts/ledger/templates/destinationrule.yaml", 12),
                                 ("MM101", "charts/ledger/templates/fx-rates.yaml", 25)]
    assert {f["details"]["template"]["renderer"] for f in report["findings"]} == {"helm"}


def test_render_without_helm_falls_back_to_masking(scan_json, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    _, report, _ = scan_json(str(APP), "--render")
    assert _findings(report) == [("MM101", "charts/ledger/templates/destinationrule.yaml", 12),
                                 ("MM101", "charts/ledger/templates/fx-rates.yaml", 25)]
    assert {f["details"]["template"]["renderer"] for f in report["findings"]} == {"mask"}


# ------------------------------------------------------------------------------- deploying releases


def _release_scan(tmp_path: Path, scan_json, files: dict[str, str]) -> dict:
    root = _copy(tmp_path)
    (root / "apps/ledger.yaml").unlink()
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    _, report, _ = scan_json(str(root))
    return {f["path"]: f for f in report["findings"]}


def test_flux_helmrelease_values_are_applied(tmp_path, scan_json):
    by_path = _release_scan(tmp_path, scan_json, {"clusters/finance/ledger.yaml": (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: ledger\n  namespace: flux-system\n"
        "spec:\n  targetNamespace: accounting\n  chart:\n    spec:\n      chart: ./charts/ledger\n"
        "      sourceRef:\n        kind: GitRepository\n        name: platform\n"
        "  values:\n    fxRates:\n      tls:\n        mode: DISABLE\n")})
    assert sorted(by_path) == ["charts/ledger/templates/destinationrule.yaml"]  # fx-rates no longer originates TLS
    assert by_path["charts/ledger/templates/destinationrule.yaml"]["resource"] == "DestinationRule/accounting/ledger-settlements"


def test_argo_value_files_are_applied(tmp_path, scan_json):
    root_files = {"apps/ledger.yaml": (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: ledger-eu\n  namespace: argocd\n"
        "spec:\n  source:\n    repoURL: https://github.com/example-pay/platform-gitops.git\n    path: charts/ledger\n"
        "    helm:\n      valueFiles: [values.yaml, values-eu.yaml]\n"
        "  destination:\n    namespace: finance-eu\n"),
        "charts/ledger/values-eu.yaml": "egress:\n  tls:\n    caCertificates: /etc/ssl/certs/settlements-eu.pem\n"}
    by_path = _release_scan(tmp_path, scan_json, root_files)
    dr = by_path["charts/ledger/templates/destinationrule.yaml"]
    assert (dr["rule"], dr["line"], dr["resource"]) == ("MM102", 16, "DestinationRule/finance-eu/ledger-eu-settlements")  # fullname: the release name contains the chart name
    assert dr["details"]["template"]["from_values"]["spec.trafficPolicy.tls.caCertificates"] == \
        "charts/ledger/values-eu.yaml:3 (egress.tls.caCertificates)"


def test_two_releases_of_one_chart_render_the_chart_defaults_and_say_so(tmp_path, scan_json):
    app = (APP / "apps/ledger.yaml").read_text()
    by_path = _release_scan(tmp_path, scan_json, {"apps/ledger.yaml": app, "apps/ledger-eu.yaml": app.replace("name: ledger\n", "name: ledger-eu\n", 1)})
    dr = by_path["charts/ledger/templates/destinationrule.yaml"]
    assert dr["resource"] == "DestinationRule/default/release-name-ledger-settlements"
    assert dr["details"]["template"]["notes"] == [
        "deployed by 2 releases (apps/ledger-eu.yaml, apps/ledger.yaml); rendered with the chart's values.yaml only"]


def test_a_range_of_documents_gives_one_resource_per_item_on_the_same_lines(tmp_path):
    """`range .Values.egress` emitting one DestinationRule per entry: every item is checked, at the template's lines."""
    chart = _chart(tmp_path, {"drs.yaml": (
        "{{- range $i, $e := .Values.egress }}\n"
        "---\n"
        "apiVersion: networking.istio.io/v1\n"
        "kind: DestinationRule\n"
        "metadata:\n"
        "  name: {{ $e.name }}-{{ $i }}\n"
        "spec:\n"
        "  host: {{ .host }}\n"
        "  trafficPolicy:\n"
        "    portLevelSettings:\n"
        "    {{- range .ports }}\n"
        "      - port:\n"
        "          number: {{ . }}\n"
        "    {{- end }}\n"
        "    tls:\n"
        "      mode: {{ .tlsMode | default \"SIMPLE\" }}\n"
        "{{- end }}\n")},
        values=("egress:\n"
                "  - name: stripe\n    host: api.stripe.com\n    ports: [443, 8443]\n"
                "  - name: sift\n    host: api.sift.com\n    tlsMode: MUTUAL\n    ports: [443]\n"))
    r = _render(chart, "drs.yaml")
    assert r.problems == []
    got = [(d.name, d.data["spec"]["host"], d.data["spec"]["trafficPolicy"]["tls"]["mode"], d.line_of(("spec", "trafficPolicy", "tls")))
           for d in r.documents]
    assert got == [("stripe-0", "api.stripe.com", "SIMPLE", 15), ("sift-1", "api.sift.com", "MUTUAL", 15)]
    first, second = (r.origins[(d.index, None)] for d in r.documents)
    assert first.notes == ("line 11: range over .ports: only item 1 of 2 is rendered",)
    assert second.notes == ("line 1: range over $i, $e := .Values.egress: item 2 of 2",)
    assert dict(second.provenance)[("spec", "trafficPolicy", "tls", "mode")].where() == "charts/demo/values.yaml:7 (egress.1.tlsMode)"
    # unset, defaulted in the template: fix would add the key to that list item in values.yaml
    assert dict(first.provenance)[("spec", "trafficPolicy", "tls", "mode")].where() == "charts/demo/values.yaml (egress.0.tlsMode, not set there yet)"


def test_releases_are_found_the_same_in_a_git_work_tree_and_in_a_plain_directory(tmp_path):
    """find_releases asks `git grep` in a work tree (reading every YAML file of istio/istio to find no
    release took 0.1 s) and walks a plain directory; both find the Argo CD Application that deploys the
    in-repo chart, and in a work tree a git-ignored copy of it does not count (discover does not read it)."""
    import subprocess

    from migrator import helmtemplate

    plain = _copy(tmp_path / "plain")
    repo = _copy(tmp_path / "git")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("scratch/\n")
    (repo / "scratch").mkdir()
    app = (repo / "apps" / "ledger.yaml").read_text()
    (repo / "scratch" / "ledger-copy.yaml").write_text(app.replace("name: ledger", "name: ledger-copy", 1))
    found = {}
    for name, root in (("plain", plain), ("git", repo)):
        helmtemplate._RELEASES_CACHE.clear()
        releases = helmtemplate.find_releases(str(root))
        found[name] = {chart: sorted(r.source or "" for r in rs) for chart, rs in releases.items()}
    helmtemplate._RELEASES_CACHE.clear()
    assert helmtemplate._mentioning_releases(str(plain)) is None  # not a work tree: the walk
    assert found["git"] == found["plain"] and list(found["plain"]) == ["charts/ledger"]
    assert len(found["plain"]["charts/ledger"]) == 1


def test_the_release_search_runs_while_files_are_read_and_is_taken_once(tmp_path, monkeypatch):
    """In a work tree with chart templates, the scan starts the `git grep` for releases right after
    discovery (it ran on the first template, while the second core idled); the template takes that
    search, no second one runs, and the Application's values still render the chart."""
    import subprocess

    from migrator import helmtemplate
    from migrator.model import ScanOptions
    from migrator.scan import scan

    repo = _copy(tmp_path / "git")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    started, taken = [], []
    real_search, real_mentioning = helmtemplate._release_search, helmtemplate._mentioning_releases
    monkeypatch.setattr(helmtemplate, "_release_search", lambda root: started.append(root) or real_search(root))
    monkeypatch.setattr(helmtemplate, "_mentioning_releases",
                        lambda root: taken.append(root in helmtemplate._SEARCHES) or real_mentioning(root))
    result = scan([str(repo)], ScanOptions())
    assert started == [str(repo)] and taken == [True]  # started ahead, taken by the template, never run twice
    dr = next(r for r in result.inventory.resources if r.path == "charts/ledger/templates/destinationrule.yaml")
    assert dr.name == "ledger-settlements"  # the Application's release name, not the chart-defaults "release-name-…"
    assert helmtemplate._SEARCHES == {}


def test_a_release_search_nobody_takes_is_stopped_when_the_scan_ends(tmp_path, monkeypatch):
    """Chart templates of Istio's own charts are skipped before any release is looked for: the search
    started ahead is ended and reaped at the scan's end, not left running (nor as a zombie)."""
    import subprocess

    from migrator import helmtemplate
    from migrator.model import ScanOptions
    from migrator.scan import scan

    repo = tmp_path / "repo"
    chart = repo / "manifests/charts/istio-control/istio-discovery"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: istiod\nversion: 1.22.0\n")
    (chart / "templates/deployment.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: istiod\n"
                                                     "  namespace: {{ .Release.Namespace }}\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    procs = []
    real_search = helmtemplate._release_search
    monkeypatch.setattr(helmtemplate, "_release_search", lambda root: procs.append(real_search(root)) or procs[-1])
    result = scan([str(repo)], ScanOptions())
    assert any("Istio" in p.message for p in result.skipped)  # the template was skipped as Istio's own chart
    assert len(procs) == 1 and procs[0].returncode is not None  # started, then ended and reaped
    assert helmtemplate._SEARCHES == {}


def test_with_jobs_the_parent_renders_every_template_and_runs_the_one_release_search(tmp_path, monkeypatch):
    """--jobs 2: chart templates are the parent's (it holds the search started after discovery, which
    runs while both processes read); no worker runs a search of its own, and the Application's release
    still renders the chart, as in a serial scan."""
    import subprocess

    from migrator import helmtemplate
    from migrator.model import ScanOptions
    from migrator.scan import scan

    repo = _copy(tmp_path / "git")
    for n in range(70):  # enough files for the worker pool (scan._outcomes: 64)
        (repo / "apps" / f"svc-{n:02d}.yaml").write_text(f"apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{n}\n"
                                                         f"  labels:\n    istio.io/rev: default\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    log = tmp_path / "searches.log"
    real_search = helmtemplate._release_search

    def logged(root):
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        return real_search(root)

    rendered = tmp_path / "rendered.log"
    real_scan_template = helmtemplate.scan_template

    def logged_template(path, *args):
        with open(rendered, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        return real_scan_template(path, *args)

    monkeypatch.setattr(helmtemplate, "_release_search", logged)
    monkeypatch.setattr(helmtemplate, "scan_template", logged_template)
    parallel = scan([str(repo)], ScanOptions(jobs=2))
    assert log.read_text().split() == [str(os.getpid())]  # one search, by the parent
    assert set(rendered.read_text().split()) == {str(os.getpid())}  # every template rendered by the parent
    dr = next(r for r in parallel.inventory.resources if r.path == "charts/ledger/templates/destinationrule.yaml")
    assert dr.name == "ledger-settlements"
    serial = scan([str(repo)], ScanOptions(jobs=1))
    assert [(f.rule, f.path, f.line) for f in parallel.findings] == [(f.rule, f.path, f.line) for f in serial.findings]
