"""Validate rewritten Istio and SPIRE resources against the real CRD schemas of the target version.

Why: a rewrite that is syntactically fine YAML can still be refused (or, worse, silently pruned)
by the API server of the version the repository deploys.  The verification gate therefore checks
each rewritten resource against JSON Schemas derived mechanically from the CRD bundles Istio and
spire-controller-manager ship (``tools/derive_crd_schemas.py``; provenance in
``schemas/README.md``).  The schemas are JSON Schema draft 2020-12.

What is and is not checked:

* structure, types, enums, numeric/length/item limits, oneOf exclusivity, required fields and
  unknown fields (which the API server prunes or, under kubectl's strict validation, rejects);
* NOT the CEL ``x-kubernetes-validations`` rules (durations, port ranges, "only one of
  credentialName/credentialNames", ...) and NOT ``format`` (annotation only, as in 2020-12);
* only minors we have bundles for exist; other versions use the nearest lower one
  (:func:`schema_minor_for`).
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any


from .versions import parse_revision, parse_tag

__all__ = [
    "available_minors",
    "schema_minor_for",
    "validate_istio_resource",
    "validate_spire_resource",
    "spire_release",
]

_DEV_SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


@functools.lru_cache(maxsize=None)
def _schemas_root() -> Any:
    """Where the generated schemas live: the ``migrator.schemas`` package when installed
    (``schemas/`` is mapped onto it), else the checkout's top-level ``schemas/`` directory."""
    try:
        from importlib.resources import files

        root = files("migrator.schemas")
        if (root / "istio" / "index.json").is_file():
            return root
    except (ImportError, ModuleNotFoundError, TypeError):
        pass
    return _DEV_SCHEMAS


@functools.lru_cache(maxsize=None)
def _load_json(*parts: str) -> dict[str, Any]:
    node = _schemas_root()
    for part in parts:  # one level at a time: Traversable.joinpath(*parts) needs Python 3.11
        node = node / part
    text = node.read_text(encoding="utf-8")
    return json.loads(text)


def _istio_index() -> dict[str, Any]:
    return _load_json("istio", "index.json")


def _spire_index() -> dict[str, Any]:
    return _load_json("spire", "index.json")


def _minor_key(minor: str) -> tuple[int, int]:
    major, _, rest = minor.partition(".")
    return int(major), int(rest)


@functools.lru_cache(maxsize=None)
def _minors() -> tuple[str, ...]:
    return tuple(sorted(_istio_index()["minors"], key=_minor_key))


def available_minors() -> list[str]:
    """The Istio minors we have real CRD schemas for, oldest first (e.g. ``["1.20", ...]``)."""
    return list(_minors())


def schema_minor_for(istio_version: str | None) -> str:
    """The schema minor used to validate resources for ``istio_version``.

    The nearest *lower* available minor is chosen on purpose: it only knows fields that
    already existed, so a rewrite that relies on a field newer than the target is flagged rather
    than waved through (Istio adds CRD fields far more often than it removes them).  Versions
    older than the oldest bundle use the oldest; ``None`` (target unknown) uses the newest.
    Accepts the shapes pins take in repositories (``1.22.3-distroless``, ``v1.22``, ``1-22-3``,
    ``1.26.0-rc.0``) via :mod:`migrator.versions`; raises ``ValueError`` for anything else.
    """
    minors = _minors()
    if istio_version is None:
        return minors[-1]
    version = None
    tag = parse_tag(istio_version)
    if tag is not None:
        version = tag.version
    elif isinstance(istio_version, str):
        version = parse_revision(istio_version)
    if version is None:
        raise ValueError(f"{istio_version!r} is not an Istio version (expected e.g. 1.22.3)")
    key = (version.major, version.minor)
    lower = [m for m in minors if _minor_key(m) <= key]
    return lower[-1] if lower else minors[0]


def spire_release() -> str:
    """The spire-controller-manager release the SPIRE schemas come from (e.g. ``v0.6.6``)."""
    return _spire_index()["release"]["tag"]


@functools.lru_cache(maxsize=None)
def _validator(*parts: str) -> Any:
    """A compiled validator for one schema file, without a format checker: ``format`` is an
    annotation in 2020-12 and the API server does not assert most of the formats either."""
    from jsonschema.validators import validator_for  # lazily: a scan that validates nothing should not pay for it

    schema = _load_json(*parts)
    cls = validator_for(schema)
    return cls(schema)


@functools.lru_cache(maxsize=None)
def _istio_group_kinds() -> frozenset[tuple[str, str]]:
    return frozenset(
        (entry["group"], kind)
        for minor in _istio_index()["minors"].values()
        for kind, entry in minor["kinds"].items()
    )


def _schema_file(kind: str, group: str, version: str) -> str:
    return f"{kind.lower()}.{group}.{version}.json"


def _split_api_version(obj: Any) -> tuple[str, str, str] | None:
    if not isinstance(obj, Mapping):
        return None
    api, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api, str) or not isinstance(kind, str) or api.count("/") != 1:
        return None
    group, version = api.split("/")
    return group, version, kind


