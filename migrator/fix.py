"""`mesh-migrator fix`: findings → remedies → verified edits → unified diff or atomic writes.

Nothing reaches the disk unless (1) the edit engine produced it by splicing the original text,
(2) the verification gate re-parsed it in YAML 1.1 and 1.2, compared it with the intended change and
validated changed Istio resources against the CRD schema of the version in force, and (3) the file
on disk still has the bytes that were read.  A failing file is reported and left untouched.
"""

from __future__ import annotations

import difflib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from migrator.discover import SAFE_GIT
from migrator.model import Finding
from migrator.remedies import FileChange, FixContext, Refused, Remedy, build as build_remedy, options_for


@dataclass
class FilePlan:
    """The outcome for one file: old and new text, or why it is not written."""

    path: str
    old: str
    new: str
    sha256: str | None
    remedies: list[Remedy] = field(default_factory=list)
    problem: str | None = None
    is_new: bool = False

    @property
    def changed(self) -> bool:
        return self.problem is None and self.old != self.new


@dataclass
class FixPlan:
    root: Path
    repo_prefix: str  # scan root relative to the git top level ("" when the same or not in git)
    files: list[FilePlan]
    remedies: list[Remedy]
    refused: list[tuple[Finding, str]]
    undecided: list[Finding]

    @property
    def pending(self) -> list[FilePlan]:
        return [f for f in self.files if f.changed]

    @property
    def failed(self) -> list[FilePlan]:
        return [f for f in self.files if f.problem]

    @property
    def applicable_refused(self) -> list[tuple[Finding, str]]:
        """Refusals of a remedy the finding's rule offers: a fix that was asked for and not made.

        `--strategy skip-verify` meeting an MM104 (which skip-verify cannot fix) is not one of them.
        """
        from migrator.rules import catalog

        metas = catalog()
        return [(f, why) for f, why in self.refused
                if f.rule in metas and why.split(":", 1)[0] in metas[f.rule].remedies]


def choose_strategy(finding: Finding, requested: str | None, per_rule: dict[str, str], ctx: FixContext) -> str | None:
    """--strategy wins, then the config's per-rule strategy; otherwise the safest that works and edits."""
    if requested:
        return requested
    if finding.rule in per_rule:
        return per_rule[finding.rule]
    for name, reason in options_for(finding, ctx):
        if reason is None and name == "credential-name" and (ctx.ca_bundle or ctx.secret_name or finding.rule == "MM104"):
            return name  # MM104's remedy (add the workloadSelector) needs no input: the Secret is named already
    return None


def plan_fixes(result, *, strategy: str | None = None, rules: tuple[str, ...] = (), per_rule: dict | None = None,
               ctx: FixContext | None = None) -> FixPlan:
    """Turn a scan result into per-file rewrites, each passed through the verification gate."""
    ctx = ctx or FixContext()
    per_rule = per_rule or {}
    remedies: list[Remedy] = []
    refused: list[tuple[Finding, str]] = []
    undecided: list[Finding] = []
    views = {v.env: v for v in result.views}
    for f in result.active:
        if rules and f.rule not in rules:
            continue
        view = views.get((f.env or "").split(",")[0] or None) or result.views[0]
        fctx = FixContext(ctx.secret_name, ctx.ca_bundle, ctx.ca_path, view)
        from migrator.rules import catalog

        if strategy and strategy not in catalog()[f.rule].remedies:
            continue  # --strategy X applies to the rules X can fix; the others are left alone
        name = choose_strategy(f, strategy, per_rule, fctx)
        if name is None:
            from migrator.rules import catalog

            if catalog()[f.rule].remedies:
                undecided.append(f)
            continue
        try:
            remedies.append(build_remedy(name, f, fctx))
        except Refused as exc:
            refused.append((f, f"{name}: {exc}"))
    return plan_remedies(result, remedies, refused, undecided)


def plan_remedies(result, remedies: list[Remedy], refused=(), undecided=()) -> FixPlan:
    """Apply already chosen remedies (one strategy per finding, as the wizard and `pr` pick them)."""
    return FixPlan(result.root, repo_prefix(result.root), _apply(result, remedies), list(remedies), list(refused), list(undecided))


