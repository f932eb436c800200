"""MM140: SPIRE agent newer than the server, or more than one minor apart (spiffe/spire upgrading.md)."""

from __future__ import annotations

from packaging.version import Version

from migrator.rules.base import make

ID = "MM140"


_IN_CLUSTER = (".svc", ".svc.cluster.local", ".cluster.local")


def external_server(address: str) -> bool:
    """Does an agent's server_address point outside the cluster (so no in-repo server is its server)?

    In-cluster addresses are Service DNS names: `spire-server`, `spire-server.spire`,
    `spire-server.spire.svc(.cluster.local)`.  A dotted name under another domain, or an IP, is not.
    """
    host = address.strip().split(":", 1)[0].rstrip(".")
    if not host:
        return False
    if host.endswith(_IN_CLUSTER) or host.count(".") <= 1 and not host.replace(".", "").isdigit():
        return False
    return True


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _beside(item, configs):
    """The configs in the item's own file, else its folder, else the only one in the view."""
    same_file = [c for c in configs if c.path == item.path]
    same_dir = [c for c in configs if _folder(c.path) == _folder(item.path)]
    return same_file or same_dir or (configs if len(configs) == 1 else [])


def agent_config(agent, view):
    """The agent.conf that configures this agent pin (server_address, trust_domain), if the repo has it."""
    confs = [c for c in view.inventory.spire_agent_configs if view.has(c.path)]
    return next(iter(_beside(agent, confs)), None)


def agent_server(agent, view):
    """The agent's configured server address, from an agent.conf in the agent's own file or folder."""
    conf = agent_config(agent, view)
    return conf.server_address if conf else ""


def same_trust_domain(agent, servers, view):
    """Servers of the agent's trust domain, where both sides' configs say it (agent.conf, server.conf)."""
    conf = agent_config(agent, view)
    domain = conf.trust_domain if conf else ""
    server_confs = [c for c in view.inventory.spire_server_configs if view.has(c.path)]
    if not domain or not server_confs:
        return servers
    kept = []
    for s in servers:
        theirs = {c.trust_domain for c in _beside(s, server_confs)}
        if not theirs or domain in theirs:
            kept.append(s)
    return kept


def nearest_servers(agent, servers):
    """The servers an agent belongs with: those in the nearest folder above it that holds any.

    Repositories keep several independent SPIRE deployments side by side (spiffe/spire-tutorials has
    k8s/quickstart at 1.11 and k8s/oidc-aws at 1.5); an agent is not skewed against another folder's server.
    """
    folder = agent.path.rsplit("/", 1)[0] if "/" in agent.path else ""
    while True:
        prefix = f"{folder}/" if folder else ""
        mine = [s for s in servers if s.path.startswith(prefix)]
        if mine or not folder:
            return mine or servers
        folder = folder.rsplit("/", 1)[0] if "/" in folder else ""


def check(view, meta):
    # a spire chart pin installs the server at the chart's app version (agents may be overridden)
    servers = [p for p in view.pins if p.product == "spire" and p.component in ("server", "chart")]
    agents = [p for p in view.pins if p.product == "spire" and p.component == "agent"]
    if not servers or not agents:
        return
    paired = []
    for a in agents:
        address = agent_server(a, view)
        if address and external_server(address):
            note = (f"SPIRE agent {a.version} ({a.path}:{a.line}) talks to {address}, a server outside this repo: "
                    f"its version skew cannot be assessed")
            if note not in view.assumptions:
                view.assumptions.append(note)
        else:
            paired.append(a)
    for a in paired:
        mine = same_trust_domain(a, nearest_servers(a, servers), view)
        if not mine:
            note = (f"SPIRE agent {a.version} ({a.path}:{a.line}) belongs to a trust domain no SPIRE server in this repo "
                    f"serves: its version skew cannot be assessed")
            if note not in view.assumptions:
                view.assumptions.append(note)
            continue
        oldest = min(mine, key=lambda p: Version(p.version))
        newest = max(mine, key=lambda p: Version(p.version))
        av = Version(a.version)
        nv = Version(newest.version)
        if av > Version(oldest.version):
            why = f"newer than the oldest SPIRE server {oldest.version} ({oldest.path}:{oldest.line}); agents must never be newer"
        elif nv.major != av.major or nv.minor - av.minor > 1:
            why = f"more than one minor behind the SPIRE server {nv} ({newest.path}:{newest.line})"
        else:
            continue
        yield make(meta, view, path=a.path, line=a.line, resource=a.source, message=f"SPIRE agent {av} is {why}")
