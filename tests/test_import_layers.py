"""Import-layer contract, checked over every import statement (module level and inside functions).

    migrator.cli (+ __main__)        assembles the parsers, maps errors to exit codes
    front ends (siblings)            commands (scan/sds/rules/explain), fix_cli, plan_cli, pr_cli, wizard
    application layer and below      app, errors, fix, plan, pr, scan, rules, report, remedies, …

No front end imports another; nothing below the CLI imports `migrator.cli`; nothing below the front
ends imports a front end; `migrator.errors` imports nothing of the project.  (import-linter's
"layers" and "independence" contracts, as a test that needs no extra tool.)
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "migrator"
TOP = {"migrator.cli", "migrator.__main__"}
FRONT_ENDS = {"migrator.commands", "migrator.fix_cli", "migrator.plan_cli", "migrator.pr_cli", "migrator.wizard"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every migrator module the file imports, wherever the import statement is."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)  # `from migrator import pr` imports migrator.pr
    return {m for m in out if m == "migrator" or m.startswith("migrator.")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules} for name, path in modules.items()}


def test_every_front_end_exists_and_the_cli_registers_them():
    graph = _graph()
    assert FRONT_ENDS <= set(graph)
    from migrator.cli import FRONT_ENDS as registered

    assert set(registered) == FRONT_ENDS


def test_no_front_end_imports_another():
    graph = _graph()
    bad = {(fe, dep) for fe in FRONT_ENDS for dep in graph[fe] if dep in FRONT_ENDS and dep != fe}
    assert not bad, sorted(bad)


def test_nothing_below_the_cli_imports_it():
    graph = _graph()
    bad = {(m, dep) for m, deps in graph.items() if m not in TOP for dep in deps if dep in TOP}
    assert not bad, sorted(bad)


def test_application_layer_does_not_import_front_ends():
    graph = _graph()
    below = set(graph) - TOP - FRONT_ENDS
    bad = {(m, dep) for m in below for dep in graph[m] if dep in FRONT_ENDS}
    assert not bad, sorted(bad)


def test_errors_are_defined_below_everything():
    assert _graph()["migrator.errors"] == set()


def test_the_checker_sees_function_level_imports(tmp_path):
    """The contract is only as good as the import finder: it must see imports inside functions."""
    probe = PACKAGE / "wizard.py"
    assert "migrator.pr" in _imports(probe)  # `from migrator import pr` inside a function
