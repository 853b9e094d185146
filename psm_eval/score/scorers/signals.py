"""Judge-free signals for every reply: answered / refused / empty / truncated, length, clean turn end."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, field_validator

from psm_eval.score.scorers.base import GenerationRecord, Score, TaskView, for_metrics, measured, unscored
from psm_eval.score.scorers.registry import metric, register
from psm_eval.score.scorers.text import compile_regex, count_tokens

__all__ = ["SignalArgs", "REFUSAL_PATTERNS", "is_refusal"]

REFUSAL_PATTERNS: tuple[str, ...] = (
    r"\bI(?:'m| am)? ?(?:sorry|afraid)\b.{0,40}\b(?:can(?:no|')t|cannot|unable|won't|will not)\b",
    r"\bI (?:can(?:no|')t|cannot|won't|will not|am unable to|'m unable to|am not able to|'m not able to) "
    r"(?:help|answer|assist|provide|do|comply|share|say|tell)",
    r"\bI (?:must|have to) (?:decline|refuse)\b",
    r"\bas an AI\b.{0,60}\b(?:can(?:no|')t|cannot|unable|don't)\b",
    r"\b(?:I(?:'d| would) rather not (?:say|answer)|not (?:going|here) to answer)\b",
    r"\b(?:figure it out yourself|ask someone else|not my problem)\b",
)
METRICS = (("answered", True), ("refused", True), ("empty", True), ("truncated", True),
           ("length_tokens", False), ("ended_cleanly", True))


class SignalArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    refusal_patterns: list[str] | None = None
    """Replace the default refusal patterns (case-insensitive regular expressions)."""
    extra_refusal_patterns: list[str] = []
    """Add patterns to the defaults."""

    @field_validator("refusal_patterns", "extra_refusal_patterns")
    @classmethod
    def _compile(cls, v: list[str] | None) -> list[str] | None:
        for p in v or []:
            compile_regex(p)
        return v


def is_refusal(text: str, patterns: Iterable[str] = REFUSAL_PATTERNS) -> bool:
    return any(compile_regex(p, ignore_case=True).search(text) for p in patterns)


def _signals(r: GenerationRecord, patterns: list[str]) -> list[Score]:
    if not r.ok or r.output is None:
        return for_metrics(r, METRICS, "generation failed")
    text = r.output.strip()
    empty = not text
    refused = not empty and is_refusal(text, patterns)
    out = [measured(r, "answered", float(not empty and not refused), binary=True),
           measured(r, "refused", float(refused), binary=True),
           measured(r, "empty", float(empty), binary=True)]
    if r.finish is None:
        why = "backend did not report why generation ended"
        out += [unscored(r, "truncated", why, binary=True)]
    else:
        out += [measured(r, "truncated", float(r.finish == "length"), binary=True)]
    out.append(measured(r, "length_tokens", count_tokens(text)))
    if r.finish is None:
        out.append(unscored(r, "ended_cleanly", "backend did not report why generation ended", binary=True))
    else:
        out.append(measured(r, "ended_cleanly", float(r.finish == "stop" and not empty), binary=True))
    return out


@register("reply_signals", version="1", args=SignalArgs, metrics=(
    metric("answered", "reply signals", "higher", "binary", "a non-empty reply that is not a refusal (not a judgement "
           "of helpfulness)"),
    metric("refused", "reply signals", "lower", "binary", "the reply refuses"),
    metric("empty", "reply signals", "lower", "binary", "the reply is empty"),
    metric("truncated", "reply signals", "lower", "binary", "the reply hit max_gen_toks"),
    metric("length_tokens", "reply signals", "neither", "count", "reply length in word tokens"),
    metric("ended_cleanly", "reply signals", "higher", "binary", "the turn ended at a stop sequence")))
def reply_signals(args: SignalArgs):
    """answered / refused / empty / truncated, length in word tokens, and whether the turn ended at a stop."""
    patterns = list(args.refusal_patterns if args.refusal_patterns is not None else REFUSAL_PATTERNS)
    patterns += args.extra_refusal_patterns

    def score(view: TaskView) -> Iterable[Score]:
        for r in view.records:
            yield from _signals(r, patterns)

    return score
