"""Differential test: the rules' inputs do not depend on which read path produced them (issue 15).

For speed, scan.process_text skips files whose only document is a kind nothing reads
(kindgate.ignored_kind_only: Services, plain ConfigMaps, dashboards, CRD bundles …) instead of parsing
them, and elsewhere blanks documents of those kinds and reads only the header of documents of a kind
read by its header alone (kindgate.reduced_text: VirtualService, AuthorizationPolicy …).  That is only correct if the facts
the rules see — resources with their data, kind, apiVersion and line index, pins, proxies, flags,
TLS settings (inside Resource.data), links, installs, suppressions — are exactly what a full parse
of the same file gives (for header-only kinds: its apiVersion, kind and metadata).  These tests
compare both paths file by file on every YAML file under fixtures/ and on Istio's 1.22.0 release
tree, and compare whole scans.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FIXTURES, REPO, headers_only
from migrator import kindgate
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


def _reducible(raw: bytes) -> bool:
    """Does scan read this file reduced (kindgate.reduced_text)?"""
    text = raw.decode("utf-8")
    return (kindgate.document_kinds(raw) is not None and kindgate.plain_enough(raw) and kindgate.reduced_text(text) is not None
            and kindgate.well_formed(raw))


def _compare(files: list[Path], root: Path, monkeypatch) -> tuple[int, int]:
    """Assert both paths agree on every file; return how many files the gates skipped and header-read."""
    skipped = headers = 0
    for path in files:
        rel = path.relative_to(root).as_posix()
        fast, full = _both_paths(path, rel, monkeypatch)
        if fast.inventory != full.inventory:
            assert _reducible(path.read_bytes()), rel
            assert fast.inventory == headers_only(full.inventory), rel
            assert fast.problems == full.problems == [], rel
            headers += 1
        if fast.parsed != full.parsed:
            skipped += 1
            assert scan_mod.ignored_kind_only(path.read_bytes()), rel
            assert full.problems == [], f"{rel}: a skipped file must have had nothing to report: {full.problems}"
        else:
            assert fast.problems == full.problems, rel
    return skipped, headers


def test_every_fixture_gives_the_same_inventory_either_way(monkeypatch):
    files = [p for p in _yaml_files(FIXTURES) if "real-trees" not in p.parts]
    assert len(files) > 100
    _compare(files, FIXTURES, monkeypatch)  # (their plain Services mostly fail the byte prefilter already)


def test_the_release_tree_gives_the_same_inventory_either_way(release_tree, monkeypatch):
    files = _yaml_files(release_tree)
    assert len(files) > 300
    skipped, headers = _compare(files, release_tree, monkeypatch)
    assert skipped > 0 and headers > 0


def test_whole_scan_is_identical_with_and_without_the_gate(release_tree, monkeypatch):
    """Findings, resources with their line index, pins and problems of a full scan (samples included)."""
    options = ScanOptions(includes=("**",))

    scans = {}
    for gate in (True, False):
        monkeypatch.setattr(scan_mod, "KIND_GATE", gate)
        scans[gate] = scan_mod.scan([str(release_tree)], options)

    def gated(rel: str) -> bool:
        return _reducible((scans[False].root / rel).read_bytes())

    out = {}
    for gate, r in scans.items():
        inventory = r.inventory if gate else headers_only(r.inventory, gated)
        out[gate] = ([(f.rule, f.path, f.line, f.resource, f.message) for f in r.findings], inventory, r.problems, r.files_read)
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
    assert not gate(b"apiVersion: v1\nkind: Service\n---\napiVersion: apps/v1\nkind: Deployment\n")  # a Deployment is read
    assert gate(b"# CRDs\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n---\n# next\n---\n"
                b"apiVersion: v1\nkind: Service\n")  # every document ignored (empty ones and comments between)
    assert not gate(b"kind: Service\n---\nimage: istio/proxyv2\n")  # a document without a kind: a values file
    assert not gate(b"kind: Service\n---\nkind: Service\nkind: ConfigMap\n")  # two kinds in one piece: not understood
    assert not gate(b"kind: Service\n...\nfoo: bar\n")
    assert not gate(b"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n")
    assert not gate(b"kind: ConfigMap\ndata:\n  agent.conf: |\n    agent {}\n")  # SPIRE agent config is read
    assert not gate(b"kind: ConfigMap\ndata:\n  server.conf: |\n    server {}\n")  # so is the server's
    assert not gate(b"kind: Service\n---\nkind: ConfigMap\ndata:\n  values.yml: |\n    pilot: {}\n")  # and Helm values
    assert gate(b"kind: ConfigMap\ndata:\n  nginx.conf: |\n    server {}\n")  # a `.conf` key the inventory does not read
    assert gate(b"kind: Service\nmetadata:\n  annotations:\n    docs: see values.yaml\n")  # only a ConfigMap's keys are read
    assert not gate(b"kind: Service  # mesh-migrator: ignore[MM101]\n")
    assert not gate(b"kind: List\nitems:\n- kind: Service\n")
    assert not gate(b"image: istio/proxyv2\n")  # no kind: a values file
    assert not gate(b"kind: ConfigMap\na: &a [x, x]\nb: [*a, *a]\n")  # aliases: an alias bomb is reported whatever its kind
    bomb = b"kind: ConfigMap\nmetadata: {namespace: istio-system}\na0: &a0 [x, x, x]\n" + b"".join(b"a%d: &a%d [*a%d, *a%d, *a%d]\n" % (i, i, i - 1, i - 1, i - 1) for i in range(1, 12))
    assert not gate(bomb)
    out = scan_mod.process_text("bomb.yaml", bomb, MAX)
    assert [p.message.split("(")[-1] for p in out.problems] == ["alias bomb?); not scanned"]
    crd = (b"kind: CustomResourceDefinition\nspec:\n  description: 'x && y; a *string, **bold** text; *glob*'\n"
           b"  rule: self.a == 'b' && size(self.c) > 0\n")
    assert gate(crd) and not kindgate.has_aliases(crd)  # `&&`, `*string` and `**bold**` name no anchor


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


def test_the_header_gate_reads_the_header_with_the_file_s_own_lines():
    raw = (b"# routes for the public API\napiVersion: networking.istio.io/v1\nkind: VirtualService\nspec:\n  hosts: [a]\n"
           b"  http:\n  - route:\n    - destination: {host: a}\nmetadata:\n  name: api  # the public one\n  namespace: web\n")
    body, kinds = kindgate.reduced_text(raw.decode())
    assert kinds == ("VirtualService",) and body.count("\n") == raw.count(b"\n")
    out = scan_mod.process_text("vs.yaml", raw, MAX)
    (r,) = out.inventory.resources
    assert r.data == {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "api", "namespace": "web"}}
    assert (r.line(("apiVersion",)), r.line(("metadata", "namespace"))) == (2, 11)


def test_a_bundle_keeps_its_document_indexes_and_lines_when_crds_are_blanked():
    """A CRD bundle with a Deployment in it (kserve.yaml, cert-manager.yaml): the CRDs are blanked, the
    Deployment is read with the index and lines a full read gives (edits locate documents by index)."""
    crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: x.example.com\nspec:\n  group: example.com\n"
    deployment = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: web\nspec:\n  template:\n"
                  "    metadata:\n      annotations:\n        inject.istio.io/templates: sidecar,spire\n    spec:\n"
                  "      containers:\n      - name: api\n        image: istio/proxyv2:1.22.0\n")
    for raw in ((crd + "---\n" + crd + "---\n" + deployment).encode(), ("---\n" + crd + "---\n# between\n---\n" + deployment).encode(),
                (deployment + "---\n" + crd).encode()):
        reduced = kindgate.reduced_text(raw.decode())
        assert reduced is not None and reduced[1] == ("Deployment",)
        fast, full = _both_paths_raw(raw)
        assert fast.inventory == full.inventory and fast.problems == full.problems == []
        assert [(p.doc, p.line) for p in fast.inventory.pins] == [(p.doc, p.line) for p in full.inventory.pins] != []


def _both_paths_raw(raw: bytes):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scan_mod, "KIND_GATE", True)
        fast = scan_mod.process_text("bundle.yaml", raw, MAX)
        mp.setattr(scan_mod, "KIND_GATE", False)
        full = scan_mod.process_text("bundle.yaml", raw, MAX)
    return fast, full


def test_the_reduction_is_conservative():
    def reduced(raw: bytes):
        return kindgate.reduced_text(raw.decode())

    assert reduced(b"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: a\nspec: {}\n")
    assert not reduced(b"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nspec:\n  host: a\n")  # its spec is read
    assert not reduced(b'kind: VirtualService\n"spec": {}\n')  # a quoted top-level key
    assert not reduced(b"kind: VirtualService\n? spec\n: {}\n")  # a complex key
    assert not reduced(b"kind: Service\n--- !!map\nkind: Service\n")  # content on a `---` line
    assert not reduced(b"kind: List\nitems: []\n---\nkind: Service\n")  # List items are documents of their own
    assert reduced(b"kind: ConfigMap\ndata:\n  agent.conf: x\n---\nkind: Service\n")[1] == ("ConfigMap",)  # SPIRE config is read
    assert not kindgate.plain_enough(b"kind: VirtualService\nspec: &s {a: 1}\nx: *s\n")  # an alias
    assert not kindgate.plain_enough(b'kind: VirtualService\nspec: {"a": &s 1, "b":*s}\n')  # an alias after a flow key's `:`
    assert kindgate.plain_enough(b"kind: VirtualService\nspec: {hosts: ['*.example.com']}\n")  # a glob is no alias
    assert not kindgate.plain_enough(b"kind: VirtualService  # mesh-migrator: ignore[MM130]\n")  # a suppression needs it all


def test_a_broken_or_odd_reduced_file_takes_the_full_path():
    """A syntax error anywhere (MM001) and documents that do not read back as expected are left to the
    full read, which reports them exactly as before."""
    broken = b"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: a\nspec:\n  hosts: [a\n"
    assert kindgate.reduced_text(broken.decode()) is not None
    out = scan_mod.process_text("broken.yaml", broken, MAX)
    assert [p.message.split(":")[0] for p in out.problems] == ["YAML syntax error"]
    flow = b"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a,\nnamespace: b}\n"
    out = scan_mod.process_text("flow.yaml", flow, MAX)
    assert [r.namespace for r in out.inventory.resources] == ["b"] and out.problems == []


def test_nothing_reads_a_header_only_kind_beyond_its_header():
    """The header gate is right only while no rule, remedy, SDS model, mesh view or inventory branch
    reads these kinds' bodies: naming one of them in that code means it must leave HEADER_ONLY_KINDS."""
    from migrator import inventory, shapes

    kinds = {k.decode() for k in kindgate.HEADER_ONLY_KINDS}
    assert not kinds & (inventory.WORKLOAD_KINDS | inventory.KEPT_KINDS | set(shapes.BY_KIND))
    readers = [*(REPO / "migrator" / "rules").glob("*.py"), *(REPO / "migrator" / "remedies").glob("*.py"),
               *(REPO / "migrator" / "plan").glob("*.py"),
               *(REPO / "migrator" / n for n in ("sds.py", "mesh.py", "inventory.py", "topology.py", "fix.py"))]
    for path in readers:
        text = path.read_text(encoding="utf-8")
        for kind in kinds:
            assert f'"{kind}"' not in text and f"'{kind}'" not in text, (path.name, kind)


def test_fix_edits_the_same_document_of_a_bundle_either_way(tmp_path, run_cli, monkeypatch):
    """Edits locate documents by index: with CRDs and a VirtualService blanked around it, the
    DestinationRule of a bundle gets exactly the diff a full read plans."""
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "spire-istio-1.22", repo)
    dr = repo / "apps" / "payments" / "destinationrule-stripe.yaml"
    crd = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: things.example.com\n"
           "spec:\n  group: example.com\n  names: {kind: Thing, plural: things}\n")
    vs = ("apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata:\n  name: stripe\n  namespace: payments\n"
          "spec:\n  hosts: [api.stripe.com]\n  http:\n  - route:\n    - destination: {host: api.stripe.com}\n")
    dr.write_text(crd + "---\n" + vs + "---\n" + dr.read_text(encoding="utf-8"))
    diffs = {}
    for gate in (True, False):
        monkeypatch.setattr(scan_mod, "KIND_GATE", gate)
        code, out, err = run_cli("fix", str(repo), "--strategy", "skip-verify")
        diffs[gate] = out
    assert diffs[True] == diffs[False]
    assert "destinationrule-stripe.yaml" in diffs[True] and "+" in diffs[True]
