"""`mesh-migrator pr`: verified edits as a git branch + commit (or a format-patch file) and a PR description.

The edits are the ones `fix` would write (the same remedies, the same verification gate); this module
only adds what a reviewer needs around them:

* a branch (``--branch``, default derived from the change) with one commit whose message lists every
  finding fixed, or with ``--patch FILE`` a ``git format-patch``-style file instead of a commit;
* a Markdown description modelled on Renovate's PR body: summary, findings fixed (rule ids linked to
  their help pages), the security cost of each remedy, upgrade steps and release notes when planning,
  how the change was verified (the gate and a re-scan), and how to roll it back;
* the ``gh pr create`` / ``glab mr create`` line to run.  Nothing is ever pushed.

Git is driven through ``subprocess`` with explicit argument lists.  A dirty work tree is refused
unless ``--allow-dirty`` (and even then a file with uncommitted changes is never edited, so the
commit holds exactly the verified edits).  A committer identity is passed with ``-c user.name=…
-c user.email=…`` only when git has none configured.

The wizard (migrator/wizard.py) uses the same functions: ``plan_for_choices`` for per-finding
decisions, ``verify_changes`` for the re-scan, ``render_body``/``commit_message``/``format_patch``
for the output and ``open_branch`` for the commit.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

from migrator import __version__
from migrator.discover import SAFE_GIT
from migrator.fix import quote_path
from migrator.remedies import FixContext, Refused, Remedy, build as build_remedy

GIT_TIMEOUT = 120
FALLBACK_NAME = "mesh-migrator"
FALLBACK_EMAIL = "mesh-migrator@localhost"
SUBJECT_MAX = 72
BODY_WIDTH = 72  # git's convention: `git log` indents by 4 and stays inside 80 columns
BODY_LIMIT = 60000  # GitHub rejects PR bodies over 65536 characters; GitLab's limit is larger
APPENDIX_MARK = "<!-- mesh-migrator: plan appendix -->"


class PrError(Exception):
    """A refusal the user can act on (dirty tree, not a git repo, branch exists): exit code 2."""


# ---------------------------------------------------------------------------------------------- git


@dataclass
class Git:
    """A git work tree, driven with explicit argument lists (never a shell)."""

    top: Path
    identity: tuple[str, ...] = ()  # ("-c", "user.name=…", "-c", "user.email=…") when git has none

    def run(self, *args: str, check: bool = True, input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        cmd = ["git", *SAFE_GIT, *self.identity, "-C", str(self.top), *args]
        try:  # literal pathspecs: a file named `*.yaml` or `:(glob)x` must stage that file, not a pattern's matches
            proc = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=GIT_TIMEOUT,
                                  env={**os.environ, "GIT_LITERAL_PATHSPECS": "1", **(env or {})})
        except FileNotFoundError as exc:
            raise PrError("git is not installed (needed for `pr`; `fix` works without it)") from exc
        except subprocess.TimeoutExpired as exc:
            raise PrError(f"git {' '.join(args[:2])} did not finish within {GIT_TIMEOUT}s") from exc
        if check and proc.returncode != 0:
            raise PrError(git_failure(args[0], proc.stderr or proc.stdout))
        return proc

    # -- state ------------------------------------------------------------------------------------
    def status(self) -> list[StatusEntry]:
        """Changed and untracked files (ignored files not), read from `git status --porcelain -z`.

        Why -z: without it git quotes names with non-ASCII bytes, quotes or control characters
        (`"dr-str\\303\\257pe.yaml"`), and a quoted name never equals the path the tool writes, so a
        user's edit to that file slipped past the "never edit a dirty file" check.
        """
        out = self.run("status", "--porcelain=v1", "-z", "--untracked-files=all").stdout
        return parse_status_z(out)

    def head(self) -> tuple[str | None, str]:
        """(current branch or None when detached, HEAD commit)."""
        sha = self.run("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
        if sha.returncode != 0:
            raise PrError(f"{self.top}: the repository has no commits yet; commit the manifests first")
        ref = self.run("symbolic-ref", "-q", "--short", "HEAD", check=False)
        return (ref.stdout.strip() or None) if ref.returncode == 0 else None, sha.stdout.strip()

    def branch_exists(self, name: str) -> bool:
        return self.run("rev-parse", "--verify", "-q", f"refs/heads/{name}", check=False).returncode == 0

    def valid_branch_name(self, name: str) -> bool:
        return self.run("check-ref-format", "--branch", name, check=False).returncode == 0

    def author(self) -> tuple[str, str]:
        """(name, email) git would use, or mesh-migrator's fallback when none is configured."""
        proc = self.run("var", "GIT_AUTHOR_IDENT", check=False)
        m = re.match(r"^(.*?) <([^>]*)>", proc.stdout.strip()) if proc.returncode == 0 else None
        return (m.group(1), m.group(2)) if m else (FALLBACK_NAME, FALLBACK_EMAIL)


@dataclass(frozen=True)
class StatusEntry:
    """One `git status --porcelain -z` entry: the XY code, the path and, for a rename or copy, the old path."""

    code: str
    path: str
    orig: str | None = None

    def __str__(self) -> str:
        shown = quote_path(self.path)
        return f"{self.code} {quote_path(self.orig)} -> {shown}" if self.orig else f"{self.code} {shown}"


