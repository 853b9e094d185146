"""From score rows to per-sample values, and the complete-case sample set every arm comparison uses.

Weighting is per sample: a sample's records (turns, repeats) are averaged first, so a dialogue with six
turns counts as much as one with two, in per-arm means and paired differences alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["per_sample", "paired_differences", "CompleteCases", "complete_cases"]


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


@dataclass(frozen=True)
class CompleteCases:
    """The samples scored in every arm, with each arm's per-sample mean on exactly that set."""

    ids: tuple[str, ...]
    """Sample ids scored (at least one value) in every arm, sorted."""
    clusters: tuple[str, ...]
    """Each id's cluster, aligned with `ids`: the unit every interval and test resamples or flips."""
    values: Mapping[str, np.ndarray]
    """Arm → per-sample mean of its values (over turns and repeats), aligned with `ids`."""
    records: Mapping[str, np.ndarray]
    """Arm → how many values each sample's mean averages (1 everywhere: one reply per sample)."""
    dropped: Mapping[str, int]
    """Arm → samples it scored that some other arm did not (left out of every arm's mean)."""

    @property
    def n(self) -> int:
        return len(self.ids)

    def mean(self, arm: str) -> float | None:
        """The arm's mean over the common samples, each sample weighted equally."""
        return float(self.values[arm].mean()) if self.n else None

    def difference(self, a: str, b: str) -> np.ndarray:
        """Per-sample differences a − b (their mean is mean(a) − mean(b) exactly)."""
        return self.values[a] - self.values[b]

    def single(self, *arms: str) -> bool:
        """True when each sample has exactly one value in each of these arms."""
        return all(bool(np.all(self.records[a] == 1)) for a in arms)


def complete_cases(per_arm: Mapping[str, Mapping[str, Sequence[float]]],
                   clusters: Mapping[str, str]) -> CompleteCases:
    """Arm → (sample id → its scored values) and sample id → cluster → the complete-case set: the samples
    every arm scored, per-arm per-sample means on it, and per arm the number of its samples dropped.

    A sample with an empty value list counts as unscored. Samples are sorted by id, so the result does
    not depend on the order rows arrived in.
    """
    scored = {arm: {i for i, v in samples.items() if len(v)} for arm, samples in per_arm.items()}
    common = sorted(set.intersection(*scored.values())) if scored else []
    missing = [i for i in common if i not in clusters]
    if missing:
        raise ValueError(f"no cluster for sample {missing[0]!r}: pass the cluster of every scored sample")
    values = {arm: np.array([float(np.mean(per_arm[arm][i])) for i in common]) for arm in per_arm}
    records = {arm: np.array([len(per_arm[arm][i]) for i in common], dtype=np.int64) for arm in per_arm}
    dropped = {arm: len(scored[arm]) - len(common) for arm in per_arm}
    return CompleteCases(tuple(common), tuple(clusters[i] for i in common), values, records, dropped)
