"""Write docs/rules/MMxxx.md from rules/catalog.yaml and the remedies (migrator/ruledocs.py).

Run after changing the catalog or a remedy; tests/test_rule_docs.py fails while the pages are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from migrator.ruledocs import render_all  # noqa: E402


def main() -> int:
    out = Path(__file__).resolve().parent.parent / "docs" / "rules"
    out.mkdir(parents=True, exist_ok=True)
    pages = render_all()
    for name, text in pages.items():
        (out / name).write_text(text, encoding="utf-8")
    for stale in set(p.name for p in out.glob("MM*.md")) - set(pages):
        (out / stale).unlink()
    print(f"wrote {len(pages)} pages to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
