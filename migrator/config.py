"""`.mesh-migrator.yaml`: per-repo defaults, validated against schemas/config.schema.json.

Found from the scanned root upwards (like .editorconfig), or named with --config.  Errors name the
file, the bad key and its line, and are usage errors (exit 2).

The config file lives in the scanned repository, so it is untrusted input: a path in it (`baseline`,
`fix.ca_bundle`) resolves against the config file's own directory and must stay inside that
repository (`Config.path_value`); duplicate keys, non-UTF-8 text and values of the wrong type are
refused with file:line, and long values are clipped in messages.
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
MESSAGE_MAX = 200  # a 2 MB value must not be echoed into a one-line error


def _clip(text: str, limit: int = MESSAGE_MAX) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


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
            raise ConfigError(f"{self.path}:{_line_of(self.node, list(key_path))}: {_clip(exc)}") from exc

    def path_value(self, *key_path: str) -> Path | None:
        """A path the config names, resolved against the config file's directory and proven inside its repository.

        Why: a cloned repository's config must not point the tool at `/etc/passwd` or `../../x`
        (`baseline:` is written by --update-baseline).  Refused with file:line (exit 2).
        """
        cur: Any = self.data
        for k in key_path:
            cur = (cur or {}).get(k) if isinstance(cur, dict) else None
        if cur is None or self.path is None:
            return None
        where = f"{self.path}:{_line_of(self.node, list(key_path))}: {'.'.join(key_path)}"
        base = self.path.resolve().parent
        repo = repository_root(base)
        from migrator.fsio import OutsideRootError, inside_root

        try:
            target = inside_root(repo, base / str(cur))
        except OutsideRootError:
            raise ConfigError(f"{where}: {_clip(cur, 120)} resolves to {_clip((base / str(cur)).resolve(), 120)}, outside the "
                              f"repository {repo}; paths in the config file must stay inside it") from None
        except (ValueError, OSError) as exc:  # a NUL byte, a name too long for the filesystem
            raise ConfigError(f"{where}: {_clip(cur, 120)} is not a usable path ({_clip(exc, 80)})") from None
        if target.is_dir():
            raise ConfigError(f"{where}: {_clip(cur, 120)} is a directory, not a file")
        return target

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


def repository_root(directory: Path) -> Path:
    """The git work tree holding `directory` (the nearest parent with `.git`), else the directory itself."""
    directory = directory.resolve()
    for d in (directory, *directory.parents):
        if (d / ".git").exists():
            return d
    return directory


def _read_config_text(path: Path) -> str:
    from migrator.fsio import wide_encoding

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
    wide = wide_encoding(raw)
    if wide:
        raise ConfigError(f"{path}:1: the config file is {wide} text; it must be UTF-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                          "the config file must be UTF-8") from None


def _parse(path: Path, text: str) -> tuple[Any, Any]:
    """(composed node, data); every YAML or value problem becomes a ConfigError with file:line."""
    if not text.strip():
        return None, {}
    try:
        node = yaml.compose(text, Loader=yaml.CSafeLoader)
        _reject_duplicate_keys(path, node)
        data = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise ConfigError(f"{path}:{line}: YAML syntax error: {_clip(exc.problem)}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML error: {_clip(exc)}") from None
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. a 5,000-digit integer, a date that does not exist
        raise ConfigError(f"{path}: a value cannot be read: {_clip(exc)}") from None
    return node, data


def _reject_duplicate_keys(path: Path, node: Any) -> None:
    """YAML loaders keep the last of two equal keys silently; a config that says a thing twice is refused."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, yaml.MappingNode):
            seen: dict = {}
            for k, v in n.value:
                key = (k.tag, k.value) if isinstance(k, yaml.ScalarNode) else None
                if key is not None and key in seen:
                    raise ConfigError(f"{path}:{k.start_mark.line + 1}: duplicate key {_clip(repr(k.value), 80)} "
                                      f"(first at line {seen[key]})")
                if key is not None:
                    seen[key] = k.start_mark.line + 1
                stack.append(v)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)


def load_config(explicit: str | None, paths: list[str]) -> Config:
    path = Path(explicit) if explicit else find_config(paths)
    if path is None:
        return Config()
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if not path.is_file():
        raise ConfigError(f"{path}: the config file is not a regular file")
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size, st.st_ino)
    if _LAST[0] == key:  # a command reads the config more than once; a 200,000-line one should be parsed once
        return _LAST[1]
    config = _load(path)
    _LAST[:] = [key, config]
    return config


_LAST: list = [None, None]


def _load(path: Path) -> Config:
    node, data = _parse(path, _read_config_text(path))
    data = {} if data is None else data
    import jsonschema  # only when a config file exists: it is the slowest import of a plain scan

    validator = jsonschema.Draft202012Validator(config_schema())
    errors = sorted(validator.iter_errors(_for_validation(data)), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        key_path = list(e.absolute_path)
        if e.validator == "additionalProperties":
            extra = [k for k in (e.instance or {}) if k not in (e.schema.get("properties") or {})]
            key_path = key_path + extra[:1]
        line = _line_of(node, key_path)
        key = ".".join(str(k) for k in key_path) or "(top level)"
        raise ConfigError(f"{path}:{line}: {_clip(key, 80)}: {_clip(e.message)}")
    return Config(path, data, node)


def _for_validation(data: Any) -> Any:
    """`data` with a long all-string `exclude` list shortened: jsonschema checks each of 200,000 patterns
    at ~40 µs apiece, while "every item is a string" is one pass here and is all the schema asks of them."""
    if isinstance(data, dict) and isinstance(data.get("exclude"), list) and len(data["exclude"]) > 100 \
            and all(isinstance(x, str) for x in data["exclude"]):
        return {**data, "exclude": []}
    return data


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
