"""The knowledge base (migrator/knowledge/*.yaml): schema, provenance, version sanity, loader API."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from packaging.version import Version

import migrator.knowledge as kb

REPO = Path(__file__).resolve().parent.parent
SCHEMA_PATH = REPO / "schemas" / "knowledge.schema.json"
KNOWLEDGE_DIR = REPO / "migrator" / "knowledge"
CATALOG = REPO / "migrator" / "rules" / "catalog.yaml"


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema):
    return jsonschema.Draft202012Validator(schema)


def _raw(name: str) -> dict:
    return yaml.safe_load((KNOWLEDGE_DIR / name).read_text(encoding="utf-8"))


ISTIO = _raw("istio.yaml")
SPIRE = _raw("spire.yaml")


def _policies(doc: dict) -> list[tuple[str, dict]]:
    out = [(f"upgrade_policy.{k}", v) for k, v in doc["upgrade_policy"].items()]
    if "support_policy" in doc:
        out.append(("support_policy", doc["support_policy"]))
    return out


# ---------------------------------------------------------------- schema

def test_schema_is_valid_draft_2020_12(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("name", ["istio.yaml", "spire.yaml"])
def test_file_validates(validator, name):
    errors = sorted(validator.iter_errors(_raw(name)), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def test_loader_matches_files():
    assert kb.istio() == ISTIO
    assert kb.spire() == SPIRE
    assert kb.istio()["product"] == "istio" and kb.spire()["product"] == "spire"


def _broken(doc: dict, mutate) -> dict:
    bad = copy.deepcopy(doc)
    mutate(bad)
    return bad


@pytest.mark.parametrize("mutate", [
    pytest.param(lambda d: d["changes"][0].pop("sources"), id="change-missing-sources"),
    pytest.param(lambda d: d["changes"][3].__setitem__("sources", []), id="change-empty-sources"),
    pytest.param(lambda d: d["changes"][1].__setitem__("sources", ["http://example.com/x"]), id="change-http-source"),
    pytest.param(lambda d: d["changes"][2].__setitem__("sources", ["see release notes"]), id="change-non-url-source"),
    pytest.param(lambda d: d["upgrade_policy"]["canary"].pop("sources"), id="policy-missing-sources"),
    pytest.param(lambda d: d["registries"][0].pop("sources"), id="registry-missing-sources"),
    pytest.param(lambda d: d["changes"][0].__setitem__("surprise", 1), id="change-extra-key"),
    pytest.param(lambda d: d["changes"][0].__setitem__("kind", "tweak"), id="change-bad-kind"),
    pytest.param(lambda d: d["changes"][0].__setitem__("version", 1.21), id="minor-as-float"),
    pytest.param(lambda d: d["releases"][0].pop("latest_patch"), id="stable-release-without-latest"),
])
def test_malformed_istio_file_fails(validator, mutate):
    assert list(validator.iter_errors(_broken(ISTIO, mutate)))


@pytest.mark.parametrize("mutate", [
    pytest.param(lambda d: d["upgrade_policy"]["order"].pop("sources"), id="policy-missing-sources"),
    pytest.param(lambda d: d["upgrade_policy"]["max_minor_step"].__setitem__("sources", []), id="policy-empty-sources"),
    pytest.param(lambda d: d["helm_chart"]["versions"][0].pop("app"), id="chart-row-missing-app"),
    pytest.param(lambda d: d.__setitem__("product", "linkerd"), id="unknown-product"),
])
def test_malformed_spire_file_fails(validator, mutate):
    assert list(validator.iter_errors(_broken(SPIRE, mutate)))


def test_malformed_temp_copy_missing_sources_fails(validator, tmp_path):
    text = (KNOWLEDGE_DIR / "istio.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    for change in doc["changes"]:
        change.pop("sources")
    broken = tmp_path / "istio.yaml"
    broken.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    errors = list(validator.iter_errors(yaml.safe_load(broken.read_text(encoding="utf-8"))))
    assert errors
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(broken.read_text(encoding="utf-8")), json.loads(SCHEMA_PATH.read_text()))


# ---------------------------------------------------------------- provenance

def _sourced_entries():
    for c in ISTIO["changes"]:
        yield f"istio change {c['id']}", c
    for name, p in _policies(ISTIO):
        yield f"istio {name}", p
    for r in ISTIO["registries"]:
        yield f"istio registry {r['id']}", r
    for name, p in _policies(SPIRE):
        yield f"spire {name}", p


@pytest.mark.parametrize("label,entry", list(_sourced_entries()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_entry_has_https_sources(label, entry):
    sources = entry["sources"]
    assert len(sources) >= 1, label
    assert all(isinstance(s, str) and s.startswith("https://") for s in sources), label


def test_every_change_quotes_its_evidence():
    for c in ISTIO["changes"]:
        assert c["note"].strip(), c["id"]
        assert c["verification"], c["id"]


def test_policies_carry_quotes():
    for name, p in _policies(ISTIO) + _policies(SPIRE):
        assert p["quote"].strip() and p["parameters"], name


def test_change_ids_unique():
    ids = [c["id"] for c in ISTIO["changes"]]
    assert len(ids) == len(set(ids))
    reg = [r["id"] for r in ISTIO["registries"]]
    assert len(reg) == len(set(reg))


def test_related_rules_exist_in_catalog():
    if not CATALOG.exists():
        pytest.skip("rule catalog not present")
    catalog = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    for c in ISTIO["changes"]:
        for rule in c["related_rules"]:
            assert rule in catalog, f"{c['id']} -> {rule}"


def test_registry_replacements_resolve():
    ids = {r["id"] for r in ISTIO["registries"]}
    for r in ISTIO["registries"]:
        if "replaced_by" in r:
            assert r["replaced_by"] in ids, r["id"]


# ---------------------------------------------------------------- versions

def test_istio_versions_parse_and_are_consistent():
    minors = [r["minor"] for r in ISTIO["releases"]]
    assert minors == [f"1.{n}" for n in range(20, 32)]
    for r in ISTIO["releases"]:
        minor = Version(r["minor"])
        for p in r["compatibility_profiles"]:
            assert Version(p) < minor
        if r["status"] == "stable":
            patches = [Version(p) for p in r["patches"]]
            assert patches == sorted(patches)
            assert r["first_release"] == f"{r['minor']}.0" == r["patches"][0]
            assert Version(r["latest_patch"]) == max(patches)
            assert all(f"{p.major}.{p.minor}" == r["minor"] for p in patches)
        else:
            assert all(Version(t).is_prerelease for t in r["prerelease_tags"])
        for a in r.get("announced_after_snapshot", []):
            assert Version(a["version"]) not in [Version(p) for p in r.get("patches", [])]
    for c in ISTIO["changes"]:
        Version(c["version"])
        assert c["version"] in minors, c["id"]
        for k in c["keep_old"]:
            if "until" in k:
                assert Version(k["until"]) >= Version(c["version"]), c["id"]
            if "removed_in" in k:
                assert Version(k["removed_in"]) > Version(c["version"]), c["id"]
            if "until" in k and "removed_in" in k:
                until, removed = Version(k["until"]), Version(k["removed_in"])
                assert (removed.major, removed.minor) == (until.major, until.minor + 1), c["id"]
    for r in ISTIO["registries"]:
        for key in ("from", "until"):
            if key in r:
                Version(r[key])


def test_compatibility_profiles_match_the_tags():
    # manifests/helm-profiles/compatibility-version-*.yaml at each X.Y.0 tag (domain-report 2.3.4, re-read).
    expected = {
        "1.20": [], "1.21": ["1.20"], "1.22": ["1.20", "1.21"], "1.23": ["1.20", "1.21", "1.22"],
        "1.24": ["1.21", "1.22", "1.23"], "1.25": ["1.22", "1.23", "1.24"], "1.26": ["1.23", "1.24", "1.25"],
        "1.27": ["1.24", "1.25", "1.26"], "1.28": ["1.25", "1.26", "1.27"],
        "1.29": ["1.25", "1.26", "1.27", "1.28"], "1.30": ["1.25", "1.26", "1.27", "1.28", "1.29"],
        "1.31": ["1.25", "1.26", "1.27", "1.28", "1.29", "1.30"],
    }
    for minor, profiles in expected.items():
        assert kb.compatibility_profiles(minor) == profiles, minor
    assert kb.compatibility_profiles("1.24.6") == ["1.21", "1.22", "1.23"]
    assert kb.compatibility_profiles("1.19") == []


def test_istio_131_is_prerelease():
    rel = kb.istio_release("1.31")
    assert rel["status"] == "prerelease"
    assert "1.31.0-rc.0" in rel["prerelease_tags"]
    assert "1.31" not in kb.istio_minors()


def test_spire_versions_parse():
    minors = [r["minor"] for r in SPIRE["releases"]]
    assert minors == [f"1.{n}" for n in range(8, 16)]
    all_patches = set()
    for r in SPIRE["releases"]:
        patches = [Version(p) for p in r["patches"]]
        assert patches == sorted(patches)
        assert r["first_release"] == r["patches"][0] == f"{r['minor']}.0"
        assert Version(r["latest_patch"]) == max(patches)
        all_patches.update(r["patches"])
    rows = SPIRE["helm_chart"]["versions"]
    charts = [Version(r["chart"]) for r in rows]
    assert charts == sorted(charts) and len(charts) == len(set(charts))
    apps = [Version(r["app"]) for r in rows]
    assert apps == sorted(apps), "a newer chart never ships an older SPIRE"
    for r in rows:
        if Version(r["app"]) >= Version("1.8.0"):
            assert r["app"] in all_patches, r


# ---------------------------------------------------------------- loader API

@pytest.mark.parametrize("chart,app", [
    ("0.24.1", "1.11.0"), ("0.27.1", "1.13.2"), ("0.24.0", "1.11.0"), ("0.17.0", "1.8.7"), ("0.17.2", "1.8.7"),
    ("0.18.0", "1.9.0"), ("0.19.0", "1.9.1"), ("0.21.1", "1.10.0"), ("0.24.2", "1.11.2"), ("0.24.3", "1.12.0"),
    ("0.24.5", "1.12.0"), ("0.25.0", "1.12.2"), ("0.26.1", "1.12.4"), ("0.27.0", "1.13.0"), ("0.28.2", "1.14.1"),
    ("0.28.3", "1.14.2"), ("0.28.4", "1.14.5"), ("0.30.0", "1.14.5"), ("0.16.0", "1.8.5"), ("0.14.0", "1.8.2"),
    ("v0.24.1", "1.11.0"), ("spire-0.27.1", "1.13.2"), (" 0.24.1 ", "1.11.0"),
])
def test_spire_chart_map(chart, app):
    assert kb.spire_app_version_for_chart(chart) == app


@pytest.mark.parametrize("chart", ["0.99.0", "0.24.*", ">=0.24.0", "latest", "", None, "0.24.1-rc.1"])
def test_spire_chart_map_unknown(chart):
    assert kb.spire_app_version_for_chart(chart) is None


def test_istio_minors_and_latest():
    assert kb.istio_minors() == [f"1.{n}" for n in range(20, 31)]
    assert kb.latest_istio() == "1.30.3"
    assert Version(kb.latest_istio(include_announced=True)) >= Version(kb.latest_istio())


def test_istio_changes_window_1_22_to_1_26():
    changes = kb.istio_changes("1.22", "1.26")
    ids = [c["id"] for c in changes]
    assert "compatibility-version-1-20-removed" in ids
    assert "verify-certificate-at-client-removed" in ids
    assert "in-cluster-operator-removed" in ids
    assert "spire-file-certificates-fix" in ids
    assert "auto-sni-flag-removed" in ids
    versions = [Version(c["version"]) for c in changes]
    assert versions == sorted(versions)
    assert all(Version("1.22") < v <= Version("1.26") for v in versions)
    assert not any(c["version"] in ("1.21", "1.22") for c in changes)
    assert "verify-certificate-at-client-default" not in ids
    assert "networking-v1-api-served" not in ids
    assert "native-sidecars-default-auto" not in ids


def test_istio_changes_accepts_patch_versions_and_is_empty_backwards():
    assert kb.istio_changes("1.22.3", "1.26.1") == kb.istio_changes("1.22", "1.26")
    assert kb.istio_changes("1.26", "1.22") == []
    assert kb.istio_changes("1.24", "1.24") == []
    with pytest.raises(ValueError):
        kb.istio_changes("latest", "1.26")


def test_istio_changes_returns_copies():
    first = kb.istio_changes("1.20", "1.21")
    first[0]["id"] = "mutated"
    first[0]["sources"].clear()
    again = kb.istio_changes("1.20", "1.21")
    assert again[0]["id"] != "mutated" and again[0]["sources"]


# ---------------------------------------------------------------- required content

@pytest.mark.parametrize("change_id,version,kind", [
    ("verify-certificate-at-client-default", "1.21", "default-change"),
    ("auto-sni-default", "1.21", "default-change"),
    ("compatibility-versions-introduced", "1.21", "install"),
    ("external-name-alias-default", "1.21", "default-change"),
    ("networking-v1-api-served", "1.22", "api"),
    ("delta-xds-default", "1.22", "default-change"),
    ("compatibility-version-1-20-removed", "1.24", "install"),
    ("verify-certificate-at-client-removed", "1.24", "removal"),
    ("in-cluster-operator-removed", "1.24", "install"),
    ("spire-file-certificates-fix", "1.26", "fix"),
    ("auto-sni-flag-removed", "1.26", "removal"),
    ("native-sidecars-default-auto", "1.27", "default-change"),
    ("gateway-spire-template-fix", "1.27", "fix"),
    ("networking-storage-version-v1", "1.27", "api"),
    ("gcp-registries-retired", "1.31", "registry"),
])
def test_required_changes_present(change_id, version, kind):
    by_id = {c["id"]: c for c in ISTIO["changes"]}
    assert change_id in by_id
    assert by_id[change_id]["version"] == version
    assert by_id[change_id]["kind"] == kind


def test_verify_flag_escape_hatch_ends_at_1_23():
    c = next(c for c in ISTIO["changes"] if c["id"] == "verify-certificate-at-client-default")
    env = next(k for k in c["keep_old"] if "VERIFY_CERTIFICATE_AT_CLIENT" in k["how"])
    assert (env["until"], env["removed_in"]) == ("1.23", "1.24")
    assert {"MM101", "MM110", "MM120"} <= set(c["related_rules"])


def test_rule_links():
    by_id = {c["id"]: c for c in ISTIO["changes"]}
    assert "MM105" in by_id["gateway-spire-template-fix"]["related_rules"]
    assert "MM106" in by_id["native-sidecars-default-auto"]["related_rules"]
    assert "MM130" in by_id["networking-v1-api-served"]["related_rules"]
    assert "MM131" in by_id["gcp-registries-retired"]["related_rules"]
    assert {"MM101", "MM102", "MM103"} <= set(by_id["spire-file-certificates-fix"]["related_rules"])


def test_upgrade_policies():
    p = ISTIO["upgrade_policy"]
    assert p["in_place"]["parameters"]["max_minor_step"] == 1
    assert p["canary"]["parameters"]["max_minor_step"] == 2
    assert "jumping across two minor versions is supported" in p["canary"]["quote"]
    skew = p["control_plane_data_plane_skew"]["parameters"]
    assert skew["control_plane_max_minors_ahead"] == 1 and skew["data_plane_may_be_ahead"] is False
    s = SPIRE["upgrade_policy"]
    assert s["order"]["parameters"]["servers_before_agents"] is True
    assert s["max_minor_step"]["parameters"]["max_minor_step"] == 1
    assert s["agent_server_skew"]["parameters"] == {"agent_may_be_newer_than_oldest_server": False, "agent_max_minors_older": 1}
    assert s["server_cluster_skew"]["parameters"]["max_minor_skew"] == 1
    assert all("spiffe/spire" in src for _, pol in _policies(SPIRE) for src in pol["sources"])


def test_registries_boundary():
    by_url = {r["url"]: r for r in ISTIO["registries"]}
    for legacy in ("https://istio-release.storage.googleapis.com/charts", "oci://gcr.io/istio-release/charts", "gcr.io/istio-release"):
        assert by_url[legacy]["until"] == "1.30"
    for new in ("https://blob.istio.io/istio-release/charts", "oci://ghcr.io/istio/release/charts"):
        assert by_url[new]["from"] == "1.31"


from migrator import knowledge  # noqa: E402


# ------------------------------------------------------------------ backports (issue 14 item 9)
# debug-endpoint auth: ENABLE_DEBUG_ENDPOINT_AUTH registered (default true) in pilot/pkg/features/pilot.go at
# 1.27.6 and 1.28.4, absent at 1.27.5 / 1.28.3; xDS debug auth: releasenotes/notes/statusgen-xds-auth.yaml at
# 1.28.5 and 1.29.1 (absent at 1.28.4 / 1.29.0); wildcard VirtualService fix: 45415-overlapping-wildcards.yaml
# at 1.19.6 and 1.20.2; 1.21 profile: ENABLE_ENHANCED_RESOURCE_SCOPING in
# manifests/helm-profiles/compatibility-version-1.21.yaml from 1.22.2 (not at 1.22.0/1.22.1).

def _change(cid):
    return next(c for c in knowledge.istio()["changes"] if c["id"] == cid)


@pytest.mark.parametrize("cid, absent, present", [
    ("debug-endpoint-auth-default", ["1.27.5", "1.28.3"], ["1.27.6", "1.28.4", "1.29.0"]),
    ("xds-debug-endpoints-auth", ["1.28.4", "1.29.0"], ["1.28.5", "1.29.1", "1.30.0"]),
    ("virtualservice-wildcard-most-specific-wins", ["1.19.5", "1.20.1"], ["1.19.6", "1.20.2", "1.21.0"]),
])
def test_backported_changes_are_present_from_the_backport_patch(cid, absent, present):
    c = _change(cid)
    assert [knowledge.change_present(c, v) for v in absent] == [False] * len(absent)
    assert [knowledge.change_present(c, v) for v in present] == [True] * len(present)


def test_upgrades_cross_a_backported_change_where_it_lands():
    ids = lambda a, b: {c["id"] for c in knowledge.istio_changes_between(a, b)}  # noqa: E731
    assert "debug-endpoint-auth-default" in ids("1.28.3", "1.28.10")
    assert "debug-endpoint-auth-default" not in ids("1.28.5", "1.29.6")
    assert "xds-debug-endpoints-auth" not in ids("1.29.1", "1.30.3")
    assert "xds-debug-endpoints-auth" in ids("1.29.0", "1.29.6")


def test_the_1_21_profile_keeps_old_scoping_only_from_1_22_2():
    [k] = [k for k in _change("enhanced-resource-scoping-default")["keep_old"] if '"1.21"' in k["how"]]
    assert k["since"] == "1.22.2"
    assert not knowledge.keep_old_works(k, "1.22.1")
    assert knowledge.keep_old_works(k, "1.22.2") and knowledge.keep_old_works(k, "1.24.6")
    assert not knowledge.keep_old_works(k, "1.25.0")


def test_plan_steps_use_backports():
    from conftest import FIXTURES
    from migrator.model import ScanOptions
    from migrator.plan import build_plan
    from migrator.scan import scan

    result = scan([str(FIXTURES / "gcr-registry")], ScanOptions())
    patch_step = build_plan(result, "1.28", from_="1.28.3").steps[0]
    assert "debug-endpoint-auth-default" in {c["id"] for c, _, _ in patch_step.changes}
    minor_step = build_plan(result, "1.29", from_="1.28.5").steps[0]
    assert "debug-endpoint-auth-default" not in {c["id"] for c, _, _ in minor_step.changes}


def test_auto_san_note_dates_from_1_14_not_1_20():
    """releasenotes/notes/auto-san-validation-support.yaml exists at istio/istio 1.14.0 and not at 1.13.5."""
    c = _change("auto-sni-default")
    assert "added in 1.14" in c["note"] and "added in 1.20" not in c["note"]
    assert "https://github.com/istio/istio/blob/1.14.0/releasenotes/notes/auto-san-validation-support.yaml" in c["sources"]


@pytest.mark.parametrize("rel", ["knowledge/istio.yaml", "knowledge/spire.yaml", "rules/catalog.yaml"])
def test_the_committed_json_copy_is_current_and_equal_to_the_yaml(rel):
    """The loaders read the *.cache.json copies (start-up); each must be what tools/data_copies.py
    makes of the YAML now, and hold exactly the YAML's values."""
    import json

    import yaml

    from migrator.datacopy import DATA_FILES, copy_name, copy_text

    assert rel in DATA_FILES
    source = REPO / "migrator" / rel
    raw = source.read_bytes()
    committed = source.with_name(copy_name(source.name)).read_text(encoding="utf-8")
    assert committed == copy_text(raw), "stale: run python tools/data_copies.py"
    assert json.loads(committed)["data"] == yaml.load(raw, Loader=yaml.CSafeLoader)


