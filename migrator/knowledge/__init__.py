"""Version knowledge as data: Istio and SPIRE releases, behaviour changes, upgrade policies.

The facts live in ``istio.yaml`` and ``spire.yaml`` next to this module (validated by
``schemas/knowledge.schema.json``; provenance in ``SOURCES.md``). This module only loads and
indexes them.

    istio() / spire()                      the whole file (a fresh copy on every call)
    istio_minors()                         stable Istio minors, ordered ("1.20" ... "1.30")
    istio_changes(from_minor, to_minor)    changes with from < version <= to, in version order
    istio_changes_between(from_v, to_v)    patch-aware: changes present at to_v and not at from_v (backports)
    change_present(change, version)        is a change in that exact release (X.Y.0 or a backport)?
    keep_old_works(entry, version)         does a keep_old way work on that release (since / removed_in)?
    istio_release(minor)                   one releases[] entry, or None
    compatibility_profiles(minor)          compatibilityVersion values that minor accepts
    latest_istio()                         newest stable patch tag in the snapshot, e.g. "1.30.3"
    spire_minors()                         SPIRE minors, ordered
    spire_app_version_for_chart(version)   spire Helm chart version -> SPIRE version, or None
    registry_for(text)                     the registries[] entry a repo URL / hub / image points into
    registry_replacement(text, minor)      (entry, moved text) when that registry has no `minor` artifacts

Versions may be given as "1.22", "1.22.3", "v1.22.3" or "1.22.3-distroless"; only the minor is used
where a minor is expected.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from migrator import datacopy

__all__ = [
    "istio",
    "spire",
    "istio_minors",
    "istio_changes",
    "istio_release",
    "compatibility_profiles",
    "latest_istio",
    "spire_minors",
    "spire_app_version_for_chart",
    "change_present",
    "istio_changes_between",
    "keep_old_works",
    "registry_for",
    "registry_replacement",
]

#: the knowledge files sit beside this module (package data); read by path, not importlib.resources,
#: whose import (2.4 ms, with tempfile and zipfile adapters) was a fiftieth of a small scan
_HERE = Path(__file__).resolve().parent
_VERSION_RE = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?\s*$")


@lru_cache(maxsize=None)
def _load(name: str) -> dict[str, Any]:
    """A knowledge file, from its JSON copy when that copy was made from these exact YAML bytes
    (migrator/datacopy.py: istio.yaml is ~13 ms to parse even with libyaml, its copy under 1 ms)."""
    data = datacopy.load(_HERE, name)
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected a mapping at the top level")
    return data


def istio() -> dict:
    """The parsed istio.yaml (a deep copy: callers may mutate it freely)."""
    return copy.deepcopy(_load("istio.yaml"))


def spire() -> dict:
    """The parsed spire.yaml (a deep copy: callers may mutate it freely)."""
    return copy.deepcopy(_load("spire.yaml"))


def _minor(version: str) -> str:
    """'1.22', '1.22.3', 'v1.22.3-distroless' -> '1.22'. Raises ValueError on anything else."""
    m = _VERSION_RE.match(str(version))
    if not m:
        raise ValueError(f"not a version: {version!r}")
    return f"{int(m.group(1))}.{int(m.group(2))}"


def _key(minor: str) -> Version:
    return Version(minor)


@lru_cache(maxsize=None)
def _istio_minors() -> tuple[str, ...]:
    stable = [r["minor"] for r in _load("istio.yaml")["releases"] if r.get("status") == "stable"]
    return tuple(sorted(stable, key=_key))


def istio_minors() -> list[str]:
    """Known stable Istio minors, oldest first (prereleases such as 1.31-rc are left out)."""
    return list(_istio_minors())


@lru_cache(maxsize=None)
def _ordered_changes() -> tuple[dict, ...]:
    changes = _load("istio.yaml")["changes"]
    # sorted() is stable: within one minor the file order is kept.
    return tuple(sorted(changes, key=lambda c: _key(c["version"])))


def istio_changes(from_minor: str, to_minor: str) -> list[dict]:
    """Changes an upgrade from ``from_minor`` to ``to_minor`` crosses: from < version <= to.

    Ordered by version, then by position in istio.yaml. Empty when to <= from (no downgrade
    knowledge is encoded). Patch parts of the arguments are ignored.
    """
    lo, hi = _key(_minor(from_minor)), _key(_minor(to_minor))
    return [copy.deepcopy(c) for c in _ordered_changes() if lo < _key(c["version"]) <= hi]


def _release_version(version: str) -> Version:
    """'1.28.4', 'v1.28.4-distroless', '1.28' (= 1.28.0) -> Version; pre-releases count as their release."""
    m = _VERSION_RE.match(str(version))
    if not m:
        raise ValueError(f"not a version: {version!r}")
    return Version(f"{int(m.group(1))}.{int(m.group(2))}.{int(m.group(3) or 0)}")


def change_present(change: dict, version: str) -> bool:
    """Is `change` in Istio `version`?  From its X.Y.0 on, and on an older minor from the patch it was
    backported to (`backported_to`, e.g. debug-endpoint auth: 1.29.0, backported to 1.27.6 and 1.28.4)."""
    v = _release_version(version)
    if Version(f"{v.major}.{v.minor}") >= _key(change["version"]):
        return True
    for b in change.get("backported_to") or []:
        bv = Version(b)
        if (bv.major, bv.minor) == (v.major, v.minor) and v >= bv:
            return True
    return False


def istio_changes_between(from_version: str, to_version: str) -> list[dict]:
    """Changes an upgrade from one Istio release to another crosses, patch-aware: present at `to_version`
    and not at `from_version`.  A backport moves the change into the patch that carries it: 1.28.3 -> 1.28.5
    crosses the 1.29 debug-endpoint change, 1.28.5 -> 1.29.0 does not.  Version order, then file order."""
    return [copy.deepcopy(c) for c in _ordered_changes()
            if change_present(c, to_version) and not change_present(c, from_version)]


def keep_old_works(entry: dict, version: str) -> bool:
    """Does this keep_old way work on `version`?  Not before `since` (a patch, e.g. the 1.21 compatibility
    profile keeps enhanced resource scoping off only from 1.22.2) and not from `removed_in` on."""
    v = _release_version(version)
    if entry.get("since") and v < Version(entry["since"]):
        return False
    return not (entry.get("removed_in") and Version(f"{v.major}.{v.minor}") >= _key(entry["removed_in"]))


def istio_release(minor: str) -> dict | None:
    """The releases[] entry for a minor (stable or prerelease), or None if unknown."""
    want = _minor(minor)
    for r in _load("istio.yaml")["releases"]:
        if r["minor"] == want:
            return copy.deepcopy(r)
    return None


def compatibility_profiles(minor: str) -> list[str]:
    """compatibilityVersion values the given minor's charts accept ([] before 1.21 or if unknown)."""
    rel = istio_release(minor)
    return list(rel["compatibility_profiles"]) if rel else []


