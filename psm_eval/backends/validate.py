"""Cheap checks of a model spec, before a run folder is made or a model is loaded: the model type is
lm-eval's, its arguments are ones its constructor takes, and the folders it names exist.

Without them a misspelt argument surfaces as lm-eval's "HFLM.__init__() missing 1 required positional
argument: 'pretrained'" (or, for API models, which drop unknown arguments, not at all), and a folder
that does not exist as "couldn't connect to huggingface.co". Nothing here loads a tokenizer or weights.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
from pathlib import Path

from psm_eval.backends.probe import API_TYPES, CHAT_API_TYPES
from psm_eval.backends.spec import ModelSpec
from psm_eval.errors import SpecError

__all__ = ["validate_spec", "constructor_arguments"]

# arguments that name a local folder or a hub model, for models loaded in this process
LOCAL_PATH_ARGS = ("pretrained", "tokenizer", "peft", "delta")
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
# a misspelling is this close to a real argument name (`pretraind` ~ `pretrained` is 0.95); classes that
# pass unknown arguments on (hf's go to `from_pretrained`) are checked only for such near misses
_NEAR = 0.8


def validate_spec(spec: ModelSpec, where: str = "model spec") -> None:
    """Raise SpecError, one line starting with `where`, for an unknown model type, a misspelt or unknown
    argument, a missing required one, or a model folder that does not exist (offline: a hub name that
    is not in the local cache)."""
    from psm_eval.backends.lm import check_type

    if spec.type == "steered":
        raise SpecError(f"{where}: lm-eval's 'steered' type loads its vector file with torch.load(weights_only=False), "
                        "which can run code from that file; use psm-steered:pretrained=PATH,directions=FILE,coef=C")
    try:
        check_type(spec.type)
    except SpecError as exc:
        raise SpecError(f"{where}: {exc}") from None
    _check_replicas(spec, where)
    known = constructor_arguments(spec.type)
    if known is not None:
        _check_arguments(spec, where, *known)
    for key in _path_args(spec):
        _check_path(str(spec.args[key]), key, where)
    if spec.type == "psm-steered":  # the directions file, direction, layer, hookpoint, coef (no weights loaded)
        from psm_eval.backends.steer import steering_for_spec

        steering_for_spec(spec.args, where)


def _check_replicas(spec: ModelSpec, where: str) -> None:
    """lm-eval 0.4.13's `vllm` with data_parallel_size > 1 starts fresh Ray tasks that build the model again on
    every call (`VLLM._model_generate`): hours of loading over a run. Refused, with the two routes that work."""
    if spec.type != "vllm" or "data_parallel_size" not in spec.args:
        return
    value = str(spec.args["data_parallel_size"])
    if not value.isdigit():
        raise SpecError(f"{where}: data_parallel_size={value}: expected a whole number of replicas")
    if int(value) > 1:
        raise SpecError(f"{where}: data_parallel_size={value} reloads the model on every call in lm-eval 0.4.13; run "
                        "one replica per shard (`--executor ray --shards N` with data_parallel_size=1), or serve it "
                        "with `vllm serve` behind local-completions (docs/performance.md, \"Serve and shard\")")


def constructor_arguments(kind: str) -> tuple[dict[str, bool], bool] | None:
    """({argument: required}, whether unknown arguments are dropped) for a model type's constructor,
    or None when its class cannot be imported here (a missing optional package: lm-eval says so when
    the model is created)."""
    import lm_eval.api.registry as registry
    from lm_eval.models.api_models import TemplateAPI

    try:
        cls = registry.get_model(kind)
    except Exception:
        return None
    arguments: dict[str, bool] = {}
    first = True
    for klass in cls.__mro__:  # up the chain while each __init__ passes **kwargs on
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = list(inspect.signature(init).parameters.values())[1:]
        for p in parameters:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                arguments.setdefault(p.name, first and p.default is p.empty)
        first = False
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    # TemplateAPI swallows **kwargs unread: an argument it does not name would be silently ignored
    return arguments, issubclass(cls, TemplateAPI)


def _check_arguments(spec: ModelSpec, where: str, known: dict[str, bool], strict: bool) -> None:
    for name in spec.args:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6 if strict else _NEAR)
        if strict:
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise SpecError(f"{where}: model type '{spec.type}' has no argument '{name}' (lm-eval would ignore "
                            f"it){hint}")
        if close:
            raise SpecError(f"{where}: model type '{spec.type}' has no argument '{name}'; did you mean '{close[0]}'?")
    missing = [name for name, required in known.items() if required and name not in spec.args]
    if missing:
        raise SpecError(f"{where}: model type '{spec.type}' needs {', '.join(f'{m}=' for m in missing)} "
                        f"(e.g. {spec.type}:{missing[0]}=…)")


def _path_args(spec: ModelSpec) -> list[str]:
    """The arguments whose value this process loads as a folder or hub name (as `ModelProbe` does)."""
    args = spec.args
    if spec.type not in API_TYPES:
        return [k for k in LOCAL_PATH_ARGS if isinstance(args.get(k), str) and args[k]]
    if spec.type in CHAT_API_TYPES or args.get("tokenizer_backend") in ("none", "None", "tiktoken", "remote"):
        return []  # the server tokenizes
    if args.get("tokenizer"):
        return ["tokenizer"]
    return ["model"] if args.get("tokenizer_backend") == "huggingface" and args.get("model") else []


def _check_path(value: str, key: str, where: str) -> None:
    if Path(value).expanduser().exists():
        return
    if not _HUB_NAME.match(value):
        raise SpecError(f"{where}: {key}={value}: no such folder")
    if _offline() and not _in_hub_cache(value):
        raise SpecError(f"{where}: {key}={value}: no folder '{value}', and no hub model of that name in the local "
                        "Hugging Face cache (offline: HF_HUB_OFFLINE is set)")


def _offline() -> bool:
    return any(os.environ.get(v, "").upper() in ("1", "ON", "YES", "TRUE") for v in ("HF_HUB_OFFLINE",
                                                                                      "TRANSFORMERS_OFFLINE"))


def _in_hub_cache(name: str) -> bool:
    from huggingface_hub.constants import HF_HUB_CACHE

    snapshots = Path(HF_HUB_CACHE) / f"models--{name.replace('/', '--')}" / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())
