"""Calibration at the shipped suites' sizes: false-positive rate under A/A, power at a planted effect,
interval coverage at small numbers of clusters. Short simulations (a few hundred replicates each);
benchmarks/stats_calibration.py runs the long ones and prints the table for docs/scorers.md.

Bounds: a rate that should be at most α passes below α + 3 Monte-Carlo standard errors; a coverage that
should be at least 95 % passes above 95 % − 3 s.e.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from psm_eval.score import stats


def mc_se(p: float, reps: int) -> float:
    return math.sqrt(p * (1 - p) / reps)


def at_most(rate: float, nominal: float, reps: int) -> bool:
    return rate <= nominal + 3 * mc_se(nominal, reps)


def at_least(rate: float, nominal: float, reps: int) -> bool:
    return rate >= nominal - 3 * mc_se(nominal, reps)


# organism: 10 identity / mixture prompts, 12 drift dialogues, 15 facts (57 phrasings), 40 selection items;
# standard: 24, 32, 60, 64 … samples
SUITE_CLUSTERS = [10, 12, 15, 40, 64]


@pytest.mark.parametrize("k", SUITE_CLUSTERS)
def test_sign_flip_false_positive_rate_and_power(k: int) -> None:
    reps = 300
    rng = np.random.default_rng(100 + k)
    clusters = [f"c{i // 3}" for i in range(3 * k)]  # three correlated values per cluster
    shared = np.repeat(rng.normal(size=(reps, k)), 3, axis=1)
    aa = shared + rng.normal(size=(reps, 3 * k))  # A/A: differences symmetric about 0
    fpr = np.mean([stats.sign_flip_p(d, clusters) < 0.05 for d in aa])
    effect = 2.8 / math.sqrt(k)  # about 0.8 power for a cluster-level t test at this size
    power = np.mean([stats.sign_flip_p(d + effect * 1.2, clusters) < 0.05 for d in aa])
    print(f"sign-flip k={k}: FPR {fpr:.3f}, power {power:.2f} at {effect * 1.2:.2f}")
    assert at_most(fpr, 0.05, reps)
    assert power >= 0.6


@pytest.mark.parametrize("k", [40, 110])
def test_exact_mcnemar_size_and_power_with_one_pair_per_sample(k: int) -> None:
    reps = 400
    rng = np.random.default_rng(200 + k)
    ids = [f"s{i}" for i in range(k)]
    b = (rng.random((reps, k)) < 0.7).astype(float)
    same = (rng.random((reps, k)) < 0.7).astype(float)
    better = (rng.random((reps, k)) < 0.9).astype(float)
    fpr = np.mean([stats.difference_test(x, y, ids, kind="binary")[0] < 0.05 for x, y in zip(same, b)])
    power = np.mean([stats.difference_test(x, y, ids, kind="binary")[0] < 0.05 for x, y in zip(better, b)])
    print(f"McNemar k={k}: FPR {fpr:.3f}, power {power:.2f} at 90 % vs 70 %")
    assert at_most(float(fpr), 0.05, reps) and power >= (0.3 if k == 40 else 0.85)


def test_clustered_binary_differences_keep_their_size_with_the_sign_flip() -> None:
    """organism-facts: 57 phrasings of 15 facts; a fact is known or not by both arms alike (A/A)."""
    reps = 400
    rng = np.random.default_rng(7)
    facts = [f"f{i % 15}" for i in range(57)]
    code = np.arange(57) % 15
    known = rng.random((reps, 15)) < 0.7
    a = (known[:, code] & (rng.random((reps, 57)) < 0.9)).astype(float)
    b = (known[:, code] & (rng.random((reps, 57)) < 0.9)).astype(float)
    p_fact = np.array([stats.difference_test(a[r], b[r], facts, kind="binary")[0] for r in range(reps)])
    assert at_most(float(np.mean(p_fact < 0.05)), 0.05, reps)


def test_tost_size_at_the_margin_and_power_at_zero() -> None:
    reps, k, margin = 400, 40, 0.5
    rng = np.random.default_rng(8)
    clusters = [f"c{i}" for i in range(k)]
    zeros = np.zeros(k)
    at_margin = [stats.tost(rng.normal(margin, 1.0, k), zeros, clusters, margin).verdict for _ in range(reps)]
    null = [stats.tost(rng.normal(0.0, 1.0, k), zeros, clusters, margin).verdict for _ in range(reps)]
    size = np.mean([v == "equivalent" for v in at_margin])
    wrong = np.mean([v in ("worse", "better") for v in null])
    power = np.mean([v == "equivalent" for v in null])
    print(f"TOST k={k}, margin {margin} sd: size {size:.3f}, A/A worse-or-better {wrong:.3f}, power {power:.2f}")
    assert at_most(size, 0.05, reps) and wrong <= 0.01 and power >= 0.6


def test_binary_tost_size_at_the_margin() -> None:
    reps, n, margin = 150, 60, 0.15
    rng = np.random.default_rng(9)
    ids = [f"s{i}" for i in range(n)]
    hits = 0
    for _ in range(reps):
        b = (rng.random(n) < 0.6).astype(float)
        # a is right where b is, and on top of that on a share `margin` of all samples: a − b = margin
        a = np.maximum(b, (rng.random(n) < margin / 0.4)).astype(float)
        hits += stats.tost(a, b, ids, margin, kind="binary").verdict == "equivalent"
    assert at_most(hits / reps, 0.05, reps)


@pytest.mark.parametrize("k", [10, 15])
def test_clustered_binary_mean_covers_at_small_k(k: int) -> None:
    reps, m, p, icc = 600, 4, 0.8, 0.3
    rng = np.random.default_rng(10 + k)
    s = (1 - icc) / icc
    clusters = [f"c{i // m}" for i in range(k * m)]
    pc = np.repeat(rng.beta(p * s, (1 - p) * s, size=(reps, k)), m, axis=1)
    y = (rng.random((reps, k * m)) < pc).astype(float)
    hits = [(lambda iv: iv.ci_low <= p <= iv.ci_high)(stats.binary_mean(row, clusters)) for row in y]
    naive = [(lambda iv: iv.ci_low <= p <= iv.ci_high)(stats.binary_mean(row, [str(i) for i in range(k * m)]))
             for row in y]
    print(f"Wilson, k={k} clusters of {m}: coverage {np.mean(hits):.3f} (ignoring clusters {np.mean(naive):.3f})")
    assert at_least(float(np.mean(hits)), 0.95, reps)


def test_clustered_paired_binary_interval_covers() -> None:
    """Arm-specific fact effects (a fact known by one arm only) make the pairs within a fact alike."""
    reps, k, m = 500, 15, 4
    rng = np.random.default_rng(11)
    clusters = [f"c{i // m}" for i in range(k * m)]
    th = np.repeat(rng.normal(size=(reps, k)), m, axis=1)
    a = (th + np.repeat(rng.normal(size=(reps, k)), m, axis=1) + 0.5 * rng.normal(size=(reps, k * m)) > 0)
    b = (th + np.repeat(rng.normal(size=(reps, k)), m, axis=1) + 0.5 * rng.normal(size=(reps, k * m)) > 0)
    ivs = [stats.paired_binary_difference(a[r].astype(float), b[r].astype(float), clusters) for r in range(reps)]
    cover = np.mean([iv.ci_low <= 0.0 <= iv.ci_high for iv in ivs])
    assert at_least(float(cover), 0.95, reps)


@pytest.mark.parametrize("k", [5, 10])
def test_cluster_t_covers_where_the_percentile_bootstrap_does_not(k: int) -> None:
    reps = 300
    rng = np.random.default_rng(12 + k)
    clusters = [f"c{i // 4}" for i in range(4 * k)]
    data = np.repeat(rng.normal(size=(reps, k)), 4, axis=1) + rng.normal(size=(reps, 4 * k))
    t_cover = np.mean([(lambda iv: iv.ci_low <= 0 <= iv.ci_high)(stats.cluster_t_mean(d, clusters)) for d in data])
    boot = np.mean([(lambda iv: iv.ci_low <= 0 <= iv.ci_high)(stats.bootstrap_mean(d, clusters, n_boot=400, seed=i))
                    for i, d in enumerate(data)])
    print(f"k={k}: cluster t {t_cover:.3f}, percentile bootstrap {boot:.3f}")
    assert at_least(float(t_cover), 0.95, reps) and boot < t_cover


def test_pooled_entropy_interval_covers_at_ten_prompts_of_four() -> None:
    reps, prompts = 300, 10
    rng = np.random.default_rng(13)
    base = np.array([0.5, 0.2, 0.1, 0.1, 0.05, 0.05])
    truth = float(-(base * np.log2(base)).sum())
    clusters = [f"p{i // 4}" for i in range(4 * prompts)]
    hits = 0
    for _ in range(reps):
        shares = rng.dirichlet(20 * base, size=prompts)
        labels = np.concatenate([rng.choice(6, 4, p=s) for s in shares])
        iv = stats.pooled_entropy(np.eye(6)[labels], clusters)
        hits += iv.ci_low <= truth <= iv.ci_high
    assert at_least(hits / reps, 0.95, reps)
