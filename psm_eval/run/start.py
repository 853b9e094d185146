"""Turn `psm-eval run` flags into a validated RunConfig (YAML, flags, or the embedded default) and run it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from psm_eval.errors import ConfigError
from psm_eval.records import CONFIG, dumps, read_config_data
from psm_eval.redact import MASK
from psm_eval.run.config import (
    RunConfig,
    build_config,
    default_arms,
    default_config,
    load_run_config,
    parse_arm,
    read_suite,
)
from psm_eval.run.runner import parse_shard, run

__all__ = ["run_from_cli", "resolve_config"]


def resolve_config(config_path: Path | None = None, tasks: Sequence[str] = (), suite: str | None = None,
                   arms: Sequence[str] = (), limit: int | None = None, seed: int | None = None,
                   out: str | None = None, cache: bool | None = None, cache_dir: str | None = None,
                   max_error_rate: float | None = None, activations: bool | None = None) -> RunConfig:
    """Flags override the YAML file; with neither tasks nor arms, the embedded default fills in."""
    data: dict[str, Any] = {}
    if config_path is not None:
        _, data = load_run_config(config_path)
        data = dict(data)
    chosen = read_suite(suite) if suite else None
    task_refs = list(tasks) + (list(chosen.tasks) if chosen else [])
    if task_refs:
        data["tasks"] = task_refs
    if chosen is not None and chosen.predictions and "predictions" not in data:
        data["predictions"] = [p.model_dump() for p in chosen.predictions]
    if arms:
        data["arms"] = [parse_arm(a) for a in arms]
    if "tasks" not in data:
        default = default_config()
        data["tasks"] = default["tasks"]
        data.setdefault("predictions", default["predictions"])
        organism = True
    else:
        organism = False
    if "arms" not in data:
        data["arms"] = default_arms()
        _check_organism(data["arms"])
        organism = True
    if organism and not (data.get("activations") or {}).get("directions"):
        # the organism's own directions go with its suite and its arms (an arm of another model's width is
        # reported "not measurable" on them, never mis-projected)
        data["activations"] = {**(data.get("activations") or {}), **default_config()["activations"]}
    for key, value in (("limit", limit), ("seed", seed), ("out", out), ("cache", cache), ("cache_dir", cache_dir),
                       ("max_error_rate", max_error_rate)):
        if value is not None:
            data[key] = value
    if activations is not None:  # --no-activations: stored, so a resume does not measure either
        data["activations"] = {**(data.get("activations") or {}), "measure": activations}
    return build_config(data, str(config_path) if config_path else "command line")


def _check_organism(arms: list[dict]) -> None:
    for arm in arms:
        path = Path(arm["model"]["args"]["pretrained"])
        if not (path / "config.json").is_file():
            raise ConfigError(f"the embedded model organism is missing at {path}; rebuild it with "
                              "`psm-eval organism build` or pass --arm")


def run_from_cli(*, config_path: Path | None, tasks: Sequence[str], suite: str | None, arms: Sequence[str],
                 limit: int | None, seed: int | None, out: str | None, resume: Path | None,
                 progress: bool, cache: bool | None = None, cache_dir: str | None = None,
                 shard: str | None = None, max_error_rate: float | None = None, executor: str = "in-process",
                 shards: int | None = None, ray_address: str | None = None,
                 activations: bool | None = None) -> Path:
    if executor == "ray":
        if resume is not None or shard:
            raise ConfigError("--executor ray runs every shard itself: give neither --shard nor --resume (resume one "
                              "shard's folder in-process with `psm-eval run --resume SHARD_DIR`)")
        from psm_eval.run.ray_executor import run_on_ray

        config = resolve_config(config_path, tasks, suite, arms, limit, seed, out, cache, cache_dir, max_error_rate,
                                activations)
        return run_on_ray(config, shards or 1, address=ray_address, progress=progress)
    if shards is not None or ray_address is not None:
        raise ConfigError("--shards and --ray-address go with --executor ray (one shard of a job array: --shard K/N)")
    if resume is not None:
        if config_path or tasks or suite or arms or limit or shard or seed is not None:
            raise ConfigError("--resume takes the run's stored config; give no other run options "
                              "(--max-error-rate may change: it is how long to go on, not what is asked)")
        stored = read_config_data(resume)
        if MASK in dumps(stored):
            raise ConfigError(f"{resume / CONFIG}: this run's model arguments held a secret, which psm_eval "
                              "does not store; pass keys through the environment (e.g. OPENAI_API_KEY), not in "
                              "arguments or URLs, and start a new run")
        if max_error_rate is not None:
            stored = {**stored, "max_error_rate": max_error_rate}
        return run(build_config(stored, str(resume / CONFIG)), resume=resume, progress=progress)
    return run(resolve_config(config_path, tasks, suite, arms, limit, seed, out, cache, cache_dir, max_error_rate,
                              activations),
               progress=progress,
               shard=parse_shard(shard) if shard else None)
