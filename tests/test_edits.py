"""Golden tests for the surgical edit engine: exact output text on realistic manifests.

Every successful edit is also run through the verification gate and re-applied to prove
idempotence, so a golden that passes here is a diff we would actually ship.
"""

from __future__ import annotations

from textwrap import dedent

import pytest
import yaml

from migrator.edits import (
    Append,
    DeleteKey,
    EditEmbedded,
    EditError,
    SetEnv,
    SetImageTag,
    SetScalar,
    Upsert,
    apply_edits,
    apply_to_tree,
    find_document,
    retag_image,
)
from migrator.verify import verify_rewrite


def run(text: str, *edits) -> str:
    """Apply, gate, and check idempotence; returns the new text."""
    result = apply_edits(text, edits)
    gate = verify_rewrite(text, result.text, edits)
    assert gate.ok, gate.problems
    assert result.changed == (result.text != text)
    again = apply_edits(result.text, edits)
    assert again.changed is False and again.text == result.text
    return result.text


def d(text: str) -> str:
    return dedent(text).lstrip("\n")


DR = d("""
    # The acquirer signs its API certificate with a private CA; we pin it.
    apiVersion: networking.istio.io/v1beta1
    kind: DestinationRule
    metadata:
      name: acquirer-tls
      namespace: payments
    spec:
      host: api.acquirer.example.com
      trafficPolicy:
        tls:
          mode: SIMPLE            # origination to the acquirer
          caCertificates: /etc/certs/ca.pem
          sni: api.acquirer.example.com
    """)
TLS = ("spec", "trafficPolicy", "tls")


# ------------------------------------------------------------------------------------ SetScalar


def test_set_scalar_keeps_aligned_eol_comment_column():
    out = run(DR, SetScalar(0, TLS + ("mode",), "ISTIO_MUTUAL"))
    assert out == DR.replace("mode: SIMPLE            # origination", "mode: ISTIO_MUTUAL      # origination")


def test_set_scalar_single_space_comment_is_not_realigned():
    text = "a: x # note\n"
    assert run(text, SetScalar(0, ("a",), "longer")) == "a: longer # note\n"


def test_set_scalar_keeps_double_quotes_and_quotes_yaml11_words():
    text = d("""
        data:
          FEATURE_X: "yes"
          mode: plain
          perms: '0600'
        """)
    out = run(text, SetScalar(0, ("data", "FEATURE_X"), "no"), SetScalar(0, ("data", "mode"), "on"),
              SetScalar(0, ("data", "perms"), "0755"))
    assert out == d("""
        data:
          FEATURE_X: "no"
          mode: "on"
          perms: '0755'
        """)


@pytest.mark.parametrize("value, spelled", [
    ("yes", '"yes"'), ("N", '"N"'), ("0755", '"0755"'), ("0o644", '"0o644"'), ("1e3", '"1e3"'),
    ("1.10", '"1.10"'), ("12:30", '"12:30"'), ("2024-01-01", '"2024-01-01"'), ("", '""'),
    ("a: b", '"a: b"'), ("#x", '"#x"'), ("*x", '"*x"'), ("&x", '"&x"'), ("!x", '"!x"'), (" pad ", '" pad "'),
    ("null", '"null"'), ("~", '"~"'), ("plain-ok", "plain-ok"), ("emoji 😀", "emoji 😀"),
    (True, "true"), (False, "false"), (None, "null"), (8080, "8080"), (1.5, "1.5"), (1e20, "1.0e+20"),
])
def test_new_plain_values_are_quoted_unless_both_yaml_versions_agree(value, spelled):
    assert run("k: old\n", SetScalar(0, ("k",), value)) == f"k: {spelled}\n"


def test_bool_spelling_follows_the_replaced_bool():
    assert run("enabled: True\n", SetScalar(0, ("enabled",), False)) == "enabled: False\n"
    assert run("enabled: TRUE\n", SetScalar(0, ("enabled",), False)) == "enabled: FALSE\n"
    assert run("enabled: yes\n", SetScalar(0, ("enabled",), False)) == "enabled: false\n"


