"""The historical cluster-bootstrap statistics: percentile intervals of means, pooled vectors, slopes and
the LC win rate.

Every interval here is a percentile bootstrap that resamples *clusters* (a sample with its turns,
repeats or paraphrases), so several scores from one sample never count as independent evidence.
`psm_eval.score.stats.choose` picks a better-calibrated interval by metric kind and number of clusters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from psm_eval.score.stats._core import (
    LEVEL,
    N_BOOTSTRAP,
    Interval,
    Values,
    boot_draws,
    cluster_index,
    percentile_interval,
)

__all__ = ["bootstrap_mean", "paired_difference", "bootstrap_slope", "slope_difference", "lc_win_rate",
           "bootstrap_pooled"]


def _boot(stat: Callable[[np.ndarray], np.ndarray], k: int, n_boot: int, seed: int, level: float):
    return percentile_interval(boot_draws(stat, k, n_boot, seed), level)


def bootstrap_mean(values: Values, clusters: Sequence[str], *, n_boot: int = N_BOOTSTRAP,
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


def paired_difference(diffs: Values, clusters: Sequence[str], *, n_boot: int = N_BOOTSTRAP,
                      level: float = LEVEL, seed: int = 0) -> Interval:
    """Mean of per-sample differences (arm a − arm b) with a cluster-bootstrap CI."""
    return bootstrap_mean(diffs, clusters, n_boot=n_boot, level=level, seed=seed)


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
    if float(np.ptp(ys)) == 0.0 and ys[0] in (0.0, 1.0):
        return _constant_binary_slope(xs, float(ys[0]), clusters, level, k)
    low, high = _boot(lambda w: _weighted_slope(xs, ys, w[:, idx]), k, n_boot, seed, level)
    return Interval(estimate, low, high, int(xs.size), k)


def _constant_binary_slope(xs: np.ndarray, value: float, clusters: Sequence[str], level: float, k: int) -> Interval:
    """A 0/1 metric equal at every turn: resampling cannot move it, so a bootstrap reads [0, 0]. The slope
    is bounded instead by the Wilson intervals of the first and the last turn's clusters (all `value`):
    from (low_last − high_first) / Δturn to (high_last − low_first) / Δturn."""
    from psm_eval.score.stats.means import binary_mean

    def ends(turn: float) -> tuple[float, float]:
        ids = sorted({c for x, c in zip(xs.tolist(), clusters) if x == turn})
        iv = binary_mean([value] * len(ids), ids, level=level)
        return float(iv.ci_low), float(iv.ci_high)  # type: ignore[arg-type]

    first, last = float(xs.min()), float(xs.max())
    (lo0, hi0), (lo1, hi1) = ends(first), ends(last)
    span = last - first
    return Interval(0.0, (lo1 - hi0) / span, (hi1 - lo0) / span, int(xs.size), k,
                    "all values equal: slope bounded by the Wilson intervals of the first and last turns")


def slope_difference(xa: Sequence[float], ya: Sequence[float], ca: Sequence[str], xb: Sequence[float],
                     yb: Sequence[float], cb: Sequence[str], *, n_boot: int = N_BOOTSTRAP, level: float = LEVEL,
                     seed: int = 0) -> Interval:
    """OLS slope of arm a minus that of arm b, on the clusters both arms have, with a paired percentile
    interval: each resample draws the same clusters (dialogues) for both arms."""
    common = sorted(set(ca) & set(cb))
    pos = {c: i for i, c in enumerate(common)}
    keep_a = np.array([c in pos for c in ca], dtype=bool)
    keep_b = np.array([c in pos for c in cb], dtype=bool)
    xs_a, ys_a = np.asarray(xa, dtype=np.float64)[keep_a], np.asarray(ya, dtype=np.float64)[keep_a]
    xs_b, ys_b = np.asarray(xb, dtype=np.float64)[keep_b], np.asarray(yb, dtype=np.float64)[keep_b]
    idx_a = np.array([pos[c] for c, k in zip(ca, keep_a) if k], dtype=np.int64)
    idx_b = np.array([pos[c] for c, k in zip(cb, keep_b) if k], dtype=np.int64)
    k, n = len(common), int(xs_a.size + xs_b.size)
    method = f"paired cluster bootstrap of the two OLS slopes ({n_boot} resamples, percentile)"
    if xs_a.size < 2 or xs_b.size < 2 or float(np.ptp(xs_a)) == 0.0 or float(np.ptp(xs_b)) == 0.0:
        return Interval(None, None, None, n, k, method)
    estimate = float(_weighted_slope(xs_a, ys_a, np.ones((1, xs_a.size)))[0]
                     - _weighted_slope(xs_b, ys_b, np.ones((1, xs_b.size)))[0])
    if k < 2:
        return Interval(estimate, None, None, n, k, method)
    low, high = _boot(lambda w: _weighted_slope(xs_a, ys_a, w[:, idx_a]) - _weighted_slope(xs_b, ys_b, w[:, idx_b]),
                      k, n_boot, seed, level)
    return Interval(estimate, low, high, n, k, method)


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
