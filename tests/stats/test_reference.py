"""Each statistical method against an independent reference: scipy / statsmodels where they have the
method, published worked examples, or exact enumeration written out here."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import optimize
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_paired

from psm_eval.score import stats

Z95 = sps.norm.ppf(0.975)


def ids(n: int) -> list[str]:
    return [f"s{i}" for i in range(n)]


# --- binary per-arm means -------------------------------------------------------------------------

def wilson_by_hand(x: float, n: float, z: float = Z95) -> tuple[float, float]:
    p = x / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


@pytest.mark.parametrize("x, n", [(57, 57), (15, 15), (10, 10), (0, 12), (7, 20), (1, 40)])
def test_binary_mean_one_value_per_cluster_is_wilson_and_never_zero_width(x: int, n: int) -> None:
    iv = stats.binary_mean([1.0] * x + [0.0] * (n - x), ids(n))
    low, high = wilson_by_hand(x, n)
    assert (iv.ci_low, iv.ci_high) == pytest.approx((low, high), abs=1e-12)
    assert iv.ci_high - iv.ci_low > 0.05 and iv.method == "Wilson score interval"


@pytest.mark.parametrize("x, n, low", [(57, 57, 0.937), (15, 15, 0.782), (10, 10, 0.692)])
def test_clopper_pearson_matches_the_beta_quantiles_and_the_issues_numbers(x: int, n: int, low: float) -> None:
    iv = stats.binary_mean([1.0] * x + [0.0] * (n - x), ids(n), method="clopper-pearson")
    assert iv.ci_low == pytest.approx(sps.beta.ppf(0.025, x, n - x + 1), abs=1e-12)
    assert iv.ci_low == pytest.approx(low, abs=5e-4) and iv.ci_high == 1.0
    mixed = stats.binary_mean([1.0] * 7 + [0.0] * 13, ids(20), method="clopper-pearson")
    assert (mixed.ci_low, mixed.ci_high) == pytest.approx((sps.beta.ppf(0.025, 7, 14), sps.beta.ppf(0.975, 8, 13)))


def test_clustered_binary_mean_uses_the_design_effect_of_the_cluster_robust_variance() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(15), 4)
    y = (rng.random(60) < np.repeat(rng.beta(2, 1, 15), 4)).astype(float)
    fit = sm.OLS(y, np.ones(60)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    p = y.mean()
    shrink = (Z95 / sps.t.ppf(0.975, 14)) ** 2
    expected_n = min(60.0, p * (1 - p) / float(fit.bse[0]) ** 2 * shrink)
    n_eff, _ = stats.effective_n(y, [str(g) for g in groups])
    assert n_eff == pytest.approx(expected_n, rel=1e-9)
    iv = stats.binary_mean(y, [str(g) for g in groups])
    assert (iv.ci_low, iv.ci_high) == pytest.approx(wilson_by_hand(p * n_eff, n_eff), abs=1e-12)


def test_a_perfect_score_over_clusters_counts_clusters_not_phrasings() -> None:
    facts = [f"fact{i % 15}" for i in range(57)]  # organism-facts: 57 phrasings of 15 facts
    by_sample, by_fact = stats.binary_mean([1.0] * 57, ids(57)), stats.binary_mean([1.0] * 57, facts)
    sizes = np.bincount(np.arange(57) % 15)
    assert by_fact.ci_low == pytest.approx(wilson_by_hand(57**2 / (sizes @ sizes), 57**2 / (sizes @ sizes))[0])
    assert by_fact.ci_low < by_sample.ci_low < 1.0


# --- continuous means -----------------------------------------------------------------------------

def test_cluster_t_is_the_one_sample_t_interval_with_one_value_per_cluster() -> None:
    y = np.random.default_rng(1).gamma(2.0, 1.0, 12)
    ci = sps.ttest_1samp(y, 0.0).confidence_interval(0.95)
    iv = stats.cluster_t_mean(y, ids(12))
    assert (iv.ci_low, iv.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-12)


def test_cluster_t_matches_statsmodels_cluster_robust_ols() -> None:
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(7), rng.integers(1, 6, 7))
    y = rng.normal(size=groups.size) + np.repeat(rng.normal(size=7), np.bincount(groups))
    fit = sm.OLS(y, np.ones(y.size)).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    iv = stats.cluster_t_mean(y, [str(g) for g in groups])
    assert (iv.ci_low, iv.ci_high) == pytest.approx(tuple(fit.conf_int()[0]), rel=1e-10)


def test_pooled_share_is_statsmodels_cluster_robust_wls_weighted_by_tokens() -> None:
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(9), rng.integers(1, 4, 9))
    tokens = rng.integers(3, 40, groups.size).astype(float)
    shares = np.clip(rng.beta(2, 8, groups.size), 0, 1)
    fit = sm.WLS(shares, np.ones(shares.size), weights=tokens).fit(cov_type="cluster", cov_kwds={"groups": groups},
                                                                   use_t=True)
    iv = stats.pooled_share(shares, tokens, [str(g) for g in groups])
    assert iv.estimate == pytest.approx((shares * tokens).sum() / tokens.sum(), rel=1e-12)
    assert (iv.ci_low, iv.ci_high) == pytest.approx(tuple(fit.conf_int()[0]), rel=1e-10)
    near_zero = stats.pooled_share([0.0, 0.0, 0.01, 0.0], [10, 10, 10, 10], ["a", "b", "c", "d"])
    assert near_zero.ci_low == 0.0 < near_zero.ci_high  # clipped to the share's range


def test_bca_agrees_with_scipy_bootstrap_bca() -> None:
    y = np.random.default_rng(3).lognormal(0.0, 0.8, 40)
    ref = sps.bootstrap((y,), np.mean, method="BCa", n_resamples=20000, random_state=0).confidence_interval
    iv = stats.bca_mean(y, ids(40), n_boot=20000, seed=1)
    width = ref.high - ref.low
    assert abs(iv.ci_low - ref.low) < 0.03 * width and abs(iv.ci_high - ref.high) < 0.03 * width
    pct = stats.bootstrap_mean(y, ids(40), n_boot=20000, seed=1)
    assert iv.ci_high > pct.ci_high  # BCa moves right for right-skewed data, as scipy's does


# --- paired binary differences --------------------------------------------------------------------

CAVO = (59, 6, 16, 80)  # Cavo et al. 2012, as tabulated by Fagerland, Lydersen & Laake (2014, 2017)


def test_newcombe_and_tango_reproduce_the_published_worked_example() -> None:
    assert np.round(stats.newcombe_paired(*CAVO), 4).tolist() == [-0.1186, -0.0046]
    assert np.round(stats.tango_paired(*CAVO), 4).tolist() == [-0.1240, -0.0054]


def tango_score_by_likelihood(n10: int, n01: int, n: int, delta: float) -> float:
    """Tango's score statistic with p01 maximised numerically under p10 − p01 = delta."""
    concordant = n - n10 - n01
    def nll(q: float) -> float:
        rest = 1 - 2 * q - delta
        return -(n10 * math.log(q + delta) + n01 * math.log(q) + concordant * math.log(rest))
    lo = max(0.0, -delta) + 1e-12
    q = optimize.minimize_scalar(nll, bounds=(lo, (1 - delta) / 2 - 1e-12), method="bounded",
                                 options={"xatol": 1e-13}).x
    return (n10 - n01 - n * delta) / math.sqrt(n * (2 * q + delta * (1 - delta)))


