"""What a scan keeps for the whole run stays compact (issue 15, flat memory; bench/RESULTS.md "Memory").

No RSS or timing thresholds here (they flake on a shared machine): these tests pin the *shape* of what
is kept — no parse trees in the merged inventory, line indexes that share their key paths, strings
shared across files, candidates without Path objects, worker results that carry only their facts —
so a change that brings per-file bulk back fails a test instead of a benchmark.
"""

from __future__ import annotations

import os
import pickle
import sys

import yaml

from conftest import FIXTURES
from migrator import scan as scan_mod
from migrator.discover import Candidate, _walk_dir, discover
from migrator.documents import Document
from migrator.inventory import Inventory
from migrator.model import LineIndex, ScanOptions


def _reachable(root, limit: int = 200_000):
    """Every object reachable from root through containers and instance attributes (slots included)."""
    seen, stack = set(), [root]
    while stack and len(seen) < limit:
        x = stack.pop()
        if id(x) in seen or isinstance(x, (type, str, int, float, bool, bytes)) or x is None:
            continue
        seen.add(id(x))
        yield x
        if isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, (list, tuple, set, frozenset)):
            stack.extend(x)
        else:
            if hasattr(x, "__dict__"):
                stack.append(x.__dict__)
            for cls in type(x).__mro__:
                for name in getattr(cls, "__slots__", ()):
                    if hasattr(x, name):
                        stack.append(getattr(x, name))


def _scan(path, jobs: int = 1):
    return scan_mod.scan([str(path)], ScanOptions(jobs=jobs))


def test_the_merged_inventory_holds_no_parse_trees():
    """Documents and PyYAML nodes are per-file: the inventory keeps values and resolved line numbers."""
    for fixture in ("spire-istio-1.22", "multi-env", "kubectl-dump", "helm-chart-templates"):
        inv = _scan(FIXTURES / fixture).inventory
        assert inv.resources or inv.proxies or inv.pins, fixture
        kept = [type(o).__name__ for o in _reachable(inv) if isinstance(o, (Document, yaml.Node, yaml.Mark))]
        assert kept == [], f"{fixture}: the inventory keeps {sorted(set(kept))}"


def test_resources_of_one_shape_share_their_line_layout(tmp_path):
    for i in range(3):
        (tmp_path / f"dr{i}.yaml").write_text(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n"
            f"  name: dr{i}\n  namespace: team\nspec:\n  host: svc{i}.team.svc.cluster.local\n"
            + "\n" * i + "  trafficPolicy:\n    tls:\n      mode: SIMPLE\n")
    resources = _scan(tmp_path).inventory.resources
    assert [r.name for r in resources] == ["dr0", "dr1", "dr2"]
    assert all(isinstance(r.lines, LineIndex) for r in resources)
    assert len({id(r.lines._layout) for r in resources}) == 1  # one copy of the key paths
    # the line numbers are each resource's own (dr2 has two blank lines before trafficPolicy)
    assert [r.line(("spec", "trafficPolicy", "tls", "mode")) for r in resources] == [10, 11, 12]
    # and what repeats across files is one object: apiVersion, namespace, TLS mode, the whole TLS block
    for get in (lambda r: r.api_version, lambda r: r.namespace, lambda r: r.data["spec"]["trafficPolicy"]["tls"]["mode"],
                lambda r: r.data["spec"]["trafficPolicy"], lambda r: r.data["spec"]["trafficPolicy"]["tls"]):
        assert len({id(get(r)) for r in resources}) == 1
    assert len({id(r.data["spec"]) for r in resources}) == 3  # each its own host