def test_quoted_string_to_int_drops_quotes_and_plain_yes_is_not_equal_to_string_yes():
    assert run('port: "8080"\n', SetScalar(0, ("port",), 9090)) == "port: 9090\n"
    # `yes` is a bool for YAML 1.1 readers, so the string "yes" is a real change
    assert run("flag: yes\n", SetScalar(0, ("flag",), "yes")) == 'flag: "yes"\n'


def test_set_scalar_implicit_null_inserts_the_space():
    assert run("a:\nb: 1\n", SetScalar(0, ("a",), "v")) == "a: v\nb: 1\n"
    assert run("a: # keep me\nb: 1\n", SetScalar(0, ("a",), "v")) == "a: v # keep me\nb: 1\n"


def test_set_scalar_equal_value_is_a_noop():
    result = apply_edits(DR, [SetScalar(0, TLS + ("mode",), "SIMPLE")])
    assert result.changed is False and result.text == DR and result.spans == []
    # even where writing would be refused (block scalar, explicit tag), asking for what is there is fine
    assert apply_edits("a: |\n  x\n", [SetScalar(0, ("a",), "x\n")]).changed is False
    assert apply_edits("a: !!str 1\n", [SetScalar(0, ("a",), "1")]).changed is False


def test_set_scalar_missing_key_is_created_like_upsert():
    out = run(DR, SetScalar(0, ("spec", "trafficPolicy", "connectionPool", "http", "maxRequestsPerConnection"), 1))
    assert out == DR + "    connectionPool:\n      http:\n        maxRequestsPerConnection: 1\n"


def test_set_scalar_keeps_anchor_of_unaliased_scalar():
    assert run("a: &port 80\nb: 1\n", SetScalar(0, ("a",), 81)) == "a: &port 81\nb: 1\n"


def test_set_scalar_in_flow_mapping_quotes_flow_indicators():
    assert run("sel: {app: web, tier: x}\n", SetScalar(0, ("sel", "tier"), "a,b")) == 'sel: {app: web, tier: "a,b"}\n'


def test_single_quote_preference_when_the_file_uses_them():
    text = "a: 'x'\nb: 'y'\nc: \"z\"\nd: plain\n"
    assert run(text, SetScalar(0, ("d",), "on")) == "a: 'x'\nb: 'y'\nc: \"z\"\nd: 'on'\n"


def test_control_characters_are_escaped_and_emoji_kept_literal():
    assert run("a: x\n", SetScalar(0, ("a",), "l1\nl2\t😀")) == 'a: "l1\\nl2\\t😀"\n'


# ------------------------------------------------------------------------------------ Upsert


def test_upsert_destination_rule_tls_adds_key_after_last_child():
    out = run(DR, Upsert(0, TLS, "insecureSkipVerify", True))
    assert out == DR + "      insecureSkipVerify: true\n"


def test_upsert_existing_equal_value_is_noop_and_different_value_replaced():
    assert apply_edits(DR, [Upsert(0, TLS, "sni", "api.acquirer.example.com")]).changed is False
    out = run(DR, Upsert(0, TLS, "sni", "other.example.com"))
    assert out == DR.replace("sni: api.acquirer.example.com", "sni: other.example.com")


def test_upsert_recursive_merge_into_istiooperator_pilot_env():
    text = d("""
        apiVersion: install.istio.io/v1alpha1
        kind: IstioOperator
        spec:
          values:
            pilot:
              env:
                PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION: "true"
              autoscaleMin: 2
            global:
              hub: docker.io/istio
        """)
    out = run(text, Upsert(0, ("spec", "values"), "pilot", {"env": {"VERIFY_CERTIFICATE_AT_CLIENT": "false"}}))
    assert out == text.replace(
        '        PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION: "true"\n',
        '        PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION: "true"\n'
        '        VERIFY_CERTIFICATE_AT_CLIENT: "false"\n')


def test_upsert_creates_missing_intermediate_mappings_with_detected_indent():
    text = d("""
        spec:
            host: x
            trafficPolicy:
                loadBalancer:
                    simple: ROUND_ROBIN
        """)
    out = run(text, Upsert(0, ("spec", "trafficPolicy", "tls"), "mode", "SIMPLE"))
    assert out == text + "        tls:\n            mode: SIMPLE\n"


