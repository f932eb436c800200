"""`mesh-migrator plan`: path finding, pin edits, findings per step, checklist, --write and usage errors.

Fixtures: plan-istio-1.22-spire-1.11 (Istio pinned in nine places, MM101) and plan-flag-istio-1.23
(relies on VERIFY_CERTIFICATE_AT_CLIENT=false, removed in 1.24).  Expected versions are read from
the knowledge base, not hard-coded, so a knowledge update that adds a patch release does not break
the tests; the pins' files and lines are the fixture's own.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from packaging.version import Version

from conftest import FIXTURES

from migrator import knowledge
from migrator.model import Pin, ScanOptions
from migrator.plan import (PlanError, build_plan, istio_path, render_markdown, resolve_istio_version,
                           revision_name, version_text, _pin_edit)
from migrator.scan import scan

MAIN = FIXTURES / "plan-istio-1.22-spire-1.11"
FLAG = FIXTURES / "plan-flag-istio-1.23"


def latest_patch(minor: str) -> str:
    return knowledge.istio_release(minor)["latest_patch"]


#: every Istio pin of MAIN: (path, line) -> line text after a step to version V ({v} = 1.24.6, {rev} = 1-24-6)
PINS_MAIN = {
    ("argocd/istio-base.yaml", 18): "    targetRevision: {v}",
    ("argocd/istiod.yaml", 18): "    targetRevision: {v}",
    ("argocd/istiod.yaml", 26): "          tag: {v}-distroless",
    ("argocd/istio-ingress.yaml", 16): "    targetRevision: {v}",
    ("egress/kustomization.yaml", 9): "    newTag: {v}",
    ("egress/egress-gateway.yaml", 25): "          image: docker.io/istio/proxyv2:{v}",
}
REVISIONS_MAIN = {
    ("argocd/istiod.yaml", 23): "        revision: {rev}",
    ("argocd/istio-ingress.yaml", 20): "        revision: {rev}",
    ("apps/payments/namespace.yaml", 7): "    istio.io/rev: {rev}",
}


def plan_for(path: Path, to: str, **kw):
    return build_plan(scan([str(path)], ScanOptions()), to, **kw)


def rev(v: str) -> str:
    return v.replace(".", "-")


def changed_lines(old: str, new: str) -> dict[int, str]:
    a, b = old.splitlines(), new.splitlines()
    assert len(a) == len(b), "pin edits never add or remove lines"
    return {i + 1: y for i, (x, y) in enumerate(zip(a, b)) if x != y}


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.yaml"))}


# ------------------------------------------------------------------------------- path finding


def test_fixed_in_place_ends_at_1_26_and_mm101_disappears_there():
    plan = plan_for(MAIN, "fixed")
    minors = [f"{s.to_version.major}.{s.to_version.minor}" for s in plan.steps]
    assert minors == ["1.23", "1.24", "1.25", "1.26"]
    assert plan.istio_to >= Version("1.26") and plan.istio_to == Version(latest_patch("1.26"))
    assert [version_text(s.to_version) for s in plan.steps] == [latest_patch(m) for m in minors]
    assert {f.rule for f in plan.current} == {"MM101"}
    for s in plan.steps[:-1]:
        assert [c.finding.rule for c in s.findings if c.status == "remains"] == ["MM101"], s.title
        assert not s.of_status("disappears")
    gone = plan.steps[-1].of_status("disappears")
    assert [(c.finding.rule, c.finding.path, c.finding.line) for c in gone] == [("MM101", "apps/payments/destinationrule-stripe.yaml", 17)]
    assert any("`--to fixed` = Istio 1.26" in n for n in plan.notes)


def test_in_place_bumps_every_pin_and_keeps_revision_names():
    plan = plan_for(MAIN, "fixed")
    for step in plan.steps:
        v = version_text(step.to_version)
        assert {(e.pin.path, e.pin.line) for e in step.edits} == set(PINS_MAIN), step.title
        got = {}
        for fp in step.files:
            for line, text in changed_lines(fp.old, fp.new).items():
                got[(fp.path, line)] = text
        assert got == {k: t.format(v=v) for k, t in PINS_MAIN.items()}, step.title
    kept = {(p.path, p.line) for p, _ in plan.steps[0].kept}
    assert kept == set(REVISIONS_MAIN)
    assert any("revision name" in n for n in plan.notes)


def test_canary_bumps_revision_names_too():
    plan = plan_for(MAIN, "fixed", strategy="canary")
    for step in plan.steps:
        v = version_text(step.to_version)
        want = {k: t.format(v=v) for k, t in PINS_MAIN.items()}
        want.update({k: t.format(rev=rev(v)) for k, t in REVISIONS_MAIN.items()})
        got = {(fp.path, line): text for fp in step.files for line, text in changed_lines(fp.old, fp.new).items()}
        assert got == want, step.title
        assert not step.kept
    first = plan.steps[0]
    olds = {(e.pin.path, e.pin.line): e.old for e in first.edits}
    assert olds[("apps/payments/namespace.yaml", 7)] == "1-22-3"
    assert olds[("argocd/istiod.yaml", 26)] == "1.22.3-distroless"
    # the second step starts from the first step's text, not from the original
    second = {(e.pin.path, e.pin.line): (e.old, e.new) for e in plan.steps[1].edits}
    v1, v2 = version_text(plan.steps[0].to_version), version_text(plan.steps[1].to_version)
    assert second[("apps/payments/namespace.yaml", 7)] == (rev(v1), rev(v2))
    assert second[("argocd/istiod.yaml", 26)] == (f"{v1}-distroless", f"{v2}-distroless")


def test_canary_takes_fewer_hops_and_never_more_than_two_minors():
    in_place = plan_for(MAIN, "fixed")
    canary = plan_for(MAIN, "fixed", strategy="canary")
    assert len(canary.steps) < len(in_place.steps)
    assert canary.istio_to == in_place.istio_to
    for s in canary.steps:
        assert 1 <= s.to_version.minor - s.from_version.minor <= 2
    for s in in_place.steps:
        assert s.to_version.minor - s.from_version.minor == 1
    assert [f"{s.to_version.major}.{s.to_version.minor}" for s in canary.steps] == ["1.24", "1.26"]


def test_path_follows_the_knowledge_base_policy():
    policy = knowledge.istio()["upgrade_policy"]
    step = policy["canary"]["parameters"]["max_minor_step"]
    hops = istio_path(Version("1.20.1"), Version("1.30.3"), "canary")
    assert all(b.minor - a.minor <= step for a, b in zip([Version("1.20.1")] + hops, hops))
    assert hops[-1] == Version("1.30.3")
    assert istio_path(Version("1.22.3"), Version("1.22.8"), "in-place") == [Version("1.22.8")]  # patch only
    assert istio_path(Version("1.26.8"), Version("1.26.8"), "canary") == []


def test_flag_fixture_mm120_becomes_error_at_1_24():
    plan = plan_for(FLAG, "1.24")
    assert [version_text(s.to_version) for s in plan.steps] == [latest_patch("1.24")]
    assert {(f.rule, f.severity) for f in plan.current} == {("MM120", "warning")}
    step = plan.steps[0]
    mm120 = [c for c in step.findings if c.finding.rule == "MM120"]
    assert len(mm120) == 1 and mm120[0].status == "severity"
    assert (mm120[0].old_severity, mm120[0].finding.severity) == ("warning", "error")
    assert mm120[0].finding.path == "flux/istiod.yaml" and mm120[0].finding.line == 29
    assert [c.finding.rule for c in step.of_status("appears")] == ["MM101"]  # the workaround is gone
    blocking = [b for b in step.checklist["before"] if b.startswith("**Blocking**")]
    assert any("MM120" in b for b in blocking) and any("MM101" in b for b in blocking)
    assert {(e.pin.path, e.pin.line, e.new) for e in step.edits} == {
        ("flux/istio-base.yaml", 11, latest_patch("1.24")), ("flux/istiod.yaml", 14, latest_patch("1.24"))}
    md = render_markdown(plan)
    assert "| severity changes | MM120 | warning → **error** | `flux/istiod.yaml:29` |" in md


def test_flag_fixture_json_cli(run_cli):
    code, out, err = run_cli("plan", FLAG, "--to", "1.24", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    step = doc["steps"][0]
    mm120 = [f for f in step["findings"] if f["rule"] == "MM120"]
    assert mm120 == [{"status": "severity", "rule": "MM120", "severity": "error", "path": "flux/istiod.yaml", "line": 29,
                      "resource": mm120[0]["resource"], "message": mm120[0]["message"], "old_severity": "warning"}]
    removal = [c for c in step["changes"] if "VERIFY_CERTIFICATE_AT_CLIENT" in str(c["flag"]) and c["version"] == "1.24"]
    assert removal and removal[0]["relevance"] == "repo" and "flux/istiod.yaml:29" in removal[0]["why"]
    assert all(c["sources"] and all(u.startswith("https://") for u in c["sources"]) for c in step["changes"])


# --------------------------------------------------------------------------- step contents


def test_behaviour_changes_with_sources_per_step():
    plan = plan_for(MAIN, "fixed")
    last = plan.steps[-1]
    ids = {c["id"] for c, _, _ in last.changes}
    expected = {c["id"] for c in knowledge.istio_changes("1.25", "1.26")}
    assert ids == expected and ids
    repo = [(c, why) for c, rel, why in last.changes if rel == "repo"]
    assert any(c["kind"] == "fix" and "MM101" in c["related_rules"] and "MM101" in why for c, why in repo)
    for s in plan.steps:
        for c, _, _ in s.changes:
            prev, to = Version(f"{s.from_version.major}.{s.from_version.minor}"), Version(f"{s.to_version.major}.{s.to_version.minor}")
            assert prev < Version(c["version"]) <= to
            assert c["sources"]


def test_checklist_order_and_rollback():
    plan = plan_for(MAIN, "fixed")
    order = plan.steps[0].checklist["apply_order"]
    text = "\n".join(order)
    positions = [text.index(s) for s in ("argocd/istio-base.yaml:18", "argocd/istiod.yaml:18", "argocd/istio-ingress.yaml:16",
                                         "egress/egress-gateway.yaml:25")]
    assert positions == sorted(positions)  # CRDs, istiod, gateways, data plane
    assert "restart workloads" in order[-1]
    assert any("`1.22.3`" in r and "git revert" in r for r in plan.steps[0].checklist["rollback"])
    assert f"`{version_text(plan.steps[0].to_version)}`" in plan.steps[1].checklist["rollback"][0]
    assert "`1.22.3`" not in plan.steps[1].checklist["rollback"][0]
    watch = plan.steps[-1].checklist["watch"]
    assert any(w.startswith("MM101 gone for DestinationRule/payments/stripe-tls") for w in watch)
    assert any("SPIRE-backed proxies" in w for w in watch)


def test_canary_checklist_moves_namespaces():
    plan = plan_for(MAIN, "1.24", strategy="canary")
    text = "\n".join(plan.steps[0].checklist["apply_order"])
    assert f"istio.io/rev={rev(latest_patch('1.24'))}" in text
    assert "remove the 1.22.3 revision" in text


def test_markdown_has_headings_diffs_and_links(run_cli):
    code, out, err = run_cli("plan", MAIN, "--to", "fixed")
    assert code == 0, err
    assert out.startswith(f"# Upgrade plan: Istio 1.22.3 → {latest_patch('1.26')}")
    assert out.count("\n## Step ") == 4
    assert out.count("```diff\n") == 4
    assert "-    targetRevision: 1.22.3\n+    targetRevision: " + latest_patch("1.23") in out
    assert "](https://github.com/istio/istio/pull/54725)" in out
    table = [l for l in out.splitlines() if l.startswith("| 4 | Istio")]
    assert len(table) == 1 and "| MM101 |" in table[0]  # MM101 in the "disappear" column of step 4
    cells = [c.strip() for c in table[0].split("|")]
    assert cells[5] == "MM101" and cells[4] == "—"


def test_json_output_shape(run_cli):
    code, out, _ = run_cli("plan", MAIN, "--to", "1.24", "--path", "canary", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["istio"] == {"from": "1.22.3", "to": latest_patch("1.24")}
    assert doc["strategy"] == "canary" and doc["ok"] is True
    step = doc["steps"][0]
    assert {(e["path"], e["line"]) for e in step["edits"]} == set(PINS_MAIN) | set(REVISIONS_MAIN)
    assert step["diff"].startswith("diff --git a/")
    assert set(step["checklist"]) == {"before", "apply_order", "watch", "rollback"}
    assert all(s.startswith("https://") for s in doc["policy"]["sources"])


def test_to_latest_and_no_findings():
    plan = plan_for(MAIN, "latest", strategy="canary")
    # one definition of which releases exist: tags and istio.io announcements, for latest and X.Y alike
    assert version_text(plan.istio_to) == knowledge.latest_istio(include_announced=True)
    assert version_text(plan.steps[-1].to_version) == knowledge.latest_istio(include_announced=True)
    assert plan.istio_to == resolve_istio_version(f"{plan.istio_to.major}.{plan.istio_to.minor}")[0]
    fixed = plan_for(MAIN, "fixed", from_="1.26.8")
    assert fixed.steps == [] and any("nothing to fix" in n for n in fixed.notes)


# ----------------------------------------------------------------------------------- --write


def test_write_applies_exactly_the_first_step_and_replanning_starts_there(run_cli, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(MAIN, repo)
    before = tree(repo)
    code, out, err = run_cli("plan", repo, "--to", "fixed", "--write", "--yes")
    assert code == 0, err
    assert "wrote 5 file(s) for step 1" in err
    after = tree(repo)
    v = latest_patch("1.23")
    got = {(p, line): text for p in before for line, text in changed_lines(before[p], after[p]).items()}
    assert got == {k: t.format(v=v) for k, t in PINS_MAIN.items()}
    # idempotence: the next plan starts at the written version and its first step is the old step 2
    code, out, err = run_cli("plan", repo, "--to", "fixed", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["istio"]["from"] == v
    assert [s["to"] for s in doc["steps"]] == [latest_patch(m) for m in ("1.24", "1.25", "1.26")]
    # writing the same step twice changes nothing
    code, _, err = run_cli("plan", repo, "--to", v, "--write", "--yes")
    assert code == 0 and "nothing to write" in err
    assert tree(repo) == after


def test_write_canary_step_moves_revisions(run_cli, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(MAIN, repo)
    before = tree(repo)
    code, _, err = run_cli("plan", repo, "--to", "fixed", "--path", "canary", "--write", "--yes")
    assert code == 0, err
    after = tree(repo)
    v = latest_patch("1.24")
    want = {k: t.format(v=v) for k, t in PINS_MAIN.items()}
    want.update({k: t.format(rev=rev(v)) for k, t in REVISIONS_MAIN.items()})
    got = {(p, line): text for p in before for line, text in changed_lines(before[p], after[p]).items()}
    assert got == want
    doc = json.loads(run_cli("plan", repo, "--to", "fixed", "--path", "canary", "--format", "json")[1])
    assert doc["istio"]["from"] == v and [s["to"] for s in doc["steps"]] == [latest_patch("1.26")]


def test_write_step_n_writes_that_steps_versions(run_cli, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(FLAG, repo)
    code, _, err = run_cli("plan", repo, "--to", "1.25", "--write", "--step", "2", "--yes")
    assert code == 0, err
    assert "skips steps 1–1" in err
    text = (repo / "flux/istiod.yaml").read_text()
    assert f"      version: {latest_patch('1.25')}\n" in text
    code, _, err = run_cli("plan", repo, "--to", "1.25", "--write", "--step", "3", "--yes")
    assert code == 0 and "nothing to write" in err
    code, _, err = run_cli("plan", FLAG, "--to", "1.25", "--write", "--step", "7", "--yes")
    assert code == 2 and "--step 7" in err


# ------------------------------------------------------------------------ versions and errors


@pytest.mark.parametrize("to, message", [
    ("banana", "is not a version"),
    ("1.99", "unknown Istio version"),
    ("1.24.99", "unknown Istio release"),
    ("2.0", "unknown Istio version"),
    ("1.21", "older than the repo's 1.22.3"),
    ("1.31.0-rc.7", "unknown Istio release"),
    ("", "--to is required"),
])
def test_bad_to_is_a_usage_error(run_cli, to, message):
    code, out, err = run_cli("plan", MAIN, "--to", to)
    assert code == 2, out
    assert message in err and err.startswith("mesh-migrator: error:")
    assert out == ""


def test_missing_to_and_bad_strategy_are_usage_errors(run_cli):
    assert run_cli("plan", MAIN)[0] == 2
    assert run_cli("plan", MAIN, "--to", "1.24", "--strategy", "yolo")[0] == 2
    code, _, err = run_cli("plan", MAIN, "--to", "1.24", "--from", "x.y")
    assert code == 2 and "--from 'x.y' is not a version" in err


def test_v_prefix_distroless_and_prereleases():
    assert resolve_istio_version("v1.24")[0] == Version(latest_patch("1.24"))
    assert resolve_istio_version("1.24.3-distroless")[0] == Version("1.24.3")
    assert resolve_istio_version("1.31.0-rc.0")[0] == Version("1.31.0rc0")
    assert version_text(Version("1.31.0rc0")) == "1.31.0-rc.0"
    plan = plan_for(MAIN, "v1.24", from_="v1.22.3-distroless")
    assert version_text(plan.istio_from) == "1.22.3" and version_text(plan.istio_to) == latest_patch("1.24")
    pin = Pin("istio", "1.22.3", "x.yaml", 1, "Helm values x global.tag", "istiod", raw="v1.22.3-distroless")
    edit, _ = _pin_edit(pin, Version("1.24.6"), "in-place")
    assert (edit.old, edit.new, edit.kind) == ("v1.22.3-distroless", "v1.24.6-distroless", "scalar")
    img = Pin("istio", "1.22.3", "x.yaml", 1, "Deployment x image proxyv2", "proxy", raw="1.22.3-distroless")
    assert _pin_edit(img, Version("1.24.6"), "in-place")[0].kind == "image"
    assert revision_name("1-22-3", Version("1.24.6")) == "1-24-6"
    assert revision_name("1-22", Version("1.24.6")) == "1-24"
    assert revision_name("1-22-3-canary", Version("1.26.8")) == "1-26-8-canary"


def test_no_pins_needs_from(tmp_path, run_cli):
    (tmp_path / "dr.yaml").write_text((MAIN / "apps/payments/destinationrule-stripe.yaml").read_text())
    code, _, err = run_cli("plan", tmp_path, "--to", "1.24")
    assert code == 2 and "pass --from" in err
    code, out, err = run_cli("plan", tmp_path, "--to", "1.24", "--from", "1.22.3", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert [s["edits"] for s in doc["steps"]] == [[], []]


def test_minor_without_a_stable_tag():
    """1.31 has only pre-release tags in the snapshot: the newest announced release is used, with a note."""
    rel = knowledge.istio_release("1.31")
    if rel.get("latest_patch"):
        pytest.skip("1.31 is stable in this knowledge base")
    if rel.get("announced_after_snapshot"):
        v, notes = resolve_istio_version("1.31")
        assert version_text(v) == max((a["version"] for a in rel["announced_after_snapshot"]), key=Version)
        assert any("announced after the knowledge snapshot" in n for n in notes)
    else:
        with pytest.raises(PlanError, match="no stable release"):
            resolve_istio_version("1.31")


def test_plan_error_is_a_version_error():
    with pytest.raises(PlanError):
        resolve_istio_version("1.19")


# ---------------------------------------------------------------------------------------- SPIRE


def test_spire_steps_one_minor_each_servers_before_agents():
    plan = plan_for(MAIN, "1.22", spire_to="1.13")
    spire = [s for s in plan.steps if s.product == "spire"]
    assert [f"{s.to_version.major}.{s.to_version.minor}" for s in spire] == ["1.12", "1.13"]
    for s in spire:
        assert s.to_version.minor - s.from_version.minor == 1
        [edit] = s.edits
        assert (edit.pin.path, edit.pin.line) == ("argocd/spire.yaml", 15)
        assert knowledge.spire_app_version_for_chart(edit.new) == version_text(s.to_version)
        assert "before SPIRE Agents" in " ".join(s.checklist["apply_order"])
    assert spire[0].edits[0].old == "0.24.1" and spire[1].edits[0].old == spire[0].edits[0].new
    with pytest.raises(PlanError):
        plan_for(MAIN, "1.22", spire_to="1.99")


# ------------------------------------------------------------------------- edge cases and registries


def test_refused_edit_withholds_the_step_and_writes_nothing(run_cli, tmp_path):
    values = tmp_path / "values.yaml"
    text = "versions:\n  istio: &istio 1.22.3\nglobal:\n  hub: docker.io/istio\n  tag: *istio\npilot:\n  autoscaleMin: 2\n"
    values.write_text(text)
    code, out, err = run_cli("plan", tmp_path, "--to", "1.23")
    assert code == 1
    assert "**Not verified — edits withheld:** values.yaml: edit refused (line 5)" in out
    code, _, err = run_cli("plan", tmp_path, "--to", "1.23", "--write", "--yes")
    assert code == 1 and "did not pass the verification gate" in err
    assert values.read_text() == text


def test_write_keeps_crlf_and_bom(run_cli, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "crlf-bom", repo)
    raw_before = {p: p.read_bytes() for p in repo.rglob("*.yaml")}
    code, _, err = run_cli("plan", repo, "--to", "1.23", "--write", "--yes")
    assert code == 0, err
    changed = [p for p, b in raw_before.items() if p.read_bytes() != b]
    assert changed
    for p in changed:
        old, new = raw_before[p], p.read_bytes()
        assert old.startswith(b"\xef\xbb\xbf") == new.startswith(b"\xef\xbb\xbf")
        assert old.count(b"\r\n") == new.count(b"\r\n") and old.count(b"\n") == new.count(b"\n")
        assert b"1.23." in new


def test_step_into_1_31_moves_retired_registries():
    """istio.yaml registries: the GCS chart repo and gcr.io are not published to after 1.30."""
    regs = {r["id"]: r for r in knowledge.istio()["registries"]}
    assert regs["helm-repo-gcs"]["until"] == "1.30"
    plan = plan_for(FIXTURES / "gcr-registry", "1.31.0-rc.0")
    [step] = plan.steps
    moved = {(e.pin.path, e.pin.line): (e.old, e.new) for e in step.edits if e.role == "registries"}
    assert moved[("argocd/istiod.yaml", 12)] == ("https://istio-release.storage.googleapis.com/charts",
                                                 regs[regs["helm-repo-gcs"]["replaced_by"]]["url"])
    assert moved[("argocd/istio-cni.yaml", 12)] == ("gcr.io/istio-release/charts", "ghcr.io/istio/release/charts")
    assert moved[("argocd/istiod.yaml", 19)] == ("gcr.io/istio-release", "docker.io/istio")
    mm131 = [c for c in step.findings if c.finding.rule == "MM131"]
    assert mm131 and {c.status for c in mm131} == {"resolved"}
    assert all((c.finding.path, c.finding.line) in moved for c in mm131)
    assert step.checklist["apply_order"][0].startswith("1. chart repositories and image registries")
    # the same repo planned to 1.30 keeps its registries
    assert [e for s in plan_for(FIXTURES / "gcr-registry", "1.30").steps for e in s.edits if e.role == "registries"] == []
