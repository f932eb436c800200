"""Baselines: record today's findings so CI fails only on new ones.

A finding is identified the way SARIF partialFingerprints identify it (report/sarif.py
`identity`): rule, path, resource, SDS name and which block of the resource — never the line or
the message — so unrelated edits that move it do not make it "new", while a second offending TLS
block in an already-baselined DestinationRule is new.  Baselined findings stay in every report,
marked suppressed.
"""

from __future__ import annotations

import json
from pathlib import Path


def _fingerprints(findings) -> list[str]:
    from migrator.report.sarif import fingerprints

    return fingerprints(findings)


def write_baseline(path: Path, result) -> None:
    from migrator.fsio import atomic_write

    active = result.active
    entries = sorted(
        ({"fingerprint": fp, "rule": f.rule, "path": f.path, "resource": f.resource} for f, fp in zip(active, _fingerprints(active))),
        key=lambda e: (e["path"], e["rule"], e["fingerprint"]),
    )
    refuse_to_overwrite(path)
    atomic_write(path, json.dumps({"tool": "mesh-migrator", "version": 2, "findings": entries}, indent=2) + "\n")


def refuse_to_overwrite(path: Path) -> None:
    """--update-baseline writes only where nothing, or a baseline, already is.

    Why: the baseline path may come from the scanned repository's config file; pointed at any other
    file (a manifest, `~/.bashrc` through a symlink) an update would replace it with JSON.
    """
    from migrator.errors import CliError

    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir():
        raise CliError(f"{path}: is a directory, not a baseline file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(64 * 1024 * 1024 + 1)
        doc = json.loads(raw.decode("utf-8"))
        ok = isinstance(doc, dict) and doc.get("tool") == "mesh-migrator" and isinstance(doc.get("findings"), list)
    except (OSError, ValueError):
        ok = False
    if not ok:
        raise CliError(f"{path}: exists and is not a mesh-migrator baseline; not overwritten (remove it or choose another --baseline)")


def load_baseline(path: Path) -> set[str]:
    from migrator.errors import CliError

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return {e["fingerprint"] for e in doc["findings"]}
    except FileNotFoundError as exc:
        raise CliError(f"{path}: baseline not found (create it with --update-baseline)") from exc
    except IsADirectoryError as exc:
        raise CliError(f"{path}: is a directory, not a baseline file") from exc
    except OSError as exc:
        raise CliError(f"{path}: cannot read the baseline: {exc.strerror or exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise CliError(f"{path}: not a mesh-migrator baseline ({str(exc)[:200]})") from exc


def apply_baseline(path: Path, result) -> None:
    known = load_baseline(path)
    candidates = [f for f in result.findings if not f.suppressed]
    for f, fp in zip(candidates, _fingerprints(candidates)):
        if fp in known:
            f.suppressed, f.suppression_reason = "baseline", f"recorded in {path}"
