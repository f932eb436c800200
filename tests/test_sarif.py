"""SARIF 2.1.0 output: schema-valid for every fixture, exact locations, stable fingerprints, notifications."""

from __future__ import annotations

import copy
import io
import json
import shutil
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import EXPECTATIONS, FIXTURES

SARIF_SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft4Validator(SARIF_SCHEMA)  # the official schema is draft-04
SEED = FIXTURES / "spire-istio-1.22"
#: every fixture directory present when the tests are collected; a placeholder makes an empty set fail
FIXTURE_DIRS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()) if FIXTURES.is_dir() else []
NO_FIXTURES = "<no fixture directories>"


def fixture_args(name: str) -> list[str]:
    """The extra CLI args the fixture's expectation asks for (e.g. --istio-version), if it has one."""
    exp = EXPECTATIONS / f"{name}.yaml"
    return list((yaml.safe_load(exp.read_text()) or {}).get("args") or []) if exp.is_file() else []


@pytest.fixture
def sarif(run_cli):
    def run(*args: str):
        code, out, err = run_cli("scan", *args, "--format", "sarif")
        assert out, f"no SARIF on stdout (exit {code}): {err}"
        return code, json.loads(out), err

    return run


@pytest.fixture
def repo(tmp_path):
    dst = tmp_path / "repo"
    shutil.copytree(SEED, dst)
    return dst


def fps(log: dict) -> list[str]:
    return [r["partialFingerprints"]["meshMigrator/v1"] for r in log["runs"][0]["results"]]


def locs(log: dict) -> list[tuple]:
    out = []
    for r in log["runs"][0]["results"]:
        loc = r["locations"][0]["physicalLocation"]
        out.append((r["ruleId"], loc["artifactLocation"]["uri"], loc["region"]["startLine"], loc["region"]["startColumn"]))
    return out


# -- schema --------------------------------------------------------------------------------------
def test_fixture_directories_exist():
    assert FIXTURE_DIRS, f"no fixture directories under {FIXTURES}: SARIF validation would test nothing"


@pytest.mark.parametrize("name", FIXTURE_DIRS or [NO_FIXTURES])
def test_sarif_validates_for_every_fixture(name, sarif, scan_json):
    assert name != NO_FIXTURES, f"no fixture directories under {FIXTURES}"
    args = fixture_args(name)
    code, log, _ = sarif(str(FIXTURES / name), *args)
    errors = sorted(VALIDATOR.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, f"{name}: {errors[0].message} at {list(errors[0].absolute_path)}"
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    # the same findings as the JSON report, in the same order, each pointing at its rule descriptor
    json_code, report, _ = scan_json(str(FIXTURES / name), *args)
    assert code == json_code
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
             r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in run["results"]] == \
        [(f["rule"], f["path"], f["line"]) for f in report["findings"]]
    for r, f in zip(run["results"], report["findings"]):
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["level"] == {"error": "error", "warning": "warning", "info": "note"}[f["severity"]]
        assert bool(r.get("suppressions")) == bool(f["suppressed"])
    # every file error and skip is a notification with its file location
    notes = run["invocations"][0]["toolExecutionNotifications"]
    problems = report["errors"] + report["skipped"]
    assert sorted(n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for n in notes) == sorted(p["path"] for p in problems)
    fingerprints = fps(log)
    assert len(set(fingerprints)) == len(fingerprints), f"{name}: duplicate fingerprints"


def test_validator_is_not_vacuous(sarif):
    """Negative control: the schema really rejects a malformed log (so 'validates' means something)."""
    _, log, _ = sarif(str(SEED))
    assert not list(VALIDATOR.iter_errors(log))
    broken = copy.deepcopy(log)
    broken["runs"][0]["results"][0]["level"] = "fatal"
    assert list(VALIDATOR.iter_errors(broken))
    broken = copy.deepcopy(log)
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    assert list(VALIDATOR.iter_errors(broken))
    broken = copy.deepcopy(log)
    broken["runs"][0]["results"][0]["suppressions"] = [{"kind": "inline"}]
    assert list(VALIDATOR.iter_errors(broken))


