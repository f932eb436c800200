"""A real (non-editable) install carries everything the tool reads at run time: catalog, knowledge, schemas."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jsonschema

from conftest import FIXTURES, REPO


def test_installed_package_scans_the_seed_and_validates(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(REPO)], check=True, capture_output=True, timeout=300)
    assert (target / "migrator" / "schemas" / "report.schema.json").is_file()
    assert (target / "migrator" / "rules" / "catalog.yaml").is_file()
    assert (target / "migrator" / "knowledge" / "istio.yaml").is_file()
    for copy in ("knowledge/istio.cache.json", "knowledge/spire.cache.json", "rules/catalog.cache.json"):
        assert (target / "migrator" / copy).is_file(), copy  # the loaders' fast path (migrator/datacopy.py)
    assert (target / "migrator" / "schemas" / "istio" / "1.22" / "destinationrule.networking.istio.io.v1beta1.json").is_file()
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run([sys.executable, "-m", "migrator", "scan", str(FIXTURES / "spire-istio-1.22"), "--format", "json"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    jsonschema.validate(report, json.loads((REPO / "schemas" / "report.schema.json").read_text()))
    assert ("MM101", "apps/payments/destinationrule-stripe.yaml", 17) in {(f["rule"], f["path"], f["line"]) for f in report["findings"]}
    text = subprocess.run([sys.executable, "-m", "migrator", "scan", str(FIXTURES / "spire-istio-1.22")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert text.returncode == 1 and "MM101" in text.stdout and "17" in text.stdout
