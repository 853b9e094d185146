"""`activations/index.json`: which arms of a run had their hidden states stored, and how.

The vectors themselves live beside it, one folder per measured arm, in parts of a fixed number of records
(`activations/<arm>/part-00000.safetensors` …): `reply_mean` float16 [n, layers, hidden] (the mean over the
reply's tokens), `prompt_last` float16 [n, layers, hidden] (the prompt's last token), `reply_tokens` int32
[n], and the records' keys (`generations.jsonl` keys, in its order) as JSON in the metadata entry `keys`.
`psm_eval.activations.store` writes and reads them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from psm_eval.records.base import Record

__all__ = ["ACTIVATIONS", "ACTIVATIONS_INDEX", "ACTIVATIONS_VERSION", "ArmActivations", "ActivationIndex"]

ACTIVATIONS = "activations"
ACTIVATIONS_INDEX = "index.json"
ACTIVATIONS_VERSION = 1


class ArmActivations(Record):
    """One arm's entry: measured (with its model, shape and parts) or why it could not be."""

    status: Literal["measured", "not_measurable"]
    """`measured`: the arm's model ran in-process (transformers) and its records' hidden states are stored;
    `not_measurable`: they cannot be read (`reason` says why: an API arm, a model type with no hidden states)."""
    reason: str | None = None
    """Why the arm is not measurable (None when measured)."""
    model_type: str
    """The arm's lm-eval model type (`hf`, `psm-steered`, `local-chat-completions` …)."""
    fingerprint: dict[str, Any] | None = None
    """The model's fingerprint as the run manifest records it (`BackendEntry.fingerprint`)."""
    layers: int | None = Field(None, ge=1)
    """Residual-stream positions stored per record: the model's blocks + 1 (index 0: the embeddings; index
    l: the output of block l, transformers' `hidden_states[l]`)."""
    hidden: int | None = Field(None, ge=1)
    """Hidden size."""
    dtype: Literal["float16"] = "float16"
    """How `reply_mean` and `prompt_last` are stored (computed in the model's dtype, reduced in float32)."""
    part_size: int = Field(256, ge=1)
    """Records per part (stored or skipped): every part but the last covers exactly this many, in
    `generations.jsonl` order."""
    parts: list[str] = []
    """Part files in order, relative to `activations/<arm>/`."""
    n_records: int = Field(0, ge=0)
    """Records stored over all parts."""
    complete: bool = False
    """Every ok generate record of the arm is stored (false while the stage runs or after it was stopped)."""
    truncated: int = Field(0, ge=0)
    """Stored records whose prompt + reply was longer than the model's context: cut from the left, as
    lm-eval does (their `prompt_last` is still the last prompt token; the prompt's start is missing)."""
    not_measured: dict[str, int] = {}
    """Records of the arm not stored, by reason: `failed` (no reply), `loglikelihood` (no reply to read),
    `empty_reply` (a reply of no tokens)."""

    @model_validator(mode="after")
    def _consistent(self) -> ArmActivations:
        if self.status == "not_measurable" and not self.reason:
            raise ValueError("a not_measurable arm needs its reason")
        if self.status == "measured" and (self.layers is None or self.hidden is None):
            raise ValueError("a measured arm needs layers and hidden")
        return self


class ActivationIndex(Record):
    """`activations/index.json`."""

    version: int = ACTIVATIONS_VERSION
    """Activation store format version."""
    arms: dict[str, ArmActivations] = {}
    """Arm name → its entry (every arm of the run the stage has seen)."""
