"""The mesh as deployed: which files are live, which cluster they go to, which control plane serves them.

A GitOps repository is a fleet, not one bag of files.  This module answers three questions for every
file the scan read, from the repository's own wiring first and its folder layout second:

1. Is it live?  Vendored trees, test data, an unpacked Istio release and the profile definitions a
   chart ships (`files/profile-*.yaml`, `manifests/helm-profiles/`) configure nothing on their own;
   they are skipped with the reason unless something deploys them (or `--include` brings them back).
2. Which environment (cluster) does it belong to?  In order: Flux `Kustomization.spec.path` and Argo
   CD `source.path` entry points with the kustomize `resources` they reach; the usual folder
   conventions (`clusters/<name>/`, `overlays/<name>/` …); a folder that declares an istiod install;
   and for everything else the nearest such environment above the file.  A file whose nearest
   environments are several is *ambiguous*: rules evaluate it at each candidate at low confidence.
3. Which control plane serves it?  Every istiod install (IstioOperator, istiod chart release,
   rendered istiod Deployment) is a control plane of its environment and revision; its version comes
   from its own pins, never from an unrelated folder's.

Everything here is computed from the merged inventory after all files are read; nothing re-reads YAML.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, Iterable, Iterator

from packaging.version import Version

from migrator.inventory import KUSTOMIZATION_FILES, Install, Inventory, Link, env_of
from migrator.model import Pin

# ---------------------------------------------------------------------------------------------
# liveness: trees that configure nothing unless something deploys them

_NON_LIVE_DIRS = {"vendor": "vendored tree", "third_party": "vendored tree", "third-party": "vendored tree",
                  "testdata": "test data", "test-data": "test data", ".github": "CI configuration", ".gitlab": "CI configuration"}
_RELEASE_DIR = re.compile(r"^(istio|spire)-\d+\.\d+(\.\d+)?([-.][\w.]+)?$")
_PROFILE_FILE = re.compile(r"(^|/)files/profile-[^/]+\.ya?ml$")
_PROFILE_DIRS = ("manifests/helm-profiles/", "manifests/profiles/")


def non_live_reason(path: str, release_roots: Iterable[str] = ()) -> str | None:
    """Why a file configures nothing on its own (None: it may be live)."""
    parts = path.split("/")
    for part in parts[:-1]:
        if part in _NON_LIVE_DIRS:
            return f"{_NON_LIVE_DIRS[part]} ({part}/): not deployed by anything in the repo"
        if _RELEASE_DIR.match(part):
            return f"unpacked release ({part}/): not deployed by anything in the repo"
    for root in release_roots:
        if root and path.startswith(root + "/"):
            return f"unpacked Istio release ({root}/): not deployed by anything in the repo"
    if _PROFILE_FILE.search(path):
        return "chart profile definition (files/profile-*.yaml): selected by `profile`/`compatibilityVersion`, configures nothing on its own"
    if any(path.startswith(d) or f"/{d}" in path for d in _PROFILE_DIRS):
        return "Istio profile definition (manifests/*profiles/): selected by `profile`, configures nothing on its own"
    return None


def release_roots(paths: Iterable[str]) -> set[str]:
    """Folders below the scan root that hold an unpacked Istio release (manifests/charts next to samples/)."""
    charts, samples = set(), set()
    for p in paths:
        i = p.find("manifests/charts/")
        if i >= 0:
            charts.add(p[:i].rstrip("/"))
        j = p.find("samples/")
        if j >= 0:
            samples.add(p[:j].rstrip("/"))
    return {r for r in charts & samples if r}


_SAMPLE_DIRS = {"samples", "sample", "examples", "example"}


def is_sample(path: str) -> bool:
    """Sample and example folders demonstrate installs; they do not say what the repo deploys."""
    return any(part in _SAMPLE_DIRS for part in path.split("/")[:-1])


def included(path: str, includes: Iterable[str]) -> bool:
    """`--include GLOB`: a glob on the relative path, or a folder prefix."""
    return any(fnmatch.fnmatch(path, g) or path.startswith(g.rstrip("/") + "/") for g in includes)


# ---------------------------------------------------------------------------------------------
# the model


@dataclass
class ControlPlane:
    """One istiod installation: the version proxies attached to it run with, and where that is pinned."""

    env: str | None
    revision: str
    installs: list[Install]
    version: Version | None = None
    pins: list[Pin] = field(default_factory=list)  # the pins that gave the version
    assumptions: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        env = self.env or "default"
        return f"{env}@{self.revision}" if self.revision else env

    @property
    def paths(self) -> set[str]:
        return {i.path for i in self.installs}


class PathMap(Mapping):
    """{path: value} for every file of a scan, stored by folder: no string object per file.

    Why: the topology keeps an environment and a "how" for every file the scan saw, most of which hold
    nothing else; as dicts keyed by the path strings that was ~100 bytes a file for the whole scan,
    the largest part of what grew with the repository after the inventory itself (bench/RESULTS.md
    "Memory", third round).  Here consecutive files of one folder are one *run*: the folder, the file
    names joined by NUL (which no path holds) and their values, one value when they all share it (the
    nearest environment does).  Reads as the dict it was made from, in the same order; `pop` is the
    one change it takes (Topology.forget).
    """

    __slots__ = ("_runs", "_by_dir", "_gone", "_len")
    #: a run with more files than this gets a name -> position dict on its first lookup (below it, a
    #: search of the joined names is fast enough, and a dict per folder would undo the memory saving)
    _INDEXED = 4096

    def __init__(self, items: "dict[str, Any]", names_of: "dict[str, str] | None" = None):
        """`names_of`: joined names met before (by another PathMap of the same files), reused when equal:
        the topology's two maps then hold every file's name once (bench/RESULTS.md "Memory", fourth round)."""
        runs: list[list] = []  # [folder or None, NUL-joined names, count, value, values or None, index or None]
        names: list[str] = []
        values: list[Any] = []
        for path, value in items.items():
            cut = path.rfind("/")
            folder = path[:cut] if cut >= 0 else None
            if not runs or runs[-1][0] != folder:  # None (the root) differs from every folder string
                self._close(runs, names, values, names_of)
                runs.append([folder, "", 0, None, None, None])
            names.append(path[cut + 1:])
            values.append(value)
        self._close(runs, names, values, names_of)
        self._runs = runs
        self._by_dir: dict[str | None, list[list]] = {}
        for run in runs:
            self._by_dir.setdefault(run[0], []).append(run)
        self._gone: set[str] = set()
        self._len = len(items)

    @staticmethod
    def _close(runs: list[list], names: list[str], values: list[Any], names_of: "dict[str, str] | None") -> None:
        if runs and names:
            run = runs[-1]
            joined = "\0".join(names)
            run[1], run[2] = joined if names_of is None else names_of.setdefault(joined, joined), len(names)
            first = values[0]
            if all(v is first for v in values):
                run[3] = first
            else:
                run[4] = tuple(values)
        names.clear()
        values.clear()

    def _at(self, run: list, name: str) -> int:
        """The position of `name` in a run, or -1."""
        if run[2] > self._INDEXED:
            if run[5] is None:
                run[5] = {n: i for i, n in enumerate(run[1].split("\0"))}
            return run[5].get(name, -1)
        blob = run[1]
        if blob == name or blob.startswith(name + "\0"):
            return 0
        pos = blob.find("\0" + name + "\0")
        if pos < 0:
            if not blob.endswith("\0" + name):
                return -1
            pos = len(blob) - len(name) - 1
        return blob.count("\0", 0, pos + 1)

    def get(self, path: str, default: Any = None) -> Any:
        if self._gone and path in self._gone:
            return default
        cut = path.rfind("/")
        for run in self._by_dir.get(path[:cut] if cut >= 0 else None, ()):
            i = self._at(run, path[cut + 1:])
            if i >= 0:
                return run[3] if run[4] is None else run[4][i]
        return default

    def __getitem__(self, path: str) -> Any:
        value = self.get(path, _MISSING)
        if value is _MISSING:
            raise KeyError(path)
        return value

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.get(path, _MISSING) is not _MISSING

    def items(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]
        for folder, blob, _count, value, values, _index in self._runs:
            for i, name in enumerate(blob.split("\0")):
                path = name if folder is None else f"{folder}/{name}"
                if path not in self._gone:
                    yield path, (value if values is None else values[i])

    def __iter__(self) -> Iterator[str]:
        return (path for path, _ in self.items())

    def __len__(self) -> int:
        return self._len

    def pop(self, path: str, default: Any = None) -> Any:
        value = self.get(path, _MISSING)
        if value is _MISSING:
            return default
        self._gone.add(path)
        self._len -= 1
        return value

    def __repr__(self) -> str:
        return f"PathMap({dict(self.items())!r})"


_MISSING = object()


@dataclass
class Topology:
    """Where every file goes and which control planes exist; the input of every view, rule and plan."""

    envs: list[str | None]
    attribution: dict[str, tuple[str | None, ...]]
    how: dict[str, str]
    ambiguous: set[str]
    control_planes: list[ControlPlane]
    wired_targets: set[str] = field(default_factory=set)  # paths reached from deployment entry points

    def envs_of(self, path: str) -> tuple[str | None, ...]:
        return self.attribution.get(path, (None,) if self.envs == [None] else tuple(self.envs))

    def belongs(self, path: str, env: str | None) -> bool:
        return env in self.envs_of(path)

    def planes_of(self, env: str | None) -> list[ControlPlane]:
        return [cp for cp in self.control_planes if cp.env == env]

    def forget(self, paths) -> None:
        """Files skipped as not live belong to no environment (they were only needed to follow wiring)."""
        for p in paths:
            self.attribution.pop(p, None)
            self.how.pop(p, None)
            self.ambiguous.discard(p)

    def candidates(self, path: str) -> list[str]:
        return [e or "default" for e in self.envs_of(path)] if path in self.ambiguous else []


# ---------------------------------------------------------------------------------------------
# building it


def build(inv: Inventory, all_paths: Iterable[str]) -> Topology:
    """Attribute every file to environments and resolve every control plane's version."""
    paths = _all_paths(all_paths, _inventory_paths(inv))
    attribution: dict[str, set[str | None]] = {}
    how: dict[str, str] = {}
    wired = _wire(inv, paths, attribution, how)
    for p in paths:
        env = env_of(p)
        if env is not None and p not in attribution:
            attribution[p] = {env}
            how[p] = f"folder convention ({env})"
    from_layout = bool(attribution)
    _install_envs(inv, attribution, how)
    if not from_layout and len({e for es in attribution.values() for e in es}) == 1:
        # one installation and no layout: a single mesh, reported without an environment name
        for p in attribution:
            attribution[p] = {None}
    ambiguous = _nearest(paths, attribution, how)
    envs = sorted({e for es in attribution.values() for e in es}, key=lambda e: (e is not None, e or ""))
    if not envs:
        envs = [None]
    final = _final(attribution)
    planes = _control_planes(inv, final, envs, ambiguous)
    names_of: dict[str, str] = {}  # both maps name the same files: each folder's names once
    return Topology(envs, PathMap(final, names_of), PathMap(how, names_of), ambiguous, planes, wired)


