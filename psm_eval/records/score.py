"""`scores.jsonl`: one measurement of one reply (or sample, or arm pair) per line, or why it has none."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator, model_validator

from psm_eval.records.base import Record

__all__ = ["SCORES", "Stratum", "JudgeTrace", "Score"]

SCORES = "scores.jsonl"


class Stratum(Record):
    """A breakdown of a metric: sample metadata `by` = `value` (trait = honesty), or an analysis's own
    (token_position = 3-4). Summaries group by it and never pool across it."""

    by: str
    value: str

    def __str__(self) -> str:
        # the canonical text form: report labels, and part of the seed of the stratum's bootstrap
        return f"{self.by}={self.value}"


class JudgeTrace(Record):
    """Who judged and exactly what they saw and said."""

    spec: str
    """The judge's model spec (secrets redacted) and renderer."""
    prompt: dict[str, Any]
    """The exact prompt sent (text or messages, renderer, template hash)."""
    reply: str | None
    """The judge's raw reply; None when the judge request failed."""
    error: str | None = None
    """Why the judge request failed, when it did."""


class Score(Record):
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
    """True when the value is 0/1."""
    other_arm: str | None = None
    """For head-to-head scores (pairwise judge, token shift): the arm this one was compared against."""
    stratum: Stratum | None = None
    """A breakdown (trait, token position …); a record without one is the overall measurement."""
    cluster: str = ""
    """Independent unit for intervals and tests; the sample id unless the scorer or task says otherwise."""
    judge: tuple[JudgeTrace, ...] = ()
    """Judge calls behind this score (both orders for a pairwise judgement)."""
    detail: dict[str, Any] = {}
    """JSON-safe extras: the extracted answer, token ranks, the error message …"""
    scorer: str = ""
    """Filled in by the scoring stage from the registry."""
    scorer_version: str = ""
    task_version: str = ""
    """Filled in by the scoring stage from the run manifest."""

    @field_validator("judge", mode="before")
    @classmethod
    def _no_judge(cls, v: Any) -> Any:
        return () if v is None else v

    @model_validator(mode="after")
    def _consistent(self) -> Score:
        if (self.value is None) == (self.unscored is None):
            raise ValueError("exactly one of 'value' and 'unscored' is set")
        if not self.cluster:
            object.__setattr__(self, "cluster", self.sample_id)
        return self