@pytest.mark.parametrize("table", [(10, 7, 2, 21), (3, 1, 5, 6), (30, 12, 4, 14), (59, 6, 16, 80)])
def test_tango_bounds_are_where_the_score_test_statistic_equals_z(table: tuple[int, int, int, int]) -> None:
    n11, n10, n01, n00 = table
    n = sum(table)
    low, high = stats.tango_paired(*table)
    assert tango_score_by_likelihood(n10, n01, n, float(low)) == pytest.approx(Z95, abs=1e-5)
    assert tango_score_by_likelihood(n10, n01, n, float(high)) == pytest.approx(-Z95, abs=1e-5)


def test_paired_binary_difference_reads_the_table_and_deflates_it_for_clusters() -> None:
    a = np.array([1.0] * 65 + [0.0] * 96)
    b = np.array([1.0] * 59 + [0.0] * 6 + [1.0] * 16 + [0.0] * 80)
    iv = stats.paired_binary_difference(a, b, ids(161))
    assert (iv.ci_low, iv.ci_high) == pytest.approx(tuple(stats.newcombe_paired(*CAVO)))
    assert stats.paired_table(a, b) == CAVO
    clusters = [f"c{i % 20}" for i in range(161)]
    clustered = stats.paired_binary_difference(a, b, clusters)
    assert clustered.n_clusters == 20 and "n_eff" in clustered.method
    n_eff = float(clustered.method.split("n_eff = ")[1].split()[0])
    expected = stats.newcombe_paired(*(np.array(CAVO) * n_eff / 161))
    assert (clustered.ci_low, clustered.ci_high) == pytest.approx(tuple(map(float, expected)), abs=1e-3)


