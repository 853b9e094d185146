"""How often each kind of PSM endpoint is declared "as predicted" when it is not (the false-positive rate at
the edge of the prediction's region) and when it is (power at a planted effect), simulated at the shipped
suites' sizes. `benchmarks/verdict_calibration.py` runs it long and prints the table in docs/scorers.md;
`tests/stats/test_verdict_calibration.py` runs it short.

Every case builds score records the way the scorers write them (clusters, repeats, turns, token counts,
class shares, trait metadata), so the whole path — per-sample means, pairing, clustering, the interval the
statistic calls for, the decision — is what is measured. A case's `null` puts the truth exactly on the
edge of the supported region (Δ = −margin for an equivalence, the bound for `above`/`below`), the hardest
place for a test to hold its level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from psm_eval.records import Endpoint, MetricInfo, Score
from psm_eval.score.verdict import ALPHA, _Data, _regions, measure_endpoint

__all__ = ["Case", "CASES", "simulate", "decide_once"]

Built = tuple[list[Score], list[MetricInfo], dict[str, dict[str, dict[str, Any]]]]


@dataclass(frozen=True)
class Case:
    name: str
    size: str
    """The suite size it mirrors, in words."""
    endpoint: Endpoint
    build: Callable[[np.random.Generator, float], Built]
    """rng, effect → scores, declarations, sample metadata."""
    null: float
    """The effect on the edge of the supported region."""
    planted: float
    """An effect inside it."""


def _info(task: str, scorer: str, metric: str, kind: str, chart: str | None = None) -> MetricInfo:
    return MetricInfo(task=task, scorer=scorer, metric=metric, family="accuracy", direction="higher",
                      kind=kind, chart=chart)  # type: ignore[arg-type]


def _score(arm: str, sid: str, metric: str, value: float, *, cluster: str | None = None, turn: int | None = None,
           repeat: int | None = None, other: str | None = None, detail: dict | None = None,
           task: str = "t", scorer: str = "s") -> Score:
    return Score(task=task, sample_id=sid, arm=arm, metric=metric, value=float(value), turn=turn, repeat=repeat,
                 binary=value in (0.0, 1.0), other_arm=other, cluster=cluster or sid, detail=detail or {},
                 scorer=scorer)


def _paired_binary(k: int, per: int) -> Callable[[np.random.Generator, float], Built]:
    """k clusters (facts) of `per` samples (phrasings); per cluster an accuracy π_c ~ Beta(8, 2); arm b
    right with probability π_c, arm a with π_c − δ, through one shared uniform (same question, correlated)."""
    def build(rng: np.random.Generator, delta: float) -> Built:
        scores = []
        for c in range(k):
            pi = rng.beta(8, 2)
            for j in range(per):
                u = rng.uniform()
                sid = f"c{c}-{j}"
                scores += [_score("a", sid, "correct", float(u < pi - delta), cluster=f"c{c}"),
                           _score("b", sid, "correct", float(u < pi), cluster=f"c{c}")]
        return scores, [_info("t", "s", "correct", "binary")], {}
    return build


def _repeated_binary(n: int, repeats: int, base: float) -> Callable[[np.random.Generator, float], Built]:
    """n prompts sampled `repeats` times; per prompt a rate around `base` (Beta, mean base) for arm b and
    the same shifted by δ for arm a."""
    def build(rng: np.random.Generator, delta: float) -> Built:
        scores = []
        for i in range(n):
            pb = rng.beta(6 * base, 6 * (1 - base))
            pa = float(np.clip(pb + delta, 0, 1))
            for r in range(repeats):
                scores += [_score("a", f"p{i}", "in_frame", float(rng.uniform() < pa), repeat=r),
                           _score("b", f"p{i}", "in_frame", float(rng.uniform() < pb), repeat=r)]
        return scores, [_info("t", "s", "in_frame", "binary")], {}
    return build


def _drift(n: int, turns: tuple[int, ...], two_arms: bool) -> Callable[[np.random.Generator, float], Built]:
    """n dialogues probed at `turns`; persona kept with probability p0 + slope · turn (a dialogue effect on
    the logit); with two arms, arm b keeps a flat rate."""
    def build(rng: np.random.Generator, slope: float) -> Built:
        scores = []
        for i in range(n):
            shift = rng.normal(0, 0.5)
            for arm, s in (("a", slope), ("b", 0.0)) if two_arms else (("a", slope),):
                for t in turns:
                    p = float(np.clip(0.92 + s * t + 0.05 * shift, 0.01, 0.99))
                    scores.append(_score(arm, f"d{i}", "consistent", float(rng.uniform() < p), turn=t))
        return scores, [_info("t", "s", "consistent", "binary", chart="by_turn")], {}
    return build


def _mixture(n: int, repeats: int) -> Callable[[np.random.Generator, float], Built]:
    """n prompts, `repeats` replies each, 9 persona classes. Arm b: 85 % one class; arm a: that class's
    share lowered by `spread` and the rest spread evenly (spread 0: the same distribution)."""
    classes = [f"k{j}" for j in range(9)]

    def build(rng: np.random.Generator, spread: float) -> Built:
        scores = []
        pb = np.full(9, 0.15 / 8)
        pb[0] = 0.85
        pa = pb.copy()
        pa[0] -= spread
        pa[1:] += spread / 8
        for i in range(n):
            for arm, p in (("a", pa), ("b", pb)):
                for r in range(repeats):
                    label = rng.choice(9, p=p)
                    scores += [_score(arm, f"q{i}", c, float(j == label), repeat=r) for j, c in enumerate(classes)]
        infos = [_info("t", "s", c, "binary", chart="shares") for c in classes]
        return scores, infos, {}
    return build


def _pooled(n: int) -> Callable[[np.random.Generator, float], Built]:
    """n replies of 10–30 tokens; each reply's shifted share drawn around the true pooled share (a reply
    effect), its shifted token count binomial."""
    def build(rng: np.random.Generator, share: float) -> Built:
        scores = []
        for i in range(n):
            tokens = int(rng.integers(10, 31))
            p = rng.beta(8 * share, 8 * (1 - share))
            shifted = rng.binomial(tokens, p)
            scores.append(_score("a", f"r{i}", "shifted", shifted / tokens, other="b", detail={"n_tokens": tokens}))
        return scores, [_info("t", "s", "shifted", "continuous")], {}
    return build


def _profile(traits: int, per_trait: int) -> Callable[[np.random.Generator, float], Built]:
    """`traits` traits of `per_trait` yes/no items, half phrased each way; arm b endorses trait t with
    probability q_t (0.1 or 0.9), arm a with q_t moved towards 0.5 by `gap` (the true mean absolute profile
    difference); both arms lean towards Yes by 0.05."""
    def build(rng: np.random.Generator, gap: float) -> Built:
        scores, meta = [], {}
        for t in range(traits):
            qb = 0.9 if t % 2 == 0 else 0.1
            qa = qb - gap if qb > 0.5 else qb + gap
            for j in range(per_trait):
                direction = "shows_trait" if j % 2 == 0 else "denies_trait"
                sid = f"t{t}-{j}"
                meta[sid] = {"trait": f"trait{t}", "direction": direction}
                lean = 0.05 if direction == "shows_trait" else -0.05
                for arm, q in (("a", qa), ("b", qb)):
                    scores.append(_score(arm, sid, "endorse", float(rng.uniform() < np.clip(q + lean, 0, 1))))
        return scores, [_info("t", "s", "endorse", "binary")], {"t": meta}
    return build


def _ep(**kw: Any) -> Endpoint:
    return Endpoint(task="t", scorer="s", **kw)


CASES: list[Case] = [
    Case("equivalent, binary, paired (P1 facts)", "organism: 15 facts × 4 phrasings",
         _ep(metric="correct", arms=["a", "b"], test="equivalent", margin=0.25), _paired_binary(15, 4), 0.25, 0.0),
    Case("equivalent, binary, paired (P1 accuracy)", "standard: 220 questions",
         _ep(metric="correct", arms=["a", "b"], test="equivalent", margin=0.05), _paired_binary(220, 1), 0.05, 0.0),
    Case("below 0, shares of repeats, paired (P2 frame)", "organism: 30 prompts × 3 samples",
         _ep(metric="in_frame", arms=["a", "b"], test="below"), _repeated_binary(30, 3, 0.8), 0.0, -0.3),
    Case("below 0, slope, one arm (P2 drift)", "organism: 16 dialogues, probes at turns 0, 3, 7",
         _ep(metric="consistent", statistic="slope", arms=["a"], test="below"), _drift(16, (0, 3, 7), False),
         0.0, -0.05),
    Case("below 0, slope difference (P2 drift)", "standard: 32 dialogues, probes at turns 0, 2, 4",
         _ep(metric="consistent", statistic="slope", arms=["a", "b"], test="below"), _drift(32, (0, 2, 4), True),
         0.0, -0.08),
    Case("above 0, entropy difference (P5 mixture)", "organism: 10 prompts × 10 samples, 9 classes",
         _ep(metric="k0", statistic="entropy", arms=["a", "b"], test="above"), _mixture(10, 10), 0.0, 0.4),
    Case("below 0.5, pooled share (P3 token shift)", "organism: 15 replies",
         _ep(metric="shifted", statistic="pooled", arms=["a", "b"], test="below", bound=0.5), _pooled(15), 0.5, 0.33),
    Case("below 0.15, profile distance (P4 self-report)", "organism: 7 traits × 6 items",
         _ep(metric="endorse", statistic="profile", arms=["a", "b"], test="below", bound=0.15), _profile(7, 6),
         0.15, 0.0),
    Case("below 0.15, profile distance (P4 self-report)", "standard: 14 traits × 20 items",
         _ep(metric="endorse", statistic="profile", arms=["a", "b"], test="below", bound=0.15), _profile(14, 20),
         0.15, 0.0),
]


def decide_once(case: Case, rng: np.random.Generator, effect: float, seed: int) -> bool:
    """One simulated run: is the endpoint declared as predicted (at α = 0.025, no other endpoint)?"""
    scores, infos, meta = case.build(rng, effect)
    data = _Data(scores, infos, meta, ["a", "b"], seed)
    iv = measure_endpoint(data, case.endpoint, case.endpoint.arms).at(1.0 - 2.0 * ALPHA)
    if iv.ci_low is None or iv.ci_high is None:
        return False
    return _regions(case.endpoint)[0](iv.ci_low, iv.ci_high)


def simulate(case: Case, reps: int, seed: int = 0) -> tuple[float, float]:
    """(false-positive rate at the null edge, power at the planted effect) over `reps` simulated runs each."""
    rng = np.random.default_rng(seed)
    fp = np.mean([decide_once(case, rng, case.null, seed + i) for i in range(reps)])
    power = np.mean([decide_once(case, rng, case.planted, seed + reps + i) for i in range(reps)])
    return float(fp), float(power)
