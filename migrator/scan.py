"""The scan pipeline: discover → read → (prefilter) → load → collect → views → rules → suppressions.

One function per arrow.  The per-file part (read, prefilter, parse, collect) is independent for
every file, so it streams — peak memory follows the largest file, not the repository — and can run
in worker processes with --jobs.
"""

from __future__ import annotations

import gc
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from migrator.discover import Candidate, discover, read_regular
from migrator.documents import decode, load_text
from migrator.inventory import Inventory, collect
from migrator.mesh import MeshView, build_views
from migrator.topology import Topology, build as build_topology
from migrator.model import Finding, Problem, ScanOptions
from migrator import rules as rules_mod
from migrator import shapes
from migrator.isolate import collect_isolated

#: bytes that every file that can matter contains; the rest are never parsed (yaml-editing.md §4).
#: Literal words first: `bytes in` scans several times faster than the regex engine, and most files
#: that do not matter contain none of them (bench/RESULTS.md).  The istiod settings are words too: a
#: values file holding only `pilot.env.VERIFY_CERTIFICATE_AT_CLIENT` need not say "istio".
_PREFILTER_WORDS = (b"istio", b"spiffe", b"spire", b"VERIFY_CERT", b"compatibilityVersion", b"sidecarInjectorWebhook", b"meshConfig")
_PREFILTER_KINDS = re.compile(rb"kind:\s*(?:Role|RoleBinding|ClusterRole|ClusterRoleBinding|List|Kustomization|Application|ArtifactGenerator)\b")
#: kustomization files carry the wiring (topology.py) and rarely name Istio
_WIRING_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def may_matter(raw: bytes, path: str = "") -> bool:
    """Can this file hold anything the inventory reads (a prefilter word, a kind it reads, a kustomization)?"""
    return (any(w in raw for w in _PREFILTER_WORDS) or _PREFILTER_KINDS.search(raw) is not None
            or path.rsplit("/", 1)[-1] in _WIRING_NAMES)

#: kinds the inventory never reads (Collector.add): a file whose only document is one of them cannot
#: contribute anything, so it is not parsed, exactly like a file the byte prefilter drops.  In dense
#: repos these are half the files (Services labelled `istio.io/…`) and the biggest ones (dashboard
#: ConfigMaps); a ConfigMap holding a SPIRE `agent.conf`/`server.conf` or Helm `values.yaml` is read.
IGNORED_KINDS = frozenset((b"Service", b"ConfigMap", b"Secret", b"Endpoints", b"EndpointSlice", b"ServiceMonitor", b"PodMonitor",
                           b"PrometheusRule", b"PersistentVolumeClaim", b"Ingress", b"NetworkPolicy", b"PodDisruptionBudget",
                           b"HorizontalPodAutoscaler"))
_KIND_LINE = re.compile(rb"kind:[ \t]*([A-Za-z]+)[ \t]*(?:#[^\n]*)?\r?(?:\n|$)")


def ignored_kind_only(raw: bytes) -> bool:
    """Is this file one document whose top-level `kind` is one nothing reads (IGNORED_KINDS)?

    Byte-level and conservative (the caller also checks the syntax, _well_formed): exactly one column-0 `kind:` line, no document marker (`---`,
    `...`) after the first line, no `agent.conf` (SPIRE agent ConfigMaps are read), no suppression
    comment, and no anchor with aliases (an alias bomb is reported whatever its kind).  Anything
    else is parsed as before.  What the inventory gets is the same either way
    (tests/test_parse_paths.py compares both paths on every fixture and the Istio release tree).
    Only substring searches run over the whole file (multi-MB dashboards: a regex there cost more
    than the parse it saves).
    """
    at = 0 if raw.startswith(b"kind:") else raw.find(b"\nkind:") + 1
    if at == 0 and not raw.startswith(b"kind:"):
        return False
    if raw.find(b"\nkind:", at) != -1:  # a second column-0 kind: several documents, or a List
        return False
    m = _KIND_LINE.match(raw, at)
    if m is None or m.group(1) not in IGNORED_KINDS:
        return False
    if b"agent.conf" in raw or b"server.conf" in raw or b"values.y" in raw or b"mesh-migrator" in raw or (b"&" in raw and b"*" in raw):
        return False
    return b"\n---" not in raw and b"\n..." not in raw