# -- tool and rules ------------------------------------------------------------------------------
def test_driver_lists_every_catalog_rule_with_help(sarif):
    from migrator import __version__
    from migrator.rules import catalog

    _, log, _ = sarif(str(FIXTURES / "spire-istio-1.26"))  # no findings: the rules are listed anyway
    assert log["runs"][0]["results"] == []
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "mesh-migrator" and driver["version"] == __version__
    assert driver["informationUri"].startswith("https://")
    metas = catalog()
    assert [r["id"] for r in driver["rules"]] == list(metas)
    for rule in driver["rules"]:
        meta = metas[rule["id"]]
        assert rule["shortDescription"]["text"] == meta.title
        assert rule["fullDescription"]["text"] == meta.explanation
        assert rule["helpUri"] == meta.help_uri and rule["helpUri"].endswith(f"/docs/rules/{meta.id}.md")
        assert rule["defaultConfiguration"]["level"] == {"error": "error", "warning": "warning", "info": "note"}[meta.severity]
        for source in meta.sources:
            assert source in rule["help"]["text"] and f"<{source}>" in rule["help"]["markdown"]
        assert "istio" in rule["properties"]["tags"]
        assert rule["name"][0].isupper() and " " not in rule["name"]
    mm101 = next(r for r in driver["rules"] if r["id"] == "MM101")
    assert mm101["name"] == "FileRootSystem"
    assert set(mm101["properties"]["tags"]) >= {"istio", "spire", "tls"}


# -- results -------------------------------------------------------------------------------------
def test_results_have_exact_locations(sarif):
    code, log, _ = sarif(str(SEED))
    assert code == 1
    assert locs(log) == [
        ("MM101", "apps/payments/destinationrule-sift.yaml", 21, 9),  # portLevelSettings[443].tls
        ("MM101", "apps/payments/destinationrule-sift.yaml", 29, 9),  # subsets[eu].trafficPolicy.tls
        ("MM101", "apps/payments/destinationrule-stripe.yaml", 17, 5),  # trafficPolicy.tls
    ]
    run = log["runs"][0]
    for r in run["results"]:
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert r["level"] == "error"
        assert "file-root:system" in r["message"]["text"]
        assert r["properties"]["sdsResource"] == "file-root:system"
        assert "suppressions" not in r
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == SEED.resolve().as_uri() + "/"
    assert [r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in run["results"]] == [
        "DestinationRule/payments/sift-tls", "DestinationRule/payments/sift-tls", "DestinationRule/payments/stripe-tls"]
    assert run["invocations"][0]["executionSuccessful"] is True
    assert run["invocations"][0]["toolExecutionNotifications"] == []
    assert run["properties"]["environments"] == [
        {"name": None, "istioVersion": "1.22.3", "istioAssumed": False, "spireVersion": "1.11.0"}]


def test_uris_are_percent_encoded(repo, sarif):
    src = repo / "apps" / "payments" / "destinationrule-stripe.yaml"
    dst = repo / "apps" / "payments" / "stripe tls#1.yaml"
    src.rename(dst)
    _, log, _ = sarif(str(repo))
    assert not list(VALIDATOR.iter_errors(log))
    assert ("MM101", "apps/payments/stripe%20tls%231.yaml", 17, 5) in locs(log)


# -- fingerprints --------------------------------------------------------------------------------
def test_fingerprints_identical_across_two_runs(sarif):
    _, first, _ = sarif(str(SEED))
    _, second, _ = sarif(str(SEED))
    assert len(fps(first)) == 3
    assert fps(first) == fps(second)
    assert len(set(fps(first))) == 3
    assert first == second  # the whole log is deterministic


def test_fingerprints_survive_unrelated_edits(repo, sarif):
    _, before, _ = sarif(str(repo))
    for name in ("destinationrule-sift.yaml", "destinationrule-stripe.yaml"):
        f = repo / "apps" / "payments" / name
        f.write_text("# Owned by team payments.\n# Reviewed 2026-11-01.\n# See RUNBOOK.md\n" + f.read_text())
    # an unrelated document added in front of the stripe DR shifts its document index too
    f = repo / "apps" / "payments" / "destinationrule-stripe.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n  namespace: payments\ndata:\n  a: b\n---\n" + f.read_text())
    _, after, _ = sarif(str(repo))
    assert locs(after) == [
        ("MM101", "apps/payments/destinationrule-sift.yaml", 24, 9),
        ("MM101", "apps/payments/destinationrule-sift.yaml", 32, 9),
        ("MM101", "apps/payments/destinationrule-stripe.yaml", 28, 5),
    ]
    assert fps(after) == fps(before)


def test_fingerprints_ignore_message_wording(repo, sarif):
    """Bumping the Istio pin rewords every message ("on Istio 1.23.1 …"); the findings are the same."""
    _, before, _ = sarif(str(repo))
    for name in ("istiod.yaml", "istio-base.yaml"):
        f = repo / "argocd" / name
        f.write_text(f.read_text().replace("targetRevision: 1.22.3", "targetRevision: 1.23.1"))
    _, after, _ = sarif(str(repo))
    assert [r["message"]["text"] for r in after["runs"][0]["results"]] != [r["message"]["text"] for r in before["runs"][0]["results"]]
    assert all("1.23.1" in r["message"]["text"] for r in after["runs"][0]["results"])
    assert fps(after) == fps(before)


