"""Reading and editing gaps found on real files (issue 12): custom tags, merge keys, BOM, comments.

Every edit here also goes through the verification gate (migrator.verify), which must accept it;
refusals name the line.  The end-to-end test runs `fix --write` on the seed repo with a custom tag
next to the DestinationRule it fixes.
"""

from __future__ import annotations

import shutil

import pytest

from conftest import FIXTURES
from migrator.edits import DeleteKey, EditError, SetScalar, Upsert, apply_edits
from migrator.verify import verify_rewrite

SEED = FIXTURES / "spire-istio-1.22"


def edit(text: str, *edits) -> str:
    """apply_edits, then the gate; returns the new text (the gate must accept it)."""
    out = apply_edits(text, list(edits)).text
    gate = verify_rewrite(text, out, list(edits))
    assert gate.ok, gate.problems
    return out


DR = ("apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: stripe-tls\n  namespace: payments\n"
      "spec:\n  host: api.stripe.com\n  trafficPolicy:\n    tls:\n      mode: SIMPLE\n")


# ----------------------------------------------------------------------------- custom tags are data


@pytest.mark.parametrize("tagged", ["token: !vault secret/data/x#token", "script: !reference [.setup, script]",
                                    "role: !Ref PaymentsRole", "arn: !GetAtt {resource: Role, attribute: Arn}"])
def test_custom_tag_in_another_document_allows_the_edit(tagged):
    other = f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vaulted\ndata:\n  {tagged}\n"
    out = edit(DR + other, Upsert(0, ("spec",), "exportTo", ["."]))
    assert out.endswith(other), "the tagged document is byte-identical"
    assert "  exportTo:\n    - .\n" in out


def test_custom_tag_in_the_same_document_allows_an_edit_elsewhere():
    text = DR.replace("  namespace: payments\n", "  namespace: payments\n  annotations:\n    vault.hashicorp.com/secret: !vault secret/x\n")
    out = edit(text, SetScalar(0, ("spec", "trafficPolicy", "tls", "insecureSkipVerify"), True))
    assert "    vault.hashicorp.com/secret: !vault secret/x\n" in out
    assert out.endswith("      mode: SIMPLE\n      insecureSkipVerify: true\n")


def test_gate_still_catches_a_changed_tagged_value():
    text = "a: !vault secret/x\nb: 1\n"
    bad = "a: !vault secret/y\nb: 2\n"
    gate = verify_rewrite(text, bad, [SetScalar(0, ("b",), 2)])
    assert not gate.ok and any("secret/y" in p or "changed" in p for p in gate.problems), gate.problems


def test_fix_writes_next_to_a_custom_tag(tmp_path, run_cli, scan_json):
    repo = tmp_path / "repo"
    shutil.copytree(SEED, repo)
    dr = repo / "apps/payments/destinationrule-stripe.yaml"
    tail = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stripe-token\n  namespace: payments\ndata:\n  token: !vault secret/data/stripe#token\n"
    dr.write_text(dr.read_text() + tail)
    code, out, err = run_cli("fix", str(repo), "--strategy", "skip-verify", "--write")
    assert code == 0, err
    assert dr.read_text().endswith(tail)
    assert "insecureSkipVerify: true" in dr.read_text()
    _code, report, _err = scan_json(str(repo))
    assert not [f for f in report["findings"] if f["rule"] == "MM101" and f["path"].endswith("destinationrule-stripe.yaml")]


# ----------------------------------------------------------------------------- merge keys

MERGED = ("defaults: &tls\n  mode: SIMPLE\n  sni: api.stripe.com\n"
          "spec:\n  trafficPolicy:\n    tls:\n      <<: *tls\n      caCertificates: /etc/ca.pem\n")


def test_merge_document_is_edited_where_the_key_is_written_out():
    out = edit(MERGED, SetScalar(0, ("spec", "trafficPolicy", "tls", "caCertificates"), "/etc/other.pem"))
    assert out == MERGED.replace("/etc/ca.pem", "/etc/other.pem")


def test_merge_document_accepts_a_new_key_the_merge_does_not_supply():
    out = edit(MERGED, Upsert(0, ("spec", "trafficPolicy", "tls"), "insecureSkipVerify", True))
    assert out == MERGED + "      insecureSkipVerify: true\n"


def test_merge_document_accepts_deleting_a_key_the_merge_does_not_supply():
    assert edit(MERGED, DeleteKey(0, ("spec", "trafficPolicy", "tls"), "caCertificates")) == MERGED.replace(
        "      caCertificates: /etc/ca.pem\n", "")


@pytest.mark.parametrize("change", [
    SetScalar(0, ("spec", "trafficPolicy", "tls", "mode"), "MUTUAL"),  # mode comes from the merge
    DeleteKey(0, ("spec", "trafficPolicy", "tls"), "sni"),  # cannot be removed here
])
def test_merge_supplied_key_is_refused_with_the_merge_line(change):
    with pytest.raises(EditError, match=r"comes from the `<<` merge on line 7") as info:
        apply_edits(MERGED, [change])
    assert info.value.line == 7


