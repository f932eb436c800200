"""The verification gate passes honest rewrites and catches each way a rewrite can go wrong."""

from __future__ import annotations

import pytest

from migrator.edits import DeleteKey, EditEmbedded, SetScalar, Upsert, apply_edits
from migrator.verify import GateResult, verify_rewrite

OLD = """\
# payments DestinationRule
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: stripe-tls   # owned by payments
  namespace: payments
spec:
  host: api.stripe.com
  trafficPolicy:
    tls:
      mode: SIMPLE
      sni: api.stripe.com
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: flags
data:
  FEATURE_X: "yes"
  PERMS: "0755"
"""
TLS = ("spec", "trafficPolicy", "tls")
EDITS = [Upsert(0, TLS, "caCertificates", "/etc/ssl/ca.pem")]


def rewrite(edits=EDITS, text=OLD) -> str:
    return apply_edits(text, edits).text


def test_gate_passes_engine_rewrite():
    result = verify_rewrite(OLD, rewrite(), EDITS)
    assert result == GateResult(True, [])


def test_gate_passes_noop_and_delete_and_embedded():
    assert verify_rewrite(OLD, OLD, []).ok
    edits = [DeleteKey(0, TLS, "sni"), SetScalar(1, ("data", "FEATURE_X"), "no")]
    assert verify_rewrite(OLD, rewrite(edits), edits).ok
    argo = "spec:\n  helm:\n    values: |\n      pilot:\n        env: {}\n"
    edits = [EditEmbedded(0, ("spec", "helm", "values"), (Upsert(0, ("pilot", "env"), "A", "1"),))]
    assert verify_rewrite(argo, rewrite(edits, argo), edits).ok


def test_gate_rejects_a_change_not_in_the_edits():
    new = rewrite().replace("host: api.stripe.com", "host: api.evil.com")
    result = verify_rewrite(OLD, new, EDITS)
    assert not result.ok
    assert any("document 0 (YAML 1.1)" in p and "host" in p for p in result.problems)


def test_gate_rejects_a_change_in_another_document():
    new = rewrite().replace("name: flags", "name: flags2")
    result = verify_rewrite(OLD, new, EDITS)
    assert any("document 1" in p for p in result.problems)
    assert any("changed" in p for p in result.problems)


def test_gate_rejects_a_lost_comment_outside_the_edited_region():
    new = rewrite().replace("   # owned by payments", "")
    result = verify_rewrite(OLD, new, EDITS)
    assert not result.ok
    assert any("changed" in p and "region" in p for p in result.problems), result.problems


def test_gate_rejects_requoting_outside_the_edit():
    new = rewrite().replace('PERMS: "0755"', "PERMS: '0755'")
    result = verify_rewrite(OLD, new, EDITS)
    assert not result.ok  # same meaning, but a reviewer would see a line they did not ask for


def test_gate_catches_yes_becoming_a_bool():
    edits = [SetScalar(1, ("data", "FEATURE_X"), "yes")]
    new = OLD.replace('FEATURE_X: "yes"', "FEATURE_X: yes")
    result = verify_rewrite(OLD, new, edits)
    assert not result.ok
    assert any("YAML 1.1" in p and "FEATURE_X" in p and "True" in p for p in result.problems), result.problems


def test_gate_catches_yaml_1_2_only_change():
    old = 'mode: "0o17"\n'
    new = "mode: 0o17\n"  # still the string "0o17" for YAML 1.1, the int 15 for YAML 1.2
    result = verify_rewrite(old, new, [SetScalar(0, ("mode",), "0o17")])
    assert not result.ok
    assert all("YAML 1.1" not in p for p in result.problems)
    assert any("YAML 1.2" in p for p in result.problems)


def test_gate_catches_octal_reinterpretation():
    new = OLD.replace('PERMS: "0755"', "PERMS: 0755")
    result = verify_rewrite(OLD, new, [SetScalar(1, ("data", "PERMS"), "0755")])
    assert any("YAML 1.1" in p and "493" in p for p in result.problems), result.problems


def test_gate_rejects_changed_newline_style():
    old = OLD.replace("\n", "\r\n")
    edits = EDITS
    good = apply_edits(old, edits).text
    assert verify_rewrite(old, good, edits).ok
    result = verify_rewrite(old, good.replace("\r\n", "\n"), edits)
    assert any("newline style" in p for p in result.problems)
    mixed = good.replace("kind: ConfigMap\r\n", "kind: ConfigMap\n")
    assert any("newline style" in p for p in verify_rewrite(old, mixed, edits).problems)


def test_gate_rejects_dropped_bom_and_final_newline():
    old = "\ufeff" + OLD
    good = apply_edits(old, EDITS).text
    assert verify_rewrite(old, good, EDITS).ok
    assert "byte order mark dropped" in verify_rewrite(old, good[1:], EDITS).problems
    assert "final newline dropped" in verify_rewrite(old, good.rstrip("\n"), EDITS).problems


def test_gate_rejects_changed_document_count_and_unreadable_output():
    new = rewrite() + "---\nextra: 1\n"
    assert any("document count" in p for p in verify_rewrite(OLD, new, EDITS).problems)
    broken = rewrite() + "bad: [\n"
    result = verify_rewrite(OLD, broken, EDITS)
    assert any("cannot be read as YAML 1.1" in p for p in result.problems)


def test_gate_reports_edits_that_do_not_apply_to_the_old_tree():
    result = verify_rewrite(OLD, OLD, [Upsert(5, (), "x", 1)])
    assert not result.ok and any("out of range" in p for p in result.problems)


def test_schema_validator_sees_only_changed_documents_and_its_messages_become_problems():
    seen = []

    def validator(obj: dict) -> list[str]:
        seen.append(obj["kind"])
        return ["spec.trafficPolicy.tls.caCertificates: not allowed with mode SIMPLE"]

    result = verify_rewrite(OLD, rewrite(), EDITS, schema_validator=validator)
    assert seen == ["DestinationRule"]
    assert result.problems == ["document 0: spec.trafficPolicy.tls.caCertificates: not allowed with mode SIMPLE"]
    assert not result.ok


def test_schema_validator_that_passes_or_crashes():
    assert verify_rewrite(OLD, rewrite(), EDITS, schema_validator=lambda obj: []).ok

    def crash(obj):
        raise KeyError("spec")

    result = verify_rewrite(OLD, rewrite(), EDITS, schema_validator=crash)
    assert not result.ok and "crashed" in result.problems[0]


@pytest.mark.parametrize("old", ["a:\tb\nc: 1\n"])
def test_gate_still_checks_yaml_1_1_when_ruamel_cannot_read_the_original(old):
    edits = [SetScalar(0, ("c",), 2)]
    assert verify_rewrite(old, apply_edits(old, edits).text, edits).ok
    assert not verify_rewrite(old, "a:\tb\nc: 3\n", edits).ok


def test_problems_are_one_line_each():
    new = "\r\n".join(rewrite().replace("SIMPLE", "MUTUAL").splitlines())
    result = verify_rewrite(OLD, new, EDITS)
    assert result.problems and all("\n" not in p for p in result.problems)