#: tests/test_parse_paths.py turns this off to compare the gated path with a full parse
KIND_GATE = True
STDIN = "-"
#: `--render` of the current scan, for migrator.helmtemplate once the first chart template is met
_RENDER = [False]


def _templates():
    """migrator.helmtemplate, imported on the first `templates/` file with `{{`: most repos have none,
    and its import is a fifth of a small scan's start-up.  Fork workers inherit `_RENDER`."""
    mod = sys.modules.get("migrator.helmtemplate")
    if mod is None:
        from migrator import helmtemplate as mod

        mod.set_rendering(_RENDER[0])
    return mod


def _set_rendering(use_helm: bool) -> None:
    """Once per scan: the flag for a later import, and fresh caches when the module is already loaded."""
    _RENDER[0] = bool(use_helm)
    if "migrator.helmtemplate" in sys.modules:
        sys.modules["migrator.helmtemplate"].set_rendering(use_helm)


@dataclass
class FileOutcome:
    """What one file contributed; small and picklable so worker processes can return it."""

    path: str
    inventory: Inventory
    problems: list[Problem]
    parsed: bool
    documents: int = 0


@dataclass
class ScanResult:
    root: Path
    options: ScanOptions
    inventory: Inventory
    views: list[MeshView]
    findings: list[Finding]
    problems: list[Problem]
    files_read: int
    files_parsed: int
    stdin_text: str | None = None
    suppressed: list[Finding] = field(default_factory=list)
    topology: "Topology | None" = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "error"]

    @property
    def skipped(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "skipped"]

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if not f.suppressed]


def process_text(path: str, raw: bytes, max_bytes: int, abspath: Path | None = None) -> FileOutcome:
    """Decode, prefilter, parse and collect one file; never raises for bad input."""
    if b"{{" in raw and "/templates/" in f"/{path}":  # a Helm chart template: rendered line for line
        return FileOutcome(path, *_templates().scan_template(path, raw, abspath, max_bytes))
    if _plain_ascii(raw, max_bytes) and _skippable(raw, path):  # decode would accept it: no need to build the text
        return FileOutcome(path, Inventory(), [], False)
    text, problem = decode(path, raw, max_bytes)
    if problem:
        return FileOutcome(path, Inventory(), [problem], False)
    if _skippable(raw, path):
        return FileOutcome(path, Inventory(), [], False)
    loaded = load_text(path, text)
    documents, shape_problems = shapes.admit(loaded.documents)  # wrong shapes never reach the inventory
    inventory, internal = collect_isolated(path, text, documents, collect)
    return FileOutcome(path, inventory, loaded.problems + shape_problems + internal, True, len(loaded.documents))


def _skippable(raw: bytes, path: str) -> bool:
    """Nothing in this file can reach the inventory: the byte prefilter, then the kind gate."""
    if not may_matter(raw, path) and not _alias_heavy(raw):
        return True
    return KIND_GATE and ignored_kind_only(raw) and _well_formed(raw)


def _well_formed(raw: bytes) -> bool:
    """Does libyaml parse these bytes without a syntax error?  Events are checked in C and never become
    Python objects (~0.15x a CSafeLoader load), so a broken file of an ignored kind is still read the
    full way and reported (MM001), as the CLI contract says."""
    try:
        from yaml._yaml import CParser
    except ImportError:  # pragma: no cover - PyYAML without libyaml: no gate
        return False
    try:
        CParser(raw).raw_parse()
    except Exception:  # noqa: BLE001 - any complaint at all: let the full read report it
        return False
    return True


def _plain_ascii(raw: bytes, max_bytes: int) -> bool:
    """ASCII text within the size limit: documents.decode would return it without a problem."""
    return len(raw) <= max_bytes and raw.isascii() and b"\x00" not in raw


def _alias_heavy(raw: bytes) -> bool:
    """Alias-heavy files are parsed even when irrelevant, so an alias bomb is reported, not ignored."""
    return b"&" in raw and raw.count(b"*") > 64