def latest_istio(include_announced: bool = False) -> str:
    """Newest stable Istio patch tag in the snapshot (e.g. "1.30.3").

    With ``include_announced=True`` also consider releases announced on istio.io after the tag
    snapshot was taken (``announced_after_snapshot``), e.g. 1.31.1.
    """
    candidates: list[str] = []
    for r in _load("istio.yaml")["releases"]:
        if r.get("status") == "stable":
            candidates.append(r["latest_patch"])
        if include_announced:
            candidates.extend(a["version"] for a in r.get("announced_after_snapshot", []))
    if not candidates:
        raise LookupError("istio.yaml has no stable release")
    return max(candidates, key=Version)


@lru_cache(maxsize=None)
def _spire_minors() -> tuple[str, ...]:
    return tuple(sorted((r["minor"] for r in _load("spire.yaml")["releases"]), key=_key))


def spire_minors() -> list[str]:
    """Known SPIRE minors, oldest first."""
    return list(_spire_minors())


@lru_cache(maxsize=None)
def _chart_map() -> dict[Version, str]:
    out: dict[Version, str] = {}
    for row in _load("spire.yaml")["helm_chart"]["versions"]:
        out[Version(row["chart"])] = row["app"]
    return out


def spire_app_version_for_chart(chart_version: str) -> str | None:
    """SPIRE version shipped by a released ``spire`` chart version (spiffe/helm-charts-hardened).

    ``"0.24.1"`` -> ``"1.11.0"``. Accepts a leading "v" or "spire-". Returns None for unknown or
    unparsable versions, and for ranges/constraints (the caller must resolve those first).
    """
    if chart_version is None:
        return None
    text = str(chart_version).strip()
    if text.startswith("spire-"):
        text = text[len("spire-"):]
    text = text.lstrip("vV")
    try:
        return _chart_map().get(Version(text))
    except InvalidVersion:
        return None


def _strip_scheme(url: str) -> str:
    return re.sub(r"^[a-z]+://", "", str(url).strip()).rstrip("/")


def registry_for(text: str) -> dict | None:
    """The most specific registries[] entry a chart repository, hub or image string points into.

    Most specific wins, so ``registry.istio.io/release/charts`` (OCI charts) is told apart from
    ``registry.istio.io/release`` (images) and each gets its own replacement.
    """
    v = _strip_scheme(text)
    hits = [r for r in _load("istio.yaml")["registries"]
            if v == _strip_scheme(r["url"]) or v.startswith(_strip_scheme(r["url"]) + "/")]
    return copy.deepcopy(max(hits, key=lambda r: len(_strip_scheme(r["url"])))) if hits else None


def registry_replacement(text: str, minor: str) -> tuple[dict, str] | None:
    """(registry entry, `text` moved to its replacement) when the registry `text` points into
    publishes nothing for Istio `minor` (its `until` is older); None when it is still published to.

    The scheme (``https://``, ``oci://`` or none, as Argo CD writes OCI repos) and the part after the
    registry (``/proxyv2:1.30.3``, ``/charts``) are kept.
    """
    reg = registry_for(text)
    if not reg or not reg.get("until") or _key(reg["until"]) >= _key(_minor(minor)):
        return None
    new = next((r for r in _load("istio.yaml")["registries"] if r["id"] == reg.get("replaced_by")), None)
    if new is None:
        return None
    scheme = re.match(r"^[a-z]+://", str(text).strip())
    rest = _strip_scheme(text)[len(_strip_scheme(reg["url"])):]
    return reg, (scheme.group(0) if scheme else "") + _strip_scheme(new["url"]) + rest
