"""`manifest.json`: what a run is (tasks with versions and hashes, arms, packages, seed) and how it ended."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from psm_eval.records.base import SCHEMA_VERSION, Record
from psm_eval.records.config import ArmConfig, ModelConfig

__all__ = ["MANIFEST", "RunStatus", "TaskEntry", "RendererEntry", "ArmEntry", "Counts", "CacheStats", "BackendEntry",
           "Throughput", "Manifest"]

MANIFEST = "manifest.json"
RunStatus = Literal["created", "running", "complete", "failed", "cancelled"]


class TaskEntry(Record):
    """A task as the run loaded it."""

    name: str
    version: str
    data_hash: str
    """sha256 of the data file (or the hub dataset's pinned revision and fingerprint)."""
    kind: Literal["generate", "multiple_choice"]
    mode: Literal["gold", "rollout"]
    n_samples: int
    path: str
    """The task folder the run read."""
    spec: dict[str, Any]
    """The validated task.yaml."""
    spec_hash: str
    """sha256 of every task.yaml field that shapes a request (all but description, category and scorers)
    and of the data: a resume, a re-score or a gate against a task whose hash differs is refused."""


class RendererEntry(Record):
    """How an arm's prompts were rendered."""

    spec: str
    kind: str
    """`transcript` or `chat`."""
    template_hash: str | None
    """sha256 of the persona template or named chat template (None: the model's own, hashed per prompt)."""


class ArmEntry(ArmConfig):
    """An arm as run: its config (model arguments redacted) and its renderer."""

    model: ModelConfig
    renderer: RendererEntry


class Counts(Record):
    """Stored generation records of one arm."""

    ok: int = 0
    failed: int = 0
    failures: dict[str, int] = {}
    """Failed records by failure kind (`timeout`, `http_error`, `context_too_long` …)."""


class BackendEntry(Record):
    """What an arm's model was, as its backend described it when the arm ran."""

    fingerprint: dict[str, Any] | None
    """What identifies the model: its output-shaping arguments (secrets masked), the sha256 of every local
    file it reads, or the server's entry for the served model; None when the backend cannot say. A resume
    with another fingerprint is refused, naming what changed."""
    per_request_seed: bool
    """Sampled replies depend only on their own request's seed (so on no batching, shard or resume);
    false: they may differ between runs of the same config."""
    cache: str | None
    """What a cache hit of this arm is keyed on, in words; None: not cached."""


class CacheStats(Record):
    """Requests of one arm answered from the response cache (hits) or sent (misses) by the last start."""

    hits: int = 0
    misses: int = 0


class Throughput(Record):
    """How fast one arm's model answered: the requests it was sent (cache hits excluded), over the time
    spent inside backend calls (model loading excluded), pooled over every start of the run and over the
    shards of a merged run (so for shards that ran side by side, rates are per worker)."""

    requests: int
    """Requests the model answered or failed (precheck failures such as `context_too_long` included)."""
    seconds: float
    """Wall time inside backend calls, minus model loading."""
    load_seconds: float = 0.0
    """Time spent creating the model (lm-eval loads it on the first request)."""
    prompt_tokens: int | None
    """Tokens of the prompts of ok replies (a loglikelihood request: its context once per continuation,
    plus the continuations), counted with the arm's own tokenizer; None: not countable (see `tokens_note`)."""
    generated_tokens: int | None
    """Tokens of the ok replies as returned (after the stop sequence is cut); loglikelihood requests add 0."""
    tokens_note: str | None = None
    """Why tokens are None: the arm's tokenizer is unknown, or its prompts are chat messages a server renders."""
    requests_per_s: float | None
    prompt_tokens_per_s: float | None
    generated_tokens_per_s: float | None
    call_seconds: list[float]
    """Each backend call's duration (a canonical chunk of up to 32 requests for a local model, a group of
    `num_concurrent` requests for a server), kept so that resumes and shards pool the percentiles exactly."""
    latency_p50: float | None
    """Seconds per backend call (not per request), nearest-rank percentile."""
    latency_p90: float | None
    latency_p99: float | None


class Manifest(Record):
    """The run manifest."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    status: RunStatus
    created: str
    """UTC, ISO 8601."""
    started: str
    ended: str | None = None
    resumed: list[str] = []
    """When the run was resumed (UTC)."""
    seed: int
    limit: int | None
    shard: str | None = None
    """`K/N` for a shard of a job array, else None."""
    merged_from: list[str] | None = None
    """Run ids of the shards this run was merged from."""
    tasks: list[TaskEntry]
    arms: list[ArmEntry]
    packages: dict[str, str | None]
    git_revision: str | None
    counts: dict[str, Counts] = Field(default_factory=dict)
    """Arm → stored records by status."""
    cache: dict[str, CacheStats] = Field(default_factory=dict)
    backends: dict[str, BackendEntry] = Field(default_factory=dict)
    """Arm → its model's fingerprint, seeding and cache scope (set when the arm first runs)."""
    throughput: dict[str, Throughput] = Field(default_factory=dict)
    """Arm → how fast its model answered (absent in manifests written before it was measured)."""
    error: str | None = None
    """Why the run stopped, when it did not complete (secrets redacted)."""

    @property
    def arm_names(self) -> list[str]:
        return [a.name for a in self.arms]

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def task(self, name: str) -> TaskEntry | None:
        return next((t for t in self.tasks if t.name == name), None)

    def arm(self, name: str) -> ArmEntry | None:
        return next((a for a in self.arms if a.name == name), None)
