"""Paired binary differences: arm a − arm b on the same samples, one 0/1 outcome each.

The 2×2 table of pairs (n11 both right, n10 a only, n01 b only, n00 neither) gives Newcombe's hybrid
score interval (his method 10) or Tango's score interval; with several pairs per cluster the table is
deflated to the effective number of independent pairs first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from statsmodels.stats.proportion import proportion_confint

from psm_eval.score.stats._core import LEVEL, Interval, Values, cluster_index, df_shrink, z_quantile

__all__ = ["PairedBinaryMethod", "newcombe_paired", "tango_paired", "paired_binary_difference", "paired_table"]

PairedBinaryMethod = Literal["newcombe", "tango"]


def paired_table(a: Values, b: Values) -> tuple[int, int, int, int]:
    """(n11, n10, n01, n00) of paired 0/1 outcomes: both 1, a only, b only, neither."""
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    return (int(np.sum(x & y)), int(np.sum(x & ~y)), int(np.sum(~x & y)), int(np.sum(~x & ~y)))


def newcombe_paired(n11, n10, n01, n00, *, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for a difference of paired proportions, p(a) − p(b) (Newcombe
    1998, Stat Med 17:2635, method 10): Wilson intervals for the two margins combined by square-and-add
    with the phi correlation of the pairs, AD − BC reduced by N/2 when positive, as Newcombe defines it
    (Fagerland, Lydersen & Laake 2014 check it against Tango's). Counts may be arrays (vectorised) and non-integer
    (deflated by a design effect)."""
    t = [np.asarray(c, dtype=np.float64) for c in (n11, n10, n01, n00)]
    n11_, n10_, n01_, n00_ = np.broadcast_arrays(*t)
    n = n11_ + n10_ + n01_ + n00_
    alpha = 1.0 - level
    p1, p2 = (n11_ + n10_) / n, (n11_ + n01_) / n
    l1, u1 = proportion_confint(n11_ + n10_, n, alpha=alpha, method="wilson")
    l2, u2 = proportion_confint(n11_ + n01_, n, alpha=alpha, method="wilson")
    margins = (n11_ + n10_) * (n01_ + n00_) * (n11_ + n01_) * (n10_ + n00_)
    cross = n11_ * n00_ - n10_ * n01_
    # Newcombe's corrected phi: a positive AD − BC is reduced by N/2 (not below 0), a negative one kept
    cross = np.where(cross > 0, np.maximum(cross - n / 2.0, 0.0), cross)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(margins > 0, cross / np.sqrt(margins), 0.0)
    def spread(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.sqrt(np.maximum(x * x - 2.0 * phi * x * y + y * y, 0.0))
    d = p1 - p2
    low = d - spread(p1 - np.asarray(l1), np.asarray(u2) - p2)
    high = d + spread(np.asarray(u1) - p1, p2 - np.asarray(l2))
    return np.clip(low, -1.0, 1.0) + 0.0, np.clip(high, -1.0, 1.0) + 0.0


def _tango_z(delta: np.ndarray, n10: np.ndarray, n01: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Tango's score statistic for H0: p10 − p01 = delta, with p01 at its restricted ML estimate (the
    positive root of 2n q² + B q + C = 0, B = −n10 − n01 + (2n − n10 + n01)·delta, C = −n01·delta(1 − delta))."""
    b = -n10 - n01 + (2.0 * n - n10 + n01) * delta
    c = -n01 * delta * (1.0 - delta)
    q = (np.sqrt(np.maximum(b * b - 8.0 * n * c, 0.0)) - b) / (4.0 * n)
    var = n * (2.0 * q + delta * (1.0 - delta))
    num = n10 - n01 - n * delta
    with np.errstate(divide="ignore", invalid="ignore"):
        z = num / np.sqrt(np.maximum(var, 0.0))
    return np.where(var > 0, z, np.where(num > 0, np.inf, np.where(num < 0, -np.inf, 0.0)))


def tango_paired(n11, n10, n01, n00, *, level: float = LEVEL, steps: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Tango's score interval for a difference of paired proportions (Tango 1998, Stat Med 17:891;
    recommended by Fagerland, Lydersen & Laake 2014): the set of differences a two-sided score test does
    not reject, found by bisection on each side (vectorised over tables)."""
    n10_, n01_, n = (np.asarray(x, dtype=np.float64) for x in (n10, n01, np.add(np.add(n11, n10), np.add(n01, n00))))
    n10_, n01_, n = np.broadcast_arrays(n10_, n01_, n)
    z = z_quantile((1.0 + level) / 2.0)
    d = (n10_ - n01_) / n
    bounds = []
    for target, lo, hi in ((z, -np.ones_like(d), d.copy()), (-z, d.copy(), np.ones_like(d))):
        for _ in range(steps):  # the statistic falls as delta rises
            mid = (lo + hi) / 2.0
            above = _tango_z(mid, n10_, n01_, n) > target
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        bounds.append((lo + hi) / 2.0)
    return bounds[0] + 0.0, bounds[1] + 0.0


def _pair_design(d: np.ndarray, clusters: Sequence[str]) -> tuple[float, int, str]:
    """(n_eff before the degrees-of-freedom shrink, clusters k, how): n · v_pairs / v_clusters, where
    v_pairs is the multinomial variance of the mean difference and v_clusters its cluster-robust (CR1)
    variance; k = 0 marks a value the shrink must not touch (one pair per cluster, or a worst case)."""
    idx, k = cluster_index(clusters)
    n = d.size
    sizes = np.bincount(idx, minlength=k).astype(np.float64)
    if np.all(sizes == 1):
        return float(n), 0, "one pair per cluster"
    mean = float(d.mean())
    v_pairs = (float(np.mean(d != 0)) - mean * mean) / n
    if v_pairs <= 0.0:
        return n * n / float(sizes @ sizes), 0, "no variation: worst case, one pair per cluster"
    resid = np.bincount(idx, weights=d, minlength=k) - mean * sizes
    v_clusters = k / (k - 1) * float(resid @ resid) / (n * n)
    if v_clusters <= 0.0:
        return float(n), 0, "no variation between clusters"
    return n * v_pairs / v_clusters, k, "design effect, Korn–Graubard df"


def _effective_pairs(design: tuple[float, int, str], n: int, level: float) -> float:
    """Effective number of independent pairs at `level`: the design's n_eff times (z / t(k − 1))²,
    capped at n; with no pair variation the worst case n² / Σ m_c² (Kish's effective clusters)."""
    raw, k, _ = design
    return min(float(n), raw * df_shrink(level, k)) if k else raw


def paired_binary_difference(a: Values, b: Values, clusters: Sequence[str], *,
                             level: float = LEVEL, method: PairedBinaryMethod = "newcombe") -> Interval:
    """Mean of a − b over pairs of 0/1 outcomes, with Newcombe's method-10 (default) or Tango's score
    interval. Cluster-aware variant: with several pairs per cluster, the four cells are scaled by
    n_eff / n (the design effect of the difference, Korn–Graubard degrees of freedom) before the interval
    is read, the approach Donner & Klar use to carry binomial methods over to cluster samples."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    name = "Newcombe hybrid score (method 10)" if method == "newcombe" else "Tango score"
    if x.size != y.size or x.size != len(clusters):
        raise ValueError("paired_binary_difference needs a, b and clusters of the same length")
    if x.size == 0:
        return Interval(None, None, None, 0, 0, name)
    if not np.all(np.isin(x, (0.0, 1.0)) & np.isin(y, (0.0, 1.0))):
        raise ValueError("paired_binary_difference needs 0/1 outcomes")
    k = cluster_index(clusters)[1]
    estimate = float(np.mean(x - y)) + 0.0
    if k < 2 and x.size > 1:
        return Interval(estimate, None, None, int(x.size), k, name)
    design = _pair_design(x - y, clusters)
    n_eff, why = _effective_pairs(design, x.size, level), design[2]
    cells = np.array(paired_table(x, y), dtype=np.float64) * (n_eff / x.size)
    low, high = (newcombe_paired if method == "newcombe" else tango_paired)(*cells, level=level)
    detail = "" if why == "one pair per cluster" else f" on n_eff = {n_eff:.1f} of {x.size} pairs ({why})"
    return Interval(estimate, float(low), float(high), int(x.size), k, f"{name} interval{detail}")
