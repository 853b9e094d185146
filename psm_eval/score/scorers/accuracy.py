"""Accuracy of generated replies against the sample's references: exact, contains, regex, numeric.

A reply with no extractable answer is *wrong* (0): the model replied. A failed generation, or a
sample without references, is *unscored*. `answer_found` makes the no-answer rate visible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from psm_eval.score.scorers.base import GenerationRecord, Score, TaskView, for_metrics, measured
from psm_eval.score.scorers.registry import metric, register
from psm_eval.score.scorers.text import compile_regex, contains_phrase, first_line, normalize, numbers

__all__ = ["ReplyArgs", "ContainsArgs", "RegexArgs", "NumericArgs"]

CORRECT = ("correct", True)
FOUND = ("answer_found", True)


class ReplyArgs(BaseModel):
    """Arguments every accuracy scorer takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    first_line: bool = False
    """Score only the first non-empty line of the reply (base models run on past their turn)."""


class ContainsArgs(ReplyArgs):
    normalize: bool = True
    """Compare SQuAD-normalised text (case, punctuation, articles); False: case-sensitive raw text."""


class RegexArgs(ReplyArgs):
    pattern: str
    """Regular expression that extracts the answer from the reply."""
    group: int | str = 1
    """Capture group holding the answer (falls back to the whole match when the pattern has none)."""
    ignore_case: bool = True
    take: Literal["first", "last"] = "first"
    """Which match counts when there are several."""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        compile_regex(v)
        return v


class NumericArgs(ReplyArgs):
    take: Literal["first", "last"] = "last"
    """Which number in the reply is the answer."""
    tolerance: float = Field(1e-6, ge=0)
    """Absolute tolerance."""
    rel_tolerance: float = Field(0.0, ge=0)
    """Relative tolerance (of the reference)."""
    words: bool = True
    """Also read number words (zero … twenty)."""


Check = Callable[[str, tuple[str, ...]], tuple[float | None, dict, bool]]
"""(reply, references) → (value, detail, answer found); value None: unscored, `detail["reason"]` says why."""


def _score_replies(view: TaskView, args: ReplyArgs, check: Check,
                   metrics: tuple[tuple[str, bool], ...]) -> Iterable[Score]:
    for r in view.records:
        yield from _score_one(view, r, args, check, metrics)


def _score_one(view: TaskView, r: GenerationRecord, args: ReplyArgs, check: Check,
               metrics: tuple[tuple[str, bool], ...]) -> list[Score]:
    if not r.ok or r.output is None:
        return for_metrics(r, metrics, "generation failed")
    refs = view.samples[r.sample_id].references
    if not refs:
        return for_metrics(r, metrics, "sample has no references")
    reply = first_line(r.output) if args.first_line else r.output
    value, detail, found = check(reply, refs)
    if value is None:
        return for_metrics(r, metrics, detail["reason"])
    out = [measured(r, "correct", value, binary=True, detail=detail)]
    if FOUND in metrics:
        out.append(measured(r, "answer_found", float(found), binary=True))
    return out


CORRECT_INFO = metric("correct", "accuracy", "higher", "binary", "the reply matches a reference answer", headline=True)
FOUND_INFO = metric("answer_found", "reply signals", "higher", "binary", "an answer could be extracted from the reply")


@register("exact_match", version="1", args=ContainsArgs, metrics=(CORRECT_INFO,))
def exact_match(args: ContainsArgs):
    """The reply equals a reference (normalised by default)."""
    norm = normalize if args.normalize else (lambda s: s.strip())

    def check(reply: str, refs: tuple[str, ...]) -> tuple[float | None, dict, bool]:
        return float(any(norm(reply) == norm(x) for x in refs)), {}, True

    return lambda view: _score_replies(view, args, check, (CORRECT,))


@register("contains", version="1", args=ContainsArgs, metrics=(CORRECT_INFO,))
def contains(args: ContainsArgs):
    """A reference occurs in the reply as whole words (normalised by default)."""

    def check(reply: str, refs: tuple[str, ...]) -> tuple[float | None, dict, bool]:
        hit = any(contains_phrase(reply, x) if args.normalize else x in reply for x in refs)
        return float(hit), {}, True

    return lambda view: _score_replies(view, args, check, (CORRECT,))


@register("regex", version="1", args=RegexArgs, metrics=(CORRECT_INFO, FOUND_INFO))
def regex(args: RegexArgs):
    """The answer extracted by a regular expression equals a reference (normalised)."""
    rx = compile_regex(args.pattern, args.ignore_case)
    group = args.group if rx.groups else 0

    def check(reply: str, refs: tuple[str, ...]) -> tuple[float | None, dict, bool]:
        matches = list(rx.finditer(reply))
        if not matches:
            return 0.0, {"extracted": None}, False
        m = matches[0] if args.take == "first" else matches[-1]
        got = m.group(group) or ""
        return float(any(normalize(got) == normalize(x) for x in refs)), {"extracted": got}, True

    return lambda view: _score_replies(view, args, check, (CORRECT, FOUND))


@register("numeric", version="1", args=NumericArgs, metrics=(CORRECT_INFO, FOUND_INFO))
def numeric(args: NumericArgs):
    """The number extracted from the reply equals a numeric reference within tolerance."""

    def check(reply: str, refs: tuple[str, ...]) -> tuple[float | None, dict, bool]:
        targets = [n for x in refs for n in numbers(x, words=True)[:1]]
        if not targets:
            return None, {"reason": "reference is not a number"}, False
        found = numbers(reply, words=args.words)
        if not found:
            return 0.0, {"extracted": None}, False
        got = found[0] if args.take == "first" else found[-1]
        hit = any(abs(got - t) <= max(args.tolerance, args.rel_tolerance * abs(t)) for t in targets)
        return float(hit), {"extracted": got}, True

    return lambda view: _score_replies(view, args, check, (CORRECT, FOUND))