def test_upsert_nested_list_value_uses_file_sequence_style():
    flush = "spec:\n  ports:\n  - port: 80\n  host: x\n"
    assert run(flush, Upsert(0, ("spec",), "sans", ["a", "b"])) == flush + "  sans:\n  - a\n  - b\n"
    indented = "spec:\n  ports:\n    - port: 80\n  host: x\n"
    assert run(indented, Upsert(0, ("spec",), "sans", ["a", "b"])) == indented + "  sans:\n    - a\n    - b\n"


def test_upsert_into_empty_flow_mapping_becomes_block():
    text = "spec:\n  values: {}  # set by CI\n  other: 1\n"
    out = run(text, Upsert(0, ("spec", "values"), "pilot", {"env": {"X": "false"}}))
    assert out == 'spec:\n  values:  # set by CI\n    pilot:\n      env:\n        X: "false"\n  other: 1\n'


def test_upsert_into_nonempty_flow_mapping_stays_flow():
    assert run("labels: {app: web}\n", Upsert(0, ("labels",), "version", "1.10")) == 'labels: {app: web, version: "1.10"}\n'


def test_upsert_replaces_null_with_block_mapping():
    assert run("spec:\n  tls:\n  host: x\n", Upsert(0, ("spec", "tls"), "mode", "SIMPLE")) == \
        "spec:\n  tls:\n    mode: SIMPLE\n  host: x\n"
    assert run("spec:\n  tls: ~\n", Upsert(0, ("spec", "tls"), "mode", "SIMPLE")) == "spec:\n  tls:\n    mode: SIMPLE\n"


def test_upsert_replaces_block_value_of_other_type():
    text = "a:\n  - 1\n  - 2\nb: 3\n"
    assert run(text, Upsert(0, (), "a", {"x": 1})) == "a:\n  x: 1\nb: 3\n"
    assert run(text, Upsert(0, (), "a", "flat")) == "a: flat\nb: 3\n"
    commented = "a:  # why a exists\n  - 1\nb: 3"
    assert run(commented, Upsert(0, (), "a", "flat")) == "a: flat  # why a exists\nb: 3"
    assert run(commented, Upsert(0, (), "b", [1])) == "a:  # why a exists\n  - 1\nb:\n  - 1"


def test_upsert_key_needing_quotes():
    assert run("a: 1\n", Upsert(0, (), "on", "x")) == 'a: 1\n"on": x\n'
    # go-yaml v2 (Kubernetes) reads a plain `y:` key as the bool true
    assert run("a: 1\n", Upsert(0, (), "y", 2)) == 'a: 1\n"y": 2\n'


def test_upsert_in_helm_values_file_keeps_comments_around():
    text = d("""
        # Default values for istiod.
        pilot:
          # -- Resources for a small pilot install
          resources:
            requests:
              cpu: 500m   # per replica
          # env vars for istiod
          env: {}

        # -- Global settings
        global:
          hub: docker.io/istio
        """)
    out = run(text, Upsert(0, ("pilot", "env"), "VERIFY_CERTIFICATE_AT_CLIENT", "false"))
    assert out == text.replace("  env: {}\n", '  env:\n    VERIFY_CERTIFICATE_AT_CLIENT: "false"\n')


# ------------------------------------------------------------------------------------ DeleteKey


def test_delete_key_removes_line_with_its_eol_comment():
    text = "tls:\n  mode: SIMPLE\n  caCertificates: /etc/ca.pem # pinned\n  sni: x\n"
    assert run(text, DeleteKey(0, ("tls",), "caCertificates")) == "tls:\n  mode: SIMPLE\n  sni: x\n"


def test_delete_key_with_nested_value_and_absent_key_is_noop():
    text = "tls:\n  mode: SIMPLE\n  subjectAltNames:\n  - a\n  - b\nhost: x\n"
    assert run(text, DeleteKey(0, ("tls",), "subjectAltNames")) == "tls:\n  mode: SIMPLE\nhost: x\n"
    assert apply_edits(text, [DeleteKey(0, ("tls",), "credentialName")]).changed is False
    assert apply_edits(text, [DeleteKey(0, ("nope", "deeper"), "x")]).changed is False


