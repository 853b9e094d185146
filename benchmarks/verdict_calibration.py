"""False-positive rate and power of each kind of PSM endpoint, simulated at the shipped suites' sizes.

    OMP_NUM_THREADS=1 python benchmarks/verdict_calibration.py [--reps 1000] [--markdown]

For every case of psm_eval/score/verdict_calibration.py: the share of simulated runs in which the endpoint
is declared "as predicted" when the truth sits on the edge of its region (should be at most α = 0.025),
and when a planted effect puts it inside (power). Prints the table docs/scorers.md shows.
"""

from __future__ import annotations

import argparse
import math
import time

from psm_eval.score.verdict import ALPHA
from psm_eval.score.verdict_calibration import CASES, simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=1000, help="simulated runs per case and truth (default 1000)")
    ap.add_argument("--markdown", action="store_true", help="print the docs/scorers.md table")
    args = ap.parse_args()
    se = math.sqrt(ALPHA * (1 - ALPHA) / args.reps)
    rows = []
    start = time.perf_counter()
    for i, case in enumerate(CASES):
        fp, power = simulate(case, args.reps, seed=1000 * i)
        rows.append((case.name, case.size, case.null, case.planted, fp, power))
        if not args.markdown:
            print(f"{case.name:48s} {case.size:48s} FPR {fp:.3f}  power {power:.2f}", flush=True)
    if args.markdown:
        print(f"| endpoint | size | truth on the edge | planted | false positives (α = {ALPHA}) | power |")
        print("|---|---|---|---|---|---|")
        for name, size, null, planted, fp, power in rows:
            print(f"| {name} | {size} | {null:g} | {planted:g} | {fp:.3f} | {power:.2f} |")
    print(f"\n{args.reps} runs per cell (Monte Carlo s.e. of a rate near α: {se:.3f}); "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
