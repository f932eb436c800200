"""Benchmark mesh-migrator against a plain CSafeLoader load of the same files, on several inputs in one run.

    python bench/run.py [--reps 5] [--inputs sparse,dense,istio-1.22.0] [--tree kubeflow=DIR] [--yamllint-reps 0] [--markdown]
                        [--src DIR]   # time another checkout's migrator/ (e.g. the commit before a change)

Inputs (each a git work tree of its own under bench/, gitignored, created on first use):

- ``sparse``: bench/gen_corpus.py (seeded): 2,000 files, 47 % pass the byte prefilter;
- ``dense``: bench/gen_scale.py --files 2000 --big 2: almost every file mentions Istio (Deployments,
  DestinationRules, Services) plus two 5 MB dashboard ConfigMaps;
- ``istio-1.22.0``: Istio's own release tree (samples/ + manifests/, Apache-2.0), extracted from
  fixtures/real-trees/istio-1.22.0-samples-manifests.tar.xz;
- ``tiny``: fixtures/spire-istio-1.22 (four files): start-up, what a pre-commit hook pays per run;
- ``--tree NAME=DIR`` (repeatable): any existing checkout, e.g. ``kubeflow=…`` for kubeflow/manifests
  (Apache-2.0, 1,090 YAML files, 34 MB: too big to store here; `git archive` of a clone is enough).

For every input it times, each in a fresh subprocess, interleaved round-robin over the repetitions so
that machine noise (other processes, CPU frequency, page cache) spreads over all of them alike:

- ``baseline``: a Python process that walks the input and ``yaml.load_all(..., CSafeLoader)`` s every
  YAML file (a file libyaml rejects counts as read): the cost of merely reading the repository as YAML;
- ``scan``: ``mesh-migrator scan INPUT --format json`` (output discarded);
- ``scan -j2``: the same with ``--jobs 2`` (its findings are checked to be identical to ``scan``'s);
- ``fix``: ``mesh-migrator fix INPUT --strategy skip-verify`` (a dry run: plans, splices and verifies
  every edit, prints the diff, writes nothing);
- ``yamllint``: ``yamllint -f parsable`` on the sparse input, ``--yamllint-reps`` times (default 0: a
  single run costs as much as everything else together).

Before timing, the package's bytecode is compiled (as ``pip install`` does; a checkout run with
PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every module on every start).  Each child is
started by a small launcher process (so it does not inherit the harness's RSS as its floor) and
reaped with ``os.wait4``, whose rusage gives its own peak RSS (for ``--jobs 2`` the largest of the
parent and its workers, not their sum) and its CPU time (user + system, workers included), which
on a shared machine is far steadier than wall time.  No timing is asserted anywhere in the tests.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
#: issue 15's targets: scan at most half a CSafeLoader load; fix dry run at most one load; RSS <= 60 MB
TARGETS = {"scan": 0.5, "fix": 1.0}
JOBS_SPEEDUP_TARGET = 1.5
RSS_TARGET_MB = 60.0
REPO = HERE.parent
ARCHIVE = REPO / "fixtures" / "real-trees" / "istio-1.22.0-samples-manifests.tar.xz"
INPUTS = ("sparse", "dense", "istio-1.22.0", "tiny")
#: start-up: the whole `scan` process on a four-file repository
STARTUP_TARGET_S = 0.25

#: the baseline's work, shared with bench/inprocess.py: every YAML file of a tree through CSafeLoader
BASELINE_LOAD = """
import os, yaml


def load_all(root):
    \"\"\"(documents loaded, files libyaml rejects) for every YAML file under root, .git left out.\"\"\"
    n = bad = 0
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != ".git")
        for f in sorted(files):
            if f.endswith((".yaml", ".yml")):
                with open(os.path.join(d, f), "rb") as fh:
                    try:
                        for _ in yaml.load_all(fh, Loader=yaml.CSafeLoader):
                            n += 1
                    except yaml.YAMLError:
                        bad += 1
    return n, bad