def test_delete_only_key_leaves_empty_mapping():
    assert run("tls:\n  mode: SIMPLE\nhost: x\n", DeleteKey(0, ("tls",), "mode")) == "tls: {}\nhost: x\n"
    text = "tls:  # origination\n  # the only key\n  mode: SIMPLE  # gone\nhost: x"
    assert run(text, DeleteKey(0, ("tls",), "mode")) == "tls: {}  # origination\n  # the only key\nhost: x"
    assert run("tls:\n  mode: SIMPLE", DeleteKey(0, ("tls",), "mode")) == "tls: {}"
    assert run("- only: key  # c\n- x\n", DeleteKey(0, (0,), "only")) == "- {}\n- x\n"


def test_delete_first_key_of_sequence_item_pulls_next_key_up():
    text = "env:\n- name: A\n  value: b\n"
    assert run(text, DeleteKey(0, ("env", 0), "name")) == "env:\n- value: b\n"


def test_delete_last_key_without_final_newline():
    assert run("a: 1\nb: 2", DeleteKey(0, (), "b")) == "a: 1"


def test_nested_flow_mappings_are_not_mistaken_for_helm():
    assert run("x: {a: {b: 1}}\ny: 2\n", DeleteKey(0, (), "x")) == "y: 2\n"
    assert run("x: {a: {b: 1}}\n", Upsert(0, ("x", "a"), "c", 2)) == "x: {a: {b: 1, c: 2}}\n"


def test_delete_in_flow_mapping():
    assert run("s: {a: 1, b: 2, c: 3}\n", DeleteKey(0, ("s",), "b")) == "s: {a: 1, c: 3}\n"
    assert run("s: {a: 1, b: 2}\n", DeleteKey(0, ("s",), "b")) == "s: {a: 1}\n"


def test_skip_verify_remedy_edit_set():
    edits = [Upsert(0, TLS, "insecureSkipVerify", True), DeleteKey(0, TLS, "caCertificates"),
             DeleteKey(0, TLS, "subjectAltNames")]
    out = run(DR, *edits)
    assert out == DR.replace("      caCertificates: /etc/certs/ca.pem\n", "") + "      insecureSkipVerify: true\n"


# ------------------------------------------------------------------------------------ Append / SetEnv

DEPLOY = d("""
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: checkout
    spec:
      template:
        spec:
          containers:
          - name: checkout
            image: docker.io/acme/checkout:2.4.1
            env:
            - name: LOG_LEVEL
              value: info   # tuned
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef: {name: db, key: password}
          - name: istio-proxy
            image: docker.io/istio/proxyv2:1.22.3-distroless
    """)
C0 = ("spec", "template", "spec", "containers", 0)
C1 = ("spec", "template", "spec", "containers", 1)


def test_set_env_replaces_existing_value_keeping_comment():
    assert run(DEPLOY, SetEnv(0, C0, "LOG_LEVEL", "debug")) == DEPLOY.replace("value: info   # tuned", "value: debug  # tuned")


def test_set_env_appends_new_var_with_quoted_yaml11_value():
    out = run(DEPLOY, SetEnv(0, C0, "FEATURE", "on"))
    assert out == DEPLOY.replace("            secretKeyRef: {name: db, key: password}\n",
                                 "            secretKeyRef: {name: db, key: password}\n"
                                 "        - name: FEATURE\n          value: \"on\"\n")


def test_set_env_creates_env_list_when_absent():
    out = run(DEPLOY, SetEnv(0, C1, "ISTIO_META_DNS_CAPTURE", "true"))
    assert out == DEPLOY + '        env:\n        - name: ISTIO_META_DNS_CAPTURE\n          value: "true"\n'


def test_set_env_indented_sequence_style():
    text = "containers:\n  - name: app\n    env:\n      - name: A\n        value: \"1\"\n"
    out = run(text, SetEnv(0, ("containers", 0), "B", "2"))
    assert out == text + '      - name: B\n        value: "2"\n'


def test_set_env_refuses_value_from():
    with pytest.raises(EditError, match="valueFrom"):
        apply_edits(DEPLOY, [SetEnv(0, C0, "DB_PASSWORD", "hunter2")])


