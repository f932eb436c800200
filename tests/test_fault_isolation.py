"""One bad document never stops a scan (issue 12): every odd input sits next to a valid DestinationRule
whose MM101 must still be reported, and the exit code is the documented one (1: findings; 3 only
for an internal error, after all output)."""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import subprocess
import sys

import pytest

from conftest import FIXTURES

SEED = FIXTURES / "spire-istio-1.22"

#: a valid DestinationRule in the SPIRE-backed namespace of the seed: TLS SIMPLE without a CA → MM101
NEIGHBOUR = """\
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: neighbour
  namespace: payments
spec:
  host: api.neighbour.example.com
  trafficPolicy:
    tls:
      mode: SIMPLE
---
"""
NEIGHBOUR_LINES = NEIGHBOUR.count("\n")


@pytest.fixture
def repo(tmp_path):
    dst = tmp_path / "repo"
    shutil.copytree(SEED, dst)
    return dst


def _configmap(entry: str) -> str:
    """A ConfigMap the inventory reads (Helm values for a Flux valuesFrom), with `entry` on line 7:
    documents of kinds nothing reads are only syntax-checked (see the test at the end)."""
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: odd\n  namespace: payments\ndata:\n  {entry}\n"
            "  values.yaml: |\n    pilot:\n      env: {}\n")


def _scan(repo, scan_json, text: str):
    (repo / "odd.yaml").write_text(NEIGHBOUR + text)
    code, report, err = scan_json(str(repo))
    assert "Traceback" not in err
    rules = {(f["rule"], f["resource"]) for f in report["findings"]}
    assert ("MM101", "DestinationRule/payments/neighbour") in rules, "the valid document of the same file must be scanned"
    assert ("MM101", "DestinationRule/payments/stripe-tls") in rules, "the other files must be scanned"
    assert code == 1, err
    lines = [ln for ln in err.splitlines() if ln.startswith("odd.yaml")]
    return report, lines


# ----------------------------------------------------------------------------- scalars that cannot be built

SCALARS = {
    "impossible date": ("rotated: 2024-02-30", "'2024-02-30' is not a valid !!timestamp (day is out of range for month)"),
    "impossible time": ("at: 2021-01-01T25:00:00Z", "'2021-01-01T25:00:00Z' is not a valid !!timestamp (hour must be in 0..23)"),
    "!!int abc": ("x: !!int abc", "'abc' is not a valid !!int (invalid literal for int() with base 10: 'abc')"),
    "!!float abc": ("x: !!float abc", "'abc' is not a valid !!float (could not convert string to float: 'abc')"),
    "!!bool maybe": ("x: !!bool maybe", "'maybe' is not a valid !!bool"),
    "!!timestamp soon": ("x: !!timestamp soon", "'soon' is not a valid !!timestamp"),
    "5,000-digit integer": ("x: " + "9" * 5000, "'99999999999999999999…(5,000 characters)' is not a valid !!int (Exceeds the limit (4300 digits)"),
}


@pytest.mark.parametrize("name", sorted(SCALARS))
def test_bad_scalar_spoils_only_its_document(repo, scan_json, name):
    entry, message = SCALARS[name]
    report, lines = _scan(repo, scan_json, _configmap(entry))
    line = NEIGHBOUR_LINES + 7
    assert len(lines) == 1 and lines[0].startswith(f"odd.yaml:{line}: error: {message}"), lines
    assert lines[0].endswith("; document 2 not scanned")
    assert [(e["path"], e["line"]) for e in report["errors"]] == [("odd.yaml", line)]


def test_bad_scalar_in_first_document_keeps_the_next(repo, scan_json):
    """The order does not matter: the document after the bad one is read too."""
    (repo / "odd.yaml").write_text(_configmap("x: !!int abc") + "---\n" + NEIGHBOUR)
    code, report, err = scan_json(str(repo))
    assert ("MM101", "DestinationRule/payments/neighbour") in {(f["rule"], f["resource"]) for f in report["findings"]}
    assert [ln for ln in err.splitlines() if ln.startswith("odd.yaml")] == [
        "odd.yaml:7: error: 'abc' is not a valid !!int (invalid literal for int() with base 10: 'abc'); document 1 not scanned"]
    assert code == 1


