"""Target 5: 10,000 samples x 2 arms through a fast backend (lm-eval's `dummy` model, which answers
instantly) — peak memory (<= 500 MB), time linear in samples (slope and R^2 over several sizes),
and statistics + summary over 100,000 scores (< 10 s).

Each size runs in a fresh subprocess so its peak RSS is its own; the reference is the same
process's RSS after imports, before the run.

    python benchmarks/scale.py [--sizes 1000 2500 5000 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _task(work: Path, n: int) -> Path:
    task = work / f"task{n}"
    task.mkdir()
    with open(task / "data.jsonl", "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"s{i:06d}", "q": f"Question number {i}: what is {i % 9} plus {i % 7}?",
                                 "a": str(i % 9 + i % 7)}) + "\n")
    (task / "task.yaml").write_text("name: scale\nversion: 1\ndescription: d\ndata: {path: data.jsonl}\n"
                                    "fields: {id: id, prompt: q, references: a}\ngeneration: {max_gen_toks: 8}\n")
    return task


def one_size(n: int) -> dict:
    """Child process: run n samples x 2 arms and report wall time and memory (after a warm-up)."""
    import psm_eval.backends.lm  # noqa: F401  (imports lm-eval, as any run does, before the baseline)
    from psm_eval.run.runner import run
    from psm_eval.run.start import resolve_config

    work = Path(tempfile.mkdtemp(prefix="psm-bench-scale-"))
    arms = ["a=dummy:,render=transcript:assistant", "b=dummy:,render=transcript:plain"]
    run(resolve_config(tasks=[str(_task(work, 10))], arms=arms, out=str(work / "warm"), cache=False), progress=False)
    config = resolve_config(tasks=[str(_task(work, n))], arms=arms, out=str(work / "runs"), cache=False)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    out = run(config, progress=False)
    seconds = time.perf_counter() - start
    lines = sum(1 for _ in open(out / "generations.jsonl"))
    return {"n": n, "records": lines, "seconds": seconds, "rss_before_mb": base_rss,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    intercept = my - slope * mx
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return slope, intercept, 1 - ss_res / ss_tot if ss_tot else 1.0


def summary_speed(n_scores: int) -> float | None:
    """Seconds for statistics + summary over n synthetic scores (None if scoring is not installed)."""
    try:
        from benchmarks._summary_bench import time_summary
    except ImportError:
        return None
    return time_summary(n_scores)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2500, 5000, 10000])
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_size(args.child)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    results = []
    for n in args.sizes:
        proc = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            sys.exit(proc.stderr[-3000:])
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{r['n']:>6} samples x 2 arms: {r['records']:>6} records in {r['seconds']:6.2f} s; "
              f"peak RSS {r['peak_rss_mb']:6.0f} MB (after imports {r['rss_before_mb']:4.0f} MB, "
              f"ratio {r['peak_rss_mb'] / r['rss_before_mb']:.2f})")
    slope, intercept, r2 = fit([r["n"] for r in results], [r["seconds"] for r in results])
    print(f"time = {intercept:.2f} s + {slope * 1000:.3f} s per 1,000 samples; R^2 = {r2:.4f} (linear if ~1)")
    largest = max(results, key=lambda r: r["n"])
    print(f"peak memory at {largest['n']} samples: {largest['peak_rss_mb']:.0f} MB (target <= 500 MB)")
    secs = summary_speed(100_000)
    if secs is not None:
        print(f"statistics + summary over 100,000 scores: {secs:.2f} s (target < 10 s)")


if __name__ == "__main__":
    main()
