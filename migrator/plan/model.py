"""The plan's data: what one step changes (pin edits, finding changes) and the plan as a whole.

Every other module of the package fills or reads these types, so they sit apart from all of them
(and the package's imports stay one-way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

from migrator.model import Finding, Pin
from migrator.plan.releases import version_text

#: roles of pins, in the order a step is applied (the data plane never ahead of the control plane)
ROLES = (
    ("registries", "chart repositories and image registries (before the versions only published there)"),
    ("crds", "CRDs and cluster-wide resources (base chart)"),
    ("control-plane", "control plane (istiod)"),
    ("node-agents", "node agents (istio-cni, ztunnel)"),
    ("gateways", "gateways"),
    ("data-plane", "data plane (sidecar images, revision labels)"),
    ("spire-servers", "SPIRE servers"),
    ("spire-agents", "SPIRE agents"),
    ("spire-chart", "spire chart (servers and agents)"),
)


@dataclass
class PinEdit:
    """One pin changed by one step."""

    pin: Pin
    old: str  # the pin text as written (tag part for images)
    new: str
    role: str
    kind: str  # "scalar" | "image" | "revision"

    def as_dict(self) -> dict:
        p = self.pin
        return {"product": p.product, "path": p.path, "line": p.line, "source": p.source, "component": p.component,
                "role": self.role, "kind": self.kind, "old": self.old, "new": self.new,
                "embedded": bool(p.embedded), "env": p.env}


@dataclass
class FindingChange:
    status: str  # "appears" | "disappears" | "severity" | "remains" | "resolved" (by this step's own edits)
    finding: Finding
    old_severity: str | None = None

    def as_dict(self) -> dict:
        f = self.finding
        out = {"status": self.status, "rule": f.rule, "severity": f.severity, "path": f.path, "line": f.line,
               "resource": f.resource, "message": f.message}
        if self.old_severity:
            out["old_severity"] = self.old_severity
        return out


@dataclass
class Step:
    index: int
    product: str  # "istio" | "spire"
    from_version: Version
    to_version: Version
    strategy: str
    edits: list[PinEdit] = field(default_factory=list)
    kept: list[tuple[Pin, str]] = field(default_factory=list)  # pins deliberately not changed, with why
    files: list = field(default_factory=list)  # fix.FilePlan per changed file (old = text before this step)
    diff: str = ""
    problems: list[str] = field(default_factory=list)  # edit engine / verification gate refusals
    findings: list[FindingChange] = field(default_factory=list)
    changes: list[tuple[dict, str, str]] = field(default_factory=list)  # (knowledge change, relevance, why)
    checklist: dict[str, list[str]] = field(default_factory=dict)

    @property
    def title(self) -> str:
        name = "Istio" if self.product == "istio" else "SPIRE"
        return f"{name} {version_text(self.from_version)} → {version_text(self.to_version)}"

    @property
    def ok(self) -> bool:
        return not self.problems

    def of_status(self, status: str) -> list[FindingChange]:
        return [c for c in self.findings if c.status == status]


@dataclass
class Plan:
    root: Path
    repo_prefix: str
    target_spec: str
    strategy: str
    istio_from: Version | None
    istio_to: Version | None
    spire_from: Version | None
    spire_to: Version | None
    steps: list[Step]
    notes: list[str]
    policy: dict  # knowledge policies used: {"istio": {...}, "spire": {...}}
    current: list[Finding]
    pins: list[Pin]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)
