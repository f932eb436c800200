"""Suppressions: inline comments (above a resource, on the finding's line, alone above it), the
`mesh-migrator.io/ignore` annotation, and the baseline.  Suppressed findings stay in JSON and SARIF,
marked, and stop failing the run."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import FIXTURES

SEED = FIXTURES / "spire-istio-1.22"
PAY = "apps/payments"
SIFT = f"{PAY}/destinationrule-sift.yaml"
STRIPE = f"{PAY}/destinationrule-stripe.yaml"


@pytest.fixture
def repo(tmp_path):
    dst = tmp_path / "repo"
    shutil.copytree(SEED, dst)
    return dst


@pytest.fixture
def both(run_cli):
    """Scan once as JSON and once as SARIF; returns (exit code, findings, SARIF results)."""

    def run(*args: str):
        code, out, err = run_cli("scan", *args, "--format", "json")
        assert out, err
        sarif_code, sarif_out, _ = run_cli("scan", *args, "--format", "sarif")
        assert sarif_code == code
        return code, json.loads(out)["findings"], json.loads(sarif_out)["runs"][0]["results"]

    return run


def edit(repo, rel: str, old: str, new: str, count: int = 1) -> None:
    f = repo / rel
    text = f.read_text()
    assert text.count(old) >= count, f"{old!r} not in {rel}"
    f.write_text(text.replace(old, new, count))


def states(findings) -> list[tuple]:
    return [(f["rule"], f["path"], f["line"], f["suppressed"], f["suppression_reason"]) for f in findings]


def sarif_suppressions(results) -> list:
    return [[(s["kind"], s["justification"]) for s in r.get("suppressions", [])] for r in results]


def test_unsuppressed_baseline(repo, both):
    """Control: without suppressions all three findings are active and the scan fails."""
    code, findings, results = both(str(repo))
    assert states(findings) == [("MM101", SIFT, 21, None, None), ("MM101", SIFT, 29, None, None), ("MM101", STRIPE, 17, None, None)]
    assert sarif_suppressions(results) == [[], [], []]
    assert code == 1


def test_inline_comment_above_resource(repo, both):
    # directly above apiVersion: the whole resource, every line of it
    edit(repo, STRIPE, "apiVersion:", "# mesh-migrator: ignore[MM101] Stripe uses a public CA bundle baked into the image\napiVersion:")
    edit(repo, SIFT, "apiVersion:", "# mesh-migrator: ignore[MM101] sift is being retired (PAY-1234)\napiVersion:")
    code, findings, results = both(str(repo))
    assert states(findings) == [
        ("MM101", SIFT, 22, "inline", "sift is being retired (PAY-1234)"),
        ("MM101", SIFT, 30, "inline", "sift is being retired (PAY-1234)"),
        ("MM101", STRIPE, 18, "inline", "Stripe uses a public CA bundle baked into the image"),
    ]
    assert sarif_suppressions(results) == [
        [("inSource", "sift is being retired (PAY-1234)")], [("inSource", "sift is being retired (PAY-1234)")],
        [("inSource", "Stripe uses a public CA bundle baked into the image")]]
    assert code == 0


def test_inline_comment_on_the_findings_line(repo, both):
    edit(repo, STRIPE, "    tls:\n", "    tls:  # mesh-migrator: ignore[MM101] accepted risk\n")
    edit(repo, SIFT, "        tls:\n", "        tls: # mesh-migrator: ignore[MM101]\n", count=2)
    code, findings, results = both(str(repo))
    assert states(findings) == [
        ("MM101", SIFT, 21, "inline", None), ("MM101", SIFT, 29, "inline", None), ("MM101", STRIPE, 17, "inline", "accepted risk")]
    assert [s[0][0] for s in sarif_suppressions(results)] == ["inSource"] * 3
    assert sarif_suppressions(results)[2] == [("inSource", "accepted risk")]
    assert code == 0


def test_inline_comment_on_a_line_covers_only_that_line(repo, both):
    """One sift block suppressed; the other sift block in the same resource stays active."""
    edit(repo, SIFT, "        tls:\n", "        tls: # mesh-migrator: ignore[MM101] port 443 only\n", count=1)
    code, findings, _ = both(str(repo))
    assert states(findings) == [
        ("MM101", SIFT, 21, "inline", "port 443 only"), ("MM101", SIFT, 29, None, None), ("MM101", STRIPE, 17, None, None)]
    assert code == 1


def test_inline_comment_alone_above_the_findings_line(repo, both):
    edit(repo, STRIPE, "    tls:\n", "    # mesh-migrator: ignore[MM101] next line\n    tls:\n")
    _, findings, _ = both(str(repo))
    assert ("MM101", STRIPE, 18, "inline", "next line") in states(findings)


def test_inline_comment_for_another_rule_does_not_suppress(repo, both):
    edit(repo, STRIPE, "    tls:\n", "    tls:  # mesh-migrator: ignore[MM102,MM110] wrong rule\n")
    code, findings, _ = both(str(repo))
    assert ("MM101", STRIPE, 17, None, None) in states(findings)
    assert code == 1


def test_inline_comment_all_and_lists(repo, both):
    edit(repo, STRIPE, "    tls:\n", "    tls:  # mesh-migrator: ignore[ALL] everything here\n")
    edit(repo, SIFT, "apiVersion:", "# mesh-migrator: ignore[mm110, mm101] lower case ids\napiVersion:")
    code, findings, _ = both(str(repo))
    assert [f["suppressed"] for f in findings] == ["inline"] * 3
    assert code == 0


def test_inline_comment_in_the_next_document_does_not_leak_backwards(repo, both):
    """A comment above the second document suppresses that one, not the DestinationRule before it."""
    f = repo / STRIPE
    f.write_text(f.read_text() + "---\n# mesh-migrator: ignore[MM101] belongs to the ConfigMap\napiVersion: v1\nkind: ConfigMap\n"
                 "metadata:\n  name: notes\n  namespace: payments\ndata:\n  a: b\n")
    code, findings, _ = both(str(repo))
    assert ("MM101", STRIPE, 17, None, None) in states(findings)
    assert code == 1


def test_inline_comment_at_the_top_of_the_resources_comment_block(repo, both):
    """'On or above the resource': the resource's leading comment block belongs to it, so an ignore
    comment at the top of that block (not only on the line right above apiVersion) should apply."""
    f = repo / STRIPE
    f.write_text("# mesh-migrator: ignore[MM101] Stripe is on a public CA\n" + f.read_text())
    _, findings, _ = both(str(repo))
    assert ("MM101", STRIPE, 18, "inline", "Stripe is on a public CA") in states(findings)


def test_annotation(repo, both):
    ann = ("  annotations:\n    mesh-migrator.io/ignore: \"MM101\"\n"
           "    mesh-migrator.io/ignore-reason: \"fraud scoring tolerates outages\"\n")
    edit(repo, SIFT, "  namespace: payments\n", "  namespace: payments\n" + ann)
    edit(repo, STRIPE, "  labels:\n", "  annotations:\n    mesh-migrator.io/ignore: \"MM110, MM101\"\n  labels:\n")
    code, findings, results = both(str(repo))
    assert states(findings) == [
        ("MM101", SIFT, 24, "annotation", "fraud scoring tolerates outages"),
        ("MM101", SIFT, 32, "annotation", "fraud scoring tolerates outages"),
        ("MM101", STRIPE, 19, "annotation", None),
    ]
    kinds = sarif_suppressions(results)
    assert kinds[0] == [("inSource", "fraud scoring tolerates outages")]
    assert kinds[2][0][0] == "inSource" and kinds[2][0][1]  # a justification is always given
    assert code == 0


def test_annotation_for_another_rule_does_not_suppress(repo, both):
    edit(repo, STRIPE, "  labels:\n", "  annotations:\n    mesh-migrator.io/ignore: \"MM121\"\n  labels:\n")
    code, findings, _ = both(str(repo))
    assert ("MM101", STRIPE, 19, None, None) in states(findings)
    assert code == 1


def test_annotation_on_a_list_item(tmp_path, both):
    """kubectl dumps: the annotation of one item suppresses only that item's findings."""
    src = FIXTURES / "kubectl-dump"
    repo = tmp_path / "dump"
    shutil.copytree(src, repo)
    _, before, _ = both(str(repo), "--istio-version", "1.22.3")
    assert before and all(f["suppressed"] is None for f in before)
    first = before[0]
    dump = repo / first["path"]
    name = first["resource"].split("/")[-1]
    text = dump.read_text()
    marker = f"    name: {name}\n"
    assert marker in text, (first, text[:400])
    dump.write_text(text.replace(marker, marker + "    annotations:\n      mesh-migrator.io/ignore: " + first["rule"] + "\n", 1))
    code, after, _ = both(str(repo), "--istio-version", "1.22.3")
    assert [f["suppressed"] for f in after if f["resource"] == first["resource"] and f["rule"] == first["rule"]] == ["annotation"]
    assert all(f["suppressed"] is None for f in after if f["resource"] != first["resource"])


