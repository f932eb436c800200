"""`mesh-migrator wizard`: a guided session over the same pipeline as scan / fix / plan / pr.

1. scan and show what was found: versions with where each is pinned, SPIRE-backed proxies and why,
   findings by severity (and ask for the Istio version when no pin says it);
2. ask the goal: fix the findings in place, or upgrade Istio (the planner's path is shown);
3. for each finding offer the remedies `remedies.options_for` says work here — the others are shown
   disabled with the reason — each with its security cost, the safest working one preselected, and ask
   for what a remedy needs (Secret name, CA bundle, CA path);
4. preview the combined, verified diff (paged and coloured on a terminal);
5. apply it, save a patch, open a PR branch (migrator.pr), or quit without writing anything.

Nothing is written before step 5; Ctrl-C at any prompt exits 130 with nothing written.  Without a
terminal the wizard refuses (exit 2) and points to the batch commands.  `--save-answers FILE` records
every answer, `--answers FILE` replays them without prompting (for CI); see `load_answers` for the format.
"""

from __future__ import annotations

import json
import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator.remedies import STRATEGY_MODULES, Refused, build as build_remedy, options_for, strategy as strategy_module

GOALS = ("fix", "upgrade", "quit")
ACTIONS = ("apply", "patch", "pr", "quit")
SKIP = "skip"
SEVERITY_ORDER = ("error", "warning", "info")
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
ANSWER_KEYS = {"istio_version", "goal", "target", "path", "upgrade_strategy", "secret_name", "ca_bundle", "ca_path", "findings", "action",
               "patch_file", "branch", "body_file", "allow_dirty"}
FINDING_KEYS = {"rule", "path", "line", "resource", "strategy", "secret_name", "ca_bundle", "ca_path", "env"}
NOT_A_TTY = ("mesh-migrator wizard is interactive and needs a terminal ({what} is not a TTY).\n"
             "In scripts and CI use the batch commands instead:\n"
             "  mesh-migrator scan PATH                          report what a version boundary breaks\n"
             "  mesh-migrator fix PATH --strategy NAME [--write] print (or write) the verified fix\n"
             "  mesh-migrator plan PATH --to VERSION|latest|fixed plan an Istio upgrade\n"
             "  mesh-migrator pr PATH --strategy NAME            commit the fix on a branch with a PR description\n"
             "or replay a recorded wizard session: mesh-migrator wizard PATH --answers FILE")


class Interrupted(Exception):
    """Ctrl-C at a prompt."""


class AnswerError(Exception):
    """An answers file that cannot be replayed: exit code 2."""


# ------------------------------------------------------------------------------------------ answers


def load_answers(path: str) -> dict:
    """Read an answers file (YAML or JSON).

    ``goal`` (fix | upgrade | quit), ``target`` (upgrade: a version, ``latest`` or ``fixed``) and
    ``path`` (in-place | canary, as `plan --path`; ``upgrade_strategy`` is its old name),
    ``istio_version`` (when no pin says it), defaults ``secret_name``/``ca_bundle``/``ca_path``,
    ``findings``: a list of ``{rule, path, line, resource, strategy (a remedy or "skip"), secret_name,
    ca_bundle, ca_path}`` — matched by rule + path + line, else by rule + resource —, ``action`` (apply |
    patch | pr | quit) with ``patch_file`` / ``branch`` / ``body_file``.
    """
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise AnswerError(f"{path}: cannot read the answers file: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise AnswerError(f"{path}: not valid YAML/JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise AnswerError(f"{path}: expected a mapping of answers (goal, findings, action …)")
    unknown = sorted(set(data) - ANSWER_KEYS)
    if unknown:
        raise AnswerError(f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(ANSWER_KEYS))})")
    if data.get("goal", "fix") not in GOALS:
        raise AnswerError(f"{path}: goal must be one of {', '.join(GOALS)}, not {data.get('goal')!r}")
    if data.get("action", "quit") not in ACTIONS:
        raise AnswerError(f"{path}: action must be one of {', '.join(ACTIONS)}, not {data.get('action')!r}")
    findings = data.get("findings") or []
    if not isinstance(findings, list):
        raise AnswerError(f"{path}: findings must be a list")
    for i, entry in enumerate(findings):
        if not isinstance(entry, dict) or not entry.get("rule") or not entry.get("strategy"):
            raise AnswerError(f"{path}: findings[{i}] needs at least rule and strategy")
        bad = sorted(set(entry) - FINDING_KEYS)
        if bad:
            raise AnswerError(f"{path}: findings[{i}]: unknown key(s) {', '.join(bad)}")
        if entry["strategy"] not in (*STRATEGY_MODULES, SKIP):
            raise AnswerError(f"{path}: findings[{i}]: strategy must be one of {', '.join((*STRATEGY_MODULES, SKIP))}")
        if not (entry.get("path") and entry.get("line")) and not entry.get("resource"):
            raise AnswerError(f"{path}: findings[{i}] needs path and line, or resource, to say which finding it answers")
    return data


