"""SARIF 2.1.0 report, for GitHub code scanning and any other SARIF consumer.

One run.  ``tool.driver.rules`` lists every rule of the catalog (not only those that fired), so a
consumer can show help for a rule whose findings all went away.  Results point at the file relative
to ``%SRCROOT%`` (the scanned root) with line and column.

``partialFingerprints`` identify a finding without its line or message: rule, path, resource, SDS
name and the key path of the offending block inside the resource (never the document index, which
an unrelated document inserted above would shift).  Inserting comments, reordering documents or
rewording a message keeps the fingerprint, so code-scanning alerts survive unrelated edits.

Suppressed findings stay in the results with ``suppressions``: inline comments and
``mesh-migrator.io/ignore`` annotations are ``inSource``; the baseline file and the config are
``external``.  Files that could not be read or parsed, and files deliberately skipped, become
``toolExecutionNotifications`` with their location.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from migrator import __version__
from migrator.model import Finding, Problem
from migrator.ruledocs import project_url  # informationUri comes from pyproject's [project.urls]
from migrator.rules import RULE_MODULES, RuleMeta, catalog
from migrator.scan import ScanResult

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "meshMigrator/v1"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
IN_SOURCE = {"inline", "annotation"}
#: Finding.details entries that say which part of a resource a finding is about.  Others are left out of
#: fingerprints: "doc"/"base_path" are positions, "mode"/"host" are attributes that may be edited.
IDENTITY_DETAILS = ("tls_path", "key_path", "server", "flag", "namespace", "service_account")


def render(result: ScanResult) -> str:
    return json.dumps(sarif_log(result), indent=2, ensure_ascii=False) + "\n"


def sarif_log(result: ScanResult) -> dict[str, Any]:
    metas = list(catalog().values())
    index = {m.id: i for i, m in enumerate(metas)}
    columns = Columns(result)
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "mesh-migrator",
            "version": __version__,
            "semanticVersion": __version__,
            "informationUri": project_url(),
            "rules": [rule_descriptor(m) for m in metas],
        }},
        "invocations": [invocation(result, index)],
        "columnKind": "unicodeCodePoints",
        "results": [sarif_result(f, index, fp, columns.column(f)) for f, fp in zip(result.findings, fingerprints(result.findings))],
        "properties": {"environments": [
            {"name": v.env, "istioVersion": str(v.istio) if v.istio else None, "istioAssumed": v.istio_assumed,
             "spireVersion": str(v.spire) if v.spire else None}
            for v in result.views
        ]},
    }
    if result.stdin_text is None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": _dir_uri(result.root)}}
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


# -- rules ---------------------------------------------------------------------------------------
def rule_name(rule_id: str) -> str:
    """A PascalCase name from the rule's module (mm101_file_root_system → FileRootSystem)."""
    for module in RULE_MODULES:
        prefix, _, rest = module.partition("_")
        if prefix.upper() == rule_id:
            return "".join(w.capitalize() for w in rest.split("_"))
    return rule_id


def rule_tags(meta: RuleMeta) -> list[str]:
    text = f"{meta.title} {meta.explanation}".lower()
    tags = ["istio"]
    if "spire" in text or "spiffe" in text:
        tags.append("spire")
    if any(w in text for w in ("tls", "certificate", "verif")):
        tags.append("tls")
    if meta.istio:
        tags.append("upgrade")
    return tags


def rule_descriptor(meta: RuleMeta) -> dict[str, Any]:
    remedies = ", ".join(meta.remedies)
    text = [meta.explanation]
    md = [f"**{meta.id}: {meta.title}**", "", meta.explanation]
    if meta.istio:
        text.append(f"Istio versions: {meta.istio}")
        md += ["", f"Istio versions: `{meta.istio}`"]
    if meta.sds_names:
        text.append("SDS names: " + ", ".join(meta.sds_names))
        md += ["", "SDS names: " + ", ".join(f"`{n}`" for n in meta.sds_names)]
    if remedies:
        text.append(f"Remedies (mesh-migrator fix --strategy): {remedies}")
        md += ["", "Remedies (`mesh-migrator fix --strategy`): " + ", ".join(f"`{r}`" for r in meta.remedies)]
    if meta.sources:
        text.append("Sources: " + " ".join(meta.sources))
        md += ["", "Sources:", ""] + [f"- <{s}>" for s in meta.sources]
    descriptor: dict[str, Any] = {
        "id": meta.id,
        "name": rule_name(meta.id),
        "shortDescription": {"text": meta.title},
        "fullDescription": {"text": meta.explanation},
        "help": {"text": "\n\n".join(text), "markdown": "\n".join(md)},
        "defaultConfiguration": {"level": LEVELS[meta.severity]},
        "properties": {"tags": rule_tags(meta), "istioVersions": meta.istio or "any",
                       "remedies": list(meta.remedies), "sources": list(meta.sources)},
    }
    if meta.help_uri:
        descriptor["helpUri"] = meta.help_uri
    return descriptor


# -- results -------------------------------------------------------------------------------------
def identity(f: Finding) -> list:
    """What makes a finding the same finding after unrelated edits: no line, no message, no doc index."""
    details = {k: f.details[k] for k in IDENTITY_DETAILS if k in f.details}
    return [f.rule, f.path, f.resource, f.sds_resource or "", _jsonable(details)]


