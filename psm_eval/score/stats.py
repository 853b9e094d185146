"""Statistics over scores: cluster-bootstrap CIs, paired differences, McNemar, Holm, slopes, LC win rate.

Every interval is a percentile bootstrap that resamples *clusters* (a sample with its turns, repeats
or paraphrases), so several scores from one sample never count as independent evidence. All
functions are pure, numpy-only and deterministic for a given seed.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Interval",
    "N_BOOTSTRAP",
    "LEVEL",
    "cluster_index",
    "bootstrap_mean",
    "paired_difference",
    "per_sample",
    "paired_differences",
    "sign_flip_p",
    "mcnemar_exact",
    "holm",
    "bootstrap_slope",
    "lc_win_rate",
    "entropy_bits",
    "entropy_rows",
    "bootstrap_pooled",
    "group_seed",
]

N_BOOTSTRAP = 2000
LEVEL = 0.95
_CHUNK = 250  # bootstrap rows per block, to bound memory on large runs


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile-bootstrap confidence interval."""

    estimate: float | None
    """None when there is nothing to estimate from (no scored values, or a degenerate design)."""
    ci_low: float | None
    """None when fewer than two clusters make a bootstrap meaningless."""
    ci_high: float | None
    n: int
    """Observations used (scored records, or paired samples)."""
    n_clusters: int
    """Independent units resampled by the bootstrap."""


def cluster_index(clusters: Sequence[str]) -> tuple[np.ndarray, int]:
    """Cluster labels → integer codes 0..K-1 (in first-seen order) and K."""
    codes: dict[str, int] = {}
    idx = np.fromiter((codes.setdefault(c, len(codes)) for c in clusters), dtype=np.int64, count=len(clusters))
    return idx, len(codes)


