"""The gate's decision: paired per-sample differences → cluster-bootstrap CI at a Holm step-down level →
PASS / REGRESSION / INCONCLUSIVE, with the minimum detectable effect.

Pure numpy over arrays, so the simulations in tests/gate call exactly what the CLI calls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from psm_eval.gate.policy import Settings
from psm_eval.score import stats

__all__ = ["MetricInput", "Decision", "decide", "clustered_se", "mde", "PASS",
           "REGRESSION", "INCONCLUSIVE"]

PASS, REGRESSION, INCONCLUSIVE = "PASS", "REGRESSION", "INCONCLUSIVE"
_EPS = 1e-12


@dataclass(frozen=True)
class MetricInput:
    """One gated metric: per-sample differences run − baseline (raw units) and their clusters."""

    diffs: np.ndarray
    clusters: Sequence[str]
    settings: Settings
    seed: int = 0


@dataclass(frozen=True)
class Decision:
    verdict: str
    reason: str
    estimate: float | None
    """Mean paired difference run − baseline, in the metric's units (not direction-adjusted)."""
    ci_low: float | None
    ci_high: float | None
    ci_level: float | None
    """The Holm step-down level the interval was read at (≥ 1 − alpha)."""
    se: float | None
    mde: float | None
    """Smallest worsening the gate detects as REGRESSION with the policy's power, at this level."""
    n: int
    n_clusters: int


def clustered_se(d: np.ndarray, clusters: Sequence[str]) -> float | None:
    """Cluster-robust standard error of the mean of d (None with fewer than two clusters)."""
    idx, k = stats.cluster_index(clusters)
    if k < 2:
        return None
    sums = np.bincount(idx, weights=d, minlength=k)
    counts = np.bincount(idx, minlength=k)
    resid = sums - d.mean() * counts
    return float(math.sqrt(k / (k - 1) * float(resid @ resid)) / d.size)


def _t_quantile(p: float, df: int) -> float:
    """Student t quantile (Cornish–Fisher expansion around the normal; within 1% for df ≥ 3)."""
    z = NormalDist().inv_cdf(p)
    if df <= 0:
        return z
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def mde(se: float, margin: float, level: float, power: float, n_clusters: int) -> float:
    """Smallest true worsening found as REGRESSION with probability `power`: the estimate must fall
    below both −t·SE (CI entirely below 0) and −margin, so MDE = max(t·SE, margin) + z_power·SE
    (t quantiles with ν = k − 1 degrees of freedom, and the SE widened by sqrt(ν / (ν − 2)), the spread
    of a t statistic: the SE is itself estimated, and with binary scores it grows with the drop)."""
    df = n_clusters - 1
    se = se * math.sqrt(df / (df - 2)) if df > 2 else se * 2.0
    t = _t_quantile(1 - (1 - level) / 2, df)
    return max(t * se, margin) + _t_quantile(power, df) * se


def _order_p(est: float, se: float | None) -> float:
    """One-sided normal p-value of 'no worsening' — only orders the Holm steps (any order is valid)."""
    if not se:
        return 0.0 if est < 0 else 1.0
    return NormalDist().cdf(est / se)


def decide(metrics: Sequence[MetricInput], *, power: float = 0.8, n_boot: int = stats.N_BOOTSTRAP) -> list[Decision]:
    """Verdicts for a family of metrics, Holm step-down across those that can be tested.

    With s = +1 (higher is better) or −1, d = s·diff. Step-down: test the remaining metrics in order of
    their p-value / alpha; the next one's CI is read at level 1 − alpha/|remaining|; if it lies
    entirely below 0 it is removed and the step-down goes on, else every remaining metric keeps that
    level. Then REGRESSION if the CI is below 0 and the estimate ≤ −margin; PASS if the lower bound
    ≥ −margin; else INCONCLUSIVE. Family-wise false-REGRESSION rate ≤ the largest alpha.
    """
    out: list[Decision | None] = [None] * len(metrics)
    signs = [1.0 if m.settings.direction == "higher" else -1.0 for m in metrics]
    testable: dict[int, tuple[np.ndarray, float, float | None, int]] = {}
    for i, m in enumerate(metrics):
        d = signs[i] * np.asarray(m.diffs, dtype=np.float64)
        k = stats.cluster_index(m.clusters)[1]
        est = float(d.mean()) if d.size else None
        if d.size < m.settings.min_samples or k < 2:
            why = (f"{d.size} paired samples < min_samples {m.settings.min_samples}" if d.size < m.settings.min_samples
                   else "fewer than 2 clusters: no interval")
            out[i] = Decision(INCONCLUSIVE, why, None if est is None else signs[i] * est, None, None, None, None,
                              None, int(d.size), k)
        else:
            testable[i] = (d, float(est), clustered_se(d, m.clusters), k)  # type: ignore[arg-type]
    remaining = sorted(testable, key=lambda i: _order_p(testable[i][1], testable[i][2]) / metrics[i].settings.alpha)
    levels: dict[int, float] = {}
    intervals: dict[int, stats.Interval] = {}
    while remaining:
        i = remaining[0]
        level = 1 - metrics[i].settings.alpha / len(remaining)
        iv = stats.paired_difference(testable[i][0], metrics[i].clusters, level=level, n_boot=n_boot,
                                     seed=metrics[i].seed)
        levels[i], intervals[i] = level, iv
        if iv.ci_high is not None and iv.ci_high < 0:
            remaining.pop(0)
            continue
        for j in remaining[1:]:  # the step-down stops: the rest keep this family size
            levels[j] = 1 - metrics[j].settings.alpha / len(remaining)
            intervals[j] = stats.paired_difference(testable[j][0], metrics[j].clusters, level=levels[j],
                                                   n_boot=n_boot, seed=metrics[j].seed)
        break
    for i, (_, est, se, k) in testable.items():
        out[i] = _verdict(intervals[i], est, se or 0.0, k, levels[i], metrics[i].settings, power, signs[i])
    return out  # type: ignore[return-value]


def _verdict(iv: stats.Interval, est: float, se: float, k: int, level: float, s: Settings, power: float,
             sign: float) -> Decision:
    lo, hi = iv.ci_low, iv.ci_high
    detect = mde(se, s.margin, level, power, k)
    if lo is None or hi is None:
        verdict, why = INCONCLUSIVE, "no interval"
    elif hi < 0 and est <= -s.margin + _EPS:
        verdict, why = REGRESSION, f"CI entirely worse than 0 and estimate worse than the margin {s.margin:g}"
    elif lo >= -s.margin - _EPS:
        verdict, why = PASS, f"CI lower bound within the margin {s.margin:g}"
    else:
        verdict, why = INCONCLUSIVE, f"CI reaches past the margin {s.margin:g}; detectable worsening {detect:.3g}"
    raw = sorted((sign * lo + 0.0, sign * hi + 0.0)) if lo is not None and hi is not None else [None, None]
    return Decision(verdict, why, sign * est + 0.0, raw[0], raw[1], level, se, detect, iv.n, k)
