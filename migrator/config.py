"""`.mesh-migrator.yaml`: per-repo defaults, validated against schemas/config.schema.json.

Found from the scanned root upwards (like .editorconfig), or named with --config.  Errors name the
file, the bad key and its line, and are usage errors (exit 2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from migrator.model import ScanOptions
from migrator.versions import VersionError, require_version

CONFIG_NAMES = (".mesh-migrator.yaml", ".mesh-migrator.yml")


class ConfigError(Exception):
    """A config file that cannot be used: one line naming file, key and line."""


@lru_cache(maxsize=1)
def config_schema() -> dict:
    from migrator.schemafiles import read_schema

    return json.loads(read_schema("config.schema.json"))


@dataclass
class Config:
    path: Path | None = None
    data: dict = field(default_factory=dict)
    node: Any = None  # composed YAML, for line numbers in error messages

    def _version(self, *key_path: str):
        cur: Any = self.data
        for k in key_path:
            cur = (cur or {}).get(k)
        if not cur:
            return None
        try:
            return require_version(str(cur), ".".join(key_path))
        except VersionError as exc:
            raise ConfigError(f"{self.path}:{_line_of(self.node, list(key_path))}: {exc}") from exc

    def scan_options(self) -> ScanOptions:
        d = self.data
        opts = ScanOptions()
        opts.istio_version = self._version("versions", "istio")
        opts.spire_version = self._version("versions", "spire")
        opts.target = self._version("target")
        opts.excludes = tuple(d.get("exclude") or ())
        opts.includes = tuple(d.get("include") or ())
        rules = d.get("rules") or {}
        opts.rules_enabled = tuple(rules.get("enable") or ())
        opts.rules_disabled = tuple(rules.get("disable") or ())
        opts.severity_overrides = {k.upper(): v for k, v in (rules.get("severity") or {}).items()}
        return opts

    def strategy_for(self, rule: str) -> str | None:
        return ((self.data.get("rules") or {}).get("strategy") or {}).get(rule.upper())


def find_config(paths: list[str]) -> Path | None:
    start = Path(paths[0] if paths and paths[0] != "-" else ".").resolve()
    here = start if start.is_dir() else start.parent
    for d in (here, *here.parents):
        for name in CONFIG_NAMES:
            if (d / name).is_file():
                return d / name
        if (d / ".git").exists():
            break
    return None


def load_config(explicit: str | None, paths: list[str]) -> Config:
    path = Path(explicit) if explicit else find_config(paths)
    if path is None:
        return Config()
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.CSafeLoader) if text.strip() else None
        data = yaml.load(text, Loader=yaml.CSafeLoader) if text.strip() else {}
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise ConfigError(f"{path}:{line}: YAML syntax error: {exc.problem}") from exc
    data = data or {}
    import jsonschema  # only when a config file exists: it is the slowest import of a plain scan

    validator = jsonschema.Draft202012Validator(config_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        key_path = list(e.absolute_path)
        if e.validator == "additionalProperties":
            extra = [k for k in (e.instance or {}) if k not in (e.schema.get("properties") or {})]
            key_path = key_path + extra[:1]
        line = _line_of(node, key_path)
        key = ".".join(str(k) for k in key_path) or "(top level)"
        raise ConfigError(f"{path}:{line}: {key}: {e.message}")
    return Config(path, data, node)


def _line_of(node: Any, path: list) -> int:
    line = node.start_mark.line + 1 if node is not None else 1
    for step in path:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(step):
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            break
    return line