def _final(attribution: dict[str, set]) -> dict[str, tuple[str | None, ...]]:
    """Each file's environments as a sorted tuple, in place (a second dict of every file was ~0.4 MB at
    20,000 files): one tuple per distinct set of environments, not one per file, and sorted once per set
    object (_nearest gives every file of a directory the same one)."""
    shared: dict[tuple, tuple] = {}
    by_set: dict[int, tuple] = {}  # id of a set -> its tuple; `sets` keeps every set alive, so no id is reused
    sets = []
    for p, es in attribution.items():  # values replaced, keys unchanged: allowed while iterating
        t = by_set.get(id(es))
        if t is None:
            sets.append(es)
            t = tuple(sorted(es, key=lambda e: (e is not None, e or "")))
            t = by_set[id(es)] = shared.setdefault(t, t)
        attribution[p] = t
    return attribution


def _all_paths(all_paths: Iterable[str], fact_paths: set[str]) -> list[str]:
    """Every path, sorted and once: the scan's list itself when it is so already and holds every fact's
    path (always, from scan.py: discovery sorts), else a sorted union.  Why: the union's two sets were
    ~2 MB at 20,000 files, the peak of the scan's end (bench/RESULTS.md "Memory", third round)."""
    import bisect
    from itertools import pairwise

    if isinstance(all_paths, list) and all(a < b for a, b in pairwise(all_paths)):
        if all((i := bisect.bisect_left(all_paths, p)) < len(all_paths) and all_paths[i] == p for p in fact_paths):
            return all_paths
    return sorted(set(all_paths) | fact_paths)


