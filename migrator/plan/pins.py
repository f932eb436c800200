"""Which lines to change: the pins a step rewrites and the absolute edits that rewrite them.

Besides the inventory's pins this finds the revision names (``revision:`` values, ``istio.io/rev``
labels) and registry moves the inventory does not list, and turns every pin into a `PinEdit` and then
into edit-engine operations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from packaging.version import Version

from migrator.model import Pin
from migrator.plan.model import ROLES, PinEdit
from migrator.plan.releases import _REVISION_NAME, _kb, _minor, revision_name, version_text
from migrator.plan.render import _short_url
from migrator.versions import parse_revision, parse_tag, replace_version_in_tag

_IMAGE_SOURCE = re.compile(r" image (pilot|proxyv2|install-cni|ztunnel|spire-server|spire-agent)$")


def _role(pin: Pin) -> str:
    c = pin.component
    if pin.product == "spire":
        return {"server": "spire-servers", "agent": "spire-agents"}.get(c, "spire-chart")
    if c in ("base", "istio-base"):
        return "crds"
    if c in ("istiod", "pilot", "istiod-remote", "chart"):
        return "control-plane"
    if c in ("cni", "istio-cni", "install-cni", "ztunnel"):
        return "node-agents"
    if c in ("gateway", "istio-ingress", "istio-egress"):
        return "gateways"
    if c == "revision" and "revision value" in pin.source:
        return "gateways" if "gateway revision value" in pin.source else "control-plane"
    return "data-plane"


def revision_pins(root: Path, result) -> list[Pin]:
    """Revision names the inventory does not list: `revision:` values (istiod, gateway charts,
    IstioOperator spec.revision, Argo CD helm.parameters) and `istio.io/rev` labels outside
    workloads/namespaces.  Only names that spell a version (`1-22-3`) are returned."""
    known = {_pin_key(p) for p in result.inventory.pins}
    files = {p.path for p in result.inventory.pins if p.product == "istio"}
    files |= {c.path for c in getattr(result.inventory, "istiod_configs", [])}
    out = []
    for site in _sites(root, files, _revision_hit):
        pin = _rev_pin(site)
        if _pin_key(pin) not in known:
            out.append(pin)
    return out


@dataclass
class _Site:
    """A scalar found by walking a file: where it is for the edit engine and for people."""

    path: str
    doc: int  # document index in the file (the outer one for embedded text)
    key_path: tuple  # inside the document (inside the embedded text when `embedded`)
    embedded: tuple
    value: str
    line: int
    where: str  # "Application istiod", "Helm values" …
    gateway: bool


def _sites(root: Path, files: Iterable[str], match) -> list[_Site]:
    """Walk every document of `files` (and Argo CD `helm.values` strings); `match(path, value, data)`
    returns the key path to report or None."""
    from migrator.documents import embedded_document, load_text

    out: list[_Site] = []
    for rel in sorted(set(files)):
        try:
            text = (root / rel).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            continue
        for doc in load_text(rel, text).documents:
            where = f"{doc.kind} {doc.name}".strip() if doc.kind else "Helm values"
            for path, value in _walk(doc.data, ()):
                hit = match(path, value, doc.data)
                if hit:
                    out.append(_Site(rel, doc.index, doc.base_path + hit, (), value, doc.line_of(hit), where, _is_gateway(doc, hit)))
            if doc.kind not in ("Application", "ApplicationSet"):
                continue
            for vpath, sval in list(_walk(doc.data, ())):
                if vpath[-2:] != ("helm", "values") or not isinstance(sval, str):
                    continue
                for inner in embedded_document(doc, vpath):
                    for path, value in _walk(inner.data, ()):
                        hit = match(path, value, inner.data)
                        if hit:
                            out.append(_Site(rel, doc.index, hit, doc.base_path + vpath, value, inner.line_of(hit),
                                             f"{where} helm.values", _is_gateway(doc, vpath)))
    return out


def _walk(node: Any, path: tuple) -> Iterable[tuple[tuple, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield path + (k,), v
            yield from _walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield path + (i,), v
            yield from _walk(v, path + (i,))


def _revision_hit(path: tuple, value: Any, data: Any) -> tuple | None:
    """The key path to edit when (path, value) is a version-spelling revision name."""
    if not isinstance(value, str) or not _REVISION_NAME.match(value) or parse_revision(value) is None:
        return None
    if path and path[-1] in ("revision", "istio.io/rev"):
        return path
    if len(path) >= 2 and path[-1] == "value" and isinstance(path[-2], int) and "parameters" in path:
        item = data
        for step in path[:-1]:
            item = item[step]
        if isinstance(item, dict) and item.get("name") == "revision":
            return path
    return None


def _is_gateway(doc, path: tuple) -> bool:
    """Is this revision inside the source of an Argo CD Application for Istio's gateway chart?"""
    data = doc.data
    if not (doc.kind in ("Application", "ApplicationSet") and isinstance(data, dict)):
        return "gateway" in doc.path.lower()
    node: Any = data
    for step in path:
        if isinstance(node, dict) and node.get("chart") is not None:
            return str(node.get("chart")) == "gateway"
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return False
    return False