def _apply(result, remedies: list[Remedy]) -> list[FilePlan]:
    if not remedies:  # a clean repo (pre-commit's usual `fix --check`) never pays for the edit engine and
        return []     # the verification gate's imports (deepdiff alone: 35 ms of a 0.15 s run)
    from migrator.edits import EditError, apply_edits
    from migrator.fsio import OutsideRootError, inside_root, read_text
    from migrator.verify import verify_rewrite

    by_path: dict[str, list[tuple[Remedy, FileChange]]] = {}
    for r in remedies:
        for ch in r.changes:
            by_path.setdefault(ch.path, []).append((r, ch))
    out = []
    for path, items in sorted(by_path.items()):
        rems = _unique([r for r, _ in items])
        try:  # names in the path came from the repository: prove it stays inside before reading or writing
            abspath = inside_root(result.root, path)
        except OutsideRootError as exc:
            out.append(FilePlan(path, "", "", None, rems, str(exc)))
            continue
        new_texts = [ch.new_text for _, ch in items if ch.new_text is not None]
        if new_texts:
            out.append(_new_file(path, abspath, new_texts[0], rems))
            continue
        try:
            old, sha = read_text(abspath)
        except OSError as exc:
            out.append(FilePlan(path, "", "", None, rems, f"cannot read: {exc.strerror or exc}"))
            continue
        if "{{" in old and "/templates/" in f"/{path}":  # a remedy that did not move its edits into values
            out.append(FilePlan(path, old, old, sha, rems, "is a Helm chart template (Go template text): never edited; "
                                "set the value in the chart's values.yaml or pass values from the release"))
            continue
        edits = [e for _, ch in items for e in ch.edits]
        try:
            res = apply_edits(old, edits)
        except EditError as exc:
            line = f" (line {exc.line})" if getattr(exc, "line", None) else ""
            out.append(FilePlan(path, old, old, sha, rems, f"edit refused{line}: {exc}"))
            continue
        gate = verify_rewrite(old, res.text, edits, schema_validator=_validator(result, rems))
        if not gate.ok:
            out.append(FilePlan(path, old, old, sha, rems, "verification gate failed: " + "; ".join(gate.problems)))
            continue
        out.append(FilePlan(path, old, res.text, sha, rems))
    return out


def _unique(items):
    seen, out = set(), []
    for x in items:
        if id(x) not in seen:
            seen.add(id(x))
            out.append(x)
    return out


def _validator(result, remedies: list[Remedy]):
    """Validate changed Istio resources against the CRD schema of the version the finding's env runs."""
    from migrator.crds import validate_istio_resource

    known = sorted(v.istio for v in result.views if v.istio is not None)
    version = str(known[0]) if known else None  # the oldest version in force: it knows the fewest fields

    def validate(obj: dict) -> list[str]:
        return validate_istio_resource(obj, version) if isinstance(obj, dict) else []

    return validate


def _new_file(path: str, abspath: Path, text: str, rems: list[Remedy]) -> FilePlan:
    """Generated files (Secret, Role): created when absent, a no-op when identical, refused otherwise."""
    if abspath.exists():
        current = abspath.read_text(encoding="utf-8")
        if current == text:
            return FilePlan(path, current, current, None, rems, is_new=False)
        return FilePlan(path, current, current, None, rems, "exists with different content; not overwritten")
    import yaml

    try:
        list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:  # pragma: no cover - generated text is ours
        return FilePlan(path, "", "", None, rems, f"generated YAML does not parse: {exc}")
    return FilePlan(path, "", text, None, rems, is_new=True)


