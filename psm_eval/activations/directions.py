"""The directions file: persona directions of one model, per layer, with their provenance.

A directions file is a safetensors file (no pickle: loading it runs no code) holding, for each
direction `NAME`:

- `direction.NAME`  float32 [layers + 1, hidden]: the raw mean difference, positive − negative groups,
  at every residual-stream position (index 0: the embeddings; index l: the output of block l, as
  transformers' `hidden_states[l]`).
- `questions.NAME`  float16 [questions, layers + 1, hidden] (optional): the same difference per
  question, which the bootstrap of an axis' stability resamples.

and one metadata entry, `psm_eval`, a JSON `Provenance`: the model (name, fingerprint, size), the
persona templates (by hash), the questions (source, ids, hash), and per direction its groups, the
layer it is read at by default, and the mean projection of each group per layer — the two reference
points that make a projection a *position* (0: where the negative group sits, 1: the positive group).

The file's identity is the sha256 of its bytes (`content_hash`), which steering arms put in the
manifest and the response cache's key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from psm_eval.errors import StoreError

__all__ = ["DIRECTIONS_VERSION", "DirectionInfo", "Provenance", "Directions", "read_directions",
           "write_directions", "content_hash", "unit"]

DIRECTIONS_VERSION = 1
_KEY = "psm_eval"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class DirectionInfo(_Strict):
    """How one direction was made and where its groups sit."""

    positive: list[str] = Field(min_length=1)
    """Persona (group) names whose mean is the direction's positive end (e.g. ["assistant"])."""
    negative: list[str] = Field(min_length=1)
    """Persona names averaged (each group weighted equally) into the negative end."""
    kind: str = "trait"
    """"axis" (the assistant against every other persona) or "trait" (one contrast)."""
    default_layer: int = Field(ge=0)
    """The residual-stream index the direction is read at unless a layer is named: where the groups
    separate best on the build's questions (largest standardised gap), among the positions between the
    embeddings and the last one (transformers' last hidden state is the final norm's output)."""
    positive_mean: list[float]
    """Per layer: mean projection (on the unit direction) of the positive group's replies."""
    negative_mean: list[float]
    """Per layer: mean projection of the negative groups' replies (groups weighted equally)."""
    separation: list[float]
    """Per layer: the standardised gap (positive − negative mean projection over the pooled SD)."""
    group_means: dict[str, list[float]] = {}
    """Per persona (group) of either end: its replies' mean projection per layer (where each persona sits)."""


class Provenance(_Strict):
    """What a directions file was derived from."""

    version: int = DIRECTIONS_VERSION
    """Directions file format version."""
    model: str
    """The model's display name (folder name or hub id)."""
    fingerprint: dict[str, Any]
    """The model's fingerprint as the run manifest records it (its files' content for local folders)."""
    layers: int = Field(ge=1)
    """Residual-stream positions stored (the model's blocks + 1 for the embeddings)."""
    hidden: int = Field(ge=1)
    """Hidden size."""
    reduction: str = "reply_mean"
    """How one reply became one vector: `reply_mean`, the mean over the reply's tokens."""
    personas: dict[str, str]
    """Persona name → the renderer (`transcript:NAME` or a file) and its template hash, as `render|hash`."""
    questions: dict[str, Any]
    """Where the questions came from: `source`, `ids` (in order), `hash` (sha256 of their text)."""
    generation: dict[str, Any] = {}
    """How the build's replies were generated (max_gen_toks, temperature, seed)."""
    directions: dict[str, DirectionInfo]
    """Direction name → how it was made."""


@dataclass(frozen=True)
class Directions:
    """A loaded directions file."""

    provenance: Provenance
    vectors: dict[str, np.ndarray]
    """Direction name → float32 [layers + 1, hidden] (raw, not unit)."""
    per_question: dict[str, np.ndarray] = field(default_factory=dict)
    """Direction name → float32 [questions, layers + 1, hidden], where stored."""
    content_hash: str = ""
    """`sha256:` of the file's bytes."""
    path: Path | None = None

    def unit(self, name: str, layer: int) -> np.ndarray:
        return unit(self.vectors[name][layer])

    def position(self, name: str, layer: int, activation: np.ndarray) -> float:
        """Where an activation [hidden] sits on a direction: 0 at the negative groups' mean projection,
        1 at the positive group's."""
        info = self.provenance.directions[name]
        lo, hi = info.negative_mean[layer], info.positive_mean[layer]
        return float((float(activation @ self.unit(name, layer)) - lo) / (hi - lo))


def unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def content_hash(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"sha256:{h.hexdigest()}"


def write_directions(path: str | Path, provenance: Provenance, vectors: dict[str, np.ndarray],
                     per_question: dict[str, np.ndarray] | None = None) -> str:
    """Write a directions file atomically; return its content hash."""
    from safetensors.numpy import save_file

    path = Path(path)
    tensors: dict[str, np.ndarray] = {}
    for name in sorted(vectors):
        v = np.ascontiguousarray(vectors[name], dtype=np.float32)
        if v.shape != (provenance.layers, provenance.hidden):
            raise ValueError(f"direction {name!r}: shape {v.shape}, expected {(provenance.layers, provenance.hidden)}")
        if name not in provenance.directions:
            raise ValueError(f"direction {name!r} has no provenance entry")
        tensors[f"direction.{name}"] = v
    for name, q in sorted((per_question or {}).items()):
        tensors[f"questions.{name}"] = np.ascontiguousarray(q, dtype=np.float16)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={_KEY: json.dumps(provenance.model_dump(mode="json"), sort_keys=True)})
    tmp.replace(path)
    return content_hash(path)


def read_directions(path: str | Path, *, per_question: bool = False) -> Directions:
    """Load a directions file (safetensors: no code runs); a malformed one is a StoreError naming it."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise StoreError(f"{path}: no such directions file (make one with `psm-eval directions build`)")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = (f.metadata() or {}).get(_KEY)
            if meta is None:
                raise StoreError(f"{path}: not a psm_eval directions file (no '{_KEY}' metadata)")
            try:
                provenance = Provenance.model_validate(json.loads(meta))
            except (ValidationError, json.JSONDecodeError) as exc:
                raise StoreError(f"{path}: metadata '{_KEY}': {_first_error(exc)}") from None
            if provenance.version != DIRECTIONS_VERSION:
                raise StoreError(f"{path}: directions format {provenance.version}; this psm_eval reads "
                                 f"{DIRECTIONS_VERSION}: rebuild it with `psm-eval directions build`")
            keys = set(f.keys())
            vectors: dict[str, np.ndarray] = {}
            questions: dict[str, np.ndarray] = {}
            for name in provenance.directions:
                if f"direction.{name}" not in keys:
                    raise StoreError(f"{path}: direction '{name}' is declared but its tensor 'direction.{name}' "
                                     "is missing")
                v = f.get_tensor(f"direction.{name}").astype(np.float32)
                if v.shape != (provenance.layers, provenance.hidden):
                    raise StoreError(f"{path}: tensor 'direction.{name}' has shape {tuple(v.shape)}, the "
                                     f"provenance says {(provenance.layers, provenance.hidden)}")
                vectors[name] = v
                if per_question and f"questions.{name}" in keys:
                    questions[name] = f.get_tensor(f"questions.{name}").astype(np.float32)
    except SafetensorError as exc:
        raise StoreError(f"{path}: not a readable safetensors file ({exc})") from None
    return Directions(provenance, vectors, questions, content_hash(path), path)


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"field '{'.'.join(str(p) for p in err['loc'])}': {err['msg']}"
    return str(exc)
