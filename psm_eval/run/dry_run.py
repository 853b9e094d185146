"""`psm-eval run --dry-run`: what a run would ask of each arm, without loading any model.

Counts requests per arm and kind and estimates tokens: prompt tokens from the arm's own rendering
(its tokenizer where one is known, else about four characters a token) and the most new tokens.
Rollout turns after the first assume each earlier reply used its full `max_gen_toks`. Given a
throughput (tokens a second, prompt and generated together), it estimates each arm's hours as
(prompt tokens + max new tokens) / throughput: an upper bound, as every reply is counted at its maximum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psm_eval.backends import probe_model
from psm_eval.data.task import Task, load_task
from psm_eval.render import make_renderer
from psm_eval.run.config import ArmConfig, RunConfig
from psm_eval.run.runner import with_system
from psm_eval.types import Prompt

__all__ = ["ArmPlan", "plan_run", "format_plan", "hours"]


@dataclass
class ArmPlan:
    """Requests and token estimate for one arm."""

    arm: str
    model: str
    render: str
    is_api: bool
    generate: int = 0
    loglikelihood: int = 0
    prompt_tokens: int = 0
    max_new_tokens: int = 0
    exact_tokens: bool = True
    supports_loglikelihood: bool = True


def plan_run(config: RunConfig) -> list[ArmPlan]:
    tasks = [load_task(ref, limit=config.limit) for ref in config.tasks]
    return [_plan_arm(arm, tasks) for arm in config.arms]


def _plan_arm(arm: ArmConfig, tasks: Sequence[Task]) -> ArmPlan:
    spec = arm.model_spec()
    probe = probe_model(spec)
    renderer = make_renderer(arm.render)
    plan = ArmPlan(arm=arm.name, model=spec.display(), render=arm.render, is_api=probe.is_api,
                   exact_tokens=probe.tokenizer is not None,
                   supports_loglikelihood=probe.info.supports_loglikelihood)
    for task in tasks:
        g = task.spec.generation
        max_new = arm.max_gen_toks or g.max_gen_toks
        for sample in task.samples:
            prompt = renderer.render(with_system(sample.turns, arm.system), probe.info)
            base = _tokens(prompt, probe)
            if task.spec.kind == "multiple_choice":
                plan.loglikelihood += 1
                plan.prompt_tokens += len(sample.choices) * base + sum(_count(c, probe) for c in sample.choices)
                continue
            n_user = len(sample.user_turn_indices())
            turns = range(n_user) if task.spec.mode == "rollout" else [n_user - 1]
            for t in turns:
                plan.generate += g.repeats
                plan.prompt_tokens += g.repeats * (base + t * max_new if task.spec.mode == "rollout" else base)
                plan.max_new_tokens += g.repeats * max_new
    return plan


def _count(text: str, probe: Any) -> int:
    return probe.count(text) if probe.tokenizer is not None else max(1, round(len(text) / 4))


def _tokens(prompt: Prompt, probe: Any) -> int:
    if prompt.text is not None:
        return _count(prompt.text, probe)
    return sum(_count(m["content"], probe) + 4 for m in prompt.messages or ())


def hours(plan: ArmPlan, tokens_per_s: float) -> float:
    """Upper-bound hours for an arm at `tokens_per_s` (prompt and generated tokens together)."""
    return (plan.prompt_tokens + plan.max_new_tokens) / tokens_per_s / 3600


def format_plan(plans: Sequence[ArmPlan], tokens_per_s: float | None = None) -> str:
    rows = [("arm", "kind", "generate", "loglik", "prompt tokens", "max new tokens",
             *((f"hours at {tokens_per_s:g} tok/s",) if tokens_per_s else ()), "model")]
    for p in plans:
        approx = "" if p.exact_tokens else "≈"
        loglik = str(p.loglikelihood) + ("" if p.supports_loglikelihood or not p.loglikelihood else " (unsupported)")
        rows.append((p.arm, "api" if p.is_api else "local", str(p.generate), loglik,
                     f"{approx}{p.prompt_tokens:,}", f"{p.max_new_tokens:,}",
                     *((f"≤ {approx}{hours(p, tokens_per_s):.3g}",) if tokens_per_s else ()), p.model[:60]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    total = sum(p.generate + p.loglikelihood for p in plans)
    note = (f"; hours = (prompt + max new tokens) / {tokens_per_s:g} tok/s, every reply at its maximum"
            if tokens_per_s else "")
    return "\n".join([*lines, f"{total:,} requests in all{note}; nothing was run (--dry-run)"])
