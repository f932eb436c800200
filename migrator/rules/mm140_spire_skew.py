"""MM140: SPIRE agent newer than the server, or more than one minor apart (spiffe/spire upgrading.md)."""

from __future__ import annotations

from packaging.version import Version

from migrator.rules.base import make

ID = "MM140"


def check(view, meta):
    # a spire chart pin installs the server at the chart's app version (agents may be overridden)
    servers = [p for p in view.pins if p.product == "spire" and p.component in ("server", "chart")]
    agents = [p for p in view.pins if p.product == "spire" and p.component == "agent"]
    if not servers or not agents:
        return
    oldest = min(servers, key=lambda p: Version(p.version))
    newest = max(servers, key=lambda p: Version(p.version))
    for a in agents:
        av = Version(a.version)
        nv = Version(newest.version)
        if av > Version(oldest.version):
            why = f"newer than the oldest SPIRE server {oldest.version} ({oldest.path}:{oldest.line}); agents must never be newer"
        elif nv.major != av.major or nv.minor - av.minor > 1:
            why = f"more than one minor behind the SPIRE server {nv} ({newest.path}:{newest.line})"
        else:
            continue
        yield make(meta, view, path=a.path, line=a.line, resource=a.source, message=f"SPIRE agent {av} is {why}")