# ----------------------------------------------------------------------------- shapes rules cannot read

SHAPES = {
    "spec: [1]": ("apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: a\n  namespace: payments\nspec: [1]\n",
                  6, "DestinationRule payments/a: spec is a list, expected a mapping; not scanned"),
    "spec: 1.5": ("apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: a\n  namespace: payments\nspec: 1.5\n",
                  6, "DestinationRule payments/a: spec is a number, expected a mapping; not scanned"),
    "containers: true": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\n  namespace: payments\nspec:\n  template:\n"
        "    metadata:\n      labels: {sidecar.istio.io/inject: 'true'}\n    spec:\n      containers: true\n",
        11, "Deployment payments/a: spec.template.spec.containers is a boolean, expected a list; not scanned"),
    "ingressGateways: 5": (
        "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata:\n  name: a\n  namespace: istio-system\n"
        "spec:\n  components:\n    ingressGateways: 5\n",
        8, "IstioOperator istio-system/a: spec.components.ingressGateways is a number, expected a list; not scanned"),
    "exportTo: 3": ("apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: a\n  namespace: payments\n"
                    "spec:\n  host: x\n  exportTo: 3\n",
                    8, "DestinationRule payments/a: spec.exportTo is a number, expected a list; not scanned"),
    "subset tls list": ("apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: a\n  namespace: payments\n"
                        "spec:\n  host: x\n  subsets:\n  - name: v1\n    trafficPolicy:\n      tls: [SIMPLE]\n",
                        11, "DestinationRule payments/a: spec.subsets[0].trafficPolicy.tls is a list, expected a mapping; not scanned"),
    "servers: 5": ("apiVersion: networking.istio.io/v1beta1\nkind: Gateway\nmetadata:\n  name: a\n  namespace: payments\nspec:\n  servers: 5\n",
                   7, "Gateway payments/a: spec.servers is a number, expected a list; not scanned"),
    "ServiceEntry hosts": ("apiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\nmetadata:\n  name: a\n  namespace: payments\n"
                           "spec:\n  hosts: {a: b}\n",
                           7, "ServiceEntry payments/a: spec.hosts is a mapping, expected a list; not scanned"),
    "Role rules": ("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: a\n  namespace: payments\nrules: 7\n",
                   6, "Role payments/a: rules is a number, expected a list; not scanned"),
    "CronJob volumes": (
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: a\n  namespace: payments\nspec:\n  jobTemplate:\n    spec:\n"
        "      template:\n        spec:\n          volumes: [csi.spiffe.io]\n",
        11, "CronJob payments/a: spec.jobTemplate.spec.template.spec.volumes[0] is a string, expected a mapping; not scanned"),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_wrong_shape_is_reported_and_skipped(repo, scan_json, name):
    text, line, message = SHAPES[name]
    report, lines = _scan(repo, scan_json, text)
    assert lines == [f"odd.yaml:{NEIGHBOUR_LINES + line}: error: {message}"]
    assert all(f["resource"] != "DestinationRule/payments/a" for f in report["findings"])


def test_shape_check_accepts_every_fixture():
    """No false alarms: every realistic manifest in fixtures/ fits its declared shape."""
    from migrator import shapes
    from migrator.documents import load_text

    checked = 0
    for path in sorted(FIXTURES.rglob("*.y*ml")):
        if "templates" in path.parts or "bad-input" in path.parts:
            continue
        for doc in load_text(str(path), path.read_text(encoding="utf-8")).documents:
            assert shapes.check(doc) is None, shapes.check(doc)
            checked += shapes.shape_of(doc.kind) is not None
    assert checked > 50


# ----------------------------------------------------------------------------- files that are not files