def test_shared_subtrees_keep_types_order_and_values_apart():
    """1, 1.0, true and "1" are equal or alike in Python but print differently: never one shared object."""
    from migrator.inventory import _share_values

    def doc(value, order=("a", "b")):
        inner = dict(zip(order, (value, "x")))
        return {"spec": {"p": {"q": inner}}}

    made = [doc(1), doc(1.0), doc(True), doc("1"), doc(-0.0), doc(0.0), doc(1, ("b", "a")), doc(1)]
    for d in made:
        _share_values(d)
    inner = [d["spec"]["p"]["q"] for d in made]
    assert inner[0] is inner[7]  # equal content: one object
    assert len({id(x) for x in inner[:7]}) == 7
    assert [repr(x) for x in inner] == ["{'a': 1, 'b': 'x'}", "{'a': 1.0, 'b': 'x'}", "{'a': True, 'b': 'x'}", "{'a': '1', 'b': 'x'}",
                                        "{'a': -0.0, 'b': 'x'}", "{'a': 0.0, 'b': 'x'}", "{'b': 1, 'a': 'x'}", "{'a': 1, 'b': 'x'}"]
    recursive: dict = {"spec": {"p": {}}}
    recursive["spec"]["p"]["self"] = recursive["spec"]["p"]
    _share_values(recursive)  # PyYAML's fallback path can build these: no endless walk
    assert recursive["spec"]["p"]["self"] is recursive["spec"]["p"]


def test_line_index_reads_like_the_dict_it_replaces():
    d = {(): 1, ("spec",): 5, ("spec", "host"): 6, ("spec", "subsets", 0): 9}
    idx = LineIndex.of(d)
    assert idx == d and d == idx and dict(idx) == d and list(idx) == list(d) and len(idx) == 4
    assert idx[("spec", "host")] == 6 and idx.get(("nope",)) is None and idx.get(("nope",), 3) == 3
    assert ("spec",) in idx and ("metadata",) not in idx
    assert idx != {(): 1}
    back = pickle.loads(pickle.dumps(idx))
    assert back == d and back._layout is idx._layout  # a worker's copy joins the parent's layout
    try:
        LineIndex([(), ("a",)], [1])
    except ValueError as exc:
        assert "2 paths but 1 lines" in str(exc)
    else:
        raise AssertionError("a length mismatch must be refused")


def test_candidates_keep_a_string_not_a_path(tmp_path):
    (tmp_path / "a.yaml").write_text("kind: Namespace\n")
    (tmp_path / "b.yaml").write_text("kind: Namespace\n")
    _, candidates, _ = discover([str(tmp_path)])
    a, b = candidates
    assert not hasattr(a, "__dict__") and a._abspath is None and a._root is b._root  # one root string for all
    assert a.abspath == (tmp_path / "a.yaml").resolve() and a.relpath == "a.yaml"
    assert pickle.loads(pickle.dumps(a)) == a and a != b
    odd = Candidate("/elsewhere/x.yaml", "x.yaml", str(tmp_path))  # not root + relpath: kept whole
    assert odd._abspath == "/elsewhere/x.yaml" and odd.abspath.as_posix() == "/elsewhere/x.yaml"
    cand = a
    try:
        cand.relpath = "b.yaml"
    except AttributeError:
        pass
    else:
        raise AssertionError("a Candidate is immutable")


def test_the_walk_yields_files_one_at_a_time(tmp_path):
    """No list of every file's Path: the walk is consumed as discover() goes (plain trees and git work trees)."""
    (tmp_path / "a.yaml").write_text("a: 1\n")
    files, problems = _walk_dir(tmp_path, tmp_path)
    assert not isinstance(files, (list, tuple)) and iter(files) is files
    assert [os.path.basename(f) for f, _mode in files] == ["a.yaml"] and problems == []


