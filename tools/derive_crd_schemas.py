#!/usr/bin/env python3
"""Derive JSON Schema (draft 2020-12) files from the real Istio and SPIRE CRD bundles.

Why this exists: the verification gate must check every rewritten Istio/SPIRE resource against
what the target API server will actually accept, not against our own idea of the API.  The only
authoritative description of that is the ``openAPIV3Schema`` inside each CRD, so we convert those
schemas mechanically (no hand edits) and commit the output.  The script is deterministic: the same
input bytes always give the same output bytes, and a test re-runs it and compares.

Usage::

    python tools/derive_crd_schemas.py [DATA_DIR] [--out SCHEMAS_DIR]

``DATA_DIR`` is the read-only ``shared/data`` directory (default ``../shared/data`` relative to
the repository root); ``--out`` defaults to the repository's ``schemas/`` directory.

Conversion rules (OpenAPI v3.0 structural schema -> JSON Schema 2020-12), see schemas/README.md:

* kept as-is: type, properties, required, enum, items, additionalProperties (map values),
  oneOf/anyOf/allOf/not, minimum/maximum, multipleOf, min/maxLength, pattern, min/maxItems,
  uniqueItems, min/maxProperties, format (a JSON Schema annotation: not asserted), default
  (annotation; the API server applies it, we do not);
* ``nullable: true`` -> ``"null"`` added to ``type`` (and to ``enum`` when there is one);
* ``x-kubernetes-int-or-string: true`` -> ``"type": ["integer", "string"]`` (the redundant
  ``anyOf: [{type: integer}, {type: string}]`` the CRD carries is folded into it);
* an object with ``properties`` and no ``additionalProperties`` gets ``additionalProperties:
  false`` unless it has ``x-kubernetes-preserve-unknown-fields: true``.  This mirrors the API
  server: unknown fields of a structural schema are pruned (silently dropped) or, with kubectl's
  default ``--validate=strict``, rejected.  Either way a rewrite that emits them is wrong.
  It is not added inside oneOf/anyOf/allOf/not branches (those only carry ``required`` lists);
* ``x-kubernetes-validations`` (CEL) rules are NOT evaluated; they are kept verbatim as an inert
  annotation keyword so readers (and a future CEL evaluator) can see them;
* other ``x-kubernetes-*`` keys are kept as annotations; ``description`` is dropped for size;
* OpenAPI 3.0 boolean ``exclusiveMinimum/Maximum`` become the 2020-12 numeric form.

Any keyword not listed above makes the script fail, so a new CRD feature cannot slip through
unconverted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

try:  # libyaml is ~10x faster on the 0.8 MB bundles; output is identical either way
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pure-Python PyYAML
    _Loader = yaml.SafeLoader

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "schemas"

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: Only these kinds are emitted (all served versions): the ones the migrator rewrites or may
#: emit.  WasmPlugin, RequestAuthentication, WorkloadGroup and TrafficExtension are left out
#: to keep the committed output small.
ISTIO_KINDS = (
    "AuthorizationPolicy",
    "DestinationRule",
    "EnvoyFilter",
    "Gateway",
    "PeerAuthentication",
    "ProxyConfig",
    "ServiceEntry",
    "Sidecar",
    "Telemetry",
    "VirtualService",
    "WorkloadEntry",
)

#: ControllerManagerConfig is deliberately absent: its CRD is an unedited kubebuilder scaffold
#: (``spec.foo`` "an example field") and does not describe the real controller-manager config
#: file, whose settings are top-level keys, so validating against it would reject every real file.
SPIRE_KINDS = ("ClusterFederatedTrustDomain", "ClusterSPIFFEID", "ClusterStaticEntry")

#: Provenance copied from shared/data/README.md.  The blob is re-computed from the file and must
#: match, which proves we converted exactly the bytes the README describes.
ISTIO_SOURCES: dict[str, dict[str, str]] = {
    "1.20": {
        "file": "istio-crds/istio-1.20-crd-all.gen.yaml",
        "tag": "1.20.8",
        "commit": "8e297d015674d2e6a21a52fbff4bff8db8380989",
        "path": "manifests/charts/base/crds/crd-all.gen.yaml",
        "blob": "c259f01bab89ac6836d10a60998c41a931791974",
    },
    "1.21": {
        "file": "istio-crds/istio-1.21-crd-all.gen.yaml",
        "tag": "1.21.6",
        "commit": "82f36589b0dacb7c5429d01661f094be9d4531c0",
        "path": "manifests/charts/base/crds/crd-all.gen.yaml",
        "blob": "93cbd3fb47bb59c2432e2fb191f228eb84c2c17f",
    },
    "1.22": {
        "file": "istio-crds/istio-1.22-crd-all.gen.yaml",
        "tag": "1.22.8",
        "commit": "6abd1e5a6bb77b5b4e020f18b99bcc2e89cef305",
        "path": "manifests/charts/base/crds/crd-all.gen.yaml",
        "blob": "1625d85f986c03fbb3065a414ae8509f054a9ff9",
    },
    "1.24": {
        "file": "istio-crds/istio-1.24-crd-all.gen.yaml",
        "tag": "1.24.6",
        "commit": "734e100e0cfbc22f431613b49b8932a700da6b35",
        "path": "manifests/charts/base/files/crd-all.gen.yaml",
        "blob": "109d34c046998a2bb6eb3fe9edc4b68300359e50",
    },
    "1.26": {
        "file": "istio-crds/istio-1.26-crd-all.gen.yaml",
        "tag": "1.26.8",
        "commit": "4ea27a1efd955d5ed1db8b817d3c8dd70a7ae52a",
        "path": "manifests/charts/base/files/crd-all.gen.yaml",
        "blob": "fe5eca3557a2cc0e0c8a8d4736c5776a673a916d",
    },
    "1.30": {
        "file": "istio-crds/istio-1.30-crd-all.gen.yaml",
        "tag": "1.30.3",
        "commit": "56df41f63e513f834c9a3af33d8aed82d1d961f2",
        "path": "manifests/charts/base/files/crd-all.gen.yaml",
        "blob": "7318e07ffdaca66dbbfdc4e27e93da74eabdd3a2",
    },
}

SPIRE_RELEASE = {
    "repo": "spiffe/spire-controller-manager",
    "tag": "v0.6.6",
    "commit": "9ef4eef2a307bb54d31781f1f505e00296c85020",
    "dir": "config/crd/bases",
}
SPIRE_SOURCES: dict[str, dict[str, str]] = {
    "ClusterFederatedTrustDomain": {
        "file": "spire-crds/spire.spiffe.io_clusterfederatedtrustdomains.yaml",
        "blob": "aa41e2db821e4b965f762444bc75b75333f9fc91",
    },
    "ClusterSPIFFEID": {
        "file": "spire-crds/spire.spiffe.io_clusterspiffeids.yaml",
        "blob": "6681a47d0c442926734c294ef377a55b56972fdb",
    },
    "ClusterStaticEntry": {
        "file": "spire-crds/spire.spiffe.io_clusterstaticentries.yaml",
        "blob": "cbbd3f1c18ded0ec186f8e4cdd6ef28316d7a0eb",
    },
}

# Keywords copied unchanged (values are not schemas).
_PLAIN = (
    "type",
    "required",
    "enum",
    "format",
    "default",
    "minimum",
    "maximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
)
# Annotations kept verbatim (JSON Schema ignores unknown keywords; nothing here is enforced).
_ANNOTATIONS = (
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
)
_DROPPED = ("description", "title", "example", "externalDocs")
_HANDLED = {
    "properties",
    "items",
    "additionalProperties",
    "oneOf",
    "anyOf",
    "allOf",
    "not",
    "nullable",
    "exclusiveMinimum",
    "exclusiveMaximum",
}
_INT_OR_STRING_ANYOF = [{"type": "integer"}, {"type": "string"}]


class ConversionError(ValueError):
    """The CRD uses a construct this converter does not know; fail rather than guess."""


def git_blob_sha1(data: bytes) -> str:
    """The git blob id of ``data`` (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def convert(node: dict[str, Any], where: str, in_junctor: bool = False) -> dict[str, Any]:
    """Convert one OpenAPI v3 (Kubernetes structural) schema node to JSON Schema 2020-12."""
    if not isinstance(node, dict):
        raise ConversionError(f"{where}: schema node is {type(node).__name__}, expected a mapping")
    unknown = set(node) - set(_PLAIN) - set(_ANNOTATIONS) - set(_DROPPED) - _HANDLED
    if unknown:
        raise ConversionError(f"{where}: unsupported keyword(s) {sorted(unknown)}")

    out: dict[str, Any] = {k: node[k] for k in _PLAIN if k in node}
    out.update({k: node[k] for k in _ANNOTATIONS if k in node})

    if "properties" in node:
        out["properties"] = {
            name: convert(sub, f"{where}.{name}", in_junctor) for name, sub in node["properties"].items()
        }
    if "items" in node:
        if not isinstance(node["items"], dict):
            raise ConversionError(f"{where}: tuple-form items are not structural")
        out["items"] = convert(node["items"], f"{where}[]", in_junctor)
    if "additionalProperties" in node:
        ap = node["additionalProperties"]
        out["additionalProperties"] = ap if isinstance(ap, bool) else convert(ap, f"{where}.*", in_junctor)
    for key in ("oneOf", "anyOf", "allOf"):
        if key in node:
            out[key] = [convert(sub, f"{where}/{key}[{i}]", True) for i, sub in enumerate(node[key])]
    if "not" in node:
        out["not"] = convert(node["not"], f"{where}/not", True)

    # OpenAPI 3.0 exclusiveMinimum/Maximum are booleans qualifying minimum/maximum.
    for excl, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if node.get(excl) is True:
            if bound not in node:
                raise ConversionError(f"{where}: {excl} without {bound}")
            out[excl] = out.pop(bound)

    if node.get("x-kubernetes-int-or-string"):
        if "type" in node:
            raise ConversionError(f"{where}: x-kubernetes-int-or-string with a type")
        out["type"] = ["integer", "string"]
        if out.get("anyOf") == _INT_OR_STRING_ANYOF:
            del out["anyOf"]

    if node.get("nullable"):
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        # no type at all: the node already accepts null

    if (
        not in_junctor
        and "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def count_cel(node: Any) -> int:
    """Number of CEL rules under ``node`` (recorded so readers know how much is unchecked)."""
    if isinstance(node, dict):
        own = len(node.get("x-kubernetes-validations", []))
        return own + sum(count_cel(v) for k, v in node.items() if k != "x-kubernetes-validations")
    if isinstance(node, list):
        return sum(count_cel(v) for v in node)
    return 0


def metadata_schema() -> dict[str, Any]:
    """The part of ObjectMeta a manifest author writes.

    CRD schemas leave ``metadata`` to the API server (ObjectMeta), so we add the checks that
    catch real manifest bugs: a name (or generateName), and string-valued labels/annotations
    (YAML turns ``version: 1.0`` into a float, which the API server rejects).  Other ObjectMeta
    fields are allowed through unchecked.
    """
    string_map = {"type": ["object", "null"], "additionalProperties": {"type": ["string", "null"]}}
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "generateName": {"type": "string", "minLength": 1},
            "namespace": {"type": "string"},
            "labels": string_map,
            "annotations": string_map,
        },
        "anyOf": [{"required": ["name"]}, {"required": ["generateName"]}],
    }


