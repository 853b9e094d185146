"""The scorer registry: name → factory, version, argument schema, what the scorer applies to, and what
it declares about each metric (family, direction, kind, chart) for the summary, reports and gate.

Scorer modules register themselves with `@register(...)`; the registry imports them all on first
lookup (single source: the decorator). Unknown names get a "did you mean".
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from psm_eval.errors import ScoringError
from psm_eval.records import MetricInfo
from psm_eval.score.scorers.base import Scorer
from psm_eval.specs import format_validation_error

__all__ = ["ScorerInfo", "ScoringError", "NoArgs", "register", "get_scorer", "scorer_names", "build_scorer",
           "metric"]


def metric(name: str, family: str, direction: str, kind: str, description: str, *, experimental: bool = False,
           **extra: Any) -> MetricInfo:
    """A metric's declaration (task, scorer and version are filled in when a run is scored). `experimental`:
    the metric is below its bar on the validity card (`psm-eval scorers validate`) or not yet validated."""
    return MetricInfo(metric=name, family=family, direction=direction, kind=kind,  # type: ignore[arg-type]
                      description=description, experimental=experimental, **extra)

FAMILIES = ("accuracy", "choice", "signals", "frame", "paraphrase", "drift", "mixture", "helpfulness", "shift",
            "truthfulqa", "ifeval", "activation")


class NoArgs(BaseModel):
    """Arguments of a scorer that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ScorerInfo:
    """A registered scorer."""

    name: str
    version: str
    """Bumped whenever the scorer's output for the same generations can change."""
    factory: Callable[[Any], Scorer]
    args: type[BaseModel]
    kinds: frozenset[str]
    """Task kinds it applies to: `generate`, `multiple_choice`."""
    modes: frozenset[str] = frozenset({"gold", "rollout"})
    needs_judge: Callable[[Any], bool] = lambda args: False
    """Whether the scorer cannot run without a judge, given its args."""
    uses_judge: Callable[[Any], bool] = lambda args: False
    """Whether it uses a judge when one is given (some items of its tasks may need one)."""
    metrics: Any = ()
    """What each metric is: a tuple of `MetricInfo`, or a function of the scorer's args returning one."""
    summarize: Callable[..., dict[str, list]] | None = None
    """Extra summary sections computed from this scorer's scores (LC win rate, top tokens …)."""
    doc: str = field(default="")

    def declarations(self, args: Any) -> tuple[MetricInfo, ...]:
        """The metric declarations for these args."""
        return tuple(self.metrics(args) if callable(self.metrics) else self.metrics)


_REGISTRY: dict[str, ScorerInfo] = {}
_loaded = False


def register(name: str, *, version: str, metrics: Any, args: type[BaseModel] = NoArgs,
             kinds: tuple[str, ...] = ("generate",), modes: tuple[str, ...] = ("gold", "rollout"),
             needs_judge: Callable[[Any], bool] | None = None, uses_judge: Callable[[Any], bool] | None = None,
             summarize: Callable[..., dict[str, list]] | None = None) -> Callable:
    """Decorator for a scorer factory `(args) -> Scorer`; its docstring's first line is the summary."""

    def wrap(factory: Callable[[Any], Scorer]) -> Callable[[Any], Scorer]:
        if name in _REGISTRY:
            raise ValueError(f"scorer '{name}' registered twice")
        doc = (factory.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ScorerInfo(name=name, version=version, factory=factory, args=args,
                                     kinds=frozenset(kinds), modes=frozenset(modes),
                                     needs_judge=needs_judge or (lambda a: False),
                                     uses_judge=uses_judge or needs_judge or (lambda a: False), metrics=metrics,
                                     summarize=summarize, doc=doc[0] if doc else "")
        return factory

    return wrap


def _load() -> None:
    global _loaded
    if not _loaded:
        for family in FAMILIES:
            importlib.import_module(f"psm_eval.score.scorers.{family}")
        _loaded = True


def scorer_names() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def get_scorer(name: str) -> ScorerInfo:
    """The registered scorer `name`, or a ScoringError with a suggestion."""
    _load()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(sorted(_REGISTRY))}"
        raise ScoringError(f"unknown scorer '{name}'{hint}")
    return _REGISTRY[name]


def build_scorer(name: str, args: dict[str, Any], where: str) -> tuple[ScorerInfo, Any, Scorer]:
    """Validate `args` against the scorer's schema and build it: (info, validated args, scorer)."""
    info = get_scorer(name)
    try:
        parsed = info.args.model_validate(args or {})
    except ValidationError as exc:
        raise ScoringError(format_validation_error(exc, f"{where}: scorer '{name}' args")) from None
    return info, parsed, info.factory(parsed)
