"""Judged helpfulness: MT-Bench-style single-answer rating (1–10) and pairwise comparison of two arms.

The rubric comes from the sample's metadata `category`. A pairwise judgement is asked in both
orders; orders that disagree make a tie. The summary adds a length-controlled win rate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from psm_eval.score import stats
from psm_eval.score.scorers.base import (
    GenerationRecord,
    JudgeTrace,
    Score,
    TaskView,
    group_seed,
    measured,
    summary_record,
    unscored,
)
from psm_eval.score.scorers.judge import parse_rating, parse_verdict
from psm_eval.score.scorers.registry import ScoringError, metric, register
from psm_eval.score.scorers.text import count_tokens
from psm_eval.specs import load_yaml
from psm_eval.types import Turn

__all__ = ["RubricArgs", "PairwiseArgs", "RUBRICS", "split_dialogue"]

GENERAL = ("Your evaluation should consider factors such as the helpfulness, relevance, accuracy, depth, "
           "creativity, and level of detail of the response.")
CORRECTNESS = ("Your evaluation should consider correctness and helpfulness. You will be given a reference answer "
               "and the assistant's answer. Begin your evaluation by comparing the assistant's answer with the "
               "reference answer. Identify and correct any mistakes.")
RUBRICS: dict[str, str] = {
    "default": GENERAL,
    "writing": GENERAL + " Pay particular attention to style, clarity and how well it fits the requested form.",
    "roleplay": GENERAL + " Pay particular attention to staying in the requested role while remaining helpful.",
    "extraction": "Your evaluation should consider whether the response extracts exactly the requested "
                  "information, completely and in the requested format.",
    "stem": GENERAL + " Pay particular attention to factual and scientific accuracy.",
    "humanities": GENERAL + " Pay particular attention to accuracy, balance and depth of reasoning.",
    "math": CORRECTNESS, "reasoning": CORRECTNESS, "coding": CORRECTNESS,
}
PAIR_METRICS = (("win", True), ("tie", True), ("loss", True), ("preference", False))
REFERENCE_CATEGORIES = ("math", "reasoning", "coding")
"""The MT-Bench categories FastChat grades against a reference answer (llm_judge's NEED_REF_CATS)."""


class RubricArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rubrics: dict[str, str] = {}
    """Rubric text per category, added to or replacing the built-in and file rubrics."""
    rubrics_file: str | None = "rubrics.yaml"
    """YAML mapping category → rubric text, relative to the task folder; used when it exists."""
    reference: bool = True
    """Show the judge the sample's reference answer when it has one (`reference_turns[turn]` in
    multi-turn data) and its category is in `reference_categories`."""
    reference_categories: list[str] | None = list(REFERENCE_CATEGORIES)
    """Categories whose replies are judged with the reference: FastChat's MT-Bench shows one for math,
    reasoning and coding only (its NEED_REF_CATS). null: every category that has a reference."""
    compact: bool = False
    """A short prompt (question and answer only, still fenced) for judges with a small context window."""


class PairwiseArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    pairs: list[tuple[str, str]] | None = None
    """Arm pairs [a, b] to compare; default every pair (later arm as a, earlier as b)."""


def split_dialogue(turns: Sequence[Turn]) -> tuple[list[dict[str, str]], str]:
    """(earlier conversation as role/content rows, the last user message)."""
    last = max(i for i, t in enumerate(turns) if t.role == "user")
    history = [{"role": t.role.capitalize(), "content": t.content} for t in turns[:last]]
    return history, turns[last].content


def load_rubrics(view: TaskView, args: RubricArgs) -> dict[str, str]:
    """Built-in rubrics, overridden by the task's rubrics file, overridden by `args.rubrics`."""
    from_file: dict[str, str] = {}
    path = view.directory / args.rubrics_file if view.directory is not None and args.rubrics_file else None
    if path is not None and path.is_file():
        data, _ = load_yaml(path, ScoringError)
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise ScoringError(f"{path}: expected a mapping of category → rubric text")
        from_file = data
    return {k.lower(): v for k, v in {**RUBRICS, **from_file, **args.rubrics}.items()}


def _reference(view: TaskView, r: GenerationRecord) -> str:
    """The reference for this reply: `reference_turns[turn]` in multi-turn data, else the first reference."""
    sample = view.samples[r.sample_id]
    per_turn = sample.metadata.get("reference_turns")
    if isinstance(per_turn, list):
        ref = per_turn[r.turn] if r.turn < len(per_turn) else None
        return ref if isinstance(ref, str) else ""
    return sample.references[0] if sample.references else ""


def _rubric_prompt(view: TaskView, r: GenerationRecord, args: RubricArgs, rubrics: dict[str, str]) -> str | None:
    turns = view.dialogue(r)
    if turns is None:
        return None
    category = str(view.samples[r.sample_id].metadata.get("category") or "default").lower()
    history, question = split_dialogue(turns)
    if args.compact:
        return view.judge.build("rubric_compact.j2", question=question, answer=r.output or "")
    wanted = args.reference_categories
    shown = args.reference and (wanted is None or category in {c.lower() for c in wanted})
    return view.judge.build("rubric.j2", rubric=rubrics.get(category, rubrics["default"]), history=history,
                            question=question, reference=_reference(view, r) if shown else "",
                            answer=r.output or "")


@register("rubric_judge", version="2", args=RubricArgs, needs_judge=lambda a: True, metrics=(
    metric("rating", "helpfulness", "higher", "continuous", "the judge's 1–10 rating of the reply", headline=True),))
def rubric_judge(args: RubricArgs):
    """MT-Bench-style single-answer rating 1–10 by a judge model, with a rubric per sample category."""

    def score(view: TaskView) -> Iterable[Score]:
        rubrics = load_rubrics(view, args)
        todo: list[tuple[GenerationRecord, str]] = []
        for r in view.records:
            if not r.ok:
                yield unscored(r, "rating", "generation failed")
                continue
            prompt = _rubric_prompt(view, r, args, rubrics)
            if prompt is None:
                yield unscored(r, "rating", "earlier turn of the dialogue failed")
            else:
                todo.append((r, prompt))
        for (r, _), trace in zip(todo, view.judge.ask([p for _, p in todo])):
            value, why = parse_rating(trace.reply) if trace.error is None else (None, "judge request failed")
            yield (measured(r, "rating", value, judge=(trace,)) if value is not None
                   else unscored(r, "rating", why, judge=(trace,)))

    return score


def _outcome(first: str, second: str) -> str:
    """Combine verdicts (A/B/C) of order (a, b) and order (b, a) into a's win / loss / tie."""
    one = {"A": "win", "B": "loss", "C": "tie"}[first]
    two = {"B": "win", "A": "loss", "C": "tie"}[second]
    return one if one == two else "tie"


def _pairs(view: TaskView, args: PairwiseArgs) -> list[tuple[str, str]]:
    if args.pairs is not None:
        return [tuple(p) for p in args.pairs]  # type: ignore[misc]
    arms = view.arm_names()
    return [(arms[j], arms[i]) for i in range(len(arms)) for j in range(i + 1, len(arms))]


def _pair_scores(r: GenerationRecord, b: str, traces: Sequence[JudgeTrace], diff: int) -> list[Score]:
    extra: dict[str, Any] = {"other_arm": b, "judge": tuple(traces)}
    verdicts = [parse_verdict(t.reply, ("A", "B", "C")) if t.error is None else (None, "judge request failed")
                for t in traces]
    bad = next((why for v, why in verdicts if v is None), None)
    if bad is not None:
        return [unscored(r, m, bad, binary=bin_, **extra) for m, bin_ in PAIR_METRICS]
    result = _outcome(verdicts[0][0], verdicts[1][0])  # type: ignore[arg-type]
    detail = {"length_diff": diff, "verdicts": [v for v, _ in verdicts]}
    out = [measured(r, m, float(result == m), binary=True, **extra) for m in ("win", "tie", "loss")]
    pref = {"win": 1.0, "tie": 0.5, "loss": 0.0}[result]
    return out + [measured(r, "preference", pref, detail=detail, **extra)]


@register("pairwise_judge", version="1", args=PairwiseArgs, modes=("gold",), needs_judge=lambda a: True,
          summarize=lambda scores, seed: _lc_records(scores, seed), metrics=(
              metric("win", "helpfulness", "higher", "binary", "the judge prefers this arm in both orders"),
              metric("tie", "helpfulness", "neither", "binary", "the judge's orders disagree or say tie"),
              metric("loss", "helpfulness", "lower", "binary", "the judge prefers the other arm in both orders"),
              metric("preference", "helpfulness", "higher", "continuous", "win 1, tie 0.5, loss 0", headline=True),
              metric("lc_win_rate", "helpfulness", "higher", "continuous", "length-controlled win rate")))
def pairwise_judge(args: PairwiseArgs):
    """Judge compares two arms' replies in both orders: win / tie / loss, plus a length-controlled win rate."""

    def score(view: TaskView) -> Iterable[Score]:
        index = {(r.arm, r.sample_id, r.turn, r.repeat): r for r in view.records}
        jobs: list[tuple[GenerationRecord, str, list[str], int]] = []
        for a, b in _pairs(view, args):
            for (arm, sid, turn, rep), ra in index.items():
                rb = index.get((b, sid, turn, rep))
                if arm != a or rb is None:
                    continue
                if not (ra.ok and rb.ok):
                    yield from (unscored(ra, m, "generation failed", binary=x, other_arm=b) for m, x in PAIR_METRICS)
                    continue
                history, q = split_dialogue(view.samples[sid].turns)
                asks = [view.judge.build("pairwise.j2", history=history, question=q, answer_a=x, answer_b=y)
                        for x, y in ((ra.output, rb.output), (rb.output, ra.output))]
                jobs.append((ra, b, asks, count_tokens(ra.output or "") - count_tokens(rb.output or "")))
        traces = view.judge.ask([p for *_, asks, _ in jobs for p in asks])
        for k, (ra, b, _, diff) in enumerate(jobs):
            yield from _pair_scores(ra, b, traces[2 * k:2 * k + 2], diff)

    return score


def _lc_records(scores: Sequence[Score], seed: int) -> dict[str, list]:
    groups: dict[tuple, list[Score]] = defaultdict(list)
    for s in scores:
        if s.metric == "preference" and s.value is not None and s.other_arm:
            groups[(s.task, s.scorer, s.scorer_version, s.arm, s.other_arm)].append(s)
    out = []
    for (task, scorer, version, a, b), group in groups.items():
        key = (task, scorer, version, "lc_win_rate", None)
        iv = stats.lc_win_rate([s.value for s in group], [s.detail["length_diff"] for s in group],  # type: ignore[misc]
                               [s.cluster or s.sample_id for s in group], seed=group_seed(seed, *key, a, b))
        out.append(summary_record("lc_win_rate", key, iv, "logistic regression of preference on tanh(length "
                                 "difference / sd), at zero difference; cluster bootstrap (1000 resamples)",
                                 arm_pair=(a, b)))
    return {"records": out}
