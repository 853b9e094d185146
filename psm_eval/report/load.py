"""Read one run folder for reporting: manifest, generations, scores and summary — nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psm_eval.report.errors import ReportError
from psm_eval.run.store import GENERATIONS, MANIFEST, read_json, read_jsonl

__all__ = ["RunData", "load_run_data", "SCORES", "SUMMARY"]

SCORES = "scores.jsonl"
SUMMARY = "summary.json"


@dataclass(frozen=True)
class RunData:
    """The stored records of one run, as read from its folder."""

    path: Path
    manifest: dict[str, Any]
    generations: list[dict[str, Any]]
    scores: list[dict[str, Any]]
    summary: dict[str, Any]
    """`summary.json`; an empty summary (no records) when the run was never scored."""

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.path.name)

    @property
    def arm_names(self) -> list[str]:
        return [a["name"] for a in self.manifest.get("arms", [])]

    @property
    def task_names(self) -> list[str]:
        return [t["name"] for t in self.manifest.get("tasks", [])]


def load_run_data(path: Path | str, *, require_scores: bool = True, records: bool = True) -> RunData:
    """Read a run folder (`records=False`: manifest and summary only). Raises ReportError (one line)
    when it is not a run or was never scored."""
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"{path}: no such run folder")
    if not (path / MANIFEST).exists():
        raise ReportError(f"{path}: not a psm_eval run folder (no {MANIFEST})")
    manifest = read_json(path / MANIFEST)
    if require_scores and not (path / SUMMARY).exists():
        raise ReportError(f"{path}: the run has not been scored (no {SUMMARY}); run `psm-eval score {path}` first")
    summary = read_json(path / SUMMARY) if (path / SUMMARY).exists() else {"records": []}
    if not isinstance(manifest, dict) or not isinstance(summary, dict) or not isinstance(summary.get("records", []), list):
        raise ReportError(f"{path}: manifest.json or summary.json is not a psm_eval record")
    return RunData(path=path, manifest=manifest, generations=list(read_jsonl(path / GENERATIONS)) if records else [],
                   scores=list(read_jsonl(path / SCORES)) if records else [], summary=summary)