def test_a_worker_result_carries_only_its_facts_and_comes_back_equal():
    raw = b"""apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: payments
  namespace: shop
spec:
  host: payments.shop.svc.cluster.local
  trafficPolicy:
    tls:
      mode: SIMPLE
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    metadata:
      labels:
        app: web
      annotations:
        inject.istio.io/templates: sidecar,spire
    spec:
      containers:
        - name: web
          image: example.com/web:1
"""
    outcome = scan_mod.process_text("shop/dr.yaml", raw, 8 << 20)
    assert outcome.inventory.resources and outcome.inventory.proxies
    packed = outcome.inventory.pack()
    assert packed[0] is None and packed[1::2] == ("proxies", "resources")  # no empty lists travel
    copy = pickle.loads(pickle.dumps(packed))
    Inventory.share_packed(copy)
    back = Inventory.unpack(copy)
    assert back == outcome.inventory
    for r in back.resources:
        assert r.kind is sys.intern(r.kind) and r.api_version is sys.intern(r.api_version)
    for p in back.proxies:
        assert p.namespace is sys.intern(p.namespace) and all(t is sys.intern(t) for t in p.templates)


def test_parallel_and_serial_scans_keep_the_same_inventory():
    serial, parallel = _scan(FIXTURES / "multi-env"), _scan(FIXTURES / "multi-env", jobs=2)
    assert serial.inventory == parallel.inventory
    assert [(f.rule, f.path, f.line) for f in serial.findings] == [(f.rule, f.path, f.line) for f in parallel.findings]


def test_a_file_reached_through_symlinks_is_still_one_candidate(tmp_path):
    """discover() keeps real paths under the root as relative paths (seen_plain): the dedupe is unchanged,
    whichever way round the walk meets the link and the file."""
    (tmp_path / "b-real.yaml").write_text("kind: Namespace\n")
    (tmp_path / "a-link.yaml").symlink_to(tmp_path / "b-real.yaml")  # met before the file it points to
    (tmp_path / "c-link.yaml").symlink_to(tmp_path / "b-real.yaml")  # met after it
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "e.yaml").write_text("kind: Namespace\n")
    (tmp_path / "alias").symlink_to(tmp_path / "d", target_is_directory=True)
    _, candidates, problems = discover([str(tmp_path)])
    assert [c.relpath for c in candidates] == ["b-real.yaml", "d/e.yaml"] and problems == []
    # a file named through a symlinked folder and by its real path: read once (through the path named
    # first, as before this change), reported under its relative path
    _, candidates, _ = discover([str(tmp_path / "alias" / "e.yaml"), str(tmp_path / "d" / "e.yaml")])
    assert [(c.relpath, c.abspath) for c in candidates] == [("e.yaml", tmp_path / "alias" / "e.yaml")]
    _, candidates, _ = discover([str(tmp_path / "d" / "e.yaml"), str(tmp_path / "alias" / "e.yaml"), str(tmp_path / "c-link.yaml")])
    assert [c.relpath for c in candidates] == ["b-real.yaml", "d/e.yaml"]


def test_path_map_reads_like_the_dict_it_replaces(monkeypatch):
    """topology.PathMap: the same items in the same order (report/topology counts folders in that order),
    the same lookups, and `pop` as Topology.forget uses it; a large folder takes the indexed lookup."""
    from migrator.topology import PathMap

    prod, staging, both = ("prod",), ("staging",), ("prod", "staging")
    d = {"clusters/prod/istio/values.yaml": prod, "kustomization.yaml": both}  # wired first, out of path order
    d.update({f"apps/payments/svc-{i:03}.yaml": prod if i % 7 else staging for i in range(40)})
    d.update({f"apps/checkout/svc-{i:03}.yaml": both for i in range(30)})  # one folder, one shared value
    d["/outside/abs.yaml"] = prod
    d["apps/payments/svc-100.yaml"] = prod  # the folder again, after another one: a second run
    monkeypatch.setattr(PathMap, "_INDEXED", 20)
    m = PathMap(d)
    assert list(m.items()) == list(d.items()) and list(m) == list(d) and len(m) == len(d) and m == d
    for path, value in d.items():
        assert m[path] is value and path in m
    for path in ("apps/payments", "apps/payments/svc-0.yaml", "abs.yaml", "outside/abs.yaml", "svc-001.yaml", ""):
        assert path not in m and m.get(path, "none") == "none"
    assert m.pop("apps/checkout/svc-003.yaml") is both and m.pop("apps/checkout/svc-003.yaml", "gone") == "gone"
    del d["apps/checkout/svc-003.yaml"]
    assert list(m.items()) == list(d.items()) and len(m) == len(d)