def _inventory_paths(inv: Inventory) -> set[str]:
    out: set[str] = set()
    for name in Inventory.FACT_LISTS:
        out.update(getattr(x, "path", None) or getattr(x, "src") for x in getattr(inv, name))
    return out


def _wire(inv: Inventory, paths: list[str], attribution: dict, how: dict) -> set[str]:
    """Follow Flux/Argo entry points through kustomize references; returns every path reached."""
    by_src: dict[str, list[Link]] = {}
    for link in inv.links:
        by_src.setdefault(link.src, []).append(link)
    reached_all: set[str] = set()
    for link in _expand_git_generators(_resolve_artifacts(inv), paths):
        if link.kind not in ("flux", "argo") or is_sample(link.src):
            continue  # a sample Application demonstrates wiring; it deploys nothing of this repo
        cluster = link.cluster if link.cluster is not None else env_of(link.src)
        for p in _reach(link.target, paths, by_src):
            reached_all.add(p)
            attribution.setdefault(p, set()).add(cluster)
            how.setdefault(p, f"deployed by {link.src}:{link.line} ({'Flux Kustomization' if link.kind == 'flux' else 'Argo CD Application'})")
    # a kustomization applied to an environment by convention (clusters/prod/kustomization.yaml)
    # carries that environment into the bases and components it references
    for src, links in sorted(by_src.items()):
        env = env_of(src)
        if env is None or src in reached_all or posixpath.basename(src) not in KUSTOMIZATION_FILES:
            continue
        for link in links:
            for p in _reach(link.target, paths, by_src):
                reached_all.add(p)
                attribution.setdefault(p, set()).add(env)
                how.setdefault(p, f"referenced by {src}:{link.line} (kustomize)")
    return reached_all


