"""Shared pieces of the statistics: the Interval record, cluster codes and totals, bootstrap weights,
percentile and BCa read-outs, and the quantiles every interval uses."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special
from scipy import stats as sps

__all__ = ["Interval", "Kind", "Values", "N_BOOTSTRAP", "LEVEL", "cluster_index", "cluster_totals", "resample_weights",
           "percentile_interval", "basic_interval", "bca_interval", "jackknife_t_interval", "boot_draws", "t_quantile",
           "z_quantile", "df_shrink", "clip01", "group_seed"]

N_BOOTSTRAP = 2000
LEVEL = 0.95
Values = Sequence[float] | np.ndarray
"""Numbers one per observation: a list or a 1-d array."""
Kind = Literal["binary", "continuous", "count"]
"""What a metric's per-sample values are: 0/1 outcomes (or shares of them), real scores, or counts."""

_CHUNK = 250  # bootstrap rows per block …
_CELLS = 1 << 21  # … and at most this many weights per block (rows × clusters), to bound memory


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval and the method that produced it."""

    estimate: float | None
    """None when there is nothing to estimate from (no scored values, or a degenerate design)."""
    ci_low: float | None
    """None when the design gives no interval (fewer than two clusters for a resampling method)."""
    ci_high: float | None
    n: int
    """Observations used (scored records, or paired samples)."""
    n_clusters: int
    """Independent units the interval treats as the evidence."""
    method: str = ""
    """The interval's method, in words (empty for the historical percentile-bootstrap functions)."""


def cluster_index(clusters: Sequence[str]) -> tuple[np.ndarray, int]:
    """Cluster labels → integer codes 0..K-1 (in first-seen order) and K."""
    codes: dict[str, int] = {}
    idx = np.fromiter((codes.setdefault(c, len(codes)) for c in clusters), dtype=np.int64, count=len(clusters))
    return idx, len(codes)


def cluster_totals(values: np.ndarray, clusters: Sequence[str],
                   weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums of weight·value and of weight (weights default to 1 per value)."""
    idx, k = cluster_index(clusters)
    w = np.ones(values.size) if weights is None else np.asarray(weights, dtype=np.float64)
    return np.bincount(idx, weights=w * values, minlength=k), np.bincount(idx, weights=w, minlength=k)


def resample_weights(k: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of cluster multiplicities (rows sum to k): one bootstrap resample per row."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_boot:
        rows = max(1, min(_CHUNK, n_boot - done, _CELLS // max(k, 1)))
        # k clusters drawn with replacement, counted per row: the multinomial(k, 1/k) weights,
        # drawn as uniform indices because numpy's multinomial is slow for thousands of clusters
        picks = rng.integers(0, k, size=(rows, k)) + (np.arange(rows) * k)[:, None]
        yield np.bincount(picks.ravel(), minlength=rows * k).reshape(rows, k).astype(np.float64)
        done += rows


def boot_draws(stat: Callable[[np.ndarray], np.ndarray], k: int, n_boot: int, seed: int) -> np.ndarray:
    """The statistic over n_boot cluster resamples (`stat` maps a block of weights to one value per row)."""
    return np.concatenate([stat(w) for w in resample_weights(k, n_boot, seed)])


def percentile_interval(draws: np.ndarray, level: float) -> tuple[float | None, float | None]:
    """Efron's percentile interval of bootstrap draws (non-finite draws left out)."""
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return None, None
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return float(low), float(high)


def basic_interval(draws: np.ndarray, estimate: float, level: float) -> tuple[float | None, float | None]:
    """The basic (reverse-percentile) bootstrap interval [2θ − q_hi, 2θ − q_lo] (Davison & Hinkley 1997,
    §5.2): it moves against the estimator's bias where the percentile interval moves with it."""
    low, high = percentile_interval(draws, level)
    if low is None or high is None:
        return None, None
    return 2.0 * estimate - high, 2.0 * estimate - low


def bca_interval(draws: np.ndarray, estimate: float, jackknife: np.ndarray,
                 level: float) -> tuple[float | None, float | None]:
    """Efron's bias-corrected and accelerated (BCa) interval (Efron 1987; Efron & Tibshirani 1993, ch. 14):
    percentile levels moved by the bias z0 (share of draws below the estimate, ties split) and the
    acceleration a (skewness of the leave-one-cluster-out jackknife values)."""
    draws = draws[np.isfinite(draws)]
    jackknife = jackknife[np.isfinite(jackknife)]
    if draws.size == 0:
        return None, None
    below = float(np.count_nonzero(draws < estimate) + 0.5 * np.count_nonzero(draws == estimate)) / draws.size
    below = min(max(below, 0.5 / draws.size), 1.0 - 0.5 / draws.size)  # a finite z0 when every draw is on one side
    z0 = float(special.ndtri(below))
    dev = jackknife.mean() - jackknife if jackknife.size else np.zeros(1)
    ss = float(dev @ dev)
    accel = float((dev**3).sum() / (6.0 * ss**1.5)) if ss > 0 else 0.0
    z = special.ndtri(np.array([(1.0 - level) / 2.0, (1.0 + level) / 2.0]))
    shifted = z0 + (z0 + z) / (1.0 - accel * (z0 + z))
    low, high = np.percentile(draws, 100.0 * special.ndtr(shifted))
    return float(low), float(high)


def jackknife_t_interval(estimate: float, jackknife: np.ndarray, level: float) -> tuple[float | None, float | None]:
    """estimate ± t(k − 1) · SE_jack, with the leave-one-cluster-out jackknife standard error
    SE² = (k − 1) / k · Σ (θ_(i) − θ̄)² (Quenouille–Tukey; Efron & Tibshirani 1993, ch. 11)."""
    jackknife = jackknife[np.isfinite(jackknife)]
    k = jackknife.size
    if k < 2:
        return None, None
    dev = jackknife - jackknife.mean()
    half = t_quantile((1.0 + level) / 2.0, k - 1) * float(np.sqrt((k - 1) / k * float(dev @ dev)))
    return estimate - half, estimate + half


def t_quantile(p: float, df: float) -> float:
    """Student t quantile."""
    return float(sps.t.ppf(p, df))


def z_quantile(p: float) -> float:
    """Standard normal quantile."""
    return float(special.ndtri(p))


def df_shrink(level: float, k: int) -> float:
    """Korn & Graubard's (1998) degrees-of-freedom factor (z / t(k − 1))² for an effective sample size
    whose variance rests on k clusters (1 at level 0, where both quantiles are 0)."""
    t = t_quantile((1.0 + level) / 2.0, k - 1)
    return float((z_quantile((1.0 + level) / 2.0) / t) ** 2) if t > 0 else 1.0


def clip01(x: float) -> float:
    """A bound of a proportion, kept inside [0, 1] (score intervals can land a rounding error outside)."""
    return min(1.0, max(0.0, float(x))) + 0.0


def group_seed(seed: int, *parts: object) -> int:
    """A stable seed for one group of numbers, so a number does not change when other groups are added."""
    return zlib.crc32("|".join(map(str, (seed, *parts))).encode()) & 0x7FFFFFFF