def test_topology_keeps_no_string_per_file(tmp_path):
    """Files that hold no facts leave no path string in the topology: it keeps them by folder."""
    for team in range(3):
        folder = tmp_path / "apps" / f"team-{team}"
        folder.mkdir(parents=True)
        for i in range(5):
            (folder / f"svc-{i}.yaml").write_text(f"apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  labels:\n"
                                                  f"    istio.io/part-of: mesh\nspec:\n  ports:\n    - port: 80\n")
    (tmp_path / "istio").mkdir()
    (tmp_path / "istio" / "values.yaml").write_text("pilot:\n  image: docker.io/istio/pilot:1.22.0\n")
    result = _scan(tmp_path)
    topo = result.topology
    assert len(topo.attribution) == 16 and topo.attribution.get("apps/team-1/svc-3.yaml") is not None
    names = [x for x in gc_referents_deep(topo.attribution) if isinstance(x, str) and x.endswith(".yaml")]
    # one joined string per folder listing, not 16 paths; the three teams' folders list the same names
    assert sorted(names) == ["svc-0.yaml\0svc-1.yaml\0svc-2.yaml\0svc-3.yaml\0svc-4.yaml", "values.yaml"], names
    how_names = [x for x in gc_referents_deep(topo.how) if isinstance(x, str) and x.endswith(".yaml")]
    assert how_names and {id(x) for x in how_names} <= {id(x) for x in names}  # `how` names the same files, same strings


def gc_referents_deep(root):
    """Every object reachable from root, strings included (unlike _reachable)."""
    seen, stack, out = set(), [root], []
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        out.append(x)
        if isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, (list, tuple, set, frozenset)):
            stack.extend(x)
        elif hasattr(type(x), "__slots__") and not isinstance(x, str):
            stack.extend(getattr(x, n) for n in type(x).__slots__ if hasattr(x, n))
    return out


def test_equal_line_indexes_are_one_object():
    a = LineIndex.of({(): 1, ("spec",): 5, ("spec", "host"): 6})
    b = LineIndex.of({(): 1, ("spec",): 5, ("spec", "host"): 6})
    c = LineIndex.of({(): 1, ("spec",): 5, ("spec", "host"): 7})
    assert a is b and c is not a and c != a
    assert pickle.loads(pickle.dumps(a)) is a  # a worker's copy becomes the parent's object


def test_a_deferred_message_reads_as_its_text_everywhere():
    """MM101/MM102 keep their message's parts (model.Deferred); every reader gets the same str."""
    from migrator.model import Deferred, Finding

    f = Finding(rule="MM102", severity="error", path="dr.yaml", line=3, resource="DestinationRule/ns/dr",
                message=Deferred(lambda where, n: f"{where} breaks {n} proxies", "trafficPolicy.tls", 2))
    assert f.message == "trafficPolicy.tls breaks 2 proxies" and type(f.message) is str
    assert f == Finding(rule="MM102", severity="error", path="dr.yaml", line=3, resource="DestinationRule/ns/dr",
                        message="trafficPolicy.tls breaks 2 proxies")
    assert "message='trafficPolicy.tls breaks 2 proxies'" in repr(f)
    f.message = "plain"
    assert f.message == "plain"
    kept = Deferred("{} breaks {} proxies".format, "trafficPolicy.tls", 2)  # one tuple: the function, then its arguments
    assert str(kept) == "trafficPolicy.tls breaks 2 proxies" and len(kept) == 3
    assert str(pickle.loads(pickle.dumps(kept))) == str(kept)


def test_the_streamed_json_report_is_the_json_of_the_whole_report():
    """jsonout.render_parts makes proxies and findings one by one; the bytes are json.dumps of the dict."""
    import json

    from migrator.report import jsonout

    for fixture in ("spire-istio-1.22", "multi-env"):
        result = _scan(FIXTURES / fixture)
        assert result.findings and result.inventory.proxies, fixture
        assert "".join(jsonout.render_parts(result)) == json.dumps(jsonout.report_dict(result), indent=2) + "\n"


