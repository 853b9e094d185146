"""Model specs: `TYPE:key=value,...` naming any lm-eval model type and its arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psm_eval.errors import SpecError
from psm_eval.redact import redact_args, remember_secrets
from psm_eval.specs import split_pairs

__all__ = ["ModelSpec", "RequestLimits", "parse_model_spec", "DEFAULT_TIMEOUT_S", "DEFAULT_RETRY_DEADLINE_S",
           "DEFAULT_MAX_RETRY_AFTER_S"]

# The defaults bound what a hung or stalling server costs: lm-eval waits 300 s per attempt and psm_eval
# tried 4 times, ~20 minutes per request. Why each value, in `records.config.ArmConfig`'s fields.
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_RETRY_DEADLINE_S = 300.0
DEFAULT_MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True)
class RequestLimits:
    """How long psm_eval waits for one request to a model served over HTTP (API arms)."""

    timeout: float = DEFAULT_TIMEOUT_S
    """Seconds one attempt may take, from connecting to the reply's last byte; then it is abandoned."""
    retry_deadline: float = DEFAULT_RETRY_DEADLINE_S
    """Seconds all attempts of one request may take together, waits included; then it is a `timeout`."""
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER_S
    """Longest Retry-After honoured; a server asking for longer ends the request at once."""


@dataclass(frozen=True)
class ModelSpec:
    """An lm-eval model type with its constructor arguments (values as typed by the user)."""

    type: str
    """lm-eval registry name: `hf`, `vllm`, `local-completions`, `local-chat-completions` …"""
    args: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments; secrets never belong here (they come from the environment)."""
    limits: RequestLimits = field(default_factory=RequestLimits)
    """How long to wait for this model's answers (`ArmConfig.model_spec` fills it from the arm's settings).
    A `timeout` argument, lm-eval's own name for the per-attempt limit, takes the place of `limits.timeout`."""

    def __post_init__(self) -> None:
        # whatever is secret in these arguments is masked in every file this process writes from now on
        remember_secrets(self.args)

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