def fingerprints(findings: list[Finding]) -> list[str]:
    """One fingerprint per finding; findings with the same identity are numbered in file order."""
    seen: dict[str, int] = {}
    order = sorted(range(len(findings)), key=lambda i: (findings[i].path, findings[i].line, findings[i].column))
    out = [""] * len(findings)
    for i in order:
        digest = hashlib.sha256(json.dumps(identity(findings[i]), sort_keys=True).encode("utf-8")).hexdigest()[:32]
        n = seen.get(digest, 0)
        seen[digest] = n + 1
        out[i] = f"{digest}:{n + 1}"
    return out


def sarif_result(f: Finding, index: dict[str, int], fingerprint: str, column: int = 1) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ruleId": f.rule,
        "level": LEVELS.get(f.severity, "warning"),
        "message": {"text": f.message},
        "locations": [{
            "physicalLocation": {"artifactLocation": artifact_location(f.path),
                                 "region": {"startLine": max(1, f.line), "startColumn": max(1, column)}},
            "logicalLocations": [{"fullyQualifiedName": f.resource, "kind": "resource"}],
        }],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
        "properties": _drop_empty({"severity": f.severity, "confidence": f.confidence, "resource": f.resource,
                                   "sdsResource": f.sds_resource, "environment": f.env, "proxies": f.proxies,
                                   "assumptions": list(f.assumptions)}),  # none is a shared (), which _drop_empty would keep
    }
    if f.rule in index:
        out["ruleIndex"] = index[f.rule]
    if f.suppressed:
        out["suppressions"] = [{
            "kind": "inSource" if f.suppressed in IN_SOURCE else "external",
            "status": "accepted",
            "justification": f.suppression_reason or f"suppressed by {f.suppressed} (no reason given)",
            "properties": {"how": f.suppressed},
        }]
    return out


def artifact_location(path: str) -> dict[str, Any]:
    p = PurePosixPath(path)
    if p.is_absolute():  # outside the scanned root (a symlink target, an explicit file elsewhere)
        return {"uri": "file://" + quote(path)}
    if path == "<stdin>":
        return {"uri": "stdin"}
    return {"uri": quote(path, safe="/"), "uriBaseId": SRCROOT}


class Columns:
    """Start columns for findings.

    Rules locate findings by line and leave ``Finding.column`` at 1; a SARIF viewer then highlights
    from the margin.  When a finding has no column of its own, point at the key on its line (after the
    indentation and any ``- `` sequence markers), read from the scanned file.  Files are read once.
    """

    def __init__(self, result: ScanResult):
        self.root = result.root
        self.stdin = result.stdin_text
        self.cache: dict[str, list[str] | None] = {}

    def column(self, f: Finding) -> int:
        if f.column > 1:
            return f.column
        lines = self._lines(f.path)
        if not lines or not 1 <= f.line <= len(lines):
            return 1
        text = lines[f.line - 1].lstrip("\ufeff")
        i = 0
        while i < len(text) and (text[i] in " \t" or (text[i] == "-" and text[i + 1:i + 2] in (" ", ""))):
            i += 1
        return i + 1 if i < len(text) else 1

    def _lines(self, path: str) -> list[str] | None:
        if path not in self.cache:
            if path == "<stdin>":
                text = self.stdin
            else:
                try:
                    text = (self.root / path).read_text(encoding="utf-8", errors="replace")
                except OSError:
                    text = None
            self.cache[path] = text.splitlines() if text is not None else None
        return self.cache[path]


# -- invocation ----------------------------------------------------------------------------------
def invocation(result: ScanResult, index: dict[str, int]) -> dict[str, Any]:
    inv: dict[str, Any] = {
        # the scan ran to completion; files it could not read are notifications, not a tool failure
        "executionSuccessful": True,
        "toolExecutionNotifications": [notification(p) for p in result.problems],
        "properties": {"filesRead": result.files_read, "filesParsed": result.files_parsed,
                       "fileErrors": len(result.errors), "filesSkipped": len(result.skipped)},
    }
    overrides = rule_overrides(result, index)
    if overrides:
        inv["ruleConfigurationOverrides"] = overrides
    return inv


def notification(p: Problem) -> dict[str, Any]:
    region = {"startLine": p.line} if p.line else None
    physical: dict[str, Any] = {"artifactLocation": artifact_location(p.path)}
    if region:
        physical["region"] = region
    return {
        "level": "error" if p.kind == "error" else "note",
        "message": {"text": p.one_line()},
        "locations": [{"physicalLocation": physical}],
        "descriptor": {"id": {"skipped": "file-skipped", "note": "file-note"}.get(p.kind, "file-error")},
    }


def rule_overrides(result: ScanResult, index: dict[str, int]) -> list[dict[str, Any]]:
    """Severity changes and disabled rules from the config file / command line."""
    opts = result.options
    enabled = {r.upper() for r in opts.rules_enabled}
    disabled = {r.upper() for r in opts.rules_disabled}
    out = []
    for rule_id, i in index.items():
        config: dict[str, Any] = {}
        if rule_id in disabled or (enabled and rule_id not in enabled):
            config["enabled"] = False
        sev = opts.severity_overrides.get(rule_id)
        if sev and sev in LEVELS:
            config["level"] = LEVELS[sev]
        if config:
            out.append({"descriptor": {"id": rule_id, "index": i}, "configuration": config})
    return out


# -- helpers -------------------------------------------------------------------------------------
def _dir_uri(root) -> str:
    uri = root.resolve().as_uri()
    return uri if uri.endswith("/") else uri + "/"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _drop_empty(d: dict) -> dict:
    return {k: v for k, v in d.items() if v not in (None, "", [], {})}