def validate_istio_resource(obj: dict, istio_version: str | None) -> list[str]:
    """Check one Istio resource against the CRD schema of ``istio_version``'s schema minor.

    Returns one single-line message per problem, ``[]`` when it validates and also ``[]`` for
    kinds we carry no schema for (non-Istio objects, WasmPlugin, ...): the gate must not block on
    what it cannot judge.  A known kind under an apiVersion the version does not serve yields the
    single message ``"<apiVersion> <Kind> is not served by Istio <minor>"``.  Other messages read
    ``"<Kind>/<namespace>/<name>: <json.path>: <problem> (Istio <minor> CRD schema)"`` (the
    namespace part is omitted when metadata has none).  Raises ``ValueError`` when
    ``istio_version`` is not a version, since a gate that guesses the target is worse than none.
    """
    parsed = _split_api_version(obj)
    if parsed is None:
        return []
    group, version, kind = parsed
    if (group, kind) not in _istio_group_kinds():
        return []
    minor = schema_minor_for(istio_version)
    entry = _istio_index()["minors"][minor]["kinds"].get(kind)
    if entry is None or entry["group"] != group or version not in entry["versions"]:
        return [f"{group}/{version} {kind} is not served by Istio {minor}"]
    validator = _validator("istio", minor, _schema_file(kind, group, version))
    return _messages(validator, obj, f"Istio {minor} CRD schema")


def validate_spire_resource(obj: dict) -> list[str]:
    """Check one spire-controller-manager resource (ClusterSPIFFEID, ClusterStaticEntry,
    ClusterFederatedTrustDomain) against its CRD schema; same message conventions as
    :func:`validate_istio_resource`.  ControllerManagerConfig is not checked: its published CRD
    is a kubebuilder placeholder that does not describe the real config file."""
    parsed = _split_api_version(obj)
    if parsed is None:
        return []
    group, version, kind = parsed
    entry = _spire_index()["kinds"].get(kind)
    if entry is None or entry["group"] != group:
        return []
    release = spire_release()
    if version not in entry["versions"]:
        return [f"{group}/{version} {kind} is not served by spire-controller-manager {release}"]
    validator = _validator("spire", _schema_file(kind, group, version))
    return _messages(validator, obj, f"spire-controller-manager {release} CRD schema")


# --- messages -------------------------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _plain(value: Any) -> Any:
    """Turn ruamel/PyYAML node types into plain JSON types so type checks behave.

    ruamel's round-trip ``ScalarBoolean`` subclasses ``int`` (it would pass as an integer and
    fail as a boolean) and YAML timestamps load as dates, which the Kubernetes YAML decoder
    treats as strings.
    """
    if isinstance(value, Mapping):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if type(value).__name__ == "ScalarBoolean":
        return bool(value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return value


def _identity(obj: Mapping) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    name = meta.get("name") or (f"{meta['generateName']}*" if meta.get("generateName") else "<unnamed>")
    ns = meta.get("namespace")
    return f"{obj.get('kind')}/{ns}/{name}" if ns else f"{obj.get('kind')}/{name}"


def _json_path(parts: Any) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    if len(text) <= limit:
        return text
    return text[: limit - 4] + ("...}" if isinstance(value, dict) else "...]" if isinstance(value, list) else "...")


def _required_only(branch: Any) -> list[str] | None:
    if isinstance(branch, dict) and set(branch) == {"required"}:
        return list(branch["required"])
    return None


def _describe(error: Any) -> str:
    """One readable line for a jsonschema error.

    Istio encodes protobuf ``oneof`` fields as ``oneOf: [not anyOf required..., required a,
    required b]``; jsonschema's generic message for that dumps the whole object, so name the
    clashing fields instead.
    """
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator in ("oneOf", "anyOf"):
        branches = schema.get(error.validator, [])
        keys = [k for b in branches for k in (_required_only(b) or [])]
        others = [b for b in branches if _required_only(b) is None]
        exclusive_shape = error.validator == "oneOf" and len(others) <= 1 and all(set(b) == {"not"} for b in others)
        if keys and isinstance(error.instance, dict):
            present = [k for k in keys if k in error.instance]
            if exclusive_shape and len(present) > 1:
                return f"only one of {', '.join(keys)} may be set (found {', '.join(present)})"
            if error.validator == "anyOf" and not others and not present:
                return f"one of {', '.join(keys)} is required"
    message = error.message
    text = repr(error.instance)
    if len(text) > 60 and message.startswith(text):
        message = _short(error.instance) + message[len(text):]
    return " ".join(message.split())


def _messages(validator: Any, obj: Mapping, source: str) -> list[str]:
    instance = _plain(obj)
    ident = _identity(instance)
    lines = []
    for error in validator.iter_errors(instance):
        path = _json_path(error.absolute_path)
        where = f"{path}: " if path else ""
        order = tuple((1, p, "") if isinstance(p, int) else (2, 0, str(p)) for p in error.absolute_path)
        lines.append((order, f"{ident}: {where}{_describe(error)} ({source})"))
    seen: set[str] = set()
    result = []
    for _, line in sorted(lines):
        if line not in seen:
            seen.add(line)
            result.append(line)
    return result


def served_api_versions(kind: str, group: str, istio_version: str | None) -> list[str] | None:
    """API versions of group/kind the CRDs of that Istio version serve; None for kinds we know nothing of.

    Read from the real CRD bundles (schemas/istio/index.json) rather than from a hand-kept table:
    AuthorizationPolicy was served as security.istio.io/v1 already in 1.20, PeerAuthentication only
    from 1.22, and a rule that guessed would be wrong for one of them.
    """
    entry = _istio_index()["minors"][schema_minor_for(istio_version)]["kinds"].get(kind)
    if entry is None or entry["group"] != group:
        return None
    return list(entry["versions"])