# --- tests ----------------------------------------------------------------------------------------

def sign_flip_by_brute_force(diffs: np.ndarray, clusters: list[str]) -> float:
    sums: dict[str, float] = {}
    for d, c in zip(diffs, clusters):
        sums[c] = sums.get(c, 0.0) + float(d)
    values = list(sums.values())
    observed = abs(sum(values))
    hits = total = 0
    for signs in itertools.product((1.0, -1.0), repeat=len(values)):
        total += 1
        hits += abs(sum(s * v for s, v in zip(signs, values))) >= observed - 1e-9
    return hits / total


@pytest.mark.parametrize("k", [3, 8, 12])
def test_sign_flip_is_exact_enumeration_up_to_16_clusters(k: int) -> None:
    rng = np.random.default_rng(k)
    clusters = [f"c{i % k}" for i in range(3 * k)]
    diffs = rng.normal(0.4, 1.0, 3 * k)
    assert stats.sign_flip_p(diffs, clusters) == pytest.approx(sign_flip_by_brute_force(diffs, clusters), abs=1e-12)


def test_sign_flip_with_one_binary_pair_per_cluster_equals_exact_mcnemar() -> None:
    diffs = np.array([1.0] * 9 + [-1.0] * 2 + [0.0] * 30)
    assert stats.sign_flip_p(diffs, ids(41)) == pytest.approx(stats.mcnemar_exact(9, 2), abs=1e-12)
    assert stats.mcnemar_exact(9, 2) == pytest.approx(sps.binomtest(2, 11, 0.5).pvalue)


def test_sign_flip_gives_identical_data_an_identical_p_value() -> None:
    rng = np.random.default_rng(5)
    for k in (12, 40):
        diffs = rng.normal(0.3, 1.0, k)
        shuffled = rng.permutation(k)
        p1 = stats.sign_flip_p(diffs, ids(k))
        p2 = stats.sign_flip_p(diffs[shuffled], [f"other{i}" for i in range(k)])
        assert p1 == p2


def test_monte_carlo_sign_flip_is_close_to_exact_enumeration_above_16_clusters() -> None:
    rng = np.random.default_rng(6)
    sums = rng.normal(0.35, 1.0, 18)
    signs = ((np.arange(2**18)[:, None] >> np.arange(18)) & 1) * 2.0 - 1.0
    exact = float(np.mean(np.abs(signs @ sums) >= abs(sums.sum()) - 1e-9))
    p = stats.sign_flip_p(sums, ids(18), n_perm=20000)
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / 20000) + 1e-4


