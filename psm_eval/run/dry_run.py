"""`psm-eval run --dry-run`: what a run would ask of each arm, without loading any model.

Counts requests per arm and kind and estimates tokens: prompt tokens from the arm's own rendering
(its tokenizer where one is known, else about four characters a token) and the most new tokens.
Rollout turns after the first assume each earlier reply used its full `max_gen_toks`. Given a
throughput (tokens a second, prompt and generated together), it estimates each arm's hours as
(prompt tokens + max new tokens) / throughput: an upper bound, as every reply is counted at its maximum.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psm_eval.backends import probe_model
from psm_eval.backends.spec import ModelSpec
from psm_eval.backends.validate import validate_spec
from psm_eval.data.task import Task, load_task
from psm_eval.redact import redact_args
from psm_eval.render import make_renderer
from psm_eval.run.config import ArmConfig, RunConfig
from psm_eval.run.runner import with_system
from psm_eval.types import Prompt

__all__ = ["ArmPlan", "plan_run", "format_plan", "short_model", "hours"]


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
    for arm in config.arms:  # the same one-line checks a run makes before loading anything
        validate_spec(arm.model_spec(), f"arm '{arm.name}'")
    return [_plan_arm(arm, tasks) for arm in config.arms]


def _plan_arm(arm: ArmConfig, tasks: Sequence[Task]) -> ArmPlan:
    spec = arm.model_spec()
    probe = probe_model(spec)
    renderer = make_renderer(arm.render)
    plan = ArmPlan(arm=arm.name, model=short_model(spec), render=arm.render, is_api=probe.is_api,
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


def _short(value: object) -> object:
    """A local folder by its last name, a local file by its folder and name; anything else as it is."""
    if not (isinstance(value, str) and os.sep in value and Path(value).expanduser().exists()):
        return value
    path = Path(value).expanduser()
    return path.name if path.is_dir() else f"{path.parent.name}/{path.name}"


def short_model(spec: ModelSpec) -> str:
    """The model spec as a table shows it: secrets masked, local paths shortened (the default arms all
    live under …/psm_eval/organism/models/)."""
    args = ",".join(f"{k}={_short(v)}" for k, v in redact_args(spec.args).items())
    return f"{spec.type}:{args}" if args else spec.type


def _short_render(render: str) -> str:
    kind, colon, rest = render.partition(":")
    if not colon or "=" not in rest:
        return render
    return f"{kind}:" + ",".join(f"{k}={_short(v)}" for k, _, v in (p.partition("=") for p in rest.split(",")))


def _wrap_at_commas(text: str, room: int) -> list[str]:
    lines = [""]
    for part in text.split(","):
        piece = part if not lines[-1] else "," + part
        if lines[-1] and len(lines[-1]) + len(piece) > room:
            lines[-1] += ","
            lines.append(part)
        else:
            lines[-1] += piece
    return lines


def format_plan(plans: Sequence[ArmPlan], tokens_per_s: float | None = None, width: int | None = None) -> str:
    """One row per arm; the last column (model, then render=…) wraps within the width, under itself. With
    `tokens_per_s`, an upper bound of the hours each arm takes."""
    width = width or min(100, shutil.get_terminal_size((100, 20)).columns)
    rows = [("arm", "kind", "generate", "loglik", "prompt tokens", "max new",
             *((f"hours at {tokens_per_s:g} tok/s",) if tokens_per_s else ()), "model, render")]
    for p in plans:
        approx = "" if p.exact_tokens else "≈"
        loglik = str(p.loglikelihood) + ("" if p.supports_loglikelihood or not p.loglikelihood else " (unsupported)")
        rows.append((p.arm, "api" if p.is_api else "local", str(p.generate), loglik,
                     f"{approx}{p.prompt_tokens:,}", f"{p.max_new_tokens:,}",
                     *((f"≤ {approx}{hours(p, tokens_per_s):.3g}",) if tokens_per_s else ()),
                     f"{p.model},render={_short_render(p.render)}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    indent = sum(widths) + 2 * len(widths)
    room = max(24, width - indent)
    lines = []
    for r in rows:
        head = "  ".join(c.ljust(w) for c, w in zip(r, widths))
        last = _wrap_at_commas(r[-1], room)
        lines.append(f"{head}  {last[0]}".rstrip())
        lines += [" " * indent + more for more in last[1:]]
    total = sum(p.generate + p.loglikelihood for p in plans)
    note = (f"; hours = (prompt + max new tokens) / {tokens_per_s:g} tok/s, every reply at its maximum"
            if tokens_per_s else "")
    return "\n".join([*lines, f"{total:,} requests in all{note}; nothing was run (--dry-run)"])
