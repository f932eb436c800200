"""Baselines: record today's findings, then only new findings fail CI; baselined ones stay visible."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import FIXTURES

SEED = FIXTURES / "spire-istio-1.22"
SIFT = "apps/payments/destinationrule-sift.yaml"
STRIPE = "apps/payments/destinationrule-stripe.yaml"
ADYEN = "apps/payments/destinationrule-adyen.yaml"

#: a new, realistic DestinationRule that originates TLS without a CA: one new MM101 at line 13
ADYEN_DR = """\
# Adyen acquiring (added for the NL launch).
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: adyen-tls
  namespace: payments
spec:
  host: checkout-live.adyen.com
  trafficPolicy:
    connectionPool:
      tcp:
        connectTimeout: 5s
    tls:
      mode: SIMPLE
      sni: checkout-live.adyen.com
"""


@pytest.fixture
def repo(tmp_path):
    dst = tmp_path / "repo"
    shutil.copytree(SEED, dst)
    return dst


@pytest.fixture
def baseline(repo, run_cli, tmp_path):
    """Record the seed's three findings; returns the baseline path."""
    path = tmp_path / "ci" / "mesh-baseline.json"
    path.parent.mkdir()
    code, out, err = run_cli("scan", str(repo), "--baseline", str(path), "--update-baseline")
    assert code == 0, err
    assert "baseline written" in err and "3 finding(s)" in err
    return path


def scan(run_cli, *args):
    code, out, err = run_cli("scan", *args, "--format", "json")
    assert out, err
    return code, json.loads(out)


def active(report) -> list[tuple]:
    return [(f["rule"], f["path"], f["line"]) for f in report["findings"] if not f["suppressed"]]


def test_update_baseline_writes_the_findings(baseline):
    doc = json.loads(baseline.read_text())
    assert doc["tool"] == "mesh-migrator"
    assert sorted((e["rule"], e["path"], e["resource"]) for e in doc["findings"]) == [
        ("MM101", SIFT, "DestinationRule/payments/sift-tls"),
        ("MM101", SIFT, "DestinationRule/payments/sift-tls"),
        ("MM101", STRIPE, "DestinationRule/payments/stripe-tls"),
    ]  # one entry per finding: the two sift blocks are two entries
    assert all("line" not in e for e in doc["findings"])  # no line numbers: unrelated edits keep entries valid


def test_baselined_findings_pass_and_stay_visible(repo, baseline, run_cli):
    code, report = scan(run_cli, str(repo), "--baseline", str(baseline))
    assert active(report) == []
    assert [(f["path"], f["line"], f["suppressed"]) for f in report["findings"]] == [
        (SIFT, 21, "baseline"), (SIFT, 29, "baseline"), (STRIPE, 17, "baseline")]
    assert report["summary"]["suppressed"] == 3 and report["summary"]["findings"] == 0
    assert code == 0
    code, out, _ = run_cli("scan", str(repo), "--baseline", str(baseline), "--format", "sarif")
    results = json.loads(out)["runs"][0]["results"]
    assert [r["suppressions"][0]["kind"] for r in results] == ["external"] * 3
    assert all(str(baseline) in r["suppressions"][0]["justification"] for r in results)
    assert code == 0


def test_new_finding_fails_and_is_the_only_active_one(repo, baseline, run_cli):
    (repo / ADYEN).write_text(ADYEN_DR)
    code, report = scan(run_cli, str(repo), "--baseline", str(baseline))
    assert active(report) == [("MM101", ADYEN, 13)]
    assert [f["suppressed"] for f in report["findings"] if f["path"] != ADYEN] == ["baseline"] * 3
    assert code == 1
    # and the markdown summary says the same
    code, md, _ = run_cli("scan", str(repo), "--baseline", str(baseline), "--format", "markdown")
    assert "**1 finding(s)**" in md and "3 suppressed" in md and f"`{ADYEN}:13`" in md
    assert code == 1


def test_without_the_baseline_everything_fails_again(repo, baseline, run_cli):
    code, report = scan(run_cli, str(repo))
    assert len(active(report)) == 3 and code == 1


