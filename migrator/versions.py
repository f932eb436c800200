"""Version parsing for the shapes Istio and SPIRE versions take in real repositories.

Pins arrive as image tags (``1.22.3-distroless``), chart versions (``v1.22.3``), revision labels
(``1-22-3``), floats that YAML made out of ``1.22`` and pre-releases (``1.26.0-rc.0``).  Every rule
compares versions through this module so that one normalisation decides what a pin means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

#: image tag suffixes Istio publishes next to the plain tag; they do not change the version
VARIANT_SUFFIXES = ("distroless", "debug", "fips", "ubi")

_REVISION = re.compile(r"^(\d+)-(\d+)(?:-(\d+))?(?:-.*)?$")
_SEMVERISH = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?((?:-?(?:alpha|beta|rc)[.\-]?\d*)?)((?:-[A-Za-z][\w.]*)*)$")


class VersionError(ValueError):
    """A string that is meant to be a version but is not one (a usage error when typed by a user)."""


@dataclass(frozen=True)
class Tag:
    """A parsed version pin: the comparable version and the variant suffix it carried."""

    version: Version
    suffix: str  # e.g. "-distroless", "" when none

    @property
    def minor(self) -> str:
        return f"{self.version.major}.{self.version.minor}"


def parse_tag(text: object) -> Tag | None:
    """Parse a pin as written in a manifest; None when it is not a version (``latest``, ``auto``)."""
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, float):
        # YAML reads `tag: 1.22` as a float; 1.2 for "1.20" is lost, so keep what repr gives.
        text = repr(text)
    s = str(text).strip().strip('"').strip("'")
    m = _SEMVERISH.match(s)
    if not m:
        return None
    major, minor_, patch, pre, suffix = m.groups()
    core = f"{major}.{minor_}" + (f".{patch}" if patch else "")
    pre = pre.lstrip("-").replace("-", ".") if pre else ""
    try:
        version = Version(core + pre)
    except InvalidVersion:
        return None
    return Tag(version, suffix or "")


def parse_version(text: object) -> Version | None:
    """The comparable version of a pin, or None."""
    tag = parse_tag(text)
    return tag.version if tag else None


def parse_revision(label: str) -> Version | None:
    """``istio.io/rev: 1-22-3`` style revision names carry the version with dashes."""
    m = _REVISION.match(label.strip())
    if not m:
        return None
    parts = [p for p in m.groups() if p is not None]
    return Version(".".join(parts))


def require_version(text: str, what: str = "version") -> Version:
    """Parse a version typed by a user; raise VersionError with a clear message otherwise."""
    v = parse_version(text)
    if v is None:
        raise VersionError(f"{what} {text!r} is not a version (expected e.g. 1.22.3, v1.22, 1.26.0-rc.0)")
    return v


def minor_of(v: Version) -> str:
    return f"{v.major}.{v.minor}"


def minor_version(v: Version) -> Version:
    """The x.y.0 release of v's minor: boundaries are stated per minor."""
    return Version(f"{v.major}.{v.minor}")


def spec(text: str) -> SpecifierSet:
    """A version range; pre-releases count (1.26.0-rc.0 already contains the 1.26 fix)."""
    try:
        return SpecifierSet(text, prereleases=True)
    except InvalidSpecifier as exc:  # pragma: no cover - rule metadata is validated by tests
        raise VersionError(f"bad version range {text!r}: {exc}") from exc


def in_range(v: Version, range_text: str) -> bool:
    """True when v lies in range_text; the range is compared on the release (1.26.0rc0 counts as 1.26)."""
    if not range_text:
        return True
    base = Version(".".join(str(p) for p in v.release)) if v.pre else v
    return spec(range_text).contains(base, prereleases=True)


def replace_version_in_tag(tag_text: str, new_version: str) -> str:
    """Swap the version part of a tag and keep its ``v`` prefix and variant suffix (``-distroless``)."""
    s = str(tag_text)
    prefix = "v" if s.startswith("v") else ""
    parsed = parse_tag(s)
    suffix = parsed.suffix if parsed else ""
    return f"{prefix}{new_version}{suffix}"