def test_append_unique_and_flow_and_creation():
    text = "spec:\n  hosts:\n  - a.example.com\n  ports: [80]\n"
    assert apply_edits(text, [Append(0, ("spec", "hosts"), "a.example.com")]).changed is False
    assert run(text, Append(0, ("spec", "hosts"), "b.example.com")) == \
        "spec:\n  hosts:\n  - a.example.com\n  - b.example.com\n  ports: [80]\n"
    assert run(text, Append(0, ("spec", "ports"), 443)) == "spec:\n  hosts:\n  - a.example.com\n  ports: [80, 443]\n"
    assert run(text, Append(0, ("spec", "sans"), "yes")) == text + '  sans:\n  - "yes"\n'


def test_append_non_unique_adds_duplicate():
    text = "xs:\n- a\n"
    assert apply_edits(text, [Append(0, ("xs",), "a", unique=False)]).text == "xs:\n- a\n- a\n"


def test_append_mapping_item_matches_existing_item_offset():
    text = "items:\n-   name: a\n    port: 1\n"
    assert run(text, Append(0, ("items",), {"name": "b", "port": 2})) == text + "-   name: b\n    port: 2\n"


def test_append_to_empty_flow_sequence_becomes_block():
    assert run("spec:\n  exportTo: []\n", Append(0, ("spec", "exportTo"), ".")) == "spec:\n  exportTo:\n    - .\n"


# ------------------------------------------------------------------------------------ SetImageTag


@pytest.mark.parametrize("ref, version, new", [
    ("docker.io/istio/proxyv2:1.22.3-distroless", "1.24.1", "docker.io/istio/proxyv2:1.24.1-distroless"),
    ("gcr.io/istio-release/pilot:1.22.3-debug", "1.23.0", "gcr.io/istio-release/pilot:1.23.0-debug"),
    ("istio/proxyv2:1.22.3", "1.26.0", "istio/proxyv2:1.26.0"),
    ("registry:5000/istio/proxyv2:1.22.3-fips", "1.22.4", "registry:5000/istio/proxyv2:1.22.4-fips"),
    ("ghcr.io/spiffe/spire-agent:v1.9.6", "1.10.0", "ghcr.io/spiffe/spire-agent:v1.10.0"),
    ("istio/proxyv2:1.23.0-beta.1-distroless", "1.23.0", "istio/proxyv2:1.23.0-distroless"),
    ("registry:5000/istio/proxyv2", "1.22.4", "registry:5000/istio/proxyv2:1.22.4"),
    ("istio/proxyv2:1.22.3", "v1.24.0", "istio/proxyv2:1.24.0"),
])
def test_retag_image_keeps_suffixes(ref, version, new):
    assert retag_image(ref, version) == new


def test_set_image_tag_in_deployment_keeps_quotes():
    out = run(DEPLOY, SetImageTag(0, C1 + ("image",), "1.24.1"))
    assert out == DEPLOY.replace("proxyv2:1.22.3-distroless", "proxyv2:1.24.1-distroless")
    quoted = 'image: "docker.io/istio/proxyv2:1.22.3"\n'
    assert run(quoted, SetImageTag(0, ("image",), "1.24.1")) == 'image: "docker.io/istio/proxyv2:1.24.1"\n'


@pytest.mark.parametrize("ref", ["docker.io/istio/proxyv2@sha256:" + "a" * 64,
                                 "docker.io/istio/proxyv2:1.22.3@sha256:" + "b" * 64])
def test_set_image_tag_refuses_digest(ref):
    with pytest.raises(EditError, match="digest") as exc:
        apply_edits(f"image: {ref}\n", [SetImageTag(0, ("image",), "1.24.1")])
    assert exc.value.line == 1


def test_set_image_tag_refuses_tag_without_version():
    with pytest.raises(EditError, match="no version"):
        apply_edits("image: istio/proxyv2:latest\n", [SetImageTag(0, ("image",), "1.24.1")])


# ------------------------------------------------------------------------------------ EditEmbedded

ARGO = d("""
    apiVersion: argoproj.io/v1alpha1
    kind: Application
    metadata:
      name: istiod
      namespace: argocd
    spec:
      source:
        chart: istiod
        targetRevision: 1.22.3
        helm:
          values: |
            # istiod values, reviewed by platform team
            pilot:
              autoscaleMin: 2
              env:
                PILOT_TRACE_SAMPLING: "1.0"

            meshConfig:
              trustDomain: pay.example.org
      destination:
        namespace: istio-system
    """)
VALUES = ("spec", "source", "helm", "values")


