"""The pandas API: a stored run as DataFrames (`psm_eval.load_run`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["RunFrames", "load_run"]


@dataclass(frozen=True)
class RunFrames:
    """A run's tables. `samples` is the report's table model (one row per reply, one column per
    overall `scorer.metric`); the others are the stored records, one row each."""

    samples: Any
    generations: Any
    scores: Any
    summary: Any
    activation: Any = None
    """Persona in activation space: table name (`positions`, `axis cosine`, `convergent validity`, `gap
    closed`, `directions`) → DataFrame; empty when the run stored no activations. Each reply's projections
    are in `samples` (columns `activation.axis_LABEL` …) and `scores`."""


def load_run(path: Path | str) -> RunFrames:
    """Read a run folder into pandas DataFrames: samples, generations, scores, summary, activation tables."""
    import pandas as pd

    from psm_eval.report.load import load_run_data
    from psm_eval.report.tables import build_tables

    run = load_run_data(path, require_scores=False)
    tables = build_tables(run)
    rows = []
    for r in tables.samples:
        d = asdict(r)
        scores, unscored = d.pop("scores"), d.pop("unscored")
        d["judge"] = "\n\n".join(d["judge"])
        d.update(scores)
        d.update({f"{k} unscored": v for k, v in unscored.items()})
        rows.append(d)
    generations = [g.to_json() for g in run.generations]
    return RunFrames(samples=pd.DataFrame(rows),
                     generations=pd.json_normalize(generations, max_level=1) if generations else pd.DataFrame(),
                     scores=pd.DataFrame([s.to_json() for s in run.scores]),
                     summary=pd.DataFrame([r.to_json() for r in run.summary.records] if run.summary else []),
                     activation={name: pd.DataFrame(rows) for name, rows in tables.activation.items()})
