"""Paraphrase consistency: the same question asked in k phrasings (metadata `group`) — same answer?

Each reply scores the share of its group's other *answered* replies (same arm, turn and repeat) that give
the same answer, and `answer_found` says whether it gave one: a reply with no answer (off-topic, evasive,
empty) is unscored for agreement, never "the same as" another reply without one — else an arm that never
answers would look perfectly consistent. How two replies are compared, per group: a judge for every pair
(`judge: true`); the answer extracted by `pattern` or `vocabulary`; for metadata `answer_type: yes_no` the
yes/no stance (`stance.py`: answer words, negation, the question's own words); for `answer_type: open`
the judge's verdict on equivalence (unscored without a judge); otherwise the normalised reply.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from itertools import combinations
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from psm_eval.score.scorers.base import GenerationRecord, JudgeTrace, Score, TaskView, breakdowns, measured, unscored
from psm_eval.score.scorers.judge import parse_verdict
from psm_eval.score.scorers.registry import metric, register
from psm_eval.score.scorers.stance import stance
from psm_eval.score.scorers.text import compile_regex, contains_phrase, first_line, normalize

__all__ = ["ParaphraseArgs", "extract_answer", "stance"]

Pair = tuple[str, str]


class ParaphraseArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    pattern: str | None = None
    """Regex whose group 1 (or whole match) is the answer."""
    vocabulary: list[str] | Literal["references"] | None = None
    """Candidate answers: the first found in the reply (whole words) is the answer; `references` = every
    reference of the task."""
    first_line: bool = False
    """Compare only the first non-empty line of each reply."""
    judge: bool = False
    """Ask the judge about every pair, whatever the answer type."""
    by: list[str] = ["answer_type"]
    """Sample metadata keys to break the metric down by (when a sample has them)."""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            compile_regex(v)
        return v


def extract_answer(reply: str, args: ParaphraseArgs, vocabulary: list[str], answer_type: object = None,
                   question: str | None = None) -> str | None:
    """The reply's answer, normalised; None when it gives none."""
    text = first_line(reply) if args.first_line else reply
    if args.pattern is not None:
        m = compile_regex(args.pattern, True).search(text)
        return (normalize(m.group(1) if m.re.groups else m.group()) or None) if m else None
    if vocabulary:
        return next((normalize(v) for v in vocabulary if contains_phrase(text, v)), None)
    if answer_type == "yes_no":
        return stance(text, question)
    return normalize(text) or None


def _groups(view: TaskView) -> dict[tuple, list[GenerationRecord]]:
    groups: dict[tuple, list[GenerationRecord]] = defaultdict(list)
    for r in view.records:
        g = view.samples[r.sample_id].metadata.get("group")
        groups[(str(g) if g is not None else f"sample:{r.sample_id}", r.arm, r.turn, r.repeat)].append(r)
    return groups


def _mode(view: TaskView, members: list[GenerationRecord], args: ParaphraseArgs) -> str:
    """`judge`, `extract` or `needs_judge` for one group."""
    open_answer = view.samples[members[0].sample_id].metadata.get("answer_type") == "open"
    if args.judge or (open_answer and args.pattern is None and not args.vocabulary):
        return "judge" if view.judge is not None else "needs_judge"
    return "extract"


def _key(a: GenerationRecord, b: GenerationRecord) -> Pair:
    return (a.key, b.key) if a.key < b.key else (b.key, a.key)