def _expand_git_generators(links: list[Link], paths: list[str]) -> list[Link]:
    """ApplicationSet git directory generators: one Argo CD link per folder the glob matches.

    The template's `{{path}}`, `{{path.basename}}` (and `{{ .path.path }}` in Go templates) are filled
    per folder, so `clusters/*` with destination `{{path.basename}}` deploys each folder to its cluster.
    """
    from migrator.inventory import _argo_cluster, _fill

    out = [link for link in links if link.kind != "argo-git"]
    if len(out) == len(links):
        return out
    folders: set[str] = set()
    for p in paths:
        d = posixpath.dirname(p)
        while d and d not in folders:
            folders.add(d)
            d = posixpath.dirname(d)
    for link in links:
        if link.kind != "argo-git":
            continue
        for folder in (f for f in sorted(folders) if _glob_dir(f, link.pattern)):
            params = {"path": folder, "path.path": folder, "path.basename": posixpath.basename(folder),
                      "path.basenameNormalized": posixpath.basename(folder).replace("_", "-").lower()}
            target = _fill(link.target, params).strip("/")
            cluster = _fill(link.cluster or "", params)
            if "{{" in target:
                continue
            name = _argo_cluster({"name": cluster}) if cluster and "{{" not in cluster else None
            out.append(Link(link.src, posixpath.normpath(target) if target else "", "argo", name, link.line))
    return out


def _resolve_artifacts(inv: Inventory) -> list[Link]:
    """Flux Kustomizations whose source is an ExternalArtifact: map the path inside the artifact back to
    the repository folder its ArtifactGenerator copied (the generator nearest the Kustomization wins)."""
    out = []
    for link in inv.links:
        if not link.artifact:
            out.append(link)
            continue
        copies = [c for c in inv.artifact_copies if c.name == link.artifact]
        near = [c for c in copies if posixpath.dirname(c.path) == posixpath.dirname(link.src)] or copies
        for c in sorted(near, key=lambda c: -len(c.dest)):
            if link.target == c.dest or link.target.startswith(c.dest + "/") or not c.dest:
                rest = link.target[len(c.dest):].lstrip("/") if c.dest else link.target
                target = posixpath.normpath(posixpath.join(c.source, rest)) if (c.source or rest) else ""
                out.append(Link(link.src, "" if target == "." else target, link.kind, link.cluster, link.line))
                break
    return out


