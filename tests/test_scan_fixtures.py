"""Every fixture scenario scanned end to end, compared with its independently written expectation."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import EXPECTATIONS, FIXTURES, REPO

SCENARIOS = sorted(p.stem for p in EXPECTATIONS.glob("*.yaml"))
REPORT_SCHEMA = json.loads((REPO / "schemas" / "report.schema.json").read_text())


def load_expectation(name: str) -> dict:
    return yaml.safe_load((EXPECTATIONS / f"{name}.yaml").read_text())


def test_there_are_scenarios():
    assert len(SCENARIOS) >= 20, SCENARIOS


@pytest.mark.parametrize("name", SCENARIOS)
def test_findings_match_expectation(name, scan_json):
    exp = load_expectation(name)
    code, report, err = scan_json(str(FIXTURES / name), *exp.get("args", []))
    jsonschema.validate(report, REPORT_SCHEMA)
    got = sorted((f["rule"], f["path"], f["line"]) + ((f["env"],) if "env" in exp_keys(exp) else ())
                 for f in report["findings"] if not f["suppressed"])
    want = sorted((f["rule"], f["path"], f["line"]) + ((f["env"],) if "env" in exp_keys(exp) else ())
                  for f in exp.get("findings") or [])
    assert got == want, f"{name}: stderr={err}"
    assert code == exp["exit_code"]


def exp_keys(exp: dict) -> set:
    return {k for f in exp.get("findings") or [] for k in f}


@pytest.mark.parametrize("name", SCENARIOS)
def test_confidence_matches_expectation(name, scan_json):
    exp = load_expectation(name)
    _, report, _ = scan_json(str(FIXTURES / name), *exp.get("args", []))
    got = {(f["rule"], f["path"], f["line"]): f["confidence"] for f in report["findings"]}
    for f in exp.get("findings") or []:
        assert got.get((f["rule"], f["path"], f["line"])) == f.get("confidence", "high"), f


@pytest.mark.parametrize("name", SCENARIOS)
def test_inventory_matches_expectation(name, scan_json):
    exp = load_expectation(name)
    inv_exp = exp.get("inventory") or {}
    _, report, _ = scan_json(str(FIXTURES / name), *exp.get("args", []))
    inv = report["inventory"]
    if "istio_versions" in inv_exp:
        assert inv["istio"]["versions"] == sorted(inv_exp["istio_versions"], key=_v)
    if "spire_versions" in inv_exp:
        assert inv["spire"]["versions"] == sorted(inv_exp["spire_versions"], key=_v)
    if "spire_proxies" in inv_exp:
        assert sorted(p["resource"] for p in inv["proxies"] if p["spire"]) == sorted(inv_exp["spire_proxies"])
    if "pins" in inv_exp:
        got = sorted((p["version"], p["path"], p["line"]) for p in inv["istio"]["pins"])
        want = sorted((str(p["version"]), p["path"], p["line"]) for p in inv_exp["pins"])
        assert got == want


@pytest.mark.parametrize("name", SCENARIOS)
def test_skipped_and_errors_match_expectation(name, scan_json):
    exp = load_expectation(name)
    _, report, _ = scan_json(str(FIXTURES / name), *exp.get("args", []))
    assert sorted({s["path"] for s in report["skipped"]}) == sorted(set(exp.get("skipped") or []))
    assert sorted({e["path"] for e in report["errors"]}) == sorted(set(exp.get("errors") or []))


def _v(text):
    from packaging.version import Version

    return Version(str(text))