def test_fingerprints_change_when_the_finding_does(repo, sarif):
    """Negative control: a different resource is a different finding."""
    _, before, _ = sarif(str(repo))
    f = repo / "apps" / "payments" / "destinationrule-stripe.yaml"
    f.write_text(f.read_text().replace("name: stripe-tls", "name: stripe-tls-v2"))
    _, after, _ = sarif(str(repo))
    by_uri_before = dict(zip(locs(before), fps(before)))
    by_uri_after = dict(zip(locs(after), fps(after)))
    key = ("MM101", "apps/payments/destinationrule-stripe.yaml", 17, 5)
    assert by_uri_before[key] != by_uri_after[key]
    sift = [k for k in by_uri_before if "sift" in k[1]]
    assert [by_uri_before[k] for k in sift] == [by_uri_after[k] for k in sift]


def test_fingerprints_unique_for_same_rule_and_resource(repo, sarif):
    """Two blocks of one DestinationRule (port 443 and subset eu) are two findings, not one."""
    _, log, _ = sarif(str(repo))
    sift = [fp for (rule, uri, *_), fp in zip(locs(log), fps(log)) if "sift" in uri]
    assert len(sift) == 2 and sift[0] != sift[1]


# -- notifications -------------------------------------------------------------------------------
def notifications(log: dict) -> list[tuple]:
    return sorted((n["level"], n["descriptor"]["id"], n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                   n["locations"][0]["physicalLocation"].get("region", {}).get("startLine"))
                  for n in log["runs"][0]["invocations"][0]["toolExecutionNotifications"])


def test_file_errors_are_notifications(sarif, scan_json):
    _, log, _ = sarif(str(FIXTURES / "bad-input"))
    assert not list(VALIDATOR.iter_errors(log))
    inv = log["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is True
    got = notifications(log)
    assert [(uri, line) for _, _, uri, line in got] == [
        ("alias-bomb.yaml", 2), ("binary.yaml", None), ("duplicate-keys.yaml", 9), ("invalid.yaml", 11), ("latin1.yaml", 1)]
    # the level follows the JSON report's classification: errors are "error", deliberate skips "note"
    _, report, _ = scan_json(str(FIXTURES / "bad-input"))
    kind = {p["path"]: "error" for p in report["errors"]} | {p["path"]: "skipped" for p in report["skipped"]}
    for level, descriptor, uri, _ in got:
        assert (level, descriptor) == (("error", "file-error") if kind[uri] == "error" else ("note", "file-skipped"))
    for n in inv["toolExecutionNotifications"]:
        assert "\n" not in n["message"]["text"]
        assert n["message"]["text"].startswith(n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
    assert inv["properties"]["fileErrors"] == len(report["errors"]) and inv["properties"]["filesSkipped"] == len(report["skipped"])
    # the valid files were still scanned
    # …and every unreadable file is also a result with its own rule id, MM001, as ruff reports syntax errors
    assert sorted(r["ruleId"] for r in log["runs"][0]["results"]) == ["MM001"] * 5 + ["MM101"]


def test_skipped_files_are_note_notifications(sarif, scan_json, tmp_path):
    # Application chart templates are now rendered (helm-chart-templates has no skipped file any more);
    # the templates of Istio's own installer charts are still skipped with a reason.
    chart = tmp_path / "charts" / "istiod"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: istiod\nversion: 1.22.3\n")
    (chart / "templates" / "deployment.yaml").write_text("kind: Deployment # istio\nmetadata:\n  name: {{ .Release.Name }}\n")
    _, log, _ = sarif(str(tmp_path))
    _, report, _ = scan_json(str(tmp_path))
    skipped = sorted((p["path"], p["line"]) for p in report["skipped"])
    assert ("charts/istiod/templates/deployment.yaml", None) in skipped
    assert notifications(log) == [("note", "file-skipped", path, line) for path, line in skipped]


def test_stdin_scan_is_valid_sarif(run_cli, monkeypatch):
    text = b"".join(p.read_bytes() + b"\n---\n" for p in sorted(SEED.rglob("*.yaml")))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text)))
    code, out, _ = run_cli("scan", "-", "--format", "sarif")
    log = json.loads(out)
    assert not list(VALIDATOR.iter_errors(log))
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    assert uris == {"stdin"}
    assert "originalUriBaseIds" not in log["runs"][0]
    assert code == 1


def test_output_file(repo, run_cli, tmp_path):
    out = tmp_path / "reports" / "mesh.sarif"
    code, stdout, _ = run_cli("scan", str(repo), "--format", "sarif", "--output", str(out))
    assert code == 1 and stdout == ""
    log = json.loads(out.read_text())
    assert not list(VALIDATOR.iter_errors(log))
    assert len(log["runs"][0]["results"]) == 3