def match_answers(findings: list, entries: list[dict]) -> dict[int, dict]:
    """finding index → its recorded answer: rule+path+line first, then rule+resource (in order)."""
    out: dict[int, dict] = {}
    used: set[int] = set()
    for i, f in enumerate(findings):
        for j, e in enumerate(entries):
            if j not in used and e["rule"].upper() == f.rule and e.get("path") == f.path and int(e.get("line") or 0) == f.line:
                out[i] = e
                used.add(j)
                break
    for i, f in enumerate(findings):
        if i in out:
            continue
        for j, e in enumerate(entries):
            if j in used or e["rule"].upper() != f.rule or e.get("resource") != f.resource:
                continue
            if e.get("path") and e["path"] != f.path:
                continue
            out[i] = e
            used.add(j)
            break
    return out


def save_answers(path: str, answers: dict) -> None:
    import yaml

    from migrator.pr import write_text

    if path.endswith(".json"):
        text = json.dumps(answers, indent=2) + "\n"
    else:
        text = ("# mesh-migrator wizard answers; replay with: mesh-migrator wizard PATH --answers " + Path(path).name + "\n"
                + yaml.safe_dump(answers, sort_keys=False, allow_unicode=True))
    write_text(path, text)


# ------------------------------------------------------------------------------------------- prompts


class Prompter:
    """questionary prompts that raise Interrupted on Ctrl-C (questionary's .ask() would swallow it)."""

    def __init__(self):
        import questionary

        self.q = questionary

    def _ask(self, question):
        try:
            value = question.unsafe_ask()
        except (KeyboardInterrupt, EOFError) as exc:
            raise Interrupted from exc
        return value

    def select(self, message: str, choices: list[tuple], default: Any = None):
        """choices: (title, value, disabled reason or None[, description shown under the list when highlighted])."""
        qc = [self.q.Choice(c[0], value=c[1], disabled=c[2], description=c[3] if len(c) > 3 else None) for c in choices]
        default_choice = next((c for c in qc if c.value == default and not c.disabled), None)
        return self._ask(self.q.select(message, choices=qc, default=default_choice, instruction="(arrow keys, Enter)"))

    def text(self, message: str, default: str = "", validate=None) -> str:
        return self._ask(self.q.text(message, default=default, validate=validate))


# ------------------------------------------------------------------------------------------- session


@dataclass
class Offer:
    """One remedy for one finding, as the wizard shows it."""

    name: str
    refused: str | None
    needs: tuple[str, ...] = ()  # inputs the wizard must ask for ("secret_name", "ca_path")

    @property
    def cost(self) -> str:
        try:
            return strategy_module(self.name).COST
        except (Refused, AttributeError):
            return "unknown"


@dataclass
class Session:
    args: Any
    console: Console
    prompter: Prompter | None  # None when replaying
    replay: dict | None
    answers: dict = field(default_factory=dict)
    args_options: Any = None  # the ScanOptions in force (the planner re-uses them)
    credentials: dict = field(default_factory=dict)  # upstream host -> (Secret name, CA bundle or None): asked once per host

    @property
    def interactive(self) -> bool:
        return self.replay is None

    def say(self, text: str = "", **kw) -> None:
        self.console.print(text, highlight=False, soft_wrap=True, **kw)

    def say_wrapped(self, text: str, indent: int = 4, hang: int = 2) -> None:
        """Plain text wrapped to the terminal, continuation lines indented under it (menus must not cut costs)."""
        import textwrap

        width = max(self.console.width, 40)
        self.console.print(escape(textwrap.fill(text, width=width, initial_indent=" " * indent,
                                                subsequent_indent=" " * (indent + hang), break_long_words=False,
                                                break_on_hyphens=False)), highlight=False, soft_wrap=True)


def offers_for(result, finding) -> list[Offer]:
    """The remedies for a finding in safety order, with what refuses them; inputs the wizard can ask
    for (a Secret name, a CA path) do not count as a refusal."""
    from migrator.pr import context_for

    plain = options_for(finding, context_for(result, finding))
    probe = dict(options_for(finding, context_for(result, finding, secret_name="wizard-probe", ca_path="/wizard/probe.pem")))
    out = []
    for name, why in plain:
        needs: tuple[str, ...] = ()
        if name == "credential-name":
            needs = ("secret_name",)
        elif name == "ca-file":
            needs = ("ca_path",)
        if why is not None and probe.get(name) is None:
            why = None
        out.append(Offer(name, why, needs if why is None else ()))
    return out


