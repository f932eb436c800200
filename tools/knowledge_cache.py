"""Write the JSON copies of migrator/knowledge/*.yaml that the loader reads at start-up.

Run after editing a knowledge file; until then the loader ignores the stale copy (it records the
YAML's SHA-256) and parses the YAML, and tests/test_knowledge.py fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from migrator.knowledge import cache_name, cache_text  # noqa: E402


def main() -> int:
    folder = Path(__file__).resolve().parent.parent / "migrator" / "knowledge"
    for source in sorted(folder.glob("*.yaml")):
        (folder / cache_name(source.name)).write_text(cache_text(source.read_bytes()), encoding="utf-8")
        print(f"wrote {cache_name(source.name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
