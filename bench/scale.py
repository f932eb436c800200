"""Scale series (issue 12): does doubling the repository at most double the time, and does memory stay flat?

    python bench/scale.py [--sizes 5000,10000,20000] [--big-per-1000 2.5] [--reps 1] [--work /tmp/mm-scale]

For each size it generates (bench/gen_scale.py, seeded) that many small mesh-relevant files plus
big 5 MB ConfigMaps in proportion, then in one run times, each in a fresh process:

- ``baseline``: every file through ``yaml.load_all(CSafeLoader)`` (bench/run.py's baseline);
- ``scan`` and ``scan -j2`` (``--format json``), checking that both report the same findings.

Prints wall time, peak RSS and the ratio to the previous size (target: time ratio <= 2 x 1.15 when
the input doubles; peak RSS <= 200 MB at the largest size).  Nothing here is asserted in the tests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gen_scale  # noqa: E402
from run import BASELINE_CODE, mm_argv, run_child  # noqa: E402


def findings_key(out: bytes) -> list:
    doc = json.loads(out)
    return sorted((f["rule"], f["path"], f["line"], f.get("env") or "") for f in doc["findings"])


def measure(corpus: Path, reps: int, src: str | None = None, skip_baseline: bool = False) -> dict[str, dict]:
    mm = mm_argv(src)
    cmds = {"baseline": [sys.executable, "-c", BASELINE_CODE, str(corpus)],
            "scan": [*mm, "scan", str(corpus), "--format", "json"],
            "scan -j2": [*mm, "scan", str(corpus), "--format", "json", "--jobs", "2"]}
    if skip_baseline:
        del cmds["baseline"]
    results: dict[str, dict] = {name: {"wall": [], "cpu": [], "rss": 0.0} for name in cmds}
    keys = {}
    for _ in range(reps):
        for name, argv in cmds.items():
            wall, rss, code, out, cpu = run_child(argv)
            results[name]["wall"].append(wall)
            results[name]["cpu"].append(cpu)
            results[name]["rss"] = max(results[name]["rss"], rss)
            if name != "baseline":
                keys[name] = findings_key(out)
    results["same findings"] = {"value": keys.get("scan") == keys.get("scan -j2"), "count": len(keys.get("scan", []))}
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000,10000,20000")
    ap.add_argument("--big-per-1000", type=float, default=2.5, help="5 MB files per 1,000 small files (default 2.5: 50 at 20k)")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--work", default="/tmp/mm-scale")
    ap.add_argument("--json", dest="json_out")
    ap.add_argument("--src", help="time another checkout's migrator/ (PYTHONPATH=SRC python -m migrator)")
    ap.add_argument("--skip-baseline", action="store_true", help="do not time the CSafeLoader baseline (it takes minutes at 20k)")
    a = ap.parse_args()
    if a.src:
        import os

        os.environ["PYTHONPATH"] = str(Path(a.src).resolve())
    import compileall

    # as bench/run.py does: with PYTHONDONTWRITEBYTECODE=1 a checkout would recompile every changed module on
    # every start, which adds ~3 MB of peak RSS and CPU to every measurement
    compileall.compile_dir(str((Path(a.src).resolve() if a.src else HERE.parent) / "migrator"), quiet=1)
    rows = []
    for size in [int(s) for s in a.sizes.split(",")]:
        corpus = Path(a.work) / f"scale-{size}"
        big = round(size * a.big_per_1000 / 1000)
        if not corpus.exists():
            gen_scale.generate(corpus, size, big, 5, 12)
        r = measure(corpus, a.reps, a.src, a.skip_baseline)
        rows.append((size, big, r))
        print(f"{size} files + {big} x 5 MB: " + ", ".join(
            f"{n} {statistics.median(v['wall']):.1f} s / {v['rss']:.0f} MB" for n, v in r.items() if n != "same findings")
            + f"; findings {r['same findings']['count']}, -j2 identical: {r['same findings']['value']}", flush=True)
    print("\n| input | baseline | scan (CPU) | scan × prev size | scan peak RSS | RSS × prev | scan -j2 (CPU) | -j2 speed-up | -j2 peak RSS | -j2 RSS × prev | -j2 same findings |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    prev = prev_rss = prev_j2_rss = None
    for size, big, r in rows:
        scan, cpu = statistics.median(r["scan"]["wall"]), statistics.median(r["scan"]["cpu"])
        j2, j2cpu = statistics.median(r["scan -j2"]["wall"]), statistics.median(r["scan -j2"]["cpu"])
        growth = f"{scan / prev:.2f}×" if prev else "—"
        rss_growth = f"{r['scan']['rss'] / prev_rss:.2f}×" if prev_rss else "—"
        j2_rss_growth = f"{r['scan -j2']['rss'] / prev_j2_rss:.2f}×" if prev_j2_rss else "—"
        prev, prev_rss, prev_j2_rss = scan, r["scan"]["rss"], r["scan -j2"]["rss"]
        base = f"{statistics.median(r['baseline']['wall']):.1f} s" if "baseline" in r else "not run"
        print(f"| {size:,} files + {big} × 5 MB | {base} | {scan:.2f} s ({cpu:.2f} s) | {growth} | "
              f"{r['scan']['rss']:.0f} MB | {rss_growth} | {j2:.2f} s ({j2cpu:.2f} s) | {scan / j2:.2f}× | {r['scan -j2']['rss']:.0f} MB | {j2_rss_growth} | "
              f"{'yes' if r['same findings']['value'] else 'NO'} |")
    if a.json_out:
        Path(a.json_out).write_text(json.dumps([{"size": s, "big": b, "results": r} for s, b, r in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