def default_offer(offers: list[Offer]) -> str:
    """Safest working remedy that edits something (upgrade is the planner's job, not an edit here)."""
    working = [o.name for o in offers if o.refused is None]
    for name in working:
        if name != "upgrade":
            return name
    return SKIP


# --------------------------------------------------------------------------------------- inventory


def show_inventory(s: Session, result) -> None:
    c = s.say
    c("[bold]What mesh-migrator found[/]")
    for v in result.views:
        env = f" [dim]environment[/] [bold]{escape(v.env)}[/]" if v.env else ""
        c(f"\n[bold]Versions[/]{env}")
        for product, version in (("istio", v.istio), ("spire", v.spire)):
            name = "Istio" if product == "istio" else "SPIRE"
            shown = str(version) if version else ("unknown (no pin found)" if product == "istio" else "none found")
            assumed = " (assumed)" if product == "istio" and v.istio and v.istio_assumed else ""
            c(f"  {name} {escape(shown)}{assumed}")
            pins = [p for p in v.pins if p.product == product]
            for p in sorted(pins, key=lambda p: (p.path, p.line)):
                comp = f" {p.component}" if p.component else ""
                c(f"    {escape(p.raw or p.version)}{escape(comp)}  [dim]{escape(p.path)}:{p.line}  {escape(p.source)}[/]")
        for a in v.assumptions:
            c(f"  [dim]assumed: {escape(a)}[/]")
    spire = [p for p in result.inventory.proxies if p.spire]
    c(f"\n[bold]SPIRE-backed proxies[/] ({len(spire)})")
    for p in spire:
        c(f"  {escape(p.resource)} ({p.kind})  [dim]{escape(p.path)}:{p.line}: {escape(p.spire_reason)}[/]")
    if not spire:
        c("  none: no workload or gateway gets its certificates from SPIRE")
    active = result.active
    counts = {sev: [f for f in active if f.severity == sev] for sev in SEVERITY_ORDER}
    c(f"\n[bold]Findings[/]: {len(counts['error'])} error(s), {len(counts['warning'])} warning(s), {len(counts['info'])} info")
    for sev in SEVERITY_ORDER:
        for f in counts[sev]:
            c(f"  [{SEVERITY_STYLE[sev]}]{sev:<7}[/] [bold]{f.rule}[/] {escape(f.resource)}  [dim]{escape(f.path)}:{f.line}[/]")
            c(f"          {escape(f.message)}")
    if result.problems:
        c(f"\n[dim]{len(result.problems)} file(s) could not be scanned or were skipped (`mesh-migrator scan` lists them)[/]")
    c("")


# ------------------------------------------------------------------------------------------- steps


def ask_istio_version(s: Session, result) -> str | None:
    """When no pin says which Istio runs, ask (never guess); blank keeps it unknown."""
    from migrator.versions import VersionError, require_version

    if s.args.istio_version or all(v.istio is not None for v in result.views):
        return None
    if not s.interactive:
        return None

    def valid(text: str):
        if not text.strip():
            return True
        try:
            require_version(text.strip(), "Istio version")
            return True
        except VersionError as exc:
            return str(exc)

    value = s.prompter.text("The Istio version is unknown (no pin found). Which version runs? (blank: keep unknown)",
                            validate=valid).strip()
    return value or None


def ask_goal(s: Session, result, planner_problem: str | None) -> str:
    if not s.interactive:
        return s.replay.get("goal", "fix")
    fixable = [f for f in result.active if _has_remedies(f)]
    choices = [
        (f"Fix the findings in place ({len(fixable)} with remedies)", "fix", None if fixable else "no finding has an automated remedy"),
        ("Upgrade Istio to a version (the planner shows the path)", "upgrade", planner_problem),
        ("Quit without writing anything", "quit", None),
    ]
    default = "fix" if fixable else ("upgrade" if not planner_problem else "quit")
    return s.prompter.select("What do you want to do?", choices, default)


def _has_remedies(finding) -> bool:
    from migrator.rules import catalog

    meta = catalog().get(finding.rule)
    return bool(meta and meta.remedies)


