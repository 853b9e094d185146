"""`config.json`: the run configuration (tasks, arms, seed, limits) as validated and stored.

The same schema validates CLI flags, a run.yaml and the stored copy a resumed run reloads.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from psm_eval.backends.spec import (
    DEFAULT_MAX_RETRY_AFTER_S,
    DEFAULT_RETRY_DEADLINE_S,
    DEFAULT_TIMEOUT_S,
    ModelSpec,
    RequestLimits,
    parse_model_spec,
)
from psm_eval.errors import PsmError
from psm_eval.records.predictions import Prediction

__all__ = ["ModelConfig", "ArmConfig", "ActivationsConfig", "RunConfig", "CONFIG", "NAME_PATTERN"]

CONFIG = "config.json"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ModelConfig(_Strict):
    """A model spec in mapping form (YAML)."""

    type: str
    """lm-eval model type."""
    args: dict[str, str | int | float | bool] = {}
    """Constructor arguments (no secrets: API keys come from the environment)."""


class ArmConfig(_Strict):
    """One arm: a model, how its prompts are rendered, and its generation settings."""

    name: str = Field(pattern=NAME_PATTERN)
    """Arm name used in files and reports (letters, digits, `-`, `_`, `.`)."""
    model: str | ModelConfig
    """`TYPE:key=value,...` or {type, args}."""
    render: str
    """`transcript:<persona>` for base models, `chat` for the model's own chat template."""
    system: str | None = None
    """System prompt added to every dialogue (chat: a system message; transcript: the template's system)."""
    max_gen_toks: int | None = Field(None, ge=1, le=32768)
    """Overrides the task's max_gen_toks."""
    temperature: float | None = Field(None, ge=0.0, le=5.0)
    """Overrides the task's temperature."""
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    retries: int = Field(3, ge=0, le=20)
    """Retries of transient failures per request (API arms)."""
    cache: bool | None = None
    """Answer repeated identical requests from the response cache. Default (None): yes for local models
    (keyed on their files' content), no for API arms — a server can change behind the same name; `true`
    opts an API arm in, keyed on the server's own description of the served model where it gives one."""
    timeout: float = Field(DEFAULT_TIMEOUT_S, gt=0, le=3600)
    """Seconds one attempt of a request may take, from connecting to the reply's last byte (API arms);
    then it is abandoned and, within `retries` and `retry_deadline`, tried again. Default 120: a few
    thousand tokens from a busy server arrive well within it, while a hung server costs 2 minutes per
    attempt instead of lm-eval's 5."""
    retry_deadline: float = Field(DEFAULT_RETRY_DEADLINE_S, gt=0, le=86_400)
    """Seconds all attempts of one request may take together, waits between them included (API arms);
    a request still unanswered then is stored as a `timeout` failure. Default 300: two full attempts
    and the backoff between them, so a hung server costs at most 5 minutes per request (it cost ~20)."""
    max_retry_after: float = Field(DEFAULT_MAX_RETRY_AFTER_S, ge=0, le=3600)
    """Longest `Retry-After` (seconds) a rate-limited request waits for; a server asking for longer ends
    the request at once as `rate_limited` rather than stalling the run (`Retry-After: 100000` waited 190 s).
    Default 60: the longest wait per-minute rate limits ask for."""

    @model_validator(mode="before")
    @classmethod
    def _timeout_is_an_arm_setting(cls, data: Any) -> Any:
        """lm-eval's own `timeout` model argument is this arm's `timeout`: it moves there, so one value
        rules (a config written before the arm setting existed keeps its value)."""
        if not isinstance(data, dict):
            return data
        model = data.get("model")
        if isinstance(model, str):
            try:
                spec = parse_model_spec(model, f"arm '{data.get('name')}'")
            except PsmError:
                return data  # RunConfig reports the spec's own error
            model = {"type": spec.type, "args": spec.args}
        elif isinstance(model, ModelConfig):
            model = model.model_dump()
        if not (isinstance(model, dict) and isinstance(model.get("args"), dict) and "timeout" in model["args"]):
            return data
        args = dict(model["args"])
        value = args.pop("timeout")
        if "timeout" in data and _number(data["timeout"]) != _number(value):
            raise ValueError(f"arm '{data.get('name')}': timeout is given twice ({data['timeout']} as an arm "
                             f"setting, {value} as a model argument); give it once, beside render=")
        return {**data, "model": {**model, "args": args}, "timeout": value}

    def request_limits(self) -> RequestLimits:
        return RequestLimits(timeout=self.timeout, retry_deadline=self.retry_deadline,
                             max_retry_after=self.max_retry_after)

    def model_spec(self) -> ModelSpec:
        if isinstance(self.model, str):
            spec = parse_model_spec(self.model, f"arm '{self.name}'")
            return ModelSpec(type=spec.type, args=spec.args, limits=self.request_limits())
        return ModelSpec(type=self.model.type, args=dict(self.model.args), limits=self.request_limits())

    def public(self) -> dict[str, Any]:
        """JSON-safe, secret-free description for the manifest."""
        data = self.model_dump(exclude={"model"})
        data["model"] = self.model_spec().redacted()
        return data