def test_inline_comment_on_an_embedded_helm_values_line(tmp_path, both):
    """A flag inside IstioOperator values: the comment on the flag's own line suppresses MM120."""
    repo = tmp_path / "flag"
    shutil.copytree(FIXTURES / "flag-false-istio-1.22", repo)
    rel = "istio/istio-operator.yaml"
    _, findings, _ = both(str(repo))
    assert ("MM120", rel, 21, None, None) in states(findings)
    others = [s for s in states(findings) if s[2] != 21]
    edit(repo, rel, '        VERIFY_CERTIFICATE_AT_CLIENT: "false"\n',
         '        VERIFY_CERTIFICATE_AT_CLIENT: "false"  # mesh-migrator: ignore[MM120] until the 1.26 upgrade (PLAT-77)\n')
    _, findings, results = both(str(repo))
    i = next(i for i, s in enumerate(states(findings)) if s[2] == 21)
    assert states(findings)[i] == ("MM120", rel, 21, "inline", "until the 1.26 upgrade (PLAT-77)")
    assert sarif_suppressions(results)[i] == [("inSource", "until the 1.26 upgrade (PLAT-77)")]
    assert [s for s in states(findings) if s[2] != 21] == others  # the rest of the resource is untouched


def test_baseline(repo, both, run_cli, tmp_path):
    baseline = tmp_path / "mesh-baseline.json"
    code, _, err = run_cli("scan", str(repo), "--baseline", str(baseline), "--update-baseline")
    assert code == 0, err
    code, findings, results = both(str(repo), "--baseline", str(baseline))
    assert [f[:4] for f in states(findings)] == [("MM101", SIFT, 21, "baseline"), ("MM101", SIFT, 29, "baseline"), ("MM101", STRIPE, 17, "baseline")]
    assert all(str(baseline) in f["suppression_reason"] for f in findings)
    assert [s[0][0] for s in sarif_suppressions(results)] == ["external"] * 3
    assert code == 0


def test_suppressed_findings_do_not_count_but_stay_listed(repo, run_cli):
    edit(repo, STRIPE, "    tls:\n", "    tls:  # mesh-migrator: ignore[MM101] ok\n")
    code, out, _ = run_cli("scan", str(repo), "--format", "json")
    report = json.loads(out)
    assert report["summary"]["findings"] == 2 and report["summary"]["suppressed"] == 1
    assert len(report["findings"]) == 3
    code, out, _ = run_cli("scan", str(repo))  # text: hidden unless asked for
    assert "destinationrule-stripe.yaml" not in out and code == 1
    code, out, _ = run_cli("scan", str(repo), "--show-suppressed")
    assert "suppressed (inline)" in out
