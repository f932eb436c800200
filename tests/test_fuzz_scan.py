"""Fuzzing the scan with mutated fixtures (issue 12): whatever one file contains, the scan of the others is unchanged.

A seeded mutator (reproducible: the seed and mutation are in every assertion message) derives odd
files from real fixture manifests — byte flips, truncation, YAML syntax characters, tags, deep
nesting, huge scalars, wrong shapes, odd encodings — and drops each, as a new file, into the
SPIRE-on-1.22 repo.  For every mutant: no exit 3, no traceback, valid JSON on stdout, and the
findings of every other file exactly those of the unmutated repo.  A hypothesis test drives the
per-file pipeline (decode → load → shapes → inventory) with arbitrary text as well.
"""

from __future__ import annotations

import json
import random
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES

SEED_REPO = FIXTURES / "spire-istio-1.22"
#: fixture files whose kinds only add findings in their own file (no version pins, no proxies)
SOURCE_KINDS = ("DestinationRule", "ServiceEntry", "Gateway", "Service", "ServiceAccount", "ClusterSPIFFEID", "Role", "RoleBinding")
MUTANTS = 400
MUTANT_NAME = "apps/payments/zz-mutant.yaml"

SYNTAX = [":", ": ", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "*nope", "? ", "|", ">", "\"", "'", "#", "%", "@", "`",
          "\n---\n", "\n...\n", "\t", "!", "!!", "<<: ", "{{ .Values.x }}", "\\", "\r", "\x85", "\u2028"]
TAGS = ["!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!binary ", "!!set ", "!!omap ", "!!str ", "!!map ", "!!seq ",
        "!!null ", "!Ref ", "!vault ", "!reference ", "!!python/object:os.system ", "!<tag:x> "]
VALUES = ["[1]", "1.5", "true", "{a: 1}", "~", "2024-02-30", "2021-01-01T25:00:00Z", "!!int abc", "9" * 5000,
          "0x" + "f" * 3000, "'" + "x" * 200_000 + "'", ".nan", "-.inf", "0o777", "0b1010", "12:30:00", "=",
          "&x [*x]", "!Ref {a: [1, 2]}"]


def _sources() -> list[tuple[str, bytes]]:
    out = []
    for path in sorted(FIXTURES.rglob("*.y*ml")):
        if "templates" in path.parts:
            continue
        raw = path.read_bytes()
        if any(f"kind: {k}\n".encode() in raw for k in SOURCE_KINDS) and b"kind: Deployment" not in raw and b"image:" not in raw:
            out.append((str(path.relative_to(FIXTURES)), raw))
    return out


def _mutate(rng: random.Random, raw: bytes) -> tuple[str, bytes]:
    """One random mutation of raw; returns (description, bytes)."""
    how = rng.choice(["flip", "truncate", "syntax", "tag", "value", "nest", "encoding", "lines", "combo"])
    pos = rng.randrange(len(raw) + 1)
    if how == "flip":
        data = bytearray(raw)
        for _ in range(rng.randint(1, 8)):
            if data:
                i = rng.randrange(len(data))
                data[i] ^= 1 << rng.randrange(8)
        return how, bytes(data)
    if how == "truncate":
        return f"{how}@{pos}", raw[:pos]
    if how == "syntax":
        s = rng.choice(SYNTAX)
        return f"{how} {s!r}@{pos}", raw[:pos] + s.encode() + raw[pos:]
    if how == "tag":
        lines = raw.split(b"\n")
        i = rng.randrange(len(lines))
        if b": " in lines[i]:
            k, v = lines[i].split(b": ", 1)
            lines[i] = k + b": " + rng.choice(TAGS).encode() + v
        return f"{how} line {i + 1}", b"\n".join(lines)
    if how == "value":
        lines = raw.split(b"\n")
        keyed = [i for i, ln in enumerate(lines) if b":" in ln and not ln.lstrip().startswith(b"#")] or [0]
        i = rng.choice(keyed)
        key = lines[i].split(b":", 1)[0]
        v = rng.choice(VALUES)
        lines[i] = key + b": " + v.encode()
        return f"{how} line {i + 1} = {v[:20]!r}", b"\n".join(lines)
    if how == "nest":
        depth = rng.choice([50, 500, 5000])
        shape = rng.choice(["[" * depth + "]" * depth, "{a: " * depth + "1" + "}" * depth,
                            "".join(" " * i + "k:\n" for i in range(min(depth, 400)))])
        return f"{how} {depth}", raw[:pos] + b"\n" + shape.encode() + b"\n" + raw[pos:]
    if how == "encoding":
        text = raw.decode("utf-8", errors="replace")
        enc = rng.choice(["utf-16", "utf-16-le", "utf-32", "latin-1-bytes", "bom-middle", "crlf", "nul", "surrogate"])
        if enc == "latin-1-bytes":
            return how + " " + enc, raw[:pos] + b"\xe9\xff" + raw[pos:]
        if enc == "bom-middle":
            return how + " " + enc, raw[:pos] + "\ufeff".encode() + raw[pos:]
        if enc == "crlf":
            return how + " " + enc, raw.replace(b"\n", b"\r\n")
        if enc == "nul":
            return how + " " + enc, raw[:pos] + b"\x00" + raw[pos:]
        if enc == "surrogate":
            return how + " " + enc, raw[:pos] + b"\xed\xa0\x80" + raw[pos:]
        return how + " " + enc, text.encode(enc)
    if how == "lines":
        lines = raw.split(b"\n")
        rng.shuffle(lines)
        return how, b"\n".join(lines)
    first = _mutate(rng, raw)
    second = _mutate(rng, first[1])
    return f"{first[0]} + {second[0]}", second[1]


