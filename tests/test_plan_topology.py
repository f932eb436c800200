"""The planner over the topology: one control plane per plan, its own pins, a clear answer below the knowledge base."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES
from migrator.model import ScanOptions
from migrator.plan import PlanError, build_plan
from migrator.scan import scan

FLEET = FIXTURES / "fleet-flux-two-clusters"


def _plan(path, to, **kw):
    return build_plan(scan([str(path)], ScanOptions()), to, **kw)


def test_a_fleet_plan_moves_one_cluster_and_names_the_other():
    plan = _plan(FLEET, "1.26")
    assert str(plan.istio_from) == "1.22.4"
    edited = {e.pin.path for s in plan.steps for e in s.edits}
    assert edited == {"infrastructure/prod/istiod.yaml"}  # staging's istiod is not touched by prod's plan
    assert any("plan the others with --env NAME: staging (1.26.2)" in n for n in plan.notes)
    assert [c.finding.rule for c in plan.steps[-1].findings if c.status == "disappears"] == ["MM101"]


def test_env_selects_the_other_cluster(run_cli):
    plan = _plan(FLEET, "1.27", env="staging")
    assert str(plan.istio_from) == "1.26.2"
    assert {e.pin.path for s in plan.steps for e in s.edits} == {"infrastructure/staging/istiod.yaml"}
    assert not plan.current  # staging has no findings at 1.26.2
    code, _, err = run_cli("plan", "--to", "1.27", "--env", "qa", FLEET)
    assert code == 2 and "no such control plane (the repo has: prod, staging)" in err


def test_a_canary_revision_is_its_own_plan(tmp_path):
    istio = tmp_path / "istio"
    istio.mkdir()
    (istio / "istiod.yaml").write_text("global:\n  hub: docker.io/istio\n  tag: 1.22.3\npilot:\n  autoscaleMin: 2\n")
    (istio / "istiod-canary.yaml").write_text("revision: canary\nglobal:\n  hub: docker.io/istio\n  tag: 1.23.1\npilot:\n  autoscaleMin: 1\n")
    plan = _plan(tmp_path, "1.24")
    assert str(plan.istio_from) == "1.22.3"
    assert {e.pin.path for s in plan.steps for e in s.edits} == {"istio/istiod.yaml"}
    canary = _plan(tmp_path, "1.24", env="default@canary")
    assert str(canary.istio_from) == "1.23.1"
    assert {e.pin.path for s in canary.steps for e in s.edits} == {"istio/istiod-canary.yaml"}


def test_below_the_knowledge_base_is_a_clear_refusal_with_the_manual_path(tmp_path, run_cli):
    (tmp_path / "istiod-values.yaml").write_text("global:\n  hub: docker.io/istio\n  tag: 1.18.5\npilot:\n  autoscaleMin: 2\n")
    with pytest.raises(PlanError) as err:
        _plan(tmp_path, "1.26")
    assert "older than the oldest release the knowledge base covers (1.20)" in str(err.value)
    assert "1.19 then 1.20" in str(err.value) and "announcing-1.19/upgrade-notes" in str(err.value)
    code, out, stderr = run_cli("plan", "--to", "1.26", tmp_path)
    assert code == 2 and out == "" and stderr.count("\n") == 1 and "Traceback" not in stderr
    code, out, _ = run_cli("plan", "--to", "1.26", "--from", "1.20.8", "--format", "json", tmp_path)
    assert code == 0 and json.loads(out)["steps"]