def _glob_dir(folder: str, pattern: str) -> bool:
    """Argo CD's directory globs: `*` stays within one folder name, `**` spans any depth."""
    f, p = folder.split("/"), pattern.split("/")
    if "**" in p:
        i = p.index("**")
        head, tail = p[:i], p[i + 1:]
        return (len(f) >= len(head) + len(tail) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(f, head))
                and all(fnmatch.fnmatchcase(a, b) for a, b in zip(f[len(f) - len(tail):], tail)))
    return len(f) == len(p) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(f, p))


def _reach(target: str, paths: list[str], by_src: dict[str, list[Link]], seen: set[str] | None = None) -> set[str]:
    """Files a target makes live: a file itself, a folder's kustomization and what it references, or the folder's files."""
    seen = set() if seen is None else seen
    if target in seen:
        return set()
    seen.add(target)
    out: set[str] = set()
    if target in by_src or _is_file(target, paths):
        out.add(target)
        for link in by_src.get(target, ()):
            if link.kind == "kustomize":
                out |= _reach(link.target, paths, by_src, seen)
        return out
    prefix = f"{target}/" if target else ""
    kustomizations = [f"{prefix}{k}" for k in KUSTOMIZATION_FILES if f"{prefix}{k}" in by_src]
    if kustomizations:
        return _reach(kustomizations[0], paths, by_src, seen)
    for p in paths:
        if p.startswith(prefix):
            out.add(p)
            for link in by_src.get(p, ()):
                if link.kind == "kustomize":
                    out |= _reach(link.target, paths, by_src, seen)
    return out


def _is_file(target: str, paths: list[str]) -> bool:
    """Is target one of the (sorted) scanned paths?  Bisection keeps wiring linear in the repo size."""
    import bisect

    i = bisect.bisect_left(paths, target)
    return i < len(paths) and paths[i] == target


_INSTALL_DIR_NAMES = {"istio", "istio-system", "istiod", "control-plane", "controlplane", "mesh", "service-mesh", "helm", "values",
                      "install", "installation"}


def _install_envs(inv: Inventory, attribution: dict, how: dict) -> None:
    """An install that no wiring or convention places names its own environment: its folder."""
    for inst in inv.installs:
        if is_sample(inst.path) and inst.path not in attribution:
            continue  # a demonstration (Istio's samples/ has a dozen), not an environment of this repo
        if inst.cluster is not None:
            # an Argo CD Application installs istiod where it points, whatever folder it sits in
            env = inst.cluster or env_of(inst.path)
            attribution.setdefault(inst.path, set()).add(env)
            how.setdefault(inst.path, f"Argo CD destination {env or 'in-cluster'}")
            continue
        if inst.path in attribution:
            continue
        folder = posixpath.dirname(inst.path)
        parts = folder.split("/") if folder else []
        while parts and parts[-1] in _INSTALL_DIR_NAMES:
            parts.pop()
        attribution[inst.path] = {"/".join(parts) or None}
        how[inst.path] = f"declares an istiod install ({inst.via})"


def _nearest(paths: list[str], attribution: dict, how: dict) -> set[str]:
    """Attribute the remaining files to the environments found nearest above them; returns the ambiguous ones."""
    below: dict[str, set] = {}
    for p, envs in attribution.items():
        d = posixpath.dirname(p)
        while True:
            below.setdefault(d, set()).update(envs)
            if not d:
                break
            d = posixpath.dirname(d)
    ambiguous: set[str] = set()
    texts: dict[str, str] = {}
    frozen: dict[str, frozenset] = {}  # one set per directory, not one per file (~220 bytes a file while building)
    if not below:
        return ambiguous
    for p in paths:
        if p in attribution:
            continue
        d = posixpath.dirname(p)
        while True:
            found = below.get(d)
            if found:
                envs = frozen.get(d)
                if envs is None:
                    envs = frozen[d] = frozenset(found)
                attribution[p] = envs
                where = d or "the repository root"
                if len(found) > 1:
                    ambiguous.add(p)
                    text = f"ambiguous: nearest environments in {where}"
                else:
                    text = f"nearest environment in {where}"
                how[p] = texts.setdefault(text, text)  # one string per directory, not per file
                break
            if not d:
                break
            d = posixpath.dirname(d)
    return ambiguous


# ---------------------------------------------------------------------------------------------
# control planes and their versions

