"""The scorer contract: the `Score` record, the stored generations a scorer reads, and the Protocol.

A scorer is one callable: `TaskView → scores`. It reads stored generations only (never the
evaluated models); a judge, or the base model for token ranks, reaches it through the view.
A score is a value or *unscored* with a reason; an unscored record is never a 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from psm_eval.backends.spec import ModelSpec
from psm_eval.data.task import TaskSpec
from psm_eval.types import Sample, Turn

__all__ = [
    "Score",
    "Stratum",
    "JudgeTrace",
    "GenRecord",
    "ArmInfo",
    "TaskView",
    "Scorer",
    "NotApplicable",
    "measured",
    "unscored",
    "failure_reason",
    "for_metrics",
    "breakdowns",
]


@dataclass(frozen=True)
class JudgeTrace:
    """Who judged and exactly what they saw and said."""

    spec: str
    """The judge's model spec (secrets redacted) and renderer."""
    prompt: Mapping[str, Any]
    """The exact prompt sent (text or messages, renderer, template hash)."""
    reply: str | None
    """The judge's raw reply; None when the judge request failed."""
    error: str | None = None
    """Why the judge request failed, when it did."""

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "prompt": dict(self.prompt), "reply": self.reply, "error": self.error}


@dataclass(frozen=True)
class Stratum:
    """A breakdown of a metric: sample metadata `by` = `value` (trait = honesty), or an analysis's own
    (token_position = 3-4). Summaries group by it and never pool across it."""

    by: str
    value: str

    def to_json(self) -> dict[str, str]:
        return {"by": self.by, "value": self.value}


