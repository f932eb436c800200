"""The verification gate: prove a rewrite means exactly what the edits say, before anything is written.

Why a separate gate when the edit engine is careful: the engine reasons about text, and text is
where YAML surprises hide (`"yes"` vs `yes`, `0755`, a comment swallowed by a splice).  The gate
does not look at how the text was produced.  It re-reads the new text the way real consumers do —
PyYAML/libyaml for the YAML 1.1 view (Kubernetes, go-yaml), ruamel.yaml for the 1.2 view — and
compares each document, types included, with `apply_to_tree` of the old documents.  It also checks
that nothing outside the regions the edits target changed, and that BOM, newline style and final
newline survived (yaml-editing.md §5 step 5 and §6).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from migrator.documents import tagged_loader
from migrator.edits import Edit, EditError, apply_to_tree, edit_regions

if TYPE_CHECKING:
    from deepdiff import DeepDiff


@dataclass
class GateResult:
    ok: bool
    problems: list[str] = field(default_factory=list)


def verify_rewrite(old_text: str, new_text: str, edits: Sequence[Edit], *,
                   schema_validator: Callable[[dict], list[str]] | None = None) -> GateResult:
    """Check `new_text` against `old_text` + `edits`; every problem is one line.  Never raises."""
    problems: list[str] = []
    problems += _encoding_problems(old_text, new_text)
    old11 = _load(old_text, _load11, "old text", "YAML 1.1", problems)
    new11 = _load(new_text, _load11, "new text", "YAML 1.1", problems)
    if old11 is not None and new11 is not None:
        problems += _semantic_problems(old11, new11, edits, "YAML 1.1")
        if len(old11) == len(new11):
            problems += _yaml12_problems(old_text, new_text, edits, len(old11))
    problems += _locality_problems(old_text, new_text, edits)
    if schema_validator is not None and old11 is not None and new11 is not None and len(old11) == len(new11):
        problems += _schema_problems(old11, new11, schema_validator)
    return GateResult(not problems, problems)


# ---------------------------------------------------------------------------------- reading


def _strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


def _load11(text: str) -> list:
    """The YAML 1.1 view, as the scan reads it: unknown tags (`!vault`, `!Ref`) are carried as `Tagged`
    data, so a file that holds one anywhere can still be edited elsewhere (and the tagged value
    must come out identical)."""
    return list(yaml.load_all(_strip_bom(text), Loader=tagged_loader()))


def _load12(text: str) -> list:
    from ruamel.yaml import YAML

    return list(YAML(typ="safe", pure=True).load_all(_strip_bom(text)))


def _doc_chunks(text: str) -> list[str]:
    """Each document's own text (directives and `---` included), split at libyaml's event marks."""
    body = _strip_bom(text)
    chunks, start = [], 0
    for ev in yaml.parse(body, Loader=yaml.CSafeLoader):
        if isinstance(ev, yaml.DocumentStartEvent):
            start = body.rfind("\n", 0, ev.start_mark.index) + 1
        elif isinstance(ev, yaml.DocumentEndEvent):
            chunks.append(body[start:ev.end_mark.index])
    return chunks


def _load(text: str, loader: Callable[[str], list], which: str, view: str, problems: list[str],
          quiet: bool = False) -> list | None:
    """Documents of `text`, or None with a problem recorded.

    The old text is loaded `quiet` in the 1.2 view: ruamel's pure scanner rejects some valid
    files (tab separators, yaml-editing.md §1 pitfall 13), and a file nobody could read as 1.2
    before cannot be judged in that view afterwards either.
    """
    try:
        return loader(text)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a gate failure, never a crash
        if not quiet:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            problems.append(f"the {which} cannot be read as {view}: {first}")
        return None


# ---------------------------------------------------------------------------------- checks


def _newline_kinds(text: str) -> set[str]:
    crlf = text.count("\r\n")
    return {k for k, n in (("CRLF", crlf), ("LF", text.count("\n") - crlf)) if n}


def _encoding_problems(old: str, new: str) -> list[str]:
    out = []
    if old.startswith("\ufeff") != new.startswith("\ufeff"):
        out.append("byte order mark " + ("dropped" if old.startswith("\ufeff") else "added"))
    added = _newline_kinds(new) - _newline_kinds(old)
    if added and _newline_kinds(old):
        out.append(f"newline style changed: {'/'.join(sorted(added))} line breaks appeared in a "
                   f"{'/'.join(sorted(_newline_kinds(old)))} file")
    if old.endswith("\n") != new.endswith("\n"):
        out.append("final newline " + ("dropped" if old.endswith("\n") else "added"))
    return out


def _semantic_problems(old_docs: list, new_docs: list, edits: Sequence[Edit], view: str) -> list[str]:
    if len(old_docs) != len(new_docs):
        return [f"document count changed from {len(old_docs)} to {len(new_docs)} ({view})"]
    expected: Any = old_docs
    try:
        for edit in edits:
            expected = apply_to_tree(expected, edit)
    except EditError as exc:
        return [f"edit cannot be applied to the old documents ({view}): {exc}"]
    out = []
    for i, (want, got) in enumerate(zip(expected, new_docs)):
        if want is _SKIPPED or _identical(want, got):
            continue
        import deepdiff  # only to explain a mismatch: its import is 35 ms of a fix run

        diff = deepdiff.DeepDiff(want, got, ignore_nan_inequality=True, verbose_level=2)
        if diff:
            out.append(f"document {i} ({view}) differs from the intended result: {_summarize(diff)}")
    return out


_SKIPPED = object()


def _yaml12_problems(old_text: str, new_text: str, edits: Sequence[Edit], count: int) -> list[str]:
    """The YAML 1.2 view of the documents the edits target.

    ruamel's pure-Python loader is slow (well under 1 MB/s), so it reads only targeted documents;
    every other document is proven byte-identical by the locality check, and identical text
    means identical values in any view.
    """
    try:
        old_chunks, new_chunks = _doc_chunks(old_text), _doc_chunks(new_text)
    except yaml.YAMLError:
        return []  # already reported by the YAML 1.1 view
    if len(old_chunks) != count or len(new_chunks) != count:
        return [f"cannot split the text into its {count} documents for the YAML 1.2 view"]
    targets = sorted({e.doc for e in edits if isinstance(e.doc, int) and 0 <= e.doc < count})
    old_docs: list[Any] = [_SKIPPED] * count
    new_docs: list[Any] = [_SKIPPED] * count
    problems: list[str] = []
    for i in targets:
        old = _load(old_chunks[i], _load12, "old text", "YAML 1.2", problems, quiet=True)
        if old is None:
            continue  # nobody could read this document as 1.2 before either
        new = _load(new_chunks[i], _load12, f"new text of document {i}", "YAML 1.2", problems)
        if new is None:
            continue
        if len(old) != 1 or len(new) != 1:
            problems.append(f"document {i} does not stand alone for the YAML 1.2 view")
            continue
        old_docs[i], new_docs[i] = old[0], new[0]
    relevant = [e for e in edits if isinstance(e.doc, int) and 0 <= e.doc < count and old_docs[e.doc] is not _SKIPPED]
    return problems + _semantic_problems(old_docs, new_docs, relevant, "YAML 1.2")


def _identical(a: Any, b: Any, seen: set | None = None) -> bool:
    """Equality that also requires equal types (True vs 1, "1" vs 1); the fast path before DeepDiff.

    Pairs of containers already compared are remembered, so documents whose aliases share
    subtrees (up to an alias bomb) are compared in time linear in their distinct nodes.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, (dict, list)):
        seen = set() if seen is None else seen
        if (id(a), id(b)) in seen:
            return True
        seen.add((id(a), id(b)))
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(_identical(a[k], b[k], seen) for k in a)
        return len(a) == len(b) and all(_identical(x, y, seen) for x, y in zip(a, b))
    return a == b or (a != a and b != b)  # NaN equals NaN here


