"""Similarity of two arms' trait profiles (trait → mean endorsement): Pearson and Spearman correlation and
the mean absolute difference across traits, with a stratified cluster-bootstrap interval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as sps

from psm_eval.stats._core import Values, LEVEL, N_BOOTSTRAP, Interval, percentile_interval

__all__ = ["ProfileSimilarity", "profile_similarity"]

_CELLS = 1 << 21


@dataclass(frozen=True)
class ProfileSimilarity:
    """How alike two per-trait profiles are, each number with its interval."""

    traits: tuple[str, ...]
    profile_a: tuple[float, ...]
    """Arm a's mean per trait, aligned with `traits`."""
    profile_b: tuple[float, ...]
    pearson: Interval
    spearman: Interval
    mean_abs_diff: Interval
    """Mean over traits of |a − b|. Sampling noise inflates it: its expectation exceeds the true value
    when the profiles are close, so read it with `pearson` and the per-trait differences."""


def _corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation (NaN where a row has no spread)."""
    xc, yc = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 1e-15, (xc * yc).sum(axis=1) / den, np.nan)


def _stats(pa: np.ndarray, pb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ranks_a, ranks_b = sps.rankdata(pa, axis=1), sps.rankdata(pb, axis=1)
    return _corr(pa, pb), _corr(ranks_a, ranks_b), np.abs(pa - pb).mean(axis=1)


def _stratified_weights(strata: np.ndarray, n_boot: int, seed: int) -> list[np.ndarray]:
    """Blocks of cluster multiplicities resampled within each stratum (rows: resamples, columns: clusters
    ordered by stratum)."""
    sizes = np.bincount(strata)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    k = strata.size
    rng = np.random.default_rng(seed)
    out, done = [], 0
    while done < n_boot:
        rows = max(1, min(250, n_boot - done, _CELLS // k))
        picks = offsets[strata] + np.floor(rng.random((rows, k)) * sizes[strata]).astype(np.int64)
        picks += (np.arange(rows) * k)[:, None]
        out.append(np.bincount(picks.ravel(), minlength=rows * k).reshape(rows, k).astype(np.float64))
        done += rows
    return out


def profile_similarity(traits: Sequence[str], a: Values, b: Values, clusters: Sequence[str], *,
                       level: float = LEVEL, n_boot: int = N_BOOTSTRAP, seed: int = 0,
                       resample_traits: bool = False) -> ProfileSimilarity:
    """Profiles from paired rows (one per sample scored in both arms: its trait, a's value, b's value, its
    cluster) → per-trait means of a and b, and their Pearson r, Spearman ρ and mean absolute difference.

    Intervals: percentile bootstrap (Efron & Tibshirani 1993) resampling clusters within each trait (the
    traits are fixed by design, their statements a sample) and, with `resample_traits`, the traits too
    (to speak for a population of traits). Correlations need at least 3 traits.
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
    onehot = np.zeros((k, n_traits))
    onehot[np.arange(k), strata] = 1.0
    sa = onehot * np.bincount(idx, weights=x, minlength=k)[:, None]
    sb = onehot * np.bincount(idx, weights=y, minlength=k)[:, None]
    cnt = onehot * np.bincount(idx, minlength=k).astype(np.float64)[:, None]
    full = np.ones((1, k))
    pa, pb = (full @ sa) / (full @ cnt), (full @ sb) / (full @ cnt)
    point = [float(s[0]) for s in _stats(pa, pb)]
    draws: list[list[np.ndarray]] = [[], [], []]
    rng = np.random.default_rng(seed + 1)
    for w in _stratified_weights(strata, n_boot, seed) if k > n_traits or resample_traits else []:
        ra, rb = (w @ sa) / (w @ cnt), (w @ sb) / (w @ cnt)
        if resample_traits:
            pick = rng.integers(0, n_traits, size=ra.shape)
            ra, rb = np.take_along_axis(ra, pick, axis=1), np.take_along_axis(rb, pick, axis=1)
        for store, s in zip(draws, _stats(ra, rb)):
            store.append(s)
    how = "percentile bootstrap over clusters within traits" + (" and over traits" if resample_traits else "")

    def interval(i: int, name: str, needs: int) -> Interval:
        estimate = point[i] if n_traits >= needs and np.isfinite(point[i]) else None
        low, high = (percentile_interval(np.concatenate(draws[i]), level) if draws[i] and estimate is not None
                     else (None, None))
        return Interval(estimate, low, high, int(x.size), k, f"{name}; {how} ({n_boot} resamples)")

    return ProfileSimilarity(names, tuple(pa[0].tolist()), tuple(pb[0].tolist()),
                             interval(0, "Pearson r of per-trait means", 3),
                             interval(1, "Spearman rho of per-trait means", 3),
                             interval(2, "mean absolute difference of per-trait means", 1))

