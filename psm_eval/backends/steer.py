"""The `psm-steered` model type: an `hf` model with a stored persona direction added to its residual stream.

    psm-steered:pretrained=PATH,directions=FILE,direction=axis,layer=2,coef=4

It is lm-eval's `HFLM` (everything `hf` takes, generation, loglikelihood, chat templates, psm_eval's
per-request seeding) plus one forward hook on the module whose output is residual position `layer`
(transformers' `hidden_states[layer]`): `coef × direction[layer]` — the raw mean difference stored in a
psm_eval directions file, not a unit vector — is added there at every position, prompt and generated
tokens alike. `random=SEED` replaces the direction by a seeded random vector of the same norm (the
control). Vectors load from safetensors, so no code in the file runs (lm-eval's own `steered` type
uses `torch.load(weights_only=False)` and is refused by `validate.py`).
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lm_eval.models.huggingface import HFLM

from psm_eval.errors import BackendError, SpecError, StoreError

__all__ = ["STEER_TYPE", "DEFAULT_DIRECTION", "Steering", "ModelShape", "resolve_steering", "steering_for_spec",
           "model_shape", "PsmSteeredLM"]

STEER_TYPE = "psm-steered"
DEFAULT_DIRECTION = "axis"
_FINAL_NORMS = ("norm", "ln_f", "final_layernorm", "final_layer_norm", "final_norm")


@dataclass(frozen=True)
class ModelShape:
    """What steering needs to know about a model's layout (read from a loaded or a weightless model)."""

    blocks: int
    """Decoder blocks (config `num_hidden_layers`); residual positions are 0 … blocks."""
    hidden: int
    """Hidden size."""
    modules: tuple[str, ...]
    """Every module name (`named_modules` of the causal-LM object), for hookpoint checks."""
    defaults: tuple[str | None, ...]
    """Per residual position, the module whose output is `hidden_states[position]`, None where unknown."""


@dataclass(frozen=True)
class Steering:
    """One arm's steering, resolved: what is added, where. `identity()` goes into the fingerprint."""

    directions: str
    """The directions file's `sha256:` content hash."""
    direction: str
    """The direction's name in that file."""
    layer: int
    """Residual position (0: embeddings; l: block l's output)."""
    coef: float
    """Multiplier of the raw stored vector."""
    hookpoint: str
    """The module whose output the vector is added to."""
    random: int | None
    """Seed of the random control vector (same norm as the direction at `layer`), or None."""
    norm: float
    """L2 norm of the added vector (coef × ‖direction[layer]‖)."""

    def identity(self) -> dict[str, Any]:
        return asdict(self)