def test_a_stale_json_copy_is_ignored(tmp_path, monkeypatch):
    """An edited YAML whose JSON copy was not regenerated is read from the YAML, never from the copy;
    the knowledge base and the rule catalog load through the same check."""
    import migrator.knowledge as knowledge
    from migrator import datacopy

    folder = tmp_path / "knowledge"
    folder.mkdir()
    (folder / "istio.yaml").write_text("releases: [{minor: '1.99', status: stable}]\nchanges: []\n")
    (folder / "istio.cache.json").write_text(datacopy.copy_text(b"releases: []\nchanges: []\n"))
    monkeypatch.setattr(knowledge, "_HERE", folder)
    knowledge._load.cache_clear()
    try:
        assert knowledge._load("istio.yaml")["releases"] == [{"minor": "1.99", "status": "stable"}]
        (folder / "istio.cache.json").write_text(datacopy.copy_text((folder / "istio.yaml").read_bytes())
                                                 .replace("1.99", "1.98"))
        knowledge._load.cache_clear()
        assert knowledge._load("istio.yaml")["releases"][0]["minor"] == "1.98"  # a current copy is what is read
    finally:
        knowledge._load.cache_clear()
    (folder / "catalog.yaml").write_text("MM999: {title: new}\n")
    (folder / "catalog.cache.json").write_text(datacopy.copy_text(b"MM998: {title: old}\n"))
    assert datacopy.load(folder, "catalog.yaml") == {"MM999": {"title": "new"}}
    (folder / "catalog.cache.json").write_text("{not json")
    assert datacopy.load(folder, "catalog.yaml") == {"MM999": {"title": "new"}}  # an unreadable copy is ignored too