"""Fault isolation: a bug met while reading one document or running one rule is reported, not fatal.

Why: one odd document in a repository of thousands must not cost the user every other finding.
Bad input is handled where it is read (documents.py, shapes.py); this module is the last line for
what no check foresaw — an exception inside the inventory or a rule.  It becomes a `Problem` marked
`internal` that names the document it happened on, the run goes on, and the CLI exits 3 after
all output is written (README, "Exit codes").  With `--debug` (MESH_MIGRATOR_DEBUG=1 in the
environment, inherited by worker processes) the traceback is printed to stderr as well.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import Callable, Iterable

from migrator.model import Problem, Proxy, Resource

DEBUG_ENV = "MESH_MIGRATOR_DEBUG"


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV) == "1"


def internal_problem(path: str, line: int | None, what: str, exc: BaseException) -> Problem:
    """The one-line report of an unexpected exception; prints the traceback under --debug."""
    if debugging():
        import traceback  # the error path only: every scan imports this module

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    reason = " ".join(str(exc).split())[:200]
    message = (f"internal error while {what}: {type(exc).__name__}: {reason}"
               " (a bug: re-run with --debug for a traceback); the rest of the repository was scanned")
    return Problem(path, message, line=line, internal=True)


def collect_isolated(path: str, text: str, documents: list, collect: Callable) -> tuple:
    """`collect(path, text, documents)`, or — if it raises — the same document by document.

    The fast path is one call for the whole file.  Only when it fails is each document collected
    alone, so the facts of the healthy documents are kept and each failing one is named.
    """
    try:
        return collect(path, text, documents), []
    except Exception:  # noqa: BLE001 - isolated below, document by document
        pass
    inventory, problems = None, []
    for doc in documents:
        try:
            part = collect(path, text, [doc])
        except Exception as exc:  # noqa: BLE001 - the point of this module
            where = f"{doc.kind or 'document'} {doc.namespace + '/' if doc.namespace else ''}{doc.name}".strip()
            problems.append(internal_problem(path, doc.line_of(()), f"reading {where}", exc))
            continue
        if inventory is None:
            inventory = part
        else:
            inventory.merge(part)
    if inventory is None:
        inventory = collect(path, text, [])
    return inventory, problems


def culprit(tb: TracebackType | None) -> Resource | Proxy | None:
    """The innermost resource or proxy a failing rule was looking at (from the frames' locals)."""
    found = None
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            if isinstance(value, (Resource, Proxy)):
                found = value
        tb = tb.tb_next
    return found


def rule_problem(rule_id: str, env: str | None, exc: BaseException) -> Problem:
    """A crash of one rule in one environment view, located at the resource it was reading."""
    obj = culprit(exc.__traceback__)
    path, line, what = "<rules>", None, f"running {rule_id}"
    if isinstance(obj, Resource):
        path, line, what = obj.path, obj.line(()), f"running {rule_id} on {obj.kind} {obj.namespace}/{obj.name}"
    elif isinstance(obj, Proxy):
        path, line, what = obj.path, obj.line, f"running {rule_id} on {obj.resource}"
    if env:
        what += f" (environment {env})"
    return internal_problem(path, line, what, exc)


def iterate_isolated(items: Iterable, on_error: Callable[[BaseException], None]) -> Iterable:
    """Yield from items until it raises; the exception goes to on_error instead of the caller."""
    try:
        yield from items
    except Exception as exc:  # noqa: BLE001 - a rule's bug must not stop the other rules
        on_error(exc)
