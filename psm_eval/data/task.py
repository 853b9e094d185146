"""Task specs (`tasks/<name>/task.yaml`) and their samples, loaded through `datasets`.

A task file is validated against `TaskSpec` (unknown keys and wrong types are errors that name
file, line and field); each data row becomes a `Sample` with a stable id, or an error that names
the data file, the row and the field.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from psm_eval.errors import TaskError
from psm_eval.specs import load_yaml, validate
from psm_eval.types import Sample, Turn

__all__ = [
    "TaskSpec",
    "Task",
    "load_task",
    "find_task_dirs",
    "resolve_task",
    "default_tasks_root",
    "request_spec",
    "changed_fields",
]

TASK_FILE = "task.yaml"
FORMATS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataSource(_Strict):
    """Where the samples come from: a local file, or a hub dataset."""

    path: str | None = None
    """Data file relative to the task folder (.json, .jsonl, .csv, .parquet)."""
    hub: str | None = None
    """Hub dataset name (needs network; pin `revision`)."""
    config: str | None = None
    """Hub dataset configuration name."""
    split: str = "train"
    """Split to load."""
    revision: str | None = None
    """Hub revision (commit or tag) so the data cannot change under a task version."""
    files: str | list[str] | None = None
    """Hub only: which files of the dataset repo to load (for repos that mix file layouts)."""
    loader: str | None = None
    """Row adapter from `psm_eval.data.loaders` for a public dataset's format (e.g. `mt_bench`);
    it maps each raw row to the columns `fields` names."""
    dedupe: bool = False
    """Drop every row equal to an earlier one in all its columns (the first is kept). Without it such
    rows stay, as samples of their own (a loader numbers their ids `-2`, `-3` …), and `tasks validate`
    counts them."""

    @model_validator(mode="after")
    def _one_source(self) -> DataSource:
        if (self.path is None) == (self.hub is None):
            raise ValueError("give exactly one of 'path' or 'hub'")
        if self.files is not None and self.hub is None:
            raise ValueError("'files' selects files of a hub dataset; for a local file use 'path'")
        if self.path is not None and Path(self.path).suffix.lower() not in FORMATS:
            raise ValueError(f"unsupported data file type {Path(self.path).suffix!r}; use one of {sorted(FORMATS)}")
        return self


class Fields(_Strict):
    """Which data columns hold what."""

    id: str | None = None
    """Column with a stable sample id; without it the id is a content hash."""
    prompt: str | None = None
    """Column with a single user message (single-turn tasks)."""
    dialogue: str | None = None
    """Column with a list of {role, content} messages (multi-turn tasks)."""
    system: str | None = None
    """Column with a system message for the dialogue."""
    references: str | None = None
    """Column with a reference answer (string) or accepted answers (list of strings)."""
    choices: str | None = None
    """Column with the answer options (multiple choice)."""
    answer: str | None = None
    """Column with the correct choice: its index, or its text."""
    metadata: list[str] = []
    """Columns copied into the sample's metadata (category, trait …)."""
    cluster: str | None = None
    """Column naming the independent unit a sample belongs to (e.g. the fact several paraphrases ask
    about): samples sharing a value are resampled together by every interval and test."""

    @model_validator(mode="after")
    def _one_dialogue(self) -> Fields:
        if (self.prompt is None) == (self.dialogue is None):
            raise ValueError("give exactly one of 'prompt' or 'dialogue'")
        return self


class GenerationOverride(_Strict):
    """Settings that replace the task's own for the samples of one metadata value."""

    max_gen_toks: int | None = Field(None, ge=1, le=32768)
    temperature: float | None = Field(None, ge=0.0, le=5.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)

    @field_validator("temperature", "top_p", mode="before")
    @classmethod
    def _int_is_float(cls, v: Any) -> Any:
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


class GenerationOverrides(_Strict):
    """Per-sample generation settings keyed on a metadata value (MT-Bench's temperature per category)."""

    by: str
    """Sample metadata key (it must be listed in `fields.metadata`)."""
    values: dict[str, GenerationOverride]
    """Metadata value → the settings that replace the task's for those samples; other values keep them."""