def test_proxy_labels_read_like_the_dict_they_replace():
    """model.Labels: equal to the pod's labels as a dict, same order and lookups, one layout per key
    sequence, and a worker's copy comes back equal with the parent's layout."""
    from migrator.model import Labels

    a = Labels([("app", "checkout"), ("version", "v2"), ("istio.io/rev", "1-22")])
    b = Labels([("app", "payments"), ("version", "v1"), ("istio.io/rev", "1-22")])
    assert a == {"app": "checkout", "version": "v2", "istio.io/rev": "1-22"} and list(a) == ["app", "version", "istio.io/rev"]
    assert a.get("version") == "v2" and a.get("team") is None and a.get("team", "") == "" and "app" in a and "team" not in a
    assert a["istio.io/rev"] == "1-22" and len(a) == 3 and dict(a) == dict(a.items()) and a != b
    assert a._layout is b._layout
    back = pickle.loads(pickle.dumps(b))
    assert back == b and back._layout is b._layout
    assert Labels([("app", "x"), ("app", "y")]) == {"app": "y"}  # a repeated key reads as the dict would


def test_collected_proxies_keep_compact_labels():
    proxies = _scan(FIXTURES / "multi-env").inventory.proxies
    assert proxies and all(type(p.labels).__name__ == "Labels" for p in proxies)
    assert _scan(FIXTURES / "multi-env", jobs=2).inventory.proxies == proxies


def test_the_shared_empty_inventory_of_skipped_files_stays_empty():
    """Every file that contributed nothing shares one Inventory (scan._EMPTY); a scan that wrote into
    it would hand its facts to every later skipped file."""
    from migrator import scan as scan_mod
    from migrator.inventory import Inventory
    from migrator.model import ScanOptions

    result = scan_mod.scan([str(FIXTURES)], ScanOptions())
    assert result.files_parsed < result.files_read  # some files were skipped: they got the shared one
    assert result.inventory.proxies and scan_mod._EMPTY == Inventory()


def test_finding_details_read_like_the_dict_they_replace():
    """model.Details: equal to the dict it replaces, same order and lookups, read-only, one layout per
    key sequence, and a pickled copy comes back equal."""
    import pytest

    from migrator.model import Details

    a = Details(doc=0, base_path=(), tls_path=("spec", "trafficPolicy", "tls"), mode="SIMPLE", proxy_count=3)
    b = Details(doc=2, base_path=("items", 1), tls_path=("spec", "trafficPolicy", "tls"), mode="MUTUAL", proxy_count=12)
    assert a == {"doc": 0, "base_path": (), "tls_path": ("spec", "trafficPolicy", "tls"), "mode": "SIMPLE", "proxy_count": 3}
    assert list(a) == ["doc", "base_path", "tls_path", "mode", "proxy_count"] and a != b and a._layout is b._layout
    assert a["mode"] == "SIMPLE" and a.get("server") is None and a.get("proxy_count", 0) == 3 and "template" not in a
    with pytest.raises(TypeError):
        a["template"] = {}  # noqa: the point: it cannot be changed in place
    assert {**a, "template": {"chart": "x"}}["template"] == {"chart": "x"}
    assert pickle.loads(pickle.dumps(b)) == b


