"""The scan pipeline: discover → read → (prefilter) → load → collect → views → rules → suppressions.

One function per arrow.  The per-file part (read, prefilter, parse, collect) is independent for
every file, so it streams — peak memory follows the largest file, not the repository — and can run
in worker processes with --jobs.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from migrator.discover import Candidate, discover, read_regular
from migrator.documents import HELM_TEMPLATE, decode, load_text
from migrator.inventory import Inventory, collect
from migrator.mesh import MeshView, build_views
from migrator.model import Finding, Problem, ScanOptions
from migrator import rules as rules_mod
from migrator import shapes
from migrator.isolate import collect_isolated

#: bytes that every file that can matter contains; the rest are never parsed (yaml-editing.md §4)
PREFILTER = re.compile(rb"istio|spiffe|spire|kind:\s*(?:Role|RoleBinding|ClusterRole|ClusterRoleBinding|List)\b")
#: the same test, literal words first: `bytes in` scans several times faster than the regex engine,
#: and most files that do not matter contain none of them (bench/RESULTS.md)
_PREFILTER_WORDS = (b"istio", b"spiffe", b"spire")
_PREFILTER_KINDS = re.compile(rb"kind:\s*(?:Role|RoleBinding|ClusterRole|ClusterRoleBinding|List)\b")


def may_matter(raw: bytes) -> bool:
    """`PREFILTER.search(raw)`, faster: can this file hold anything the inventory reads?"""
    return any(w in raw for w in _PREFILTER_WORDS) or _PREFILTER_KINDS.search(raw) is not None
STDIN = "-"


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

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "error"]

    @property
    def skipped(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "skipped"]

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if not f.suppressed]


def process_text(path: str, raw: bytes, max_bytes: int) -> FileOutcome:
    """Decode, prefilter, parse and collect one file; never raises for bad input."""
    if b"{{" in raw and "/templates/" in f"/{path}":
        return FileOutcome(path, Inventory(), [Problem(path, HELM_TEMPLATE, kind="skipped")], False)
    text, problem = decode(path, raw, max_bytes)
    if problem:
        return FileOutcome(path, Inventory(), [problem], False)
    if not may_matter(raw) and not _alias_heavy(raw):
        return FileOutcome(path, Inventory(), [], False)
    loaded = load_text(path, text)
    documents, shape_problems = shapes.admit(loaded.documents)  # wrong shapes never reach the inventory
    inventory, internal = collect_isolated(path, text, documents, collect)
    return FileOutcome(path, inventory, loaded.problems + shape_problems + internal, True, len(loaded.documents))


def _alias_heavy(raw: bytes) -> bool:
    """Alias-heavy files are parsed even when irrelevant, so an alias bomb is reported, not ignored."""
    return b"&" in raw and raw.count(b"*") > 64


def process_candidate(args: tuple[Candidate, int]) -> FileOutcome:
    cand, max_bytes = args
    try:
        raw = read_regular(cand.abspath)
    except OSError as exc:
        reason = "symlink loop" if getattr(exc, "errno", None) == 40 else (exc.strerror or str(exc))
        return FileOutcome(cand.relpath, Inventory(), [Problem(cand.relpath, f"cannot read: {reason}")], False)
    return process_text(cand.relpath, raw, max_bytes)


def _outcomes(candidates: list[Candidate], options: ScanOptions, progress: Callable[[int], None] | None):
    work = [(c, options.max_file_bytes) for c in candidates]
    jobs = options.jobs if options.jobs > 0 else (os.cpu_count() or 1)
    if jobs > 1 and len(work) >= 64:
        import multiprocessing

        ctx = multiprocessing.get_context("fork") if hasattr(os, "fork") else multiprocessing.get_context()
        with ctx.Pool(jobs) as pool:
            for outcome in pool.imap(process_candidate, work, chunksize=16):
                if progress:
                    progress(1)
                yield outcome
        return
    for item in work:
        outcome = process_candidate(item)
        if progress:
            progress(1)
        yield outcome


def scan(paths: list[str], options: ScanOptions, *, progress_factory=None) -> ScanResult:
    """Scan files/directories (or stdin as "-") and return findings with everything behind them."""
    inventory = Inventory()
    problems: list[Problem] = []
    files_read = files_parsed = 0
    stdin_text = None
    if paths == [STDIN]:
        raw = sys.stdin.buffer.read()
        stdin_text = raw.decode("utf-8", errors="replace")
        outcome = process_text("<stdin>", raw, options.max_file_bytes)
        root = Path.cwd()
        outcomes = [outcome]
    else:
        root, candidates, discover_problems = discover(paths, options.excludes)
        problems.extend(discover_problems)
        progress = progress_factory(len(candidates)) if progress_factory else None
        outcomes = _outcomes(candidates, options, progress)
    for outcome in outcomes:
        files_read += 1
        files_parsed += int(outcome.parsed)
        inventory.merge(outcome.inventory)
        problems.extend(outcome.problems)
    views = build_views(inventory, options)
    selected = rules_mod.select(options.rules_enabled, options.rules_disabled)
    findings = rules_mod.run(views, selected, options.severity_overrides, problems=problems)
    apply_suppressions(findings, inventory)
    problems.sort(key=lambda p: (p.path, p.line or 0))
    return ScanResult(root, options, inventory, views, findings, problems, files_read, files_parsed, stdin_text)


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
