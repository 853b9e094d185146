"""From score records to the summary's statistics: per-arm means, paired differences, slopes, scorer extras.

Per (task, scorer, metric, stratum, arm): the mean with a cluster-bootstrap CI. Per pair of arms:
the mean paired difference by sample id with its CI and a p-value (exact McNemar for binary
metrics with one reply per sample, a cluster sign-flip permutation test otherwise), Holm-adjusted
across all metrics of that arm pair. Metrics declared with a `by_turn` chart also get the slope of
their mean against turn index. Scorers may add their own records (LC win rate …) and tables.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from psm_eval.records import MetricInfo, Score, ScorerTable, SummaryRecord, UnscoredCount
from psm_eval.score import stats
from psm_eval.score.scorers.base import GroupKey, group_seed, summary_record
from psm_eval.score.scorers.registry import get_scorer, scorer_names

__all__ = ["Sections", "summarize", "BOOT"]

BOOT = f"cluster bootstrap ({stats.N_BOOTSTRAP} resamples, percentile)"


@dataclass(frozen=True)
class Sections:
    """What the statistics add to summary.json."""

    records: list[SummaryRecord]
    unscored: list[UnscoredCount]
    tables: list[ScorerTable]


def _key(s: Score) -> GroupKey:
    return (s.task, s.scorer, s.scorer_version, s.metric, s.stratum)


def _means(key: GroupKey, scores: list[Score], seed: int) -> list[SummaryRecord]:
    by_arm: dict[tuple[str, str | None], list[Score]] = defaultdict(list)
    for s in scores:
        by_arm[(s.arm, s.other_arm)].append(s)
    out = []
    for (arm, other), group in by_arm.items():
        scored = [s for s in group if s.value is not None]
        iv = stats.bootstrap_mean([s.value for s in scored], [s.cluster for s in scored],  # type: ignore[misc]
                                  seed=group_seed(seed, *key, arm, other))
        out.append(summary_record("mean", key, iv, f"mean; {BOOT}", arm=None if other else arm,
                                  arm_pair=(arm, other) if other else None, n_unscored=len(group) - len(scored)))
    return out


def _values(scores: Iterable[Score]) -> tuple[dict[str, list[float]], dict[str, str]]:
    return stats.per_sample((s.sample_id, s.cluster, s.value) for s in scores)


def _difference(key: GroupKey, a: str, b: str, sa: list[Score], sb: list[Score], seed: int) -> SummaryRecord:
    (va, clusters), (vb, clusters_b) = _values(sa), _values(sb)
    ids, diffs = stats.paired_differences(va, vb)
    cl = [clusters[i] for i in ids]
    gseed = group_seed(seed, *key, a, b)
    iv = stats.paired_difference(diffs, cl, seed=gseed)
    single = all(len(va[i]) == 1 and len(vb[i]) == 1 for i in ids)
    if sa and sa[0].binary and single and ids:
        a_only = sum(1 for i in ids if va[i][0] > vb[i][0])
        b_only = sum(1 for i in ids if vb[i][0] > va[i][0])
        p: float | None = stats.mcnemar_exact(a_only, b_only)
        test = "exact McNemar test"
    else:
        p, test = stats.sign_flip_p(diffs, cl, seed=gseed), "cluster sign-flip permutation test"
    return summary_record("difference", key, iv, f"paired difference by sample id; {BOOT}; {test}",
                          arm_pair=(a, b), n_unscored=len((clusters.keys() | clusters_b.keys()) - set(ids)), p_value=p)


def _differences(key: GroupKey, scores: list[Score], arms: Sequence[str], seed: int) -> list[SummaryRecord]:
    by_arm: dict[str, list[Score]] = defaultdict(list)
    for s in scores:
        if s.other_arm is None:
            by_arm[s.arm].append(s)
    present = [a for a in arms if a in by_arm] + sorted(set(by_arm) - set(arms))
    return [_difference(key, present[j], present[i], by_arm[present[j]], by_arm[present[i]], seed)
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
        out.append(summary_record("slope", key, iv, f"OLS slope against turn index; {BOOT}", arm=arm,
                                  n_unscored=len(group) - len(scored)))
    return out


def _holm(records: list[SummaryRecord]) -> list[SummaryRecord]:
    """Holm across every tested metric of the same arm pair."""
    families: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        if r.statistic == "difference" and r.arm_pair is not None:
            families[r.arm_pair].append(i)
    out = list(records)
    for idx in families.values():
        for i, adj in zip(idx, stats.holm([records[i].p_value for i in idx])):
            out[i] = records[i].model_copy(update={"p_holm": adj})
    return out


def _unscored(scores: Iterable[Score]) -> list[UnscoredCount]:
    counts = Counter((s.task, s.scorer, s.arm, s.unscored) for s in scores if s.value is None)
    return [UnscoredCount(task=t, scorer=sc, arm=a, reason=r, count=n) for (t, sc, a, r), n in sorted(
        counts.items(), key=lambda kv: tuple("" if x is None else str(x) for x in kv[0]))]


def summarize(scores: Sequence[Score], arms: Sequence[str], metrics: Sequence[MetricInfo], *,
              seed: int = 0) -> Sections:
    """The summary's statistics over a run's scores, given the metrics' declarations."""
    trends = {(m.task, m.scorer, m.metric) for m in metrics if m.chart == "by_turn"}
    groups: dict[GroupKey, list[Score]] = defaultdict(list)
    for s in scores:
        groups[_key(s)].append(s)
    records: list[SummaryRecord] = []
    for key, group in groups.items():
        records += _means(key, group, seed) + _differences(key, group, arms, seed)
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
    return Sections(records=_holm(records), unscored=_unscored(scores), tables=tables)


def _by_task_scorer(scores: Iterable[Score]) -> dict[tuple[str, str], list[Score]]:
    out: dict[tuple[str, str], list[Score]] = defaultdict(list)
    for s in scores:
        out[(s.task, s.scorer)].append(s)
    return out
