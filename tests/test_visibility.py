"""DestinationRule visibility by grouping (mesh.visible_chunks) agrees with the per-pair predicate.

The grouped form exists so scans stay linear on large repos (issue 12); the pairwise `dr_applies`
is the readable statement of Istio's rules (exportTo, namespace, workloadSelector).  They must never
disagree.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.mesh import MeshView, dr_applies
from migrator.model import Proxy, Resource

NS = st.sampled_from(["a", "b", "c"])
LABELS = st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(["x", "y"]), max_size=2)


@st.composite
def proxies(draw):
    out = []
    for i in range(draw(st.integers(0, 12))):
        ns = draw(NS)
        out.append(Proxy(f"Deployment/{ns}/p{i}", draw(st.sampled_from(["sidecar", "gateway"])), ns, draw(LABELS), "sa",
                         draw(st.booleans()), "", "x.yaml", 1))
    return out


@st.composite
def drs(draw):
    spec: dict = {"host": "h"}
    export = draw(st.one_of(st.none(), st.lists(st.sampled_from([".", "*", "a", "b", "c", "~"]), max_size=3)))
    if export is not None:
        spec["exportTo"] = export
    if draw(st.booleans()):
        spec["workloadSelector"] = {"matchLabels": draw(LABELS)}
    ns = draw(NS)
    return Resource("DestinationRule", "networking.istio.io/v1", "dr", ns, {"spec": spec}, "dr.yaml", 0, {})


def view(ps):
    return MeshView(None, None, True, None, None, [], [], ps, [], None)


@settings(max_examples=300, deadline=None)
@given(proxies(), drs())
def test_grouped_visibility_equals_pairwise(ps, dr):
    v = view(ps)
    assert v.proxies_for_dr(dr) == [p for p in ps if dr_applies(dr, p)]
    spire = sorted(p.resource for _, chunk in v.visible_chunks(dr, spire_only=True) for p in chunk)
    assert spire == sorted(p.resource for p in ps if p.spire and dr_applies(dr, p))


def test_findings_name_the_first_ten_proxies_and_count_all(tmp_path, scan_json):
    (tmp_path / "istiod.yaml").write_text("global:\n  hub: docker.io/istio\n  tag: 1.22.3\npilot:\n  autoscaleMin: 1\n")
    for i in range(14):
        (tmp_path / f"d{i:02d}.yaml").write_text(
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: w{i:02d}\n  namespace: n{i % 3}\nspec:\n  template:\n"
            "    metadata:\n      labels:\n        sidecar.istio.io/inject: \"true\"\n    spec:\n      containers:\n        - name: app\n"
            "          image: app:1\n      volumes:\n        - name: workload-socket\n          csi:\n            driver: csi.spiffe.io\n")
    (tmp_path / "dr.yaml").write_text("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: ext\n  namespace: n0\n"
                                      "spec:\n  host: api.example.com\n  trafficPolicy:\n    tls:\n      mode: SIMPLE\n")
    _, report, _ = scan_json(str(tmp_path))
    [f] = report["findings"]
    assert f["rule"] == "MM101" and f["proxy_count"] == 14
    assert f["proxies"] == sorted(f"Deployment/n{i % 3}/w{i:02d}" for i in range(14))[:10]
    assert "and 4 more" in f["message"]


def test_all_proxies_lists_every_affected_proxy_on_request(tmp_path, scan_json):
    test_findings_name_the_first_ten_proxies_and_count_all(tmp_path, scan_json)  # builds the 14-proxy repo
    _, report, _ = scan_json(str(tmp_path), "--all-proxies")
    [f] = report["findings"]
    assert f["proxy_count"] == 14 and len(f["proxies"]) == 14 and "more" not in f["message"]
