"""`summary.json`: every number of a scored run with its interval, the metrics' declarations, and what
could not be scored."""

from __future__ import annotations

from typing import Any, Literal

from psm_eval.records.base import SCHEMA_VERSION, Record
from psm_eval.records.score import Stratum

__all__ = ["SUMMARY", "Family", "Direction", "Kind", "Chart", "MetricInfo", "SummaryRecord", "UnscoredCount",
           "SkippedScorer", "ScorerRun", "ScorerTable", "Summary"]

SUMMARY = "summary.json"
Family = Literal["accuracy", "helpfulness", "persona consistency", "self-report", "token shift", "reply signals"]
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
    p_holm: float | None = None
    ci_level: float = 0.95


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

    def metric_info(self, task: str, scorer: str, metric: str) -> MetricInfo | None:
        return next((m for m in self.metrics if (m.task, m.scorer, m.metric) == (task, scorer, metric)), None)