def test_spire_findings_keep_compact_details_and_no_empty_lists():
    """The findings that grow with a repository (MM101/MM102) keep a Details and one shared empty tuple
    for no assumptions and no candidates; a finding that has them keeps them."""
    from migrator.model import Details

    from migrator.report import sarif

    result = _scan(FIXTURES / "ca-file-spire-1.23")
    findings = result.findings
    spire = [f for f in findings if f.rule in ("MM101", "MM102")]
    assert spire and all(type(f.details) is Details and f.assumptions == () and f.candidates == () for f in spire)
    assert not any("assumptions" in r["properties"] for r in sarif.sarif_log(result)["runs"][0]["results"])  # none: left out, as []
    assert _scan(FIXTURES / "ca-file-spire-1.23", jobs=2).findings == findings
    templated = [f for f in _scan(FIXTURES / "app-chart-dr-template").findings if f.rule == "MM101"]
    assert templated and all("template" in f.details and f.details["tls_path"] for f in templated)  # replaced, keys kept
    assumed = _scan(FIXTURES / "kubectl-dump").findings  # (an ambiguous file's candidates: test_topology.py)
    assert assumed and all(f.assumptions and "Istio version unknown" in f.assumptions[-1] for f in assumed)


def test_views_group_proxies_only_as_asked():
    """A view's proxy index makes the all-proxy grouping only when a rule asks for it (the SPIRE rules
    ask for the SPIRE proxies'), and the groups hold every proxy they should."""
    result = _scan(FIXTURES / "spire-istio-1.22")
    view = result.views[0]
    idx = view._proxy_index()
    assert "spire" in vars(idx) and "every" not in vars(idx)
    dr = view.of_kind("DestinationRule")[0]
    seen = {p.resource for _, chunk in view.visible_chunks(dr) for p in chunk}
    assert "every" in vars(idx) and seen and {p.resource for p in view.proxies if p.spire} <= seen | {
        p.resource for p in view.proxies if p.namespace != dr.namespace}


def test_proxies_share_a_profile_and_read_like_the_dataclass():
    """model.Proxy: every field reads and writes as an attribute; what proxies have in common (kind, SPIRE
    reason, templates, annotations, label keys …) is one shared profile; setting a field shares the new
    profile without touching the others'; equality, repr and pickling go by the fields."""
    from migrator.model import Labels, Proxy

    a = Proxy("Deployment/shop/cart", "sidecar", "shop", {"app": "cart", "version": "v1"}, "cart", True, "spire template",
              "apps/shop/cart.yaml", 12, "high", ("sidecar", "spire"), {"inject.istio.io/templates": "sidecar,spire"})
    b = Proxy("Deployment/shop/pay", "sidecar", "shop", Labels([("app", "pay"), ("version", "v2")]), "pay", True, "spire template",
              "apps/shop/pay.yaml", 9, "high", ("sidecar", "spire"), {"inject.istio.io/templates": "sidecar,spire"})
    assert a._profile is b._profile and a.labels == {"app": "cart", "version": "v1"} and type(a.labels) is Labels
    assert (a.kind, a.spire, a.templates, a.annotations, a.env, a.revision, a.line) == (
        "sidecar", True, ("sidecar", "spire"), {"inject.istio.io/templates": "sidecar,spire"}, None, "", 12)
    b.spire, b.confidence, b.spire_reason = False, "high", ""
    assert (b.spire, b.spire_reason, a.spire, a.spire_reason) == (False, "", True, "spire template") and a._profile is not b._profile
    b.labels = {"app": "pay", "tier": "backend"}
    assert b.labels == {"app": "pay", "tier": "backend"} and a.labels["version"] == "v1"
    back = pickle.loads(pickle.dumps(a))
    assert back == a and back._profile is a._profile and back != b
    assert repr(a).startswith("Proxy(resource='Deployment/shop/cart', kind='sidecar', namespace='shop', labels={'app': 'cart'")
    assert Proxy("Deployment/x/y", "gateway", "x", {}, "y", False, "", "y.yaml", 1).annotations == {}


