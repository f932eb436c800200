"""Rule pages: one per rule in docs/rules/, identical to what `explain` prints, linked from SARIF/JSON."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, REPO
from migrator.rules import catalog
from migrator.ruledocs import page_url, project_url, render

DOCS = REPO / "docs" / "rules"


def test_every_rule_has_a_page_and_no_page_is_stale():
    assert sorted(p.stem for p in DOCS.glob("MM*.md")) == sorted(catalog())
    for rid, meta in catalog().items():
        # regenerate with `python tools/rule_docs.py`
        assert (DOCS / f"{rid}.md").read_text() == render(meta), f"docs/rules/{rid}.md is stale"


@pytest.mark.parametrize("rid", sorted(catalog()))
def test_page_says_what_breaks_versions_fix_and_sources(rid):
    page = (DOCS / f"{rid}.md").read_text()
    for heading in ("## What breaks", "## Versions", "## How to fix", "## Sources"):
        assert heading in page, (rid, heading)
    for source in catalog()[rid].sources:
        assert f"<{source}>" in page


def test_project_url_comes_from_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    urls = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]
    assert project_url() == urls["Repository"]


def test_sarif_and_json_link_rules_to_their_pages(run_cli):
    _, out, _ = run_cli("scan", str(FIXTURES / "spire-istio-1.22"), "--format", "sarif")
    driver = json.loads(out)["runs"][0]["tool"]["driver"]
    assert driver["informationUri"] == project_url()
    assert {r["id"]: r["helpUri"] for r in driver["rules"]}["MM101"] == page_url("MM101")
    assert page_url("MM101").endswith("/docs/rules/MM101.md")
    _, out, _ = run_cli("scan", str(FIXTURES / "spire-istio-1.22"), "--format", "json")
    assert {f["help_uri"] for f in json.loads(out)["findings"]} == {page_url("MM101")}
