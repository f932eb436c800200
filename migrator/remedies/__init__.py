"""Remedies: strategies that turn a finding into edits, each stating what it costs in security.

The strategies know which fix works in which situation (domain.md, "Which remedy works where"):
`caCertificates` does not help a SPIRE proxy before Istio 1.26, the istiod flag exists only on
1.21–1.23, `credentialName` needs a workloadSelector on sidecars.  A strategy that does not work
for a finding refuses with the reason instead of producing a diff that would not fix anything.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

STRATEGY_MODULES = {
    "credential-name": "credential_name",
    "ca-file": "ca_file",
    "skip-verify": "skip_verify",
    "disable-verify": "disable_verify",
    "upgrade": "upgrade",
}
#: the order the wizard offers them in, safest first
SAFETY_ORDER = ("upgrade", "credential-name", "ca-file", "skip-verify", "disable-verify")


class Refused(Exception):
    """The strategy does not work for this finding; the message says why (one line)."""


@dataclass
class FileChange:
    """Edits to one existing file, or the full text of a new file."""

    path: str  # relative to the scan root
    edits: list = field(default_factory=list)
    new_text: str | None = None


@dataclass
class Remedy:
    strategy: str
    finding: Any
    changes: list[FileChange]
    summary: str
    security_cost: str
    notes: list[str] = field(default_factory=list)


@dataclass
class FixContext:
    """User inputs a strategy may need (CLI flags or config file)."""

    secret_name: str | None = None
    ca_bundle: Any = None  # PEM file, "HOST=FILE" strings or {host: file}: see remedies/ca_bundles.py
    ca_path: str | None = None  # CA file path inside the proxy (ca-file strategy)
    view: Any = None  # the MeshView the finding came from


def strategy(name: str):
    try:
        return importlib.import_module(f"migrator.remedies.{STRATEGY_MODULES[name]}")
    except KeyError as exc:
        raise Refused(f"unknown strategy {name!r} (choose from {', '.join(STRATEGY_MODULES)})") from exc


def options_for(finding, ctx: FixContext) -> list[tuple[str, str | None]]:
    """Every strategy for a finding's rule with None (works) or the reason it does not."""
    from migrator.rules import catalog

    meta = catalog().get(finding.rule)
    out = []
    for name in SAFETY_ORDER:
        if meta is None or name not in meta.remedies:
            continue
        try:
            strategy(name).check(finding, ctx)
            if finding.details.get("template"):
                build(name, finding, ctx)  # a template's remedy must also move into values (or refuse)
            out.append((name, None))
        except Refused as exc:
            out.append((name, str(exc)))
    return out


def build(name: str, finding, ctx: FixContext) -> Remedy:
    from migrator.rules import catalog

    meta = catalog().get(finding.rule)
    if meta is None or name not in meta.remedies:
        raise Refused(f"strategy {name!r} does not apply to {finding.rule}")
    mod = strategy(name)
    mod.check(finding, ctx)
    remedy = mod.build(finding, ctx)
    if finding.details.get("template"):  # never edit Go template text: edit the values it reads
        from migrator.remedies.in_template import to_values

        remedy = to_values(remedy, ctx)
    return remedy


def tls_path(finding) -> tuple:
    d = finding.details
    return tuple(d.get("base_path", ())) + tuple(d["tls_path"])


def spec_path(finding) -> tuple:
    return tuple(finding.details.get("base_path", ())) + ("spec",)


def find_resource(view, finding):
    for r in view.resources:
        if r.ref == finding.resource and r.path == finding.path:
            return r
    return None
