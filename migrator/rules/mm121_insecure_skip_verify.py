"""MM121: insecureSkipVerify: true — the proxy accepts any server certificate for that host."""

from __future__ import annotations

from migrator.rules.base import make
from migrator.sds import tls_blocks

ID = "MM121"


def check(view, meta):
    for dr in view.of_kind("DestinationRule"):
        for block in tls_blocks(dr):
            value = block.settings.get("insecureSkipVerify")
            if value is True or str(value).lower() == "true":
                yield make(meta, view, path=dr.path, line=dr.line(block.path + ("insecureSkipVerify",)), resource=dr.ref,
                           message=(f"{block.where} sets insecureSkipVerify: true: the server certificate of "
                                    f"{(dr.data.get('spec') or {}).get('host')!r} is not verified (no CA, no SAN check)"))