def test_edit_embedded_argo_helm_values():
    inner = (Upsert(0, ("pilot", "env"), "VERIFY_CERTIFICATE_AT_CLIENT", "false"),)
    out = run(ARGO, EditEmbedded(0, VALUES, inner))
    assert out == ARGO.replace('            PILOT_TRACE_SAMPLING: "1.0"\n',
                               '            PILOT_TRACE_SAMPLING: "1.0"\n'
                               '            VERIFY_CERTIFICATE_AT_CLIENT: "false"\n')


def test_edit_embedded_appends_at_end_of_block_keeps_following_keys():
    out = run(ARGO, EditEmbedded(0, VALUES, (Upsert(0, (), "global", {"hub": "gcr.io/istio-release"}),)))
    assert out == ARGO.replace("          trustDomain: pay.example.org\n",
                               "          trustDomain: pay.example.org\n        global:\n          hub: gcr.io/istio-release\n")


def test_edit_embedded_strip_chomping_crlf():
    text = "spec:\r\n  values: |-\r\n    a: 1\r\n\r\n    b: 2\r\n"
    out = run(text, EditEmbedded(0, ("spec", "values"), (SetScalar(0, ("a",), 5), Upsert(0, (), "c", {"d": 1}))))
    assert out == "spec:\r\n  values: |-\r\n    a: 5\r\n\r\n    b: 2\r\n    c:\r\n      d: 1\r\n"


def test_edit_embedded_refuses_non_literal_and_reports_outer_line():
    with pytest.raises(EditError, match="literal block scalar"):
        apply_edits("v: >\n  a: 1\n", [EditEmbedded(0, ("v",), (Upsert(0, (), "b", 1),))])
    with pytest.raises(EditError, match="embedded") as exc:
        apply_edits("x: 1\nv: |\n  a: 1\n  a: 2\n", [EditEmbedded(0, ("v",), (Upsert(0, (), "b", 1),))])
    assert exc.value.line == 4


def test_apply_to_tree_edit_embedded_matches_text_engine():
    tree = list(yaml.load_all(ARGO, Loader=yaml.CSafeLoader))
    edit = EditEmbedded(0, VALUES, (Upsert(0, ("pilot", "env"), "X", "1"),))
    new_tree = apply_to_tree(tree, edit)
    got = list(yaml.load_all(apply_edits(ARGO, [edit]).text, Loader=yaml.CSafeLoader))
    assert new_tree == got and tree != new_tree


# ------------------------------------------------------------------------------------ file shapes


def test_crlf_and_bom_are_kept():
    text = "\ufeff# payments\r\napiVersion: v1\r\nkind: ConfigMap\r\ndata:\r\n  a: \"1\"\r\n"
    out = run(text, Upsert(0, ("data",), "b", "2"), SetScalar(0, ("data", "a"), "x"))
    assert out == "\ufeff# payments\r\napiVersion: v1\r\nkind: ConfigMap\r\ndata:\r\n  a: \"x\"\r\n  b: \"2\"\r\n"


def test_bom_on_first_line_with_key_in_column_zero():
    assert run("\ufeffa: 1\nb: 2\n", Upsert(0, (), "c", 3)) == "\ufeffa: 1\nb: 2\nc: 3\n"


def test_no_final_newline_is_kept():
    assert run("a:\n  b: 1", Upsert(0, ("a",), "c", 2)) == "a:\n  b: 1\n  c: 2"
    assert run("a:\n- 1", Append(0, ("a",), 2)) == "a:\n- 1\n- 2"


def test_document_markers_and_directives_kept():
    text = "%YAML 1.1\n---\na: 1\n...\n---\nb: 2\n...\n"
    out = run(text, Upsert(0, (), "x", 1), Upsert(1, (), "z", 2))
    assert out == "%YAML 1.1\n---\na: 1\nx: 1\n...\n---\nb: 2\nz: 2\n...\n"


def test_insert_goes_before_trailing_lower_indented_comments():
    """`# about b` stays with b (issue 12: comments attach to the key they describe); `# about c` is c's."""
    text = "a:\n  b: 1\n  # about b\n# about c\nc: 2\n"
    assert run(text, Upsert(0, ("a",), "z", 0)) == "a:\n  b: 1\n  # about b\n  z: 0\n# about c\nc: 2\n"