def _agreement(members: list[GenerationRecord], same: dict[Pair, bool | None], group: str,
               traces: dict[Pair, JudgeTrace], mode: str, answered: dict[str, bool] | None) -> Iterable[Score]:
    """`answer_found` (extracted answers only) and `agreement` for each member of one group."""
    for r in members:
        cluster = f"group:{group}"
        has = answered is None or answered.get(r.key, False)
        others = [o for o in members if o is not r and o.ok and (answered is None or answered.get(o.key, False))]
        known = [v for o in others if (v := same.get(_key(r, o))) is not None]
        judged = tuple(traces[_key(r, o)] for o in others if _key(r, o) in traces)
        if answered is not None:
            yield (measured(r, "answer_found", float(has), binary=True, cluster=cluster) if r.ok
                   else unscored(r, "answer_found", "generation failed", binary=True, cluster=cluster))
        if not r.ok:
            yield unscored(r, "agreement", "generation failed", cluster=cluster)
        elif not has:
            yield unscored(r, "agreement", "no answer in this reply", cluster=cluster)
        elif not [o for o in members if o is not r and o.ok]:
            yield unscored(r, "agreement", "no other paraphrase replied", cluster=cluster)
        elif not others:
            yield unscored(r, "agreement", "no other paraphrase was answered", cluster=cluster)
        elif mode == "needs_judge":
            yield unscored(r, "agreement", "open answer needs a judge (--judge)", cluster=cluster)
        elif not known:
            why = ("judge request failed" if judged and all(t.error for t in judged) else
                   "judge found no answer to compare" if judged and all(_none(t) for t in judged)
                   else "judge reply unparseable")
            yield unscored(r, "agreement", why, cluster=cluster, judge=judged, detail=_judged(judged))
        else:
            yield measured(r, "agreement", sum(known) / len(known), cluster=cluster, judge=judged,
                           detail={"compared": len(known), **_judged(judged)})


def _none(t: JudgeTrace) -> bool:
    return t.error is None and parse_verdict(t.reply, ("YES", "NO", "NONE"))[0] == "NONE"


def _judged(traces: tuple[JudgeTrace, ...]) -> dict[str, int]:
    """How many pair verdicts this reply's score rests on, and how many could not be read (judge quality)."""
    if not traces:
        return {}
    bad = sum(1 for t in traces if t.error is None and parse_verdict(t.reply, ("YES", "NO", "NONE"))[0] is None)
    return {"pairs_judged": len(traces), "pairs_unparsed": bad}


@register("paraphrase_consistency", version="3", args=ParaphraseArgs, needs_judge=lambda a: a.judge,
          uses_judge=lambda a: True, metrics=(
              metric("agreement", "persona consistency", "higher", "continuous",
                     "share of the other answered paraphrases answered the same way (replies with an answer only)",
                     headline=True),
              metric("answer_found", "persona consistency", "higher", "binary",
                     "the reply gives an answer to compare (yes/no stance, vocabulary or pattern); the answer rate "
                     "beside agreement")))
def paraphrase_consistency(args: ParaphraseArgs):
    """Agreement of the answers given to paraphrases of one question (metadata `group`), per arm."""

    def score(view: TaskView) -> Iterable[Score]:
        vocab = ([x for s in view.samples.values() for x in s.references] if args.vocabulary == "references"
                 else list(args.vocabulary or []))
        groups = _groups(view)
        modes = {k: _mode(view, m, args) for k, m in groups.items()}
        same: dict[Pair, bool | None] = {}
        found: dict[tuple, dict[str, bool]] = {}
        to_judge: list[tuple[GenerationRecord, GenerationRecord]] = []
        for k, members in groups.items():
            pairs = list(combinations([m for m in members if m.ok], 2))
            if modes[k] == "judge":
                to_judge += pairs
            elif modes[k] == "extract":
                kind = view.samples[members[0].sample_id].metadata.get("answer_type")
                answers = {r.key: extract_answer(r.output or "", args, vocab, kind, view.question(r))
                           for r in members if r.ok}
                found[k] = {key: a is not None for key, a in answers.items()}
                same.update({_key(a, b): answers[a.key] == answers[b.key] for a, b in pairs
                             if answers[a.key] is not None and answers[b.key] is not None})
        traces = _judge_pairs(view, to_judge) if to_judge else {}
        for pair, t in traces.items():
            verdict, _ = parse_verdict(t.reply, ("YES", "NO", "NONE")) if t.error is None else (None, "")
            same[pair] = None if verdict in (None, "NONE") else verdict == "YES"
        for k, members in groups.items():
            for s in _agreement(members, same, k[0], traces, modes[k], found.get(k)):
                yield from breakdowns([s], view.samples[s.sample_id], args.by)

    return score


def _judge_pairs(view: TaskView, pairs: list[tuple[GenerationRecord, GenerationRecord]]) -> dict[Pair, JudgeTrace]:
    prompts = [view.judge.build("equivalence.j2", question_a=view.question(a), answer_a=a.output,
                                question_b=view.question(b), answer_b=b.output) for a, b in pairs]
    return {_key(a, b): t for (a, b), t in zip(pairs, view.judge.ask(prompts))}
