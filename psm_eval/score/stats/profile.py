"""Similarity of two arms' trait profiles (trait → mean endorsement): correlation and distance across
traits, plain and corrected for the sampling noise of each trait's mean, with stratified cluster-bootstrap
intervals."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from psm_eval.score.stats._core import LEVEL, N_BOOTSTRAP, Interval, Values, basic_interval, percentile_interval

__all__ = ["ProfileSimilarity", "profile_similarity"]

_CELLS = 1 << 21


@dataclass(frozen=True)
class ProfileSimilarity:
    """How alike two per-trait profiles are, each number with its interval.

    Noise in each trait's mean pulls the plain correlation towards 0 and pushes the plain distance up
    (20 yes/no statements per trait: r = 0.99 reads as about 0.88, a distance of 0.03 as 0.11), so
    the plain figures carry basic-bootstrap intervals, which move against that bias, and the corrected
    figures remove the noise's expected contribution first.
    """

    traits: tuple[str, ...]
    profile_a: tuple[float, ...]
    """Arm a's mean per trait, aligned with `traits`."""
    profile_b: tuple[float, ...]
    pearson: Interval
    spearman: Interval
    mean_abs_diff: Interval
    pearson_corrected: Interval
    """Pearson r with the noise (co)variances of the per-trait means taken out of the across-trait
    (co)variances — Spearman's correction for attenuation, estimated per trait; clipped to [−1, 1]."""
    rms_diff_corrected: Interval
    """sqrt(mean over traits of (a − b)² − Var(a − b)): the root-mean-square profile distance with the
    noise's expected share removed (0 when the noise explains it all)."""


