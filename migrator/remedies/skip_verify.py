"""skip-verify: `insecureSkipVerify: true` on the DestinationRule TLS block.

Works on every version and under SPIRE (no validation context, no SDS request), at the price of
server identity.  Validation forbids it together with caCertificates/subjectAltNames (and
credentialName in SIMPLE mode), so those are removed (domain-report §2.3.2).
"""

from __future__ import annotations

from migrator.edits import DeleteKey, Upsert
from migrator.remedies import FileChange, Refused, Remedy, tls_path

NAME = "skip-verify"
COST = "the server certificate is NOT verified for this host: any certificate is accepted (no CA, no SAN check)"


def check(finding, ctx) -> None:
    if "tls_path" not in finding.details:
        raise Refused("skip-verify needs a DestinationRule TLS block")


def build(finding, ctx) -> Remedy:
    path = tls_path(finding)
    doc = finding.details["doc"]
    edits = [Upsert(doc, path, "insecureSkipVerify", True), DeleteKey(doc, path, "caCertificates"), DeleteKey(doc, path, "subjectAltNames")]
    if finding.details.get("mode") == "SIMPLE":
        edits.append(DeleteKey(doc, path, "credentialName"))
    host = finding.details.get("host") or "the upstream"
    return Remedy(NAME, finding, [FileChange(finding.path, edits)],
                  f"set insecureSkipVerify: true on {finding.resource} ({'.'.join(map(str, finding.details['tls_path']))})",
                  f"{COST} ({host})")
