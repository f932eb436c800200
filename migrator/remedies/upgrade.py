"""upgrade: the real fix is istiod and proxies at 1.26+; hand the finding to the upgrade planner."""

from __future__ import annotations

from migrator.remedies import Refused, Remedy

NAME = "upgrade"
COST = "none; proxies must be restarted onto the new version (canary: re-label namespaces)"


def check(finding, ctx) -> None:
    try:
        import migrator.plan  # noqa: F401
    except ImportError as exc:
        raise Refused("the upgrade planner is not available in this build") from exc


def build(finding, ctx) -> Remedy:
    return Remedy(NAME, finding, [], "upgrade Istio to 1.26 or later: run `mesh-migrator plan --to fixed` (add --write to apply a step)", COST)
