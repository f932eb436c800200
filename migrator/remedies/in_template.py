"""Remedies for resources read from a Helm chart template: edit the values, never the template text.

A strategy builds its edits against the rendered DestinationRule (key paths inside the resource).
For a template those paths do not exist in the file on disk, which is Go template text: splicing it
would corrupt the chart.  Each edit is therefore moved to where the setting comes from — the values
key recorded by migrator/helmtemplate.py (chart values.yaml, or the release's inline values) — or
the whole remedy is refused with the template line to change by hand.

  * set a key whose scalar is `{{ .Values.x }}`            → set `x` in the values file
  * add/delete a key in a mapping written by `toYaml .Values.m` → add/delete it under `m`
  * delete a key the rendered resource does not have        → nothing to do
  * anything else (a key written in the template, a new key in a template mapping) → Refused
"""

from __future__ import annotations

from migrator.edits import DeleteKey, SetScalar, Upsert
from migrator.remedies import FileChange, Refused, Remedy, find_resource


def to_values(remedy: Remedy, ctx) -> Remedy:
    """The same remedy with its template edits moved into values files, or Refused with the reason."""
    finding = remedy.finding
    dr = find_resource(ctx.view, finding) if ctx.view is not None else None
    origin = getattr(dr, "template", None)
    if origin is None or not any(change.path == dr.path for change in remedy.changes):
        return remedy  # nothing in the template to move (istiod flag, upgrade plan)
    kept: list[FileChange] = []
    moved: dict[str, list] = {}
    for change in remedy.changes:
        if change.path != dr.path:
            kept.append(change)
            continue
        if change.new_text is not None:
            raise Refused(f"{dr.path} is a Helm template; it is not replaced by generated text")
        for edit in change.edits:
            for path, new_edit in _move(edit, dr, origin, tuple(finding.details.get("base_path", ()))):
                moved.setdefault(path, []).append(new_edit)
    if not moved and not kept and remedy.changes:
        raise Refused(f"nothing to change in the values of chart {origin.chart or '.'}")
    changes = kept + [FileChange(path, edits) for path, edits in moved.items()]
    where = ", ".join(moved) or "no file"
    notes = list(remedy.notes) + [f"{dr.path} is a Helm template: the change is made in {where}; the template text is unchanged",
                                  "re-run `mesh-migrator scan` to check the rendered result (or `helm template` the chart)"]
    return Remedy(remedy.strategy, finding, changes, f"{remedy.summary} — via values ({where})", remedy.security_cost, notes)


def _move(edit, dr, origin, base: tuple) -> list[tuple[str, object]]:
    """One rendered-resource edit → [(values file, edit)] ([] for a no-op), or Refused."""
    path = tuple(getattr(edit, "path", ()))[len(base):]
    if isinstance(edit, (Upsert, DeleteKey)):
        target = path + (edit.key,)
        present = _has(dr.data, target)
        if isinstance(edit, DeleteKey) and not present:
            return []  # the rendered resource has no such key: nothing to delete
        ref = origin.source_of(target)
        if ref is not None and not isinstance(getattr(edit, "value", None), (dict, list)):
            return [_values_edit(ref, ref.key[:-1], ref.key[-1], edit)]
        holder = origin.source_of(path)
        if holder is not None and not present:
            return [_values_edit(holder, holder.key, edit.key, edit)]
        raise Refused(_template_text(dr, origin, path, edit.key, present))
    raise Refused(f"{'.'.join(map(str, path)) or 'the resource'} is template text in {dr.path}:{dr.line(path)}; "
                  "change it in the chart or pass values")


def _values_edit(ref, parent: tuple, key, edit) -> tuple[str, object]:
    if not ref.editable:
        raise Refused(f"the value comes from {ref.file}, held as a YAML string there; edit {'.'.join(map(str, ref.key))} by hand")
    where = tuple(ref.base) + tuple(parent)
    if isinstance(edit, DeleteKey):
        return ref.file, DeleteKey(ref.doc, where, key)
    if isinstance(edit.value, (dict, list)):
        return ref.file, Upsert(ref.doc, where, key, edit.value)
    return ref.file, SetScalar(ref.doc, where + (key,), edit.value)


def _template_text(dr, origin, path: tuple, key, present: bool) -> str:
    dotted = ".".join(map(str, path))
    line = dr.line(path + (key,)) if present else dr.line(path)
    from_values = [".".join(map(str, p[len(path):])) for p, _ in origin.provenance if p[:len(path)] == path and len(p) == len(path) + 1]
    why = f" (from values: {', '.join(from_values)})" if from_values else ""
    what = f"{dotted}.{key}" if present else dotted
    return (f"{what} is template text in {dr.path}:{line}{why}; "
            f"{'change' if present else 'add'} {key} in the chart, or make the chart read it from values and pass them")


def _has(data, path: tuple) -> bool:
    cur = data
    for step in path:
        if isinstance(cur, dict) and step in cur:
            cur = cur[step]
        elif isinstance(cur, list) and isinstance(step, int) and 0 <= step < len(cur):
            cur = cur[step]
        else:
            return False
    return True
