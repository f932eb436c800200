"""One documentation page per rule (docs/rules/MMxxx.md), built from rules/catalog.yaml and the remedies.

The page is generated, not written by hand, so it cannot drift from what the tool does: `explain`
prints it, SARIF `helpUri` and the JSON `help_uri` link to it, and a test checks that the files in
docs/rules/ are what this module renders (regenerate with `python tools/rule_docs.py`).
"""

from __future__ import annotations

#: the project's home, where the rule pages live: the same string as pyproject.toml's [project.urls]
#: Repository (tests/test_rule_docs.py holds them together).  A placeholder until the project has a
#: public home.  A constant, not read from the installed metadata: importlib.metadata cost a tenth of a
#: small scan's start-up (bench/RESULTS.md), and a source checkout that is not installed has none.
PROJECT_URL = "https://github.com/mesh-migrator/mesh-migrator"
DOCS_BRANCH = "main"


def project_url() -> str:
    """The project's Repository URL (SARIF informationUri; the base of every rule page's URL)."""
    return PROJECT_URL


def page_url(rule_id: str) -> str:
    """Where a rule's page lives on the project's forge: what help_uri and SARIF helpUri point to."""
    return f"{project_url()}/blob/{DOCS_BRANCH}/docs/rules/{rule_id}.md"


def _versions(meta) -> str:
    if meta.id == "MM001":
        return "Any: the check runs on every file the scan reads, whatever the Istio version."
    if not meta.istio:
        return "Any Istio version."
    return f"Istio `{meta.istio}` (a Python packaging specifier: the rule fires only when the Istio version in force matches)."


def _remedy_lines(meta) -> list[str]:
    from migrator.remedies import STRATEGY_MODULES, strategy

    out = []
    for name in meta.remedies:
        if name not in STRATEGY_MODULES:
            continue
        module = strategy(name)
        paragraphs = (module.__doc__ or "").strip().split("\n\n")[:2]
        first = paragraphs[0].split(":", 1)[-1] if paragraphs[0].startswith(name + ":") else paragraphs[0]
        what = " ".join(" ".join([first, *paragraphs[1:]]).split())
        command = "mesh-migrator plan --to fixed" if name == "upgrade" else f"mesh-migrator fix --strategy {name}"
        cost = getattr(module, "COST", "")
        out.append(f"- **{name}** (`{command}`): {what}" + (f" Security cost: {cost}." if cost else ""))
    return out


def render(meta) -> str:
    """The Markdown page for one rule."""
    out = [f"# {meta.id}: {meta.title}", "", f"Severity: **{meta.severity}**", ""]
    out += ["## What breaks", "", meta.explanation, ""]
    if meta.sds_names:
        out += ["SDS resource names involved: " + ", ".join(f"`{n}`" for n in meta.sds_names), ""]
    out += ["## Versions", "", _versions(meta), ""]
    out += ["## How to fix", ""]
    remedies = _remedy_lines(meta)
    if remedies:
        out += ["Remedies (`mesh-migrator fix --strategy NAME`; the wizard shows which apply to each finding):", ""] + remedies + [""]
    elif meta.id == "MM001":
        out += ["Make the file valid YAML (the message names the line), or keep it out of the scan with "
                "`--exclude GLOB` or `.gitignore`.", ""]
    else:
        out += ["No automatic remedy: change the manifest as the explanation above says.", ""]
    out += ["To accept a finding instead: `# mesh-migrator: ignore[" + meta.id + "] reason` on or above its line, the "
            "annotation `mesh-migrator.io/ignore: \"" + meta.id + "\"`, `rules.disable` in `.mesh-migrator.yaml`, or a "
            "baseline (`scan --baseline FILE --update-baseline`).", ""]
    out += ["## Sources", ""] + [f"- <{s}>" for s in meta.sources] + [""]
    return "\n".join(out)


def render_all() -> dict[str, str]:
    """{file name: page text} for every rule in the catalog."""
    from migrator.rules import catalog

    return {f"{rid}.md": render(meta) for rid, meta in catalog().items()}
