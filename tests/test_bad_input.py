"""Bad input gives one clear line per file, no traceback, and the scan goes on with the rest."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import FIXTURES

SEED = FIXTURES / "spire-istio-1.22"


@pytest.fixture
def repo(tmp_path):
    """A copy of the seed scenario (one MM101-bearing repo) to which bad files are added."""
    dst = tmp_path / "repo"
    shutil.copytree(SEED, dst)
    return dst


def _lines_about(err: str, name: str) -> list[str]:
    return [ln for ln in err.splitlines() if name in ln]


def _assert_scan_went_on(report):
    assert any(f["rule"] == "MM101" for f in report["findings"]), "the valid files must still be scanned"


def test_invalid_yaml_reports_file_and_line(repo, scan_json):
    (repo / "broken.yaml").write_text("apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: x\n spec:\n  host: a\n")
    code, report, err = scan_json(str(repo))
    lines = _lines_about(err, "broken.yaml")
    assert len(lines) == 1 and lines[0].startswith("broken.yaml:5: error: YAML syntax error"), err
    assert "Traceback" not in err
    assert [e["path"] for e in report["errors"]] == ["broken.yaml"]
    _assert_scan_went_on(report)
    assert code == 1


def test_duplicate_keys_reported_with_both_lines(repo, scan_json):
    (repo / "dup.yaml").write_text(
        "apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata:\n  name: dup\n  namespace: payments\n"
        "spec:\n  host: a.example.com\n  host: b.example.com\n")
    _, report, err = scan_json(str(repo))
    lines = _lines_about(err, "dup.yaml")
    assert lines == ["dup.yaml:8: error: duplicate key 'host' (first at line 7); Kubernetes decoders disagree on which value wins"]
    _assert_scan_went_on(report)


def test_binary_file_is_skipped(repo, scan_json):
    (repo / "blob.yaml").write_bytes(b"apiVersion: v1\x00\x01\x02istio")
    _, report, err = scan_json(str(repo))
    assert _lines_about(err, "blob.yaml") == ["blob.yaml: error: binary file (contains NUL bytes), not YAML; not scanned"]
    assert [e["path"] for e in report["errors"]] == ["blob.yaml"]
    _assert_scan_went_on(report)


def test_non_utf8_reports_line(repo, scan_json):
    (repo / "latin1.yaml").write_bytes("# caf\u00e9 istio\nkind: ConfigMap\n".encode("latin-1"))
    _, report, err = scan_json(str(repo))
    lines = _lines_about(err, "latin1.yaml")
    assert len(lines) == 1 and lines[0].startswith("latin1.yaml:1: error: not UTF-8 (byte 0xe9"), lines
    _assert_scan_went_on(report)


def test_large_file_is_skipped_without_reading_it_as_yaml(repo, scan_json):
    big = repo / "huge.yaml"
    with open(big, "wb") as fh:
        line = b"# istio padding line to make a fifty megabyte file...........................\n"
        fh.write(line * (50 * 1024 * 1024 // len(line) + 1))
    _, report, err = scan_json(str(repo))
    lines = _lines_about(err, "huge.yaml")
    assert len(lines) == 1 and "huge.yaml: skipped: file is 50.0 MB, over the 8 MB limit" in lines[0], lines
    _assert_scan_went_on(report)


def test_alias_bomb_is_refused(repo, scan_json):
    rows = ["kind: ConfigMap  # istio", "a: &a [x, x, x, x, x, x, x, x, x]"]
    prev = "a"
    for name in "bcdefgh":
        rows.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
        prev = name
    (repo / "bomb.yaml").write_text("\n".join(rows) + "\n")
    _, report, err = scan_json(str(repo))
    lines = _lines_about(err, "bomb.yaml")
    assert len(lines) == 1 and "alias bomb" in lines[0], lines
    _assert_scan_went_on(report)


def test_symlink_loop_is_reported_not_followed(repo, scan_json):
    os.symlink("loop-b.yaml", repo / "loop-a.yaml")
    os.symlink("loop-a.yaml", repo / "loop-b.yaml")
    os.symlink(str(repo / "spire"), repo / "spire" / "self")  # a directory loop
    _, report, err = scan_json(str(repo))
    assert _lines_about(err, "loop-a.yaml") == ["loop-a.yaml: skipped: symlink loop; not followed"]
    assert _lines_about(err, "loop-b.yaml") == ["loop-b.yaml: skipped: symlink loop; not followed"]
    _assert_scan_went_on(report)


def test_symlink_out_of_root_is_not_followed(repo, tmp_path, scan_json):
    outside = tmp_path / "outside.yaml"
    outside.write_text((SEED / "apps/payments/destinationrule-stripe.yaml").read_text())
    os.symlink(outside, repo / "escape.yaml")
    _, report, err = scan_json(str(repo))
    lines = _lines_about(err, "escape.yaml")
    assert len(lines) == 1 and "points outside the scanned root" in lines[0]
    assert all(f["path"] != "escape.yaml" for f in report["findings"])


def test_missing_path_is_a_usage_error(run_cli, tmp_path):
    code, out, err = run_cli("scan", str(tmp_path / "nope"))
    assert code == 2
    assert err.strip().endswith("nope: no such file or directory")


def test_bad_version_is_a_usage_error(run_cli):
    code, _, err = run_cli("scan", str(SEED), "--istio-version", "one.two")
    assert code == 2
    assert "--istio-version 'one.two' is not a version" in err