def choose_remedies(s: Session, result) -> list | None:
    """One pr.Decision per finding the user (or the answers file) chose a remedy for."""
    findings = [f for f in result.active if _has_remedies(f)]
    manual = [f for f in result.active if not _has_remedies(f)]
    recorded = match_answers(findings, s.replay.get("findings") or []) if s.replay else {}
    decisions = []
    records = []
    for i, f in enumerate(findings):
        offers = offers_for(result, f)
        s.say(f"\n[bold]{i + 1}/{len(findings)}[/] [{SEVERITY_STYLE.get(f.severity, '')}]{f.severity}[/] [bold]{f.rule}[/] "
              f"{escape(f.resource)}  [dim]{escape(f.path)}:{f.line}[/]")
        s.say(f"  {escape(f.message)}")
        if f.proxies:
            s.say(f"  [dim]affected proxies: {escape(', '.join(f.proxies))}[/]")
        if s.interactive:
            decision = _ask_remedy(s, result, f, offers)
        else:
            decision = _replayed_remedy(s, result, f, offers, recorded.get(i))
        rec = {"rule": f.rule, "path": f.path, "line": f.line, "resource": f.resource,
               "strategy": decision.strategy if decision else SKIP}
        if decision:
            for key in ("secret_name", "ca_bundle", "ca_path"):
                if getattr(decision, key):
                    rec[key] = getattr(decision, key)
            decisions.append(decision)
        records.append(rec)
    if s.replay:
        used = {id(e) for e in recorded.values()}
        stale = [e for e in s.replay.get("findings") or [] if id(e) not in used]
        for e in stale:
            s.say(f"[yellow]answers: no current finding matches {escape(e['rule'])} "
                  f"{escape(str(e.get('resource') or ''))} {escape(str(e.get('path') or ''))}:{e.get('line') or ''}; ignored[/]")
    for f in manual:
        s.say(f"\n[dim]{f.rule} {escape(f.resource)} ({escape(f.path)}:{f.line}) has no automated remedy: "
              f"`mesh-migrator explain {f.rule}`[/]")
    s.answers["findings"] = records
    return decisions


def _offer_title(o: Offer) -> str:
    """The menu line: short, so it fits any terminal; the cost or refusal is printed in full above the menu."""
    if o.name == "upgrade":
        return "upgrade — no edit now (goal 'upgrade' / `mesh-migrator plan --to fixed`)"
    need = {"secret_name": " (asks for the Secret)", "ca_path": " (asks for the CA path)"}
    return o.name + "".join(need[n] for n in o.needs)


def _show_offers(s: Session, offers: list[Offer]) -> None:
    """Every remedy with its full security cost or refusal reason, wrapped, before the user chooses."""
    s.say("  [bold]Remedies[/] (safest first):")
    for o in offers:
        if o.name == "upgrade":
            detail = "no edit now: fixed by upgrading Istio to 1.26+"
        elif o.refused:
            detail = f"refused here: {o.refused}"
        else:
            detail = f"security cost: {o.cost}"
        s.say_wrapped(f"{_offer_title(o)} — {detail}")


def _ask_remedy(s: Session, result, finding, offers: list[Offer]):
    from migrator.pr import Decision

    _show_offers(s, offers)
    while True:
        choices = [(_offer_title(o) if o.refused is None else o.name, o.name, "refused: reason above" if o.refused else None)
                   for o in offers]
        choices.append(("skip — leave this finding as it is for now", SKIP, None))
        name = s.prompter.select(f"How should {finding.rule} on {finding.resource} be fixed?", choices, default_offer(offers))
        if name == SKIP:
            return None
        decision = Decision(finding, name)
        if name == "credential-name" and finding.rule != "MM104":  # MM104 keeps its Secret: nothing to ask
            _ask_credential_inputs(s, finding, decision, _upstream_host(result, finding))
        elif name == "ca-file":
            decision.ca_path = s.prompter.text("Path of the CA bundle inside the proxy (mounted into istio-proxy):",
                                               validate=lambda t: bool(t.strip().startswith("/")) or "an absolute path").strip()
        problem = _try_build(s, result, decision)
        if problem is None:
            return decision
        s.say(f"  [red]{escape(name)} does not work here: {escape(problem)}[/]; choose again")


def _upstream_host(result, finding) -> str:
    """The DestinationRule's host: CA bundles are per upstream (remedies/ca_bundles.py)."""
    from migrator.pr import view_for
    from migrator.remedies import find_resource

    dr = find_resource(view_for(result, finding), finding)
    return str(((dr.data.get("spec") or {}) if dr else {}).get("host") or "")


