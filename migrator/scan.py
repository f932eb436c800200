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
from typing import Any, Callable, Iterable

from migrator.discover import Candidate, discover, read_regular
from migrator.documents import decode, load_text
from migrator.inventory import Inventory, collect
from migrator.mesh import MeshView, build_views
from migrator.topology import Topology, build as build_topology
from migrator.model import Finding, Problem, ScanOptions
from migrator import rules as rules_mod
from migrator import shapes
from migrator.isolate import collect_isolated
from migrator.kindgate import (HEADER_ONLY_KINDS, IGNORED_KINDS, document_kinds, ignored_kind_only, plain_enough,
                               reduced_text, well_formed)

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


def process_text(path: str, raw: bytes, max_bytes: int, abspath: "Path | str | None" = None) -> FileOutcome:
    """Decode, prefilter, parse and collect one file; never raises for bad input.  `abspath` (where the
    file is on disk) matters only to chart templates: a Path is made for those alone."""
    if b"{{" in raw and _is_template(path):  # a Helm chart template: rendered line for line
        where = Path(abspath) if abspath is not None else None
        return FileOutcome(path, *_templates().scan_template(path, raw, where, max_bytes))
    plain = _plain_ascii(raw, max_bytes)  # decode would accept it: the gates may run before the text is built
    gate = _gate(raw, path) if plain else None
    if gate is SKIP:
        return FileOutcome(path, _EMPTY, [], False)
    text, problem = decode(path, raw, max_bytes)
    if problem:
        return FileOutcome(path, _EMPTY, [problem], False)
    if not plain:
        gate = _gate(raw, path)
        if gate is SKIP:
            return FileOutcome(path, _EMPTY, [], False)
    loaded = _reduced_read(path, raw, text) if gate is REDUCE else None
    if loaded is None:
        loaded = load_text(path, text)
    documents, shape_problems = shapes.admit(loaded.documents)  # wrong shapes never reach the inventory
    inventory, internal = collect_isolated(path, text, documents, collect)
    return FileOutcome(path, inventory, loaded.problems + shape_problems + internal, True, len(loaded.documents))


SKIP, REDUCE = "skip", "reduce"
#: the inventory of every file that contributed nothing (most of a repository; merge only reads it,
#: and _scan does not even do that): one shared instance, not fifteen empty lists a skipped file
_EMPTY = Inventory()


def _gate(raw: bytes, path: str) -> str | None:
    """SKIP when nothing in this file can reach the inventory (the byte prefilter, then the ignored-kind
    gate); REDUCE when some documents need not be read, or only by their header (kindgate.reduced_text);
    None: read it all."""
    if not may_matter(raw, path) and not _alias_heavy(raw):
        return SKIP
    if not KIND_GATE:
        return None
    kinds = document_kinds(raw)
    if kinds is None:
        return None
    if ignored_kind_only(raw, kinds) and well_formed(raw):
        return SKIP
    if any(k in IGNORED_KINDS or k in HEADER_ONLY_KINDS for k in kinds) and plain_enough(raw):
        return REDUCE
    return None


def _reduced_read(path: str, raw: bytes, text: str):
    """The file read with what nothing reads blanked (kindgate.reduced_text), or None for the full
    read: any doubt (a line the gate does not understand, a syntax error anywhere, documents that do
    not read back as the kinds expected) takes the full path, which reports what there is to report."""
    reduced = reduced_text(text)
    if reduced is None or not well_formed(raw):
        return None
    body, kinds = reduced
    loaded = load_text(path, body)
    if loaded.problems or tuple(d.kind for d in loaded.documents if isinstance(d.data, dict)) != kinds:
        return None
    return loaded


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
    return process_text(cand.relpath, raw, max_bytes, cand.abspath_text)


def _outcomes(candidates: list[Candidate], options: ScanOptions, progress: Callable[[int], None] | None):
    """Each candidate's outcome, in order.  Consumes `candidates`: the serial read sets each entry to
    None once read (a candidate is ~56 bytes, alive until then only through this list)."""
    jobs = options.jobs if options.jobs > 0 else (os.cpu_count() or 1)
    if jobs > 1 and len(candidates) >= 64:
        yield from _parallel(candidates, options.max_file_bytes, jobs, progress)
        return
    for i in range(len(candidates)):  # serial: one work item at a time (a list of them was 56 bytes a file for the whole read)
        c, candidates[i] = candidates[i], None  # and each candidate freed once read: the list is the caller's last reference
        outcome = process_candidate((c, options.max_file_bytes))
        if progress:
            progress(1)
        yield outcome


