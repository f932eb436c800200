"""Where a scan's time goes, stage by stage, in one process (CPU seconds; best of --reps).

    python bench/stages.py [--corpus bench/corpus] [--reps 3]

Runs the pipeline's stages by hand with the same public functions migrator/scan.py uses, so the
split stays honest as the code changes: discover, read, decode + gates (scan._gate), YAML load
(compose and construct, documents.load_text, of what the kind gates leave), collect (inventory.collect), views + rules, JSON rendering.  Also
prints what the plain CSafeLoader baseline spends on the files the prefilter keeps and on those it
drops, which bounds what any prefilter can save.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def stages(corpus: Path) -> dict[str, float]:
    from migrator import rules as rules_mod
    from migrator.discover import discover
    from migrator.documents import decode, load_text
    from migrator.inventory import Inventory, collect
    from migrator.mesh import build_views
    from migrator.model import ScanOptions
    from migrator.report import jsonout
    from migrator.discover import read_regular
    from migrator.scan import REDUCE, SKIP, ScanResult, _gate, _reduced_read, apply_suppressions

    opts = ScanOptions()
    out: dict[str, float] = {}
    clock = time.process_time

    t = clock()
    root, candidates, problems = discover([str(corpus)])
    out["discover (git ls-files)"] = clock() - t

    t = clock()
    raws = [(c.relpath, read_regular(c.abspath)) for c in candidates]
    out["read bytes"] = clock() - t

    t = clock()
    kept = []
    for path, raw in raws:
        text, problem = decode(path, raw, opts.max_file_bytes)
        gate = _gate(raw, path) if text is not None else SKIP
        if gate is not SKIP:
            kept.append((path, raw, text, gate))
    out["decode + gates (prefilter, kinds; C syntax check of skipped kinds)"] = clock() - t

    inventory = Inventory()
    load_s = collect_s = 0.0
    for path, raw, text, gate in kept:  # one file at a time, as the scan streams them
        t = clock()
        lf = (_reduced_read(path, raw, text) if gate is REDUCE else None) or load_text(path, text)
        t2 = clock()
        inventory.merge(collect(path, text, lf.documents))
        load_s += t2 - t
        collect_s += clock() - t2
    out[f"YAML load ({len(kept)} files, gated documents blanked)"] = load_s
    out["collect (inventory)"] = collect_s

    t = clock()
    views = build_views(inventory, opts)
    findings = rules_mod.run(views, rules_mod.select(), {})
    apply_suppressions(findings, inventory)
    out["views + rules"] = clock() - t

    t = clock()
    result = ScanResult(root, opts, inventory, views, findings, problems, len(raws), len(kept))
    jsonout.render(result)
    out["JSON report"] = clock() - t
    return out


def baseline_split(corpus: Path) -> dict[str, float]:
    from migrator.scan import may_matter

    files = []
    for d, dirs, names in os.walk(corpus):
        dirs[:] = [x for x in dirs if x != ".git"]
        files += [os.path.join(d, n) for n in names if n.endswith((".yaml", ".yml"))]
    pairs = [(f, open(f, "rb").read()) for f in files]
    hit = [r for f, r in pairs if may_matter(r, f)]
    miss = [r for f, r in pairs if not may_matter(r, f)]
    out = {}
    for name, sel in ((f"CSafeLoader, prefilter hits ({len(hit)} files, {sum(map(len, hit)) / 1e6:.1f} MB)", hit),
                      (f"CSafeLoader, prefilter misses ({len(miss)} files, {sum(map(len, miss)) / 1e6:.1f} MB)", miss)):
        t = time.process_time()
        for raw in sel:
            try:
                for _ in yaml.load_all(raw, Loader=yaml.CSafeLoader):
                    pass
            except yaml.YAMLError:  # chart templates and broken files: what bench/run.py's baseline also skips
                pass
        out[name] = time.process_time() - t
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(HERE / "corpus"))
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    corpus = Path(args.corpus)
    if not corpus.is_dir():
        sys.exit(f"{corpus}: no corpus (run bench/run.py or bench/gen_corpus.py first)")
    best: dict[str, float] = {}
    for _ in range(args.reps):
        for k, v in {**stages(corpus), **baseline_split(corpus)}.items():
            best[k] = min(best.get(k, v), v)
    width = max(map(len, best))
    scan_total = sum(v for k, v in best.items() if not k.startswith("CSafeLoader"))
    for k, v in best.items():
        print(f"{k:<{width}}  {v:6.2f} s")
    print(f"{'scan stages total':<{width}}  {scan_total:6.2f} s  (plus interpreter start and imports)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