def _ask_credential_inputs(s: Session, finding, decision, host: str = "") -> None:
    """Secret name and CA bundle, asked once per upstream host: three findings for one host are one question."""
    host = host if finding.rule != "MM103" else ""
    if host and host in s.credentials:
        decision.secret_name, decision.ca_bundle = s.credentials[host]
        bundle = next(iter(decision.ca_bundle.values())) if isinstance(decision.ca_bundle, dict) else decision.ca_bundle
        source = f"CA bundle {bundle}" if bundle else "Secret managed elsewhere"
        s.say(f"  using Secret [bold]{escape(decision.secret_name)}[/] ({escape(source)}), as answered for {escape(host)}")
        return
    default = ""
    if finding.rule != "MM103":
        default = f"{finding.resource.rsplit('/', 1)[-1]}-ca"
    if finding.rule == "MM103":
        msg = "Name of the TLS Secret (tls.crt/tls.key) in the gateway's namespace:"
    else:
        msg = f"Name of the Secret holding the upstream's CA (key ca.crt){' for ' + host if host else ''}:"
    decision.secret_name = s.prompter.text(msg, default=default, validate=_valid_secret_name).strip()
    if finding.rule == "MM103":
        return
    source = s.prompter.select(f"Where does the CA in Secret {decision.secret_name} come from?", [
        ("generate the Secret from a PEM file (asks for the path)", "pem", None),
        ("skip the Secret: I manage it elsewhere (sealed-secrets, external-secrets …)", "elsewhere", None)], "pem")
    decision.ca_bundle = None
    if source == "pem":
        def valid_pem(text: str):
            t = text.strip()
            if not t:
                return "a PEM file path (or go back with Ctrl-C and choose 'I manage it elsewhere')"
            return True if Path(t).expanduser().is_file() else f"{t}: no such file"

        bundle = s.prompter.text(f"PEM file with the CA bundle of {host or 'the upstream'} to generate the Secret from:",
                                 validate=valid_pem).strip()
        path = str(Path(bundle).expanduser())
        decision.ca_bundle = {host: path} if host else path  # CA bundles are per upstream host (remedies/ca_bundles.py)
    if host:
        s.credentials[host] = (decision.secret_name, decision.ca_bundle)


def _valid_secret_name(text: str):
    import re

    t = text.strip()
    if re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", t):
        return True
    return "a Kubernetes object name: lowercase letters, digits, '-' and '.'"


def _try_build(s: Session, result, decision) -> str | None:
    """Build the remedy once to show its summary and cost (and catch refusals such as a bad PEM)."""
    from migrator.pr import context_for

    ctx = context_for(result, decision.finding, decision.secret_name, decision.ca_bundle, decision.ca_path)
    try:
        remedy = build_remedy(decision.strategy, decision.finding, ctx)
    except Refused as exc:
        return str(exc)
    s.say(f"  [green]→[/] {escape(remedy.summary)}")
    s.say(f"    security cost: [bold]{escape(remedy.security_cost)}[/]")
    for note in remedy.notes:
        s.say(f"    note: {escape(note)}")
    return None


def _replayed_remedy(s: Session, result, finding, offers: list[Offer], entry: dict | None):
    from migrator.pr import Decision

    if entry is None:
        s.say("  [yellow]no recorded answer for this finding: left as it is[/]")
        return None
    name = entry["strategy"]
    if name == SKIP:
        s.say("  skipped (recorded answer)")
        return None
    offer = next((o for o in offers if o.name == name), None)
    if offer is None:
        raise AnswerError(f"{finding.rule} {finding.resource}: strategy {name!r} is not a remedy for {finding.rule} "
                          f"(choose from {', '.join(o.name for o in offers) or 'none'})")
    if offer.refused:
        raise AnswerError(f"{finding.rule} {finding.resource} ({finding.path}:{finding.line}): recorded strategy {name} no longer "
                          f"works: {offer.refused}")
    d = Decision(finding, name, entry.get("secret_name") or s.replay.get("secret_name"),
                 entry.get("ca_bundle") or s.replay.get("ca_bundle"), entry.get("ca_path") or s.replay.get("ca_path"))
    problem = _try_build(s, result, d)
    if problem:
        raise AnswerError(f"{finding.rule} {finding.resource}: recorded strategy {name} refused: {problem}")
    return d


# ------------------------------------------------------------------------------------------- upgrade


def planner_problem() -> str | None:
    try:
        import migrator.plan  # noqa: F401
    except ImportError:
        return "the upgrade planner is not available in this build"
    return None


