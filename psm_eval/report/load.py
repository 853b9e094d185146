"""Read one run folder for reporting — manifest, generations, scores and summary — as typed records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from psm_eval.records import (
    MANIFEST,
    SUMMARY,
    GenerationRecord,
    Manifest,
    Score,
    Summary,
    read_generations,
    read_manifest,
    read_scores,
    read_summary,
)
from psm_eval.report.errors import ReportError

__all__ = ["RunData", "load_run_data"]


@dataclass(frozen=True)
class RunData:
    """The stored records of one run, as read from its folder."""

    path: Path
    manifest: Manifest
    generations: list[GenerationRecord]
    scores: list[Score]
    summary: Summary | None
    """None when the run was never scored."""

    @property
    def run_id(self) -> str:
        return self.manifest.run_id or self.path.name

    @property
    def arm_names(self) -> list[str]:
        return self.manifest.arm_names

    @property
    def task_names(self) -> list[str]:
        return self.manifest.task_names


def load_run_data(path: Path | str, *, require_scores: bool = True, records: bool = True) -> RunData:
    """Read a run folder (`records=False`: manifest and summary only). Raises ReportError (one line)
    when it is not a run or was never scored, StoreError when a file is corrupt or of another schema."""
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"{path}: no such run folder")
    if not (path / MANIFEST).exists():
        runs = [d for d in path.iterdir() if (d / MANIFEST).is_file()]
        if runs:  # `psm-eval report runs/`: a folder of runs
            newest = max(runs, key=lambda d: ((d / MANIFEST).stat().st_mtime, d.name))
            raise ReportError(f"{path} is a folder of runs ({len(runs)}), not a run: `psm-eval report --index {path}` "
                              f"lists them all; the newest is `psm-eval report {newest}`")
        raise ReportError(f"{path}: not a psm_eval run folder (no {MANIFEST})")
    manifest = read_manifest(path)
    if require_scores and not (path / SUMMARY).exists():
        raise ReportError(f"{path}: the run has not been scored (no {SUMMARY}); run `psm-eval score {path}` first")
    summary = read_summary(path) if (path / SUMMARY).exists() else None
    return RunData(path=path, manifest=manifest, generations=read_generations(path) if records else [],
                   scores=read_scores(path) if records else [], summary=summary)