def test_holm_matches_statsmodels_over_the_declared_family_only() -> None:
    p = [0.001, 0.04, 0.03, 0.2, 0.011, None]
    primary = [True, False, True, True, True, True]
    family = [0.001, 0.03, 0.2, 0.011]
    expected = multipletests(family, method="holm")[1]
    out = stats.holm(p, primary)
    assert [out[0], out[2], out[3], out[4]] == pytest.approx(list(expected))
    assert out[1] is None and out[5] is None
    assert stats.holm(p[:5]) == pytest.approx(list(multipletests(p[:5], method="holm")[1]))


def test_tost_continuous_matches_statsmodels_ttost_paired() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(0.05, 1.0, 30), rng.normal(0.0, 1.0, 30)
    ref_p, lower, upper = ttost_paired(a, b, -0.4, 0.4)
    eq = stats.tost(a, b, ids(30), 0.4)
    assert eq.p_lower == pytest.approx(lower[1], rel=1e-9) and eq.p_upper == pytest.approx(upper[1], rel=1e-9)
    assert (eq.verdict == "equivalent") == (max(eq.p_lower, eq.p_upper) < 0.05) == (ref_p < 0.05)


@pytest.mark.parametrize("shift, verdict", [(0.0, "equivalent"), (-0.5, "worse"), (0.5, "better"),
                                            (0.12, "inconclusive")])
def test_tost_verdicts_follow_the_interval(shift: float, verdict: str) -> None:
    rng = np.random.default_rng(8)
    a = rng.normal(0.0, 0.2, 60)
    eq = stats.tost(a + shift, a + rng.normal(0, 0.2, 60), ids(60), 0.1)
    assert eq.verdict == verdict and eq.ci_level == pytest.approx(0.9)


def test_binary_tost_is_two_tango_score_tests() -> None:
    a = np.array([1.0] * 50 + [0.0] * 7 + [1.0] * 3)
    b = np.array([1.0] * 48 + [0.0] * 9 + [0.0] * 3)
    eq = stats.tost(a, b, ids(60), 0.15, kind="binary")
    n11, n10, n01, n00 = stats.paired_table(a, b)
    assert eq.p_lower == pytest.approx(sps.norm.sf(tango_score_by_likelihood(n10, n01, 60, -0.15)), rel=1e-5)
    assert eq.p_upper == pytest.approx(sps.norm.cdf(tango_score_by_likelihood(n10, n01, 60, 0.15)), rel=1e-5)
    assert (eq.ci_low, eq.ci_high) == pytest.approx(tuple(map(float, stats.tango_paired(n11, n10, n01, n00,
                                                                                          level=0.9))))
    assert eq.verdict == ("equivalent" if max(eq.p_lower, eq.p_upper) < 0.05 else "inconclusive")
    assert eq.verdict == ("equivalent" if eq.ci_low > -0.15 and eq.ci_high < 0.15 else "inconclusive")


# --- entropy --------------------------------------------------------------------------------------

