"""Token distribution shift (URIAL, Lin et al. 2023): how far post-training moved each reply token.

For every token of a post-trained arm's reply: its rank under the base model at that position. Rank 1 is
*unshifted*, 2–3 *marginal*, above 3 *shifted*. The base model's context is a named choice, and the name
is part of every metric:

- `aligntds` (default, the paper's quantity): the bare query in AlignTDS's layout — `# Query:` and the
  user's message fenced in ```, then `# Answer:` and an open fence — with no persona.
- `persona`: the dialogue as the base arm itself renders it (its persona template and system prompt).

Per reply: the three shares (overall and by token position), and — where the post-trained arm's model
runs in-process too — the mean KL(P_post || P_base) over the full vocabulary and the overlap of the two
top-10 token sets. The summary adds the pooled ratios (tokens pooled over replies, as the paper reports
them) with cluster-bootstrap intervals, and the most often shifted tokens. Scores are head-to-head
records (arm vs `other_arm` = the base arm).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from psm_eval.errors import PsmError
from psm_eval.records import MetricInfo
from psm_eval.render import make_renderer
from psm_eval.score import stats
from psm_eval.score.scorers.base import (
    GenerationRecord,
    NotApplicable,
    Score,
    Stratum,
    TaskView,
    measured,
    summary_record,
    unscored,
)
from psm_eval.score.scorers.registry import metric, register
from psm_eval.types import Turn

__all__ = ["ShiftArgs", "shift_class", "position_bucket", "aligntds_context", "TOP_TOKENS"]

CLASSES = ("unshifted", "marginal", "shifted")
BUCKETS = ((1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (17, None))
TOP_TOKENS = 20
Context = Literal["aligntds", "persona"]


class ShiftArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    base_arm: str | None = None
    """The base arm (default: the first arm rendered by a transcript, else the first arm)."""
    arms: list[str] | None = None
    """Post-trained arms to analyse (default: every other arm)."""
    context: Context = "aligntds"
    """What the base model sees before the reply: `aligntds` (the bare query, as the paper) or `persona`
    (the base arm's own rendering of the dialogue)."""
    compare: bool = True
    """Also compare the two distributions per position (KL, top-10 overlap) where the post-trained arm's
    model runs in-process (an extra forward pass per reply)."""


def shift_class(rank: int) -> str:
    return "unshifted" if rank == 1 else "marginal" if rank <= 3 else "shifted"


def position_bucket(position: int) -> str:
    """1-based token position → its bucket label (`1`, `3-4`, `17+`)."""
    for low, high in BUCKETS:
        if position >= low and (high is None or position <= high):
            return f"{low}" if low == high else f"{low}+" if high is None else f"{low}-{high}"
    raise ValueError(position)


def aligntds_context(turns: Sequence[Turn]) -> str:
    """The base model's context in AlignTDS's layout: the query fenced under `# Query:`, then `# Answer:`
    and an open fence. Earlier turns of a multi-turn dialogue (the paper's queries are single-turn) go
    inside the query fence as `User:` / `Assistant:` lines; a system message as its first line."""
    last = max(i for i, t in enumerate(turns) if t.role == "user")
    earlier = [f"{t.role.capitalize()}: {t.content}" for t in turns[:last]]
    query = "\n".join([*earlier, f"User: {turns[last].content}"]) if earlier else turns[last].content
    return f"# Query: \n ```{query}``` \n\n \n# Answer: \n ```"


def _names(context: str) -> dict[str, str]:
    return {m: f"{m}_{context}" for m in (*CLASSES, "kl", "top10_overlap")}


def _declare(args: ShiftArgs) -> tuple[MetricInfo, ...]:
    n = _names(args.context)
    where = "the bare query (AlignTDS)" if args.context == "aligntds" else "the base arm's persona rendering"
    shares = tuple(metric(n[c], "token shift", "neither", "continuous",
                          f"share of reply tokens {c} under the base model given {where}", chart="by_stratum",
                          chart_by="token_position") for c in CLASSES)
    return shares + (
        metric(n["kl"], "token shift", "neither", "continuous",
               f"mean KL(post-trained ‖ base) per token position, nats, base given {where}"),
        metric(n["top10_overlap"], "token shift", "neither", "continuous",
               f"mean Jaccard overlap of the two models' top-10 tokens per position, base given {where}"),
        *(metric(f"pooled_{n[c]}", "token shift", "neither", "continuous",
                 f"{c} tokens over all reply tokens of the arm (pooled, as the paper reports it)")
          for c in CLASSES))


def _base(view: TaskView, args: ShiftArgs) -> str:
    names = view.arm_names()
    if not names:
        raise NotApplicable("no generations for this task")
    if args.base_arm is not None:
        if args.base_arm not in [a.name for a in view.arms]:
            raise NotApplicable(f"base arm '{args.base_arm}' is not in this run")
        return args.base_arm
    return next((a.name for a in view.arms if a.render.startswith("transcript") and a.name in names), names[0])


def _context(view: TaskView, r: GenerationRecord, base: str, info: Any, context: Context) -> tuple[str, str] | str:
    """(base context text, continuation) or the reason there is none."""
    turns = view.dialogue(r)
    if turns is None:
        return "earlier turn of the dialogue failed"
    reply = (r.output or "").strip()
    if context == "aligntds":
        return aligntds_context(turns), reply
    arm = view.arm(base)
    if arm.system is not None and not any(t.role == "system" for t in turns):
        turns = (Turn("system", arm.system), *turns)
    try:
        prompt = make_renderer(arm.render).render(turns, info)
    except PsmError as exc:
        return f"base rendering failed: {exc}"
    if prompt.text is None:
        return "the base arm's prompt is not text"
    return prompt.text, prompt.answer_prefix + reply


def _scores(r: GenerationRecord, base: str, names: dict[str, str], ranks: Sequence[Any],
            no_compare: str) -> list[Score]:
    """The shares (and distribution comparisons) of one reply, overall and by token position."""
    out: list[Score] = []
    groups: dict[str | None, list[Any]] = defaultdict(list)
    for i, t in enumerate(ranks, start=1):
        groups[None].append(t)
        groups[position_bucket(i)].append(t)
    for label, group in groups.items():
        stratum = None if label is None else Stratum(by="token_position", value=label)
        counts = Counter(shift_class(t.rank) for t in group)
        sized: dict[str, Any] = {"n_tokens": len(group)}  # the pooled ratios weight each reply by its tokens
        listed = {**sized, "tokens": [t.token for t in group], "ranks": [t.rank for t in group]}
        for c in CLASSES:
            out.append(measured(r, names[c], counts[c] / len(group), other_arm=base, stratum=stratum,
                                detail=listed if label is None and c == "shifted" else sized))
        if group[0].kl is not None:
            out.append(measured(r, names["kl"], float(np.mean([t.kl for t in group])), other_arm=base,
                                stratum=stratum))
            out.append(measured(r, names["top10_overlap"], float(np.mean([t.overlap for t in group])),
                                other_arm=base, stratum=stratum))
        elif label is None:
            out += [unscored(r, names[m], no_compare, other_arm=base) for m in ("kl", "top10_overlap")]
    return out


@register("token_shift", version="2", args=ShiftArgs, metrics=_declare,
          summarize=lambda scores, seed: _summaries(scores, seed))
def token_shift(args: ShiftArgs):
    """Rank of each post-trained reply token under the base model: unshifted / marginal / shifted shares,
    KL and top-10 overlap, under the named base context (`aligntds` or `persona`)."""
    names = _names(args.context)
    per_reply = (*CLASSES, "kl", "top10_overlap")

    def score(view: TaskView) -> Iterable[Score]:
        base = _base(view, args)
        present = view.arm_names()
        arms = [a for a in (args.arms or present) if a != base and a in present]
        if view.model_for is None:
            raise NotApplicable("no access to the base arm's model")
        ranker = _ranker(view, base)
        posts = {arm: _post(view, arm) if args.compare else None for arm in arms}
        for r in (r for r in view.records if r.arm in arms):
            if not r.ok or not (r.output or "").strip():
                why = "generation failed" if not r.ok else "empty reply"
                yield from (unscored(r, names[m], why, other_arm=base) for m in per_reply)
                continue
            ctx = _context(view, r, base, ranker.info, args.context)
            post = posts[r.arm]
            post_context = r.prompt.text if r.prompt is not None else None
            result = None
            if isinstance(ctx, tuple):
                result = ranker.model.ranks(*ctx, post=post if post_context else None, post_context=post_context)
            if result is None or not result.ok or not result.ranks:
                why = ctx if isinstance(ctx, str) else f"token ranks failed: {result.error if result else ''}"
                yield from (unscored(r, names[m], why, other_arm=base) for m in per_reply)
                continue
            why = ("not compared (compare: false)" if not args.compare else result.compare_error
                   or "the post-trained arm's model is not in-process (KL needs both distributions)")
            yield from _scores(r, base, names, result.ranks, why)

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


def _post(view: TaskView, arm: str) -> Any:
    """The post-trained arm's rank model, or None when it does not run in-process (an API arm)."""
    try:
        return _Ranker(view.model_for(arm)).model  # type: ignore[misc]
    except PsmError:
        return None


def _summaries(scores: Sequence[Score], seed: int) -> dict[str, list]:
    return {"records": _pooled(scores), "shifted_tokens": _top_tokens(scores)}


def _pooled(scores: Sequence[Score]) -> list:
    """Per arm and class: the class's tokens over all reply tokens (pooled over replies), with a
    cluster-robust t interval of that ratio (`stats.pooled_share`)."""
    rows: dict[tuple, list[tuple[str, float, float]]] = defaultdict(list)
    for s in scores:
        name = s.metric.split("_", 1)
        if s.stratum is None and s.value is not None and name[0] in CLASSES and s.other_arm is not None:
            n = float(s.detail.get("n_tokens", 0))
            if n > 0:
                rows[(s.task, s.scorer, s.scorer_version, s.metric, s.arm, s.other_arm)].append((s.cluster, s.value, n))

    out = []
    for (task, scorer, version, name, arm, base), items in rows.items():
        key = (task, scorer, version, f"pooled_{name}", None)
        iv = stats.pooled_share([v for _, v, _ in items], [n for _, _, n in items], [cl for cl, _, _ in items])
        out.append(summary_record("pooled", key, iv, "tokens of the class over all reply tokens, pooled over "
                                  f"replies; {iv.method}", arm_pair=(arm, base)))
    return out


def _top_tokens(scores: Sequence[Score]) -> list[dict[str, Any]]:
    shifted: dict[tuple, Counter] = defaultdict(Counter)
    seen: dict[tuple, Counter] = defaultdict(Counter)
    for s in scores:
        if s.metric.startswith("shifted_") and s.stratum is None and s.value is not None:
            key = (s.task, s.arm, s.other_arm, s.metric.split("_", 1)[1])
            for tok, rank in zip(s.detail.get("tokens", []), s.detail.get("ranks", [])):
                seen[key][tok] += 1
                if rank > 3:
                    shifted[key][tok] += 1
    rows = []
    for (task, arm, base, context), counts in shifted.items():
        rows += [{"task": task, "arm": arm, "base_arm": base, "context": context, "token": tok, "shifted": n,
                  "occurrences": seen[(task, arm, base, context)][tok]} for tok, n in counts.most_common(TOP_TOKENS)]
    return rows
