"""Every file of a run folder as a typed, versioned record, with one reader and one writer per file.

| file | record | writer | reader |
|---|---|---|---|
| `manifest.json` | `Manifest` | `write_manifest` | `read_manifest` |
| `config.json` | `RunConfig` | `write_config` | `read_config` / `read_config_data` |
| `generations.jsonl` | `GenerationRecord` | `RunStore.append` | `iter_generations` |
| `scores.jsonl` | `Score` | `write_scores` | `read_scores` |
| `summary.json` | `Summary` (its `psm` block: `PsmBlock`) | `write_summary` | `read_summary` |
| baseline file | `Baseline` | `write_baseline` | `read_baseline` |
| `activations/index.json` | `ActivationIndex` | `activations.store` `write_index` | `open_activations` |

The run folder has one schema version (`SCHEMA_VERSION`, stored in the manifest); summary and baseline
files carry their own. A file of another schema is refused in one line naming both versions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from psm_eval.errors import StoreError
from psm_eval.records.activations import (
    ACTIVATIONS,
    ACTIVATIONS_INDEX,
    ACTIVATIONS_VERSION,
    ActivationIndex,
    ArmActivations,
)
from psm_eval.records.base import SCHEMA_VERSION, Record, check_schema, parse
from psm_eval.records.baseline import (
    BASELINE_FORMAT,
    BASELINE_SCHEMA,
    COLUMNS,
    Baseline,
    BaselineMetric,
    BaselineRow,
    BaselineTask,
    GenerationCount,
    JudgeEntry,
    PortableArm,
)
from psm_eval.records.config import CONFIG, ActivationsConfig, ArmConfig, ModelConfig, RunConfig
from psm_eval.records.generation import GENERATIONS, ErrorInfo, GenerationRecord, GenSettings, PromptRecord, record_key
from psm_eval.records.io import (
    dumps,
    read_json,
    read_jsonl_lines,
    write_json_atomic,
    write_jsonl_atomic,
    write_text_atomic,
)
from psm_eval.records.manifest import (
    MANIFEST,
    ArmEntry,
    BackendEntry,
    CacheStats,
    Counts,
    Manifest,
    RendererEntry,
    RunStatus,
    TaskEntry,
    Throughput,
)
from psm_eval.records.predictions import (
    Endpoint,
    EndpointResult,
    Finding,
    Prediction,
    PredictionResult,
    PsmBlock,
)
from psm_eval.records.score import SCORES, JudgeTrace, Score, Stratum
from psm_eval.records.store import RunStore
from psm_eval.records.summary import (
    SUMMARY,
    Chart,
    Direction,
    Family,
    JudgeQuality,
    Kind,
    MetricInfo,
    ScorerRun,
    ScorerTable,
    SkippedScorer,
    Summary,
    SummaryRecord,
    UnscoredCount,
)

__all__ = [
    "SCHEMA_VERSION", "Record", "RunStore",
    "MANIFEST", "CONFIG", "GENERATIONS", "SCORES", "SUMMARY",
    "Manifest", "TaskEntry", "ArmEntry", "RendererEntry", "Counts", "CacheStats", "BackendEntry", "RunStatus",
    "Throughput", "RunConfig", "ArmConfig", "ModelConfig", "ActivationsConfig",
    "GenerationRecord", "PromptRecord", "GenSettings", "ErrorInfo", "record_key",
    "Score", "Stratum", "JudgeTrace",
    "Summary", "SummaryRecord", "MetricInfo", "UnscoredCount", "SkippedScorer", "ScorerRun", "ScorerTable",
    "JudgeQuality", "Family", "Direction", "Kind", "Chart",
    "Prediction", "Endpoint", "PsmBlock", "Finding", "PredictionResult", "EndpointResult",
    "Baseline", "BaselineMetric", "BaselineRow", "BaselineTask", "PortableArm", "GenerationCount", "JudgeEntry",
    "BASELINE_FORMAT", "BASELINE_SCHEMA", "COLUMNS",
    "ACTIVATIONS", "ACTIVATIONS_INDEX", "ACTIVATIONS_VERSION", "ActivationIndex", "ArmActivations",
    "is_run_folder", "read_manifest", "write_manifest", "read_config", "read_config_data", "write_config",
    "iter_generations", "read_generations", "read_scores", "write_scores", "read_summary", "write_summary",
    "read_baseline", "write_baseline", "dumps", "write_json_atomic", "write_text_atomic",
]


def is_run_folder(folder: Path | str) -> bool:
    return (Path(folder) / MANIFEST).is_file()


# ---- manifest.json ---------------------------------------------------------------------------

def read_manifest(folder: Path | str) -> Manifest:
    """The run's manifest; a folder of another schema is refused in one line."""
    path = Path(folder) / MANIFEST
    data = read_json(path)
    check_schema(data.get("schema_version") if isinstance(data, dict) else None, str(Path(folder)))
    return parse(Manifest, data, str(path))


