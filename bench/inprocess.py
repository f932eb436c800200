"""Scan against a CSafeLoader load of the same files, both inside one warm process: no interpreter start.

    python bench/inprocess.py [--reps 7] [--inputs dense,istio-1.22.0] [--tree NAME=DIR] [--src DIR] [--markdown]

Why a second harness: bench/run.py times whole processes, which is what a user waits for, but on a
small tree both sides are mostly start-up.  The Istio 1.22.0 release tree loads in ~0.13 s; the
interpreter, PyYAML and `git ls-files` alone take ~0.04 s of any scan's process, and the
baseline's own process pays its interpreter start too.  Here each input gets a fresh child process
that imports everything first, then times, interleaved, the baseline's load of every YAML file
(bench/run.py's BASELINE_LOAD) and `mesh-migrator scan --format json` through
`cli.main` (output to /dev/null).  The first scan (knowledge data, rule catalogue and shapes
loaded on first use) is reported apart from the median of the warm ones.  Wall time and CPU time
of this process (the `git` children's CPU is not in it; their wait is in wall time).
Nothing here is asserted in the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import BASELINE_LOAD, INPUTS, prepare  # noqa: E402

CHILD = BASELINE_LOAD + r"""
import contextlib, json, os, sys, time
from migrator import cli
import migrator.scan, migrator.app, migrator.report.jsonout  # imported before any timing

def scan(root):
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        cli.main(["scan", root, "--format", "json"])

def timed(fn, root):
    w, c = time.perf_counter(), time.process_time()
    fn(root)
    return time.perf_counter() - w, time.process_time() - c

root, reps = sys.argv[1], int(sys.argv[2])
out = {"first": timed(scan, root), "baseline": [], "scan": []}
timed(load_all, root)  # the baseline's first run: page cache and PyYAML's first use, not counted
for _ in range(reps):
    out["baseline"].append(timed(load_all, root))
    out["scan"].append(timed(scan, root))
print(json.dumps(out))
"""


def measure(corpus: Path, reps: int, src: str | None) -> dict:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    proc = subprocess.run([sys.executable, "-c", CHILD, str(corpus), str(reps)], capture_output=True, text=True,
                          env=env, cwd="/", check=True)
    raw = json.loads(proc.stdout)
    med = {k: (statistics.median(w for w, _ in raw[k]), statistics.median(c for _, c in raw[k])) for k in ("baseline", "scan")}
    return {"baseline": med["baseline"], "scan": med["scan"], "first": tuple(raw["first"])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--inputs", default="sparse,dense,istio-1.22.0")
    ap.add_argument("--tree", action="append", default=[], metavar="NAME=DIR")
    ap.add_argument("--src", help="time the migrator package of this checkout instead")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    inputs = [(n, prepare(n, False)) for n in args.inputs.split(",") if n in INPUTS and n != "tiny"]
    inputs += [(t.split("=", 1)[0], Path(t.split("=", 1)[1]).resolve()) for t in args.tree]
    rows = []
    for name, corpus in inputs:
        m = measure(corpus, args.reps, args.src)
        (bw, bc), (sw, sc), (fw, fc) = m["baseline"], m["scan"], m["first"]
        rows.append((name, bw, sw, sw / bw, sc / bc, fw, fw / bw))
        print(f"{name:14s} baseline {bw:6.3f}s  scan {sw:6.3f}s  {sw / bw:5.2f}x wall  {sc / bc:5.2f}x CPU"
              f"  | first scan {fw:6.3f}s ({fw / bw:4.2f}x)", flush=True)
    if args.markdown:
        print("\n| input | CSafeLoader load | scan, warm | × load | first scan | × load |\n|---|---|---|---|---|---|")
        for name, bw, sw, r, _, fw, fr in rows:
            print(f"| {name} | {bw:.3f} s | {sw:.3f} s | {r:.2f}× | {fw:.3f} s | {fr:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
