"""What `run` and `score` print at their end: the headline metrics per arm with intervals, the PSM verdict
(one wrapped paragraph per prediction), failures by arm and kind, the files written and the next command."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence
from pathlib import Path

from psm_eval.records import Manifest, Summary, SummaryRecord

__all__ = ["verdict_lines", "results_table", "failure_lines", "results_lines", "file_lines",
           "console_width"]

_ARROW = {"higher": "↑", "lower": "↓"}
_GAP = "  "


def console_width(width: int | None = None) -> int:
    """The given width, else the terminal's, at most 100 columns (the width the output is laid out for)."""
    return width or min(100, shutil.get_terminal_size((100, 20)).columns)


def verdict_lines(summary: Summary, width: int | None = None) -> list[str]:
    """The declared predictions with their verdicts, as the report's headline states them; [] when none."""
    if summary.psm is None:
        return []
    width = console_width(width)
    out = [f"PSM predictions ({summary.psm.primary_endpoints} primary endpoints, Holm-adjusted; "
           "docs/scorers.md, 'The PSM verdict'):"]
    for p in summary.psm.predictions:
        out += textwrap.wrap(p.sentence, width=width, initial_indent="  ", subsequent_indent="      ",
                             break_on_hyphens=False)
        if p.verdict in ("inconclusive", "not evaluated", "contradicted"):
            out += textwrap.wrap(f"why: {p.reason}", width=width, initial_indent="      ", subsequent_indent="      ")
    for f in summary.psm.exploratory:
        out += textwrap.wrap(f.sentence, width=width, initial_indent="  ", subsequent_indent="      ",
                             break_on_hyphens=False)
    return out


def _cell(r: SummaryRecord | None) -> str:
    if r is None or r.estimate is None:
        return "—"
    ci = "" if r.ci_low is None or r.ci_high is None else f" [{r.ci_low:.2f}, {r.ci_high:.2f}]"
    return f"{r.estimate:.3f}{ci}"


def results_table(summary: Summary, width: int | None = None) -> list[str]:
    """Arms × headline metrics: each arm's mean with its interval, one row per headline metric (the metrics
    whose scorer declares them `headline`; named by task and metric, the scorer too where a task has two
    metrics of one name). Arms that do not fit the width continue in a further block."""
    width = console_width(width)
    declared = [m for m in summary.metrics if m.headline]
    if not declared:
        return []
    means = {(r.task, r.scorer, r.metric, r.arm): r for r in summary.records
             if r.statistic == "mean" and r.stratum is None and r.arm is not None}
    arms = list(dict.fromkeys(r.arm for r in summary.records if r.arm is not None))
    shared = {(m.task, m.metric) for m in declared
              if sum((x.task, x.metric) == (m.task, m.metric) for x in declared) > 1}
    rows = [(f"{m.task} {f'{m.scorer}.' if (m.task, m.metric) in shared else ''}{m.metric} "
             f"{_ARROW.get(m.direction, '·')}{'*' if m.experimental else ''}",
             [_cell(means.get((m.task, m.scorer, m.metric, a))) for a in arms]) for m in declared]
    rows = [(label, cells) for label, cells in rows if any(c != "—" for c in cells)]
    if not rows or not arms:
        return []
    label_w = max(len("metric"), *(len(label) for label, _ in rows))
    col_w = [max(len(a), *(len(cells[i]) for _, cells in rows)) for i, a in enumerate(arms)]
    out = ["Results: mean [95% CI] per arm (↑ higher is better, ↓ lower, · neither; * experimental)"]
    for block in _blocks(col_w, width - label_w):
        out.append("")
        out.append(_line("metric".ljust(label_w), [arms[i].ljust(col_w[i]) for i in block]))
        out += [_line(label.ljust(label_w), [cells[i].ljust(col_w[i]) for i in block]) for label, cells in rows]
    return out


def _blocks(col_w: Sequence[int], room: int) -> list[list[int]]:
    """Consecutive arm columns that fit in `room` characters (at least one a block)."""
    blocks: list[list[int]] = [[]]
    used = 0
    for i, w in enumerate(col_w):
        if blocks[-1] and used + len(_GAP) + w > room:
            blocks.append([])
            used = 0
        blocks[-1].append(i)
        used += len(_GAP) + w
    return blocks


def _line(label: str, cells: Sequence[str]) -> str:
    return _GAP.join([label, *cells]).rstrip()


def failure_lines(manifest: Manifest) -> list[str]:
    """One line per arm with failed records: how many, of how many, by kind."""
    lines = []
    for arm, c in manifest.counts.items():
        if c.failed:
            kinds = ", ".join(f"{n} {kind}" for kind, n in c.failures.items())
            lines.append(f"arm {arm}: {c.failed} of {c.ok + c.failed} records failed ({kinds})")
    return lines


def results_lines(summary: Summary, width: int | None = None) -> list[str]:
    """The results table, then the PSM verdict, each followed by a blank line."""
    out: list[str] = []
    for part in (results_table(summary, width), verdict_lines(summary, width)):
        out += [*part, ""] if part else []
    return out


def file_lines(run_dir: Path, scores: Path, summary: Path) -> list[str]:
    """Where a scored run's outputs are and what to run next."""
    return [f"run folder: {run_dir}", f"scores written to {scores}", f"summary written to {summary}",
            f"next: psm-eval report {run_dir}"]
