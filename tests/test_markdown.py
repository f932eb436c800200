"""Markdown output for CI job summaries: summary line, versions, findings table, suppressions, file errors."""

from __future__ import annotations

import re
import shutil

import pytest

from conftest import FIXTURES

SEED = FIXTURES / "spire-istio-1.22"
MM101_HELP = "https://github.com/mesh-migrator/mesh-migrator/blob/main/docs/rules/MM101.md"  # the rule page (help_uri)


@pytest.fixture
def markdown(run_cli):
    def run(*args: str):
        code, out, err = run_cli("scan", *args, "--format", "markdown")
        assert out, f"no markdown on stdout (exit {code}): {err}"
        return code, out, err

    return run


@pytest.fixture
def repo(tmp_path):
    dst = tmp_path / "repo"
    shutil.copytree(SEED, dst)
    return dst


def table(md: str, header: str) -> list[list[str]]:
    """Rows (cells split on unescaped pipes) of the table whose header line starts with `header`."""
    lines = md.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(header))
    rows = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]])
    return rows


def test_findings_table(markdown):
    code, md, _ = markdown(str(SEED))
    assert code == 1
    assert md.startswith("## mesh-migrator scan\n")
    assert "**3 finding(s)**: 3 error(s), 0 warning(s), 0 info · 15 file(s) read, 13 parsed" in md  # kustomization.yaml is parsed for its wiring (topology)
    rows = table(md, "| Severity | Rule |")
    assert [r[:4] for r in rows] == [
        ["error", f"[MM101]({MM101_HELP})", "`apps/payments/destinationrule-sift.yaml:21`", "DestinationRule/payments/sift-tls"],
        ["error", f"[MM101]({MM101_HELP})", "`apps/payments/destinationrule-sift.yaml:29`", "DestinationRule/payments/sift-tls"],
        ["error", f"[MM101]({MM101_HELP})", "`apps/payments/destinationrule-stripe.yaml:17`", "DestinationRule/payments/stripe-tls"],
    ]
    assert all("file-root:system" in r[4] for r in rows)
    assert "suppressed" not in md and "File errors" not in md
    # emoji-free: plain ASCII severities, nothing outside the BMP
    assert not any(ord(ch) > 0xFFFF for ch in md)


def test_versions_table_per_environment(markdown):
    _, md, _ = markdown(str(FIXTURES / "multi-env"))
    rows = table(md, "| Environment | Istio | SPIRE |")
    assert [r[:3] for r in rows] == [["prod", "1.22.3", "1.11.0"], ["staging", "1.26.2", "1.11.0"]]
    findings = table(md, "| Severity | Rule |")
    assert [(r[1], r[2]) for r in findings] == [(f"[MM101]({MM101_HELP})", "`base/payments/destinationrule-stripe.yaml:17`")]
    assert findings[0][4].endswith("\\[env: prod\\]")


def test_whole_repository_row_when_no_environments(markdown):
    _, md, _ = markdown(str(SEED))
    assert [r[:3] for r in table(md, "| Environment |")] == [["(whole repository)", "1.22.3", "1.11.0"]]


def test_unknown_version_is_said(markdown):
    _, md, _ = markdown(str(FIXTURES / "helm-chart-templates"))
    rows = table(md, "| Environment |")
    assert rows and rows[0][1] == "unknown"


def test_no_findings(markdown):
    code, md, _ = markdown(str(FIXTURES / "spire-istio-1.26"))
    assert code == 0
    assert "**No findings**" in md
    assert "| Severity | Rule |" not in md


def test_file_errors(markdown):
    _, md, _ = markdown(str(FIXTURES / "bad-input"))
    assert "5 file error(s)" in md.splitlines()[2]
    section = md.split("### File errors", 1)[1].split("<sub>", 1)[0]
    items = [ln for ln in section.splitlines() if ln.startswith("- ")]
    assert [i.split(": ", 1)[0] for i in items] == [
        "- `alias-bomb.yaml:2`", "- `binary.yaml`", "- `duplicate-keys.yaml:9`", "- `invalid.yaml:11`", "- `latin1.yaml:1`"]
    assert "- `invalid.yaml:11`: YAML syntax error: did not find expected key" in items


