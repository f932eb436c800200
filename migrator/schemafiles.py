"""Access to the JSON Schemas in schemas/, installed as the package migrator.schemas."""

from __future__ import annotations

from pathlib import Path


def schema_dir() -> Path:
    """The schemas directory: the installed package, or the checkout's schemas/ in development."""
    try:
        from importlib import resources

        path = Path(str(resources.files("migrator.schemas")))
        if path.is_dir():
            return path
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / "schemas"


def read_schema(name: str) -> str:
    return (schema_dir() / name).read_text(encoding="utf-8")
