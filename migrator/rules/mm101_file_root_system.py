"""MM101: a SPIRE proxy will request `file-root:system` (Istio 1.21–1.25), derived from the SDS model."""

from __future__ import annotations

import sys

from migrator.model import Deferred, Details  # Details: these findings grow with the repository
from migrator.rules.base import make
from migrator.sds import FILE_ROOT_SYSTEM, described, failing_blocks

ID = "MM101"


def check(view, meta):
    if not view.istio_in(meta.istio):
        return
    for block, hits in failing_blocks(view, lambda n: n.name == FILE_ROOT_SYSTEM):
        dr = block.dr
        mode = sys.intern(str(block.settings.get("mode")).upper())  # one string for the message and details of every finding
        yield make(meta, view, path=dr.path, line=block.line, resource=dr.ref, low=bool(hits.low), extra_assumptions=hits.low[:1],
                   message=Deferred(_message, sys.intern(block.where), mode, sys.intern(str(view.istio or '1.21-1.25 (assumed)')),
                                    hits.proxies, hits.count, sys.intern(hits.log)),
                   sds_resource=FILE_ROOT_SYSTEM, proxies=hits.proxies,
                   details=Details(doc=dr.doc_index, base_path=dr.base_path, tls_path=block.path, mode=mode,
                                    host=(dr.data.get("spec") or {}).get("host"), proxy_count=hits.count))


def _message(where: str, mode: str, istio: str, proxies: list[str], count: int, log: str) -> str:
    """The text of a finding, made when it is read (model.Deferred: shared strings and the finding's own
    proxy list instead of ~900 bytes per finding)."""
    return (f"{where} is {mode} without caCertificates: on Istio {istio} "
            f"the SPIRE-backed proxies {described(proxies, count)} will request SDS resource "
            f"\"{FILE_ROOT_SYSTEM}\" from the SPIRE agent, which refuses it; Envoy logs: {log}")
