"""documents.load_text builds the same values PyYAML's CSafeLoader does, with positions on top."""

from __future__ import annotations

import pytest
import yaml

from conftest import FIXTURES
from migrator.documents import load_text

FILES = sorted(p for p in FIXTURES.rglob("*.y*ml") if "templates" not in p.parts and "bad-input" not in p.parts)


def _reference(text: str) -> list:
    body = text[1:] if text.startswith("\ufeff") else text
    return [d for d in yaml.load_all(body, Loader=yaml.CSafeLoader) if d is not None]


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(FIXTURES)) for p in FILES])
def test_values_equal_csafeloader(path):
    text = path.read_text(encoding="utf-8")
    loaded = load_text(path.name, text)
    assert not [p for p in loaded.problems if p.kind == "error"]
    ours = []
    for d in loaded.documents:
        if d.item is None and d.data is not None:
            ours.append(d.data)
        elif d.item == 0:
            ours.append("list")  # List items are split out; compare the items below
    ref = _reference(text)
    if any(isinstance(r, dict) and str(r.get("kind", "")).endswith("List") for r in ref):
        items = [d.data for d in loaded.documents if d.item is not None]
        assert items == [i for r in ref if isinstance(r, dict) and "items" in r for i in r["items"]]
    else:
        assert ours == ref


EDGE_CASES = {
    "merge keys": "base: &b {a: 1, b: 2}\nderived:\n  <<: *b\n  b: 3\n",
    "explicit tags": "a: !!str 0755\nb: !!int '12'\nc: !!binary aGVsbG8=\n",
    "yaml 1.1 scalars": "a: yes\nb: 0755\nc: 12:30\nd: ~\ne: 1e3\nf: 2024-01-01\ng: .inf\n",
    "aliases": "x: &x [1, 2]\ny: *x\nz: {k: *x}\n",
    "empty values": "a:\nb: []\nc: {}\nd: ''\n",
    "multi doc with empty": "---\na: 1\n---\n---\nb: 2\n...\n",
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_cases_equal_csafeloader(name):
    text = EDGE_CASES[name]
    assert [d.data for d in load_text("x.yaml", text).documents if d.data is not None] == _reference(text)


def test_line_of_follows_keys_and_items():
    text = "kind: DestinationRule\nspec:\n  subsets:\n    - name: a\n      trafficPolicy:\n        tls:\n          mode: SIMPLE\n"
    doc = load_text("x.yaml", text).documents[0]
    assert doc.line_of(("spec", "subsets", 0, "trafficPolicy", "tls")) == 6
    assert doc.line_of(("spec", "subsets", 0, "missing", "deeper")) == 4  # nearest ancestor