def choose_upgrade(s: Session, result):
    """Ask the target, show the planner's path, return a pr.ChangeSet with the planner's edits."""
    from migrator import pr

    paths = list(s.args.paths or ["."])
    if not s.interactive:
        target = str(s.replay.get("target") or "fixed")
        how = str(s.replay.get("path") or s.replay.get("upgrade_strategy") or "in-place")
        if how not in ("in-place", "canary"):
            raise AnswerError(f"path must be in-place or canary, not {how!r}")
        s.answers.update(target=target, path=how)
        changes = pr.upgrade_changes(result, s.args_options, target, paths, strategy=how)
    while s.interactive:
        target = s.prompter.select("Upgrade Istio to which version?", [
            ("fixed — the lowest release where the current findings no longer apply", "fixed", None),
            ("latest — the newest stable release", "latest", None),
            ("another version …", "other", None)], "fixed")
        if target == "other":
            from migrator.versions import VersionError, require_version

            def valid(text):
                try:
                    require_version(text.strip(), "version")
                    return True
                except VersionError as exc:
                    return str(exc)

            target = s.prompter.text("Target Istio version (e.g. 1.26.8):", validate=valid).strip()
        how = s.prompter.select("Upgrade path (--path)?", [
            ("in-place — one minor version per step", "in-place", None),
            ("canary — a new revision next to the old one, up to two minor versions per step", "canary", None)], "in-place")
        try:
            changes = pr.upgrade_changes(result, s.args_options, target, paths, strategy=how)
        except pr.PrError as exc:  # an unknown version, a step that fails the gate: say why and ask again
            s.say(f"[red]{escape(str(exc))}[/]")
            continue
        s.answers.update(target=target, path=how)
        break
    up = changes.upgrade
    plan = up.raw
    s.say(f"\n[bold]Upgrade plan[/]: Istio {escape(up.current or 'unknown')} → {escape(up.target)}"
          + (f" in {up.total_steps} step(s), {escape(plan.strategy)}" if plan is not None else ""))
    for note in up.notes:
        s.say(f"  [dim]{escape(note)}[/]")
    for st in (plan.steps if plan is not None else []):
        gone = sorted({c.finding.rule for c in st.of_status("disappears")})
        new = sorted({c.finding.rule for c in st.of_status("appears")})
        extra = (f"; clears {', '.join(gone)}" if gone else "") + (f"; new {', '.join(new)}" if new else "")
        s.say(f"  step {st.index}: {escape(st.title)} ({len(st.edits)} pin(s){escape(extra)})"
              + ("" if st.ok else " [red]not verified[/]"))
    if up.step is not None:
        s.say(f"\nThis session changes the pins of step 1 ({escape(up.step.title)}); roll it out, then run the wizard or "
              "`mesh-migrator pr --to …` again for the next step.")
        for e in up.step.edits:
            s.say(f"  {escape(e.pin.path)}:{e.pin.line}  {escape(e.old)} → {escape(e.new)}  [dim]{escape(e.pin.source)}[/]")
    return changes


# ------------------------------------------------------------------------------------------- preview


def __getattr__(name: str):
    """`wizard.Console` and `wizard.Text` stay importable, though rich is loaded only when first asked for."""
    if name == "Console":
        from rich.console import Console

        return Console
    if name == "Text":
        from rich.text import Text

        return Text
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def escape(markup: str) -> str:
    """rich.markup.escape, imported on first use: `mesh-migrator scan` never pays for rich's import."""
    from rich.markup import escape as rich_escape

    return rich_escape(markup)


