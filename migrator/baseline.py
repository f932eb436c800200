"""Baselines: record today's findings so CI fails only on new ones.

A finding is identified without its line number (rule, path, resource, SDS name), so unrelated
edits that move it do not make it "new".  Baselined findings stay in the reports, marked suppressed.
"""

from __future__ import annotations

import json
from pathlib import Path

from migrator.model import Finding


def fingerprint(f: Finding) -> str:
    return "|".join([f.rule, f.path, f.resource, f.sds_resource or "", f.env or ""])


def write_baseline(path: Path, result) -> None:
    from migrator.fsio import atomic_write

    entries = sorted({fingerprint(f) for f in result.active})
    doc = {"tool": "mesh-migrator", "version": 1, "findings": [dict(zip(("rule", "path", "resource", "sds_resource", "env"), e.split("|"))) for e in entries]}
    atomic_write(path, json.dumps(doc, indent=2) + "\n")


def load_baseline(path: Path) -> set[str]:
    from migrator.cli import CliError

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return {"|".join([e["rule"], e["path"], e["resource"], e.get("sds_resource", ""), e.get("env", "")]) for e in doc["findings"]}
    except FileNotFoundError as exc:
        raise CliError(f"{path}: baseline not found (create it with --update-baseline)") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise CliError(f"{path}: not a mesh-migrator baseline ({exc})") from exc


def apply_baseline(path: Path, result) -> None:
    known = load_baseline(path)
    for f in result.findings:
        if not f.suppressed and fingerprint(f) in known:
            f.suppressed, f.suppression_reason = "baseline", f"recorded in {path}"