def _keys(report: dict) -> set:
    return {(f["rule"], f["path"], f["line"], f["resource"], f["severity"]) for f in report["findings"] if f["path"] != MUTANT_NAME}


def test_no_mutant_changes_other_files_findings(tmp_path, run_cli):
    repo = tmp_path / "repo"
    shutil.copytree(SEED_REPO, repo)
    code, out, err = run_cli("scan", str(repo), "--format", "json")
    baseline = _keys(json.loads(out))
    assert code == 1 and any(k[0] == "MM101" for k in baseline)
    sources = _sources()
    assert len(sources) >= 10
    rng = random.Random(20261129)
    kinds_seen = set()
    for n in range(MUTANTS):
        src_name, src = rng.choice(sources)
        how, data = _mutate(rng, src)
        kinds_seen.add(how.split()[0].split("@")[0])
        (repo / MUTANT_NAME).write_bytes(data)
        code, out, err = run_cli("scan", str(repo), "--format", "json")
        where = f"mutant {n} of {src_name}: {how}"
        assert code in (0, 1), f"{where}: exit {code}: {err[-500:]}"
        assert "Traceback" not in err and "internal error" not in err, f"{where}: {err[-500:]}"
        try:
            report = json.loads(out)
        except ValueError:
            pytest.fail(f"{where}: stdout is not JSON: {out[:200]!r}")
        assert _keys(report) == baseline, f"{where}: other files' findings changed"
        for line in err.splitlines():
            if line.endswith("skipped on purpose (installer chart templates, vendored trees, profile definitions); --verbose lists them"):
                continue  # the count of files skipped on purpose (the mutant may now look like a Helm template)
            assert line.startswith(("apps/payments/zz-mutant.yaml", "zz-mutant")), f"{where}: stray stderr line {line!r}"
    assert kinds_seen >= {"flip", "truncate", "syntax", "tag", "value", "nest", "encoding"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(list("abk:- \n[]{},&*!?|>'\"#%0123456789.\t") + [
    "istio", "kind: DestinationRule\n", "spec:", "\n  ", "!!int ", "!Ref ", "2024-02-30", "<<: ", "---\n"]), max_size=120).map("".join))
def test_any_text_is_data_never_an_exception(text):
    """process_text (the per-file stage of every command) returns problems, never raises, for any text."""
    from migrator.scan import process_text

    outcome = process_text("fuzz.yaml", ("# istio\n" + text).encode("utf-8"), 8 << 20)
    assert not [p for p in outcome.problems if p.internal], outcome.problems
    for p in outcome.problems:
        assert p.path == "fuzz.yaml" and "\n" not in p.message


def test_mutants_of_every_fixture_kind_are_never_fatal(tmp_path, run_cli):
    """Pins, workloads, IstioOperator, Argo CD, Flux, Helm values too: findings may change, the run may not fail."""
    repo = tmp_path / "repo"
    shutil.copytree(SEED_REPO, repo)
    sources = [(str(p.relative_to(FIXTURES)), p.read_bytes()) for p in sorted(FIXTURES.rglob("*.y*ml")) if "templates" not in p.parts]
    rng = random.Random(1129)
    keeps: dict[str, bool] = {}  # does the source itself, added unmutated, leave the seed's MM101 in place?

    def has_seed_mm101(report):
        return any(f["rule"] == "MM101" and f["resource"] == "DestinationRule/payments/stripe-tls" for f in report["findings"])

    for n in range(300):
        src_name, src = rng.choice(sources)
        if src_name not in keeps:
            # some sources are real settings that legitimately hide it (VERIFY_CERTIFICATE_AT_CLIENT=false, a 1.26 istiod)
            (repo / MUTANT_NAME).write_bytes(src)
            keeps[src_name] = has_seed_mm101(json.loads(run_cli("scan", str(repo), "--format", "json")[1]))
        how, data = _mutate(rng, src)
        (repo / MUTANT_NAME).write_bytes(data)
        code, out, err = run_cli("scan", str(repo), "--format", "json")
        where = f"mutant {n} of {src_name}: {how}"
        assert code in (0, 1), f"{where}: exit {code}: {err[-500:]}"
        assert "Traceback" not in err and "internal error" not in err, f"{where}: {err[-500:]}"
        report = json.loads(out)
        if keeps[src_name]:
            assert has_seed_mm101(report), where