@dataclass(frozen=True)
class Score:
    """One measurement of one reply (or one sample, or one arm pair), or why it could not be made."""

    task: str
    sample_id: str
    arm: str
    metric: str
    """Metric name within its scorer (`acc`, `in_frame`, `shifted` …)."""
    value: float | None
    """The measurement; None exactly when `unscored` gives the reason."""
    unscored: str | None = None
    """Short reason the record has no value (`generation failed`, `judge reply unparseable` …)."""
    turn: int | None = None
    """User-turn index of the reply; None for scores over a whole sample."""
    repeat: int | None = None
    """Repeat index of the reply; None for scores over all repeats."""
    binary: bool = False
    """True when the value is 0/1 (enables McNemar between arms)."""
    other_arm: str | None = None
    """For head-to-head scores (pairwise judge): the arm this one was compared against."""
    stratum: Stratum | None = None
    """A breakdown (trait, token position …); a record without one is the overall measurement."""
    cluster: str | None = None
    """Independent unit for the bootstrap; defaults to the sample id (a paraphrase group, say)."""
    judge: tuple[JudgeTrace, ...] = ()
    """Judge calls behind this score (both orders for a pairwise judgement)."""
    detail: Mapping[str, Any] = field(default_factory=dict)
    """JSON-safe extras: the extracted answer, token ranks, the error message …"""
    scorer: str = ""
    """Filled in by the scoring stage from the registry."""
    scorer_version: str = ""

    def to_json(self, task_version: str) -> dict[str, Any]:
        return {
            "task": self.task, "task_version": task_version, "sample_id": self.sample_id, "arm": self.arm,
            "other_arm": self.other_arm, "turn": self.turn, "repeat": self.repeat,
            "cluster": self.cluster or self.sample_id, "scorer": self.scorer,
            "scorer_version": self.scorer_version, "metric": self.metric, "stratum": self.stratum.to_json() if self.stratum else None,
            "value": self.value, "unscored": self.unscored, "binary": self.binary,
            "judge": [j.to_json() for j in self.judge] or None, "detail": dict(self.detail),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Score":
        """A stored score record back as a Score (task_version is dropped)."""
        judge = tuple(JudgeTrace(j["spec"], j["prompt"], j.get("reply"), j.get("error")) for j in d.get("judge") or ())
        return cls(task=d["task"], sample_id=d["sample_id"], arm=d["arm"], metric=d["metric"], value=d["value"],
                   unscored=d.get("unscored"), turn=d.get("turn"), repeat=d.get("repeat"),
                   binary=bool(d.get("binary")), other_arm=d.get("other_arm"),
                   stratum=Stratum(d["stratum"]["by"], d["stratum"]["value"]) if d.get("stratum") else None,
                   cluster=d.get("cluster"), judge=judge, detail=d.get("detail") or {}, scorer=d["scorer"],
                   scorer_version=d["scorer_version"])


@dataclass(frozen=True)
class GenRecord:
    """One stored generation (a line of generations.jsonl), typed."""

    key: str
    task: str
    sample_id: str
    arm: str
    turn: int
    repeat: int
    kind: str
    status: str
    output: str | None = None
    finish: str | None = None
    logprobs: tuple[tuple[float, bool], ...] | None = None
    continuations: tuple[str, ...] | None = None
    prompt: Mapping[str, Any] | None = None
    error: Mapping[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "GenRecord":
        lp = d.get("logprobs")
        conts = d.get("continuations")
        return cls(key=d["key"], task=d["task"], sample_id=str(d["sample_id"]), arm=d["arm"], turn=int(d["turn"]),
                   repeat=int(d["repeat"]), kind=d["kind"], status=d["status"], output=d.get("output"),
                   finish=d.get("finish"), logprobs=tuple((float(a), bool(b)) for a, b in lp) if lp else None,
                   continuations=tuple(conts) if conts else None, prompt=d.get("prompt"), error=d.get("error"))


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
    records: tuple[GenRecord, ...]
    arms: tuple[ArmInfo, ...]
    judge: Any = None
    """A `psm_eval.score.scorers.judge.Judge`, or None when no judge was given."""
    model_for: Callable[[str], Any] | None = None
    """Arm name → its (cached) backend, for analyses that need an arm's model (token ranks)."""
    directory: Path | None = None
    """The task folder (for task-provided scorer files such as a judge's rubrics)."""

    @property
    def name(self) -> str:
        return self.spec.name

    def by_arm(self, arm: str) -> list[GenRecord]:
        return [r for r in self.records if r.arm == arm]

    def arm_names(self) -> list[str]:
        present = {r.arm for r in self.records}
        return [a.name for a in self.arms if a.name in present]

    def arm(self, name: str) -> ArmInfo:
        return next(a for a in self.arms if a.name == name)

    def question(self, record: GenRecord) -> str:
        """The user message the reply answers."""
        users = [t.content for t in self.samples[record.sample_id].turns if t.role == "user"]
        return users[min(record.turn, len(users) - 1)]

    def dialogue(self, record: GenRecord) -> tuple[Turn, ...] | None:
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


def failure_reason(record: GenRecord) -> str:
    """One line saying why a stored generation has no result."""
    err = record.error or {}
    return f"{err.get('kind') or 'failed'}: {err.get('message') or ''}".strip().rstrip(":")


def measured(record: GenRecord, metric: str, value: float, *, binary: bool = False, **extra: Any) -> Score:
    """A score of one stored generation."""
    return Score(task=record.task, sample_id=record.sample_id, arm=record.arm, metric=metric, value=float(value),
                 turn=record.turn, repeat=record.repeat, binary=binary, **extra)


def unscored(record: GenRecord, metric: str, reason: str, *, binary: bool = False, **extra: Any) -> Score:
    """An unscored record for one stored generation; a failed generation carries its error in `detail`."""
    detail = dict(extra.pop("detail", {}) or {})
    if not record.ok:
        detail.setdefault("error", failure_reason(record))
    return Score(task=record.task, sample_id=record.sample_id, arm=record.arm, metric=metric, value=None,
                 unscored=reason, turn=record.turn, repeat=record.repeat, binary=binary, detail=detail, **extra)


def for_metrics(record: GenRecord, metrics: Sequence[tuple[str, bool]], reason: str) -> list[Score]:
    """The same unscored reason for each (metric, binary) of a scorer."""
    return [unscored(record, m, reason, binary=b) for m, b in metrics]


def breakdowns(scores: Sequence[Score], sample: Sample, keys: Sequence[str]) -> list[Score]:
    """`scores` as they are, plus a copy per metadata key in `keys` the sample has a scalar value for."""
    out = list(scores)
    for key in keys:
        value = sample.metadata.get(key)
        if value is not None and not isinstance(value, (list, dict)):
            out += [replace(x, stratum=Stratum(key, str(value))) for x in scores]
    return out
