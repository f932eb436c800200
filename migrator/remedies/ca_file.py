"""ca-file: `caCertificates: <path>` — only where a file reference is actually served.

Under SPIRE before Istio 1.26 the path becomes `file-root:<path>` and SPIRE refuses it exactly like
`file-root:system`, so the strategy refuses there (the seed advice that does not work).
"""

from __future__ import annotations

from packaging.version import Version

from migrator.edits import Upsert
from migrator.remedies import FileChange, Refused, Remedy, tls_path

NAME = "ca-file"
COST = "none, if the CA file is mounted into every proxy that uses this rule"


def check(finding, ctx) -> None:
    view = ctx.view
    if finding.proxies and view is not None and (view.istio is None or view.istio < Version("1.26")):
        raise Refused("caCertificates becomes the SDS name file-root:<path>, which the SPIRE agent refuses before Istio 1.26 (istio/istio#54725)")
    if "tls_path" not in finding.details:
        raise Refused("ca-file needs a DestinationRule TLS block")
    if not ctx.ca_path:
        raise Refused("ca-file needs the CA bundle's path inside the proxy (--ca-path or fix.ca_path in the config)")


def build(finding, ctx) -> Remedy:
    edits = [Upsert(finding.details["doc"], tls_path(finding), "caCertificates", ctx.ca_path)]
    return Remedy(NAME, finding, [FileChange(finding.path, edits)], f"set caCertificates: {ctx.ca_path} on {finding.resource}", COST,
                  [f"mount {ctx.ca_path} into istio-proxy (sidecar.istio.io/userVolume / userVolumeMount annotations)"])