def _corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation (NaN where a row has no spread)."""
    xc, yc = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 1e-15, (xc * yc).sum(axis=1) / den, np.nan)


def _corrected_corr(a: np.ndarray, b: np.ndarray, va: np.ndarray, vb: np.ndarray, cab: np.ndarray) -> np.ndarray:
    t = a.shape[1]
    if t < 2:  # one trait: a correlation across traits is undefined
        return np.full(a.shape[0], np.nan)
    ac, bc = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    cov = (ac * bc).sum(axis=1) / (t - 1) - cab.mean(axis=1)
    var_a = (ac * ac).sum(axis=1) / (t - 1) - va.mean(axis=1)
    var_b = (bc * bc).sum(axis=1) / (t - 1) - vb.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where((var_a > 0) & (var_b > 0), cov / np.sqrt(var_a * var_b), np.nan)
    return np.clip(r, -1.0, 1.0)


def _stats(a: np.ndarray, b: np.ndarray, va: np.ndarray, vb: np.ndarray, cab: np.ndarray) -> list[np.ndarray]:
    """Per row: Pearson, Spearman, mean |a − b|, noise-corrected Pearson, noise-corrected RMS distance,
    and the plain RMS distance (the pivot of the corrected one's interval)."""
    spearman = _corr(sps.rankdata(a, axis=1), sps.rankdata(b, axis=1))
    msd = ((a - b) ** 2 - (va + vb - 2.0 * cab)).mean(axis=1)
    return [_corr(a, b), spearman, np.abs(a - b).mean(axis=1), _corrected_corr(a, b, va, vb, cab),
            np.sqrt(np.maximum(msd, 0.0)), np.sqrt(((a - b) ** 2).mean(axis=1))]


def _stratified_weights(strata: np.ndarray, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of cluster multiplicities resampled within each stratum (rows: resamples, columns: clusters
    ordered by stratum), one block at a time."""
    sizes = np.bincount(strata)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    k = strata.size
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_boot:
        rows = max(1, min(250, n_boot - done, _CELLS // k))
        picks = offsets[strata] + np.floor(rng.random((rows, k)) * sizes[strata]).astype(np.int64)
        picks += (np.arange(rows) * k)[:, None]
        yield np.bincount(picks.ravel(), minlength=rows * k).reshape(rows, k).astype(np.float64)
        done += rows


class _Moments:
    """Per-trait means of a and b and the cluster-robust (co)variances of those means, for any block of
    cluster weights: every quantity is linear in the weights, so one matrix product each."""

    def __init__(self, x: np.ndarray, y: np.ndarray, idx: np.ndarray, strata: np.ndarray, n_traits: int) -> None:
        k = strata.size
        sa = np.bincount(idx, weights=x, minlength=k)
        sb = np.bincount(idx, weights=y, minlength=k)
        m = np.bincount(idx, minlength=k).astype(np.float64)
        self.parts = np.stack([sa, sb, m, sa * sa, sb * sb, sa * sb, sa * m, sb * m, m * m])
        per_trait = np.bincount(strata, minlength=n_traits).astype(np.float64)
        self.starts = np.concatenate([[0], np.cumsum(per_trait)[:-1]]).astype(np.int64)  # clusters sorted by trait
        with np.errstate(divide="ignore"):
            self.factor = np.where(per_trait > 1, per_trait / (per_trait - 1), 0.0)  # CR1; no noise term from one

    def __call__(self, w: np.ndarray) -> tuple[np.ndarray, ...]:
        sa, sb, m, saa, sbb, sab, sam, sbm, mm = (np.add.reduceat(w * p, self.starts, axis=1) for p in self.parts)
        a, b = sa / m, sb / m
        scale = self.factor / (m * m)
        va = scale * (saa - 2 * a * sam + a * a * mm)
        vb = scale * (sbb - 2 * b * sbm + b * b * mm)
        cab = scale * (sab - a * sbm - b * sam + a * b * mm)
        return a, b, va, vb, cab


def profile_similarity(traits: Sequence[str], a: Values, b: Values, clusters: Sequence[str], *,
                       level: float = LEVEL, n_boot: int = N_BOOTSTRAP, seed: int = 0,
                       resample_traits: bool = False) -> ProfileSimilarity:
    """Profiles from paired rows (one per sample scored in both arms: its trait, a's value, b's value, its
    cluster) → per-trait means of a and b; their Pearson r, Spearman ρ and mean absolute difference, and
    the noise-corrected r and RMS distance (see ProfileSimilarity).

    Bootstrap (Efron & Tibshirani 1993): clusters resampled within each trait (the traits are fixed by
    design, their statements a sample) and, with `resample_traits`, the traits too. Plain figures get
    the basic interval 2θ̂ − q. A corrected figure's resamples centre on the *plain* figure of the data
    (resampling adds the noise the correction removes), so its interval pivots there:
    θ̂_corrected − (q − θ̂_plain). Both choices covered best in benchmarks/stats_calibration.py, and
    still short of 95 % in places (its table). Correlations need at least 3 traits.
    """
    t_arr, x, y = np.asarray(traits), np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not (t_arr.size == x.size == y.size == len(clusters)):
        raise ValueError("profile_similarity needs traits, a, b and clusters of the same length")
    names = tuple(sorted(set(t_arr.tolist())))
    trait_of = {t: i for i, t in enumerate(names)}
    keys: dict[tuple[str, str], int] = {}
    for t, c in zip(t_arr.tolist(), clusters):
        keys.setdefault((t, c), len(keys))
    order = sorted(keys, key=lambda tc: (trait_of[tc[0]], keys[tc]))  # clusters grouped by trait
    pos = {tc: i for i, tc in enumerate(order)}
    idx = np.array([pos[(t, c)] for t, c in zip(t_arr.tolist(), clusters)], dtype=np.int64)
    strata = np.array([trait_of[t] for t, _ in order], dtype=np.int64)
    k, n_traits = len(order), len(names)
    moments = _Moments(x, y, idx, strata, n_traits)
    full = moments(np.ones((1, k)))
    point = [float(s[0]) for s in _stats(*full)]
    draws: list[list[np.ndarray]] = [[] for _ in point]
    rng = np.random.default_rng(seed + 1)
    for w in _stratified_weights(strata, n_boot, seed) if k > n_traits or resample_traits else iter(()):
        parts = moments(w)
        if resample_traits:
            pick = rng.integers(0, n_traits, size=parts[0].shape)
            parts = tuple(np.take_along_axis(p, pick, axis=1) for p in parts)
        for store, s in zip(draws, _stats(*parts)):
            store.append(s)
    how = "bootstrap over clusters within traits" + (" and over traits" if resample_traits else "")

    def interval(i: int, name: str, needs: int, basic: bool) -> Interval:
        estimate = point[i] if n_traits >= needs and np.isfinite(point[i]) else None
        low, high = None, None
        if draws[i] and estimate is not None:
            d = np.concatenate(draws[i])
            if basic:
                low, high = basic_interval(d, estimate, level)
            else:  # the resamples centre on the uncorrected figure: pivot around it
                plain = point[0] if i == 3 else point[5]
                q_low, q_high = percentile_interval(d, level)
                low = None if q_high is None else estimate - (q_high - plain)
                high = None if q_low is None else estimate - (q_low - plain)
            floor = -1.0 if needs == 3 else 0.0  # a correlation stays in [−1, 1], a distance at or above 0
            low = None if low is None else max(floor, low)
            high = None if high is None else (min(1.0, high) if needs == 3 else high)
        kind = "basic" if basic else "pivoted"
        return Interval(estimate, low, high, int(x.size), k, f"{name}; {kind} {how} ({n_boot} resamples)")

    return ProfileSimilarity(names, tuple(full[0][0].tolist()), tuple(full[1][0].tolist()),
                             interval(0, "Pearson r of per-trait means", 3, True),
                             interval(1, "Spearman rho of per-trait means", 3, True),
                             interval(2, "mean absolute difference of per-trait means", 1, True),
                             interval(3, "noise-corrected Pearson r of per-trait means", 3, False),
                             interval(4, "noise-corrected RMS difference of per-trait means", 1, False))
