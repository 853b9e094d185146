"""Entropy of class counts (bits): plug-in, Miller–Madow and Chao–Shen estimators, the pooled entropy of
an arm's replies with a cluster-bootstrap BCa interval, and the paired difference between two arms.

The plug-in entropy of k = 4 replies per prompt is capped at 2 bits and biased low; pooling an arm's
replies over prompts and correcting the bias is the estimator the summary should report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from psm_eval.score.stats._core import (
    LEVEL,
    N_BOOTSTRAP,
    Interval,
    bca_interval,
    boot_draws,
    cluster_index,
    jackknife_t_interval,
)

__all__ = ["entropy_bits", "entropy_rows", "miller_madow_rows", "chao_shen_rows", "EntropyEstimator",
           "ENTROPY_ESTIMATORS", "EntropyInterval", "pooled_entropy", "entropy_difference"]

_LN2 = float(np.log(2.0))


def entropy_bits(counts: Sequence[float]) -> float:
    """Shannon entropy (bits) of a distribution given by counts or shares (plug-in)."""
    c = np.asarray([x for x in counts if x > 0], dtype=np.float64)
    if c.size == 0:
        return 0.0
    p = c / c.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


def entropy_rows(counts: np.ndarray) -> np.ndarray:
    """Plug-in (maximum-likelihood) Shannon entropy (bits) of each row of counts."""
    totals = counts.sum(axis=1, keepdims=True)
    p = np.divide(counts, totals, out=np.zeros_like(counts, dtype=np.float64), where=totals > 0)
    logs = np.log2(p, out=np.zeros_like(p), where=p > 0)
    return -(p * logs).sum(axis=1) + 0.0


def miller_madow_rows(counts: np.ndarray) -> np.ndarray:
    """Miller–Madow entropy (bits) of each row: plug-in + (m − 1) / (2N), m the classes seen, in nats
    (Miller 1955): removes the first-order bias of the plug-in estimator."""
    totals = counts.sum(axis=1)
    seen = np.count_nonzero(counts > 0, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        correction = np.where(totals > 0, (seen - 1) / (2.0 * totals) / _LN2, 0.0)
    return entropy_rows(counts) + correction


def chao_shen_rows(counts: np.ndarray) -> np.ndarray:
    """Chao–Shen entropy (bits) of each row (Chao & Shen 2003): shares shrunk by the Good–Turing sample
    coverage C = 1 − f1 / N (f1 classes seen once; f1 = N − 1 when every class is a singleton), each
    term weighted by its Horvitz–Thompson inclusion probability 1 − (1 − C·p)^N."""
    c = np.asarray(counts, dtype=np.float64)
    totals = c.sum(axis=1, keepdims=True)
    singletons = np.count_nonzero(np.isclose(c, 1.0), axis=1)[:, None].astype(np.float64)
    singletons = np.where(singletons >= totals, totals - 1.0, singletons)
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = np.where(totals > 0, 1.0 - singletons / totals, 1.0)
        pa = np.where(totals > 0, coverage * c / totals, 0.0)
        inclusion = 1.0 - (1.0 - pa) ** totals
        terms = np.where(pa > 0, -pa * np.log(np.where(pa > 0, pa, 1.0)) / inclusion, 0.0)
    return terms.sum(axis=1) / _LN2 + 0.0


EntropyEstimator = Literal["plugin", "miller-madow", "chao-shen"]
EntropyInterval = Literal["jackknife-t", "bca"]
ENTROPY_ESTIMATORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "plugin": entropy_rows, "miller-madow": miller_madow_rows, "chao-shen": chao_shen_rows}


def _per_cluster(counts: np.ndarray, clusters: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Summed class counts per cluster (k × classes) and the cluster labels in row order."""
    idx, k = cluster_index(clusters)
    out = np.zeros((k, counts.shape[1]))
    np.add.at(out, idx, counts)
    labels: dict[str, None] = dict.fromkeys(clusters)
    return out, list(labels)


def _read(estimate: float, stat: Callable[[np.ndarray], np.ndarray], jack: np.ndarray, k: int,
          interval: EntropyInterval, level: float, n_boot: int, seed: int) -> tuple[float | None, float | None]:
    if interval == "jackknife-t":
        return jackknife_t_interval(estimate, jack, level)
    return bca_interval(boot_draws(stat, k, n_boot, seed), estimate, jack, level)


