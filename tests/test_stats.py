"""Statistics: bootstrap CIs clustered by sample, paired tests, Holm, slopes, LC win rate, entropy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from psm_eval.score import stats


def test_bootstrap_mean_covers_the_mean_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(2.0, 1.0, 200)
    clusters = [f"s{i}" for i in range(200)]
    iv = stats.bootstrap_mean(values, clusters, seed=3)
    assert iv.estimate == pytest.approx(values.mean())
    assert iv.ci_low < iv.estimate < iv.ci_high
    assert iv.ci_high - iv.ci_low == pytest.approx(2 * 1.96 * values.std() / math.sqrt(200), rel=0.2)
    assert stats.bootstrap_mean(values, clusters, seed=3) == iv
    assert (iv.n, iv.n_clusters) == (200, 200)


def test_clustering_widens_the_interval_when_scores_within_a_sample_agree() -> None:
    rng = np.random.default_rng(1)
    per_sample = rng.integers(0, 2, 40).astype(float)
    values = np.repeat(per_sample, 5)  # five identical turns per sample
    naive = stats.bootstrap_mean(values, [str(i) for i in range(200)])
    clustered = stats.bootstrap_mean(values, [str(i // 5) for i in range(200)])
    assert clustered.n_clusters == 40
    assert (clustered.ci_high - clustered.ci_low) > 1.8 * (naive.ci_high - naive.ci_low)


def test_degenerate_inputs_give_none_not_numbers() -> None:
    assert stats.bootstrap_mean([], []).estimate is None
    one = stats.bootstrap_mean([1.0, 0.0], ["a", "a"])
    assert one.estimate == 0.5 and one.ci_low is None and one.n_clusters == 1
    assert stats.bootstrap_slope([1, 1], [0, 1], ["a", "b"]).estimate is None


@pytest.mark.parametrize("a_only, b_only", [(0, 5), (3, 9), (10, 10), (0, 0), (1, 20)])
def test_mcnemar_exact_matches_a_binomial_test(a_only: int, b_only: int) -> None:
    expected = 1.0 if a_only + b_only == 0 else sps.binomtest(a_only, a_only + b_only, 0.5).pvalue
    assert stats.mcnemar_exact(a_only, b_only) == pytest.approx(expected)


def test_holm_step_down() -> None:
    adjusted = stats.holm([0.01, 0.04, 0.03, None, 0.5])
    assert adjusted[0] == pytest.approx(0.04) and adjusted[2] == pytest.approx(0.09)
    assert adjusted[1] == pytest.approx(0.09) and adjusted[3] is None and adjusted[4] == pytest.approx(0.5)


def test_sign_flip_detects_a_shift_and_not_noise() -> None:
    rng = np.random.default_rng(2)
    ids = [str(i) for i in range(60)]
    assert stats.sign_flip_p(rng.normal(0.5, 1.0, 60), ids) < 0.01
    assert stats.sign_flip_p(np.zeros(60), ids) == 1.0
    p_null = stats.sign_flip_p(rng.normal(0.0, 1.0, 60), ids, seed=4)
    assert 0.01 < p_null <= 1.0


def test_slope_recovers_a_trend_with_a_clustered_ci() -> None:
    rng = np.random.default_rng(3)
    turns = np.tile(np.arange(6), 30)
    y = 0.9 - 0.1 * turns + rng.normal(0, 0.05, turns.size)
    clusters = [str(i // 6) for i in range(turns.size)]
    iv = stats.bootstrap_slope(turns, y, clusters)
    assert iv.estimate == pytest.approx(-0.1, abs=0.01)
    assert iv.ci_low < iv.estimate < iv.ci_high < 0 and iv.n_clusters == 30


def test_lc_win_rate_removes_a_length_bias() -> None:
    rng = np.random.default_rng(4)
    diff = rng.normal(0, 50, 400)
    pref = (rng.random(400) < 1 / (1 + np.exp(-diff / 25))).astype(float)  # wins only by being longer
    iv = stats.lc_win_rate(pref, diff, [str(i) for i in range(400)], n_boot=200)
    assert abs(float(pref.mean()) - 0.5) < 0.1
    assert iv.estimate == pytest.approx(0.5, abs=0.08) and iv.ci_low < 0.5 < iv.ci_high
    biased = stats.lc_win_rate(np.ones(50), np.zeros(50), [str(i) for i in range(50)], n_boot=50)
    assert biased.estimate > 0.95


def test_entropy() -> None:
    assert stats.entropy_bits([5, 5]) == pytest.approx(1.0)
    assert stats.entropy_bits([3, 0]) == 0.0
    assert stats.entropy_rows(np.array([[1.0, 1.0, 2.0], [0.0, 0.0, 0.0]])).tolist() == pytest.approx([1.5, 0.0])
    iv = stats.bootstrap_pooled(np.eye(2)[[0, 1, 0, 1]], ["a", "b", "c", "d"], stats.entropy_rows, n_boot=100)
    assert iv.estimate == pytest.approx(1.0) and iv.ci_low <= 1.0


def test_mcnemar_exact_handles_thousands_of_discordant_pairs() -> None:
    from scipy.stats import binomtest

    from psm_eval.score.stats import mcnemar_exact

    for a, b in ((700, 800), (1300, 1200)):
        assert mcnemar_exact(a, b) == pytest.approx(binomtest(min(a, b), a + b, 0.5).pvalue, rel=1e-6)