"""
BASELINE_CODE = BASELINE_LOAD + """
import sys
print(*load_all(sys.argv[1]))
"""


def tool(name: str) -> str | None:
    """An executable next to this interpreter (the venv), else on PATH."""
    cand = BIN / name
    return str(cand) if cand.exists() else shutil.which(name)


#: a small process that starts every timed child.  Linux folds the RSS of the address space a child
#: was forked with into its ru_maxrss at exec, so children forked from this (growing) harness reported
#: the harness's own RSS (27 MB) as their floor; forked from a bare interpreter the floor is ~9 MB.
LAUNCHER_CODE = """
import json, os, sys, time
for line in sys.stdin:
    job = json.loads(line)
    out = os.open(job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    null = os.open(os.devnull, os.O_RDWR)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.dup2(null, 0); os.dup2(out, 1); os.dup2(null, 2)
        try:
            os.execvp(job["argv"][0], job["argv"])
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    os.close(out); os.close(null)
    print(json.dumps([wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime]), flush=True)
"""
_LAUNCHER: list = []


def run_child(argv: list[str]) -> tuple[float, float, int, bytes, float]:
    """(wall seconds, peak RSS in MB, exit code, stdout, CPU seconds) of one fresh child process,
    started by the launcher (LAUNCHER_CODE) and reaped with wait4: its rusage gives the child's own
    peak RSS and its CPU time, workers it reaped included (--jobs)."""
    import tempfile

    if not _LAUNCHER:
        _LAUNCHER.append(subprocess.Popen([sys.executable, "-c", LAUNCHER_CODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    launcher = _LAUNCHER[0]
    with tempfile.NamedTemporaryFile(prefix="mm-bench-", suffix=".out") as out:
        launcher.stdin.write(json.dumps({"argv": argv, "out": out.name}) + "\n")
        launcher.stdin.flush()
        wall, maxrss_kib, code, cpu = json.loads(launcher.stdout.readline())
        data = Path(out.name).read_bytes()
    return wall, maxrss_kib / 1024.0, code, data, cpu  # Linux: ru_maxrss is in KiB


def _git_init(path: Path) -> None:
    """mesh-migrator lists files the way git does; each input is its own (empty) work tree."""
    if not (path / ".git").exists():
        subprocess.run(["git", "init", "-q", str(path)], check=True)


def prepare(name: str, regenerate: bool) -> Path:
    """The input's directory under bench/, generated or extracted on first use."""
    sys.path.insert(0, str(HERE))
    if name == "sparse":
        path = HERE / "corpus"
        if regenerate or not path.is_dir() or not any(p.name != ".git" for p in path.iterdir()):
            from gen_corpus import generate

            generate(path)
        return path
    if name == "dense":
        path = HERE / "corpus-dense"
        if regenerate or not path.is_dir():
            import gen_scale

            if path.exists():
                shutil.rmtree(path)
            gen_scale.generate(path, 2000, 2, 5, 12)
        _git_init(path)
        return path
    if name == "istio-1.22.0":
        import tarfile

        path = HERE / "corpus-istio-1.22.0"
        if regenerate or not path.is_dir():
            if path.exists():
                shutil.rmtree(path)
            path.mkdir()
            with tarfile.open(ARCHIVE) as tar:
                tar.extractall(path, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(path)
        _git_init(path)
        return path
    if name == "tiny":
        return REPO / "fixtures" / "spire-istio-1.22"  # four files: what a pre-commit hook pays per run
    sys.exit(f"unknown input {name!r} (known: {', '.join(INPUTS)})")


def _tree(spec: str) -> tuple[str, Path]:
    """`--tree NAME=DIR`: a real repository too big to keep in this one (kubeflow/manifests is 34 MB of
    YAML); timed like the stored inputs, findings compared across --jobs likewise."""
    name, sep, path = spec.partition("=")
    if not sep or not name or name in INPUTS or not Path(path).is_dir():
        sys.exit(f"--tree {spec!r}: expected NAME=DIR with a new name and an existing directory")
    return name, Path(path).resolve()


def mm_argv(src: str | None) -> list[str]:
    """How to start mesh-migrator: the installed script, or `python -m migrator` from another checkout."""
    if src:  # not `-m migrator`: that puts the current directory (maybe this checkout) first on sys.path
        # the console script's own entry (cli.run: exits without freeing the heap) where that checkout has it
        code = (f"import sys; sys.path.insert(0, {str(Path(src).resolve())!r}); from migrator import cli; "
                "cli.run() if hasattr(cli, 'run') else sys.exit(cli.main())")
        return [sys.executable, "-c", code]
    mm = tool("mesh-migrator")
    if mm is None:
        sys.exit("mesh-migrator is not installed in this environment (pip install -e .)")
    return [mm]


def commands(name: str, corpus: Path, mm: list[str], yamllint: bool) -> dict[str, list[str]]:
    cmds = {"baseline": [sys.executable, "-c", BASELINE_CODE, str(corpus)],
            "scan": [*mm, "scan", str(corpus), "--format", "json"],
            "scan -j2": [*mm, "scan", str(corpus), "--format", "json", "--jobs", "2"],
            "fix": [*mm, "fix", str(corpus), "--strategy", "skip-verify"]}
    if name == "tiny":  # start-up only: four files never reach the worker pool, and fix would only add noise
        del cmds["scan -j2"], cmds["fix"]
    yl = tool("yamllint")
    if yamllint and yl and name == "sparse":
        cmds["yamllint"] = [yl, "-f", "parsable", str(corpus)]
    return cmds


def corpus_stats(corpus: Path) -> tuple[int, int]:
    files = [p for p in corpus.rglob("*") if p.is_file() and ".git" not in p.relative_to(corpus).parts]
    return len(files), sum(p.stat().st_size for p in files)


def findings_key(out: bytes) -> list:
    return sorted((f["rule"], f["path"], f["line"], f["resource"]) for f in json.loads(out)["findings"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions of each command (default 5)")
    ap.add_argument("--inputs", default=",".join(INPUTS), help=f"comma-separated, from {', '.join(INPUTS)}")
    ap.add_argument("--yamllint-reps", type=int, default=0, help="timed yamllint runs on the sparse input (default 0: slow)")
    ap.add_argument("--regenerate", action="store_true", help="regenerate/extract the inputs even if they exist")
    ap.add_argument("--tree", action="append", default=[], metavar="NAME=DIR",
                    help="also time an existing checkout (e.g. kubeflow=/path/to/kubeflow/manifests); repeatable")
    ap.add_argument("--src", help="time the migrator package of this checkout (PYTHONPATH=SRC python -m migrator)")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown (for bench/RESULTS.md)")
    ap.add_argument("--json", dest="json_out", help="write the raw measurements to this file")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.src:
        os.environ["PYTHONPATH"] = str(Path(args.src).resolve())
    pkg = Path(args.src).resolve() / "migrator" if args.src else REPO / "migrator"
    compileall.compile_dir(str(pkg), quiet=1)  # as an installed package has it
    mm = mm_argv(args.src)
    print(f"machine: {platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()}, {platform.platform()}")
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; mesh-migrator: {' '.join(mm)} ({pkg})")

    cmds: dict[tuple[str, str], list[str]] = {}
    stats = {}
    trees = dict(_tree(t) for t in args.tree)
    for name in [*args.inputs.split(","), *trees]:
        corpus = trees[name] if name in trees else prepare(name, args.regenerate)
        stats[name] = corpus_stats(corpus)
        print(f"input {name}: {corpus} ({stats[name][0]} files, {stats[name][1] / 1e6:.1f} MB)")
        for cmd, argv in commands(name, corpus, mm, args.yamllint_reps > 0).items():
            cmds[(name, cmd)] = argv
    same: dict[str, bool] = {}
    keys: dict[tuple[str, str], list] = {}
    for (name, cmd), argv in cmds.items():  # warm-up: page cache, and a check that each command works
        if cmd == "yamllint":
            continue
        secs, _, code, out, _ = run_child(argv)
        detail = ""
        if cmd.startswith("scan"):
            if code not in (0, 1):
                sys.exit(f"{name}: {cmd} failed with exit code {code}")
            s = json.loads(out)["summary"]
            keys[(name, cmd)] = findings_key(out)
            detail = f"files read {s['files_read']}, parsed {s['files_parsed']}, findings {s['findings']}"
        elif cmd == "baseline":
            docs, bad = out.decode().split()
            detail = f"{docs} documents loaded, {bad} file(s) libyaml rejects"
        elif cmd == "fix":
            detail = f"{out.count(b'+++ ')} file diff(s) planned"
        print(f"warm-up {name:<13} {cmd:<9} exit {code}  {secs:6.2f} s  {detail}")
    for name in stats:
        same[name] = keys.get((name, "scan")) == keys.get((name, "scan -j2"))

    times = {k: [] for k in cmds}
    cpus = {k: [] for k in cmds}
    rss = {k: [] for k in cmds}
    for rep in range(args.reps):
        for key, argv in cmds.items():
            if key[1] == "yamllint" and rep >= args.yamllint_reps:
                continue
            secs, peak, _code, _, cpu = run_child(argv)
            times[key].append(secs)
            cpus[key].append(cpu)
            rss[key].append(peak)
        print(f"round {rep + 1}/{args.reps} done ({time.perf_counter() - t0:.0f} s elapsed)", flush=True)

    rows = []
    for name in stats:
        base, base_cpu = statistics.median(times[(name, "baseline")]), statistics.median(cpus[(name, "baseline")])
        serial = statistics.median(times[(name, "scan")])
        for (inp, cmd) in cmds:
            if inp != name or not times[(inp, cmd)]:
                continue
            med, cpu = statistics.median(times[(inp, cmd)]), statistics.median(cpus[(inp, cmd)])
            target = TARGETS.get(cmd)
            verdict = "" if target is None else ("ok" if med / base <= target else "MISSED")
            if name == "tiny":
                verdict = "" if cmd != "scan" else ("ok" if med <= STARTUP_TARGET_S else "MISSED") + f" (start-up ≤ {STARTUP_TARGET_S} s)"
            if cmd == "scan -j2":
                verdict = ("ok" if serial / med >= JOBS_SPEEDUP_TARGET else "MISSED") + ("" if same[name] else ", FINDINGS DIFFER")
            peak = max(rss[(inp, cmd)])
            rows.append({"input": name, "command": cmd, "n": len(times[(inp, cmd)]), "median_s": med,
                         "min_s": min(times[(inp, cmd)]), "max_s": max(times[(inp, cmd)]), "ratio": med / base,
                         "cpu_median_s": cpu, "cpu_ratio": cpu / base_cpu, "speedup": serial / med if cmd == "scan -j2" else None,
                         "verdict": verdict, "peak_rss_mb": peak,
                         "rss_verdict": "" if cmd in ("baseline", "yamllint") else ("ok" if peak <= RSS_TARGET_MB else "MISSED")})

    print()
    header = f"{'input':<13} {'command':<9} {'n':>2} {'median':>8} {'x base':>7} {'CPU':>7} {'x base':>7} {'peak RSS':>9}  verdict"
    print(header)
    print("-" * len(header))
    for r in rows:
        extra = f" (x{r['speedup']:.2f} vs scan)" if r["speedup"] else ""
        print(f"{r['input']:<13} {r['command']:<9} {r['n']:>2} {r['median_s']:7.2f}s {r['ratio']:6.2f}x {r['cpu_median_s']:6.2f}s "
              f"{r['cpu_ratio']:6.2f}x {r['peak_rss_mb']:6.1f} MB  {r['verdict']}{extra} {('RSS ' + r['rss_verdict']) if r['rss_verdict'] else ''}")
    total = time.perf_counter() - t0
    print(f"\nload average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; total benchmark time {total:.0f} s")
    if args.markdown:
        print("\n| input | command | median wall | × baseline | median CPU | CPU × baseline | peak RSS | target |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            if r["input"] == "tiny":
                target = f"whole process ≤ {STARTUP_TARGET_S} s ({r['verdict'].split()[0]})" if r["command"] == "scan" else "—"
            elif r["command"] == "scan -j2":
                target = f"≥ {JOBS_SPEEDUP_TARGET}× faster than scan: {r['speedup']:.2f}× ({r['verdict']})"
            elif r["command"] in TARGETS:
                target = f"≤ {TARGETS[r['command']]}× ({r['verdict']})"
            else:
                target = "—"
            if r["rss_verdict"]:
                target += f"; RSS ≤ {RSS_TARGET_MB:.0f} MB ({r['rss_verdict']})"
            print(f"| {r['input']} | `{r['command']}` | {r['median_s']:.2f} s | {r['ratio']:.2f}× | {r['cpu_median_s']:.2f} s | "
                  f"{r['cpu_ratio']:.2f}× | {r['peak_rss_mb']:.1f} MB | {target} |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"rows": rows, "inputs": {k: {"files": v[0], "bytes": v[1]} for k, v in stats.items()},
                                                   "nproc": os.cpu_count(), "python": platform.python_version(), "total_s": total,
                                                   "same_findings_j2": same}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
