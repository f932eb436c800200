"""--jobs N gives the same report as a serial scan (the per-file stage is independent per file)."""

from __future__ import annotations

import shutil

from conftest import FIXTURES


def test_parallel_scan_equals_serial(tmp_path, scan_json):
    repo = tmp_path / "many"
    # enough files to cross the threshold where worker processes are used
    for i in range(40):
        shutil.copytree(FIXTURES / "spire-istio-1.22" / "apps", repo / f"team{i:02d}" / "apps")
    shutil.copytree(FIXTURES / "spire-istio-1.22" / "argocd", repo / "argocd")
    _, serial, _ = scan_json(str(repo), "--jobs", "1")
    code, parallel, err = scan_json(str(repo), "--jobs", "2")
    assert parallel["findings"] == serial["findings"]
    assert parallel["inventory"] == serial["inventory"]
    assert parallel["summary"]["files_read"] == serial["summary"]["files_read"] >= 64
    assert len([f for f in parallel["findings"] if f["rule"] == "MM101"]) == 3 * 40
    assert code == 1 and err == ""  # no progress bar when stderr is not a terminal
