"""Shared test helpers: paths and an in-process CLI runner that returns (exit code, stdout, stderr)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
EXPECTATIONS = Path(__file__).resolve().parent / "expectations"
RELEASE_ARCHIVE = FIXTURES / "real-trees" / "istio-1.22.0-samples-manifests.tar.xz"


@pytest.fixture(scope="session")
def release_tree(tmp_path_factory) -> Path:
    """Istio's 1.22.0 samples/ + manifests/ (fixtures/real-trees), extracted once per test session."""
    import tarfile

    root = tmp_path_factory.mktemp("istio-1.22.0")
    with tarfile.open(RELEASE_ARCHIVE) as tar:
        tar.extractall(root, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(root)
    return root


@pytest.fixture
def run_cli(capsys):
    """Run `mesh-migrator ARGS` in-process; returns (code, stdout, stderr)."""
    from migrator.cli import main

    def run(*args: str):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def scan_json(run_cli):
    def run(*args: str):
        code, out, err = run_cli("scan", *args, "--format", "json")
        try:
            return code, json.loads(out), err
        except ValueError as exc:
            raise AssertionError(f"no JSON on stdout (exit {code}); stderr: {err[-2000:]}") from exc

    return run


def headers_only(inventory, gated=lambda path: True):
    """A full read's inventory as migrator/kindgate.py's header gate must give it: header-only kinds
    in files the gate takes (`gated(path)`) keep apiVersion, kind and metadata, and those keys' lines."""
    import copy

    from migrator import kindgate

    out = copy.deepcopy(inventory)
    for r in out.resources:
        if r.kind.encode() in kindgate.HEADER_ONLY_KINDS and gated(r.path):
            r.data = {k: v for k, v in r.data.items() if k in kindgate.HEADER_KEYS}
            r.lines = {p: line for p, line in r.lines.items() if not p or p[0] in kindgate.HEADER_KEYS}
    return out


def interrupt_right_after_create(monkeypatch, write) -> None:
    """Run `write()` with os.open creating its file and then raising KeyboardInterrupt (a Ctrl-C right
    after a temp file exists), and expect the interrupt to come out of it; os.open is restored after."""
    real_open = os.open

    def create_then_interrupt(path, flags, mode=0o777, *args, **kwargs):
        os.close(real_open(path, flags, mode, *args, **kwargs))
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(os, "open", create_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            write()