def _parallel(candidates: list[Candidate], max_bytes: int, jobs: int, progress: Callable[[int], None] | None):
    """The outcomes of `candidates` from this process and forked workers, in their order (findings
    never depend on --jobs).

    Large files first, largest first, handed out as the processes become free (migrator/parallel.py):
    a repository's big files sit together (one directory of dashboards), and in order they all landed
    with one process while the other idled.  The other files follow in file order, so their results
    are merged as they arrive: sorted by size, every result waited for the last one (bench/RESULTS.md
    "Memory", third round).  This process works too.  A waiting result is a file's non-empty facts,
    packed (a file that contributed nothing is its `parsed` flag alone); a worker's strings are shared
    again on arrival, and each result and candidate is dropped once merged.

    Chart templates are this process's alone (`parent_only`): it holds the release search started
    after discovery (helmtemplate.start_release_search) and takes it at the first template, so the
    search runs while every process reads, and no worker runs one of its own.
    """
    from migrator.parallel import map_shared

    order = _work_order(candidates)
    waiting: dict[int, Any] = {}  # results not merged yet, by file index (few: they arrive nearly in order)

    def one(k: int):
        return _compact(process_candidate((candidates[order[k]], max_bytes)))

    def template(k: int) -> bool:  # asked in the workers, whose copy of `candidates` is never changed
        return _is_template(candidates[order[k]].relpath)

    merged = 0  # every index below this one has been merged (and dropped)
    for k, outcome in map_shared(len(order), one, jobs, parent_only=template):
        i = order[k]
        if isinstance(outcome, tuple):
            Inventory.share_packed(outcome[3], candidates[i].relpath)  # a worker's strings are copies; this process's are shared already
        waiting[i] = outcome
        candidates[i] = candidates[i].relpath  # done: the merge needs only its path (a candidate is 56 bytes)
        if progress:
            progress(1)
        while merged in waiting:
            yield _merged(candidates, waiting, merged)
            merged += 1
    while merged < len(candidates):  # every index was done once (parallel.map_shared)
        yield _merged(candidates, waiting, merged)
        merged += 1


#: files of at least this size are read first, largest first (see _parallel)
_LARGE_FILE = 256 * 1024


def _work_order(candidates: list[Candidate]):
    """Indexes into `candidates`: the large files by size (largest first, ties in file order), then the
    chart templates, then the rest, each in file order.

    Templates come early because only this process renders them (see _parallel): last, they were the
    parent's alone at the end while the worker idled (kubeflow/manifests: --jobs 2 fell from 1.4x to
    1.3x over serial).  After the large files, the release search has had their time to finish.
    """
    from array import array

    large, templates, rest = [], array("q"), array("q")
    for i, cand in enumerate(candidates):
        try:
            size = os.stat(cand.abspath_text).st_size
        except OSError:
            size = 0
        if size >= _LARGE_FILE:
            large.append((-size, i))
        else:
            (templates if _is_template(cand.relpath) else rest).append(i)
    large.sort()
    return array("q", (i for _, i in large)) + templates + rest


def _merged(candidates: list, waiting: dict, i: int) -> FileOutcome:
    """The outcome of file i as merge() takes it; its result and path are dropped."""
    relpath, outcome = candidates[i], waiting.pop(i)
    candidates[i] = None
    if isinstance(outcome, tuple):
        parsed, documents, problems, packed = outcome
        return FileOutcome(relpath, Inventory.unpack(packed), problems or [], parsed, documents)
    return FileOutcome(relpath, _EMPTY, [], outcome)


def _is_template(relpath: str) -> bool:
    """Might this file be a chart template (process_text renders those with `{{`)?"""
    return "/templates/" in f"/{relpath}"