def test_unrelated_edits_keep_findings_baselined(repo, baseline, run_cli):
    for rel in (SIFT, STRIPE):
        f = repo / rel
        f.write_text("# Owned by team payments (CODEOWNERS).\n# Do not edit by hand.\n" + f.read_text())
    code, report = scan(run_cli, str(repo), "--baseline", str(baseline))
    assert [(f["path"], f["line"], f["suppressed"]) for f in report["findings"]] == [
        (SIFT, 23, "baseline"), (SIFT, 31, "baseline"), (STRIPE, 19, "baseline")]
    assert code == 0


def test_fixed_finding_then_reintroduced_elsewhere_is_new(repo, baseline, run_cli):
    """Renaming the resource makes it a different finding: it is not covered by the old entry."""
    f = repo / STRIPE
    f.write_text(f.read_text().replace("name: stripe-tls", "name: stripe-tls-eu"))
    code, report = scan(run_cli, str(repo), "--baseline", str(baseline))
    assert active(report) == [("MM101", STRIPE, 17)]
    assert code == 1


def test_inline_suppressed_findings_are_not_baselined(repo, run_cli, tmp_path):
    f = repo / STRIPE
    f.write_text(f.read_text().replace("    tls:\n", "    tls:  # mesh-migrator: ignore[MM101] public CA\n"))
    path = tmp_path / "b.json"
    code, _, _ = run_cli("scan", str(repo), "--baseline", str(path), "--update-baseline")
    assert code == 0
    assert [e["path"] for e in json.loads(path.read_text())["findings"]] == [SIFT, SIFT]  # one entry per offending TLS block
    code, report = scan(run_cli, str(repo), "--baseline", str(path))
    assert [(f["path"], f["suppressed"]) for f in report["findings"]] == [(SIFT, "baseline"), (SIFT, "baseline"), (STRIPE, "inline")]
    assert code == 0


def test_missing_baseline_is_a_usage_error(repo, run_cli, tmp_path):
    code, out, err = run_cli("scan", str(repo), "--baseline", str(tmp_path / "nope.json"))
    assert code == 2
    assert "nope.json" in err and "--update-baseline" in err
    assert out == ""


def test_corrupt_baseline_is_a_usage_error(repo, run_cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"findings": [{"rule": "MM101"}]}')
    code, _, err = run_cli("scan", str(repo), "--baseline", str(bad))
    assert code == 2 and "not a mesh-migrator baseline" in err


def test_new_finding_in_an_already_baselined_resource_is_new(repo, baseline, run_cli):
    """A new TLS block in a baselined DestinationRule is a new finding and must fail CI.  Baseline
    entries are (rule, path, resource, sds name): every MM101 of sift-tls shares one entry, so a third
    block added to sift-tls is silently covered by the entry recorded for the first two."""
    f = repo / SIFT
    f.write_text(f.read_text() + "    - name: apac\n      labels:\n        region: apac\n      trafficPolicy:\n"
                 "        tls:\n          mode: SIMPLE\n          sni: apac.api.sift.com\n")
    lines = f.read_text().splitlines()
    apac_tls = lines.index("    - name: apac") + 5  # 1-based line of its `tls:`
    assert lines[apac_tls - 1] == "        tls:"
    code, report = scan(run_cli, str(repo), "--baseline", str(baseline))
    assert [(f["path"], f["line"]) for f in report["findings"]] == [(SIFT, 21), (SIFT, 29), (SIFT, apac_tls), (STRIPE, 17)]
    assert active(report) == [("MM101", SIFT, apac_tls)]  # the new one must not be hidden by the baseline
    assert code == 1


def test_update_baseline_needs_a_baseline_file(repo, run_cli):
    """--update-baseline without --baseline (and no `baseline:` in the config) should be a usage
    error, not a normal scan that silently writes nothing."""
    code, _, err = run_cli("scan", str(repo), "--update-baseline")
    assert code == 2, err
    assert "--baseline" in err