def wrap(crd_root: dict[str, Any], group: str, version: str, kind: str, comment: str, title: str) -> dict[str, Any]:
    """Make a whole-resource schema from a CRD version's openAPIV3Schema.

    The CRD root only describes ``spec``/``status`` (Istio) or declares apiVersion/kind/metadata
    loosely (kubebuilder); the API server supplies the rest.  We pin apiVersion/kind to constants
    and require metadata so one validation covers the whole manifest.
    """
    converted = convert(crd_root, kind)
    props = dict(converted.get("properties", {}))
    props["apiVersion"] = {"const": f"{group}/{version}"}
    props["kind"] = {"const": kind}
    props["metadata"] = metadata_schema()
    required = ["apiVersion", "kind", "metadata"]
    required += [r for r in converted.get("required", []) if r not in required]
    schema = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$comment": comment,
        "title": title,
        "type": "object",
        "required": required,
        "properties": props,
        # unknown top-level keys are pruned by the API server, like any other unknown field
        "additionalProperties": False,
    }
    for key in ("x-kubernetes-validations", "oneOf", "anyOf", "allOf", "not"):
        if key in converted:
            schema[key] = converted[key]
    return schema


def load_crds(path: Path, expected_blob: str) -> list[dict[str, Any]]:
    data = path.read_bytes()
    blob = git_blob_sha1(data)
    if blob != expected_blob:
        raise SystemExit(f"{path}: blob {blob} != {expected_blob} from shared/data/README.md; refusing to convert")
    return [d for d in yaml.load_all(data, Loader=_Loader) if d]