class Generation(_Strict):
    """Generation settings for this task (arms may override max_gen_toks and temperature)."""

    max_gen_toks: int = Field(64, ge=1, le=32768)
    """Maximum new tokens per reply (always passed explicitly to lm-eval)."""
    temperature: float = Field(0.0, ge=0.0, le=5.0)
    """0 means greedy."""
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    """Nucleus sampling threshold, when sampling."""
    until: list[str] = []
    """Extra stop sequences, on top of the renderer's end-of-turn stops."""
    repeats: int = Field(1, ge=1, le=1000)
    """Replies per prompt (k samples for persona mixture; needs temperature > 0 to differ)."""
    look_past_stop: int = Field(0, ge=0, le=64)
    """After the stop fires, generate this many more tokens (stored as `after_stop`, never part of the
    reply) to see whether the model would have gone on to write the user's next turn (frame integrity;
    in-process models only)."""
    overrides: GenerationOverrides | None = None
    """Settings per value of a sample metadata key; an arm's own `max_gen_toks` / `temperature` /
    `top_p` still win over both."""

    @field_validator("temperature", "top_p", mode="before")
    @classmethod
    def _int_is_float(cls, v: Any) -> Any:
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v

    def for_sample(self, sample: Sample) -> Generation:
        """These settings with the sample's override applied (itself when none applies)."""
        if self.overrides is None:
            return self
        value = sample.metadata.get(self.overrides.by)
        override = self.overrides.values.get(str(value)) if value is not None else None
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_none=True))


class Primer(_Strict):
    """Text put before every prompt, e.g. the few-shot QA primer of lm-eval's TruthfulQA tasks."""

    path: str
    """UTF-8 text file relative to the task folder; its trailing newlines are dropped. Its content is
    part of the task's data hash, so changing it is a changed task."""
    separator: str = "\n\n"
    """Between the primer and the prompt."""
    question: str = "{prompt}"
    """How each prompt is written after the primer: `{prompt}` (exactly once) stands for the prompt text,
    e.g. `"Q: {prompt}\\nA:"`. Replaced literally; nothing else in it is special."""

    @field_validator("question")
    @classmethod
    def _one_slot(cls, v: str) -> str:
        if v.count("{prompt}") != 1:
            raise ValueError("must contain '{prompt}' exactly once (where the prompt text goes)")
        return v

    def apply(self, primer: str, prompt: str) -> str:
        return primer + self.separator + self.question.replace("{prompt}", prompt)


class ScorerRef(_Strict):
    """A scorer by registered name, with its arguments."""

    name: str
    args: dict[str, Any] = {}


class TaskSpec(_Strict):
    """A validated `task.yaml`."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    """Task name: lowercase letters, digits, `-`, `_`, `.`."""
    version: int | str
    """Bump whenever data, prompts or scoring change; stored with every run."""
    description: str
    """What the task measures, one or two sentences."""
    kind: Literal["generate", "multiple_choice"] = "generate"
    """`generate` replies, or `multiple_choice` scored by loglikelihood of each choice."""
    data: DataSource
    fields: Fields
    mode: Literal["gold", "rollout"] = "gold"
    """Multi-turn: `gold` uses the data's assistant turns and generates the last reply;
    `rollout` feeds each arm's own replies back and generates at every user turn."""
    generation: Generation = Generation()
    scorers: list[str | ScorerRef] = []
    """Scorers run on this task by default (names from the scorer registry)."""
    category: str | None = None
    """Free-form grouping (helpfulness, accuracy, persona …)."""
    primer: Primer | None = None
    """A few-shot primer before every prompt (single-turn `fields.prompt` tasks)."""

    @model_validator(mode="after")
    def _kind_fields(self) -> TaskSpec:
        if self.kind == "multiple_choice" and (self.fields.choices is None or self.fields.answer is None):
            raise ValueError("multiple_choice tasks need 'fields.choices' and 'fields.answer'")
        if self.primer is not None and self.fields.prompt is None:
            raise ValueError("'primer' needs a single-turn task ('fields.prompt')")
        over = self.generation.overrides
        if over is not None and over.by not in self.fields.metadata:
            raise ValueError(f"'generation.overrides.by': {over.by!r} is not in 'fields.metadata'; list it there "
                             "so that every sample carries it")
        return self


