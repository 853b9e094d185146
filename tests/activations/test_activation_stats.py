"""The activation-space statistics on planted data with known truth: the rank correlation of convergent
validity and the bootstrap of the axes' cosine."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from psm_eval.score.activation_summary import axis_cosines, rank_correlation


def test_rank_correlation_is_spearmans_rho() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=80)
    y = 0.5 * x + rng.normal(size=80)
    est, lo, hi = rank_correlation(x, y, [str(i) for i in range(80)], seed=1)
    assert est == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert lo is not None and hi is not None and lo < est < hi


def test_rank_correlation_covers_the_truth_with_clusters() -> None:
    """Clustered data (4 replies per sample sharing a sample effect): the interval covers the population
    rank correlation about 95% of the time; treating replies as independent would not."""
    rng = np.random.default_rng(7)
    # the population Spearman of a bivariate normal with Pearson r: 6/π · asin(r/2)
    r = 0.6
    truth = 6 / np.pi * np.arcsin(r / 2)
    covered, reps = 0, 150
    for rep in range(reps):
        k = 40
        shared = rng.multivariate_normal([0, 0], [[1, r], [r, 1]], size=k)
        noise = rng.multivariate_normal([0, 0], [[1, r], [r, 1]], size=k * 4)
        xy = np.repeat(shared, 4, axis=0) + noise  # same correlation within and between: population r holds
        clusters = [str(i // 4) for i in range(k * 4)]
        _, lo, hi = rank_correlation(xy[:, 0], xy[:, 1], clusters, n_boot=600, seed=rep)
        covered += lo <= truth <= hi
    assert 0.88 <= covered / reps <= 0.99


def test_rank_correlation_undefined_cases() -> None:
    assert rank_correlation([1, 1, 1, 1], [1, 2, 3, 4], list("abcd")) == (None, None, None)
    assert rank_correlation([1, 2], [1, 2], list("ab")) == (None, None, None)
    est, lo, hi = rank_correlation([1, 2, 3, 4], [1, 2, 3, 4], list("aabb"))
    assert est == pytest.approx(1.0) and lo is None and hi is None  # two clusters give no interval


def test_axis_cosine_planted() -> None:
    rng = np.random.default_rng(3)
    q, layers, hidden = 30, 3, 16
    true = rng.normal(size=(layers, hidden))
    a = true + rng.normal(scale=0.5, size=(q, layers, hidden))
    shared = true + rng.normal(scale=0.5, size=(q, layers, hidden))
    other = rng.normal(size=(layers, hidden)) + rng.normal(scale=0.5, size=(q, layers, hidden))
    same = axis_cosines(a, shared, n_boot=400, seed=1)
    diff = axis_cosines(a, other, n_boot=400, seed=1)
    for layer in range(layers):
        est, lo, hi = same[layer]
        ma, mb = a.mean(0)[layer], shared.mean(0)[layer]
        assert est == pytest.approx(float(ma @ mb / np.linalg.norm(ma) / np.linalg.norm(mb)))
        assert lo is not None and hi is not None and 0.9 < lo <= est <= hi
        assert abs(diff[layer][0]) < 0.7 and diff[layer][2] < lo  # independent axes sit well below shared ones
