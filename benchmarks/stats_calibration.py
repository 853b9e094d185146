"""Calibration of psm_eval.score.stats: interval coverage, false-positive rate under A/A and power at a planted
effect, per method and size, printed as Markdown tables for docs/scorers.md.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/stats_calibration.py            # about 15 min, one core
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/stats_calibration.py --quick    # a quarter of the replicates

Every cell is a Monte-Carlo rate over `reps` simulated data sets (its standard error is about
sqrt(0.05 · 0.95 / reps) near 95 %); widths are mean interval widths. Data-generating processes are
written out beside each table.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from psm_eval.score import stats  # noqa: E402

SUITE_CLUSTERS = (10, 12, 15, 24, 40, 64, 110, 280)  # organism and standard tasks' sample / fact counts
SMALL_K = (5, 10, 15, 30, 60)


def table(title: str, note: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n### {title}\n\n{note}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    sys.stdout.flush()


def cover(ivs: list[stats.Interval], truth: float) -> str:
    """Coverage over all replicates (a missing interval counts as a miss) and the mean width."""
    ok = [iv.ci_low is not None and iv.ci_low <= truth <= iv.ci_high for iv in ivs]  # type: ignore[operator]
    widths = [iv.ci_high - iv.ci_low for iv in ivs if iv.ci_low is not None]  # type: ignore[operator]
    return f"{np.mean(ok):.3f} ({np.mean(widths):.2f})"


def beta_clusters(rng: np.random.Generator, k: int, m: int, p: float, icc: float) -> np.ndarray:
    s = (1 - icc) / icc
    return (rng.random((k, m)) < rng.beta(p * s, (1 - p) * s, size=(k, 1))).astype(float).ravel()


def binary_means(reps: int, rng: np.random.Generator) -> None:
    rows = []
    for p in (0.5, 0.8, 0.95):
        for k in SMALL_K:
            m, icc = 4, 0.3
            clusters, singles = [f"c{i // m}" for i in range(k * m)], [f"s{i}" for i in range(k * m)]
            data = [beta_clusters(rng, k, m, p, icc) for _ in range(reps)]
            rows.append([f"{p}", str(k),
                         cover([stats.binary_mean(y, clusters) for y in data], p),
                         cover([stats.binary_mean(y, singles) for y in data], p),
                         cover([stats.bootstrap_mean(y, clusters, n_boot=1000, seed=i) for i, y in enumerate(data)], p)])
    table("Binary per-arm mean: coverage (mean width)",
          "k clusters of 4 values; a cluster's rate ~ Beta with mean p and ICC 0.3.",
          ["p", "k", "Wilson on design-effect n_eff (new)", "Wilson ignoring clusters", "percentile cluster bootstrap (old)"],
          rows)


def paired_binary(reps: int, rng: np.random.Generator) -> None:
    rows = []
    for cells in ((0.6, 0.1, 0.05, 0.25), (0.85, 0.05, 0.05, 0.05), (0.3, 0.05, 0.05, 0.6)):
        d = cells[1] - cells[2]
        for n in (10, 15, 40, 57, 100):
            t = rng.multinomial(n, cells, size=reps)
            res = []
            for f in (stats.newcombe_paired, stats.tango_paired):
                lo, hi = f(*t.T)
                res.append(f"{np.mean((lo <= d + 1e-12) & (d - 1e-12 <= hi)):.3f} ({np.mean(hi - lo):.2f})")
            boots = []
            for i, tab in enumerate(t[: reps // 2]):
                diffs = np.repeat([0.0, 1.0, -1.0, 0.0], tab)
                boots.append(stats.bootstrap_mean(diffs, [f"s{j}" for j in range(n)], n_boot=1000, seed=i))
            rows.append([str(cells), str(n), *res, cover(boots, d)])
    table("Paired binary difference, one pair per cluster: coverage (mean width)",
          "Multinomial pairs with cell probabilities (both, a only, b only, neither).",
          ["cells", "n", "Newcombe method 10 (new)", "Tango score", "percentile bootstrap (old)"], rows)
    rows = []
    for k in SMALL_K:
        m = 4
        clusters = [f"c{i // m}" for i in range(k * m)]
        res: dict[str, list] = {"deff": [], "naive": [], "boot": []}
        for i in range(reps):
            th = np.repeat(rng.normal(size=k), m)
            a = (th + np.repeat(rng.normal(size=k), m) + 0.5 * rng.normal(size=k * m) > 0).astype(float)
            b = (th + np.repeat(rng.normal(size=k), m) + 0.5 * rng.normal(size=k * m) > 0).astype(float)
            res["deff"].append(stats.paired_binary_difference(a, b, clusters))
            res["naive"].append(stats.paired_binary_difference(a, b, [f"s{j}" for j in range(k * m)]))
            if i < reps // 2:
                res["boot"].append(stats.bootstrap_mean(a - b, clusters, n_boot=1000, seed=i))
        rows.append([str(k), cover(res["deff"], 0.0), cover(res["naive"], 0.0), cover(res["boot"], 0.0)])
    table("Paired binary difference, 4 pairs per cluster (arm-specific cluster effects): coverage (mean width)",
          "y = 1[θ_c + γ_arm,c + 0.5 ε > 0] with θ, γ, ε standard normal: true difference 0.",
          ["k", "Newcombe on deflated table (new)", "Newcombe ignoring clusters", "percentile cluster bootstrap (old)"],
          rows)


def continuous(reps: int, rng: np.random.Generator) -> None:
    gens: dict[str, tuple[Callable[[int, int], np.ndarray], float]] = {
        "normal": (lambda k, m: (rng.normal(size=(k, 1)) + rng.normal(size=(k, m))).ravel(), 0.0),
        "lognormal": (lambda k, m: (rng.lognormal(0, 1, (k, 1)) + rng.normal(0, 0.5, (k, m))).ravel(), math.exp(0.5)),
        "sparse ±1": (lambda k, m: rng.choice([-1.0, 0.0, 1.0], p=[0.05, 0.8, 0.15], size=k * m), 0.10),
    }
    rows = []
    for name, (gen, truth) in gens.items():
        for m in (1, 4):
            for k in (*SMALL_K, 120):
                clusters = [f"c{i // m}" for i in range(k * m)]
                data = [gen(k, m) for _ in range(reps)]
                rows.append([name, str(m), str(k),
                             cover([stats.cluster_t_mean(y, clusters) for y in data], truth),
                             cover([stats.bca_mean(y, clusters, n_boot=1000, seed=i) for i, y in enumerate(data)], truth),
                             cover([stats.bootstrap_mean(y, clusters, n_boot=1000, seed=i) for i, y in enumerate(data)],
                                   truth)])
    table("Continuous mean: coverage (mean width)",
          "normal: cluster effect N(0,1) + N(0,1); lognormal: cluster effect LogN(0,1) + N(0,0.25); "
          "sparse ±1: paired differences −1/0/+1 with probabilities 0.05/0.8/0.15, one per sample.",
          ["data", "values per cluster", "k", "cluster-robust t (new)", "cluster BCa", "percentile (old)"], rows)


def tests_at_suite_sizes(reps: int, rng: np.random.Generator) -> None:
    rows = []
    for k in SUITE_CLUSTERS:
        clusters = [f"c{i // 3}" for i in range(3 * k)]
        shift = 2.5 / math.sqrt(k)
        aa = [np.repeat(rng.normal(size=k), 3) + rng.normal(size=3 * k) for _ in range(reps)]
        fpr = np.mean([stats.sign_flip_p(d, clusters) < 0.05 for d in aa])
        power = np.mean([stats.sign_flip_p(d + shift, clusters) < 0.05 for d in aa])
        ids = [f"s{i}" for i in range(k)]
        b = [(rng.random(k) < 0.7).astype(float) for _ in range(reps)]
        a0 = [(rng.random(k) < 0.7).astype(float) for _ in range(reps)]
        a1 = [(rng.random(k) < 0.9).astype(float) for _ in range(reps)]
        mc_fpr = np.mean([stats.difference_test(x, y, ids, kind="binary")[0] < 0.05 for x, y in zip(a0, b)])
        mc_pow = np.mean([stats.difference_test(x, y, ids, kind="binary")[0] < 0.05 for x, y in zip(a1, b)])
        rows.append([str(k), "exact" if k <= stats.EXACT_MAX_CLUSTERS else "Monte Carlo", f"{fpr:.3f}",
                     f"{power:.2f} at {shift:.2f}", f"{mc_fpr:.3f}", f"{mc_pow:.2f}"])
    table("Tests at the suites' sizes: false-positive rate (A/A) and power",
          "Sign-flip: k clusters of 3 differences, cluster effect N(0,1) + N(0,1), planted shift 2.5/√k. "
          "Binary: one pair per sample, both arms 70 % (A/A) or 90 % vs 70 % (power): exact McNemar.",
          ["k", "sign-flip", "sign-flip FPR", "sign-flip power", "McNemar FPR", "McNemar power (90 % vs 70 %)"], rows)


def tost_at_suite_sizes(reps: int, rng: np.random.Generator) -> None:
    rows = []
    for k in SUITE_CLUSTERS:
        ids = [f"s{i}" for i in range(k)]
        zeros = np.zeros(k)
        margin = 0.3
        at_margin = np.mean([stats.tost(rng.normal(margin, 1, k), zeros, ids, margin).verdict == "equivalent"
                             for _ in range(reps)])
        null = [stats.tost(rng.normal(0, 1, k), zeros, ids, margin).verdict for _ in range(reps)]
        bin_reps = max(50, reps // 4)
        b = [(rng.random(k) < 0.7).astype(float) for _ in range(bin_reps)]
        a_eq = [np.where(rng.random(k) < 0.8, y, (rng.random(k) < 0.7)) .astype(float) for y in b]
        a_margin = [np.maximum(y, rng.random(k) < 0.1 / 0.3).astype(float) for y in b]  # a − b = +0.1
        bin_size = np.mean([stats.tost(x, y, ids, 0.1, kind="binary").verdict == "equivalent"
                            for x, y in zip(a_margin, b)])
        bin_power = np.mean([stats.tost(x, y, ids, 0.1, kind="binary").verdict == "equivalent" for x, y in zip(a_eq, b)])
        rows.append([str(k), f"{at_margin:.3f}", f"{np.mean([v in ('worse', 'better') for v in null]):.3f}",
                     f"{np.mean([v == 'equivalent' for v in null]):.2f}", f"{bin_size:.3f}", f"{bin_power:.2f}"])
    table("TOST equivalence at the suites' sizes",
          "Continuous: margin 0.3 sd; size = P(equivalent) when the true difference is at the margin, "
          "wrong = P(worse or better) when it is 0, power = P(equivalent) at 0. Binary: 70 % in b, margin 0.1; "
          "size at a − b = +0.1 (a right wherever b is, and on a further 10 %: every discordant pair one way), "
          "power when a copies b 80 % of the time (difference 0). "
          "Binary columns over max(50, reps/4) replicates.",
          ["k", "size at margin", "A/A worse or better", "power at 0", "binary size", "binary power"], rows)


def entropy(reps: int, rng: np.random.Generator) -> None:
    bases = {"dominant": np.array([0.7, 0.1, 0.05, 0.05, 0.04, 0.03, 0.02, 0.01]),
             "spread": np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03]),
             "uniform": np.full(8, 1 / 8)}
    est = {"plug-in": stats.entropy_rows, "Miller–Madow": stats.miller_madow_rows, "Chao–Shen": stats.chao_shen_rows}
    rows = []
    for name, base in bases.items():
        for prompts in (1, 10, 40):
            shares = rng.dirichlet(20 * base, size=(reps * 4, prompts))
            counts = np.array([[rng.multinomial(4, s) for s in row] for row in shares])
            h = lambda p: float(-(p[p > 0] * np.log2(p[p > 0])).sum())  # noqa: E731
            truth = np.array([h(s[0]) for s in shares]) if prompts == 1 else np.full(len(shares), h(base))
            c = counts.sum(axis=1)
            cells = [f"{(f(c) - truth).mean():+.3f} / {np.sqrt(((f(c) - truth) ** 2).mean()):.3f}" for f in est.values()]
            rows.append([name, str(4 * prompts), *cells])
    table("Entropy estimators: bias / RMSE (bits)",
          "8 classes; each prompt's shares ~ Dirichlet(20 · base), 4 replies per prompt; N = 4 is one prompt "
          "(truth: its own entropy), N = 40 and 160 pool 10 and 40 prompts (truth: entropy of base).",
          ["base", "N", *est], rows)
    rows = []
    for name in ("dominant", "spread"):
        base = bases[name]
        truth = float(-(base * np.log2(base)).sum())
        for prompts in (10, 40):
            clusters = [f"p{i // 4}" for i in range(4 * prompts)]
            res: dict[str, list] = {"jt": [], "bca": [], "pct": [], "diff_jt": [], "diff_bca": []}
            for i in range(reps // 2):
                lab = [np.concatenate([rng.choice(8, 4, p=s) for s in rng.dirichlet(20 * base, size=prompts)])
                       for _ in range(2)]
                a, b = np.eye(8)[lab[0]], np.eye(8)[lab[1]]
                res["jt"].append(stats.pooled_entropy(a, clusters))
                res["bca"].append(stats.pooled_entropy(a, clusters, interval="bca", n_boot=1000, seed=i))
                res["pct"].append(stats.bootstrap_pooled(a, clusters, stats.miller_madow_rows, n_boot=1000, seed=i))
                res["diff_jt"].append(stats.entropy_difference(a, clusters, b, clusters))
                res["diff_bca"].append(stats.entropy_difference(a, clusters, b, clusters, interval="bca", n_boot=1000,
                                                                seed=i))
            rows.append([name, str(prompts), cover(res["jt"], truth), cover(res["bca"], truth),
                         cover(res["pct"], truth), cover(res["diff_jt"], 0.0), cover(res["diff_bca"], 0.0)])
    table("Pooled Miller–Madow entropy per arm and A/A difference: coverage (mean width)",
          f"Prompts as clusters, 4 replies each, shares ~ Dirichlet(20 · base); {reps // 2} replicates.",
          ["base", "prompts", "jackknife t (new)", "cluster BCa", "percentile (old)", "difference: jackknife t",
           "difference: BCa"], rows)


def profiles(reps: int, rng: np.random.Generator) -> None:
    expit = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    n_traits, per = 14, 20  # persona-self-report: 14 traits × 20 statements
    traits = np.repeat([f"t{i}" for i in range(n_traits)], per)
    ids = [f"s{i}" for i in range(n_traits * per)]
    rows = []
    for spread, gap in ((1.2, 0.2), (1.2, 0.8), (0.5, 0.4), (1.2, 0.0)):
        la = spread * rng.standard_normal(n_traits)
        lb = la + gap * rng.standard_normal(n_traits)
        big = rng.normal(0, 0.5, 100000)
        mu_a, mu_b = np.array([expit(x + big).mean() for x in la]), np.array([expit(x + big).mean() for x in lb])
        truth = [float(np.corrcoef(mu_a, mu_b)[0, 1]), float(np.abs(mu_a - mu_b).mean()),
                 float(np.corrcoef(mu_a, mu_b)[0, 1]), float(np.sqrt(((mu_a - mu_b) ** 2).mean()))]
        got: list[list[stats.Interval]] = [[], [], [], []]
        for i in range(reps // 2):
            eff = rng.normal(0, 0.5, (n_traits, per))  # a statement's pull, the same in both arms
            a = (rng.random((n_traits, per)) < expit(la[:, None] + eff)).astype(float).ravel()
            b = (rng.random((n_traits, per)) < expit(lb[:, None] + eff)).astype(float).ravel()
            ps = stats.profile_similarity(traits, a, b, ids, n_boot=500, seed=i)
            for store, iv in zip(got, (ps.pearson, ps.mean_abs_diff, ps.pearson_corrected, ps.rms_diff_corrected)):
                store.append(iv)
        cells = []
        for t, g in zip(truth, got):
            found = [iv for iv in g if iv.estimate is not None]
            none = f", none in {len(g) - len(found)}" if len(found) < len(g) else ""
            cells.append(f"{t:.3f}: {np.mean([iv.estimate for iv in found]):.3f}, {cover(g, t)}{none}")
        rows.append([f"{spread}/{gap}", *cells])
    table("Profile similarity (14 traits × 20 yes/no statements): truth: mean estimate, coverage (width)",
          "Trait logits ~ N(0, spread²) in a, plus N(0, gap²) in b; a statement's own pull N(0, 0.25) shared by "
          f"both arms; truth from the statement population. {reps // 2} replicates.",
          ["spread/gap", "Pearson r (basic)", "mean absolute difference (basic)", "corrected r (pivoted)",
           "corrected RMS difference (pivoted)"], rows)


SECTIONS = {"binary": binary_means, "paired": paired_binary, "continuous": continuous, "tests": tests_at_suite_sizes,
            "tost": tost_at_suite_sizes, "entropy": entropy, "profiles": profiles}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=1000, help="replicates per cell (default 1000)")
    ap.add_argument("--quick", action="store_true", help="a quarter of the replicates")
    ap.add_argument("--only", choices=sorted(SECTIONS), nargs="*", help="run these sections only")
    ap.add_argument("--seed", type=int, default=20240611)
    args = ap.parse_args()
    reps = max(40, args.reps // 4) if args.quick else args.reps
    print(f"psm_eval.score.stats calibration: {reps} replicates per cell, seed {args.seed}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    start = time.perf_counter()
    for name in args.only or SECTIONS:
        t0 = time.perf_counter()
        SECTIONS[name](reps, np.random.default_rng([args.seed, list(SECTIONS).index(name)]))
        print(f"\n({name}: {time.perf_counter() - t0:.0f} s)")
    print(f"\ntotal {time.perf_counter() - start:.0f} s, load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
