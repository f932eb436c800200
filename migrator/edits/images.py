"""Retagging image references (``repo/name:1.22.3-distroless`` → ``…:1.24.1-distroless``)."""

from __future__ import annotations

import re

from migrator.edits.operations import EditError

_VERSION_RE = re.compile(r"^(v?)(\d+(?:\.\d+)*(?:-(?:alpha|beta|rc)(?:\.?\d+)*)?)(.*)$")


def retag_image(ref: str, version: str, *, line: int | None = None) -> str:
    """`docker.io/istio/proxyv2:1.22.3-distroless` + `1.24.1` → `…:1.24.1-distroless`.

    `version` is the bare version; a `v` prefix follows the image's own convention (the old tag).
    A digest pins exact bytes, so changing the tag next to it would be a lie: refused.  A tag
    that does not start with a version (`latest`) has nothing to replace: refused.
    """
    if "@" in ref:
        raise EditError(f"image {ref} is pinned by digest; refusing to change its tag", line)
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon <= slash:
        return f"{ref}:{version}"
    name, tag = ref[:colon], ref[colon + 1:]
    m = _VERSION_RE.match(tag)
    if not m:
        raise EditError(f"image tag {tag!r} has no version to replace", line)
    prefix, _old, suffix = m.groups()
    return f"{name}:{prefix}{version.removeprefix('v')}{suffix}"
