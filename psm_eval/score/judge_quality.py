"""How far a judge's verdicts can be trusted, read from its own replies in a scored run: parse failures per
judged item and, for pairwise judgements, whether the verdict survives swapping the two answers.

Planted good and bad replies (the judge's accuracy) are the validity card's part: `psm_eval.score.validity`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence

from psm_eval.records import JudgeQuality, Score

__all__ = ["judge_quality", "PARSE_FAILURES", "REQUEST_FAILED"]

PARSE_FAILURES = frozenset({"judge reply unparseable", "judge reply ambiguous", "judge reply empty",
                            "judge rating out of range"})
REQUEST_FAILED = "judge request failed"
_AGREE = {("A", "B"), ("B", "A"), ("C", "C")}


def _position(scores: Sequence[Score]) -> dict[str, float | int | None]:
    """Position-swap statistics from the verdicts a pairwise judgement stored: (order a,b), (order b,a)."""
    both = [tuple(s.detail["verdicts"]) for s in scores if s.metric == "preference" and s.value is not None
            and len(s.detail.get("verdicts") or ()) == 2]
    decisive = [v for pair in both for v in pair if v in ("A", "B")]
    return {"swap_pairs": len(both),
            "position_agreement": sum(p in _AGREE for p in both) / len(both) if both else None,
            "first_position_rate": decisive.count("A") / len(decisive) if decisive else None}


def _paraphrase(scores: Sequence[Score]) -> tuple[int, int, int]:
    """(pairs judged, requests failed, pairs unparsed): each pair's call sits on both of its replies."""
    calls = {json.dumps(t.prompt, sort_keys=True): t for s in scores for t in s.judge}
    bad = sum(int(s.detail.get("pairs_unparsed", 0)) for s in scores)
    return len(calls), sum(1 for t in calls.values() if t.error), bad // 2


def judge_quality(scores: Sequence[Score], judge: str, judge_arms: Sequence[str] = ()) -> list[JudgeQuality]:
    """One record per (task, scorer) whose scores carry judge calls."""
    groups: dict[tuple[str, str], list[Score]] = defaultdict(list)
    for s in scores:
        if s.judge and s.stratum is None:
            groups[(s.task, s.scorer)].append(s)
    out = []
    for (task, scorer), group in sorted(groups.items()):
        items: dict[tuple, Score] = {}
        for s in group:
            items.setdefault((s.sample_id, s.arm, s.turn, s.repeat, s.other_arm), s)
        failed = sum(1 for s in items.values() if s.unscored == REQUEST_FAILED)
        extra: dict[str, float | int | None] = {}
        if any("pairs_judged" in s.detail for s in group):
            unit, (judged, failed, bad) = "paraphrase pair", _paraphrase(group)
        else:
            unit = "pair of replies" if any(s.other_arm for s in group) else "reply"
            judged, bad = len(items), sum(1 for s in items.values() if s.unscored in PARSE_FAILURES)
            extra = _position(group) if unit == "pair of replies" else {}
        answered = judged - failed
        out.append(JudgeQuality(task=task, scorer=scorer, judge=judge, unit=unit, judged=judged,
                                request_failures=failed, parse_failures=bad,
                                parse_failure_rate=bad / answered if answered > 0 else None,
                                self_judge_arms=list(judge_arms), **extra))  # type: ignore[arg-type]
    return out