def parse_status_z(out: str) -> list[StatusEntry]:
    """Entries are NUL-terminated `XY PATH`; a rename or copy is followed by its source path as another field."""
    fields = out.split("\0")
    entries, i = [], 0
    while i < len(fields):
        item = fields[i]
        i += 1
        if len(item) < 4:
            continue
        code, path = item[:2], item[3:]
        orig = None
        if "R" in code or "C" in code:
            orig = fields[i] if i < len(fields) else None
            i += 1
        entries.append(StatusEntry(code, path, orig))
    return entries


def git_failure(command: str, output: str) -> str:
    """One line for a failed git command: its name and git's own words, never the arguments.

    Why: the arguments of `git commit` hold the whole commit message; a hook that refuses the commit
    should be quoted, not drowned in the message it refused.
    """
    lines = [ln.strip() for ln in (output or "").strip().splitlines() if ln.strip()]
    said = "; ".join(lines[-5:])
    if len(said) > 500:
        said = said[:500] + "…"
    hint = " (pr runs your git hooks; --no-verify skips them)" if command == "commit" else ""
    return f"git {command} failed{hint}: {said or 'no output'}"


def find_git(path: Path) -> Git | None:
    """The work tree containing path (None outside git), with a fallback identity if git has none."""
    try:
        top = subprocess.run(["git", *SAFE_GIT, "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                             timeout=GIT_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return None
    if top.returncode != 0 or not top.stdout.strip():
        return None
    git = Git(Path(top.stdout.strip()))
    missing = [v for v in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT") if git.run("var", v, check=False).returncode != 0]
    if missing:
        git.identity = ("-c", f"user.name={FALLBACK_NAME}", "-c", f"user.email={FALLBACK_EMAIL}")
    return git


def dirty_message(lines: list) -> str:
    shown = "\n".join(f"  {ln}" for ln in lines[:10]) + (f"\n  … and {len(lines) - 10} more" if len(lines) > 10 else "")
    return ("the work tree has uncommitted changes; commit or stash them first so the branch holds only the verified "
            f"edits (or pass --allow-dirty):\n{shown}")


# -------------------------------------------------------------------------------------- the change


@dataclass
class Decision:
    """What to do with one finding: a strategy and the inputs it needs."""

    finding: Any
    strategy: str
    secret_name: str | None = None
    ca_bundle: str | None = None
    ca_path: str | None = None


def view_for(result, finding):
    """The MeshView a finding was raised in (the first env when several share it), as fix.py does."""
    views = {v.env: v for v in result.views}
    return views.get((finding.env or "").split(",")[0] or None) or result.views[0]


def context_for(result, finding, secret_name=None, ca_bundle=None, ca_path=None) -> FixContext:
    return FixContext(secret_name, ca_bundle, ca_path, view_for(result, finding))


def plan_for_choices(result, decisions: list[Decision]):
    """A FixPlan from one decision per finding (the wizard lets each finding have its own strategy).

    Same pipeline as `fix.plan_fixes` (build each remedy, splice, verification gate per file); only the
    choice of strategy differs.  Remedies that refuse are returned in `plan.refused`.
    """
    from migrator import fix

    remedies: list[Remedy] = []
    refused = []
    for d in decisions:
        ctx = context_for(result, d.finding, d.secret_name, d.ca_bundle, d.ca_path)
        try:
            remedies.append(build_remedy(d.strategy, d.finding, ctx))
        except Refused as exc:
            refused.append((d.finding, f"{d.strategy}: {exc}"))
    return fix.plan_remedies(result, remedies, refused)


@dataclass
class Upgrade:
    """What the upgrade planner said, reduced to what the PR body and commit need."""

    current: str | None
    target: str
    path: list[str] = field(default_factory=list)  # versions in order, e.g. ["1.23.6", "1.24.6", …]
    steps: list[str] = field(default_factory=list)  # Markdown lines (checklist items)
    release_notes: list[str] = field(default_factory=list)  # URLs
    rollback: list[str] = field(default_factory=list)
    markdown: str = ""  # the planner's own Markdown, when it renders one
    raw: Any = None  # plan.Plan
    notes: list[str] = field(default_factory=list)
    step: Any = None  # the plan.Step this change applies (the first)
    step_target: str = ""
    total_steps: int = 0
    fixed: list = field(default_factory=list)  # findings the step clears
    appear: list = field(default_factory=list)


@dataclass
class ChangeSet:
    """Everything a PR is made from: the scan, the verified plan, and the planner's upgrade if any."""

    result: Any
    plan: Any  # fix.FixPlan
    label: str  # strategy name(s) or "istio-1.26": used for the branch name and the subject
    upgrade: Upgrade | None = None
    options: Any = None  # ScanOptions, for the re-scan
    paths: list[str] = field(default_factory=list)  # what was scanned (for the re-scan)

    @property
    def applied(self) -> list[Remedy]:
        """Remedies whose every file passed the gate and changes something."""
        bad = {fp.path for fp in self.plan.failed}
        return [r for r in self.plan.remedies if r.changes and not any(ch.path in bad for ch in r.changes)]

    @property
    def partial(self) -> list[tuple[Remedy, list[str]]]:
        bad = {fp.path: fp.problem for fp in self.plan.failed}
        out = []
        for r in self.plan.remedies:
            probs = [f"{ch.path}: {bad[ch.path]}" for ch in r.changes if ch.path in bad]
            if probs:
                out.append((r, probs))
        return out

    @property
    def deferred(self) -> list[Remedy]:
        """Remedies without edits (strategy upgrade): the fix is the planner's job."""
        return [r for r in self.plan.remedies if not r.changes]

    @property
    def fixed(self) -> list:
        """Findings this change is meant to clear: remedies applied, or those the upgrade step clears."""
        return [r.finding for r in self.applied] + (list(self.upgrade.fixed) if self.upgrade else [])

    @property
    def rules(self) -> list[str]:
        return sorted({f.rule for f in self.fixed})

    def repo_path(self, rel: str) -> str:
        return self.plan.repo_prefix + rel


# ----------------------------------------------------------------------------------- verification


@dataclass
class Verification:
    schema_minor: str | None
    gone: list[Any] = field(default_factory=list)  # fixed findings the re-scan no longer reports
    still: list[Any] = field(default_factory=list)  # fixed findings the re-scan still reports
    new: list[Any] = field(default_factory=list)  # findings the re-scan reports that were not there before
    error: str | None = None


def finding_identity(f) -> tuple:
    """Identity of a finding across scans: lines move when an edit adds keys above it."""
    d = f.details or {}
    return (f.rule, f.resource, f.path, tuple(map(str, d.get("tls_path", ()))), str(d.get("server", "")))


def schema_version(changes_or_result) -> str | None:
    """The Istio version the gate validated for (see schema_minor)."""
    up = getattr(changes_or_result, "upgrade", None)
    result = getattr(changes_or_result, "result", changes_or_result)
    if up is not None and up.step_target:
        return up.step_target
    known = sorted(v.istio for v in result.views if v.istio is not None)
    return str(known[0]) if known else None


def schema_minor(changes_or_result) -> str | None:
    """The CRD schema minor the verification gate validated against, computed the way the gate does:
    fix._validator takes the oldest of the views' Istio versions; the planner validates
    a step against its target version."""
    from migrator.crds import schema_minor_for

    try:
        return schema_minor_for(schema_version(changes_or_result))
    except (ValueError, KeyError, OSError):
        return None


def verify_changes(changes: ChangeSet, *, on_disk: bool = False) -> Verification:
    """Re-scan with the edits in place: on the real tree (after writing) or a temporary copy."""
    from migrator.scan import scan

    ver = Verification(schema_minor(changes))
    root = changes.result.root
    tmp = None
    try:
        if on_disk:
            paths = changes.paths or [str(root)]
        else:
            tmp = Path(tempfile.mkdtemp(prefix="mesh-migrator-verify-"))
            copy = tmp / "tree"
            shutil.copytree(root, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
            for fp in changes.plan.pending:
                target = copy / fp.path
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_symlink():  # an absolute link in the copy points back into the real tree
                    target.unlink()
                target.write_bytes(fp.new.encode("utf-8"))
            paths = [str(copy / Path(p).resolve().relative_to(root)) if _inside(p, root) else str(copy)
                     for p in (changes.paths or [str(root)])]
        after = scan(paths, changes.options or changes.result.options)
    except Exception as exc:  # noqa: BLE001 - the re-scan is evidence for the PR body, never a reason to crash
        ver.error = f"{type(exc).__name__}: {exc}"
        return ver
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    now = {finding_identity(f) for f in after.active}
    before = {finding_identity(f) for f in changes.result.active}
    for f in changes.fixed:
        (ver.still if finding_identity(f) in now else ver.gone).append(f)
    ver.new = [f for f in after.active if finding_identity(f) not in before]
    return ver


def _inside(p: str, root: Path) -> bool:
    try:
        Path(p).resolve().relative_to(root)
        return True
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------ naming


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "change"


def default_branch(changes: ChangeSet) -> str:
    """`mesh-migrator/mm101-credential-name`, `mesh-migrator/istio-1.26`."""
    if changes.upgrade:
        return f"mesh-migrator/istio-{_slug(changes.upgrade.step_target or changes.upgrade.target)}"
    rules = "-".join(r.lower() for r in changes.rules) or "fix"
    return f"mesh-migrator/{_slug(rules + '-' + changes.label)}"[:100].rstrip("-.")


def _strategies(changes: ChangeSet) -> list[str]:
    return sorted({r.strategy for r in changes.applied})


def subject(changes: ChangeSet) -> str:
    if changes.upgrade:
        up = changes.upgrade
        cur = f"{up.current} → " if up.current else ""
        text = f"mesh-migrator: upgrade Istio {cur}{up.step_target or up.target}"
    else:
        n = len(changes.applied)
        text = f"mesh-migrator: fix {', '.join(changes.rules)} with {', '.join(_strategies(changes))} ({n} finding{'s' if n != 1 else ''})"
    return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 1] + "…"


def commit_message(changes: ChangeSet, ver: Verification | None = None) -> tuple[str, str]:
    """(subject, body): the body lists every finding fixed with its rule id and remedy."""
    lines = []
    if changes.upgrade:
        up = changes.upgrade
        lines.append(f"Upgrade Istio {up.current or '(unknown)'} to {up.step_target or up.target}"
                     + (f" (step 1 of {up.total_steps} towards {up.target}: {' → '.join(up.path)})" if up.total_steps > 1 else "") + ".")
        if up.step is not None:
            lines.append("")
            lines.append("Pins changed:")
            for e in up.step.edits:
                lines.append(f"- {quote_path(changes.repo_path(e.pin.path))}:{e.pin.line} {e.pin.source}: {e.old} -> {e.new}")
        if up.fixed:
            lines.append("")
            lines.append("Findings cleared by this version:")
            for f in up.fixed:
                lines.append(f"- {f.rule} {_one_line(f.resource)} ({quote_path(changes.repo_path(f.path))}:{f.line})")
        lines.append("")
    if changes.applied:
        lines.append("Findings fixed:")
        for r in changes.applied:
            f = r.finding
            lines.append(f"- {f.rule} {_one_line(f.resource)} ({quote_path(changes.repo_path(f.path))}:{f.line}): {r.strategy}: {_one_line(r.summary)}")
        lines.append("")
        costs = _costs(changes.applied)
        lines.append("Security cost:" if len(costs) == 1 else "Security costs:")
        lines += [f"- {strategy}: {cost}" for strategy, cost in costs]
        lines.append("")
    if ver is not None:
        checks = (f"Verified by mesh-migrator {__version__}: YAML 1.1/1.2 re-parse, the new trees equal to the old with "
                  f"the intended changes applied (type-strict), CRD schema of Istio {ver.schema_minor or 'unknown'}")
        if not ver.error and changes.fixed:
            checks += f"; the re-scan no longer reports {len(ver.gone)} of the {len(changes.fixed)} targeted findings"
        lines.append(checks + ".")
    body = "\n".join(_wrap_commit(ln) for ln in lines).strip() + "\n"
    return subject(changes), body


def _one_line(text) -> str:
    """Names from the repository may hold control characters; in a commit message they stay on one line."""
    return "".join(c if c >= " " and c != "\x7f" else repr(c)[1:-1] for c in str(text))


def _costs(applied) -> list[tuple[str, str]]:
    """(strategy, security cost) once each: the same cost for several hosts is one line naming them all.

    Remedies phrase a cost as "<what is lost> (<host>)"; ten findings fixed one way have one cost.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for r in applied:
        m = re.match(r"^(.*\S)\s+\(([^()]*)\)$", r.security_cost or "")
        base, subject_ = (m.group(1), m.group(2)) if m else (r.security_cost, "")
        subjects = groups.setdefault((r.strategy, base), [])
        if subject_ and subject_ not in subjects:
            subjects.append(subject_)
    return [(strategy, f"{base} ({', '.join(subjects)})" if subjects else base) for (strategy, base), subjects in groups.items()]


def _wrap_commit(line: str, width: int = BODY_WIDTH) -> str:
    """Wrap a commit-body line at 72 columns (git log indents by 4); list items hang under their text.

    Words are never broken, so a URL or a path longer than the width stays whole on its own line.
    """
    import textwrap

    if len(line) <= width:
        return line
    indent = "  " if line.startswith("- ") else ""
    return textwrap.fill(line, width=width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


# --------------------------------------------------------------------------------------- Markdown


def _cell(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: Any) -> str:
    t = str(text).replace("`", "'")
    return f"`{t}`"


def rule_link(rule: str) -> str:
    from migrator.rules import catalog

    meta = catalog().get(rule)
    return f"[{rule}]({meta.help_uri})" if meta and meta.help_uri else rule


def diffstat(plan) -> list[tuple[str, int, int, bool]]:
    """(repo path, lines added, lines removed, new file) for every pending file."""
    import difflib

    out = []
    for fp in plan.pending:
        added = removed = 0
        for ln in difflib.unified_diff(fp.old.splitlines(), fp.new.splitlines(), lineterm="", n=0):
            if ln.startswith("+") and not ln.startswith("+++"):
                added += 1
            elif ln.startswith("-") and not ln.startswith("---"):
                removed += 1
        out.append((plan.repo_prefix + fp.path, added, removed, fp.is_new))
    return out


def render_body(changes: ChangeSet, ver: Verification | None, *, commit: str | None = None, branch: str | None = None,
                patch_file: str | None = None) -> str:
    """The PR description: Renovate's PR body is the bar (what, why, risk, how verified, how to undo)."""
    from migrator.rules import catalog

    metas = catalog()
    plan = changes.plan
    out: list[str] = []
    # -- summary
    out += ["## Summary", ""]
    if changes.upgrade:
        up = changes.upgrade
        out.append(f"Upgrades Istio from **{up.current or 'an unknown version'}** to **{up.step_target or up.target}**"
                   + (f", step 1 of {up.total_steps} on the supported path to {up.target}: {' → '.join(_code(v) for v in up.path)}"
                      if up.total_steps > 1 else "") + ".")
        if up.fixed:
            out.append(f"At {up.step_target or up.target} these findings no longer apply: "
                       + ", ".join(f"{rule_link(f.rule)} {_code(f.resource)}" for f in up.fixed) + ".")
    n = len(changes.applied)
    if n:
        out.append(f"Fixes **{n} finding{'s' if n != 1 else ''}** ({', '.join(rule_link(r) for r in changes.rules)}) that an "
                   f"Istio/SPIRE version boundary breaks, with the remedy {', '.join(_code(s) for s in _strategies(changes))}. "
                   f"Every edit is a minimal splice of the original file that passed mesh-migrator's verification gate.")
    versions = "; ".join(f"{('`' + v.env + '`: ') if v.env else ''}Istio {v.istio or 'unknown'}, SPIRE {v.spire or 'none found'}"
                         for v in changes.result.views)
    if versions:
        out.append("")
        out.append(f"Versions found in the repository: {versions}.")
    out.append("")
    # -- findings fixed
    if changes.applied:
        out += ["## Findings fixed", "", "| Rule | Severity | Resource | Where | Remedy |", "|---|---|---|---|---|"]
        for r in changes.applied:
            f = r.finding
            out.append(f"| {rule_link(f.rule)} | {f.severity} | {_code(f.resource)} | {_code(changes.repo_path(f.path) + ':' + str(f.line))} "
                       f"| {_code(r.strategy)}: {_cell(r.summary)} |")
        out.append("")
        for rule in changes.rules:
            meta = metas.get(rule)
            if not meta:
                continue
            out.append(f"<details><summary><b>{rule}</b>: {_cell(meta.title)}</summary>")
            out.append("")
            out.append(meta.explanation)
            out.append("")
            out.append("Sources: " + " · ".join(f"<{s}>" for s in meta.sources))
            out.append("")
            out.append("</details>")
            out.append("")
        # -- security
        out += ["## Security cost of each remedy", ""]
        for strategy, cost in _costs(changes.applied):
            out.append(f"- **{strategy}**: {cost}")
        out.append("")
        notes = [(r, n_) for r in changes.applied for n_ in r.notes]
        if notes:
            out += ["## Before merging", ""]
            for r, note in notes:
                out.append(f"- [ ] {note} ({_code(r.finding.resource)})")
            out.append("")
    # -- not fixed
    not_fixed = [(f, why) for f, why in plan.refused] + [(r.finding, "; ".join(p)) for r, p in changes.partial]
    not_fixed += [(f, "needs a decision (pass --strategy)") for f in plan.undecided]
    if not_fixed or changes.deferred:
        out += ["## Not fixed by this PR", ""]
        for f, why in not_fixed:
            out.append(f"- {rule_link(f.rule)} {_code(f.resource)} ({_code(changes.repo_path(f.path) + ':' + str(f.line))}): {_cell(why)}")
        for r in changes.deferred:
            f = r.finding
            out.append(f"- {rule_link(f.rule)} {_code(f.resource)}: {_code(r.strategy)}: {_cell(r.summary)}")
        out.append("")
    # -- upgrade
    if changes.upgrade:
        up = changes.upgrade
        out += ["## Upgrade steps", ""]
        out += up.steps or ["_The planner returned no steps: every pin is already at the target._"]
        out.append("")
        for note in up.notes:
            out.append(f"- {note}")
        if up.notes:
            out.append("")
        if up.release_notes:
            out += ["### Release notes", ""] + [f"- <{u}>" for u in up.release_notes] + [""]
        if up.markdown and up.total_steps > 1:
            out.append(APPENDIX_MARK)
    # -- files
    stats = diffstat(plan)
    if stats:
        out += ["## Files changed", "", "| File | Change |", "|---|---|"]
        for path, add, rem, new in stats:
            out.append(f"| {_code(path)} | {'new file, ' if new else ''}+{add} −{rem} |")
        out.append("")
    # -- verification
    out += ["## How this was verified", ""]
    out.append("- Edits splice only the changed byte ranges of the original files (comments, quoting and indentation "
               "elsewhere are untouched); the file on disk had the bytes that were read.")
    out.append("- Each rewritten file was re-parsed as YAML 1.1 and YAML 1.2, and each new tree was equal, types "
               "included, to the old tree with the intended changes applied: exactly those changes and nothing else "
               "(any difference would have been explained by deepdiff, and the file refused).")
    minor = ver.schema_minor if ver else schema_minor(changes)
    version = schema_version(changes)
    why = ""
    if version is None:
        why = " (the newest bundled schema: the Istio version is unknown)"
    elif minor and not version.startswith(minor + "."):
        why = f" (the nearest bundled schema at or below {version}: older schemas know fewer fields, so nothing newer slips through)"
    out.append(f"- Changed Istio resources validate against the CRD schema (openAPIV3Schema) of **Istio {minor or 'unknown'}**{why}.")
    if ver is not None:
        if ver.error:
            out.append(f"- Re-scan with the edits in place could not run: {_cell(ver.error)}.")
        else:
            gone = ", ".join(sorted({f.rule for f in ver.gone})) or "none"
            if changes.fixed:
                out.append(f"- Re-scan with the edits in place: {len(ver.gone)} of the {len(changes.fixed)} findings this change "
                           f"targets are no longer reported ({gone}).")
            for f in ver.still:
                out.append(f"  - still reported: {f.rule} {_code(f.resource)}")
            for f in ver.new:
                out.append(f"  - newly reported: {rule_link(f.rule)} {_code(f.resource)} ({_code(changes.repo_path(f.path) + ':' + str(f.line))}): {_cell(f.message)}")
    out.append("- Locally: `mesh-migrator scan " + (changes.plan.repo_prefix.rstrip("/") or ".") + "` on this branch.")
    out.append("")
    # -- rollback
    out += ["## Rollback", ""]
    if commit:
        out.append(f"- Revert the commit: `git revert {commit[:12]}` (or revert this PR); Argo CD / Flux sync the previous manifests.")
    elif patch_file:
        out.append(f"- Before merging: `git apply -R {patch_file}`; after merging: `git revert <merge commit>`.")
    else:
        out.append("- `git revert` the commit (or revert this PR).")
    if changes.upgrade and changes.upgrade.rollback:
        out += [f"- Planner: {ln}" for ln in changes.upgrade.rollback]
    out.append("")
    # -- footer + machine-readable trailer (re-runs can find and update the same PR)
    out.append(f"<sub>Generated by mesh-migrator {__version__}" + (f" on branch {_code(branch)}" if branch else "")
               + ". Nothing was pushed. `mesh-migrator explain RULE` prints a rule's full explanation.</sub>")
    meta = {"tool": "mesh-migrator", "version": __version__, "branch": branch,
            "findings": [{"rule": r.finding.rule, "resource": r.finding.resource, "path": changes.repo_path(r.finding.path),
                          "strategy": r.strategy} for r in changes.applied],
            "upgrade": changes.upgrade.target if changes.upgrade else None}
    out.append("")
    out.append("<!-- mesh-migrator-data: " + base64.b64encode(json.dumps(meta, sort_keys=True).encode()).decode() + " -->")
    text = "\n".join(out) + "\n"
    if APPENDIX_MARK in text:  # the whole plan, unless it would push the body past the hosts' size limit
        up = changes.upgrade
        appendix = "\n".join(["<details><summary>The whole upgrade plan (mesh-migrator plan)</summary>", "", up.markdown.strip(), "",
                               "</details>", ""])
        if len(text) + len(appendix) > BODY_LIMIT:
            appendix = f"The whole plan is too long for a PR description: run `mesh-migrator plan --to {up.target}`.\n"
        text = text.replace(APPENDIX_MARK, appendix)
    return text


# ---------------------------------------------------------------------------------------- patches


def format_patch(changes: ChangeSet, ver: Verification | None, author: tuple[str, str], *, date: str | None = None) -> str:
    """A `git format-patch`-style mbox: From/Date/Subject headers, message, diffstat, the verified diff.

    `git apply` reads only the diff part; `git am` takes the headers as the commit's author and message.
    """
    from migrator.fix import render_diff

    subj, body = commit_message(changes, ver)
    stats = [(quote_path(p), a, r, new) for p, a, r, new in diffstat(changes.plan)]  # a newline in a name stays quoted
    width = max((len(p) for p, *_ in stats), default=0)
    stat_lines = [f" {p.ljust(width)} | {a + r:>3} {'+' * min(a, 40)}{'-' * min(r, 40)}" for p, a, r, _ in stats]
    ins, dels = sum(a for _, a, _, _ in stats), sum(r for _, _, r, _ in stats)
    stat_lines.append(f" {len(stats)} file{'s' if len(stats) != 1 else ''} changed, {ins} insertion{'s' if ins != 1 else ''}(+), "
                      f"{dels} deletion{'s' if dels != 1 else ''}(-)")
    created = [p for p, _, _, new in stats if new]
    stat_lines += [f" create mode 100644 {p}" for p in created]
    diff = render_diff(changes.plan, header=False)
    # a message line that looks like a diff would confuse `git apply`; the message never has one, but be sure
    safe_body = "\n".join(("  " + ln if ln.startswith(("diff --git", "--- ", "+++ ", "Index: ")) else ln) for ln in body.splitlines())
    name, email = author
    return (f"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
            f"From: {name} <{email}>\n"
            f"Date: {date or formatdate(localtime=True)}\n"
            f"Subject: [PATCH] {subj}\n\n"
            f"{safe_body}\n---\n" + "\n".join(stat_lines) + "\n\n" + diff + f"-- \nmesh-migrator {__version__}\n\n")


# -------------------------------------------------------------------------------------- branching


@dataclass
class Opened:
    branch: str
    base: str | None  # the branch we started from (None when detached)
    base_sha: str
    commit: str


def check_clean(git: Git, changes: ChangeSet, allow_dirty: bool) -> None:
    """Refuse a dirty tree (unless allowed); never touch a file that has uncommitted changes."""
    dirty = git.status()
    if dirty and not allow_dirty:
        raise PrError(dirty_message(dirty))
    touched = {changes.repo_path(fp.path) for fp in changes.plan.pending}
    conflicts = [e for e in dirty if e.path in touched or e.orig in touched]
    if conflicts:
        raise PrError("these files would be edited but have uncommitted changes; commit or stash them first:\n"
                      + "\n".join(f"  {e}" for e in conflicts))


def check_written(git: Git, changes: ChangeSet) -> None:
    """Each file to be staged holds exactly the bytes the tool wrote (nothing else is staged: see open_branch)."""
    for fp in changes.plan.pending:
        try:
            on_disk = (git.top / changes.repo_path(fp.path)).read_bytes()
        except OSError as exc:
            raise PrError(f"{quote_path(fp.path)}: cannot re-read what was written ({exc.strerror or exc}); not committed") from None
        if on_disk != fp.new.encode("utf-8"):
            raise PrError(f"{quote_path(fp.path)}: changed on disk after it was written; not committed")


def check_commit(git: Git, files: list[str]) -> None:
    """The commit holds exactly `files`, each with the content git computes from the work tree file now."""
    listed = git.run("diff-tree", "-r", "--no-commit-id", "--name-only", "-z", "--root", "HEAD").stdout
    committed = {f for f in listed.split("\0") if f}
    if committed != set(files):
        extra = sorted(committed - set(files))[:5]
        raise PrError("the commit does not hold exactly the files written"
                      + (f" (also: {', '.join(quote_path(e) for e in extra)})" if extra else ""))
    want = git.run("hash-object", "--", *files).stdout.split()
    tree = git.run("ls-tree", "-z", "HEAD", "--", *files).stdout
    got = {}
    for item in tree.split("\0"):
        if "\t" in item:
            meta, name = item.split("\t", 1)
            got[name] = meta.split()[2]
    for name, sha in zip(files, want):
        if got.get(name) != sha:
            raise PrError(f"{quote_path(name)}: the committed content is not what was written; not committed")


def open_branch(git: Git, changes: ChangeSet, branch: str, *, allow_dirty: bool = False,
                no_verify: bool = False) -> tuple[Opened, Verification]:
    """Create `branch` from HEAD, write the verified edits, re-scan, commit exactly those files.

    On any failure the work tree, the index and the current branch are put back as they were.
    """
    from migrator.fix import write_plan

    if not changes.plan.pending:
        raise PrError("nothing to commit: no verified edits")
    if not git.valid_branch_name(branch):
        raise PrError(f"{branch!r} is not a valid branch name")
    if git.branch_exists(branch):
        raise PrError(f"branch {branch} already exists; delete it or pass --branch NAME")
    check_clean(git, changes, allow_dirty)
    base, base_sha = git.head()
    files = [changes.repo_path(fp.path) for fp in changes.plan.pending]
    git.run("checkout", "-q", "-b", branch)
    written = False
    try:
        written = True  # from here on the work tree may differ: undo restores it
        problems = write_plan(changes.plan)
        if problems:
            raise PrError("not committed: " + "; ".join(problems))
        ver = verify_changes(changes, on_disk=True)
        subj, body = commit_message(changes, ver)
        check_written(git, changes)
        git.run("add", "--", *files)
        git.run("commit", "-q", *(["--no-verify"] if no_verify else []), "-m", subj, "-m", body, "--only", "--", *files)
        check_commit(git, files)
        sha = git.run("rev-parse", "HEAD").stdout.strip()
    except BaseException:
        _undo(git, changes, files, base or base_sha, branch, written)
        raise
    return Opened(branch, base, base_sha, sha), ver


def _undo(git: Git, changes: ChangeSet, files: list[str], back_to: str, branch: str, written: bool) -> None:
    """Best effort: restore the edited files, go back to where we were, delete the new branch."""
    if written:
        new = [changes.repo_path(fp.path) for fp in changes.plan.pending if fp.is_new]
        old = [f for f in files if f not in new]
        if old:
            git.run("reset", "-q", "--", *old, check=False)
            git.run("checkout", "-q", "--", *old, check=False)
        for rel in new:
            git.run("rm", "-q", "--cached", "--ignore-unmatch", "--", rel, check=False)
            try:
                (git.top / rel).unlink()
            except OSError:
                pass
    git.run("checkout", "-q", back_to, check=False)
    git.run("branch", "-q", "-D", branch, check=False)


def next_steps(opened: Opened | None, body_file: str | None, title: str, *, patch_file: str | None = None,
               keep_cr: bool = False) -> list[str]:
    """The commands to run by hand: mesh-migrator never pushes."""
    if patch_file:
        q = _shell_quote(patch_file)
        # git am strips carriage returns unless told not to: CRLF manifests need --keep-cr
        return [f"git apply --check {q} && git am{' --keep-cr' if keep_cr else ''} {q}   # or: git apply {q}"]
    assert opened is not None
    body = body_file or "PR_BODY.md"  # the description went to stdout: the caller says to save it there
    base = opened.base or "main"
    q = _shell_quote
    return [f"git push -u origin {q(opened.branch)}",
            f"gh pr create --base {q(base)} --head {q(opened.branch)} --title {q(title)} --body-file {q(body)}",
            f"glab mr create --source-branch {q(opened.branch)} --target-branch {q(base)} --title {q(title)} "
            f"--description \"$(cat {q(body)})\""]


def has_crlf(plan) -> bool:
    return any("\r\n" in fp.new for fp in plan.pending)


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


# ------------------------------------------------------------------------------------------ upgrade


def upgrade_changes(result, options, to: str, paths: list[str], *, strategy: str = "in-place") -> ChangeSet:
    """The planner's first step towards `--to VERSION|latest|fixed` as a ChangeSet.

    A PR holds one step: a GitOps controller applies whatever is merged, and Istio upgrades one (in-place)
    or two (canary) minors at a time, so each step is rolled out and checked before the next.  After it is
    merged and rolled out, running `pr --to` again plans from the new pins and opens the next step.
    """
    try:
        from migrator import plan as planner
    except ImportError as exc:
        raise PrError("the upgrade planner (migrator/plan/) is not available in this build; use --strategy") from exc
    from migrator import fix

    try:
        plan = planner.build_plan(result, to, strategy=strategy)
    except planner.PlanError as exc:
        raise PrError(str(exc)) from exc
    istio_steps = [st for st in plan.steps if st.product == "istio"]
    up = Upgrade(current=planner.version_text(plan.istio_from) if plan.istio_from else None,
                 target=planner.version_text(plan.istio_to) if plan.istio_to else to,
                 path=[planner.version_text(st.to_version) for st in istio_steps], raw=plan)
    up.notes = list(plan.notes)
    if not istio_steps:
        return ChangeSet(result, fix.FixPlan(result.root, plan.repo_prefix, [], [], [], []), f"istio-{up.target}", up, options, paths)
    step = istio_steps[0]
    if not step.ok:
        raise PrError(f"step 1 ({step.title}) did not pass the verification gate; nothing committed: " + "; ".join(step.problems))
    up.step = step
    up.step_target = planner.version_text(step.to_version)
    up.total_steps = len(istio_steps)
    up.steps = _step_markdown(step, len(istio_steps))
    up.release_notes = release_note_links(step.from_version, step.to_version, step)
    up.rollback = list(step.checklist.get("rollback") or [])
    up.fixed = [c.finding for c in step.of_status("disappears")]
    up.appear = [c.finding for c in step.of_status("appears")]
    try:
        up.markdown = planner.render_markdown(plan)
    except Exception:  # noqa: BLE001 - the full plan is an appendix; its absence must not block the PR
        up.markdown = ""
    fixplan = fix.FixPlan(result.root, plan.repo_prefix, list(step.files), [], [], [])
    return ChangeSet(result, fixplan, f"istio-{up.step_target}", up, options, paths)


def _step_markdown(step, total: int) -> list[str]:
    """Step 1's pin edits and checklist as Markdown lines (the rest of the plan goes in a <details>)."""
    out = [f"This PR is **step 1 of {total}**: {step.title}."
           + (" After it is merged and rolled out, run `mesh-migrator pr --to …` again for the next step." if total > 1 else ""), ""]
    if step.edits:
        out += ["| file:line | pin | old | new |", "|---|---|---|---|"]
        for e in step.edits:
            out.append(f"| {_code(e.pin.path + ':' + str(e.pin.line))} | {_cell(e.pin.source)} | {_code(e.old)} | {_code(e.new)} |")
        out.append("")
    for pin, why in step.kept:
        out.append(f"- kept {_code(pin.path + ':' + str(pin.line))} {_code(pin.raw)}: {_cell(why)}")
    labels = {"before": "Before", "apply_order": "Apply in this order", "watch": "Watch"}
    for key, label in labels.items():
        items = step.checklist.get(key) or []
        if not items:
            continue
        out += ["", f"**{label}**", ""]
        for item in items:
            out.append(item if re.match(r"^\d+\. ", item) or key == "apply_order" else f"- [ ] {item}")
    gone = step.of_status("disappears")
    if gone:
        out += ["", "**Findings this step clears**", ""]
        out += [f"- {rule_link(c.finding.rule)} {_code(c.finding.resource)} ({_code(c.finding.path + ':' + str(c.finding.line))})"
                for c in gone]
    new = step.of_status("appears") + step.of_status("severity")
    if new:
        out += ["", "**Findings at the new version**", ""]
        out += [f"- {rule_link(c.finding.rule)} ({c.finding.severity}) {_code(c.finding.resource)}: {_cell(c.finding.message)}" for c in new]
    return out


def release_note_links(frm, to, step=None) -> list[str]:
    """istio.io upgrade and change notes of every minor crossed, the target's release, and the sources of
    the behaviour changes the planner says affect this repository."""
    links = []
    for minor in range(frm.minor + 1, to.minor + 1):
        m = f"{to.major}.{minor}"
        links.append(f"https://istio.io/latest/news/releases/{m}.x/announcing-{m}/upgrade-notes/")
        links.append(f"https://istio.io/latest/news/releases/{m}.x/announcing-{m}/change-notes/")
    patch = (list(to.release) + [0, 0])[2]
    if patch:
        links.append(f"https://istio.io/latest/news/releases/{to.major}.{to.minor}.x/announcing-{to.major}.{to.minor}.{patch}/")
    links.append(f"https://github.com/istio/istio/releases/tag/{to.major}.{to.minor}.{patch}")
    for change, relevance, _why in (getattr(step, "changes", None) or []):
        if relevance == "repo":
            links += [u for u in change.get("sources") or [] if u not in links]
    return links




def report_unfixed(changes: ChangeSet, stream=sys.stderr) -> None:
    plan = changes.plan
    for f, why in plan.refused:
        print(f"{f.path}:{f.line}: {f.rule}: not fixed: {why}", file=stream)
    for f in plan.undecided:
        print(f"{f.path}:{f.line}: {f.rule}: needs a decision: pass --strategy", file=stream)
    for fp in plan.failed:
        print(f"{fp.path}: not fixed: {fp.problem}", file=stream)


def write_text(path: str, text: str) -> None:
    """`--patch` / `--body-file` output: written like every other file the tool writes (fsio.atomic_write:
    a temp name of its own per process, fsync, rename), so two runs writing the same path cannot
    clobber each other's temp file and a Ctrl-C leaves the old file or the new one, nothing else."""
    from migrator.fsio import atomic_write

    target = Path(path)
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, text)