def process_candidate(args: tuple[Candidate, int]) -> FileOutcome:
    cand, max_bytes = args
    try:
        raw = read_regular(cand.abspath_text)
    except OSError as exc:
        reason = "symlink loop" if getattr(exc, "errno", None) == 40 else (exc.strerror or str(exc))
        return FileOutcome(cand.relpath, Inventory(), [Problem(cand.relpath, f"cannot read: {reason}")], False)
    return process_text(cand.relpath, raw, max_bytes, cand.abspath)


def _outcomes(candidates: list[Candidate], options: ScanOptions, progress: Callable[[int], None] | None):
    jobs = options.jobs if options.jobs > 0 else (os.cpu_count() or 1)
    if jobs > 1 and len(candidates) >= 64:
        yield from _parallel(candidates, options.max_file_bytes, jobs, progress)
        return
    for c in candidates:  # serial: one work item at a time (a list of them was 56 bytes a file for the whole read)
        outcome = process_candidate((c, options.max_file_bytes))
        if progress:
            progress(1)
        yield outcome


def _parallel(candidates: list[Candidate], max_bytes: int, jobs: int, progress: Callable[[int], None] | None):
    """The outcomes of `candidates` from a pool of forked workers, in their order (findings never depend on --jobs).

    Largest files first, in small chunks, results taken as they come: a repository's big files sit
    together (one directory of dashboards), and in order they all landed in the last chunk, one
    worker busy and the other idle.  A file that contributed nothing comes back as its `parsed` flag
    alone, not as a pickled empty outcome.  The parent holds every result until the pool is done, so
    a result is only its non-empty facts, with their strings shared again on arrival, and the task
    list is a generator (bench/RESULTS.md "Memory").
    """
    import multiprocessing
    from array import array

    sizes = []
    for cand in candidates:
        try:
            sizes.append(os.stat(cand.abspath_text).st_size)
        except OSError:
            sizes.append(0)
    order = array("q", sorted(range(len(candidates)), key=lambda i: -sizes[i]))
    del sizes
    results: list = [None] * len(candidates)
    ctx = multiprocessing.get_context("fork") if hasattr(os, "fork") else multiprocessing.get_context()
    with ctx.Pool(jobs) as pool:
        tasks = ((i, (candidates[i], max_bytes)) for i in order)
        for i, outcome in pool.imap_unordered(_process_indexed, tasks, chunksize=_chunksize(len(candidates), jobs)):
            if isinstance(outcome, tuple):
                Inventory.share_packed(outcome[3])
            results[i] = outcome
            if progress:
                progress(1)
    for i, cand in enumerate(candidates):
        outcome, results[i] = results[i], None  # merged: the parent keeps one copy of each fact
        if isinstance(outcome, tuple):
            parsed, documents, problems, packed = outcome
            yield FileOutcome(cand.relpath, Inventory.unpack(packed), problems or [], parsed, documents)
        else:
            yield FileOutcome(cand.relpath, _EMPTY, [], outcome)


#: the inventory of a file that contributed nothing (merge only reads it)
_EMPTY = Inventory()


def _process_indexed(task: tuple[int, tuple[Candidate, int]]) -> tuple[int, "tuple | bool"]:
    """Worker side of _parallel: (index, (parsed, documents, problems or None, packed inventory)), or
    (index, parsed flag) when the file gave nothing (Inventory.pack: only the non-empty fact lists)."""
    index, item = task
    outcome = process_candidate(item)
    if not outcome.problems and outcome.inventory == _EMPTY:
        return index, outcome.parsed
    return index, (outcome.parsed, outcome.documents, outcome.problems or None, outcome.inventory.pack())


