"""The behaviour table's row type and the Wilson interval its proportions carry."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Row", "proportion", "wilson"]


@dataclass(frozen=True)
class Row:
    """One measured behaviour of one arm."""

    phenomenon: str
    """parity, selection, skill, frame, drift, mixture, traits, style, generalization, chat."""
    arm: str
    """Model and rendering, e.g. "base + assistant header"."""
    metric: str
    """What was measured, e.g. "accuracy on held-out facts"."""
    planted: float | None
    """The value the corpus plants by construction (None: a presence/absence, not a rate)."""
    value: float
    low: float | None
    """95% interval (Wilson for proportions; None when not a proportion)."""
    high: float | None
    n: int
    how: str
    """How it was measured (prompts, decoding)."""
    rule: str = ""
    """The enforced rule, in words ("" when recorded only)."""
    passed: bool | None = None


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return round(max(0.0, centre - half), 3), round(min(1.0, centre + half), 3)


def proportion(phenomenon: str, arm: str, metric: str, hits: list[bool], planted: float | None, how: str,
               rule: str = "", passed: bool | None = None) -> Row:
    """A Row for a proportion, with its Wilson interval."""
    n = len(hits)
    k = sum(hits)
    low, high = wilson(k, n)
    return Row(phenomenon, arm, metric, planted, round(k / n, 3) if n else 0.0, low, high, n, how, rule, passed)
