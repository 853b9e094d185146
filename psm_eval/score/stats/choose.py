"""The rule that picks an interval and a test by metric kind and size — what the summary calls.

- binary, one 0/1 per sample — mean: Wilson score on the design-effect n_eff (plain Wilson with one
  sample per cluster); difference: Newcombe method 10 on the design-effect deflated 2×2 table; test:
  exact McNemar with one pair per cluster, else the cluster sign-flip test.
- binary, shares of repeats — mean: Wilson score on n_eff (capped at the number of replies);
  difference: cluster-robust t; test: cluster sign-flip.
- continuous — mean and difference: cluster-robust t (CR1, k − 1 df) at every k; test: cluster sign-flip.
- count — as continuous; all zero: exact Poisson upper bound on the effective clusters.

The sign-flip test is exact (full enumeration) up to 16 clusters with a non-zero sum, Monte Carlo above.
Why: benchmarks/stats_calibration.py (coverage of t ≥ BCa ≥ percentile at every k from 5 to 250; the
percentile bootstrap of 57/57 gives [1, 1]).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from psm_eval.score.stats._core import LEVEL, Interval, Kind, Values, cluster_index
from psm_eval.score.stats.means import binary_mean, cluster_t_mean
from psm_eval.score.stats.paired import paired_binary_difference, paired_table
from psm_eval.score.stats.significance import EXACT_MAX_CLUSTERS, mcnemar_exact, sign_flip_p

__all__ = ["mean_interval", "difference_interval", "difference_test"]


def _zero_one(*arrays: np.ndarray) -> bool:
    return all(bool(np.all((x == 0.0) | (x == 1.0))) for x in arrays)


def mean_interval(values: Values, clusters: Sequence[str], *, kind: Kind, level: float = LEVEL,
                  trials: Values | None = None) -> Interval:
    """The mean of per-sample values with the interval the rule picks for `kind` (module table).
    `trials`: for binary shares, how many 0/1 replies each value averages."""
    y = np.asarray(values, dtype=np.float64)
    if kind == "binary":
        return binary_mean(y, clusters, level=level, trials=trials)
    iv = cluster_t_mean(y, clusters, level=level)
    if kind == "count" and y.size and not np.any(y) and iv.n_clusters >= 2:
        idx, k = cluster_index(clusters)
        sizes = np.bincount(idx, minlength=k).astype(np.float64)
        k_eff = y.size**2 / float(sizes @ sizes)
        # no events: the exact Poisson upper bound -ln(α/2) per unit, with units counted as clusters
        high = float(-np.log((1.0 - level) / 2.0) / k_eff)
        return Interval(0.0, 0.0, high, iv.n, iv.n_clusters,
                        f"exact Poisson upper bound for zero counts on {k_eff:.1f} effective clusters")
    return iv


def difference_interval(a: Values, b: Values, clusters: Sequence[str], *, kind: Kind,
                        level: float = LEVEL) -> Interval:
    """Mean paired difference a − b (per-sample values on the same samples) with the interval the rule picks."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if kind == "binary" and x.size and _zero_one(x, y):
        return paired_binary_difference(x, y, clusters, level=level)
    if kind == "binary" and x.size and not np.any(x - y):
        # shares of repeats equal in both arms on every sample: a variance of 0 is no evidence of
        # certainty; read it, as the mean does, as the worst case — one concordant pair per cluster
        k = cluster_index(clusters)[1]
        iv = paired_binary_difference(np.zeros(k), np.zeros(k), [str(i) for i in range(k)], level=level)
        return Interval(0.0, iv.ci_low, iv.ci_high, int(x.size), k,
                        f"{iv.method} on {k} concordant pairs (every paired difference 0: worst case, one pair "
                        "per cluster)")
    return cluster_t_mean(x - y, clusters, level=level)


def difference_test(a: Values, b: Values, clusters: Sequence[str], *,
                    kind: Kind) -> tuple[float | None, str]:
    """Two-sided p-value of a zero mean paired difference a − b, and the test's name."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size == 0:
        return None, "no paired samples"
    k = cluster_index(clusters)[1]
    if kind == "binary" and _zero_one(x, y) and k == x.size:
        _, a_only, b_only, _ = paired_table(x, y)
        return mcnemar_exact(a_only, b_only), "exact McNemar test"
    p = sign_flip_p(x - y, clusters)
    moving = int(np.count_nonzero(np.bincount(cluster_index(clusters)[0], weights=x - y)))
    how = "exact, all sign vectors" if moving <= EXACT_MAX_CLUSTERS else "Monte Carlo, 10,000 sign vectors"
    return p, f"cluster sign-flip permutation test ({how})"