def colour_diff(diff: str) -> "Text":
    from rich.text import Text

    text = Text()
    for line in diff.splitlines(keepends=True):
        if line.startswith("#"):
            style = "yellow"
        elif line.startswith(("diff --git", "new file mode", "--- ", "+++ ")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        else:
            style = ""
        text.append(line, style=style)
    return text


def preview(s: Session, diff: str) -> None:
    """The combined diff: paged (`$PAGER`, `less -R`) when longer than the terminal, coloured on a TTY."""
    import os

    s.say("\n[bold]Preview of the changes[/] (verified diff; `#` lines state each remedy's security cost)")
    body = colour_diff(diff)
    lines = diff.count("\n")
    if s.interactive and s.console.is_terminal and lines > max(s.console.height - 4, 10):
        os.environ.setdefault("LESS", "-R")
        s.say("[dim]The diff opens in a pager: arrows/space to scroll, / to search, q to leave it and continue.[/]")
        with s.console.pager(styles=not s.console.no_color):
            s.console.print(body, highlight=False, soft_wrap=True)
    else:
        s.console.print(body, highlight=False, soft_wrap=True, end="")


# -------------------------------------------------------------------------------------------- finish


def ask_action(s: Session, changes, git) -> str:
    n = len(changes.plan.pending)
    if not s.interactive:
        action = s.replay.get("action", "quit")
        if action != "quit" and not n:
            s.say("[yellow]nothing to write: no verified edits[/]")
            return "quit"
        return action
    pr_problem = None
    if git is None:
        pr_problem = "not a git repository"
    else:
        dirty = git.status()
        if dirty:
            pr_problem = f"the work tree has {len(dirty)} uncommitted change(s)"
    none = "no verified edits" if not n else None
    choices = [(f"Apply: write the changes to {n} file(s)", "apply", none),
               ("Save a patch file (git apply / git am)", "patch", none),
               ("Open a PR branch: new branch + commit + PR description (nothing is pushed)", "pr", none or pr_problem),
               ("Quit without writing anything", "quit", None)]
    return s.prompter.select("What now?", choices, "apply" if n else "quit")


@contextmanager
def _no_interrupt():
    """Ctrl-C while files are being written waits until they are: never a half-applied change."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def finish(s: Session, changes, git, action: str) -> int:
    from migrator import pr
    from migrator.fix import write_plan

    plan = changes.plan
    if action == "apply":
        with _no_interrupt():
            problems = write_plan(plan)
        for p in problems:
            s.say(f"[red]{escape(p)}[/]")
        s.say(f"wrote {len(plan.pending) - len(problems)} file(s)")
        if not problems:
            ver = pr.verify_changes(changes, on_disk=True)
            _say_verification(s, changes, ver)
        return 1 if problems or plan.failed else 0
    if action == "patch":
        path = _answer(s, "patch_file", "Write the patch to:", "mesh-migrator.patch")
        ver = pr.verify_changes(changes)
        author = git.author() if git else (pr.FALLBACK_NAME, pr.FALLBACK_EMAIL)
        with _no_interrupt():
            pr.write_text(path, pr.format_patch(changes, ver, author))
        am = "git am --keep-cr" if pr.has_crlf(plan) else "git am"
        s.say(f"patch written: {escape(path)}; apply it with `git apply {escape(path)}` or `{am} {escape(path)}`")
        return 1 if plan.failed else 0
    if action == "pr":
        if git is None:
            raise pr.PrError("not inside a git work tree: cannot open a PR branch")
        def valid_branch(text: str):
            t = text.strip()
            if not git.valid_branch_name(t):
                return "not a valid branch name"
            return f"branch {t} already exists" if git.branch_exists(t) else True

        branch = _answer(s, "branch", "Branch name:", fresh_branch(git, pr.default_branch(changes)), valid_branch)
        body_default = _git_path(git, "MESH_MIGRATOR_PR_BODY.md")
        body_file = _answer(s, "body_file", "Write the PR description to:", body_default)
        with _no_interrupt():
            opened, ver = pr.open_branch(git, changes, branch, allow_dirty=bool(s.replay and s.replay.get("allow_dirty")))
            pr.write_text(body_file, pr.render_body(changes, ver, commit=opened.commit, branch=opened.branch))
        s.say(f"branch [bold]{escape(opened.branch)}[/] created at {opened.commit[:12]}; PR description: {escape(body_file)}")
        _say_verification(s, changes, ver)
        s.say("nothing was pushed; next:")
        for line in pr.next_steps(opened, body_file, pr.subject(changes)):
            s.say(f"  {escape(line)}")
        return 1 if plan.failed else 0
    s.say("nothing written")
    return 0


def fresh_branch(git, name: str) -> str:
    """`name`, or `name-2`, `name-3` … when a branch of that name exists (a re-run must not default to an error)."""
    candidate, n = name, 1
    while git.branch_exists(candidate):
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def _git_path(git, name: str) -> str:
    proc = git.run("rev-parse", "--git-path", name, check=False)
    rel = proc.stdout.strip() or f".git/{name}"
    p = Path(rel)
    return str(p if p.is_absolute() else git.top / p)


def _answer(s: Session, key: str, message: str, default: str, validate=None) -> str:
    if s.interactive:
        value = s.prompter.text(message, default=default, validate=validate or (lambda t: bool(t.strip()) or "required")).strip()
    else:
        value = str(s.replay.get(key) or default)
    s.answers[key] = value
    return value


def _say_verification(s: Session, changes, ver) -> None:
    if ver.error:
        s.say(f"[yellow]re-scan could not run: {escape(ver.error)}[/]")
        return
    for f in ver.gone:
        s.say(f"  [green]re-scan: {f.rule} no longer reported for {escape(f.resource)}[/]")
    for f in ver.still:
        s.say(f"  [yellow]re-scan: {f.rule} still reported for {escape(f.resource)}[/]")
    for f in ver.new:
        s.say(f"  [yellow]re-scan: new {f.rule} {escape(f.resource)} ({escape(f.path)}:{f.line}): {escape(f.message)}[/]")


# ----------------------------------------------------------------------------------------------- CLI


def register(sub) -> None:
    from migrator.app import add_scan_options

    p = sub.add_parser("wizard", help="interactive session: inventory, goal, remedy per finding, diff preview, apply/patch/PR")
    p.set_defaults(run=run)
    add_scan_options(p)
    p.add_argument("--answers", metavar="FILE", help="replay answers recorded with --save-answers (YAML/JSON); no prompts")
    p.add_argument("--save-answers", metavar="FILE", help="record this session's answers to FILE for replay")


def run(args) -> int:
    try:
        return _run(args)
    except Interrupted:
        print("\nmesh-migrator: interrupted; nothing written", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\nmesh-migrator: interrupted; nothing written", file=sys.stderr)
        return 130


def _run(args) -> int:
    from migrator import pr
    from migrator.errors import CliError
    from migrator.app import options_from_args, print_problems, run_scan
    from migrator.versions import require_version

    replay = None
    if args.answers:
        try:
            replay = load_answers(args.answers)
        except AnswerError as exc:
            raise CliError(str(exc)) from exc
    else:
        for stream, what in ((sys.stdin, "stdin"), (sys.stdout, "stdout")):
            if not stream.isatty():
                print(NOT_A_TTY.format(what=what), file=sys.stderr)
                return 2
    if args.paths == ["-"]:
        raise CliError("the wizard edits files; it cannot read manifests from stdin (use `mesh-migrator scan -`)")
    from rich.console import Console

    console = Console(highlight=False)
    s = Session(args, console, Prompter() if replay is None else None, replay)
    options = options_from_args(args)
    if replay and replay.get("istio_version") and not args.istio_version:
        options.istio_version = require_version(str(replay["istio_version"]), "answers: istio_version")
        s.answers["istio_version"] = str(replay["istio_version"])
    s.args_options = options
    with console.status("scanning …") if console.is_terminal else _null():
        result = run_scan(args, options)
    print_problems(result)
    show_inventory(s, result)
    version = ask_istio_version(s, result)
    if version:
        options.istio_version = require_version(version, "Istio version")
        s.answers["istio_version"] = version
        result = run_scan(args, options)
        s.say(f"re-scanned assuming Istio {escape(version)}: {len(result.active)} finding(s)")
    try:
        code = _session(s, result, options)
    except AnswerError as exc:
        raise CliError(str(exc)) from exc
    except pr.PrError as exc:
        raise CliError(str(exc)) from exc
    return code


def _session(s: Session, result, options) -> int:
    from migrator import pr
    from migrator.fix import render_diff

    git = pr.find_git(result.root)
    goal = ask_goal(s, result, planner_problem())
    s.answers["goal"] = goal
    if goal == "quit":
        return _done(s, "quit")
    if goal == "upgrade":
        changes = choose_upgrade(s, result)
    else:
        decisions = choose_remedies(s, result)
        plan = pr.plan_for_choices(result, decisions)
        label = "-".join(sorted({d.strategy for d in decisions})) or "fix"
        changes = pr.ChangeSet(result, plan, label, None, options, list(s.args.paths or ["."]))
    plan = changes.plan
    for f, why in plan.refused:
        s.say(f"[red]{escape(f.path)}:{f.line}: {f.rule}: not fixed: {escape(why)}[/]")
    for fp in plan.failed:
        s.say(f"[red]{escape(fp.path)}: not fixed: {escape(fp.problem)}[/]")
    if plan.pending:
        preview(s, render_diff(plan))
    else:
        s.say("\nno verified edits to preview" + (" (see above)" if plan.failed or plan.refused else ""))
    action = ask_action(s, changes, git)
    s.answers["action"] = action
    if action == "quit":
        return _done(s, "quit")
    code = finish(s, changes, git, action)
    _save(s)
    return code


def _done(s: Session, action: str) -> int:
    s.answers["action"] = action
    s.say("quit: nothing written")
    _save(s)
    return 0


def _save(s: Session) -> None:
    if s.args.save_answers:
        ordered = {k: s.answers[k] for k in ("istio_version", "goal", "target", "path", "findings", "action", "patch_file",
                                             "branch", "body_file")
                   if k in s.answers}
        save_answers(s.args.save_answers, ordered)
        s.say(f"answers saved: {escape(s.args.save_answers)} (replay: mesh-migrator wizard PATH --answers {escape(s.args.save_answers)})")


@contextmanager
def _null():
    yield
