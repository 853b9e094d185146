"""Token distribution shift (URIAL, Lin et al. 2023): how far post-training moved each reply token.

For every token of a post-trained arm's reply: its rank under the base arm's model, given the same
dialogue rendered by the base arm's renderer. Rank 1 is *unshifted*, 2–3 *marginal*, above 3
*shifted*. Per reply: the three shares, overall and by token position; the summary adds the most
frequently shifted tokens. Scores are head-to-head records (arm vs `other_arm` = the base arm).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from psm_eval.errors import PsmError
from psm_eval.render import make_renderer
from psm_eval.score.scorers.base import GenerationRecord, NotApplicable, Score, Stratum, TaskView, measured, unscored
from psm_eval.score.scorers.registry import metric, register
from psm_eval.types import Turn

__all__ = ["ShiftArgs", "shift_class", "position_bucket", "TOP_TOKENS"]

CLASSES = ("unshifted", "marginal", "shifted")
BUCKETS = ((1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (17, None))
TOP_TOKENS = 20


class ShiftArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    base_arm: str | None = None
    """The base arm (default: the first arm rendered by a transcript, else the first arm)."""
    arms: list[str] | None = None
    """Post-trained arms to analyse (default: every other arm)."""


def shift_class(rank: int) -> str:
    return "unshifted" if rank == 1 else "marginal" if rank <= 3 else "shifted"


def position_bucket(position: int) -> str:
    """1-based token position → its bucket label (`1`, `3-4`, `17+`)."""
    for low, high in BUCKETS:
        if position >= low and (high is None or position <= high):
            return f"{low}" if low == high else f"{low}+" if high is None else f"{low}-{high}"
    raise ValueError(position)


def _base(view: TaskView, args: ShiftArgs) -> str:
    names = view.arm_names()
    if not names:
        raise NotApplicable("no generations for this task")
    if args.base_arm is not None:
        if args.base_arm not in [a.name for a in view.arms]:
            raise NotApplicable(f"base arm '{args.base_arm}' is not in this run")
        return args.base_arm
    return next((a.name for a in view.arms if a.render.startswith("transcript") and a.name in names), names[0])


def _shares(r: GenerationRecord, base: str, ranks: Sequence[int], stratum: Stratum | None, detail: dict) -> list[Score]:
    counts = Counter(shift_class(x) for x in ranks)
    return [measured(r, c, counts[c] / len(ranks), other_arm=base, stratum=stratum,
                     detail=detail if c == "shifted" else {}) for c in CLASSES]


def _reply_scores(r: GenerationRecord, base: str, tokens: list[str], ranks: list[int]) -> list[Score]:
    out = _shares(r, base, ranks, None, {"tokens": tokens, "ranks": ranks})
    by_bucket: dict[str, list[int]] = defaultdict(list)
    for i, rank in enumerate(ranks, start=1):
        by_bucket[position_bucket(i)].append(rank)
    for label, group in by_bucket.items():
        out += _shares(r, base, group, Stratum(by="token_position", value=label), {})
    return out


def _context(view: TaskView, r: GenerationRecord, base: str, info: Any) -> tuple[str, str] | str:
    """(base prompt text, continuation) or the reason there is none."""
    turns = view.dialogue(r)
    if turns is None:
        return "earlier turn of the dialogue failed"
    arm = view.arm(base)
    if arm.system is not None and not any(t.role == "system" for t in turns):
        turns = (Turn("system", arm.system), *turns)
    try:
        prompt = make_renderer(arm.render).render(turns, info)
    except PsmError as exc:
        return f"base rendering failed: {exc}"
    if prompt.text is None:
        return "the base arm's prompt is not text"
    return prompt.text, prompt.answer_prefix + (r.output or "").strip()


@register("token_shift", version="1", args=ShiftArgs, summarize=lambda scores, seed: _top_tokens(scores), metrics=tuple(
    metric(c, "token shift", "neither", "continuous", f"share of reply tokens {c} under the base model",
           chart="by_stratum", chart_by="token_position") for c in ("unshifted", "marginal", "shifted")))
def token_shift(args: ShiftArgs):
    """Rank of each post-trained reply token under the base model: unshifted / marginal / shifted shares."""

    def score(view: TaskView) -> Iterable[Score]:
        base = _base(view, args)
        arms = args.arms or [a for a in view.arm_names() if a != base]
        if view.model_for is None:
            raise NotApplicable("no access to the base arm's model")
        ranker = _ranker(view, base)
        for r in (r for r in view.records if r.arm in arms):
            if not r.ok or not (r.output or "").strip():
                yield from (unscored(r, c, "generation failed" if not r.ok else "empty reply", other_arm=base)
                            for c in CLASSES)
                continue
            ctx = _context(view, r, base, ranker.info)
            result = ranker.model.ranks(*ctx) if isinstance(ctx, tuple) else None
            if result is None or not result.ok or not result.ranks:
                why = ctx if isinstance(ctx, str) else f"token ranks failed: {result.error_kind if result else ''}"
                yield from (unscored(r, c, why, other_arm=base) for c in CLASSES)
                continue
            yield from _reply_scores(r, base, [t.token for t in result.ranks], [t.rank for t in result.ranks])

    return score


class _Ranker:
    def __init__(self, backend: Any):
        from psm_eval.backends.ranks import rank_model

        self.info = backend.info
        self.model = rank_model(backend)


def _ranker(view: TaskView, base: str) -> _Ranker:
    try:
        return _Ranker(view.model_for(base))  # type: ignore[misc]
    except PsmError as exc:
        raise NotApplicable(str(exc)) from None


def _top_tokens(scores: Sequence[Score]) -> dict[str, list]:
    shifted: dict[tuple, Counter] = defaultdict(Counter)
    seen: dict[tuple, Counter] = defaultdict(Counter)
    for s in scores:
        if s.metric == "shifted" and s.stratum is None and s.value is not None:
            key = (s.task, s.arm, s.other_arm)
            for tok, rank in zip(s.detail.get("tokens", []), s.detail.get("ranks", [])):
                seen[key][tok] += 1
                if rank > 3:
                    shifted[key][tok] += 1
    rows = []
    for (task, arm, base), counts in shifted.items():
        rows += [{"task": task, "arm": arm, "base_arm": base, "token": tok, "shifted": n,
                  "occurrences": seen[(task, arm, base)][tok]} for tok, n in counts.most_common(TOP_TOKENS)]
    return {"shifted_tokens": rows}
