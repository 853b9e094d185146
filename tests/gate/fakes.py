"""Hand-made scored run folders for gate tests (no model needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from psm_eval.records import JudgeTrace, Score
from tests.fixtures.records import arm_entry, generation, manifest, task_entry, write_folder

Values = Sequence[float | None]


def make_run(path: Path, metrics: dict[tuple[str, str, str, str], Values], *, version: str = "1",
             data_hash: str = "h1", failed: int = 0, judge: str | None = None,
             task_extra: dict[str, Any] | None = None) -> Path:
    """A run folder: `metrics` maps (task, scorer, metric, arm) → one value per sample (None = unscored);
    sample i is `s{i}`. `failed` generation records per (task, arm) are marked failed."""
    tasks = sorted({k[0] for k in metrics})
    arms = sorted({k[3] for k in metrics})
    run = manifest(path.name, [task_entry(t, version=version, data_hash=data_hash, **(task_extra or {}))
                               for t in tasks], [arm_entry(a, template_hash=None) for a in arms])
    traces = (JudgeTrace(spec=judge, prompt={}, reply="x"),) if judge else ()
    scores = [Score(task=task, task_version=version, sample_id=f"s{i}", arm=arm, turn=0, repeat=0, scorer=scorer,
                    scorer_version="1", metric=metric, value=v, unscored=None if v is not None else "generation failed",
                    binary=True, judge=traces)
              for (task, scorer, metric, arm), values in metrics.items() for i, v in enumerate(values)]
    gens = []
    for task in tasks:
        for arm in arms:
            n = max(len(v) for k, v in metrics.items() if k[0] == task and k[3] == arm)
            gens += [generation(task, f"s{i}", arm, output="SECRET OUTPUT", prompt_text="SECRET PROMPT",
                                failed=i < failed) for i in range(n)]
    return write_folder(path, run, gens, scores)


def acc(values: Values, task: str = "qa", arm: str = "chat", metric: str = "correct",
        scorer: str = "contains") -> dict[tuple[str, str, str, str], Values]:
    return {(task, scorer, metric, arm): list(values)}
