"""Property test of the kind gates (migrator/kindgate.py): for any bundle of realistic documents, in
any order, with the separators, comments, blank documents and line endings found in git, the scan's
gated read gives the inventory and problems a full read gives (header-only kinds compared by their
header), with the same document indexes and lines.  tests/test_parse_paths.py does the same on every
fixture and the Istio release tree; this covers the combinations nobody wrote down."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import headers_only
from migrator import scan as scan_mod

MAX = 8 * 1024 * 1024

DOCS = {
    "crd": "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: things.example.com\n"
           "spec:\n  group: example.com\n  versions:\n  - name: v1\n    schema:\n      openAPIV3Schema:\n"
           "        description: 'a *thing* && more'\n",
    "service": "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  namespace: payments\n  labels:\n"
               "    istio.io/rev: default\nspec:\n  ports:\n  - port: 443\n",
    "configmap": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dash\ndata:\n  panel.json: '{\"a\": 1}'\n",
    "agent-conf": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: spire-agent\n  namespace: spire\ndata:\n"
                  "  agent.conf: |\n    agent {\n      trust_domain = \"example.org\"\n    }\n",
    "vs": "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata:\n  name: api\n  namespace: payments\n"
          "spec:\n  hosts: [api.example.com]\n  http:\n  - route:\n    - destination: {host: api}\n",
    "authz": "# deny by default\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nspec: {}\n"
             "metadata:\n  name: deny\n  namespace: payments\n",
    "dr": "apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: stripe\n  namespace: payments\n"
          "spec:\n  host: api.stripe.com\n  trafficPolicy:\n    tls:\n      mode: SIMPLE\n",
    "deployment": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: payments\nspec:\n  template:\n"
                  "    metadata:\n      annotations:\n        inject.istio.io/templates: sidecar,spire\n    spec:\n"
                  "      containers:\n      - name: api\n        image: istio/proxyv2:1.22.0\n",
    "values": "pilot:\n  env:\n    VERIFY_CERTIFICATE_AT_CLIENT: \"true\"\n",
    "quoted-key": "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: q, namespace: payments}\n\"spec\": {}\n",
    "comment-only": "# nothing here\n",
    "empty": "",
}
SEPARATORS = ["---\n", "--- # next\n", "---\n# a comment between\n", "\n---\n"]


@st.composite
def bundles(draw) -> bytes:
    names = draw(st.lists(st.sampled_from(sorted(DOCS)), min_size=1, max_size=6))
    seps = [draw(st.sampled_from(SEPARATORS)) for _ in names]
    text = ("---\n" if draw(st.booleans()) else "") + "".join(DOCS[n] + (s if i < len(names) - 1 else "")
                                                               for i, (n, s) in enumerate(zip(names, seps)))
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return text.encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundles())
def test_a_gated_read_gives_what_a_full_read_gives(raw):
    scan_mod.KIND_GATE = True
    try:
        fast = scan_mod.process_text("apps/bundle.yaml", raw, MAX)
        scan_mod.KIND_GATE = False
        full = scan_mod.process_text("apps/bundle.yaml", raw, MAX)
    finally:
        scan_mod.KIND_GATE = True
    assert fast.problems == full.problems
    assert fast.inventory in (full.inventory, headers_only(full.inventory))
    assert [(p.doc, p.line) for p in fast.inventory.pins] == [(p.doc, p.line) for p in full.inventory.pins]
    assert [(r.doc_index, r.line(("apiVersion",))) for r in fast.inventory.resources] == \
        [(r.doc_index, r.line(("apiVersion",))) for r in full.inventory.resources]


def test_the_bundles_above_do_take_the_gated_paths():
    """The property is not vacuous: such bundles are skipped whole or read reduced, CRLF ones too."""
    for newline in ("\n", "\r\n"):
        bundle = (DOCS["crd"] + "---\n" + DOCS["vs"] + "---\n" + DOCS["dr"]).replace("\n", newline).encode()
        assert scan_mod._gate(bundle, "b.yaml") == scan_mod.REDUCE
        assert scan_mod._reduced_read("b.yaml", bundle, bundle.decode()) is not None
        only_ignored = (DOCS["crd"] + "---\n" + DOCS["service"]).replace("\n", newline).encode()
        assert scan_mod._gate(only_ignored, "b.yaml") == scan_mod.SKIP