def test_kind_list_items():
    text = d("""
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: Service
          metadata:
            name: a
        - apiVersion: v1
          kind: Service
          metadata:
            name: b
        """)
    out = run(text, Upsert(0, ("items", 1, "metadata"), "namespace", "payments"))
    assert out == text + "    namespace: payments\n"


def test_multi_document_find_document_and_edit_only_that_one():
    text = DR + "---\n" + DEPLOY
    index = find_document(text, "Deployment", "checkout")
    assert index == 1
    out = run(text, SetImageTag(index, C0 + ("image",), "2.5.0"))
    assert out == DR + "---\n" + DEPLOY.replace("checkout:2.4.1", "checkout:2.5.0")


def test_find_document_absent_ambiguous_and_namespace():
    text = "kind: Service\nmetadata: {name: a, namespace: x}\n---\nkind: Service\nmetadata: {name: a, namespace: y}\n"
    assert find_document(text, "Service", "a", "y") == 1
    with pytest.raises(EditError, match="ambiguous"):
        find_document(text, "Service", "a")
    with pytest.raises(EditError, match="no document"):
        find_document(text, "Service", "b")


def test_spans_cover_exactly_the_changed_characters():
    text = "a: 1\nb: 2\n"
    result = apply_edits(text, [SetScalar(0, ("a",), 10), Upsert(0, (), "c", 3)])
    assert result.spans == [(3, 4), (10, 10)]
    assert result.text == "a: 10\nb: 2\nc: 3\n"


# ------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize("text, edit, message", [
    ("a: 1\nb: 2\na: 3\n", Upsert(0, (), "c", 1), "duplicate key 'a'"),
    ("base: &b\n  x: 1\nother: *b\n", Upsert(0, ("base",), "y", 2), "aliased elsewhere"),
    ("base: &b\n  x: 1\nother: *b\n", Upsert(0, ("other",), "y", 2), "alias"),
    ("base: &b\n  x: 1\nother: *b\n", DeleteKey(0, (), "base"), "aliased elsewhere"),
    ("base: &b {x: 1}\nm:\n  <<: *b\n", Upsert(0, ("m",), "x", 2), "comes from the `<<` merge on line 3"),
    ("metadata:\n  name: {{ .Release.Name }}\n", Upsert(0, ("metadata",), "x", 1), "Helm template"),
    ("{{- if .Values.enabled }}\nkind: Service\n{{- end }}\n", Upsert(0, (), "x", 1), "Helm template"),
    ('msg: "{{ .Values.x }}"\n', SetScalar(0, ("msg",), "y"), "Helm template action"),
    ("a: |\n  text\n", SetScalar(0, ("a",), "x"), "block scalar"),
    ("a: 1\n", Upsert(3, (), "x", 1), "out of range"),
    ("a: x\n", Upsert(0, ("a", "b"), "c", 1), "traverses a scalar"),
    ("a: [1]\n", SetScalar(0, ("a", 5), 1), "out of range"),
    ("a: [1]\n", Upsert(0, ("a",), "k", 1), "not a mapping"),
    ("a: !!str 1\n", SetScalar(0, ("a",), "2"), "tagged"),
    ("a: {b: 1}\n", SetScalar(0, ("a",), "2"), "not a scalar"),
    ("a: [1\n", Upsert(0, (), "x", 1), "not valid YAML"),
    ("a: !Ref x\nb: 1\n", Upsert(0, (), "a", "y"), "cannot read this value"),
])
def test_refusals(text, edit, message):
    with pytest.raises(EditError, match=message):
        apply_edits(text, [edit])


def test_alias_bomb_is_refused_quickly():
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    text = "kind: ConfigMap\ndata:\n" + "".join(f"  {line}\n" for line in levels)
    with pytest.raises(EditError, match="alias bomb"):
        apply_edits(text, [Upsert(0, ("data",), "x", 1)])
    # the gate compares shared subtrees once, so an untouched bomb next to an edit is cheap
    other = "a: 1\n---\n" + text
    assert verify_rewrite(other, "a: 2\n---\n" + text, [SetScalar(0, ("a",), 2)]).ok


def test_recursive_alias_is_refused():
    with pytest.raises(EditError, match="recursive alias"):
        apply_edits("a: &x [1, *x]\nb: 2\n", [Upsert(0, (), "c", 1)])