def test_entropy_estimators_against_their_formulas() -> None:
    counts = np.array([[5.0, 1.0, 1.0, 0.0], [2.0, 2.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    plug = [sps.entropy(r[r > 0], base=2) for r in counts]
    assert stats.entropy_rows(counts) == pytest.approx(plug)
    seen, total = np.count_nonzero(counts, axis=1), counts.sum(axis=1)
    assert stats.miller_madow_rows(counts) == pytest.approx(plug + (seen - 1) / (2 * total) / math.log(2))
    expected = []
    for row in counts:  # Chao & Shen (2003), eq. (4)–(5), written out
        n = row.sum()
        f1 = sum(1 for c in row if c == 1)
        f1 = n - 1 if f1 == n else f1
        cov = 1 - f1 / n
        expected.append(sum(-(cov * c / n) * math.log(cov * c / n) / (1 - (1 - cov * c / n) ** n)
                            for c in row if c > 0) / math.log(2))
    assert stats.chao_shen_rows(counts) == pytest.approx(expected)


def test_pooled_entropy_jackknife_interval_by_explicit_leave_one_out() -> None:
    rng = np.random.default_rng(9)
    labels = rng.choice(5, size=40, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    onehot = np.eye(5)[labels]
    clusters = [f"p{i // 4}" for i in range(40)]
    iv = stats.pooled_entropy(onehot, clusters)
    jack = np.array([stats.miller_madow_rows(onehot[[c != f"p{j}" for c in clusters]].sum(0)[None])[0]
                     for j in range(10)])
    se = math.sqrt(9 / 10 * ((jack - jack.mean()) ** 2).sum())
    assert iv.estimate == pytest.approx(stats.miller_madow_rows(onehot.sum(0)[None])[0])
    assert (iv.ci_low, iv.ci_high) == pytest.approx((iv.estimate - sps.t.ppf(0.975, 9) * se,
                                                     iv.estimate + sps.t.ppf(0.975, 9) * se))


def test_entropy_difference_pairs_prompts_and_is_antisymmetric() -> None:
    rng = np.random.default_rng(10)
    a, b = np.eye(4)[rng.integers(0, 4, 120)], np.eye(4)[rng.choice(4, 120, p=[0.7, 0.1, 0.1, 0.1])]
    clusters = [f"p{i // 4}" for i in range(120)]
    ab = stats.entropy_difference(a, clusters, b, clusters)
    ba = stats.entropy_difference(b, clusters, a, clusters)
    assert ab.estimate == pytest.approx(stats.pooled_entropy(a, clusters).estimate
                                        - stats.pooled_entropy(b, clusters).estimate)
    assert (ab.ci_low, ab.ci_high) == pytest.approx((-ba.ci_high, -ba.ci_low))
    assert ab.ci_low > 0  # uniform over 4 classes vs 70 % one class
    only_some = stats.entropy_difference(a, clusters, b[:20], clusters[:20])
    assert only_some.n_clusters == 5 and only_some.n == 40


# --- profiles and pairing -------------------------------------------------------------------------

def test_profile_similarity_point_estimates_match_scipy() -> None:
    rng = np.random.default_rng(11)
    traits = [f"t{i // 10}" for i in range(80)]
    a = rng.random(80) < np.repeat(rng.random(8), 10)
    b = rng.random(80) < np.repeat(rng.random(8), 10)
    ps = stats.profile_similarity(traits, a, b, ids(80), n_boot=200)
    ma = [a[i * 10:(i + 1) * 10].mean() for i in range(8)]
    mb = [b[i * 10:(i + 1) * 10].mean() for i in range(8)]
    assert ps.profile_a == pytest.approx(ma) and ps.traits == tuple(f"t{i}" for i in range(8))
    assert ps.pearson.estimate == pytest.approx(sps.pearsonr(ma, mb)[0])
    assert ps.spearman.estimate == pytest.approx(sps.spearmanr(ma, mb)[0])
    assert ps.mean_abs_diff.estimate == pytest.approx(np.mean(np.abs(np.subtract(ma, mb))))
    assert ps.pearson.ci_low < ps.pearson.estimate < ps.pearson.ci_high


def test_noise_corrected_profile_statistics_by_hand() -> None:
    rng = np.random.default_rng(12)
    traits = [f"t{i // 12}" for i in range(96)]
    a = (rng.random(96) < np.repeat(rng.random(8), 12)).astype(float)
    b = (rng.random(96) < np.repeat(rng.random(8), 12)).astype(float)
    ps = stats.profile_similarity(traits, a, b, ids(96), n_boot=50)
    ga, gb = a.reshape(8, 12), b.reshape(8, 12)
    ma, mb = ga.mean(1), gb.mean(1)
    va, vb = ga.var(1, ddof=1) / 12, gb.var(1, ddof=1) / 12  # the variance of each trait's mean
    cab = np.array([np.cov(ga[t], gb[t])[0, 1] / 12 for t in range(8)])
    r = (np.cov(ma, mb)[0, 1] - cab.mean()) / math.sqrt((ma.var(ddof=1) - va.mean()) * (mb.var(ddof=1) - vb.mean()))
    assert ps.pearson_corrected.estimate == pytest.approx(float(np.clip(r, -1, 1)))
    msd = np.mean((ma - mb) ** 2 - (va + vb - 2 * cab))
    assert ps.rms_diff_corrected.estimate == pytest.approx(math.sqrt(max(msd, 0.0)))


def test_complete_cases_keep_only_samples_every_arm_scored_and_count_the_rest() -> None:
    per_arm = {"base": {"1": [1.0], "2": [0.0, 1.0], "3": [1.0], "5": []},
               "chat": {"1": [0.0], "2": [1.0], "4": [1.0], "5": [1.0]}}
    clusters = {str(i): f"c{i}" for i in range(1, 6)}
    cc = stats.complete_cases(per_arm, clusters)
    assert cc.ids == ("1", "2") and cc.clusters == ("c1", "c2")
    assert cc.dropped == {"base": 1, "chat": 2}
    assert cc.mean("base") == pytest.approx(0.75) and cc.mean("chat") == pytest.approx(0.5)
    assert cc.difference("base", "chat").mean() == pytest.approx(cc.mean("base") - cc.mean("chat"))
    assert not cc.single("base") and cc.single("chat")


def test_the_rule_picks_by_kind() -> None:
    a, b = np.array([1.0, 1.0, 0.0, 1.0] * 5), np.array([1.0, 0.0, 0.0, 1.0] * 5)
    assert stats.mean_interval(a, ids(20), kind="binary").method.startswith("Wilson")
    assert stats.mean_interval(a, ids(20), kind="continuous").method.startswith("cluster-robust t")
    assert stats.difference_interval(a, b, ids(20), kind="binary").method.startswith("Newcombe")
    assert stats.difference_test(a, b, ids(20), kind="binary")[1] == "exact McNemar test"
    facts = [f"f{i % 6}" for i in range(20)]
    assert "exact" in stats.difference_test(a, b, facts, kind="binary")[1]
    zero = stats.mean_interval([0.0] * 12, ids(12), kind="count")
    assert zero.ci_high == pytest.approx(-math.log(0.025) / 12)


def test_a_binary_metric_equal_at_every_turn_gets_a_slope_bounded_by_wilson_not_zero_width() -> None:
    turns = [t for _ in range(16) for t in (0, 3, 7)]
    clusters = [f"d{i}" for i in range(16) for _ in range(3)]
    iv = stats.bootstrap_slope(turns, [1.0] * 48, clusters)
    low, _ = wilson_by_hand(16, 16)  # 16 of 16 dialogues at the first and at the last turn
    assert iv.estimate == 0.0 and (iv.ci_low, iv.ci_high) == pytest.approx(((low - 1) / 7, (1 - low) / 7), rel=1e-9)


def test_shares_of_repeats_equal_in_both_arms_are_not_a_zero_width_difference() -> None:
    iv = stats.difference_interval([0.3] * 10, [0.3] * 10, ids(10), kind="binary")
    concordant = stats.paired_binary_difference([0.0] * 10, [0.0] * 10, ids(10))
    assert iv.estimate == 0.0 and (iv.ci_low, iv.ci_high) == (concordant.ci_low, concordant.ci_high)
    assert iv.ci_high > 0.2


def test_a_one_trait_profile_has_no_correlation_and_warns_nothing() -> None:
    """`--limit 2` can leave a profile of one trait: correlations across traits are undefined (no estimate),
    found without a numpy divide warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ps = stats.profile_similarity(["t0"] * 6, [1, 0, 1, 1, 0, 1], [1, 1, 1, 0, 0, 1], ids(6), n_boot=50)
    assert ps.pearson.estimate is None and ps.pearson_corrected.estimate is None
    assert ps.mean_abs_diff.estimate == pytest.approx(0.0)
