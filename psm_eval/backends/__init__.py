"""Model backends: the only package that imports `lm_eval`.

Everything else sees a `Backend` (psm_eval requests in, `Outcome`s out) and a `ModelInfo`.
lm_eval is imported lazily, on the first backend created, so light commands stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from psm_eval.backends.spec import ModelSpec, RequestLimits, parse_model_spec
from psm_eval.types import GenRequest, LLRequest, ModelInfo, Outcome

__all__ = ["Backend", "Capabilities", "ModelSpec", "RequestLimits", "parse_model_spec", "create_backend",
           "model_types", "check_model_type", "validate_spec", "probe_model", "quiet_model_loading", "KeptModel"]


@dataclass(frozen=True)
class Capabilities:
    """What the runner may rely on, declared by the backend instead of probed for."""

    concurrency: int = 1
    """Requests the backend works on at once (API arms with `num_concurrent`)."""
    per_request_seed: bool = False
    """A sampled reply depends only on its own request's seed, not on the other requests of its batch."""
    remote: bool = False
    """Answers come from a server, which can change behind the same name (caching is opt-in)."""
    window: int | None = None
    """Requests the runner hands over in one call (canonical windows of a wave, the same on every run and
    resume); None: the runner's small default, which keeps a crash's loss and the progress steps small. An
    engine that batches continuously (vLLM) asks for thousands: its batches stay full to the end of a wave."""


class Backend(Protocol):
    """A model that answers generate and loglikelihood requests, one Outcome per request."""

    info: ModelInfo
    capabilities: Capabilities

    def generate(self, requests: Sequence[GenRequest]) -> list[Outcome]: ...

    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[Outcome]: ...

    def fingerprint(self, digest_file: Callable[[Any], str] | None = None) -> dict[str, Any] | None:
        """What makes this model's answers this model's (for the response cache); None: never cache."""
        ...

    def close(self) -> None: ...


class _Closable(Protocol):
    def close(self) -> None: ...


M = TypeVar("M", bound=_Closable)


class KeptModel(Generic[M]):
    """One loaded model at a time, kept while consecutive callers name the same model (`key`, compared with
    ==): the organism's five base-model arms load it once. Another key closes it first, freeing its memory."""

    def __init__(self) -> None:
        self.key: object = None
        self.model: M | None = None

    def get(self, key: object, make: Callable[[], M]) -> M:
        if self.model is None or key != self.key:
            self.close()
            self.model, self.key = make(), key
        return self.model

    def close(self) -> None:
        if self.model is not None:
            self.model.close()
        self.model, self.key = None, None


def create_backend(spec: ModelSpec, retries: int = 3) -> Backend:
    """Create the model named by `spec` through lm-eval's registry; API requests are bounded by
    `spec.limits` (per-attempt timeout, retry deadline, Retry-After cap) and retried `retries` times."""
    from psm_eval.backends.lm import LMBackend

    return LMBackend.create(spec, retries=retries)


def model_types() -> list[str]:
    """Model type names lm-eval knows."""
    from psm_eval.backends.lm import model_types as names

    return names()


def check_model_type(spec: ModelSpec) -> None:
    """Raise SpecError (with "did you mean") unless lm-eval knows the spec's model type."""
    from psm_eval.backends.lm import check_type

    check_type(spec.type)


def validate_spec(spec: ModelSpec, where: str = "model spec") -> None:
    """Raise SpecError (one line starting with `where`) for an unknown model type, an argument its
    constructor does not take ("did you mean"), a missing required one, or a model folder that does
    not exist (offline: a hub name not in the local cache). Loads no model: call it before a run folder
    is made."""
    from psm_eval.backends.validate import validate_spec as validate

    validate(spec, where)


def probe_model(spec: ModelSpec) -> Any:
    """A light view of the model (tokenizer, ModelInfo, token counts) that loads no weights."""
    from psm_eval.backends.probe import ModelProbe

    check_model_type(spec)
    return ModelProbe(spec)


def quiet_model_loading() -> None:
    """No progress bars while model weights load (`--no-progress`): Hugging Face libraries read the setting
    when they are imported, so set it for those not yet imported and switch it off in those that are."""
    import os
    import sys

    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