#: pin components that describe istiod itself; everything else is data plane (proxies, gateways,
#: cni, ztunnel) or a label naming a revision
_CONTROL_COMPONENTS = {"istiod", "pilot", "istiod-remote", "base", "istio-base"}


def is_release(version: str) -> bool:
    """A pin that can be an installed Istio release; placeholders (1.0.0, 0.1.0) and unknown future minors are not."""
    from migrator.knowledge import istio_minors

    try:
        v = Version(version)
    except ValueError:
        return False
    if v.major != 1 or v.minor < 10:
        return False
    known = istio_minors()
    newest = Version(known[-1]) if known else None
    return newest is None or Version(f"{v.major}.{v.minor}") <= newest


def _control_planes(inv: Inventory, attribution: dict, envs: list, ambiguous: set[str]) -> list[ControlPlane]:
    planes: dict[tuple, ControlPlane] = {}
    for inst in inv.installs:
        if is_sample(inst.path) and inst.path not in attribution:
            continue
        for env in attribution.get(inst.path, (None,)):
            cp = planes.setdefault((env, inst.revision), ControlPlane(env, inst.revision, []))
            if inst not in cp.installs:
                cp.installs.append(inst)
    for env in envs:
        if not any(k[0] == env for k in planes):
            planes[(env, "")] = ControlPlane(env, "", [])
    for cp in planes.values():
        _resolve_version(cp, inv, attribution, ambiguous, planes)
    return sorted(planes.values(), key=lambda c: (c.env is not None, c.env or "", c.revision))


def _resolve_version(cp: ControlPlane, inv: Inventory, attribution: dict, ambiguous: set[str], planes: dict) -> None:
    """The control plane's version: its own istiod pins, else the data-plane pins of its environment."""
    revisions = {k[1] for k in planes if k[0] == cp.env}
    mine = [p for p in inv.pins if p.product == "istio" and cp.env in attribution.get(p.path, (None,)) and p.path not in ambiguous]
    for p in [p for p in mine if is_sample(p.path) and p.path not in attribution]:
        cp.assumptions.append(f"pin {p.raw or p.version} ({p.path}:{p.line}) is in a sample folder; not used as the version")
    mine = [p for p in mine if not (is_sample(p.path) and p.path not in attribution)]
    if len(revisions) > 1:
        own_files = cp.paths
        control = [p for p in mine if p.component in _CONTROL_COMPONENTS and p.path in own_files]
    else:
        control = [p for p in mine if p.component in _CONTROL_COMPONENTS]
    data = [p for p in mine if p.component not in _CONTROL_COMPONENTS and p.component != "revision"]
    labels = [p for p in mine if p.component == "revision" and (len(revisions) == 1 or _rev_matches(p, cp.revision))]
    where = f" ({cp.name})" if cp.env is not None or cp.revision else ""
    for pool, what in ((control, "istiod"), (data, "data-plane"), (labels, "revision label")):
        releases = [p for p in pool if is_release(p.version)]
        for p in pool:
            if p not in releases:
                cp.assumptions.append(f"pin {p.raw or p.version} ({p.path}:{p.line}) is not an Istio release the knowledge base knows; not used as the version")
        if not releases:
            continue
        versions = sorted({Version(p.version) for p in releases})
        cp.version, cp.pins = versions[0], sorted(releases, key=lambda p: (Version(p.version), p.path, p.line))
        if what != "istiod":
            cp.assumptions.append(f"no istiod pin{where}; Istio version {versions[0]} taken from {what} pins")
        if len(versions) > 1:
            listed = ", ".join(f"{p.version} ({p.path}:{p.line})" for p in cp.pins)
            cp.assumptions.append(f"Istio pins disagree{where}: {listed}; rules use the lowest, {versions[0]}")
        return


def _rev_matches(pin: Pin, revision: str) -> bool:
    return bool(revision) and pin.raw == revision


def attach(proxy_revision: str, env: str | None, topo: Topology, namespace_rev: str = "") -> ControlPlane | None:
    """The control plane a proxy talks to: its revision's in its environment, else the default one."""
    planes = topo.planes_of(env)
    rev = proxy_revision or namespace_rev
    for cp in planes:
        if rev and cp.revision == rev:
            return cp
    for cp in planes:
        if not cp.revision:
            return cp
    return planes[0] if planes else None