def test_refusal_has_line_number_and_leaves_nothing_half_done():
    text = "ok: 1\nbad: 2\nbad: 3\n"
    with pytest.raises(EditError) as exc:
        apply_edits(text, [Upsert(0, (), "x", 1)])
    assert exc.value.line == 3 and "\n" not in str(exc.value)


def test_edits_in_other_documents_allowed_next_to_a_broken_one():
    text = "a: 1\na: 2\n---\nb: 1\n"
    assert apply_edits(text, [Upsert(1, (), "c", 2)]).text == "a: 1\na: 2\n---\nb: 1\nc: 2\n"


def test_editing_anchored_but_unaliased_block_is_allowed():
    text = "a: &keep\n  x: 1\nb: 2\n"
    assert run(text, Upsert(0, ("a",), "z", 2)) == "a: &keep\n  x: 1\n  z: 2\nb: 2\n"


def test_keep_chomped_block_scalar_is_not_followed_by_an_insertion():
    with pytest.raises(EditError, match="keep-chomped"):
        apply_edits("a:\n  s: |+\n    x\n\nb: 1\n", [Upsert(0, ("a",), "t", 1)])


@pytest.mark.parametrize("text, edit, what", [
    ("a: |\n  x", Upsert(0, (), "k", "v"), "gain"),  # the line after `x` would become part of the value
    ("s:\n  a: >\n    x", Upsert(0, ("s",), "k", "v"), "gain"),
    ("a: |\n  x\nb: 1", DeleteKey(0, (), "b"), "lose"),  # `x` would end the file: the value loses its line break
    ("s:\n  a: |2\n    x\n  b: 1", DeleteKey(0, ("s",), "b"), "lose"),
])
def test_a_block_scalar_that_ends_a_file_without_a_final_newline_keeps_its_value(text, edit, what):
    """Found by test_invariant_3 (hypothesis): the edit changed a value nobody asked to change."""
    with pytest.raises(EditError, match=f"would {what} a line break"):
        apply_edits(text, [edit])


@pytest.mark.parametrize("text, edit, expected", [
    ("a: |-\n  x", Upsert(0, (), "k", "v"), "a: |-\n  x\nk: v"),  # strip chomping: no line break to gain
    ("a: |\n  x\nb: 1\n", DeleteKey(0, (), "b"), "a: |\n  x\n"),  # a final newline: nothing changes
    ("a: |\n  x\n# c\nb: 1", DeleteKey(0, (), "b"), "a: |\n  x\n# c"),  # a comment stays after the value
])
def test_edits_near_a_block_scalar_that_keep_its_value_go_through(text, edit, expected):
    out = apply_edits(text, [edit]).text
    assert out == expected
    assert {k: v for k, v in yaml.safe_load(text).items() if k in yaml.safe_load(out)} == \
        {k: v for k, v in yaml.safe_load(out).items() if k != "k"}


# ------------------------------------------------------------------------------------ apply_to_tree


def test_apply_to_tree_mirrors_creation_merge_and_refusals():
    tree = [{"spec": {"tls": {"mode": "SIMPLE"}, "env": None}}]
    out = apply_to_tree(tree, Upsert(0, ("spec", "a", "b"), "c", {"d": 1}))
    assert out == [{"spec": {"tls": {"mode": "SIMPLE"}, "env": None, "a": {"b": {"c": {"d": 1}}}}}]
    assert tree == [{"spec": {"tls": {"mode": "SIMPLE"}, "env": None}}]  # input untouched
    out = apply_to_tree(tree, Upsert(0, ("spec",), "tls", {"sni": "x"}))
    assert out[0]["spec"]["tls"] == {"mode": "SIMPLE", "sni": "x"}
    assert apply_to_tree(tree, Append(0, ("spec", "env"), 1))[0]["spec"]["env"] == [1]
    assert apply_to_tree(tree, DeleteKey(0, ("spec", "nope"), "x")) == tree
    with pytest.raises(EditError):
        apply_to_tree(tree, Upsert(0, ("spec", "tls", "mode"), "x", 1))
    with pytest.raises(EditError):
        apply_to_tree(tree, SetImageTag(0, ("img",), "1"))
