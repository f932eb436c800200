"""`mesh-migrator plan`: a step-by-step, reviewable Istio (and SPIRE) upgrade for one repository.

The planner answers four questions from data, never from code constants:

1. *Which versions to pass through.*  The upgrade policy in ``migrator/knowledge/istio.yaml``
   (in-place: one minor per step; canary/revision: up to two; never more than two by any method) and
   in ``spire.yaml`` (one minor per step, servers before agents).  Each hop lands on the newest known
   patch of its minor.  ``--to fixed`` is the lowest version at which the repository's current
   findings no longer apply, found by re-running the rules "as if" at every candidate version.
2. *Which lines to change.*  Every pin the inventory found (chart versions, image tags incl.
   ``-distroless``, kustomize ``newTag``, Helm ``global.tag``, also inside Argo CD ``helm.values``
   strings) and, for canary, the revision names (``istio.io/rev: 1-22-3`` and the ``revision`` value
   that installs it).  The edits go through the edit engine and the same verification gate as `fix`.
3. *What changes for this repository at that step.*  Findings that appear, disappear or change
   severity (the rules re-run with the step's version) and the knowledge base's behaviour changes
   crossing that step, with their sources, sorted into "affects this repo" and the rest.
4. *How to do it safely.*  A checklist: pre-checks, apply order (CRDs → istiod → gateways → data
   plane; SPIRE servers before agents), what to watch, how to roll back.

Pin edits are absolute ("set this scalar to 1.24.6"), so the text after step N is the original text
with step N's edits applied, whatever happened in between; that is also what ``--write --step N``
writes.  After ``--write`` the next ``plan`` starts from the written versions.

The package, one job a module: `releases` (which versions), `pins` (which lines), `evaluate` (what
changes for this repository), `checklist` (how to do it safely), `build` (the plan), `materialise`
(verified texts, diffs, ``--write``), `render` (Markdown/JSON) and `model` (the plan's data).
This module re-exports what the front ends and tests use.
"""

from migrator.plan.build import build_plan
from migrator.plan.materialise import write_step
from migrator.plan.pins import _pin_edit
from migrator.plan.releases import (STRATEGIES, PlanError, _user_version, istio_path, latest_istio_release,
                                    resolve_istio_version, revision_name, version_text)
from migrator.plan.render import render_json, render_markdown

__all__ = ["STRATEGIES", "PlanError", "_pin_edit", "_user_version", "build_plan", "istio_path", "latest_istio_release",
           "render_json", "render_markdown", "resolve_istio_version", "revision_name", "version_text", "write_step"]
