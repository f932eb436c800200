"""The YAML data files that ship inside the package, read from a JSON copy made of their exact bytes.

Why: every run reads the knowledge base (knowledge/istio.yaml, 130 kB: ~13 ms even with libyaml)
and the rule catalog (rules/catalog.yaml: ~4 ms), a sixth of a small scan's start-up; their JSON
copies load in about a millisecond.  A copy records the SHA-256 of the YAML it was made from, and a
copy whose hash is not that of the YAML beside it is ignored: an edited YAML is never shadowed by
stale data, only read more slowly until `python tools/data_copies.py` writes the copies again
(tests/test_knowledge.py fails until then).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

#: the data files that have a copy, relative to the package: what tools/data_copies.py writes
DATA_FILES = ("knowledge/istio.yaml", "knowledge/spire.yaml", "rules/catalog.yaml")
#: the same values as yaml.safe_load, read by libyaml when PyYAML has it
_SAFE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def copy_name(name: str) -> str:
    """The JSON copy of a data file: istio.yaml -> istio.cache.json."""
    return name.rsplit(".", 1)[0] + ".cache.json"


def copy_text(raw: bytes) -> str:
    """The JSON copy's text for these YAML bytes (what tools/data_copies.py writes)."""
    data = yaml.load(raw.decode("utf-8"), Loader=_SAFE)
    return json.dumps({"yaml_sha256": hashlib.sha256(raw).hexdigest(), "data": data}, sort_keys=True) + "\n"


def load(folder: Path, name: str) -> Any:
    """The values of folder/name: from its JSON copy when that copy was made from these bytes, else
    parsed from the YAML."""
    raw = (folder / name).read_bytes()
    copied = _copied(folder / copy_name(name), raw)
    return copied[0] if copied is not None else yaml.load(raw.decode("utf-8"), Loader=_SAFE)


def _copied(path: Path, raw: bytes) -> tuple[Any] | None:
    """(data,) from a current copy, or None (missing, unreadable or stale)."""
    try:
        copy = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(copy, dict) or copy.get("yaml_sha256") != hashlib.sha256(raw).hexdigest() or "data" not in copy:
        return None
    return (copy["data"],)
