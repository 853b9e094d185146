"""What the sample browser shows beside the replies — each sample's user turns, reference answers, choices
and metadata — read from the task folder the run recorded, and only when that task is still the one the
run asked (version, fields that shape a request and data hash unchanged, as scoring checks). The run
store itself holds no references; without the task folder the report says so and shows the rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psm_eval.errors import PsmError
from psm_eval.records import Manifest

__all__ = ["SampleInfo", "load_sample_info"]


@dataclass(frozen=True)
class SampleInfo:
    """One sample as its task defines it (no model output)."""

    task: str
    sample_id: str
    user_turns: list[str]
    """The user turns' text, in order (a reply's `turn` indexes this list)."""
    references: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    gold: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def load_sample_info(manifest: Manifest) -> tuple[list[SampleInfo], list[str]]:
    """Every sample of the run's tasks, and one note per task whose samples could not be shown."""
    from psm_eval.data.task import load_task
    from psm_eval.run.manifest import task_changes

    out: list[SampleInfo] = []
    notes: list[str] = []
    for entry in manifest.tasks:
        try:
            task = load_task(entry.path, limit=manifest.limit)
        except (PsmError, OSError, ValueError) as e:
            notes.append(f"{entry.name}: task folder not readable here ({type(e).__name__})")
            continue
        if task_changes(entry, task):
            notes.append(f"{entry.name}: the task changed since the run, so its references are not shown")
            continue
        for s in task.samples:
            out.append(SampleInfo(
                task=entry.name, sample_id=s.id, user_turns=[t.content for t in s.turns if t.role == "user"],
                references=list(s.references), choices=list(s.choices), gold=s.gold, metadata=dict(s.metadata)))
    return out, notes