def _name(interval: EntropyInterval, n_boot: int) -> str:
    return ("leave-one-cluster-out jackknife t interval" if interval == "jackknife-t"
            else f"cluster bootstrap BCa ({n_boot} resamples)")


def pooled_entropy(counts: np.ndarray, clusters: Sequence[str], *, estimator: EntropyEstimator = "miller-madow",
                   interval: EntropyInterval = "jackknife-t", level: float = LEVEL, n_boot: int = N_BOOTSTRAP,
                   seed: int = 0) -> Interval:
    """Entropy (bits) of an arm's pooled class counts — rows are replies (one-hot) or per-reply counts —
    bias-corrected by `estimator`, with an interval over clusters (prompts): the leave-one-cluster-out
    jackknife t interval (default: it covered 0.93–0.975 at 10 prompts of 4 replies where the
    cluster-bootstrap BCa covered 0.61–0.82 — resampling duplicates prompts and so drops classes)
    or the cluster-bootstrap BCa."""
    rows = np.asarray(counts, dtype=np.float64)
    method = f"{estimator} entropy of pooled counts; {_name(interval, n_boot)}"
    if rows.shape[0] == 0:
        return Interval(None, None, None, 0, 0, method)
    est = ENTROPY_ESTIMATORS[estimator]
    per, _ = _per_cluster(rows, clusters)
    total = per.sum(axis=0, keepdims=True)
    estimate = float(est(total)[0])
    k = per.shape[0]
    if k < 2:
        return Interval(estimate, None, None, rows.shape[0], k, method)
    low, high = _read(estimate, lambda w: est(w @ per), est(total - per), k, interval, level, n_boot, seed)
    low = None if low is None else max(0.0, low)  # an entropy is never negative: a t interval can say so
    return Interval(estimate, low, high, rows.shape[0], k, method)


def entropy_difference(counts_a: np.ndarray, clusters_a: Sequence[str], counts_b: np.ndarray,
                       clusters_b: Sequence[str], *, estimator: EntropyEstimator = "miller-madow",
                       interval: EntropyInterval = "jackknife-t", level: float = LEVEL, n_boot: int = N_BOOTSTRAP,
                       seed: int = 0) -> Interval:
    """Pooled entropy of arm a − that of arm b (bits), over the clusters (prompts) both arms have, with a
    paired interval: each jackknife replicate leaves out (each bootstrap resample draws) the same
    prompts in both arms. Class columns must match; `n` counts both arms' replies on common prompts."""
    a, b = np.asarray(counts_a, dtype=np.float64), np.asarray(counts_b, dtype=np.float64)
    method = f"difference of {estimator} pooled entropies; paired {_name(interval, n_boot)}"
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError("entropy_difference needs two count matrices with the same class columns")
    per_a, labels_a = _per_cluster(a, clusters_a) if a.shape[0] else (np.zeros((0, a.shape[1])), [])
    per_b, labels_b = _per_cluster(b, clusters_b) if b.shape[0] else (np.zeros((0, b.shape[1])), [])
    common = sorted(set(labels_a) & set(labels_b))
    if not common:
        return Interval(None, None, None, 0, 0, method)
    pos_a, pos_b = {c: i for i, c in enumerate(labels_a)}, {c: i for i, c in enumerate(labels_b)}
    ca, cb = per_a[[pos_a[c] for c in common]], per_b[[pos_b[c] for c in common]]
    est = ENTROPY_ESTIMATORS[estimator]
    ta, tb = ca.sum(axis=0, keepdims=True), cb.sum(axis=0, keepdims=True)
    estimate = float(est(ta)[0] - est(tb)[0])
    n, k = int(ca.sum() + cb.sum()), len(common)
    if k < 2:
        return Interval(estimate, None, None, n, k, method)
    low, high = _read(estimate, lambda w: est(w @ ca) - est(w @ cb), est(ta - ca) - est(tb - cb), k, interval,
                      level, n_boot, seed)
    return Interval(estimate, low, high, n, k, method)