def test_skipped_files(markdown, scan_json, tmp_path):
    # Application chart templates (helm-chart-templates) are rendered now; Istio installer chart
    # templates are still skipped with a reason, so they make the skipped list here.
    chart = tmp_path / "charts" / "istiod"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: istiod\nversion: 1.22.3\n")
    for name in ("deployment.yaml", "service.yaml"):
        (chart / "templates" / name).write_text("kind: Deployment # istio\nmetadata:\n  name: {{ .Release.Name }}\n")
    _, md, _ = markdown(str(tmp_path))
    _, report, _ = scan_json(str(tmp_path))
    n = len(report["skipped"])
    assert n == 2 and not report["errors"]
    assert f"{n} file(s) skipped" in md.splitlines()[2] and "File errors" not in md
    assert f"<details><summary>{n} file(s) skipped</summary>" in md
    assert "- `charts/istiod/templates/deployment.yaml`: Istio installer chart template (istiod)" in md
    assert sum(1 for ln in md.splitlines() if ln.startswith("- `charts/")) == n


def test_suppressed_count(repo, markdown):
    f = repo / "apps" / "payments" / "destinationrule-stripe.yaml"
    f.write_text(f.read_text().replace("    tls:\n", "    tls:  # mesh-migrator: ignore[MM101] Stripe | pinned CA\n", 1))
    code, md, _ = markdown(str(repo))
    assert code == 1  # two sift findings remain
    assert "**2 finding(s)**" in md and "· 1 suppressed" in md
    assert "**1 suppressed finding(s)** (1 inline)" in md
    assert [r[2] for r in table(md, "| Severity | Rule |")] == [
        "`apps/payments/destinationrule-sift.yaml:21`", "`apps/payments/destinationrule-sift.yaml:29`"]
    assert table(md, "| Rule | Location | Resource | Suppressed by |") == [
        ["MM101", "`apps/payments/destinationrule-stripe.yaml:17`", "DestinationRule/payments/stripe-tls", "inline", "Stripe \\| pinned CA"]]


def test_cells_are_escaped(repo):
    """Pipes, newlines, HTML and emphasis in messages cannot break the table."""
    from migrator.model import ScanOptions
    from migrator.report import markdown
    from migrator.scan import scan

    result = scan([str(repo)], ScanOptions())
    result.findings[0].message = "a | b\nc <script>x</script> *bold* _u_"
    result.findings[0].resource = "DestinationRule/ns/a|b"
    md = markdown.render(result)
    rows = table(md, "| Severity | Rule |")
    assert all(len(r) == 5 for r in rows)
    assert rows[0][3] == "DestinationRule/ns/a\\|b"
    assert rows[0][4] == "a \\| b c &lt;script&gt;x&lt;/script&gt; \\*bold\\* \\_u\\_"


def test_long_tables_are_cut(repo, monkeypatch):
    from migrator.model import ScanOptions
    from migrator.report import markdown
    from migrator.scan import scan

    monkeypatch.setattr(markdown, "MAX_ROWS", 1)
    md = markdown.render(scan([str(repo)], ScanOptions()))
    assert len(table(md, "| Severity | Rule |")) == 1
    assert "… and 2 more finding(s)" in md


def test_output_file_matches_stdout(repo, run_cli, tmp_path):
    out = tmp_path / "summary.md"
    code, stdout, _ = run_cli("scan", str(repo), "--format", "markdown", "--output", str(out))
    assert code == 1 and stdout == ""
    _, expected, _ = run_cli("scan", str(repo), "--format", "markdown")
    assert out.read_text() == expected