def test_fifo_and_socket_are_skipped_never_opened(tmp_path):
    """A FIFO would block `open()` forever: the scan must finish (in a subprocess with a timeout)."""
    repo = tmp_path / "repo"
    shutil.copytree(SEED, repo)
    os.mkfifo(repo / "pipe.yaml")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(repo / "sock.yaml"))
        proc = subprocess.run([sys.executable, "-m", "migrator", "scan", str(repo), str(repo / "pipe.yaml"), "--format", "json"],
                              capture_output=True, text=True, timeout=60)
    finally:
        sock.close()
    assert proc.returncode == 1, proc.stderr
    assert "pipe.yaml: skipped: a named pipe (FIFO), not a regular file; not opened" in proc.stderr.splitlines()
    assert "sock.yaml: skipped: a socket, not a regular file; not opened" in proc.stderr.splitlines()
    assert '"MM101"' in proc.stdout


def test_read_regular_refuses_a_fifo_without_blocking(tmp_path):
    from migrator.discover import read_regular

    os.mkfifo(tmp_path / "p.yaml")
    with pytest.raises(OSError, match="not a regular file"):
        read_regular(tmp_path / "p.yaml")


# ----------------------------------------------------------------------------- valid YAML libyaml rejects, custom tags


def test_libyaml_rejected_file_is_read_by_the_pure_parser(repo, scan_json):
    """istio/istio's ServiceEntry tests use `addresses: [1.2.3.4, 001:db8::]`: valid YAML libyaml rejects."""
    se = ("apiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\nmetadata:\n  name: v6\n  namespace: payments\n"
          "spec:\n  hosts: [v6.example.com]\n  addresses: [1.2.3.4, 001:db8::]\n  location: MESH_EXTERNAL\n  resolution: STATIC\n")
    report, lines = _scan(repo, scan_json, se)
    assert lines == ["odd.yaml: note: read with the ruamel.yaml parser (YAML 1.1 values): libyaml rejected it at line 19 "
                     "(found unexpected ':'); Kubernetes' go-yaml accepts it"]
    assert report["errors"] == []
    assert any(p["path"] == "odd.yaml" for p in report["inventory"]["proxies"]) is False  # read, and nothing invented


def test_pure_parser_values_are_the_libyaml_values():
    from migrator.documents import FALLBACK, load_text

    text = ("kind: ServiceEntry\nspec:\n  addresses: [1.2.3.4, 001:db8::]\n  port: 0755\n  on: yes\n"
            "  at: 2024-01-02\n  ref: &r {a: 1}\n  again: *r\n---\nkind: Second\n")
    loaded = load_text("se.yaml", text)
    assert loaded.parser == FALLBACK
    assert [d.data for d in loaded.documents] == [
        {"kind": "ServiceEntry", "spec": {"addresses": ["1.2.3.4", "001:db8::"], "port": 493, True: True,
                                          "at": datetime.date(2024, 1, 2), "ref": {"a": 1}, "again": {"a": 1}}},
        {"kind": "Second"}]
    assert loaded.documents[0].line_of(("spec", "addresses")) == 3
    assert loaded.documents[1].line_of(("kind",)) == 10
    # the same values libyaml gives once the offending scalar is quoted
    quoted = load_text("q.yaml", text.replace("001:db8::", "'001:db8::'"))
    assert quoted.parser != FALLBACK and [d.data for d in quoted.documents] == [d.data for d in loaded.documents]


def test_really_invalid_yaml_still_reports_libyaml_error():
    from migrator.documents import LIBYAML, load_text

    loaded = load_text("x.yaml", "a: [1, 2\nb: 3\n")
    assert loaded.parser == LIBYAML
    assert [p.one_line() for p in loaded.problems] == ["x.yaml:2: YAML syntax error: did not find expected ',' or ']'"]


@pytest.mark.parametrize("entry", ["token: !vault secret/data/x#token", "script: !reference [.setup, script]",
                                   "arn: !Ref PaymentsRole", "m: !GetAtt {a: b}"])
def test_custom_tags_are_data(repo, scan_json, entry):
    _report, lines = _scan(repo, scan_json, _configmap(entry))
    assert lines == []


def test_custom_tags_read_as_tagged_values():
    from migrator.documents import Tagged, load_text

    doc = load_text("x.yaml", "a: !vault secret/data/x#token\nb: !reference [.setup, script]\nc: !Ref {x: 1}\n").documents[0]
    assert doc.data == {"a": Tagged("!vault", "secret/data/x#token"), "b": Tagged("!reference", [".setup", "script"]),
                        "c": Tagged("!Ref", {"x": 1})}


