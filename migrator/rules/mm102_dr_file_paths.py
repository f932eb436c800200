"""MM102: DestinationRule caCertificates/clientCertificate paths reach SPIRE before Istio 1.26."""

from __future__ import annotations

import sys

from migrator.model import Deferred, Details  # Details: these findings grow with the repository
from migrator.rules.base import make
from migrator.sds import FILE_ROOT_SYSTEM, described, failing_blocks

ID = "MM102"
#: the SDS-name tuples of findings made so far (bounded): one per distinct set of CA/certificate paths
_NAMES: dict[tuple, tuple] = {}


def check(view, meta):
    if not view.istio_in(meta.istio):
        return
    for block, hits in failing_blocks(view, lambda n: n.kind in ("file-root", "file-cert") and n.name != FILE_ROOT_SYSTEM):
        dr = block.dr
        key = "caCertificates" if block.settings.get("caCertificates") else "clientCertificate"
        names = tuple(map(sys.intern, hits.names))  # shared: the same few CA paths recur across DestinationRules
        names = _NAMES.setdefault(names, names) if len(_NAMES) < 1024 else _NAMES.get(names, names)  # and their tuples
        yield make(meta, view, path=dr.path, line=dr.line(block.path + (key,)), resource=dr.ref, low=bool(hits.low),
                   message=Deferred(_message, sys.intern(block.where), hits.proxies, hits.count, names,
                                    sys.intern(hits.log)),
                   sds_resource=names[0], proxies=hits.proxies,
                   details=Details(doc=dr.doc_index, base_path=dr.base_path, tls_path=block.path,
                                    mode=sys.intern(str(block.settings.get("mode")).upper()), proxy_count=hits.count))


def _message(where: str, proxies: list[str], count: int, names: tuple[str, ...], log: str) -> str:
    """The text of a finding, made when it is read (model.Deferred: its parts are shared strings and the
    finding's own proxy list, not ~900 bytes per finding)."""
    return (f"{where} uses certificate files; the SPIRE-backed proxies {described(proxies, count)} request "
            f"{', '.join(repr(n) for n in names)} from the SPIRE agent, which refuses them before Istio 1.26; "
            f"Envoy logs: {log}")
