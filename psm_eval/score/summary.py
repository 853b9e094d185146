"""From score records to the summary's statistics: per-arm means, paired differences, slopes, scorer extras.

Each sample weighs the same: its records (turns, repeats) are averaged first. Per (task, scorer, metric,
stratum, arm): the mean of per-sample values with the interval fit for the metric's declared kind —
Wilson on the effective number of clusters for binary metrics (never [1, 1] for 57 of 57), a
cluster-robust t interval for continuous ones (`stats.mean_interval`). Per pair of arms: the paired
difference on the samples both arms have (the means of each on that set, and how many samples each
side dropped, beside it) with Newcombe's interval for binary metrics, cluster t otherwise, and a p-value
(exact McNemar with one pair per cluster, else the cluster sign-flip test, exact up to 16 clusters).
These p-values are exploratory and unadjusted: only the declared predictions' primary endpoints are
adjusted (Holm, in `verdict.py`). Metrics declared with a `by_turn` chart also get the slope of their
mean against turn index. Scorers may add their own records (LC win rate …) and tables.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from psm_eval.records import MetricInfo, Score, ScorerTable, SummaryRecord, UnscoredCount
from psm_eval.score import stats
from psm_eval.score.scorers.base import GroupKey, group_seed, summary_record
from psm_eval.score.scorers.registry import get_scorer, scorer_names

__all__ = ["Sections", "summarize", "BOOT", "per_sample_values"]

BOOT = f"cluster bootstrap ({stats.N_BOOTSTRAP} resamples, percentile)"
WEIGHT = "each sample weighs the same"


@dataclass(frozen=True)
class Sections:
    """What the statistics add to summary.json."""

    records: list[SummaryRecord]
    unscored: list[UnscoredCount]
    tables: list[ScorerTable]


def _key(s: Score) -> GroupKey:
    return (s.task, s.scorer, s.scorer_version, s.metric, s.stratum)


def per_sample_values(scores: Iterable[Score]) -> tuple[dict[str, float], dict[str, int], dict[str, str]]:
    """Each scored sample's mean over its records, how many records it averages, and its cluster."""
    values, clusters = stats.per_sample((s.sample_id, s.cluster, s.value) for s in scores)
    return ({i: float(np.mean(v)) for i, v in values.items()}, {i: len(v) for i, v in values.items()},
            clusters)


def _mean_record(key: GroupKey, group: list[Score], kind: str, arm: str, other: str | None) -> SummaryRecord:
    means, counts, clusters = per_sample_values(group)
    ids = sorted(means)
    trials = [counts[i] for i in ids] if kind == "binary" and any(counts[i] > 1 for i in ids) else None
    iv = stats.mean_interval([means[i] for i in ids], [clusters[i] for i in ids], kind=kind,  # type: ignore[arg-type]
                             trials=trials)
    unscored = sum(1 for s in group if s.value is None)
    return summary_record("mean", key, iv, f"mean of per-sample means ({WEIGHT}); {iv.method}",
                          arm=None if other else arm, arm_pair=(arm, other) if other else None, n_unscored=unscored)


def _means(key: GroupKey, scores: list[Score], kind: str) -> list[SummaryRecord]:
    by_arm: dict[tuple[str, str | None], list[Score]] = defaultdict(list)
    for s in scores:
        by_arm[(s.arm, s.other_arm)].append(s)
    return [_mean_record(key, group, kind, arm, other) for (arm, other), group in by_arm.items()]


