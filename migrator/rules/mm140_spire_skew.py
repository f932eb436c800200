"""MM140: SPIRE agent newer than the server, or more than one minor apart (spiffe/spire upgrading.md)."""

from __future__ import annotations

from packaging.version import Version

from migrator.rules.base import make

ID = "MM140"


def check(view, meta):
    servers = [p for p in view.pins if p.product == "spire" and p.component == "server"]
    agents = [p for p in view.pins if p.product == "spire" and p.component == "agent"]
    if not servers or not agents:
        return
    oldest = min(servers, key=lambda p: Version(p.version))
    sv = Version(oldest.version)
    for a in agents:
        av = Version(a.version)
        if av > sv:
            why = f"newer than the oldest SPIRE server {sv} ({oldest.path}:{oldest.line}); agents must never be newer"
        elif (sv.major, sv.minor) != (av.major, av.minor) and (sv.minor - av.minor > 1 or sv.major != av.major):
            why = f"more than one minor behind the SPIRE server {sv} ({oldest.path}:{oldest.line})"
        else:
            continue
        yield make(meta, view, path=a.path, line=a.line, resource=a.source, message=f"SPIRE agent {av} is {why}")
