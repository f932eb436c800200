"""Benchmark mesh-migrator against a plain CSafeLoader load of the same corpus, and against yamllint.

    python bench/run.py [--reps 5] [--yamllint-reps 1] [--corpus bench/corpus] [--markdown]

Generates the corpus (bench/gen_corpus.py, seeded) into bench/corpus/ when it is absent, then, in one
run, times every command in a fresh subprocess, interleaved round-robin over the repetitions so
that machine noise (other processes, CPU frequency, page cache) spreads over all of them alike.
Targets are judged on wall-clock medians; CPU time (user + system, from rusage) is printed too,
because on a shared machine it is far less noisy than wall time:

- ``scan``: ``mesh-migrator scan CORPUS --format json`` (output discarded);
- ``scan -j2``: the same with ``--jobs 2``;
- ``fix``: ``mesh-migrator fix CORPUS --strategy skip-verify`` (a dry run: plans, splices and verifies
  every edit, prints the diff, writes nothing), when the ``fix`` subcommand exists;
- ``baseline``: a Python process that walks the corpus and ``yaml.load_all(..., CSafeLoader)`` s every
  file: the cost of merely reading the repository as YAML with libyaml;
- ``yamllint``: ``yamllint -f parsable CORPUS`` (skipped with a note when yamllint is missing).  It is
  ~30x slower than everything else, so it runs ``--yamllint-reps`` times (default 1) to keep the whole
  benchmark under five minutes on two cores.

Each child is reaped with ``os.wait4``, whose rusage gives that child's own peak RSS (for ``--jobs 2``
the largest of the parent and its workers, not their sum).  One untimed warm-up run of each command
fills the page cache and checks that it works.  Prints medians, min-max, the ratio of medians to the
baseline, peak RSS and the targets from issue 6.  No timing is asserted anywhere in the test suite.
"""

from __future__ import annotations

import argparse
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
TARGETS = {"scan": ("time", 0.7), "scan -j2": ("time", 0.7), "fix": ("time", 1.0)}
RSS_TARGET_MB = 60.0

BASELINE_CODE = """
import os, sys, yaml
n = 0
for d, dirs, files in os.walk(sys.argv[1]):
    dirs[:] = sorted(x for x in dirs if x != ".git")
    for f in sorted(files):
        if f.endswith((".yaml", ".yml")):
            with open(os.path.join(d, f), "rb") as fh:
                for _ in yaml.load_all(fh, Loader=yaml.CSafeLoader):
                    n += 1
print(n)
"""


def tool(name: str) -> str | None:
    """An executable next to this interpreter (the venv), else on PATH."""
    cand = BIN / name
    return str(cand) if cand.exists() else shutil.which(name)


