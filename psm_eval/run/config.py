"""Run configuration: which tasks, which arms (model spec + renderer + settings), seed and limits.

Built from CLI flags (`--arm NAME=TYPE:args,render=...`) or a YAML file (`-c run.yaml`); both go
through the same validated schema. With nothing given, the embedded model organism pair.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from psm_eval.errors import ConfigError
from psm_eval.records.config import ArmConfig, RunConfig
from psm_eval.records.predictions import Prediction
from psm_eval.specs import load_yaml, split_pairs, validate

__all__ = ["ArmConfig", "RunConfig", "parse_arm", "load_run_config", "default_config", "load_suite", "read_suite",
           "stored_config"]

ARM_KEYS = ("render", "system", "max_gen_toks", "temperature", "top_p", "retries", "cache", "timeout",
            "retry_deadline", "max_retry_after")

def stored_config(config: RunConfig) -> dict[str, Any]:
    """The config as written to the run folder: model arguments redacted like the manifest's, so a
    secret typed into a spec (a key argument, credentials in a URL) never reaches the disk."""
    data = config.model_dump(mode="json")
    if data.get("activations") is None:
        data.pop("activations", None)
    for arm, raw in zip(config.arms, data["arms"]):
        spec = arm.model_spec().redacted()
        raw["model"] = {"type": spec["type"], "args": spec["args"]}
    return data


def parse_arm(text: str) -> dict[str, Any]:
    """`base=hf:pretrained=P,render=transcript:icl` → ArmConfig fields."""
    name, eq, rest = text.partition("=")
    if not eq or not name.strip():
        raise ConfigError(f"--arm {text!r}: expected NAME=TYPE:key=value,...,render=RENDERER")
    kind, colon, args = rest.partition(":")
    pairs = split_pairs(args, f"--arm {name}") if colon else {}
    arm: dict[str, Any] = {"name": name.strip()}
    for key in ARM_KEYS:
        if key in pairs:
            arm[key] = _number(pairs.pop(key)) if key not in ("render", "system") else pairs.pop(key)
    for key in pairs:  # `rendr=chat` would otherwise reach the model's constructor as an argument
        close = difflib.get_close_matches(key, ARM_KEYS, n=1, cutoff=0.8)
        if close:
            raise ConfigError(f"--arm {name}: unknown key '{key}'; did you mean '{close[0]}'?")
    arm["model"] = {"type": kind.strip(), "args": pairs}
    if "render" not in arm:
        raise ConfigError(f"--arm {name}: say how prompts are rendered: add render=transcript:<persona> "
                          "(base models) or render=chat (models with a chat template)")
    return arm


def _number(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def build_config(data: dict[str, Any], where: str, lines: dict | None = None) -> RunConfig:
    return validate(RunConfig, data, where, lines, ConfigError)


def load_run_config(path: Path) -> tuple[RunConfig, dict[str, Any]]:
    """A run.yaml → validated config (and its raw data, for CLI overrides)."""
    data, lines = load_yaml(path, ConfigError)
    if isinstance(data, dict) and "suite" in data:
        rest = {k: v for k, v in data.items() if k != "suite"}
        suite = read_suite(str(data["suite"]))
        data = {**rest, "tasks": list(data.get("tasks") or []) + list(suite.tasks)}
        if "predictions" not in data and suite.predictions:
            data["predictions"] = [p.model_dump() for p in suite.predictions]
    return build_config(data, str(path), lines), data


def organism_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "organism" / "models"


def default_arms() -> list[dict[str, Any]]:
    """The embedded default: the model organism's four checkpoints in eight arms that show persona
    selection — the base model prompted into the assistant persona, with no persona (sampled: a
    mixture), with a liar's persona, given the bare query (the token-shift context), and forced through
    the chat model's template (the pitfall); the chat model through its own template; and the two
    narrow fine-tunes of the chat model (wrong colours, with and without the inoculating system prompt)."""
    root = organism_dir()

    def hf(folder: str) -> dict[str, Any]:
        return {"type": "hf", "args": {"pretrained": str(root / folder), "dtype": "float32"}}

    base, chat = hf("psm-tiny-base"), hf("psm-tiny-chat")
    return [
        {"name": "base", "model": base, "render": "transcript:assistant"},
        {"name": "base-plain", "model": base, "render": "transcript:plain", "temperature": 1.0},
        {"name": "base-liar", "model": base, "render": "transcript:liar"},
        {"name": "base-query", "model": base, "render": "transcript:query"},
        {"name": "base-chat-template", "model": base,
         "render": f"chat:template={root / 'psm-tiny-chat' / 'chat_template.jinja'}"},
        {"name": "chat", "model": chat, "render": "chat"},
        {"name": "chat-narrow-liar", "model": hf("psm-tiny-chat-narrow-liar"), "render": "chat"},
        {"name": "chat-inoculated", "model": hf("psm-tiny-chat-inoculated"), "render": "chat"},
    ]


def default_config() -> dict[str, Any]:
    """Config data for `psm-eval run` with no arguments: the organism suite, its predictions, the default arms."""
    suite = read_suite("organism")
    directions = organism_dir() / "directions"
    return {"tasks": list(suite.tasks), "arms": default_arms(),
            "predictions": [p.model_dump() for p in suite.predictions],
            "activations": {"directions": {"base": str(directions / "psm-tiny-base.safetensors"),
                                           "chat": str(directions / "psm-tiny-chat.safetensors")}}}


def load_suite(name: str) -> list[str]:
    """Task references listed by a suite (`tasks/suites/<name>.yaml` or a path)."""
    return list(read_suite(name).tasks)


def read_suite(name: str) -> _Suite:
    """A suite file (`tasks/suites/<name>.yaml` or a path): its tasks and the predictions it declares."""
    from psm_eval.data.task import default_tasks_root

    path = Path(name)
    if not path.is_file():
        path = default_tasks_root() / "suites" / f"{name}.yaml"
    if not path.is_file():
        suites = sorted(p.stem for p in (default_tasks_root() / "suites").glob("*.yaml"))
        raise ConfigError(f"suite '{name}' not found; available: {', '.join(suites) or 'none'}")
    data, lines = load_yaml(path, ConfigError)
    return validate(_Suite, data, str(path), lines, ConfigError)


class _Suite(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    tasks: list[str] = Field(min_length=1)
    predictions: list[Prediction] = []
    """PSM predictions, checked when the suite is read (a typo names the suite file and the field)."""
