"""The topology summary: per control plane its version, where it is pinned, what it serves, what was assumed.

Shared by the text report's header and `mesh-migrator inventory`, so both say the same thing.
"""

from __future__ import annotations

import posixpath
from collections import Counter

from migrator.scan import ScanResult


def _served_folders(result: ScanResult, env, limit: int = 4) -> tuple[list[str], int]:
    """The folders whose files belong to an environment, most files first."""
    topo = result.topology
    counts: Counter = Counter()
    for path, envs in topo.attribution.items():
        if env in envs:
            counts["/".join(posixpath.dirname(path).split("/")[:2]) or "."] += 1
    total = sum(counts.values())
    return [f"{d}/ ({n})" for d, n in counts.most_common(limit)], total


def summary_lines(result: ScanResult, *, verbose: bool = False, show=lambda path: path) -> list[str]:
    """One line per control plane, with its pins and assumptions indented below it.

    `show` turns a path relative to the scanned root into the one people read (the text report
    prints paths relative to the current directory, like its findings)."""
    topo = result.topology
    if topo is None:
        return []
    lines: list[str] = []
    override = result.options.istio_version
    bare = [cp for cp in topo.control_planes if not cp.installs and cp.version is None and len(topo.control_planes) > 1]
    if bare and not verbose:
        names = ", ".join(cp.name for cp in bare[:6]) + (f" … (+{len(bare) - 6})" if len(bare) > 6 else "")
        lines.append(f"{len(bare)} environment(s) with no istiod install or Istio pin of their own: {names}")
    for cp in topo.control_planes:
        if cp in bare and not verbose:
            continue
        version = str(override) if override else (str(cp.version) if cp.version else "unknown")
        src = " (--istio-version)" if override else ""
        name = cp.name if (cp.env is not None or cp.revision or len(topo.control_planes) > 1) else "mesh"
        folders, total = _served_folders(result, cp.env)
        lines.append(f"{name}: Istio {version}{src}, {total} file(s): {', '.join(folders) or '-'}")
        pins = cp.pins if verbose else cp.pins[:2]
        for p in pins:
            lines.append(f"  pinned at {show(p.path)}:{p.line} ({p.source})")
        if len(cp.pins) > len(pins):
            lines.append(f"  … {len(cp.pins) - len(pins)} more pin(s) (mesh-migrator inventory)")
        if not cp.installs:
            lines.append("  no istiod install declared here")
        for a in (cp.assumptions if verbose else cp.assumptions[:2]):
            lines.append(f"  assumed: {a}")
        if not verbose and len(cp.assumptions) > 2:
            lines.append(f"  … {len(cp.assumptions) - 2} more assumption(s) (mesh-migrator inventory)")
    ambiguous = sorted(topo.ambiguous)
    if ambiguous:
        lines.append(f"{len(ambiguous)} file(s) could belong to several environments; their findings are low confidence"
                     + ("" if verbose else " (mesh-migrator inventory lists them)"))
        if verbose:
            lines += [f"  {p}: {topo.how.get(p, '')}" for p in ambiguous]
    return lines