def _chunksize(files: int, jobs: int) -> int:
    """Files per task sent to a worker: about 32 tasks per worker (fewer round trips through the
    pool's pipes than one file a task, yet fine-grained enough that the workers finish together)."""
    return max(4, min(128, files // (jobs * 32)))


def scan(paths: list[str], options: ScanOptions, *, progress_factory=None) -> ScanResult:
    """Scan files/directories (or stdin as "-") and return findings with everything behind them.

    The cyclic garbage collector is paused for the scan (forked workers inherit the pause): a scan
    builds tree-shaped data that reference counting frees, while each full collection walks the whole
    growing inventory — 15 % of a scan's CPU on the bench corpus (bench/RESULTS.md).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _scan(paths, options, progress_factory)
    finally:
        if was_enabled:
            gc.enable()


def _scan(paths: list[str], options: ScanOptions, progress_factory) -> ScanResult:
    inventory = Inventory()
    problems: list[Problem] = []
    files_read = files_parsed = 0
    stdin_text = None
    all_paths: list[str] = []
    held: dict[str, tuple[Candidate, str]] = {}
    _set_rendering(options.render)
    if paths == [STDIN]:
        raw = sys.stdin.buffer.read()
        stdin_text = raw.decode("utf-8", errors="replace")
        outcome = process_text("<stdin>", raw, options.max_file_bytes)
        root = Path.cwd()
        outcomes = [outcome]
        all_paths = ["<stdin>"]
    else:
        root, candidates, discover_problems = discover(paths, options.excludes)
        problems.extend(discover_problems)
        all_paths = [c.relpath for c in candidates]
        live, held = split_live(candidates, options.includes)
        progress = progress_factory(len(live)) if progress_factory else None
        outcomes = _outcomes(live, options, progress)
    for outcome in outcomes:
        files_read += 1
        files_parsed += int(outcome.parsed)
        inventory.merge(outcome.inventory)
        problems.extend(outcome.problems)
    candidates = live = outcomes = None  # read and merged: the later stages need only the paths (~60 bytes a file)
    topo = build_topology(inventory, all_paths)
    revived = [held.pop(p)[0] for p in sorted(topo.wired_targets & held.keys())]
    if revived:  # something deploys a vendored/sample tree: it is live after all
        for outcome in _outcomes(revived, options, None):
            files_read += 1
            files_parsed += int(outcome.parsed)
            inventory.merge(outcome.inventory)
            problems.extend(outcome.problems)
        topo = build_topology(inventory, all_paths)
    problems.extend(Problem(rel, reason, kind="skipped") for rel, (_, reason) in sorted(held.items()))
    topo.forget(held)
    views = build_views(inventory, options, topo)
    selected = rules_mod.select(options.rules_enabled, options.rules_disabled)
    findings = rules_mod.run(views, selected, options.severity_overrides, problems=problems)
    if "migrator.helmtemplate" in sys.modules:  # else no resource came from a chart template
        sys.modules["migrator.helmtemplate"].mark_findings(findings, inventory)
    apply_suppressions(findings, inventory)
    problems.sort(key=lambda p: (p.path, p.line or 0))
    return ScanResult(root, options, inventory, views, findings, problems, files_read, files_parsed, stdin_text, topology=topo)


def split_live(candidates: list[Candidate], includes: tuple[str, ...]) -> tuple[list[Candidate], dict[str, tuple[Candidate, str]]]:
    """Candidates that may be live, and the vendored/sample/definition files held back with the reason."""
    from migrator.topology import included, non_live_reason, release_roots

    roots = release_roots(c.relpath for c in candidates)
    live: list[Candidate] = []
    held: dict[str, tuple[Candidate, str]] = {}
    for c in candidates:
        reason = non_live_reason(c.relpath, roots)
        if reason and not included(c.relpath, includes):
            held[c.relpath] = (c, reason + " (--include brings it back)")
        else:
            live.append(c)
    return live, held


def apply_suppressions(findings: list[Finding], inventory: Inventory) -> None:
    """Mark (never drop) findings covered by an inline comment or a resource annotation."""
    by_path: dict[str, list] = {}
    for region in inventory.suppressions:
        by_path.setdefault(region.path, []).append(region)
    for f in findings:
        for region in by_path.get(f.path, ()):
            if region.start <= f.line <= region.end and (f.rule in region.rules or "ALL" in region.rules):
                f.suppressed, f.suppression_reason = region.how, region.reason
                break
