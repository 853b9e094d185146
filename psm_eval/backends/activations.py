"""Hidden states of stored replies: one forward pass of (exact prompt + stored reply) per record.

The arm's model is created as its backend created it (`LMBackend`, lm-eval's registry), and measured
when that object is lm-eval's `HFLM` or a subclass (so a model type that adds steering hooks is measured
with its hooks active). Prompt and reply are encoded as `HFLM.loglikelihood` encodes a (context,
continuation) pair (`_encode_pair`: BOS as lm-eval adds it, trailing context spaces moved to the reply),
cut from the left to the model's length as lm-eval cuts, right-padded and run without an attention mask
as lm-eval's `_model_call` runs them — the reply's tokens are exactly the continuation tokens
loglikelihood would score. Each record is reduced on the device to its reply's mean hidden state and its
prompt's last token, at every residual-stream index.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from psm_eval.backends.probe import API_TYPES
from psm_eval.backends.spec import ModelSpec
from psm_eval.errors import BackendError

__all__ = ["ActivationItem", "Measured", "HiddenStates", "not_measurable_reason", "create_hidden_states",
           "DEFAULT_BATCH"]

DEFAULT_BATCH = 16


@dataclass(frozen=True)
class ActivationItem:
    """One stored reply to measure."""

    key: str
    context: str
    """The prompt text exactly as sent (BOS included where the renderer wrote it)."""
    reply: str


@dataclass(frozen=True)
class Measured:
    """One record's reduced hidden states (float32 [layers, hidden] each)."""

    key: str
    reply_mean: np.ndarray
    prompt_last: np.ndarray
    reply_tokens: int
    """Continuation tokens averaged (0: an empty reply, nothing averaged; the vectors are zeros)."""
    truncated: bool
    """Prompt + reply exceeded the model's length and were cut from the left."""


def not_measurable_reason(spec: ModelSpec) -> str | None:
    """Why an arm's hidden states cannot be read in-process, or None when they can."""
    if spec.type in API_TYPES:
        return "API arm"
    from lm_eval.api.registry import get_model
    from lm_eval.models.huggingface import HFLM

    import psm_eval.backends.lm  # noqa: F401  (lm-eval's model table, psm_eval's own model types)

    try:
        cls = get_model(spec.type)
    except Exception:
        return f"unknown model type '{spec.type}'"
    if not (isinstance(cls, type) and issubclass(cls, HFLM)):
        return f"model type '{spec.type}' does not run in-process through transformers (no hidden states)"
    return None


class HiddenStates:
    """An arm's model, created as its backend creates it, measuring stored replies."""

    def __init__(self, spec: ModelSpec, batch_size: int = DEFAULT_BATCH):
        from lm_eval.models.huggingface import HFLM

        from psm_eval.backends.lm import LMBackend

        self.backend = LMBackend(spec)
        lm = self.backend.lm
        if not isinstance(lm, HFLM) or lm.backend != "causal":
            raise BackendError(f"model '{spec.display()}': hidden states are read from causal HFLM models only")
        self.lm = lm
        self.batch_size = max(1, batch_size)
        config = lm.model.config
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        self.layers = int(text.num_hidden_layers) + 1
        self.hidden = int(text.hidden_size)
        self._keep_one_logit = "logits_to_keep" in inspect.signature(lm.model.forward).parameters

    def encode(self, item: ActivationItem) -> tuple[list[int], int, bool]:
        """(input ids, reply tokens among them, truncated) exactly as loglikelihood would build them, except
        that the reply's last token is kept (its hidden state is part of the reply)."""
        context_enc, continuation_enc = self.lm._encode_pair(item.context, item.reply)
        whole = context_enc + continuation_enc
        limit = self.lm.max_length
        ids = whole[-limit:]
        reply = min(len(continuation_enc), len(ids) - 1)
        return ids, reply, len(whole) > limit

    def measure(self, items: Sequence[ActivationItem]) -> list[Measured]:
        """Every item measured, in order; batches of similar length (less padding)."""
        encoded = [self.encode(item) for item in items]
        order = sorted(range(len(items)), key=lambda i: -len(encoded[i][0]))
        out: list[Measured | None] = [None] * len(items)
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            for i, (reply_mean, prompt_last) in zip(rows, self._forward([encoded[i] for i in rows])):
                ids, reply, truncated = encoded[i]
                out[i] = Measured(items[i].key, reply_mean, prompt_last, reply, truncated)
        return [m for m in out if m is not None]

    def _forward(self, batch: list[tuple[list[int], int, bool]]) -> list[tuple[np.ndarray, np.ndarray]]:
        import torch

        lm = self.lm
        width = max(len(ids) for ids, _, _ in batch)
        inputs = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, _, _) in enumerate(batch):
            inputs[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        dtype = getattr(lm, "mixed_precision_dtype", None)
        kwargs: dict[str, Any] = {"output_hidden_states": True}
        if self._keep_one_logit:
            kwargs["logits_to_keep"] = 1  # the hidden states are what is read; skip the vocabulary projection
        with torch.no_grad(), torch.autocast(device_type=lm.device.type, dtype=dtype, enabled=dtype is not None):
            states = lm.model(inputs.to(lm.device), **kwargs).hidden_states
        mask = torch.zeros((len(batch), width), device=lm.device)
        last = torch.zeros(len(batch), dtype=torch.long, device=lm.device)
        for row, (ids, reply, _) in enumerate(batch):
            mask[row, len(ids) - reply:len(ids)] = 1.0 / max(reply, 1)
            last[row] = len(ids) - reply - 1
        rows = torch.arange(len(batch), device=lm.device)
        reply_mean = torch.stack([torch.einsum("bt,bth->bh", mask, h.float()) for h in states], dim=1)
        prompt_last = torch.stack([h[rows, last].float() for h in states], dim=1)
        r, p = reply_mean.cpu().numpy(), prompt_last.cpu().numpy()
        return [(r[i], p[i]) for i in range(len(batch))]

    def close(self) -> None:
        self.backend.close()


def create_hidden_states(spec: ModelSpec, batch_size: int = DEFAULT_BATCH) -> HiddenStates:
    return HiddenStates(spec, batch_size)


ModelFactory = Callable[[ModelSpec, int], Any]
