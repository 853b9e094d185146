"""What a run and a scoring pass print at their end: the PSM verdict, one wrapped paragraph per prediction."""

from __future__ import annotations

import shutil
import textwrap

from psm_eval.records import Summary

__all__ = ["verdict_lines"]


def verdict_lines(summary: Summary, width: int | None = None) -> list[str]:
    """The declared predictions with their verdicts, as the report's headline states them; [] when none."""
    if summary.psm is None:
        return []
    width = width or min(120, shutil.get_terminal_size((100, 20)).columns)
    out = [f"PSM predictions ({summary.psm.primary_endpoints} primary endpoints, Holm-adjusted; "
           "docs/scorers.md, 'The PSM verdict'):"]
    for p in summary.psm.predictions:
        out += textwrap.wrap(p.sentence, width=width, initial_indent="  ", subsequent_indent="      ",
                             break_on_hyphens=False)
        if p.verdict in ("inconclusive", "not evaluated", "contradicted"):
            out += textwrap.wrap(f"why: {p.reason}", width=width, initial_indent="      ", subsequent_indent="      ")
    return out