class ActivationsConfig(_Strict):
    """The activation stage of a run (`psm_eval.activations`)."""

    measure: bool = True
    """Store the hidden states of every in-process (transformers) arm's replies after generation, before
    scoring (`--no-activations`: false)."""
    directions: dict[str, str] = {}
    """Label → directions file (`psm-eval directions build`) whose projections scoring reports, e.g.
    {base: psm-tiny-base.safetensors}."""


def _number(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _unique(names: list[str], what: str) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{what} must be unique; repeated: {', '.join(dupes)}")


class RunConfig(_Strict):
    """A whole run."""

    tasks: list[str] = Field(min_length=1)
    """Task references: names under tasks/, folders, or task.yaml paths."""
    arms: list[ArmConfig] = Field(min_length=1)
    seed: int = 1234
    """Seeds every sampled request (per sample, arm, turn and repeat)."""
    limit: int | None = Field(None, ge=1)
    """First N samples of each task."""
    out: str = "runs"
    """Folder that receives `<run_id>/`."""
    cache: bool = True
    """Answer repeated identical requests to an identical model from the local response cache."""
    cache_dir: str | None = None
    """Response cache folder (default `$PSM_EVAL_CACHE_DIR` or `~/.cache/psm_eval`)."""
    max_error_rate: float | None = Field(0.1, ge=0, le=1)
    """The error budget: the run stops (status `failed`, records kept, resumable) as soon as one arm's
    failed records exceed this share of the records it owes, checked after every record; None = none."""
    predictions: list[Prediction] = []
    """The PSM predictions scoring decides (from the suite, unless the config lists its own)."""
    roles: dict[str, str] = {}
    """Role → arm, for predictions written in roles (`base`, `chat`, …) when the arms are named otherwise."""
    activations: ActivationsConfig | None = None
    """The activation stage; None: measure (the default) with no directions. Written to config.json only
    when set, so configs stored before it existed read unchanged."""

    @field_validator("predictions")
    @classmethod
    def _unique_predictions(cls, predictions: list[Prediction]) -> list[Prediction]:
        _unique([p.id for p in predictions], "prediction ids")
        return predictions

    @model_validator(mode="after")
    def _roles_name_arms(self) -> RunConfig:
        names = {a.name for a in self.arms}
        unknown = sorted(arm for arm in self.roles.values() if arm not in names)
        if unknown:
            raise ValueError(f"roles map to arms this run does not have: {', '.join(unknown)}")
        return self

    @field_validator("arms")
    @classmethod
    def _unique_arms(cls, arms: list[ArmConfig]) -> list[ArmConfig]:
        _unique([a.name for a in arms], "arm names")
        return arms

    @model_validator(mode="after")
    def _specs_parse(self) -> RunConfig:
        for arm in self.arms:
            try:
                arm.model_spec()
            except PsmError as exc:
                raise ValueError(str(exc)) from None
        return self