def _compact(outcome: FileOutcome) -> "tuple | bool":
    """An outcome as it waits to be merged (and crosses the pipe from a worker): (parsed, documents,
    problems or None, packed inventory), or the parsed flag alone when the file gave nothing
    (Inventory.pack: only the non-empty fact lists)."""
    if not outcome.problems and outcome.inventory == _EMPTY:
        return outcome.parsed
    return (outcome.parsed, outcome.documents, outcome.problems or None, outcome.inventory.pack())


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
        if "migrator.helmtemplate" in sys.modules:  # a release search nobody needed (start_release_search)
            sys.modules["migrator.helmtemplate"].stop_release_searches()


def _scan(paths: list[str], options: ScanOptions, progress_factory) -> ScanResult:
    inventory = Inventory()
    problems: list[Problem] = []
    stdin_text = None
    held: dict[str, tuple[Candidate, str]] = {}
    _set_rendering(options.render)
    if paths == [STDIN]:
        raw = sys.stdin.buffer.read()
        stdin_text = raw.decode("utf-8", errors="replace")
        outcome = process_text("<stdin>", raw, options.max_file_bytes)
        root = Path.cwd()
        outcomes = [outcome]
        all_paths = _pack_paths(["<stdin>"])  # every path the scan saw (_pack_paths)
    else:
        root, candidates, discover_problems = discover(paths, options.excludes)
        problems.extend(discover_problems)
        # packed, not a list of every path: each candidate's own path string then goes with the
        # candidate once read (topology unpacks them, and keeps them by folder: topology.PathMap)
        all_paths = _pack_paths(c.relpath for c in candidates)
        live, held = split_live(candidates, options.includes)
        if any(_is_template(c.relpath) for c in candidates):  # chart templates may need the releases: look meanwhile
            _templates().start_release_search(os.fspath(root))  # the root scan_template asks about (helmtemplate._root_of)
        candidates = None  # `live` and `held` hold them now; the serial read frees each candidate once read
        progress = progress_factory(len(live)) if progress_factory else None
        outcomes = _outcomes(live, options, progress)
    files_read, files_parsed = _merge_outcomes(outcomes, inventory, problems)
    candidates = live = outcomes = None  # read and merged: the later stages need only the paths (packed in all_paths)
    topo = build_topology(inventory, _path_list(all_paths))
    revived = [held.pop(p)[0] for p in sorted(topo.wired_targets & held.keys())]
    if revived:  # something deploys a vendored/sample tree: it is live after all
        read, parsed = _merge_outcomes(_outcomes(revived, options, None), inventory, problems)
        files_read, files_parsed = files_read + read, files_parsed + parsed
        topo = build_topology(inventory, _path_list(all_paths))
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


def _merge_outcomes(outcomes: Iterable[FileOutcome], inventory: Inventory, problems: list[Problem]) -> tuple[int, int]:
    """Merge each file's facts and problems as it comes; (files read, files parsed).  A file that
    contributed nothing (the shared _EMPTY) has nothing to merge."""
    read = parsed = 0
    for outcome in outcomes:
        read += 1
        parsed += outcome.parsed
        if outcome.inventory is not _EMPTY:
            inventory.merge(outcome.inventory)
        problems.extend(outcome.problems)
    return read, parsed


def _pack_paths(paths: Iterable[str]) -> bytes:
    """Paths, in their order, NUL-joined (no path holds a NUL) and compressed: sorted paths share long
    prefixes, and 20,000 of them are ~50 KB so instead of ~1.7 MB as strings in a list for the whole
    read (bench/RESULTS.md "Memory", third round).  `surrogatepass`: a file name that is not UTF-8
    (os.fsdecode's lone surrogates) comes back as the same string."""
    import zlib
    from itertools import islice

    packer, parts, paths = zlib.compressobj(1), [], iter(paths)
    sep = b""
    while batch := list(islice(paths, 512)):  # in batches: one large transient string moved glibc's mmap threshold
        parts.append(packer.compress(sep + "\0".join(batch).encode("utf-8", "surrogatepass")))
        sep = b"\0"
    parts.append(packer.flush())
    return b"".join(parts)


def _path_list(packed: bytes) -> list[str]:
    """The paths _pack_paths packed, in their order."""
    import zlib

    joined = zlib.decompress(packed).decode("utf-8", "surrogatepass")
    return joined.split("\0") if joined else []


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