def repo_prefix(root: Path) -> str:
    try:
        top = subprocess.run(["git", *SAFE_GIT, "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    if top.returncode != 0:
        return ""
    try:
        rel = root.resolve().relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    except ValueError:
        return ""
    return "" if rel == "." else rel + "/"


def quote_path(path: str) -> str:
    """A path as git prints it (core.quotePath): C-style quoted when it has control characters, `"`, `\\`
    or non-ASCII bytes, so a name with a newline or tab stays on one line and `git apply` reads it back."""
    raw = path.encode("utf-8", "surrogateescape")
    if not any(b < 0x20 or b >= 0x7F or b in (0x22, 0x5C) for b in raw):
        return path
    named = {0x07: "\\a", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f", 0x0D: "\\r",
             0x22: '\\"', 0x5C: "\\\\"}
    out = []
    for b in raw:
        if b in named:
            out.append(named[b])
        elif b < 0x20 or b >= 0x7F:
            out.append(f"\\{b:03o}")
        else:
            out.append(chr(b))
    return '"' + "".join(out) + '"'


def _header_text(text: str) -> str:
    """A header line stays one line: control characters from names in the repository are escaped."""
    return "".join(c if c >= " " and c != "\x7f" else repr(c)[1:-1] for c in str(text))


def render_diff(plan: FixPlan, *, header: bool = True) -> str:
    """A unified diff `git apply` accepts, paths relative to the repo root, remedy notes as a header."""
    chunks = []
    if header:
        groups: dict[tuple, list] = {}
        for r in plan.remedies:  # one mesh-wide change fixes many findings: say it once
            groups.setdefault((r.strategy, r.summary, r.security_cost, tuple(r.notes)), []).append(r.finding)
        h = _header_text
        for (strategy, summary, cost, notes), findings in groups.items():
            chunks.append(f"# strategy {strategy}: {h(summary)}\n")
            for f in findings:
                chunks.append(f"#   fixes {f.rule} {h(f.resource)} ({h(f.path)}:{f.line})\n")
            chunks.append(f"#   security cost: {h(cost)}\n")
            for note in notes:
                chunks.append(f"#   note: {h(note)}\n")
    for fp in plan.pending:
        name = plan.repo_prefix + fp.path
        old_lines = fp.old.splitlines(keepends=True)
        new_lines = fp.new.splitlines(keepends=True)
        qa, qb = quote_path(f"a/{name}"), quote_path(f"b/{name}")  # a tab or newline in a name: quoted as git does
        a = "/dev/null" if fp.is_new else qa
        chunks.append(f"diff --git {qa} {qb}\n")
        if fp.is_new:
            chunks.append("new file mode 100644\n")
        for line in difflib.unified_diff(old_lines, new_lines, a, qb, n=3, lineterm="\n"):
            if not line.endswith("\n"):
                line += "\n\\ No newline at end of file\n"
            chunks.append(line)
    return "".join(chunks)


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during write_plan, after the files already written were put back.

    `restored`: files written by the batch and rolled back to their original text (new files removed);
    `kept`: one-line reasons for files that could not be rolled back (they hold the fixed text).
    """

    def __init__(self, restored: list[str], kept: list[str]):
        super().__init__(f"interrupted; rolled back {len(restored)} file(s)" + (f", {len(kept)} not rolled back" if kept else ""))
        self.restored, self.kept = restored, kept


def write_plan(plan: FixPlan, *, hold_sigint: bool = False) -> list[str]:
    """Apply every pending file atomically; returns one-line problems (stale, unwritable, outside the root).

    The batch is all or nothing under Ctrl-C: each file's original text stays in memory until the
    batch ends, and an interrupt rolls back what was already written (BatchInterrupted says which).
    `hold_sigint`: once the last file is written, Ctrl-C is ignored until release_sigint(), so the
    caller can report the written batch; an interrupt there used to end the run with "nothing
    written" over files that were all written.
    """
    problems: list[str] = []
    done: list[FilePlan] = []
    current = None
    try:
        for fp in plan.pending:
            current = fp
            problem = _write_one(plan.root, fp)
            current = None
            if problem:
                problems.append(problem)
            else:
                done.append(fp)
        if hold_sigint:
            _hold_sigint()
    except KeyboardInterrupt:
        rolled_back = _roll_back(plan.root, done + ([current] if current else []))
        release_sigint()  # an interrupt that landed while the hold was being taken
        raise BatchInterrupted(*rolled_back) from None
    return problems


#: the SIGINT handler write_plan(hold_sigint=True) replaced, until release_sigint()
_HELD_SIGINT: list = []


def _hold_sigint() -> None:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and not _HELD_SIGINT:
        _HELD_SIGINT.append(signal.signal(signal.SIGINT, signal.SIG_IGN))


def release_sigint() -> None:
    """Give Ctrl-C back after write_plan(hold_sigint=True) (a no-op when nothing is held)."""
    import signal

    if _HELD_SIGINT:
        signal.signal(signal.SIGINT, _HELD_SIGINT.pop())


def report_written(problems: list[str], summary: str, stream) -> None:
    """After write_plan(hold_sigint=True): the problems, then the summary line, then Ctrl-C back."""
    try:
        for p in problems:
            print(p, file=stream)
        print(summary, file=stream)
    finally:
        release_sigint()


def _write_one(root: Path, fp: FilePlan) -> str | None:
    from migrator.fsio import OutsideRootError, StaleFileError, atomic_write, inside_root

    try:
        target = inside_root(root, fp.path)
        if fp.is_new:
            if target.exists() or target.is_symlink():
                return f"{fp.path}: appeared on disk since the plan was made; not overwritten"
            target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, fp.new, expected_sha256=fp.sha256, root=root)
    except OutsideRootError as exc:
        return str(exc)
    except StaleFileError:
        return f"{fp.path}: changed on disk since it was read; not overwritten"
    except OSError as exc:
        return f"{fp.path}: not written: {exc.strerror or exc}"
    return None


def _roll_back(root: Path, files: list[FilePlan]) -> tuple[list[str], list[str]]:
    """Put back the original text of every file this batch wrote (a second Ctrl-C is ignored meanwhile)."""
    import hashlib
    import signal
    import threading

    from migrator.fsio import StaleFileError, atomic_write, inside_root

    main = threading.current_thread() is threading.main_thread()
    old_handler = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    restored, kept = [], []
    try:
        for fp in files:
            ours = hashlib.sha256(fp.new.encode("utf-8")).hexdigest()
            try:
                target = inside_root(root, fp.path)
                if not target.exists():
                    continue
                if hashlib.sha256(target.read_bytes()).hexdigest() != ours:
                    continue  # the interrupt came before this file was replaced: it is untouched
                if fp.is_new:
                    target.unlink()
                else:
                    atomic_write(target, fp.old, expected_sha256=ours, root=root)
                restored.append(fp.path)
            except (OSError, StaleFileError, ValueError) as exc:
                kept.append(f"{fp.path}: could not roll back ({getattr(exc, 'strerror', None) or exc}); it has the fixed text")
    finally:
        if main:
            signal.signal(signal.SIGINT, old_handler)
    return restored, kept


def plan_from_args(args, result) -> FixPlan:
    """The fix plan the command-line flags and the config file ask for (shared by `fix` and `pr`)."""
    from migrator.config import load_config

    config = load_config(args.config, args.paths or ["."])
    fix_cfg = config.data.get("fix") or {}
    per_rule = {k.upper(): v for k, v in ((config.data.get("rules") or {}).get("strategy") or {}).items()}
    ctx = FixContext(args.secret_name or fix_cfg.get("secret_name"), _ca_bundle(args.ca_bundle, config),
                     args.ca_path or fix_cfg.get("ca_path"))
    return plan_fixes(result, strategy=args.strategy, rules=tuple(r.upper() for r in args.rule), per_rule=per_rule, ctx=ctx)


def _ca_bundle(cli_value, config):
    """--ca-bundle [HOST=]FILE (repeatable), else the config's fix.ca_bundle (a file or {host: file}).

    Checked once up front, so a bundle that cannot be used is a usage error (exit 2), not a
    per-finding shrug: the value must parse (remedies/ca_bundles.py), config paths resolve against the
    config file's folder and stay inside its repository (config.path_value), and every file must be a
    certificates-only PEM bundle (pem.py).  Returns the parsed CaBundles with resolved paths.
    """
    from migrator.errors import CliError
    from migrator.config import ConfigError
    from migrator.pem import PemError, read_ca_bundle
    from migrator.remedies import ca_bundles

    if cli_value:
        bundles = ca_bundles.parse(cli_value)
    else:
        raw = (config.data.get("fix") or {}).get("ca_bundle")
        if raw is None:
            return None
        parsed = ca_bundles.parse(raw)
        if isinstance(raw, dict):
            bundles = ca_bundles.CaBundles({h: str(config.path_value("fix", "ca_bundle", h)) for h in parsed.by_host})
        else:
            bundles = ca_bundles.CaBundles(plain=str(config.path_value("fix", "ca_bundle")))
    for host, path in list(bundles.by_host.items()) + ([("", bundles.plain)] if bundles.plain else []):
        try:
            read_ca_bundle(str(path))
        except PemError as exc:
            if cli_value:
                raise CliError(f"--ca-bundle {host + '=' if host else ''}{exc}") from None
            raise ConfigError(f"{config.path}: fix.ca_bundle{'.' + host if host else ''}: {exc}") from None
    return bundles if bundles else None