@dataclass(frozen=True)
class Task:
    """A loaded task: its spec, where it lives, a hash of its data, and its samples."""

    spec: TaskSpec
    directory: Path
    data_hash: str
    samples: tuple[Sample, ...]
    notes: tuple[str, ...] = ()
    """What `tasks validate` tells about the data: exact-duplicate rows, override values no sample has."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return str(self.spec.version)

    @property
    def spec_hash(self) -> str:
        """sha256 of every spec field that shapes a request and is not at its default, and of the data: a
        field psm_eval adds later with a default that keeps today's requests leaves the hash as it was."""
        fields = request_spec(self.spec, exclude_defaults=True)
        body = json.dumps({"spec": fields, "data": self.data_hash}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(body.encode("utf-8")).hexdigest()


# Spec fields that describe or score a task but never change what is asked of a model.
NOT_REQUEST_FIELDS = ("description", "category", "scorers", "version")


def request_spec(spec: TaskSpec, *, exclude_defaults: bool = False) -> dict[str, Any]:
    """The task spec's fields that shape requests (data source, fields, kind, mode, generation)."""
    data = spec.model_dump(mode="json", exclude_defaults=exclude_defaults)
    return {k: v for k, v in data.items() if k not in NOT_REQUEST_FIELDS}


def changed_fields(before: Any, after: Any, at: str = "") -> list[str]:
    """Dotted paths where two JSON values differ, each as `path: old → new`."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [c for k in sorted(before.keys() | after.keys())
                for c in changed_fields(before.get(k), after.get(k), f"{at}.{k}" if at else str(k))]
    return [] if before == after else [f"{at or '(value)'}: {before!r:.40} → {after!r:.40}"]


def default_tasks_root() -> Path:
    """`./tasks` when it exists, else the `tasks/` folder beside the installed package."""
    here = Path.cwd() / "tasks"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "tasks"


def find_task_dirs(root: Path) -> list[Path]:
    """Every folder under `root` (itself included) that holds a task.yaml, sorted."""
    if (root / TASK_FILE).is_file():
        return [root]
    return sorted(p.parent for p in root.rglob(TASK_FILE))


def resolve_task(ref: str | Path) -> Path:
    """A task reference (folder, task.yaml path, or task name under the tasks root) → folder."""
    p = Path(ref)
    if p.is_file() and p.name == TASK_FILE:
        return p.parent
    if (p / TASK_FILE).is_file():
        return p
    named = default_tasks_root() / str(ref)
    if (named / TASK_FILE).is_file():
        return named
    known = [d.name for d in find_task_dirs(default_tasks_root())] if default_tasks_root().is_dir() else []
    import difflib

    close = difflib.get_close_matches(str(ref), known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise TaskError(f"task '{ref}' not found (no {TASK_FILE} there or under {default_tasks_root()}){hint}")


def load_task(ref: str | Path, limit: int | None = None) -> Task:
    """Load and validate a task folder (or task.yaml), returning its samples."""
    directory = resolve_task(ref)
    spec_path = directory / TASK_FILE
    raw, lines = load_yaml(spec_path, TaskError)
    spec = validate(TaskSpec, raw, str(spec_path), lines, TaskError)
    rows, where, data_hash = _load_rows(spec, directory, spec_path, lines)
    rows, notes = _duplicates(rows, spec.data.dedupe)
    if spec.data.loader is not None:
        from psm_eval.data.loaders import adapt_rows

        rows = adapt_rows(spec.data.loader, rows, where)
    primer = None
    if spec.primer is not None:
        primer, digest = _read_primer(spec.primer, directory, spec_path, lines)
        data_hash += f"+primer:sha256:{digest}"
    samples = _samples(spec, rows, where, primer)
    notes += _unused_overrides(spec, samples)
    if limit is not None:
        samples = samples[:limit]
    return Task(spec=spec, directory=directory, data_hash=data_hash, samples=tuple(samples), notes=tuple(notes))


def _duplicates(rows: list[dict], drop: bool) -> tuple[list[dict], list[str]]:
    """The rows (without exact repeats when `drop`), and a note counting the repeats."""
    seen: set[str] = set()
    kept = []
    for row in rows:
        key = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
        if key in seen and drop:
            continue
        kept.append(row)
        seen.add(key)
    repeats = len(rows) - len(seen)
    if not repeats:
        return rows, []
    if drop:
        return kept, [f"{repeats} of {len(rows)} rows repeated an earlier row exactly and were dropped (data.dedupe)"]
    return rows, [f"{repeats} of {len(rows)} rows repeat an earlier row exactly and are kept as samples of their own; "
                  "'data.dedupe: true' drops them"]


def _read_primer(primer: Primer, directory: Path, spec_path: Path, lines: dict) -> tuple[str, str]:
    path = (directory / primer.path).resolve()
    if not path.is_file():
        raise TaskError(f"{spec_path}:line {lines.get(('primer', 'path'))}: field 'primer.path': "
                        f"file {primer.path!r} not found")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TaskError(f"{path}: the primer is not UTF-8 text") from None
    return text.rstrip("\r\n"), hashlib.sha256(raw).hexdigest()


def _unused_overrides(spec: TaskSpec, samples: list[Sample]) -> list[str]:
    over = spec.generation.overrides
    if over is None:
        return []
    seen = {str(s.metadata.get(over.by)) for s in samples if s.metadata.get(over.by) is not None}
    unused = [v for v in over.values if v not in seen]
    return [f"generation.overrides: no sample has {over.by} = {', '.join(map(repr, unused))} "
            f"(values present: {', '.join(sorted(seen)) or 'none'})"] if unused else []


def _load_rows(spec: TaskSpec, directory: Path, spec_path: Path, lines: dict) -> tuple[list[dict], str, str]:
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # our error says it in one line
    src = spec.data
    if src.path is not None:
        path = (directory / src.path).resolve()
        if not path.is_file():
            line = lines.get(("data", "path"))
            raise TaskError(f"{spec_path}:line {line}: field 'data.path': data file {src.path!r} not found")
        builder = FORMATS[path.suffix.lower()]
        raw = path.read_bytes()
        data_hash = "sha256:" + hashlib.sha256(raw).hexdigest()
        bad = _lone_surrogate_line(path, raw)
        if bad:
            raise TaskError(f"{path}:line {bad}: a lone surrogate escape (\\udXXX without its pair) in a string, "
                            "which pyarrow cannot load; remove it or complete the pair")
        try:
            ds = datasets.load_dataset(builder, data_files=str(path), split="train")
        except Exception as exc:  # datasets/pyarrow raise many types for bad files
            where = _bad_json_line(path) if builder == "json" else None
            raise TaskError(f"{path}{where or ''}: cannot load as {builder}: "
                            f"{_first_line(exc.__cause__ or exc)}") from None
        return [dict(r) for r in ds], str(path), data_hash
    try:
        extra = {"data_files": src.files} if src.files is not None else {}
        ds = datasets.load_dataset(src.hub, src.config, split=src.split, revision=src.revision, **extra)
    except Exception as exc:
        raise TaskError(f"{spec_path}: hub dataset {src.hub!r} could not be loaded "
                        f"(offline or unknown?): {_first_line(exc)}") from None
    data_hash = f"hub:{src.hub}@{src.revision or 'unpinned'}:{ds._fingerprint}"
    return [dict(r) for r in ds], f"hub:{src.hub}", data_hash


def _bad_json_line(path: Path) -> str | None:
    """`:line N` of the first line that is not valid JSON (datasets' own error does not say)."""
    if path.suffix.lower() != ".jsonl":
        return None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    json.loads(line)
                except json.JSONDecodeError:
                    return f":line {number}"
    return None


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _lone_surrogate_line(path: Path, raw: bytes) -> int | None:
    """The first line of a .jsonl file with a lone surrogate escape (`\\ud800` without its pair): valid
    JSON that pyarrow refuses, after which datasets re-reads the file as ONE JSON document, so a
    one-line file loads wrong (its lists exploded into rows, the surrogate dropped) instead of failing."""
    if path.suffix.lower() != ".jsonl" or not _SURROGATE_ESCAPE.search(raw):
        return None
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            json.dumps(json.loads(line), ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return number
        except ValueError:  # blank or not JSON: datasets' own error names it
            continue
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _samples(spec: TaskSpec, rows: list[dict], where: str, primer: str | None = None) -> list[Sample]:
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        place = f"{where}: row {i + 1}"
        sample = _sample(spec, row, place, primer)
        if sample.id in seen:
            raise TaskError(f"{place}: field '{spec.fields.id or '(content)'}': duplicate sample id "
                            f"{sample.id!r} (first at row {seen[sample.id] + 1})")
        seen[sample.id] = i
        samples.append(sample)
    if not samples:
        raise TaskError(f"{where}: no samples")
    return samples


def _sample(spec: TaskSpec, row: dict, place: str, primer: str | None = None) -> Sample:
    f = spec.fields

    def get(name: str | None, required: bool = True) -> Any:
        if name is None:
            return None
        if name not in row:
            raise TaskError(f"{place}: field '{name}': column is missing from the data")
        if row[name] is None and required:
            raise TaskError(f"{place}: field '{name}': value is empty")
        return row[name]

    turns: list[Turn] = []
    system = get(f.system, required=False)
    if system is not None:
        turns.append(Turn("system", _text(system, place, f.system or "")))
    if f.prompt is not None:
        text = _text(get(f.prompt), place, f.prompt)
        turns.append(Turn("user", spec.primer.apply(primer, text) if spec.primer and primer is not None else text))
    else:
        turns.extend(_dialogue(get(f.dialogue), place, f.dialogue or "", spec.mode))
    references = _references(get(f.references, required=False), place, f.references)
    choices: tuple[str, ...] = ()
    gold: int | None = None
    if f.choices is not None:
        choices = _choices(get(f.choices), place, f.choices)
        if f.answer is not None:
            gold = _gold(get(f.answer), choices, place, f.answer)
    metadata = {name: _json_safe(get(name, required=False), place, name) for name in f.metadata}
    if f.id is not None:
        raw_id = get(f.id)
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or str(raw_id).strip() == "":
            raise TaskError(f"{place}: field '{f.id}': id must be a non-empty string or integer")
        sample_id = str(raw_id)
    else:
        sample_id = _content_id(turns, references, choices, gold)
    cluster = get(f.cluster, required=True) if f.cluster is not None else None
    if cluster is not None and (isinstance(cluster, (bool, dict, list)) or str(cluster).strip() == ""):
        raise TaskError(f"{place}: field '{f.cluster}': a cluster must be a non-empty string or number")
    return Sample(id=sample_id, task=spec.name, turns=tuple(turns), references=references,
                  choices=choices, gold=gold, metadata=metadata, cluster=None if cluster is None else str(cluster))


def _text(value: Any, place: str, field: str) -> str:
    if not isinstance(value, str):
        raise TaskError(f"{place}: field '{field}': expected text, got {type(value).__name__}")
    return value


def _dialogue(value: Any, place: str, field: str, mode: str) -> list[Turn]:
    if not isinstance(value, list) or not value:
        raise TaskError(f"{place}: field '{field}': expected a non-empty list of {{role, content}} messages")
    turns = []
    for j, msg in enumerate(value):
        at = f"{place}: field '{field}[{j}]'"
        if not isinstance(msg, dict) or {k for k, v in msg.items() if v is not None} - {"role", "content"}:
            raise TaskError(f"{at}: expected a mapping with exactly 'role' and 'content'")
        role, content = msg.get("role"), msg.get("content")
        if role not in ("system", "user", "assistant"):
            raise TaskError(f"{place}: field '{field}[{j}].role': expected 'system', 'user' or 'assistant', "
                            f"got {role!r}")
        if role == "system" and j != 0:
            raise TaskError(f"{place}: field '{field}[{j}].role': a system message may only come first")
        if role == "assistant" and content is None and mode == "rollout":
            content = ""
        turns.append(Turn(role, _text(content, place, f"{field}[{j}].content")))
    users = [t for t in turns if t.role == "user"]
    if not users:
        raise TaskError(f"{place}: field '{field}': the dialogue has no user turn")
    if mode == "gold" and turns[-1].role != "user":
        raise TaskError(f"{place}: field '{field}': in gold mode the dialogue must end with a user turn")
    return turns


def _references(value: Any, place: str, field: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (str(value),)
    raise TaskError(f"{place}: field '{field}': expected a string or a list of strings")


def _choices(value: Any, place: str, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) < 2 or not all(isinstance(v, str) for v in value):
        raise TaskError(f"{place}: field '{field}': expected a list of at least two strings")
    return tuple(value)


def _gold(value: Any, choices: tuple[str, ...], place: str, field: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(choices):
            return value
        raise TaskError(f"{place}: field '{field}': index {value} is out of range for {len(choices)} choices")
    if isinstance(value, str) and value in choices:
        return choices.index(value)
    raise TaskError(f"{place}: field '{field}': expected a choice index or the text of one choice, got {value!r:.60}")


def _json_safe(value: Any, place: str, field: str) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise TaskError(f"{place}: field '{field}': metadata must be JSON data") from None
    return value


def _content_id(turns: Iterable[Turn], references: tuple, choices: tuple, gold: int | None) -> str:
    body = json.dumps({"turns": [[t.role, t.content] for t in turns], "references": list(references),
                       "choices": list(choices), "gold": gold}, sort_keys=True, ensure_ascii=False)
    return "h-" + hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]