def _weights(k: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of cluster multiplicities (rows sum to k): one bootstrap resample per row."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_boot:
        rows = min(_CHUNK, n_boot - done)
        # k clusters drawn with replacement, counted per row: the multinomial(k, 1/k) weights,
        # drawn as uniform indices because numpy's multinomial is slow for thousands of clusters
        picks = rng.integers(0, k, size=(rows, k)) + (np.arange(rows) * k)[:, None]
        yield np.bincount(picks.ravel(), minlength=rows * k).reshape(rows, k).astype(np.float64)
        done += rows


def _percentiles(draws: np.ndarray, level: float) -> tuple[float | None, float | None]:
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return None, None
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return float(low), float(high)


def _boot(stat: Callable[[np.ndarray], np.ndarray], k: int, n_boot: int, seed: int, level: float):
    draws = np.concatenate([stat(w) for w in _weights(k, n_boot, seed)])
    return _percentiles(draws, level)


def bootstrap_mean(values: Sequence[float] | np.ndarray, clusters: Sequence[str], *, n_boot: int = N_BOOTSTRAP,
                   level: float = LEVEL, seed: int = 0) -> Interval:
    """Mean of all values; CI from resampling clusters (a ratio estimator: sum / count)."""
    y = np.asarray(values, dtype=np.float64)
    if y.size == 0:
        return Interval(None, None, None, 0, 0)
    idx, k = cluster_index(clusters)
    sums = np.bincount(idx, weights=y, minlength=k)
    counts = np.bincount(idx, minlength=k).astype(np.float64)
    estimate = float(y.mean())
    if k < 2:
        return Interval(estimate, None, None, int(y.size), k)
    low, high = _boot(lambda w: (w @ sums) / (w @ counts), k, n_boot, seed, level)
    return Interval(estimate, low, high, int(y.size), k)


def bootstrap_pooled(rows: np.ndarray, clusters: Sequence[str], statistic: Callable[[np.ndarray], np.ndarray], *,
                     n_boot: int = N_BOOTSTRAP, level: float = LEVEL, seed: int = 0) -> Interval:
    """A statistic of pooled per-record vectors (n × d), e.g. the entropy of pooled class counts.
    `statistic` maps summed vectors (m × d) to m numbers; CI by resampling clusters."""
    if rows.shape[0] == 0:
        return Interval(None, None, None, 0, 0)
    idx, k = cluster_index(clusters)
    sums = np.zeros((k, rows.shape[1]))
    np.add.at(sums, idx, rows)
    estimate = float(statistic(sums.sum(axis=0, keepdims=True))[0])
    if k < 2:
        return Interval(estimate, None, None, rows.shape[0], k)
    low, high = _boot(lambda w: statistic(w @ sums), k, n_boot, seed, level)
    return Interval(estimate, low, high, rows.shape[0], k)


def entropy_rows(counts: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of each row of counts."""
    totals = counts.sum(axis=1, keepdims=True)
    p = np.divide(counts, totals, out=np.zeros_like(counts, dtype=np.float64), where=totals > 0)
    logs = np.log2(p, out=np.zeros_like(p), where=p > 0)
    return -(p * logs).sum(axis=1) + 0.0


def per_sample(rows: Iterable[tuple[str, str, float | None]]) -> tuple[dict[str, list[float]], dict[str, str]]:
    """(sample id, cluster, value) rows → each sample's values (None skipped: unscored) and its cluster."""
    values: dict[str, list[float]] = {}
    clusters: dict[str, str] = {}
    for sample_id, cluster, value in rows:
        clusters.setdefault(sample_id, cluster)
        if value is not None:
            values.setdefault(sample_id, []).append(value)
    return values, clusters


def paired_differences(a: dict[str, list[float]], b: dict[str, list[float]]) -> tuple[list[str], list[float]]:
    """The samples scored on both sides (sorted ids) and, per sample, the mean of a's values (over its
    turns and repeats) − the mean of b's: the pairing every comparison between arms or runs uses."""
    ids = sorted(set(a) & set(b))
    return ids, [sum(a[i]) / len(a[i]) - sum(b[i]) / len(b[i]) for i in ids]


def paired_difference(diffs: Sequence[float] | np.ndarray, clusters: Sequence[str], *, n_boot: int = N_BOOTSTRAP,
                      level: float = LEVEL, seed: int = 0) -> Interval:
    """Mean of per-sample differences (arm a − arm b) with a cluster-bootstrap CI."""
    return bootstrap_mean(diffs, clusters, n_boot=n_boot, level=level, seed=seed)


def sign_flip_p(diffs: Sequence[float], clusters: Sequence[str], *, n_perm: int = 10000, seed: int = 0) -> float | None:
    """Two-sided paired permutation test of mean difference 0: flip the sign of whole clusters."""
    d = np.asarray(diffs, dtype=np.float64)
    if d.size == 0:
        return None
    idx, k = cluster_index(clusters)
    sums = np.bincount(idx, weights=d, minlength=k)
    observed = abs(sums.sum())
    if observed == 0.0:
        return 1.0
    rng = np.random.default_rng(seed)
    hits, done = 0, 0
    while done < n_perm:
        rows = min(_CHUNK * 8, n_perm - done)
        signs = rng.integers(0, 2, size=(rows, k)).astype(np.float64) * 2.0 - 1.0
        hits += int(np.sum(np.abs(signs @ sums) >= observed - 1e-12))
        done += rows
    return (hits + 1) / (n_perm + 1)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Exact (binomial) McNemar p-value from the discordant counts: a right & b wrong, and vice versa."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(a_only, b_only) + 1))
    # in log space: tail and 2**n overflow a float beyond ~1,000 discordant pairs
    return min(1.0, math.exp(math.log(2 * tail) - n * math.log(2)))


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values (None entries are left out of the family and stay None)."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(present)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def _weighted_slope(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """OLS slope of y on x for each row of record weights w (rows × n)."""
    sw = w.sum(axis=1)
    mx, my = (w @ x) / sw, (w @ y) / sw
    sxy = (w * x) @ y / sw - mx * my
    sxx = (w * x) @ x / sw - mx * mx
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sxx > 1e-12, sxy / sxx, np.nan)


def bootstrap_slope(x: Sequence[float], y: Sequence[float], clusters: Sequence[str], *,
                    n_boot: int = N_BOOTSTRAP, level: float = LEVEL, seed: int = 0) -> Interval:
    """OLS slope of y against x (e.g. consistency against turn index), CI by resampling clusters."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xs.size < 2 or float(np.ptp(xs)) == 0.0:
        return Interval(None, None, None, int(xs.size), len(set(clusters)))
    idx, k = cluster_index(clusters)
    estimate = float(_weighted_slope(xs, ys, np.ones((1, xs.size)))[0])
    if k < 2:
        return Interval(estimate, None, None, int(xs.size), k)
    low, high = _boot(lambda w: _weighted_slope(xs, ys, w[:, idx]), k, n_boot, seed, level)
    return Interval(estimate, low, high, int(xs.size), k)


def _logistic_fit(z: np.ndarray, y: np.ndarray, w: np.ndarray, steps: int = 30) -> np.ndarray:
    """Intercepts of weighted, ridge-penalised logistic fits y ~ a + b·z, one per row of w."""
    rows = w.shape[0]
    theta = np.zeros((rows, 2))
    penalty = np.array([1e-3, 1.0])  # sklearn-like ridge on the slope; almost none on the intercept
    for _ in range(steps):
        with np.errstate(over="ignore"):
            p = 1.0 / (1.0 + np.exp(-(theta[:, :1] + theta[:, 1:] * z)))
        r, v = w * (p - y), w * p * (1.0 - p)
        g = np.stack([r.sum(1), (r * z).sum(1)], axis=1) + penalty * theta
        h00, h01, h11 = v.sum(1) + penalty[0], (v * z).sum(1), (v * z * z).sum(1) + penalty[1]
        det = h00 * h11 - h01 * h01
        step0 = (h11 * g[:, 0] - h01 * g[:, 1]) / det
        step1 = (h00 * g[:, 1] - h01 * g[:, 0]) / det
        theta -= np.stack([step0, step1], axis=1)
    return theta[:, 0]


def lc_win_rate(preference: Sequence[float], length_diff: Sequence[float], clusters: Sequence[str], *,
                n_boot: int = 1000, level: float = LEVEL, seed: int = 0) -> Interval:
    """Length-controlled win rate (AlpacaEval-2 style): logistic regression of the preference
    (1 win, 0.5 tie, 0 loss) on tanh(length difference / its sd), read off at zero difference."""
    y = np.asarray(preference, dtype=np.float64)
    d = np.asarray(length_diff, dtype=np.float64)
    if y.size == 0:
        return Interval(None, None, None, 0, 0)
    sd = float(d.std())
    z = np.tanh(d / sd) if sd > 0 else np.zeros_like(d)
    idx, k = cluster_index(clusters)
    def sigmoid(a: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-a))

    estimate = float(sigmoid(_logistic_fit(z, y, np.ones((1, y.size))))[0])
    if k < 2:
        return Interval(estimate, None, None, int(y.size), k)
    low, high = _boot(lambda w: sigmoid(_logistic_fit(z, y, w[:, idx])), k, n_boot, seed, level)
    return Interval(estimate, low, high, int(y.size), k)


def entropy_bits(counts: Sequence[float]) -> float:
    """Shannon entropy (bits) of a distribution given by counts or shares."""
    c = np.asarray([x for x in counts if x > 0], dtype=np.float64)
    if c.size == 0:
        return 0.0
    p = c / c.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


def group_seed(seed: int, *parts: object) -> int:
    """A stable seed for one group of numbers, so a number does not change when other groups are added."""
    return zlib.crc32("|".join(map(str, (seed, *parts))).encode()) & 0x7FFFFFFF
