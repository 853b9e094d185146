"""IFEval (Zhou et al. 2023): each reply checked against its prompt's verifiable instructions by lm-eval's
own checkers (through `psm_eval.backends.ifeval`), with lm-eval's four metrics.

Prompt-level metrics: every instruction of the prompt is followed. Instruction-level metrics: one
record per instruction, so their mean is lm-eval's instruction-level accuracy (pooled over all
instructions, not averaged per prompt). Strict checks the reply as it is; loose also accepts it with
its first or last line, or its `*` characters, removed.
"""

from __future__ import annotations

from collections.abc import Iterable

from psm_eval.backends import ifeval as checkers
from psm_eval.score.scorers.base import GenerationRecord, NotApplicable, Score, TaskView, for_metrics, measured
from psm_eval.score.scorers.registry import metric, register

__all__: list[str] = []

PROMPT_METRICS = (("prompt_level_strict_acc", True), ("prompt_level_loose_acc", True))
INST_METRICS = (("inst_level_strict_acc", True), ("inst_level_loose_acc", True))


def _instructions(view: TaskView, sample_id: str) -> tuple[list[str], list[dict]] | None:
    meta = view.samples[sample_id].metadata
    ids, kwargs = meta.get("instruction_id_list"), meta.get("kwargs")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return None
    if kwargs is None:
        kwargs = [{} for _ in ids]
    if not isinstance(kwargs, list) or len(kwargs) != len(ids) or not all(isinstance(k, dict) for k in kwargs):
        return None
    return ids, kwargs


def _prepare(view: TaskView) -> None:
    """Refuse the task (skipped, with one line) when lm-eval's checkers cannot run on it here."""
    wanted = [i for sid in view.samples for i in (_instructions(view, sid) or ([], []))[0]]
    if not wanted:
        raise NotApplicable("needs each sample's 'instruction_id_list' and 'kwargs' metadata (the ifeval loader "
                            "writes them; list both in fields.metadata)")
    missing = checkers.missing_resource(wanted)
    if missing is not None:
        raise NotApplicable(missing)


@register("ifeval", version="1", metrics=(
    metric("prompt_level_strict_acc", "accuracy", "higher", "binary",
           "every instruction of the prompt is followed (lm-eval ifeval)", headline=True),
    metric("inst_level_strict_acc", "accuracy", "higher", "binary",
           "the instruction is followed; one record per instruction (lm-eval ifeval)"),
    metric("prompt_level_loose_acc", "accuracy", "higher", "binary",
           "every instruction is followed by the reply or a loosened variant of it (lm-eval ifeval)"),
    metric("inst_level_loose_acc", "accuracy", "higher", "binary",
           "the instruction is followed by the reply or a loosened variant; one record per instruction")))
def ifeval(args):
    """IFEval's verifiable instructions checked by lm-eval's own code: prompt and instruction level, strict, loose."""

    def score(view: TaskView) -> Iterable[Score]:
        _prepare(view)
        known = checkers.known_instructions()
        for r in view.records:
            yield from _score_one(view, r, known)

    return score


def _score_one(view: TaskView, r: GenerationRecord, known: frozenset[str]) -> list[Score]:
    parsed = _instructions(view, r.sample_id)
    why = ("generation failed" if not r.ok or r.output is None
           else "sample has no IFEval instructions" if parsed is None else None)
    if why is None and parsed is not None:
        unknown = [i for i in parsed[0] if i not in known]
        why = f"instruction unknown to lm-eval's IFEval registry: {', '.join(unknown)}" if unknown else None
    if why is not None or parsed is None:
        return for_metrics(r, PROMPT_METRICS + INST_METRICS, why or "")
    ids, kwargs = parsed
    prompt = view.question(r)
    # lm-eval's protocol: an empty reply follows no instruction (0, not unscored: the model replied)
    result = checkers.check(prompt, ids, kwargs, r.output or "")
    out = [measured(r, "prompt_level_strict_acc", float(all(result.strict)), binary=True,
                    detail={"instructions": ids, "strict": list(result.strict), "loose": list(result.loose)}),
           measured(r, "prompt_level_loose_acc", float(all(result.loose)), binary=True)]
    for i, name in enumerate(ids):
        which = {"instruction": name}
        out += [measured(r, "inst_level_strict_acc", float(result.strict[i]), binary=True, detail=which),
                measured(r, "inst_level_loose_acc", float(result.loose[i]), binary=True, detail=which)]
    return out
