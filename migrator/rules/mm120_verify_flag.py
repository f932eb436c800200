"""MM120: VERIFY_CERTIFICATE_AT_CLIENT=false / compatibilityVersion 1.20 — downgrade, then gone in 1.24."""

from __future__ import annotations

from packaging.version import Version

from migrator.rules.base import make

ID = "MM120"


def _disables(flag) -> bool:
    if flag.name == "VERIFY_CERTIFICATE_AT_CLIENT":
        return flag.value.strip().lower() == "false"
    if flag.name == "compatibilityVersion":
        return flag.value.strip().strip('"') == "1.20"
    return False


def check(view, meta):
    for flag in view.flags:
        resource = flag.via
        if flag.name == "VERIFY_CERT_AT_CLIENT":
            yield make(meta, view, path=flag.path, line=flag.line, resource=resource, severity="warning",
                       message=("VERIFY_CERT_AT_CLIENT is a misspelling (copied from the 1.21 upgrade notes) that istiod never "
                                "reads; the flag is VERIFY_CERTIFICATE_AT_CLIENT"),
                       details={"flag": flag.name, "doc": flag.doc, "key_path": flag.key_path})
            continue
        if flag.name == "compatibilityVersion" and flag.value.strip() == "1.2" and (view.istio is None or view.istio >= Version("1.21")):
            yield make(meta, view, path=flag.path, line=flag.line, resource=resource, severity="error",
                       message=(f"compatibilityVersion 1.2 ({flag.via}) is a YAML float (unquoted 1.20): the chart looks up "
                                "profile-compatibility-version-%s.yaml with it and the render fails with \"unknown compatibility "
                                "version\"; it does not disable certificate verification. Quote it (\"1.20\") or remove it"),
                       details={"flag": flag.name, "doc": flag.doc, "key_path": flag.key_path})
            continue
        if not _disables(flag):
            continue
        if flag.scope != "istiod":
            yield from _not_read_by_istiod(view, meta, flag, resource)
            continue
        what = "VERIFY_CERTIFICATE_AT_CLIENT=false" if flag.name != "compatibilityVersion" else f"compatibilityVersion {flag.value}"
        if view.istio is None:
            yield make(meta, view, path=flag.path, line=flag.line, resource=resource, severity="warning",
                       message=f"{what} ({flag.via}) disables server certificate verification on Istio 1.21-1.23 and has no effect from 1.24",
                       details={"flag": flag.name, "doc": flag.doc, "key_path": flag.key_path})
        elif view.istio < Version("1.21"):
            continue
        elif view.istio < Version("1.24"):
            yield make(meta, view, path=flag.path, line=flag.line, resource=resource, severity="warning",
                       message=(f"{what} ({flag.via}) turns off server certificate verification mesh-wide for every DestinationRule "
                                f"without a CA on Istio {view.istio}; the setting is removed in 1.24, so the workaround disappears on upgrade"),
                       details={"flag": flag.name, "doc": flag.doc, "key_path": flag.key_path})
        else:
            effect = ("the Helm render fails with \"unknown compatibility version\"" if flag.name == "compatibilityVersion"
                      else "istiod ignores it, so proxies verify against the OS CA bundle again (file-root:system under SPIRE)")
            yield make(meta, view, path=flag.path, line=flag.line, resource=resource, severity="error",
                       message=f"{what} ({flag.via}) was removed in Istio 1.24; on {view.istio} {effect}",
                       details={"flag": flag.name, "doc": flag.doc, "key_path": flag.key_path})


def _not_read_by_istiod(view, meta, flag, resource):
    """A setting where istiod's chart never reads it: say it does nothing (or breaks the render from 1.24)."""
    details = {"flag": flag.name, "doc": flag.doc, "key_path": flag.key_path}
    if flag.scope == "values-env":
        # istio-discovery/templates/deployment.yaml reads .Values.pilot.env on 1.21-1.23 (line 157 at
        # 1.23.0) and the flattened .Values.env only from 1.24.0, where the flag no longer exists
        if view.istio is None or view.istio < Version("1.24"):
            yield make(meta, view, path=flag.path, line=flag.line, resource=resource, severity="warning",
                       message=(f"{flag.name}={flag.value} ({flag.via}) has no effect: the istiod chart "
                                f"{'before 1.24 ' if view.istio is None else str(view.istio) + ' '}reads only pilot.env, "
                                f"so server certificates are still verified against the OS CA bundle"),
                       details=details)
        return
    if flag.name == "compatibilityVersion" and view.istio is not None and view.istio >= Version("1.24"):
        # every Istio chart's zzz_profile.yaml fails on an unknown compatibility version
        yield make(meta, view, path=flag.path, line=flag.line, resource=resource, severity="error",
                   message=(f"compatibilityVersion {flag.value} ({flag.via}) was removed in Istio 1.24; on {view.istio} the "
                            f"{flag.scope} chart's render fails with \"unknown compatibility version\""),
                   details=details)