def _rev_pin(site: _Site) -> Pin:
    label = site.key_path[-1] == "istio.io/rev"
    what = "label istio.io/rev" if label else ("gateway revision value" if site.gateway else "revision value")
    from migrator.inventory import env_of

    return Pin("istio", str(parse_revision(site.value)), site.path, site.line,
               f"{site.where} {'.'.join(str(h) for h in site.key_path)} ({what})", "revision", env_of(site.path), site.value,
               site.doc, site.key_path, site.embedded)


_REGISTRY_KEYS = ("repoURL", "url", "hub", "repository", "repo", "newName", "image")


def registry_sites(root: Path, result) -> list[_Site]:
    """Chart repositories, hubs and image references that name a known registry (istio.yaml registries).

    Image references are pins too (their tag); they are listed here as well so that a step crossing
    the registry's last published minor moves the registry together with the tag (an image tag
    1.31.x under gcr.io/istio-release would never exist).
    """
    files = {r.path for r in result.inventory.registries} | {p.path for p in result.inventory.pins if p.product == "istio"}
    pins = {_pin_key(p) for p in result.inventory.pins}

    def match(path, value, data):
        if not isinstance(value, str) or not path or not isinstance(path[-1], str):
            return None
        if path[-1] in _REGISTRY_KEYS and _kb().registry_for(value):
            return path
        return None

    return [s for s in _sites(root, files, match)
            if s.key_path[-1] == "image" or (s.path, s.doc, tuple(s.key_path), tuple(s.embedded)) not in pins]


def registry_edits(sites: list[_Site], prev: Version, v: Version) -> list[PinEdit]:
    """Moves for registries whose last published minor lies between the step's versions (istio.yaml registries)."""
    out = []
    for site in sites:
        moved = _kb().registry_replacement(site.value, _minor(v))
        if moved is None or _kb().registry_replacement(site.value, _minor(prev)) is not None:
            continue
        reg, new = moved
        pin = Pin("istio", version_text(v), site.path, site.line, f"{site.where} {'.'.join(str(h) for h in site.key_path)} "
                  f"({reg['url']} is published to up to {reg['until']}; {_short_url(reg['sources'][0])})", "registry",
                  None, site.value, site.doc, site.key_path, site.embedded)
        out.append(PinEdit(pin, site.value, new, "registries", "scalar"))
    return out


