"""disable-verify: istiod `VERIFY_CERTIFICATE_AT_CLIENT=false`, mesh-wide, on Istio 1.21–1.23 only.

The flag was removed in 1.24 (istio/istio#52317): offering it there would produce a diff that
changes nothing.  It is written where the repo already configures istiod (IstioOperator values,
Helm values, Argo CD / Flux values), never into a new file, and always as `pilot.env`: on 1.21–1.23
the istiod chart reads only `.Values.pilot.env` (istio/istio 1.22.0 and 1.23.0
manifests/charts/istio-control/istio-discovery/templates/deployment.yaml; top-level `.Values.env`
is read from 1.24.0, where the flag no longer exists).  Values that only set revision tags are left
alone: they carry no istiod settings.
"""

from __future__ import annotations

from packaging.version import Version

from migrator.edits import EditEmbedded, Upsert
from migrator.remedies import FileChange, Refused, Remedy

NAME = "disable-verify"
COST = ("server certificates are no longer verified for EVERY DestinationRule without a CA, mesh-wide; "
        "and the flag stops existing in Istio 1.24, so this only buys time until the next upgrade")


def _configs(ctx):
    view = ctx.view
    return [c for c in view.inventory.istiod_configs if view.has(c.path) and not c.tags_only]


def check(finding, ctx) -> None:
    view = ctx.view
    if view is None or view.istio is None:
        raise Refused("the Istio version is unknown; the flag exists only on 1.21-1.23 (pass --istio-version)")
    if not (Version("1.21") <= view.istio < Version("1.24")):
        raise Refused(f"VERIFY_CERTIFICATE_AT_CLIENT does not exist on Istio {view.istio} (removed in 1.24, istio/istio#52317)")
    if not _configs(ctx):
        raise Refused("the repo does not declare istiod's values (IstioOperator, Helm values, Argo CD or Flux); set the env where istiod is installed")


def build(finding, ctx) -> Remedy:
    changes = []
    for c in _configs(ctx):
        edit = Upsert(0 if c.embedded else c.doc, c.values_path, "pilot", {"env": {"VERIFY_CERTIFICATE_AT_CLIENT": "false"}})
        if c.embedded:
            edit = EditEmbedded(c.doc, c.embedded, (edit,))
        changes.append(FileChange(c.path, [edit]))
    where = ", ".join(sorted({c.via for c in _configs(ctx)}))
    return Remedy(NAME, finding, changes, f"set istiod VERIFY_CERTIFICATE_AT_CLIENT=false in {where}", COST,
                  ["MM120 will report this setting: it stops working at Istio 1.24 (removed, istio/istio#52317) and the "
                   "findings it hides come back there until 1.26; fix the DestinationRules before leaving 1.23"]
                  + [f"{c.via}: the 1.24+ top-level `env:` there is ignored by the {view_minor(ctx)} chart; the flag goes to pilot.env"
                     for c in _configs(ctx) if c.flat_env])


def view_minor(ctx) -> str:
    v = ctx.view.istio
    return f"{v.major}.{v.minor}"
