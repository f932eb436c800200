"""The edits callers ask for (one frozen dataclass per kind), their result, and the refusal they raise.

These are the engine's whole vocabulary towards remedies, the planner and the verification gate, so
they are read in one place, apart from how the engine carries them out.  `_fmt_path` is here because
every refusal names a path the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class SetScalar:
    """Set the scalar (or implicit null) at `path`; a missing last key is created like Upsert."""

    doc: int
    path: Path
    value: str | int | float | bool | None


@dataclass(frozen=True)
class Upsert:
    """Ensure the mapping at `path` has `key` == `value` (dicts merge recursively, others replace)."""

    doc: int
    path: Path
    key: str
    value: Any


@dataclass(frozen=True)
class DeleteKey:
    """Remove `key` (its whole value and end-of-line comment) from the mapping at `path`."""

    doc: int
    path: Path
    key: str


@dataclass(frozen=True)
class Append:
    """Append `value` to the sequence at `path` (created if absent); `unique` skips equal items."""

    doc: int
    path: Path
    value: Any
    unique: bool = True


@dataclass(frozen=True)
class SetEnv:
    """Upsert `{name, value}` in the `env` list of the container mapping at `container`."""

    doc: int
    container: Path
    name: str
    value: str


@dataclass(frozen=True)
class SetImageTag:
    """Replace the version part of the image tag at `path`, keeping suffixes like `-distroless`."""

    doc: int
    path: Path
    version: str


@dataclass(frozen=True)
class EditEmbedded:
    """Apply `edits` to the YAML held in the literal block scalar at `path` (Argo CD helm.values)."""

    doc: int
    path: Path
    edits: tuple


Edit = SetScalar | Upsert | DeleteKey | Append | SetEnv | SetImageTag | EditEmbedded


class EditError(Exception):
    """A refusal: the edit cannot be made safely.  `line` is 1-based, or None when not local."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


@dataclass
class EditResult:
    text: str
    changed: bool
    spans: list[tuple[int, int]]


def _fmt_path(path) -> str:
    return ".".join(str(p) for p in path) or "(document root)"