def merge_image_moves(edits: list[PinEdit], now: dict[tuple, str]) -> list[PinEdit]:
    """One edit per image reference: a registry move and a tag bump of the same `image:` become one
    rewrite of the whole reference (docker.io/istio/proxyv2:1.31.1), because SetImageTag keeps the
    registry and a separate SetScalar would put the old tag back."""
    from migrator.edits import retag_image

    moves = {_pin_key(e.pin): e for e in edits if e.role == "registries"}
    out = []
    for e in edits:
        key = _pin_key(e.pin)
        if e.kind == "image" and key in moves:
            move = moves.pop(key)
            new = retag_image(move.new, _image_version(e))
            merged = PinEdit(e.pin, retag_image(move.old, version_text(parse_tag(e.old).version)) if parse_tag(e.old) else move.old,
                             new, e.role, "scalar")
            now[key] = e.new
            out.append(merged)
        elif e.role != "registries":
            out.append(e)
        elif key in moves:  # a registry move alone; an image retagged by an earlier step keeps that tag
            tag = parse_tag(now.get(key, ""))
            if tag and e.pin.key_path and e.pin.key_path[-1] == "image":
                e.old, e.new = retag_image(e.old, version_text(tag.version)), retag_image(e.new, version_text(tag.version))
            now[key] = now.get(key, e.new)
            out.append(e)
    return out


def _pin_edit(pin: Pin, v: Version, strategy: str) -> tuple[PinEdit | None, str | None]:
    """The edit that moves one pin to v, or (None, why not)."""
    if pin.component == "revision":
        if strategy != "canary":
            return None, ("in-place upgrades keep the revision name; it no longer spells the version afterwards "
                          "(use --strategy canary to move to a revision named after the new version)")
        new = revision_name(pin.raw, v)
        return (PinEdit(pin, pin.raw, new, _role(pin), "revision"), None) if new != pin.raw else (None, None)
    if pin.product == "spire" and pin.component == "chart":
        return None, None  # chart pins are moved by the SPIRE step with a chart version, not an app version
    new = replace_version_in_tag(pin.raw, version_text(v))
    kind = "image" if _IMAGE_SOURCE.search(pin.source) else "scalar"
    if new == pin.raw:
        return None, None
    return PinEdit(pin, pin.raw, new, _role(pin), kind), None


def _engine_edits(edits: list[PinEdit]) -> dict[str, list]:
    """Edit-engine operations per file; edits inside one YAML-in-a-string scalar are grouped."""
    from migrator.edits import EditEmbedded, SetImageTag, SetScalar

    per_file: dict[str, list] = {}
    embedded: dict[tuple, list] = {}
    for e in edits:
        p = e.pin
        if e.kind == "image":
            op = SetImageTag(0 if p.embedded else p.doc, tuple(p.key_path), _image_version(e))
        else:
            op = SetScalar(0 if p.embedded else p.doc, tuple(p.key_path), e.new)
        if p.embedded:
            embedded.setdefault((p.path, p.doc, tuple(p.embedded)), []).append(op)
        else:
            per_file.setdefault(p.path, []).append(op)
    for (path, doc, emb), ops in embedded.items():
        per_file.setdefault(path, []).append(EditEmbedded(doc, emb, tuple(ops)))
    return per_file


def _image_version(e: PinEdit) -> str:
    """SetImageTag takes the version; it keeps the tag's suffix (-distroless) itself."""
    tag = parse_tag(e.new)
    return version_text(tag.version) if tag else e.new


def _edit_order(e: PinEdit) -> tuple:
    roles = [r for r, _ in ROLES]
    return (roles.index(e.role) if e.role in roles else len(roles), e.pin.path, e.pin.line)


def _pin_key(pin: Pin) -> tuple:
    return (pin.path, pin.doc, tuple(pin.key_path), tuple(pin.embedded))


def _advance(edit: PinEdit, now: dict[tuple, str]) -> None:
    """Record the pin's new text; the edit's `old` becomes the text before this step."""
    key = _pin_key(edit.pin)
    edit.old = now.get(key, edit.pin.raw)
    now[key] = edit.new


def _lowest(pins: list[Pin]) -> Version | None:
    versions = sorted({Version(p.version) for p in pins})
    return versions[0] if versions else None
