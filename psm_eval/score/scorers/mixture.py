"""Persona mixture under sampling: which persona each of k sampled replies comes from, and the entropy.

Each reply gets one class: the first whose regex matches (task-provided classifier), or the judge's
verdict; `other` when none fits. Per reply, one 0/1 metric per class (its mean is the class share);
per prompt, the entropy (bits) of its replies' classes; the summary adds the pooled entropy per arm.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from psm_eval.score import stats
from psm_eval.score.scorers.base import (
    GenerationRecord,
    Score,
    TaskView,
    group_seed,
    measured,
    summary_record,
    unscored,
)
from psm_eval.score.scorers.judge import parse_verdict
from psm_eval.score.scorers.registry import metric, register
from psm_eval.score.scorers.text import compile_regex, first_line

__all__ = ["MixtureArgs", "classify"]


class MixtureArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    classes: dict[str, str] = Field(min_length=1)
    """Persona name → regex (case-insensitive), tried in order; with `judge: true`, name → description."""
    other: str = "other"
    """Class of a reply no regex matches (regex classifier only)."""
    judge: bool = False
    """Let the judge classify each reply among the classes."""
    first_line: bool = False
    target: str | None = "assistant"
    """The class whose share the report's headline shows (the assistant persona)."""

    @model_validator(mode="after")
    def _check(self) -> MixtureArgs:
        if not self.judge:
            for pattern in self.classes.values():
                compile_regex(pattern)
        if self.other in self.classes:
            raise ValueError(f"'other' class name {self.other!r} is also a class")
        return self

    def names(self) -> list[str]:
        return list(self.classes) + ([] if self.judge else [self.other])


def classify(text: str, args: MixtureArgs) -> str:
    """The first class whose regex matches the reply, else `other`."""
    text = first_line(text) if args.first_line else text
    return next((n for n, p in args.classes.items() if compile_regex(p, True).search(text)), args.other)


def _labels(view: TaskView, ok: list[GenerationRecord], args: MixtureArgs) -> list[tuple[str | None, str, tuple]]:
    """(class or None, reason, judge traces) per reply."""
    if not args.judge:
        return [(classify(r.output or "", args), "", ()) for r in ok]
    classes = [{"name": n, "description": d} for n, d in args.classes.items()]
    prompts = [view.judge.build("classify.j2", classes=classes, answer=r.output, question=view.question(r))
               for r in ok]
    out = []
    for t in view.judge.ask(prompts):
        v, why = parse_verdict(t.reply, list(args.classes)) if t.error is None else (None, "judge request failed")
        out.append((v, why, (t,)))
    return out


def _entropies(labelled: list[tuple[GenerationRecord, str]]) -> Iterable[Score]:
    per_prompt: dict[tuple[str, str, int], list[str]] = defaultdict(list)
    first: dict[tuple[str, str, int], GenerationRecord] = {}
    for r, label in labelled:
        per_prompt[(r.arm, r.sample_id, r.turn)].append(label)
        first.setdefault((r.arm, r.sample_id, r.turn), r)
    for key, labels in per_prompt.items():
        r = first[key]
        yield Score(task=r.task, sample_id=r.sample_id, arm=r.arm, metric="entropy", turn=r.turn, repeat=None,
                    value=stats.entropy_bits(list(Counter(labels).values())), detail={"k": len(labels)})


def _declare(args: MixtureArgs) -> tuple:
    shares = tuple(metric(n, "persona consistency", "neither", "binary", f"share of replies in the {n} persona",
                          headline=n == args.target, chart="shares") for n in args.names())
    return shares + (metric("entropy", "persona consistency", "neither", "continuous",
                            "entropy (bits) of one prompt's sampled replies' personas"),
                     metric("pooled_entropy", "persona consistency", "neither", "continuous",
                            "entropy (bits) of the arm's pooled persona shares"))


@register("persona_mixture", version="1", args=MixtureArgs, needs_judge=lambda a: a.judge,
          summarize=lambda scores, seed: _pooled_entropy(scores, seed), metrics=_declare)
def persona_mixture(args: MixtureArgs):
    """Share of sampled replies in each persona class, per-prompt and pooled entropy of the mixture."""
    names = args.names()

    def score(view: TaskView) -> Iterable[Score]:
        ok = [r for r in view.records if r.ok]
        for r in view.records:
            if not r.ok:
                yield from (unscored(r, n, "generation failed", binary=True) for n in names)
        labelled = []
        for r, (label, why, traces) in zip(ok, _labels(view, ok, args)):
            if label is None:
                yield from (unscored(r, n, why, binary=True, judge=traces) for n in names)
                continue
            labelled.append((r, label))
            yield from (measured(r, n, float(label == n), binary=True, judge=traces) for n in names)
        yield from _entropies(labelled)

    return score


def _pooled_entropy(scores: Sequence[Score], seed: int) -> dict[str, list]:
    rows: dict[tuple, dict[tuple, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for s in scores:
        if s.metric != "entropy" and s.value is not None and s.repeat is not None:
            rows[(s.task, s.scorer, s.scorer_version, s.arm)][(s.sample_id, s.turn, s.repeat)][s.metric] = s.value
    out = []
    for (task, scorer, version, arm), replies in rows.items():
        names = sorted({n for r in replies.values() for n in r})
        matrix = np.array([[r.get(n, 0.0) for n in names] for r in replies.values()])
        key = (task, scorer, version, "pooled_entropy", None)
        iv = stats.bootstrap_pooled(matrix, [sid for sid, _, _ in replies], stats.entropy_rows,
                                    seed=group_seed(seed, *key, arm))
        out.append(summary_record("pooled_entropy", key, iv, "entropy (bits) of the arm's pooled class shares; "
                                 "cluster bootstrap", arm=arm))
    return {"records": out}
