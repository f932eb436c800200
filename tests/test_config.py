""".mesh-migrator.yaml: discovery, every setting's effect, and errors that name the key and line (exit 2)."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import FIXTURES

SEED = FIXTURES / "spire-istio-1.22"
ALL_THREE = [
    ("MM101", "apps/payments/destinationrule-sift.yaml", 21),
    ("MM101", "apps/payments/destinationrule-sift.yaml", 29),
    ("MM101", "apps/payments/destinationrule-stripe.yaml", 17),
]


@pytest.fixture
def repo(tmp_path):
    """tmp/work/repo: a copy of the seed scenario, with a .git boundary so no stray config above is used."""
    dst = tmp_path / "work" / "repo"
    shutil.copytree(SEED, dst)
    return dst


def write_config(where, text: str, name: str = ".mesh-migrator.yaml"):
    path = where / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def active(report) -> list[tuple]:
    return [(f["rule"], f["path"], f["line"]) for f in report["findings"] if not f["suppressed"]]


def error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err  # one clear line, no traceback
    return lines[0]


# -- errors --------------------------------------------------------------------------------------
def test_unknown_top_level_key_names_key_and_line(repo, run_cli):
    cfg = write_config(repo, "# mesh-migrator settings\ntarget: \"1.26.0\"\ntargte: \"1.27.0\"\n")
    code, out, err = run_cli("scan", str(repo))
    line = error_line(err)
    assert f"{cfg}:3:" in line and "targte" in line, line
    assert "internal error" not in line
    assert code == 2
    assert out == ""


def test_unknown_nested_key_names_dotted_path_and_line(repo, run_cli):
    cfg = write_config(repo, "rules:\n  disable: [MM130]\n  disabel: [MM101]\n")
    code, _, err = run_cli("scan", str(repo))
    line = error_line(err)
    assert f"{cfg}:3:" in line and "rules.disabel" in line, line
    assert code == 2


def test_bad_severity_value(repo, run_cli):
    cfg = write_config(repo, "rules:\n  severity:\n    MM101: fatal\n")
    code, _, err = run_cli("scan", str(repo))
    line = error_line(err)
    assert f"{cfg}:3:" in line and "rules.severity.MM101" in line and "fatal" in line, line
    assert code == 2


def test_bad_rule_id(repo, run_cli):
    cfg = write_config(repo, "rules:\n  disable:\n    - MM101\n    - mm-101\n")
    code, _, err = run_cli("scan", str(repo))
    line = error_line(err)
    assert f"{cfg}:4:" in line and "mm-101" in line, line
    assert code == 2


def test_bad_version_exits_2(repo, run_cli):
    write_config(repo, "versions:\n  istio: \"1.22.3\"\ntarget: \"one.two\"\n")
    code, out, err = run_cli("scan", str(repo))
    line = error_line(err)
    assert "target" in line and "one.two" in line and "is not a version" in line, line
    assert code == 2
    assert out == ""


def test_bad_version_names_its_line(repo, run_cli):
    """Version errors are config errors too: like every other one they should name the line."""
    cfg = write_config(repo, "versions:\n  istio: \"1.22.3\"\ntarget: \"one.two\"\n")
    code, _, err = run_cli("scan", str(repo))
    assert code == 2
    assert f"{cfg}:3:" in error_line(err), err


def test_yaml_syntax_error(repo, run_cli):
    cfg = write_config(repo, "rules:\n  disable: [MM101\ntarget: 1.26.0\n")
    code, _, err = run_cli("scan", str(repo))
    line = error_line(err)
    assert line.startswith(f"mesh-migrator: error: {cfg}:") and "YAML syntax error" in line, line
    assert code == 2


def test_wrong_type(repo, run_cli):
    cfg = write_config(repo, "exclude: apps/**\n")
    code, _, err = run_cli("scan", str(repo))
    line = error_line(err)
    assert f"{cfg}:1:" in line and "exclude" in line, line
    assert code == 2


# -- discovery -----------------------------------------------------------------------------------
def test_config_found_in_scanned_root(repo, scan_json):
    write_config(repo, "rules:\n  severity:\n    MM101: warning\n")
    code, report, _ = scan_json(str(repo), "--fail-on", "error")
    assert active(report) == ALL_THREE
    assert {f["severity"] for f in report["findings"]} == {"warning"}
    assert code == 0  # warnings do not reach --fail-on error


def test_config_found_from_parent_directory(repo, scan_json):
    write_config(repo.parent, "rules:\n  disable: [MM101]\n")  # tmp/work/.mesh-migrator.yaml, above the repo
    code, report, _ = scan_json(str(repo))
    assert active(report) == []
    assert code == 0


def test_config_found_from_a_scanned_subdirectory(repo, scan_json):
    write_config(repo, "versions:\n  istio: \"1.22.3\"\n")
    # scanning only the apps directory: no Istio pin there, the config supplies the version
    code, report, _ = scan_json(str(repo / "apps"))
    assert report["inventory"]["environments"][0]["istio_version"] == "1.22.3"
    assert report["inventory"]["environments"][0]["istio_assumed"] is False


def test_search_stops_at_the_git_root(repo, scan_json):
    (repo / ".git").mkdir()
    write_config(repo.parent, "rules:\n  disable: [MM101]\n")  # outside the repository: not used
    code, report, _ = scan_json(str(repo))
    assert active(report) == ALL_THREE
    assert code == 1


def test_explicit_config(repo, tmp_path, scan_json):
    write_config(repo, "rules:\n  disable: [MM130]\n")  # the discovered one is ignored when --config names one
    cfg = write_config(tmp_path / "elsewhere", "exclude:\n  - apps/payments/destinationrule-sift.yaml\n", name="ci.yaml")
    code, report, _ = scan_json(str(repo), "--config", str(cfg))
    assert active(report) == [("MM101", "apps/payments/destinationrule-stripe.yaml", 17)]
    assert code == 1


def test_explicit_config_missing(repo, tmp_path, run_cli):
    code, _, err = run_cli("scan", str(repo), "--config", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "nope.yaml" in error_line(err) and "not found" in err


def test_explicit_config_errors_also_exit_2(repo, tmp_path, run_cli):
    cfg = write_config(tmp_path / "elsewhere", "rules:\n  strategy:\n    MM101: yolo\n", name="ci.yaml")
    code, _, err = run_cli("scan", str(repo), "--config", str(cfg))
    line = error_line(err)
    assert f"{cfg}:3:" in line and "rules.strategy.MM101" in line, line
    assert code == 2


# -- settings ------------------------------------------------------------------------------------
def test_known_version_from_config_changes_findings(repo, scan_json):
    (repo / "argocd" / "istiod.yaml").unlink()
    (repo / "argocd" / "istio-base.yaml").unlink()
    code, report, _ = scan_json(str(repo))
    assert report["inventory"]["environments"][0]["istio_version"] is None
    assert {f["confidence"] for f in report["findings"]} <= {"low"}
    write_config(repo, "versions:\n  istio: \"1.26.1\"\n")
    code, report, _ = scan_json(str(repo))
    assert report["inventory"]["environments"][0]["istio_version"] == "1.26.1"
    assert active(report) == []  # 1.26 serves file-root names itself
    assert code == 0


def test_command_line_beats_config(repo, scan_json):
    write_config(repo, "versions:\n  istio: \"1.26.1\"\n")
    code, report, _ = scan_json(str(repo), "--istio-version", "1.22.3")
    assert active(report) == ALL_THREE
    assert code == 1


def test_rules_enable_runs_only_those(repo, scan_json):
    write_config(repo, "rules:\n  enable: [MM130]\n")
    code, report, _ = scan_json(str(repo))
    assert active(report) == []
    assert code == 0


def test_excludes(repo, scan_json):
    write_config(repo, "exclude:\n  - \"**/destinationrule-stripe.yaml\"\n")
    code, report, _ = scan_json(str(repo))
    assert active(report) == ALL_THREE[:2]


def test_severity_override_in_sarif(repo, run_cli):
    write_config(repo, "rules:\n  severity:\n    MM101: info\n  disable: [MM130]\n")
    code, out, _ = run_cli("scan", str(repo), "--format", "sarif")
    log = json.loads(out)
    run = log["runs"][0]
    assert {r["level"] for r in run["results"]} == {"note"}
    mm101 = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == "MM101")
    assert mm101["defaultConfiguration"]["level"] == "error"  # the catalog's default stays
    overrides = {o["descriptor"]["id"]: o["configuration"] for o in run["invocations"][0]["ruleConfigurationOverrides"]}
    assert overrides == {"MM101": {"level": "note"}, "MM130": {"enabled": False}}
    assert code == 0  # info is below the default --fail-on warning


def test_strategy_per_rule(repo):
    from migrator.config import load_config

    write_config(repo, "rules:\n  strategy:\n    MM101: credential-name\n")
    config = load_config(None, [str(repo)])
    assert config.strategy_for("MM101") == "credential-name"
    assert config.strategy_for("mm101") == "credential-name"
    assert config.strategy_for("MM102") is None


def test_config_baseline_key_is_used(repo, run_cli, tmp_path):
    """`baseline:` in the config is documented as "default --baseline file"; a scan must honour it."""
    code, _, err = run_cli("scan", str(repo), "--baseline", str(repo / "mesh-baseline.json"), "--update-baseline")
    assert code == 0 and (repo / "mesh-baseline.json").is_file(), err
    write_config(repo, f"baseline: {repo / 'mesh-baseline.json'}\n")
    code, out, _ = run_cli("scan", str(repo), "--format", "json")
    report = json.loads(out)
    assert [f["suppressed"] for f in report["findings"]] == ["baseline"] * 3
    assert code == 0
