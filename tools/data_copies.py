"""Write the JSON copies of the package's YAML data files (migrator/datacopy.py DATA_FILES: the
knowledge base and the rule catalog) that the loaders read at start-up.

Run after editing one of them; until then its loader ignores the stale copy (the copy records the
YAML's SHA-256) and parses the YAML, and tests/test_knowledge.py fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from migrator.datacopy import DATA_FILES, copy_name, copy_text  # noqa: E402


def main() -> int:
    package = Path(__file__).resolve().parent.parent / "migrator"
    for rel in DATA_FILES:
        source = package / rel
        target = source.with_name(copy_name(source.name))
        target.write_text(copy_text(source.read_bytes()), encoding="utf-8")
        print(f"wrote {target.relative_to(package.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
