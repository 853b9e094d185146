"""How much of the base → chat gap on one metric a steering arm closes: (steered − base) / (chat − base).

The three arms are paired by sample (each sample's values averaged over its turns and repeats first, on the
samples all three scored). The ratio's interval is Fieller's (1954), with a cluster-robust covariance of
the two mean differences and t(k − 1) quantiles: the set of ratios ρ for which (steered − base) − ρ·(chat −
base) is not rejected at the level. It is bounded exactly when the gap itself is significantly non-zero
by the same t test; otherwise the ratio is reported as undefined rather than given an interval that is
a union of half-lines or the whole line. A percentile cluster bootstrap of the ratio is the alternative
(`method="bootstrap"`); it is undefined when the gap's bootstrap interval contains 0. Fieller's interval
holds its level better when the gap is small relative to its noise (tests/stats/test_gap.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from psm_eval.score.stats._core import (
    LEVEL,
    N_BOOTSTRAP,
    Interval,
    boot_draws,
    cluster_index,
    percentile_interval,
    t_quantile,
)
from psm_eval.score.stats.pairing import complete_cases

__all__ = ["GapClosed", "gap_closed"]

Method = Literal["fieller", "bootstrap"]


@dataclass(frozen=True)
class GapClosed:
    """The share of the base → chat gap a steered arm closes, or why it is undefined."""

    estimate: float | None
    """(mean steered − mean base) / (mean chat − mean base) on the paired samples; None when undefined."""
    ci_low: float | None
    """Lower bound (None when undefined)."""
    ci_high: float | None
    """Upper bound (None when undefined)."""
    defined: bool
    """False when the base → chat gap is not distinguishable from 0 (its interval contains 0) or no data."""
    reason: str
    """Why undefined, in words ("" when defined)."""
    effect: Interval
    """steered − base: the mean paired difference and its interval (same method family)."""
    gap: Interval
    """chat − base: the mean paired difference and its interval."""
    n: int
    """Samples scored in all three arms."""
    n_clusters: int
    """Clusters those samples form (the unit of resampling and of the covariance)."""
    method: str
    """The interval's method, in words."""


def gap_closed(values: Mapping[str, Mapping[str, Sequence[float]]], clusters: Mapping[str, str], *,
               base: str = "base", steered: str = "steered", chat: str = "chat", method: Method = "fieller",
               level: float = LEVEL, n_boot: int = N_BOOTSTRAP, seed: int = 0) -> GapClosed:
    """`values`: arm → (sample id → that sample's values of the metric); `clusters`: sample id → cluster.
    The three named arms must be keys of `values`."""
    cases = complete_cases({a: values[a] for a in (base, steered, chat)}, clusters)
    d_eff, d_gap = cases.difference(steered, base), cases.difference(chat, base)
    idx, k = cluster_index(list(cases.clusters))
    n = cases.n
    if n == 0:
        empty = Interval(None, None, None, 0, 0)
        return GapClosed(None, None, None, False, "no sample scored in all three arms", empty, empty, 0, 0, method)
    if method == "fieller":
        return _fieller(d_eff, d_gap, idx, k, level)
    return _bootstrap(d_eff, d_gap, idx, k, level, n_boot, seed)


def _totals(d: np.ndarray, idx: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(idx, weights=d, minlength=k)


def _fieller(a: np.ndarray, b: np.ndarray, idx: np.ndarray, k: int, level: float) -> GapClosed:
    n = a.size
    method = f"Fieller, cluster-robust covariance, t({k - 1})"
    ma, mb = float(a.mean()), float(b.mean())
    size = np.bincount(idx, minlength=k).astype(np.float64)
    # linearised cluster-robust (CR1) covariance of the two means of per-sample differences
    ra, rb = _totals(a, idx, k) - ma * size, _totals(b, idx, k) - mb * size
    scale = k / (k - 1) / n**2 if k > 1 else float("nan")
    vaa, vbb, vab = float(scale * ra @ ra), float(scale * rb @ rb), float(scale * ra @ rb)
    if k < 2:
        eff, gap = Interval(ma, None, None, n, k, method), Interval(mb, None, None, n, k, method)
        return GapClosed(None, None, None, False, "fewer than two clusters: no interval", eff, gap, n, k, method)
    t = t_quantile((1.0 + level) / 2.0, k - 1)
    sa, sb = t * float(np.sqrt(vaa)), t * float(np.sqrt(vbb))
    eff = Interval(ma, ma - sa, ma + sa, n, k, f"cluster-robust t({k - 1})")
    gap = Interval(mb, mb - sb, mb + sb, n, k, f"cluster-robust t({k - 1})")
    # ρ in the set iff (ma − ρ mb)² ≤ t² (vaa − 2ρ vab + ρ² vbb): a quadratic q2 ρ² + q1 ρ + q0 ≤ 0
    q2, q1, q0 = mb**2 - t**2 * vbb, -2.0 * (ma * mb - t**2 * vab), ma**2 - t**2 * vaa
    if q2 <= 0:
        return GapClosed(None, None, None, False, "the base → chat gap's interval contains 0", eff, gap, n, k, method)
    root = float(np.sqrt(max(q1**2 - 4.0 * q2 * q0, 0.0)))
    return GapClosed(ma / mb, (-q1 - root) / (2.0 * q2), (-q1 + root) / (2.0 * q2), True, "", eff, gap, n, k, method)


def _bootstrap(a: np.ndarray, b: np.ndarray, idx: np.ndarray, k: int, level: float, n_boot: int,
               seed: int) -> GapClosed:
    n = a.size
    method = f"cluster bootstrap percentile ({n_boot} resamples)"
    ta, tb = _totals(a, idx, k), _totals(b, idx, k)
    size = np.bincount(idx, minlength=k).astype(np.float64)
    ma, mb = float(a.mean()), float(b.mean())
    if k < 2:
        eff, gap = Interval(ma, None, None, n, k, method), Interval(mb, None, None, n, k, method)
        return GapClosed(None, None, None, False, "fewer than two clusters: no interval", eff, gap, n, k, method)
    # one set of resamples for all three statistics, so they describe the same draws
    draws = boot_draws(lambda w: np.stack([w @ ta, w @ tb, w @ size], axis=1), k, n_boot, seed).reshape(-1, 3)
    mean_a, mean_b = draws[:, 0] / draws[:, 2], draws[:, 1] / draws[:, 2]
    eff = Interval(ma, *percentile_interval(mean_a, level), n, k, method)
    gap = Interval(mb, *percentile_interval(mean_b, level), n, k, method)
    if gap.ci_low is None or gap.ci_high is None or gap.ci_low <= 0.0 <= gap.ci_high:
        return GapClosed(None, None, None, False, "the base → chat gap's interval contains 0", eff, gap, n, k, method)
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = percentile_interval(draws[:, 0] / draws[:, 1], level)
    return GapClosed(ma / mb, low, high, True, "", eff, gap, n, k, method)
