"""The scorer contract: what a scorer reads (stored generation records, through a `TaskView`), what it
returns (`Score` records) and the Protocol.

A scorer is one callable: `TaskView → scores`. It reads stored generations only (never the
evaluated models); a judge, or the base model for token ranks, reaches it through the view.
A score is a value or *unscored* with a reason; an unscored record is never a 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from psm_eval.backends.spec import ModelSpec
from psm_eval.data.task import TaskSpec
from psm_eval.records import GenerationRecord, JudgeTrace, Score, Stratum, SummaryRecord
from psm_eval.score import stats
from psm_eval.score.stats import group_seed
from psm_eval.types import Sample, Turn

__all__ = [
    "Score",
    "Stratum",
    "JudgeTrace",
    "GenerationRecord",
    "ArmInfo",
    "TaskView",
    "Scorer",
    "NotApplicable",
    "measured",
    "unscored",
    "failure_reason",
    "for_metrics",
    "breakdowns",
    "GroupKey",
    "group_seed",
    "summary_record",
]

GroupKey = tuple[str, str, str, str, "Stratum | None"]
"""(task, scorer, scorer version, metric, stratum): one group of scores the summary reports on."""


@dataclass(frozen=True)
class ArmInfo:
    """An arm as the run manifest recorded it."""

    name: str
    model: ModelSpec
    render: str
    system: str | None = None


class NotApplicable(Exception):
    """Raised by a scorer that cannot run on this task or run (recorded as skipped, with the reason)."""


@dataclass(frozen=True)
class TaskView:
    """What a scorer sees of one task in one run: spec, samples, stored generations, arms, resources."""

    spec: TaskSpec
    samples: Mapping[str, Sample]
    records: tuple[GenerationRecord, ...]
    arms: tuple[ArmInfo, ...]
    judge: Any = None
    """A `psm_eval.score.scorers.judge.Judge`, or None when no judge was given."""
    model_for: Callable[[str], Any] | None = None
    """Arm name → its (cached) backend, for analyses that need an arm's model (token ranks)."""
    directory: Path | None = None
    """The task folder (for task-provided scorer files such as a judge's rubrics)."""
    run_dir: Path | None = None
    """The run folder (for what the run stored beside its generations: activations)."""
    notes: list[str] = field(default_factory=list)
    """Lines a scorer adds for the user about this task (a breakdown it could not make …): stored in
    summary.json's `skipped` beside the scorer's name, and printed."""

    @property
    def name(self) -> str:
        return self.spec.name

    def by_arm(self, arm: str) -> list[GenerationRecord]:
        return [r for r in self.records if r.arm == arm]

    def arm_names(self) -> list[str]:
        present = {r.arm for r in self.records}
        return [a.name for a in self.arms if a.name in present]

    def arm(self, name: str) -> ArmInfo:
        return next(a for a in self.arms if a.name == name)

    def question(self, record: GenerationRecord) -> str:
        """The user message the reply answers."""
        users = [t.content for t in self.samples[record.sample_id].turns if t.role == "user"]
        return users[min(record.turn, len(users) - 1)]

    def dialogue(self, record: GenerationRecord) -> tuple[Turn, ...] | None:
        """The dialogue the reply answered (the arm's own earlier replies in rollout mode)."""
        sample = self.samples[record.sample_id]
        if self.spec.mode != "rollout" or self.spec.kind != "generate":
            return sample.turns
        turns = [t for t in sample.turns if t.role == "system"]
        users = [t for t in sample.turns if t.role == "user"]
        earlier = {r.turn: r for r in self.records if r.arm == record.arm and r.sample_id == record.sample_id
                   and r.repeat == record.repeat}
        for j in range(record.turn):
            prev = earlier.get(j)
            if prev is None or not prev.ok or prev.output is None:
                return None
            turns += [users[j], Turn("assistant", prev.output.strip())]
        return (*turns, users[record.turn])


class Scorer(Protocol):
    """Scores every stored generation of one task it applies to."""

    def __call__(self, view: TaskView) -> Iterable[Score]: ...


def failure_reason(record: GenerationRecord) -> str:
    """One line saying why a stored generation has no result."""
    if record.error is None:
        return "failed"
    return f"{record.error.kind}: {record.error.message or ''}".strip().rstrip(":")


def measured(record: GenerationRecord, metric: str, value: float, *, binary: bool = False, **extra: Any) -> Score:
    """A score of one stored generation."""
    return Score(task=record.task, sample_id=record.sample_id, arm=record.arm, metric=metric, value=float(value),
                 turn=record.turn, repeat=record.repeat, binary=binary, **extra)


def unscored(record: GenerationRecord, metric: str, reason: str, *, binary: bool = False, **extra: Any) -> Score:
    """An unscored record for one stored generation; a failed generation carries its error in `detail`."""
    detail = dict(extra.pop("detail", {}) or {})
    if not record.ok:
        detail.setdefault("error", failure_reason(record))
    return Score(task=record.task, sample_id=record.sample_id, arm=record.arm, metric=metric, value=None,
                 unscored=reason, turn=record.turn, repeat=record.repeat, binary=binary, detail=detail, **extra)


def for_metrics(record: GenerationRecord, metrics: Sequence[tuple[str, bool]], reason: str) -> list[Score]:
    """The same unscored reason for each (metric, binary) of a scorer."""
    return [unscored(record, m, reason, binary=b) for m, b in metrics]


def breakdowns(scores: Sequence[Score], sample: Sample, keys: Sequence[str]) -> list[Score]:
    """`scores` as they are, plus a copy per metadata key in `keys` the sample has a scalar value for."""
    out = list(scores)
    for key in keys:
        value = sample.metadata.get(key)
        if value is not None and not isinstance(value, (list, dict)):
            out += [x.model_copy(update={"stratum": Stratum(by=key, value=str(value))}) for x in scores]
    return out


def summary_record(statistic: str, key: GroupKey, iv: stats.Interval, method: str, *, arm: str | None = None,
                   arm_pair: tuple[str, str] | None = None, n_unscored: int = 0,
                   p_value: float | None = None) -> SummaryRecord:
    """A summary record from an interval (scorers use it for their own statistics: LC win rate …)."""
    task, scorer, version, metric, stratum = key
    return SummaryRecord(statistic=statistic, task=task, scorer=scorer, scorer_version=version, metric=metric,
                         stratum=stratum, arm=arm, arm_pair=arm_pair, estimate=iv.estimate, ci_low=iv.ci_low,
                         ci_high=iv.ci_high, n=iv.n, n_clusters=iv.n_clusters, n_unscored=n_unscored,
                         method=method, p_value=p_value)
