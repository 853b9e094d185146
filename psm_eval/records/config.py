"""`config.json`: the run configuration (tasks, arms, seed, limits) as validated and stored.

The same schema validates CLI flags, a run.yaml and the stored copy a resumed run reloads.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from psm_eval.backends.spec import ModelSpec, parse_model_spec
from psm_eval.errors import PsmError

__all__ = ["ModelConfig", "ArmConfig", "RunConfig", "CONFIG", "NAME_PATTERN"]

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

    def model_spec(self) -> ModelSpec:
        if isinstance(self.model, str):
            return parse_model_spec(self.model, f"arm '{self.name}'")
        return ModelSpec(type=self.model.type, args=dict(self.model.args))

    def public(self) -> dict[str, Any]:
        """JSON-safe, secret-free description for the manifest."""
        data = self.model_dump(exclude={"model"})
        data["model"] = self.model_spec().redacted()
        return data


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

    @field_validator("arms")
    @classmethod
    def _unique_arms(cls, arms: list[ArmConfig]) -> list[ArmConfig]:
        names = [a.name for a in arms]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"arm names must be unique; repeated: {', '.join(dupes)}")
        return arms

    @model_validator(mode="after")
    def _specs_parse(self) -> RunConfig:
        for arm in self.arms:
            try:
                arm.model_spec()
            except PsmError as exc:
                raise ValueError(str(exc)) from None
        return self
