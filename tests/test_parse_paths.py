"""Differential test: the rules' inputs do not depend on which read path produced them (issue 15).

For speed, scan.process_text skips files whose only document is a kind nothing reads
(scan.ignored_kind_only: Services, plain ConfigMaps, dashboards …) instead of parsing them.  That is
only correct if the facts the rules see — resources with their data, kind, apiVersion and line
index, pins, proxies, flags, TLS settings (inside Resource.data), links, installs, suppressions —
are exactly what a full parse of the same file gives.  These tests compare both paths file by file
on every YAML file under fixtures/ and on Istio's 1.22.0 release tree, and compare whole scans.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FIXTURES
from migrator import scan as scan_mod
from migrator.model import ScanOptions

MAX = 8 * 1024 * 1024


def _yaml_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file() and not p.is_symlink())


def _both_paths(path: Path, rel: str, monkeypatch):
    raw = path.read_bytes()
    monkeypatch.setattr(scan_mod, "KIND_GATE", True)
    fast = scan_mod.process_text(rel, raw, MAX, path)
    monkeypatch.setattr(scan_mod, "KIND_GATE", False)
    full = scan_mod.process_text(rel, raw, MAX, path)
    return fast, full


def _compare(files: list[Path], root: Path, monkeypatch) -> int:
    """Assert both paths agree on every file; return how many files the gate skipped."""
    skipped = 0
    for path in files:
        rel = path.relative_to(root).as_posix()
        fast, full = _both_paths(path, rel, monkeypatch)
        assert fast.inventory == full.inventory, rel
        if fast.parsed != full.parsed:
            skipped += 1
            assert scan_mod.ignored_kind_only(path.read_bytes()), rel
            assert full.problems == [], f"{rel}: a skipped file must have had nothing to report: {full.problems}"
        else:
            assert fast.problems == full.problems, rel
    return skipped


def test_every_fixture_gives_the_same_inventory_either_way(monkeypatch):
    files = [p for p in _yaml_files(FIXTURES) if "real-trees" not in p.parts]
    assert len(files) > 100
    _compare(files, FIXTURES, monkeypatch)  # (their plain Services mostly fail the byte prefilter already)


def test_the_release_tree_gives_the_same_inventory_either_way(release_tree, monkeypatch):
    files = _yaml_files(release_tree)
    assert len(files) > 300
    assert _compare(files, release_tree, monkeypatch) > 0


def test_whole_scan_is_identical_with_and_without_the_gate(release_tree, monkeypatch):
    """Findings, resources with their line index, pins and problems of a full scan (samples included)."""
    options = ScanOptions(includes=("**",))
    out = {}
    for gate in (True, False):
        monkeypatch.setattr(scan_mod, "KIND_GATE", gate)
        r = scan_mod.scan([str(release_tree)], options)
        out[gate] = ([(f.rule, f.path, f.line, f.resource, f.message) for f in r.findings], r.inventory, r.problems, r.files_read)
    assert out[True] == out[False]
    assert out[True][0], "the release tree has findings (MM101 on sample DestinationRules)"


def test_a_broken_file_of_an_ignored_kind_is_still_reported():
    raw = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio-mesh\n data: {}\n"
    assert scan_mod.ignored_kind_only(raw)
    out = scan_mod.process_text("broken.yaml", raw, MAX)
    assert [(p.line, p.message.split(":")[0]) for p in out.problems] == [(5, "YAML syntax error")]


def test_the_gate_is_conservative():
    gate = scan_mod.ignored_kind_only
    assert gate(b"apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n")
    assert gate(b"---\napiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n")
    assert not gate(b"apiVersion: v1\nkind: Service\n---\napiVersion: apps/v1\nkind: Deployment\n")  # two documents
    assert not gate(b"kind: Service\n...\nfoo: bar\n")
    assert not gate(b"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n")
    assert not gate(b"kind: ConfigMap\ndata:\n  agent.conf: |\n    agent {}\n")  # SPIRE agent config is read
    assert not gate(b"kind: Service  # mesh-migrator: ignore[MM101]\n")
    assert not gate(b"kind: List\nitems:\n- kind: Service\n")
    assert not gate(b"image: istio/proxyv2\n")  # no kind: a values file
    assert not gate(b"kind: ConfigMap\na: &a [x, x]\nb: [*a, *a]\n")  # aliases: an alias bomb is reported whatever its kind


def test_the_fast_resolver_gives_pyyaml_tags_for_every_fixture_scalar():
    """documents._Loader.resolve (memo + first-character shortcut) agrees with PyYAML's own Resolver."""
    import yaml

    from migrator import documents

    reference, fast = yaml.resolver.Resolver(), documents._Loader("")
    seen = {(v, (True, False)) for v in ("", "~", "null", "Null", "yes", "No", "on", "OFF", "y", "n", "0x1F", "0o17", "017",
                                          "1_000", "-.inf", ".NaN", "+1", "2024-01-01", "2001-12-14t21:59:43.10-05:00",
                                          "<<", "=", "true", "False", "1e3", "190:20:30", ".5", "a", "Y", "N", "svc-1")}
    for path in _yaml_files(FIXTURES):
        try:
            events = list(yaml.parse(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        seen.update((e.value, e.implicit) for e in events if isinstance(e, yaml.ScalarEvent))
    assert len(seen) > 500
    for value, implicit in seen:
        assert fast.resolve(yaml.ScalarNode, value, implicit) == reference.resolve(yaml.ScalarNode, value, implicit), value
