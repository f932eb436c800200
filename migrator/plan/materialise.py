"""Turns a step's pin edits into verified file texts and a diff, and writes a step with ``--write``.

Pin edits are absolute, so the text after step N is the original text with step N's (cumulative)
edits applied; both the preview diff and ``--write --step N`` go through the edit engine and the same
verification gate as `fix`.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from migrator.plan.model import PinEdit, Plan, Step
from migrator.plan.pins import _engine_edits, _pin_key
from migrator.plan.releases import PlanError, version_text


def _materialise(root: Path, steps: list[Step], result) -> None:
    """Apply each step's edits to the text after the previous step, verify, and render the diff."""
    from migrator.fix import FilePlan

    texts: dict[str, tuple[str, str | None]] = {}
    for step in steps:
        ops = _engine_edits(step.edits) if step.edits else {}
        for path, file_ops in sorted(ops.items()):
            if path not in texts:
                try:
                    texts[path] = _read(root / path)
                except OSError as exc:
                    step.problems.append(f"{path}: cannot read: {exc.strerror or exc}")
                    continue
            old, sha = texts[path]
            new, problem = _apply_verified(old, file_ops, step)
            if problem:
                step.problems.append(f"{path}: {problem}")
                continue
            if new != old:
                step.files.append(FilePlan(path, old, new, sha))
                texts[path] = (new, sha)
        step.diff = _render(root, step.files)


def _read(path: Path) -> tuple[str, str | None]:
    from migrator.fsio import read_text

    return read_text(path)


def _apply_verified(old: str, ops: list, step: Step) -> tuple[str, str | None]:
    from migrator.edits import EditError, apply_edits
    from migrator.verify import verify_rewrite

    try:
        res = apply_edits(old, ops)
    except EditError as exc:
        line = f" (line {exc.line})" if getattr(exc, "line", None) else ""
        return old, f"edit refused{line}: {exc}"
    gate = verify_rewrite(old, res.text, ops, schema_validator=_validator(step))
    if not gate.ok:
        return old, "verification gate failed: " + "; ".join(gate.problems)
    return res.text, None


def _validator(step: Step):
    if step.product != "istio":
        return None
    from migrator.crds import validate_istio_resource

    version = version_text(step.to_version)

    def validate(obj):
        return validate_istio_resource(obj, version) if isinstance(obj, dict) else []

    return validate


def _repo_prefix(root: Path) -> str:
    """The scan root relative to the git top level (diff paths are repo-relative), asked once per root."""
    return _prefix_cached(str(Path(root).resolve()))


@lru_cache(maxsize=64)
def _prefix_cached(root: str) -> str:
    from migrator.fix import repo_prefix as prefix

    return prefix(Path(root))


def _render(root: Path, files: list) -> str:
    """Unified diff of one step, paths relative to the repository root (fix.render_diff)."""
    if not files:
        return ""
    from migrator.fix import FixPlan, render_diff

    return render_diff(FixPlan(root, _repo_prefix(root), files, [], [], []), header=False)


def write_step(plan: Plan, number: int, *, hold_sigint: bool = False) -> tuple[list[str], list[str]]:
    """Write the repository state after step `number` (1-based); returns (written paths, problems).

    `hold_sigint`: as fix.write_plan's (the caller reports the written files, then release_sigint())."""
    from migrator.fix import FilePlan, FixPlan, write_plan

    if not plan.steps:
        return [], []
    if not 1 <= number <= len(plan.steps):
        raise PlanError(f"--step {number}: the plan has {len(plan.steps)} step(s)")
    step = plan.steps[number - 1]
    if not step.ok:
        return [], [f"step {number} did not pass the verification gate: " + "; ".join(step.problems)]
    # pin edits are absolute: the state after step N is the disk text with step N's edits (plus the
    # edits of earlier steps of the same product for pins step N leaves alone).
    edits = _cumulative_edits(plan, number)
    ops = _engine_edits(edits)
    files, problems = [], []
    for path, file_ops in sorted(ops.items()):
        try:
            old, sha = _read(plan.root / path)
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        new, problem = _apply_verified(old, file_ops, step)
        if problem:
            problems.append(f"{path}: {problem}")
        elif new != old:
            files.append(FilePlan(path, old, new, sha))
    if problems:
        return [], problems
    fp = FixPlan(plan.root, plan.repo_prefix, files, [], [], [])
    problems = write_plan(fp, hold_sigint=hold_sigint)
    return [f.path for f in files], problems


def _cumulative_edits(plan: Plan, number: int) -> list[PinEdit]:
    latest: dict[tuple, PinEdit] = {}
    for step in plan.steps[:number]:
        for e in step.edits:
            p = e.pin
            latest[_pin_key(p)] = e
    out = []
    for e in latest.values():
        out.append(replace(e, old=e.pin.raw))
    return out