def write_manifest(folder: Path | str, manifest: Manifest) -> None:
    write_json_atomic(Path(folder) / MANIFEST, manifest.to_json())


# ---- config.json -----------------------------------------------------------------------------

def read_config_data(folder: Path | str) -> dict[str, Any]:
    """The stored config as JSON data (validate it with `read_config` or the run stage's own checks)."""
    data = read_json(Path(folder) / CONFIG)
    if not isinstance(data, dict):
        raise StoreError(f"{Path(folder) / CONFIG}: expected a JSON object")
    return data


def read_config(folder: Path | str) -> RunConfig:
    from psm_eval.specs import format_validation_error

    try:
        return RunConfig.model_validate(read_config_data(folder))
    except ValidationError as exc:
        raise StoreError(format_validation_error(exc, str(Path(folder) / CONFIG))) from None


def write_config(folder: Path | str, data: dict[str, Any]) -> None:
    """Write the (already redacted) config data."""
    write_json_atomic(Path(folder) / CONFIG, data)


# ---- generations.jsonl -----------------------------------------------------------------------

def iter_generations(folder: Path | str, *, repair: bool = False) -> Iterator[GenerationRecord]:
    """The stored generation records in file order (a torn last line is dropped; cut if `repair`)."""
    path = Path(folder) / GENERATIONS
    for number, data in read_jsonl_lines(path, repair=repair):
        yield parse(GenerationRecord, data, f"{path}:line {number}")


def read_generations(folder: Path | str) -> list[GenerationRecord]:
    return list(iter_generations(folder))


# ---- scores.jsonl ----------------------------------------------------------------------------

def read_scores(folder: Path | str) -> list[Score]:
    """The stored score records ([] when the run was never scored)."""
    path = Path(folder) / SCORES
    return [parse(Score, data, f"{path}:line {number}") for number, data in read_jsonl_lines(path)]


def write_scores(folder: Path | str, scores: Iterable[Score]) -> Path:
    path = Path(folder) / SCORES
    write_jsonl_atomic(path, (s.to_json() for s in scores))
    return path


# ---- summary.json ----------------------------------------------------------------------------

def read_summary(folder: Path | str) -> Summary:
    path = Path(folder) / SUMMARY
    data = read_json(path)
    check_schema(data.get("schema_version") if isinstance(data, dict) else None, str(path), what="summary",
                 redo="score the run again (`psm-eval score RUN_DIR`)")
    return parse(Summary, data, str(path))


def write_summary(folder: Path | str, summary: Summary) -> Path:
    path = Path(folder) / SUMMARY
    write_json_atomic(path, summary.to_json())
    return path


# ---- baseline files ----------------------------------------------------------------------------

def read_baseline(path: Path | str) -> Baseline:
    """A baseline file; NaN tokens parse (they become unscored rows in the gate)."""
    import json

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: not a readable baseline file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != BASELINE_FORMAT:
        raise StoreError(f"{path}: not a psm_eval baseline (expected \"format\": \"{BASELINE_FORMAT}\"); "
                         "pass a run folder or a file from `psm-eval baseline export`")
    check_schema(data.get("schema_version"), str(path), BASELINE_SCHEMA, what="baseline",
                 redo="export it again (`psm-eval baseline export RUN_DIR -o FILE`)")
    return parse(Baseline, data, str(path))


def write_baseline(path: Path | str, baseline: Baseline) -> Path:
    """Strict JSON, one metric per line (readable diffs, small files), written atomically."""
    data = baseline.to_json()
    parts = [f"{dumps(k)}: " + ("[\n" + ",\n".join(dumps(i) for i in v) + "\n]" if isinstance(v, list) and v
                                  else dumps(v)) for k, v in sorted(data.items())]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, "{\n" + ",\n".join(parts) + "\n}\n")