def test_collected_proxies_share_profiles(tmp_path):
    """Proxies of one template share their profile, in a serial scan and with --jobs (a worker's proxy
    takes this process's equal profile on arrival)."""
    for i in range(70):  # --jobs runs in parallel from 64 files
        (tmp_path / f"svc-{i:02}.yaml").write_text(
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc-{i:02}\n  namespace: shop\nspec:\n  template:\n"
            f"    metadata:\n      labels:\n        app: svc-{i:02}\n      annotations:\n        inject.istio.io/templates: sidecar,spire\n"
            f"    spec:\n      containers:\n        - name: app\n          image: shop/svc:1.0\n")
    serial = _scan(tmp_path).inventory.proxies
    parallel = _scan(tmp_path, jobs=2).inventory.proxies
    assert len(serial) == 70 and parallel == serial and [p.labels["app"] for p in serial[:2]] == ["svc-00", "svc-01"]
    for proxies in (serial, parallel):
        assert len({id(p._profile) for p in proxies}) == 1


def test_kept_resources_own_mappings_are_equal_key_sharing_dicts():
    """A kept resource's own mappings (the document, metadata, spec) are plain dicts equal to what was
    parsed, in the same order, whichever way they were made; the shared subtrees below stay shared."""
    import sys as _sys

    from migrator.inventory import _key_sharing

    resources = _scan(FIXTURES / "ca-file-spire-1.23").inventory.resources
    drs = [r for r in resources if r.kind == "DestinationRule"]
    assert drs and all(type(r.data) is dict and type(r.data["metadata"]) is dict and type(r.data["spec"]) is dict for r in drs)
    for r in drs:
        parsed = yaml.safe_load_all(open(FIXTURES / "ca-file-spire-1.23" / r.path).read())
        assert [r.data] == [d for d in parsed if isinstance(d, dict) and d.get("metadata", {}).get("name") == r.name
                            and d.get("kind") == r.kind][:1]
        assert list(r.data) == list(r.data.keys()) and r.data.get("kind") == "DestinationRule"
    assert _scan(FIXTURES / "ca-file-spire-1.23", jobs=2).inventory.resources == resources
    from migrator.inventory import _KEY_TABLE_AFTER

    plain = {"memtest-name": "reviews", "memtest-namespace": "bookinfo", "memtest-labels": {"app": "reviews"}}
    early = [_key_sharing(dict(plain)) for _ in range(_KEY_TABLE_AFTER - 1)]  # a rare key sequence: no class for it
    assert all(m == plain and type(m) is dict for m in early)
    made = [_key_sharing(dict(plain)) for _ in range(3)]
    assert all(m == plain and list(m) == list(plain) and type(m) is dict for m in made)
    if _sys.implementation.name == "cpython":  # the point: smaller than the dicts it replaces (allocation sizes, not time)
        import tracemalloc

        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            shared = [_key_sharing(dict(plain)) for _ in range(200)]
            middle = tracemalloc.get_traced_memory()[0]
            copies = [dict(plain) for _ in range(200)]
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert middle - before < 0.8 * (after - middle) and shared == copies
    odd = {1: "a", "b": 2}
    assert _key_sharing(odd) is odd  # a key that is not a string: left as it is
    made[0]["extra"] = 1  # still an ordinary dict if something did change it
    assert made[0]["extra"] == 1 and "extra" not in made[1]


def test_low_confidence_reasons_of_a_large_group_are_the_first_three():
    """sds._low_reasons: the same answer as walking the group, for small and large groups, and a large
    group is walked once however many DestinationRules see it."""
    from migrator.model import Proxy
    from migrator.sds import _low_reasons

    def group(n, low):
        return [Proxy(f"Deployment/ns/p{i}", "sidecar", "ns", {"app": f"p{i}"}, "sa", True, f"reason {i}", "p.yaml", i,
                      "low" if i in low else "high") for i in range(n)]

    memo: dict = {}
    small, large = group(5, {1, 3}), group(40, {5, 20, 30, 35})
    assert _low_reasons(small, memo) == ["reason 1", "reason 3"] and not memo
    assert _low_reasons(large, memo) == ["reason 5", "reason 20", "reason 30"] and len(memo) == 1
    large[5].confidence = "high"  # the memo answers for the group it walked (groups are fixed within a rule's run)
    assert _low_reasons(large, memo) == ["reason 5", "reason 20", "reason 30"]
    assert _low_reasons(group(40, set()), {}) == []
