"""MM141: a spire chart pinned at one version while its values override the image to another."""

from __future__ import annotations

from migrator.rules.base import make
from migrator.versions import parse_version

ID = "MM141"


def check(view, meta):
    from migrator.knowledge import spire_app_version_for_chart

    for o in view.inventory.chart_overrides:
        if not view.has(o.path):
            continue
        app = spire_app_version_for_chart(o.chart_version.lstrip("v"))
        tag = parse_version(o.tag)
        if app and tag and parse_version(app) != tag:
            yield make(meta, view, path=o.path, line=o.line, resource=f"spire chart {o.chart_version}",
                       message=f"{o.component}.image.tag {o.tag} overrides the spire chart {o.chart_version}, which ships SPIRE {app}")
