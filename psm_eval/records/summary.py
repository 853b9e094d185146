"""`summary.json`: every number of a scored run with its interval, the metrics' declarations, and what
could not be scored."""

from __future__ import annotations

from typing import Any, Literal

from psm_eval.records.base import SCHEMA_VERSION, Record
from psm_eval.records.predictions import PsmBlock
from psm_eval.records.score import Stratum

__all__ = ["SUMMARY", "Family", "Direction", "Kind", "Chart", "MetricInfo", "SummaryRecord", "UnscoredCount",
           "SkippedScorer", "ScorerRun", "ScorerTable", "JudgeQuality", "Summary"]

SUMMARY = "summary.json"
Family = Literal["accuracy", "helpfulness", "persona consistency", "self-report", "token shift", "reply signals",
                 "activation space"]
Direction = Literal["higher", "lower", "neither"]
Kind = Literal["binary", "continuous", "count"]
Chart = Literal["by_turn", "by_stratum", "shares"]


class MetricInfo(Record):
    """What a scorer declares about one of its metrics; reports and the gate read only this."""

    task: str = ""
    scorer: str = ""
    scorer_version: str = ""
    metric: str
    family: Family
    """Which question the metric answers: accuracy, helpfulness, persona consistency, …"""
    direction: Direction
    """Which way is better; `neither` for descriptive metrics (never gated, never coloured)."""
    kind: Kind
    """binary (0/1), continuous, or count — picks the interval and the test."""
    headline: bool = False
    """Shown in the report's headline for its family."""
    chart: Chart | None = None
    """`by_turn` (mean per user turn), `by_stratum` (mean per value of `chart_by`), `shares` (the
    scorer's `shares` metrics side by side), or no chart."""
    chart_by: str | None = None
    """The stratum key a `by_stratum` chart runs along."""
    description: str = ""
    """One line: what the metric measures."""
    experimental: bool = False
    """Below its validity bar on the planted cases (`psm-eval scorers validate`, docs/scorers.md), or not yet
    validated: reports mark it, and it should not be read as a finding on its own."""


class SummaryRecord(Record):
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
    """How the estimate, interval and test were computed, in words."""
    p_value: float | None = None
    """Unadjusted two-sided p-value: exploratory, except where a declared prediction uses it."""
    p_holm: float | None = None
    """Holm-adjusted p-value across the declared primary endpoints (set only on those)."""
    ci_level: float = 0.95
    a_mean: float | None = None
    """Differences: arm_pair[0]'s mean on the samples both arms have (the difference's own sample set)."""
    b_mean: float | None = None
    dropped: tuple[int, int] | None = None
    """Differences: samples of arm_pair[0] and of arm_pair[1] scored only by that arm, left out."""


class UnscoredCount(Record):
    task: str
    scorer: str
    arm: str
    reason: str | None
    count: int


class SkippedScorer(Record):
    """A (task, scorer) that did not run, and why."""

    task: str
    scorer: str
    reason: str


class ScorerRun(Record):
    """A (task, scorer) that ran, with its version and arguments."""

    task: str
    scorer: str
    scorer_version: str
    args: dict[str, Any]


class ScorerTable(Record):
    """A table a scorer adds to the summary (e.g. the tokens post-training shifts most)."""

    task: str
    scorer: str
    name: str
    rows: list[dict[str, Any]]


class JudgeQuality(Record):
    """What a judge's own replies say about how far its verdicts on one (task, scorer) can be trusted."""

    task: str
    scorer: str
    judge: str
    """The judge's model spec (redacted) and renderer."""
    unit: str
    """What one judged item is: `reply`, `pair of replies` (both orders), `paraphrase pair`."""
    judged: int
    """Items sent to the judge."""
    request_failures: int
    """Items left unscored because a judge request failed."""
    parse_failures: int
    """Items left unscored because the judge's reply could not be read (no verdict, two, out of range)."""
    parse_failure_rate: float | None
    """parse_failures / (judged − request_failures); None when nothing came back."""
    swap_pairs: int | None = None
    """Pairwise: comparisons whose verdicts were read in both orders."""
    position_agreement: float | None = None
    """Pairwise: share of those whose two orders agree once the swap is undone (a position-blind judge: 1)."""
    first_position_rate: float | None = None
    """Pairwise: share of decisive verdicts that picked the answer shown first (a position-blind judge: ≈ 0.5)."""
    self_judge_arms: list[str] = []
    """The evaluated arms this judge is (`--allow-self-judge`): it may prefer its own replies."""


class Summary(Record):
    """The whole summary.json."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    run_status: str
    scored_at: str
    judge: str | None
    scorers: list[ScorerRun]
    skipped: list[SkippedScorer]
    metrics: list[MetricInfo]
    records: list[SummaryRecord]
    unscored: list[UnscoredCount]
    tables: list[ScorerTable] = []
    judge_arms: list[str] = []
    """The evaluated arms the judge is (allowed with `--allow-self-judge`): a contestant graded the others."""
    judge_quality: list[JudgeQuality] = []
    """Per judged (task, scorer): parse failures and, for pairwise judgements, position-swap agreement."""
    psm: PsmBlock | None = None
    """The declared PSM predictions and their verdicts (None: the run declares none)."""

    def metric_info(self, task: str, scorer: str, metric: str) -> MetricInfo | None:
        return next((m for m in self.metrics if (m.task, m.scorer, m.metric) == (task, scorer, metric)), None)
