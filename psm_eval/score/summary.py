"""From score records to `summary.json`: typed summary records with CIs, paired differences, tests.

Per (task, scorer, metric, stratum, arm): the mean with a cluster-bootstrap CI. Per pair of arms:
the mean paired difference by sample id with its CI and a p-value (exact McNemar for binary
metrics with one reply per sample, a cluster sign-flip permutation test otherwise), Holm-adjusted
across all metrics of that arm pair. Scorers may add their own records (slopes, LC win rate …).
"""

from __future__ import annotations

import zlib
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

from psm_eval.score import stats
from psm_eval.score.scorers.base import Score, Stratum

__all__ = ["SummaryRecord", "summarize", "from_interval", "group_seed", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
GroupKey = tuple[str, str, str, str, "Stratum | None"]  # task, scorer, version, metric, stratum


@dataclass(frozen=True)
class SummaryRecord:
    """One number of the summary, with its interval and where it came from."""

    statistic: str
    """`mean`, `difference` (arm_pair[0] − arm_pair[1]), `slope`, `lc_win_rate`, `pooled_entropy` …"""
    task: str
    scorer: str
    scorer_version: str
    metric: str
    stratum: Stratum | None
    """The breakdown (metadata key and value, or token position …); None for the overall figure."""
    arm: str | None
    """The arm, for per-arm statistics."""
    arm_pair: tuple[str, str] | None
    """(a, b) for differences and head-to-head statistics."""
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_clusters: int
    n_unscored: int
    method: str
    p_value: float | None = None
    p_holm: float | None = None
    ci_level: float = stats.LEVEL

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["arm_pair"] = list(self.arm_pair) if self.arm_pair else None
        d["stratum"] = self.stratum.to_json() if self.stratum else None
        return d


def group_seed(seed: int, *parts: Any) -> int:
    """A stable per-group seed, so a number does not change when other groups are added."""
    return zlib.crc32("|".join(map(str, (seed, *parts))).encode()) & 0x7FFFFFFF


def from_interval(statistic: str, key: GroupKey, iv: stats.Interval, method: str, *, arm: str | None = None,
                  arm_pair: tuple[str, str] | None = None, n_unscored: int = 0,
                  p_value: float | None = None) -> SummaryRecord:
    task, scorer, version, metric, stratum = key
    return SummaryRecord(statistic=statistic, task=task, scorer=scorer, scorer_version=version, metric=metric,
                         stratum=stratum, arm=arm, arm_pair=arm_pair, estimate=iv.estimate, ci_low=iv.ci_low,
                         ci_high=iv.ci_high, n=iv.n, n_clusters=iv.n_clusters, n_unscored=n_unscored,
                         method=method, p_value=p_value)


def _key(s: Score) -> GroupKey:
    return (s.task, s.scorer, s.scorer_version, s.metric, s.stratum)


def _cluster(s: Score) -> str:
    return s.cluster or s.sample_id


BOOT = f"cluster bootstrap ({stats.N_BOOTSTRAP} resamples, percentile)"


def _means(key: GroupKey, scores: list[Score], seed: int) -> list[SummaryRecord]:
    by_arm: dict[tuple[str, str | None], list[Score]] = defaultdict(list)
    for s in scores:
        by_arm[(s.arm, s.other_arm)].append(s)
    out = []
    for (arm, other), group in by_arm.items():
        scored = [s for s in group if s.value is not None]
        iv = stats.bootstrap_mean([s.value for s in scored], [_cluster(s) for s in scored],  # type: ignore[misc]
                                  seed=group_seed(seed, *key, arm, other))
        out.append(from_interval("mean", key, iv, f"mean; {BOOT}", arm=None if other else arm,
                                 arm_pair=(arm, other) if other else None, n_unscored=len(group) - len(scored)))
    return out


def _values(scores: Iterable[Score]) -> tuple[dict[str, list[float]], dict[str, str]]:
    return stats.per_sample((s.sample_id, _cluster(s), s.value) for s in scores)


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
        p, test = stats.mcnemar_exact(a_only, b_only), "exact McNemar test"
    else:
        p, test = stats.sign_flip_p(diffs, cl, seed=gseed), "cluster sign-flip permutation test"
    return from_interval("difference", key, iv, f"paired difference by sample id; {BOOT}; {test}",
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
                                   [_cluster(s) for s in scored], seed=group_seed(seed, *key, arm, "slope"))
        out.append(from_interval("slope", key, iv, f"OLS slope against turn index; {BOOT}", arm=arm,
                                 n_unscored=len(group) - len(scored)))
    return out


def _holm(records: list[SummaryRecord]) -> list[SummaryRecord]:
    """Holm across every tested metric of the same arm pair."""
    from dataclasses import replace

    families: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        if r.statistic == "difference" and r.arm_pair is not None:
            families[r.arm_pair].append(i)
    out = list(records)
    for idx in families.values():
        for i, adj in zip(idx, stats.holm([records[i].p_value for i in idx])):
            out[i] = replace(records[i], p_holm=adj)
    return out


def _unscored(scores: Iterable[Score]) -> list[dict[str, Any]]:
    counts = Counter((s.task, s.scorer, s.arm, s.unscored) for s in scores if s.value is None)
    return [{"task": t, "scorer": sc, "arm": a, "reason": r, "count": n} for (t, sc, a, r), n in sorted(counts.items())]


def summarize(scores: Sequence[Score], arms: Sequence[str], *, seed: int = 0) -> dict[str, Any]:
    """The summary sections: `records` (typed SummaryRecords), `unscored` counts, and scorer extras."""
    from psm_eval.score.scorers.registry import get_scorer, scorer_names

    groups: dict[GroupKey, list[Score]] = defaultdict(list)
    for s in scores:
        groups[_key(s)].append(s)
    known = set(scorer_names())
    records: list[SummaryRecord] = []
    for key, group in groups.items():
        records += _means(key, group, seed) + _differences(key, group, arms, seed)
        if key[1] in known and key[3] in get_scorer(key[1]).trends:
            records += _slopes(key, group, seed)
    sections: dict[str, list] = defaultdict(list)
    for (task, scorer), group in _by_task_scorer(scores).items():
        hook = get_scorer(scorer).summarize if scorer in known else None
        for name, items in (hook(group, seed=seed) if hook else {}).items():
            (records if name == "records" else sections[name]).extend(items)
    return {"records": [r.to_json() for r in _holm(records)], "unscored": _unscored(scores), **sections}


def _by_task_scorer(scores: Iterable[Score]) -> dict[tuple[str, str], list[Score]]:
    out: dict[tuple[str, str], list[Score]] = defaultdict(list)
    for s in scores:
        out[(s.task, s.scorer)].append(s)
    return out
