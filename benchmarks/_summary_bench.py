"""Helper for benchmarks/scale.py: statistics + summary over n synthetic scores (10 tasks x 2 arms
x a binary and a continuous metric, paired by sample id), timed in-process."""

from __future__ import annotations

import time

import numpy as np


def time_summary(n_scores: int) -> float:
    from psm_eval.score.scorers.base import Score
    from psm_eval.score.summary import summarize

    rng = np.random.default_rng(0)
    arms = ["base", "chat"]
    per_group = n_scores // (10 * len(arms) * 2)
    scores = []
    for t in range(10):
        for arm in arms:
            correct = rng.random(per_group) < (0.6 if arm == "base" else 0.7)
            length = rng.normal(40 if arm == "base" else 35, 8, per_group)
            for i in range(per_group):
                sid = f"s{i}"
                scores.append(Score(task=f"task{t}", sample_id=sid, arm=arm, metric="correct", value=float(correct[i]),
                                    binary=True, scorer="contains", scorer_version="1"))
                scores.append(Score(task=f"task{t}", sample_id=sid, arm=arm, metric="length_tokens",
                                    value=float(length[i]), scorer="reply_signals", scorer_version="1"))
    start = time.perf_counter()
    summary = summarize(scores, arms, seed=0)
    seconds = time.perf_counter() - start
    assert summary["records"], "no summary records"
    return seconds
