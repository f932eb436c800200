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
        if flag.in_top_level_values_env and view.istio is not None and Version("1.21") <= view.istio < Version("1.24"):
            yield make(meta, view, path=flag.path, line=flag.line, resource=resource, severity="warning",
                       message=(f"VERIFY_CERTIFICATE_AT_CLIENT=false ({flag.via}) does nothing on Istio {view.istio}: the istiod chart "
                                "reads top-level `env` only from 1.24 (where the flag no longer exists) and `pilot.env` before; "
                                "verification stays on"),
                       details={"flag": flag.name, "doc": flag.doc, "key_path": flag.key_path})
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