def dump(obj: Any) -> str:
    """Canonical text: sorted keys, indent 1, trailing newline (stable, diff-friendly)."""
    return json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def schema_file_name(kind: str, group: str, version: str) -> str:
    return f"{kind.lower()}.{group}.{version}.json"


_CHECKED: set[str] = set()


def check(schema: dict[str, Any], where: str) -> None:
    """Fail generation if we produced something that is not a valid 2020-12 schema.

    Meta-schema validation costs ~0.2 s per file, and every served version of a CRD (and often
    the same CRD across minors) has the same body, so each distinct body is checked once.
    """
    body = dict(schema)
    for key in ("$comment", "title"):
        body.pop(key, None)
    body["properties"] = {k: v for k, v in body["properties"].items() if k != "apiVersion"}
    digest = hashlib.sha256(dump(body).encode()).hexdigest()
    if digest in _CHECKED:
        return
    _CHECKED.add(digest)
    try:
        from jsonschema import Draft202012Validator
    except ImportError:  # pragma: no cover - generation still works, the test suite checks
        return
    try:
        Draft202012Validator.check_schema(schema)
    except Exception as exc:  # jsonschema.SchemaError
        raise SystemExit(f"{where}: generated schema is invalid: {exc}") from exc


def derive(data_dir: Path, meta_check: bool = True) -> dict[str, str]:
    """Return {relative output path: file text} for every generated file.

    ``meta_check=False`` skips the (slow) meta-schema validation; the output is identical.
    """
    files: dict[str, str] = {}

    istio_index: dict[str, Any] = {
        "$comment": "Generated by tools/derive_crd_schemas.py; lists which apiVersions each Istio minor serves.",
        "minors": {},
    }
    for minor, src in ISTIO_SOURCES.items():
        path = data_dir / src["file"]
        if not path.is_file():
            raise SystemExit(f"missing {path}")
        kinds: dict[str, Any] = {}
        for crd in load_crds(path, src["blob"]):
            spec = crd["spec"]
            kind, group = spec["names"]["kind"], spec["group"]
            if kind not in ISTIO_KINDS:
                continue
            served = [v for v in spec["versions"] if v.get("served")]
            for ver in served:
                name = schema_file_name(kind, group, ver["name"])
                root = ver["schema"]["openAPIV3Schema"]
                comment = (
                    f"Generated by tools/derive_crd_schemas.py from shared/data/{src['file']} "
                    f"(istio/istio tag {src['tag']}, commit {src['commit']}, {src['path']}, blob {src['blob']}); "
                    f"CRD {crd['metadata']['name']} version {ver['name']}. "
                    "CEL x-kubernetes-validations are annotations only (not evaluated). Do not edit."
                )
                schema = wrap(root, group, ver["name"], kind, comment, f"{kind} {group}/{ver['name']} (Istio {minor})")
                if meta_check:
                    check(schema, f"{minor}/{name}")
                files[f"istio/{minor}/{name}"] = dump(schema)
            kinds[kind] = {
                "group": group,
                "versions": [v["name"] for v in served],
                "storage": next(v["name"] for v in spec["versions"] if v.get("storage")),
                "cel_rules_per_version": count_cel(served[0]["schema"]["openAPIV3Schema"]),
            }
        missing = set(ISTIO_KINDS) - set(kinds)
        if missing:
            raise SystemExit(f"{path}: kinds {sorted(missing)} not found")
        istio_index["minors"][minor] = {"source": dict(src), "kinds": kinds}
    files["istio/index.json"] = dump(istio_index)

    spire_index: dict[str, Any] = {
        "$comment": "Generated by tools/derive_crd_schemas.py; SPIRE controller-manager CRDs.",
        "release": dict(SPIRE_RELEASE),
        "kinds": {},
    }
    for kind in SPIRE_KINDS:
        src = SPIRE_SOURCES[kind]
        (crd,) = load_crds(data_dir / src["file"], src["blob"])
        spec = crd["spec"]
        if spec["names"]["kind"] != kind:
            raise SystemExit(f"{src['file']}: expected {kind}, found {spec['names']['kind']}")
        group = spec["group"]
        served = [v for v in spec["versions"] if v.get("served")]
        for ver in served:
            name = schema_file_name(kind, group, ver["name"])
            comment = (
                f"Generated by tools/derive_crd_schemas.py from shared/data/{src['file']} "
                f"({SPIRE_RELEASE['repo']} tag {SPIRE_RELEASE['tag']}, commit {SPIRE_RELEASE['commit']}, "
                f"{SPIRE_RELEASE['dir']}, blob {src['blob']}); CRD {crd['metadata']['name']} version {ver['name']}. "
                "Do not edit."
            )
            schema = wrap(
                ver["schema"]["openAPIV3Schema"], group, ver["name"], kind, comment,
                f"{kind} {group}/{ver['name']} (spire-controller-manager {SPIRE_RELEASE['tag']})",
            )
            if meta_check:
                check(schema, f"spire/{name}")
            files[f"spire/{name}"] = dump(schema)
        spire_index["kinds"][kind] = {
            "group": group,
            "scope": spec["scope"],
            "versions": [v["name"] for v in served],
            "source": dict(src),
            "cel_rules_per_version": count_cel(served[0]["schema"]["openAPIV3Schema"]),
        }
    files["spire/index.json"] = dump(spire_index)
    return files


def write(files: dict[str, str], out_dir: Path) -> None:
    """Replace the generated trees so files of dropped kinds/versions do not linger."""
    for sub in ("istio", "spire"):
        tree = out_dir / sub
        if tree.is_dir():
            for old in sorted(tree.rglob("*.json"), reverse=True):
                old.unlink()
            for d in sorted((p for p in tree.rglob("*") if p.is_dir()), reverse=True):
                if not any(d.iterdir()):
                    d.rmdir()
    for rel, text in sorted(files.items()):
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=DEFAULT_DATA, help="shared/data directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="schemas directory to write (default: repo schemas/)")
    parser.add_argument(
        "--no-meta-check", action="store_true",
        help="skip validating the output against the 2020-12 meta-schema (faster; same bytes)",
    )
    args = parser.parse_args(argv)
    files = derive(args.data_dir.resolve(), meta_check=not args.no_meta_check)
    write(files, args.out)
    total = sum(len(t.encode("utf-8")) for t in files.values())
    print(f"wrote {len(files)} files ({total / 1e6:.2f} MB) under {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