# ----------------------------------------------------------------------------- bugs are isolated


def test_rule_crash_is_an_internal_problem_and_exit_3_after_output(repo, scan_json, monkeypatch):
    """A bug in one rule on one resource: every other finding is reported, then exit 3."""
    from migrator.rules import mm121_insecure_skip_verify as mm121

    real = mm121.check

    def broken(view, meta):
        for dr in view.resources:
            if dr.name == "neighbour":
                raise KeyError("boom")
        yield from real(view, meta)

    monkeypatch.setattr("migrator.rules.all_rules", _patched_rules("MM121", broken))
    (repo / "odd.yaml").write_text(NEIGHBOUR)
    code, report, err = scan_json(str(repo))
    assert code == 3
    assert "Traceback" not in err
    assert ("MM101", "DestinationRule/payments/neighbour") in {(f["rule"], f["resource"]) for f in report["findings"]}
    internal = [ln for ln in err.splitlines() if "internal error" in ln]
    assert internal == ["odd.yaml:1: error: internal error while running MM121 on DestinationRule payments/neighbour: KeyError: 'boom' "
                        "(a bug: re-run with --debug for a traceback); the rest of the repository was scanned"]
    assert any(e["path"] == "odd.yaml" and "internal error" in e["message"] for e in report["errors"])


def _patched_rules(rule_id, check):
    from migrator import rules

    original = rules.all_rules()

    def all_rules():
        return tuple(rules.Rule(r.meta, check) if r.meta.id == rule_id else r for r in original)

    return all_rules


@pytest.fixture
def odd_crashes(repo, monkeypatch):
    """A bug in the inventory for one document (ConfigMap payments/odd), next to a DR whose MM101 must survive."""
    from migrator import inventory

    real = inventory.Collector.add

    def add(self, doc):
        if doc.name == "odd":
            raise RuntimeError("unforeseen")
        return real(self, doc)

    monkeypatch.setattr(inventory.Collector, "add", add)
    (repo / "odd.yaml").write_text(NEIGHBOUR + _configmap("a: b"))
    return repo


def test_inventory_crash_is_isolated_to_its_document(odd_crashes, scan_json):
    code, report, err = scan_json(str(odd_crashes))
    assert code == 3
    assert ("MM101", "DestinationRule/payments/neighbour") in {(f["rule"], f["resource"]) for f in report["findings"]}
    assert [ln for ln in err.splitlines() if ln.startswith("odd.yaml")] == [
        f"odd.yaml:{NEIGHBOUR_LINES + 1}: error: internal error while reading ConfigMap payments/odd: RuntimeError: unforeseen "
        "(a bug: re-run with --debug for a traceback); the rest of the repository was scanned"]


def test_debug_prints_the_traceback_of_an_isolated_error(odd_crashes, run_cli, monkeypatch):
    monkeypatch.delenv("MESH_MIGRATOR_DEBUG", raising=False)  # restored (removed) after the test
    code, out, err = run_cli("--debug", "scan", str(odd_crashes), "--format", "json")
    assert code == 3
    assert "Traceback (most recent call last)" in err and "RuntimeError: unforeseen" in err
    assert '"MM101"' in out


def test_a_document_nothing_reads_is_syntax_checked_but_its_values_are_not_built(repo, scan_json):
    """Beside a DestinationRule, a plain ConfigMap (a kind nothing reads) is blanked before the parse
    (migrator/kindgate.py): a syntax error anywhere in the file is still MM001, but a value that only
    a full build would reject (`!!int abc`) is not reported, as in a file the prefilter drops."""
    plain = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: odd\n  namespace: payments\ndata:\n  {}\n"
    report, lines = _scan(repo, scan_json, plain.format("x: !!int abc") + "---\n" + plain.format("y: ok"))
    assert lines == [] and report["errors"] == []
    (repo / "odd.yaml").write_text(NEIGHBOUR + plain.format("x: [unclosed"))
    code, report, err = scan_json(str(repo))
    assert code == 1 and [(e["path"], e["line"]) for e in report["errors"]] == [("odd.yaml", NEIGHBOUR_LINES + 8)], err
