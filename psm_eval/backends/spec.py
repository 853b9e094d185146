"""Model specs: `TYPE:key=value,...` naming any lm-eval model type and its arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psm_eval.errors import SpecError
from psm_eval.redact import redact_args
from psm_eval.specs import split_pairs

__all__ = ["ModelSpec", "parse_model_spec"]


@dataclass(frozen=True)
class ModelSpec:
    """An lm-eval model type with its constructor arguments (values as typed by the user)."""

    type: str
    """lm-eval registry name: `hf`, `vllm`, `local-completions`, `local-chat-completions` …"""
    args: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments; secrets never belong here (they come from the environment)."""

    def redacted(self) -> dict[str, Any]:
        """JSON-safe form with secrets masked, for manifests and logs."""
        return {"type": self.type, "args": redact_args(self.args)}

    def display(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in redact_args(self.args).items())
        return f"{self.type}:{args}" if args else self.type


def parse_model_spec(text: str, where: str = "model spec") -> ModelSpec:
    """`hf:pretrained=PATH,dtype=float32` → ModelSpec("hf", {...})."""
    kind, _, rest = text.strip().partition(":")
    if not kind:
        raise SpecError(f"{where}: expected TYPE:key=value,... (e.g. hf:pretrained=PATH), got {text!r}")
    return ModelSpec(type=kind.strip(), args=split_pairs(rest, where))