def run_child(argv: list[str]) -> tuple[float, float, int, bytes, float]:
    """(wall seconds, peak RSS in MB, exit code, stdout, CPU seconds) of one fresh child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    out = proc.stdout.read()  # drain while it runs (a full pipe would block the child)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    cpu = usage.ru_utime + usage.ru_stime  # the child and the workers it reaped (--jobs)
    return elapsed, usage.ru_maxrss / 1024.0, proc.returncode, out, cpu  # Linux: ru_maxrss is in KiB


def commands(corpus: Path) -> tuple[dict[str, list[str]], list[str]]:
    notes = []
    mm = tool("mesh-migrator")
    cmds: dict[str, list[str]] = {}
    if mm is None:
        sys.exit("mesh-migrator is not installed in this environment (pip install -e .)")
    cmds["baseline"] = [sys.executable, "-c", BASELINE_CODE, str(corpus)]
    cmds["scan"] = [mm, "scan", str(corpus), "--format", "json"]
    cmds["scan -j2"] = [mm, "scan", str(corpus), "--format", "json", "--jobs", "2"]
    has_fix = subprocess.run([mm, "fix", "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    if has_fix:
        cmds["fix"] = [mm, "fix", str(corpus), "--strategy", "skip-verify"]
    else:
        print("fix: not available (no `mesh-migrator fix` subcommand); skipped")
        notes.append("fix: not available")
    yl = tool("yamllint")
    if yl:
        cmds["yamllint"] = [yl, "-f", "parsable", str(corpus)]
    else:
        print("yamllint: not installed (pip install -e '.[bench]'); skipped")
        notes.append("yamllint: not installed")
    return cmds, notes


def corpus_stats(corpus: Path) -> tuple[int, int]:
    files = [p for p in corpus.rglob("*") if p.is_file() and ".git" not in p.relative_to(corpus).parts]
    return len(files), sum(p.stat().st_size for p in files)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions of each command (default 5)")
    ap.add_argument("--yamllint-reps", type=int, default=1, help="timed repetitions of yamllint (default 1: it is slow)")
    ap.add_argument("--corpus", default=str(HERE / "corpus"))
    ap.add_argument("--regenerate", action="store_true", help="regenerate the corpus even if it exists")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown (for bench/RESULTS.md)")
    ap.add_argument("--json", dest="json_out", help="write the raw measurements to this file")
    args = ap.parse_args()
    t0 = time.perf_counter()

    corpus = Path(args.corpus)
    if args.regenerate or not corpus.is_dir() or not any(p.name != ".git" for p in corpus.iterdir()):
        sys.path.insert(0, str(HERE))
        from gen_corpus import generate

        stats = generate(corpus)
        print(f"generated {stats['files']} files, {stats['bytes'] / 1e6:.1f} MB into {corpus}")
    n_files, n_bytes = corpus_stats(corpus)
    print(f"corpus: {corpus} ({n_files} files, {n_bytes / 1e6:.1f} MB)")
    print(f"machine: {platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()}, {platform.platform()}")

    cmds, notes = commands(corpus)
    # warm-up: page cache, imports compiled, and a check that each command does what we think
    for name, argv in cmds.items():
        if name == "yamllint":
            continue  # one yamllint run costs as much as everything else together; its timed runs warm nothing else
        secs, _, code, out, _ = run_child(argv)
        detail = ""
        if name == "scan":
            report = json.loads(out)
            s = report["summary"]
            detail = f"files read {s['files_read']}, parsed {s['files_parsed']}, findings {s['findings']} ({s['by_severity']})"
        elif name == "baseline":
            detail = f"{out.decode().strip()} documents loaded"
        elif name == "fix":
            detail = f"{out.count(b'+++ ')} file diff(s) planned"
        print(f"warm-up {name:<9} exit {code}  {secs:6.2f} s  {detail}")
        if name in ("scan", "scan -j2") and code not in (0, 1):
            sys.exit(f"{name} failed with exit code {code}")
        if name == "scan" and report["summary"]["files_read"] != n_files:
            sys.exit(f"scan read {report['summary']['files_read']} of {n_files} files: is the corpus its own git work tree? (--regenerate)")

    times: dict[str, list[float]] = {n: [] for n in cmds}
    cpus: dict[str, list[float]] = {n: [] for n in cmds}
    rss: dict[str, list[float]] = {n: [] for n in cmds}
    codes: dict[str, set] = {n: set() for n in cmds}
    for rep in range(args.reps):
        for name, argv in cmds.items():
            if name == "yamllint" and rep >= args.yamllint_reps:
                continue
            secs, peak, code, _, cpu = run_child(argv)
            times[name].append(secs)
            cpus[name].append(cpu)
            rss[name].append(peak)
            codes[name].add(code)
        print(f"round {rep + 1}/{args.reps} done ({time.perf_counter() - t0:.0f} s elapsed)", flush=True)

    base = statistics.median(times["baseline"])
    base_cpu = statistics.median(cpus["baseline"])
    rows = []
    for name in cmds:
        if not times[name]:
            continue
        med = statistics.median(times[name])
        ratio = med / base
        target = TARGETS.get(name)
        verdict_t = "" if not target else ("ok" if ratio <= target[1] else "MISSED")
        peak = max(rss[name])
        verdict_m = "" if name in ("baseline", "yamllint") else ("ok" if peak <= RSS_TARGET_MB else "MISSED")
        cpu_med = statistics.median(cpus[name])
        rows.append({"command": name, "n": len(times[name]), "median_s": med, "min_s": min(times[name]), "max_s": max(times[name]),
                     "ratio": ratio, "cpu_median_s": cpu_med, "cpu_ratio": cpu_med / base_cpu, "target_ratio": target[1] if target else None, "time_verdict": verdict_t, "peak_rss_mb": peak,
                     "rss_verdict": verdict_m, "exit_codes": sorted(codes[name])})

    print()
    header = (f"{'command':<10} {'n':>2} {'median':>8} {'min-max':>15} {'x baseline':>10} {'target':>8} {'':>7} "
              f"{'CPU':>7} {'x base':>6} {'peak RSS':>9} {'target':>8}")
    print(header)
    print("-" * len(header))
    for r in rows:
        target = f"<= {r['target_ratio']:.1f}x" if r["target_ratio"] else ""
        rss_t = f"<= {RSS_TARGET_MB:.0f} MB" if r["rss_verdict"] else ""
        print(f"{r['command']:<10} {r['n']:>2} {r['median_s']:7.2f}s {r['min_s']:6.2f}-{r['max_s']:6.2f} s {r['ratio']:9.2f}x "
              f"{target:>8} {r['time_verdict']:>7} {r['cpu_median_s']:6.2f}s {r['cpu_ratio']:5.2f}x "
              f"{r['peak_rss_mb']:6.1f} MB {rss_t:>8} {r['rss_verdict']}")
    for n in notes:
        print(n)
    total = time.perf_counter() - t0
    print(f"\ntotal benchmark time {total:.0f} s")
    if args.markdown:
        print("\n| command | runs | median (wall) | min–max | × baseline | target | median CPU | CPU × baseline | peak RSS | RSS target |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            target = f"≤ {r['target_ratio']:.1f}× ({r['time_verdict']})" if r["target_ratio"] else "—"
            rss_t = f"≤ {RSS_TARGET_MB:.0f} MB ({r['rss_verdict']})" if r["rss_verdict"] else "—"
            print(f"| `{r['command']}` | {r['n']} | {r['median_s']:.2f} s | {r['min_s']:.2f}–{r['max_s']:.2f} s | {r['ratio']:.2f}× | {target} | "
                  f"{r['cpu_median_s']:.2f} s | {r['cpu_ratio']:.2f}× | {r['peak_rss_mb']:.1f} MB | {rss_t} |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"rows": rows, "times": times, "cpu": cpus, "rss": rss, "corpus_files": n_files,
                                                   "corpus_bytes": n_bytes, "nproc": os.cpu_count(),
                                                   "python": platform.python_version(), "total_s": total}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
