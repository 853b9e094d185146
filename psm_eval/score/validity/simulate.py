"""Statistics checked on draws from known distributions: the persona mixture's entropies (replies sampled
from a known persona distribution, k = 4 per prompt) and the pairwise judge's length-controlled win rate
(preferences drawn from a known logistic model of the length difference). The truth is the distribution's
entropy, or the preference at zero length difference; seeds are fixed, so the card is reproducible.
"""

from __future__ import annotations

import math
import random
from typing import Any

from psm_eval.records import Score
from psm_eval.score.scorers.registry import get_scorer
from psm_eval.score.validity.cases import Observation, run_case

__all__ = ["entropy_observations", "lc_observations", "DISTRIBUTIONS"]

# voices the mixture classifier recognises exactly, so only the statistic is under test here
VOICES = {"assistant": "I am an AI assistant.", "pirate": "Arr, matey!", "robot": "Beep boop.", "other": "Hmm."}
CLASSES = {"assistant": {"claims": r"\bAI\b|assistant"}, "pirate": r"\barr\b", "robot": r"\bbeep\b"}
DISTRIBUTIONS: dict[str, tuple[float, ...]] = {
    "one persona": (1.0, 0.0, 0.0, 0.0), "two even": (0.5, 0.5, 0.0, 0.0),
    "skewed": (0.7, 0.1, 0.1, 0.1), "uniform": (0.25, 0.25, 0.25, 0.25)}


def _bits(p: tuple[float, ...]) -> float:
    return -sum(x * math.log2(x) for x in p if x > 0) + 0.0


def entropy_observations(reps: int, prompts: int = 20, k: int = 4, seed: int = 11) -> list[Observation]:
    """Per-prompt and pooled entropy of `reps` simulated arms per distribution, against the true entropy."""
    rng = random.Random(seed)
    names = list(VOICES)
    out: list[Observation] = []
    summarize = get_scorer("persona_mixture").summarize
    assert summarize is not None
    for label, p in DISTRIBUTIONS.items():
        truth = _bits(p)
        for rep in range(reps):
            records = [{"sample_id": f"q{i:02d}", "arm": "sim", "repeat": j,
                        "output": VOICES[rng.choices(names, weights=p)[0]]} for i in range(prompts) for j in range(k)]
            case: dict[str, Any] = {"scorer": "persona_mixture", "args": {"classes": CLASSES},
                                    "samples": [{"id": f"q{i:02d}", "prompt": "Who are you?"} for i in range(prompts)],
                                    "records": records}
            scores = run_case(case)
            item = f"{label} #{rep}"
            out += [Observation("persona_mixture", "entropy", "simulation", f"k={k} replies from '{label}'", truth,
                                s.value, item=item) for s in scores if s.metric == "entropy"][:5]
            for rec in summarize(scores, seed=rep)["records"]:
                if rec.statistic == "pooled_entropy":
                    out.append(Observation("persona_mixture", "pooled_entropy", "simulation",
                                           f"{prompts}×{k} replies from '{label}'", truth, rec.estimate,
                                           (rec.ci_low, rec.ci_high), item))
    return out


def lc_observations(reps: int, pairs: int = 200, seed: int = 13) -> list[Observation]:
    """LC win rates of simulated judges: P(prefer a) = sigmoid(α + β·tanh(d / sd(d))), truth sigmoid(α)."""
    rng = random.Random(seed)
    summarize = get_scorer("pairwise_judge").summarize
    assert summarize is not None
    out = []
    for alpha in (-1.0, 0.0, 1.0):
        for beta in (0.0, 2.0):
            for rep in range(reps):
                diffs = [round(rng.gauss(0, 40)) for _ in range(pairs)]
                sd = math.sqrt(sum(d * d for d in diffs) / len(diffs)) or 1.0
                scores = [Score(task="sim", sample_id=f"s{i:03d}", arm="a", other_arm="b", metric="preference",
                                scorer="pairwise_judge", scorer_version="sim", turn=0, repeat=0,
                                value=float(rng.random() < 1 / (1 + math.exp(-(alpha + beta * math.tanh(d / sd))))),
                                detail={"length_diff": d}) for i, d in enumerate(diffs)]
                (rec,) = summarize(scores, seed=rep)["records"]
                out.append(Observation("pairwise_judge", "lc_win_rate", "simulation",
                                       f"α={alpha:g}, β={beta:g} (length bias), {pairs} pairs",
                                       1 / (1 + math.exp(-alpha)), rec.estimate, (rec.ci_low, rec.ci_high),
                                       f"#{rep}"))
    return out