def model_shape(model: Any) -> ModelShape:
    """The layout of a causal-LM object (loaded, or built on the meta device): decoder blocks, hidden size,
    module names, and the module whose output is each residual position (embeddings; block l-1 for l in
    1 … blocks-1; the final norm for the last, as transformers ties `hidden_states[-1]` to the normed output)."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    blocks, hidden = int(config.num_hidden_layers), int(config.hidden_size)
    named = dict(model.named_modules())
    lists = [n for n, m in named.items() if isinstance(m, torch.nn.ModuleList) and len(m) == blocks]
    embed = next((n for n, m in named.items() if m is model.get_input_embeddings()), None)
    defaults: list[str | None] = [embed] + [None] * blocks
    if lists:
        layers = lists[0]
        defaults[1:blocks] = [f"{layers}.{i}" for i in range(blocks - 1)]
        parent, _, own = layers.rpartition(".")
        siblings = list(dict((named[parent] if parent else model).named_children()))
        after = siblings[siblings.index(own) + 1:]
        norm = next((s for s in after if s in _FINAL_NORMS or "norm" in type(named[_join(parent, s)]).__name__.lower()),
                    None)
        defaults[blocks] = _join(parent, norm) if norm else None
    return ModelShape(blocks, hidden, tuple(n for n in named if n), tuple(defaults))


def _join(parent: str, child: str) -> str:
    return f"{parent}.{child}" if parent else child


@functools.lru_cache(maxsize=8)
def _weightless_shape(pretrained: str, revision: str, trust_remote_code: bool) -> ModelShape:
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(pretrained, revision=revision, trust_remote_code=trust_remote_code)
    with torch.device("meta"):  # module names without allocating or reading a weight
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    return model_shape(model)


def steering_for_spec(args: Mapping[str, Any], where: str) -> Steering:
    """Resolve a `psm-steered` spec's steering without loading weights (the model's config only); a
    mistake is one SpecError line starting with `where`."""
    pretrained = str(args.get("pretrained") or "")
    if not pretrained:
        raise SpecError(f"{where}: model type '{STEER_TYPE}' needs pretrained=")
    try:
        shape = _weightless_shape(str(Path(pretrained).expanduser()) if Path(pretrained).expanduser().exists()
                                  else pretrained, str(args.get("revision") or "main"),
                                  str(args.get("trust_remote_code", "")).lower() == "true")
    except Exception as exc:
        raise SpecError(f"{where}: could not read the configuration of pretrained={pretrained}: "
                        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    return resolve_steering(args, shape, where)


def resolve_steering(args: Mapping[str, Any], shape: ModelShape, where: str) -> Steering:
    """Check a spec's steering arguments against its directions file and the model's layout."""
    from psm_eval.activations.directions import read_directions

    path = args.get("directions")
    if not path:
        raise SpecError(f"{where}: model type '{STEER_TYPE}' needs directions= (a psm_eval directions file)")
    try:
        found = read_directions(Path(str(path)).expanduser())
    except StoreError as exc:
        raise SpecError(f"{where}: directions={path}: {str(exc).removeprefix(f'{Path(str(path)).expanduser()}: ')}") \
            from None
    name = str(args.get("direction") or DEFAULT_DIRECTION)
    if name not in found.vectors:
        close = difflib.get_close_matches(name, list(found.vectors), n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise SpecError(f"{where}: direction={name}: {path} has no such direction (it has: "
                        f"{', '.join(sorted(found.vectors))}){hint}")
    prov = found.provenance
    if prov.hidden != shape.hidden:
        raise SpecError(f"{where}: {path} holds directions of hidden size {prov.hidden}; the model's hidden size is "
                        f"{shape.hidden} (a directions file fits only models of its width)")
    layer = _integer(args.get("layer", prov.directions[name].default_layer), "layer", where)
    top = min(shape.blocks, prov.layers - 1)
    if not 0 <= layer <= top:
        raise SpecError(f"{where}: layer={layer} is out of range: residual positions 0–{top} (0: the embeddings, "
                        f"l: block l's output; the model has {shape.blocks} blocks, the file {prov.layers} positions)")
    coef = _number(args.get("coef"), "coef", where)
    seed = None if args.get("random") in (None, "", "None") else _integer(args.get("random"), "random", where)
    hookpoint = _hookpoint(args.get("hookpoint"), shape, layer, where)
    vector = found.vectors[name][layer]
    return Steering(found.content_hash, name, layer, coef, hookpoint, seed,
                    float(abs(coef) * np.linalg.norm(vector)))


def _hookpoint(given: Any, shape: ModelShape, layer: int, where: str) -> str:
    if given in (None, ""):
        default = shape.defaults[layer]
        if default is None:
            raise SpecError(f"{where}: no module of this model is known to output residual position {layer}: "
                            "name it with hookpoint=MODULE")
        return default
    if str(given) not in shape.modules:
        close = difflib.get_close_matches(str(given), shape.modules, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise SpecError(f"{where}: hookpoint={given}: the model has no module of that name{hint}")
    return str(given)


def _number(value: Any, key: str, where: str) -> float:
    if value is None:
        raise SpecError(f"{where}: model type '{STEER_TYPE}' needs {key}= (the multiplier of the stored vector)")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{where}: {key}={value!r} is not a number") from None
    if not math.isfinite(number):
        raise SpecError(f"{where}: {key}={value!r} is not a finite number")
    return number


def _integer(value: Any, key: str, where: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise SpecError(f"{where}: {key}={value!r} is not a whole number") from None
    if number < 0:
        raise SpecError(f"{where}: {key}={value!r} must be 0 or more")
    return number


def added_vector(steering: Steering, directions: Path) -> np.ndarray:
    """The vector the hook adds: coef × the stored direction at the layer, or a seeded random vector of the
    same norm (numpy's PCG64: the same on every platform)."""
    from psm_eval.activations.directions import read_directions

    v = read_directions(directions).vectors[steering.direction][steering.layer].astype(np.float64)
    if steering.random is not None:
        r = np.random.default_rng(steering.random).standard_normal(v.shape[0])
        v = r * (np.linalg.norm(v) / np.linalg.norm(r))
    return (steering.coef * v).astype(np.float32)


class PsmSteeredLM(HFLM):
    """lm-eval's `HFLM` with `coef × direction[layer]` added to the residual stream (see the module doc)."""

    def __init__(self, pretrained: Any, directions: str, coef: float, direction: str = DEFAULT_DIRECTION,
                 layer: int | None = None, hookpoint: str | None = None, random: int | None = None,
                 device: str | None = None, **kwargs: Any) -> None:
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        super().__init__(pretrained=pretrained, device=device, **kwargs)
        args = {"directions": directions, "direction": direction, "coef": coef, "hookpoint": hookpoint,
                "random": random, **({} if layer is None else {"layer": layer})}
        where = f"model type '{STEER_TYPE}'"
        shape = model_shape(self.model)
        self.steering = resolve_steering(args, shape, where)
        modules = dict(self.model.named_modules())
        if hookpoint in (None, ""):
            _check_position(self, modules[self.steering.hookpoint], self.steering.layer)
        vector = torch.from_numpy(added_vector(self.steering, Path(str(directions)).expanduser()))
        self._vector = vector.to(device=self.device, dtype=self.model.dtype)
        # first among the module's hooks, so transformers' own output capture (`output_hidden_states`) records
        # the steered residual, as every later module sees it
        self._handle: Any = modules[self.steering.hookpoint].register_forward_hook(self._add, prepend=True)

    def _add(self, module: Any, inputs: Any, output: Any) -> Any:
        if isinstance(output, tuple):
            return (output[0] + self._vector.to(output[0].dtype), *output[1:])
        return output + self._vector.to(output.dtype)

    def remove_steering(self) -> None:
        """Take the hook off the model (idempotent); the model then answers as plain `hf`."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    close = remove_steering


def _check_position(lm: HFLM, module: Any, layer: int) -> None:
    """The default hookpoint was found by the model's layout; check on two tokens that its output really is
    `hidden_states[layer]`, so the vector lands where the directions file measured it."""
    seen: list[Any] = []
    handle = module.register_forward_hook(lambda m, i, o: seen.append(o[0] if isinstance(o, tuple) else o))
    try:
        with torch.no_grad():
            ids = torch.tensor([[lm.tokenizer.bos_token_id or 0, lm.eot_token_id]], device=lm.device)
            out = lm.model(ids, output_hidden_states=True)
    finally:
        handle.remove()
    if not seen or not torch.allclose(seen[-1], out.hidden_states[layer], atol=1e-5, rtol=1e-4):
        raise BackendError(f"{STEER_TYPE}: the output of the module chosen for layer {layer} is not "
                           f"hidden_states[{layer}] in this model: name the module with hookpoint=")