def test_deleting_an_override_of_a_merged_key_is_refused():
    text = MERGED.replace("      caCertificates: /etc/ca.pem\n", "      mode: MUTUAL\n")
    with pytest.raises(EditError, match="comes from the `<<` merge"):
        apply_edits(text, [DeleteKey(0, ("spec", "trafficPolicy", "tls"), "mode")])


def test_merge_list_sources_are_followed():
    text = "a: &a {x: 1}\nb: &b {y: 2}\nm:\n  <<: [*a, *b]\n  z: 3\n"
    with pytest.raises(EditError, match="m.y comes from the `<<` merge on line 4"):
        apply_edits(text, [Upsert(0, ("m",), "y", 5)])
    assert edit(text, Upsert(0, ("m",), "w", 5)) == text + "  w: 5\n"


# ----------------------------------------------------------------------------- byte-order mark


def test_deleting_the_first_key_keeps_the_bom():
    text = "\ufeffapiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nspec:\n  host: a\n"
    assert edit(text, DeleteKey(0, (), "apiVersion")) == "\ufeffkind: DestinationRule\nspec:\n  host: a\n"


# ----------------------------------------------------------------------------- comments stay with their key


def test_inserted_key_goes_below_the_block_closing_comment():
    text = ("spec:\n  host: api.stripe.com\n  trafficPolicy:\n    tls:\n      mode: SIMPLE\n  # end of trafficPolicy\n"
            "---\nkind: Other\n")
    out = edit(text, Upsert(0, ("spec",), "exportTo", ["."]))
    assert out == ("spec:\n  host: api.stripe.com\n  trafficPolicy:\n    tls:\n      mode: SIMPLE\n  # end of trafficPolicy\n"
                   "  exportTo:\n    - .\n---\nkind: Other\n")


def test_inserted_key_stays_above_outer_and_separated_comments():
    text = "spec:\n  host: a\n\n  # commented-out block after a blank line\n# about the next key\nnext: 1\n"
    out = edit(text, Upsert(0, ("spec",), "exportTo", ["."]))
    assert out == "spec:\n  host: a\n  exportTo:\n    - .\n\n  # commented-out block after a blank line\n# about the next key\nnext: 1\n"


def test_deleting_a_key_removes_its_own_comment_lines():
    text = "spec:\n  host: a\n  # The CA Stripe's chain ends in\n  # (rotated yearly)\n  caCertificates: /etc/ca.pem\n  sni: a\n"
    assert edit(text, DeleteKey(0, ("spec",), "caCertificates")) == "spec:\n  host: a\n  sni: a\n"


def test_deleting_a_key_keeps_comments_that_are_not_its_own():
    # a header above the first key describes the whole block; a comment under a block closes that block;
    # a comment at another indentation, or separated by a blank line, is not the key's
    text = ("# header of the resource\napiVersion: v1\nspec:\n  trafficPolicy:\n    tls: {}\n  # end of trafficPolicy\n"
            "  sni: a\n  host: a\n\n  # about port\n  port: 1\n")
    out = edit(text, DeleteKey(0, (), "apiVersion"), DeleteKey(0, ("spec",), "sni"))
    assert out == "# header of the resource\nspec:\n  trafficPolicy:\n    tls: {}\n  # end of trafficPolicy\n  host: a\n\n  # about port\n  port: 1\n"
    assert edit(text, DeleteKey(0, ("spec",), "port")).endswith("  host: a\n\n")


def test_fix_edits_a_destination_rule_that_uses_a_merge_key(tmp_path, run_cli, scan_json):
    """Scan sees the merged `mode: SIMPLE` (MM101); fix adds an explicit key next to the `<<` and the gate agrees."""
    repo = tmp_path / "repo"
    shutil.copytree(SEED, repo)
    merged = repo / "apps/payments/destinationrule-merged.yaml"
    merged.write_text("apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: merged\n"
                      "  namespace: payments\nspec:\n  host: api.merged.example.com\n  trafficPolicy:\n    tls:\n"
                      "      <<: {mode: SIMPLE, sni: api.merged.example.com}\n")
    _code, report, _err = scan_json(str(repo))
    assert ("MM101", "DestinationRule/payments/merged") in {(f["rule"], f["resource"]) for f in report["findings"]}
    code, _out, err = run_cli("fix", str(repo), "--strategy", "skip-verify", "--write")
    assert code == 0, err
    assert merged.read_text().endswith("      <<: {mode: SIMPLE, sni: api.merged.example.com}\n      insecureSkipVerify: true\n")
    _code, report, _err = scan_json(str(repo))
    assert not [f for f in report["findings"] if f["rule"] == "MM101"]