def _summarize(diff: DeepDiff, limit: int = 3) -> str:
    """The first few differences, as `path: expected X, got Y`, on one line."""
    parts = []
    for kind, changes in diff.items():
        items = changes.items() if isinstance(changes, dict) else ((c, None) for c in changes)
        for path, detail in items:
            if isinstance(detail, dict) and ("old_value" in detail or "new_value" in detail):
                parts.append(f"{path}: expected {detail.get('old_value')!r}, got {detail.get('new_value')!r}")
            else:
                parts.append(f"{path}: {kind.replace('_', ' ')}")
    more = f" (+{len(parts) - limit} more)" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


def _locality_problems(old: str, new: str, edits: Sequence[Edit]) -> list[str]:
    """Bytes outside the regions the edits target must be identical and in the same order."""
    try:
        regions = _merge(edit_regions(old, edits))
    except EditError:
        return []  # the old text does not compose; the semantic check has already said so
    chunks, pos = [], 0
    for start, end in regions:
        chunks.append((pos, old[pos:start]))
        pos = end
    chunks.append((pos, old[pos:]))
    if not regions:
        return [] if old == new else ["text changed although no edit targets anything"]
    first, last = chunks[0][1], chunks[-1][1]
    if not new.startswith(first):
        return [_first_difference(old, new, "before the first edited region")]
    if not new.endswith(last) or len(first) + len(last) > len(new):
        return [f"text after the last edited region changed (original offset {chunks[-1][0]})"]
    cursor, limit = len(first), len(new) - len(last)
    for offset, chunk in chunks[1:-1]:
        found = new.find(chunk, cursor, limit)
        if found < 0:
            return [f"text between edited regions changed (original offset {offset}, line {old.count(chr(10), 0, offset) + 1})"]
        cursor = found + len(chunk)
    return []


def _merge(regions: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for start, end in sorted(regions):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def _first_difference(old: str, new: str, where: str) -> str:
    i = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
    return f"text {where} changed at line {old.count(chr(10), 0, i) + 1}"


def _schema_problems(old_docs: list, new_docs: list, validator: Callable[[dict], list[str]]) -> list[str]:
    out = []
    for i, (old, new) in enumerate(zip(old_docs, new_docs)):
        if not _identical(old, new) and isinstance(new, dict):
            try:
                messages = validator(new)
            except Exception as exc:  # noqa: BLE001 - a crashing validator must fail the gate, not the run
                messages = [f"schema validator crashed: {type(exc).__name__}: {exc}"]
            out += [f"document {i}: {m}" for m in messages]
    return out