def _difference(key: GroupKey, a: str, b: str, sa: list[Score], sb: list[Score], kind: str) -> SummaryRecord:
    (va, _, ca), (vb, _, cb) = per_sample_values(sa), per_sample_values(sb)
    ids = sorted(va.keys() & vb.keys())
    x, y, cl = [va[i] for i in ids], [vb[i] for i in ids], [ca[i] for i in ids]
    iv = stats.difference_interval(x, y, cl, kind=kind)  # type: ignore[arg-type]
    p, test = stats.difference_test(x, y, cl, kind=kind)  # type: ignore[arg-type]
    dropped = (len(va.keys() - vb.keys()), len(vb.keys() - va.keys()))
    record = summary_record("difference", key, iv, f"paired difference on the samples both arms have ({WEIGHT}); "
                            f"{iv.method}; {test} (exploratory, unadjusted)", arm_pair=(a, b),
                            n_unscored=len((ca.keys() | cb.keys()) - set(ids)), p_value=p)
    return record.model_copy(update={"a_mean": float(np.mean(x)) if ids else None,
                                     "b_mean": float(np.mean(y)) if ids else None, "dropped": dropped})


def _differences(key: GroupKey, scores: list[Score], arms: Sequence[str], kind: str) -> list[SummaryRecord]:
    by_arm: dict[str, list[Score]] = defaultdict(list)
    for s in scores:
        if s.other_arm is None:
            by_arm[s.arm].append(s)
    present = [a for a in arms if a in by_arm] + sorted(set(by_arm) - set(arms))
    return [_difference(key, present[j], present[i], by_arm[present[j]], by_arm[present[i]], kind)
            for i in range(len(present)) for j in range(i + 1, len(present))]


def _slopes(key: GroupKey, scores: list[Score], seed: int) -> list[SummaryRecord]:
    by_arm: dict[str, list[Score]] = defaultdict(list)
    for s in scores:
        if s.turn is not None and s.other_arm is None:
            by_arm[s.arm].append(s)
    out = []
    for arm, group in by_arm.items():
        scored = [s for s in group if s.value is not None]
        iv = stats.bootstrap_slope([s.turn for s in scored], [s.value for s in scored],  # type: ignore[misc]
                                   [s.cluster for s in scored], seed=group_seed(seed, *key, arm, "slope"))
        out.append(summary_record("slope", key, iv, f"OLS slope against turn index; {iv.method or BOOT}", arm=arm,
                                  n_unscored=len(group) - len(scored)))
    return out


def _unscored(scores: Iterable[Score]) -> list[UnscoredCount]:
    counts = Counter((s.task, s.scorer, s.arm, s.unscored) for s in scores if s.value is None)
    return [UnscoredCount(task=t, scorer=sc, arm=a, reason=r, count=n) for (t, sc, a, r), n in sorted(
        counts.items(), key=lambda kv: tuple("" if x is None else str(x) for x in kv[0]))]


def summarize(scores: Sequence[Score], arms: Sequence[str], metrics: Sequence[MetricInfo], *,
              seed: int = 0) -> Sections:
    """The summary's statistics over a run's scores, given the metrics' declarations."""
    trends = {(m.task, m.scorer, m.metric) for m in metrics if m.chart == "by_turn"}
    kinds = {(m.task, m.scorer, m.metric): m.kind for m in metrics}
    groups: dict[GroupKey, list[Score]] = defaultdict(list)
    for s in scores:
        groups[_key(s)].append(s)
    records: list[SummaryRecord] = []
    for key, group in groups.items():
        kind = kinds.get((key[0], key[1], key[3]), "binary" if group[0].binary else "continuous")
        records += _means(key, group, kind) + _differences(key, group, arms, kind)
        if (key[0], key[1], key[3]) in trends:
            records += _slopes(key, group, seed)
    tables: list[ScorerTable] = []
    known = set(scorer_names())
    for (task, scorer), group in _by_task_scorer(scores).items():
        hook = get_scorer(scorer).summarize if scorer in known else None
        for name, items in (hook(group, seed=seed) if hook else {}).items():
            if name == "records":
                records.extend(items)
            else:
                tables.append(ScorerTable(task=task, scorer=scorer, name=name, rows=list(items)))
    return Sections(records=records, unscored=_unscored(scores), tables=tables)


def _by_task_scorer(scores: Iterable[Score]) -> dict[tuple[str, str], list[Score]]:
    out: dict[tuple[str, str], list[Score]] = defaultdict(list)
    for s in scores:
        out[(s.task, s.scorer)].append(s)
    return out
