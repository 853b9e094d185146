"""The generation stage: samples × arms → `generations.jsonl`, batched, resumable, deterministic.

`run()` is the whole stage in named steps: load tasks, open the run folder, then per arm create its
backend, plan the records it owes (typed jobs in a canonical order), and ask for them chunk by chunk
through one loop. Records already stored are never requested again; failures are stored as failures.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from psm_eval.backends import Backend, KeptModel, create_backend, validate_spec
from psm_eval.data.task import Task, changed_fields, load_task
from psm_eval.errors import ConfigError, ErrorBudgetError, RenderError, RunInterrupted, StoreError
from psm_eval.records import (
    ArmConfig,
    BackendEntry,
    CacheStats,
    ErrorInfo,
    GenerationRecord,
    GenSettings,
    Manifest,
    PromptRecord,
    RunConfig,
    RunStore,
    iter_generations,
    read_manifest,
    record_key,
    write_manifest,
)
from psm_eval.render import Renderer, make_renderer, postprocess
from psm_eval.run.cache import CachedBackend, ResponseCache, default_cache_dir, open_cache
from psm_eval.run.config import stored_config
from psm_eval.run.manifest import check_resumable, create_run_dir, finish_manifest, new_manifest
from psm_eval.run.throughput import Meter, pooled
from psm_eval.types import GenRequest, LLRequest, Outcome, Prompt, Sample, Turn

__all__ = ["run", "resume_hint", "with_system", "record_key", "planned_keys", "plan_arm", "Job", "shard_of",
           "parse_shard", "CHUNK"]

CHUNK = 32
BackendFactory = Callable[[ArmConfig], Backend]


def request_seed(seed: int, key: str) -> int:
    return int(hashlib.sha256(f"{seed}|{key}".encode()).hexdigest()[:8], 16)


def parse_shard(text: str) -> tuple[int, int]:
    """`K/N` (0 ≤ K < N, as job-array indices count) → (K, N)."""
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit()) or not 0 <= int(k) < int(n):
        raise ConfigError(f"--shard {text!r}: expected K/N with 0 <= K < N (e.g. 0/4 … 3/4)")
    return int(k), int(n)


def shard_of(task: str, sample_id: str, n: int) -> int:
    """Which of n shards a sample belongs to: a hash of its stable id, never its position."""
    return int(hashlib.sha256(f"{task}/{sample_id}".encode()).hexdigest()[:8], 16) % n


def _shard(task: Task, shard: tuple[int, int] | None) -> Task:
    if shard is None:
        return task
    k, n = shard
    return replace(task, samples=tuple(s for s in task.samples if shard_of(task.name, s.id, n) == k))


# ---- the plan: typed jobs in canonical order ------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """One record an arm owes."""

    task: Task
    sample: Sample
    turn: int
    """User-turn index of the reply."""
    repeat: int
    kind: Literal["generate", "loglikelihood"]
    key: str


def plan_arm(task: Task, arm: str) -> list[list[Job]]:
    """The records an arm owes for a task, as waves in canonical order (turn, sample, repeat). A wave's
    jobs can be asked together; in rollout mode wave t needs wave t−1's replies."""
    spec = task.spec
    if spec.kind == "multiple_choice":
        return [[_job(task, s, len(s.user_turn_indices()) - 1, 0, "loglikelihood", arm) for s in task.samples]]
    repeats = spec.generation.repeats
    if spec.mode == "rollout":
        turns = max((len(s.user_turn_indices()) for s in task.samples), default=0)
        return [[_job(task, s, t, r, "generate", arm) for s in task.samples if t < len(s.user_turn_indices())
                 for r in range(repeats)] for t in range(turns)]
    return [[_job(task, s, len(s.user_turn_indices()) - 1, r, "generate", arm) for s in task.samples
             for r in range(repeats)]]


def _job(task: Task, sample: Sample, turn: int, repeat: int, kind: Literal["generate", "loglikelihood"],
         arm: str) -> Job:
    return Job(task, sample, turn, repeat, kind, record_key(task.name, sample.id, arm, turn, repeat))


def planned_keys(task: Task, arm: str) -> Iterator[tuple[tuple[int, int, int], str]]:
    """Every record key an arm owes for a task, with its canonical (turn, sample, repeat) rank."""
    index = {s.id: i for i, s in enumerate(task.samples)}
    rollout = task.spec.mode == "rollout" and task.spec.kind == "generate"
    for wave in plan_arm(task, arm):
        for job in wave:
            yield (job.turn if rollout else 0, index[job.sample.id], job.repeat), job.key


# ---- the stage -------------------------------------------------------------------------------------

def run(config: RunConfig, *, resume: Path | None = None, progress: bool = True,
        backend_factory: BackendFactory | None = None, shard: tuple[int, int] | None = None) -> Path:
    """Generate every record the config asks for (this shard's samples only); return the run folder."""
    if resume is not None:
        stored = read_manifest(resume).shard
        shard = parse_shard(stored) if stored else None
    tasks = _load_tasks(config, shard)
    renderers = {arm.name: make_renderer(arm.render) for arm in config.arms}  # fail before loading models
    for arm in config.arms:  # a typo'd argument or a missing folder: one line, before any folder is made
        validate_spec(arm.model_spec(), f"arm '{arm.name}'")
    if resume is None:
        shard_text = f"{shard[0]}/{shard[1]}" if shard else None
        path = create_run_dir(Path(config.out), config, stored_config(config),
                              lambda run_id: new_manifest(run_id, config, tasks, shard_text))
    else:
        path = resume
    make = backend_factory or (lambda arm: create_backend(arm.model_spec(), retries=arm.retries))
    cache = open_cache(Path(config.cache_dir) if config.cache_dir else default_cache_dir())
    try:
        with RunStore(path) as store:
            _generate(store, config, tasks, renderers, make, cache, progress, resumed=resume is not None)
    except KeyboardInterrupt:
        raise RunInterrupted(resume_hint(path)) from None
    finally:
        if cache is not None:
            cache.close()
    return path


def resume_hint(path: Path, while_: str = "generating") -> str:
    """What an interrupted run prints: its folder, and the exact command that continues it."""
    return (f"interrupted while {while_}; every record so far is kept in the run folder {path}\n"
            f"continue with: psm-eval run --resume {path}")


def _load_tasks(config: RunConfig, shard: tuple[int, int] | None) -> list[Task]:
    """The config's tasks (this shard's samples); two tasks of one name would share record keys: refused."""
    tasks = [_shard(load_task(ref, limit=config.limit), shard) for ref in config.tasks]
    seen: dict[str, str] = {}
    for ref, task in zip(config.tasks, tasks):
        if task.name in seen:
            same = seen[task.name] == str(task.directory)
            raise ConfigError(f"task '{task.name}' is listed twice ({ref})" if same else
                              f"two tasks are named '{task.name}' ({seen[task.name]} and {task.directory}); "
                              "their records would share keys: rename one (`name:` in its task.yaml)")
        seen[task.name] = str(task.directory)
    return tasks


def _generate(store: RunStore, config: RunConfig, tasks: Sequence[Task], renderers: dict[str, Renderer],
              make: BackendFactory, cache: ResponseCache | None, progress: bool, *, resumed: bool) -> None:
    """Every arm's missing records into the locked run folder, the manifest kept current."""
    path = store.path
    # only what later turns need (status, output), never whole records: runs stream
    done: dict[str, tuple[str, str | None]] = {r.key: (r.status, r.output)
                                               for r in iter_generations(path, repair=True)}
    manifest = read_manifest(path)
    if resumed:
        manifest = check_resumable(manifest, tasks, config)
    manifest = manifest.model_copy(update={"status": "running"})
    plans = {arm.name: [wave for task in tasks for wave in plan_arm(task, arm.name)] for arm in config.arms}
    budgets = {name: _Budget.of(name, waves, done, config.max_error_rate) for name, waves in plans.items()}
    meter: Meter | None = None
    models: KeptModel[Backend] = KeptModel()  # consecutive arms of one model share it
    try:
        write_manifest(path, manifest)  # inside the try: a SIGINT just after it still ends `cancelled`
        for arm in config.arms:
            todo = sum(1 for wave in plans[arm.name] for job in wave if job.key not in done)
            if not todo:
                continue
            backend = models.get((arm.model_spec(), arm.retries), functools.partial(make, arm))
            manifest, cached = _start_arm(manifest, arm, backend, cache, config.cache)
            write_manifest(path, manifest)
            meter = Meter(arm.name, backend)
            _run_arm(_Arm(store, arm, renderers[arm.name], cached or backend, done, config.seed, budgets[arm.name],
                          meter), plans[arm.name], progress)
            manifest, meter = _measured(manifest, arm.name, meter), None
            stats = CacheStats(hits=cached.hits, misses=cached.misses) if cached else CacheStats(misses=todo)
            manifest = manifest.model_copy(update={"cache": {**manifest.cache, arm.name: stats}})
        for budget in budgets.values():  # a resumed run with nothing left to ask still answers to its budget
            budget.check()
        write_manifest(path, finish_manifest(manifest, path, None))
    except BaseException as exc:
        if meter is not None:  # the arm that was running when the run stopped
            manifest = _measured(manifest, meter.arm, meter)
        write_manifest(path, finish_manifest(manifest, path, exc))
        raise
    finally:
        models.close()


def _measured(manifest: Manifest, arm: str, meter: Meter) -> Manifest:
    """The manifest with this start's throughput of `arm` pooled into the earlier starts'."""
    both = pooled([manifest.throughput.get(arm), meter.result()])
    return manifest if both is None else manifest.model_copy(update={"throughput": {**manifest.throughput,
                                                                                    arm: both}})


def _start_arm(manifest: Manifest, arm: ArmConfig, backend: Backend, cache: ResponseCache | None,
               caching: bool) -> tuple[Manifest, CachedBackend | None]:
    """Record what the arm's model is (refusing a resume on another model), and wrap it in the cache
    where that is safe: local models by their files' content; an API arm only when it opts in."""
    fingerprint = backend.fingerprint(cache.digest_file if cache is not None else None)
    before = manifest.backends.get(arm.name)
    if before is not None and before.fingerprint is not None and fingerprint is not None:
        changes = changed_fields(before.fingerprint, fingerprint)
        if changes:
            raise StoreError(f"cannot resume: arm '{arm.name}': the model changed since the run started "
                             f"({'; '.join(changes[:3])}); a run folder holds one experiment: start a new run")
    remote = backend.capabilities.remote
    use = caching and cache is not None and fingerprint is not None and (arm.cache if arm.cache is not None
                                                                         else not remote)
    scope = None
    if use:
        served = (fingerprint or {}).get("served")
        scope = ("the model's files by content" if not remote else "the server's /models entry for the served "
                 "model and the URL" if served else "the served model's name and the URL only (the server "
                 "describes no model: a restart with other weights under the same name is not seen)")
        if remote:
            print(f"psm-eval: note: arm '{arm.name}' is answered from the response cache where it can be, keyed "
                  f"on {scope}", file=sys.stderr)
    entry = BackendEntry(fingerprint=fingerprint, per_request_seed=backend.capabilities.per_request_seed, cache=scope)
    manifest = manifest.model_copy(update={"backends": {**manifest.backends, arm.name: entry}})
    return manifest, (CachedBackend(backend, cache, fingerprint) if use and cache and fingerprint else None)


@dataclass
class _Budget:
    """One arm's error budget: it fails once its failed records exceed `max_rate` of the records it owes,
    checked after every record (a dead server stops the run after a tenth of an arm, not at its end)."""

    arm: str
    max_rate: float | None
    planned: int
    failed: int = 0

    @classmethod
    def of(cls, arm: str, waves: list[list[Job]], done: dict[str, tuple[str, str | None]],
           max_rate: float | None) -> _Budget:
        keys = [job.key for wave in waves for job in wave]
        return cls(arm, max_rate, len(keys), sum(1 for k in keys if k in done and done[k][0] != "ok"))

    def count(self, ok: bool) -> None:
        if not ok:
            self.failed += 1
            self.check()

    def check(self) -> None:
        if self.max_rate is not None and self.planned and self.failed > self.max_rate * self.planned:
            raise ErrorBudgetError(
                f"error budget exceeded: arm '{self.arm}' has {self.failed} failed records of the {self.planned} "
                f"it owes (> max_error_rate {self.max_rate:g}); records are kept — fix the cause, then "
                "`psm-eval run --resume RUN_DIR`, or allow more with --max-error-rate")


@dataclass
class _Arm:
    """One arm at work: where records go, how prompts are made, and what is already stored."""

    store: RunStore
    arm: ArmConfig
    renderer: Renderer
    backend: Backend
    done: dict[str, tuple[str, str | None]]
    seed: int
    budget: _Budget
    meter: Meter
    bar: tqdm | None = None
    chunk: int = CHUNK


def _run_arm(ctx: _Arm, waves: list[list[Job]], progress: bool) -> None:
    """Generate an arm's missing records."""
    todo = sum(1 for wave in waves for job in wave if job.key not in ctx.done)
    ctx.bar = tqdm(total=todo, desc=f"arm {ctx.arm.name}", unit="req", disable=not progress, leave=True)
    # a continuously batching engine asks for its own window; concurrent API arms get chunks long enough to
    # keep every worker busy between syncs
    caps = ctx.backend.capabilities
    ctx.chunk = caps.window or max(CHUNK, 4 * caps.concurrency)
    try:
        for wave in waves:
            _run_wave(ctx, wave)
    finally:
        ctx.bar.close()


def _temperature(ctx: _Arm, job: Job) -> float:
    """The job's temperature: the arm's own, else the task's setting for this sample (per-category ones
    included)."""
    if ctx.arm.temperature is not None:
        return ctx.arm.temperature
    return job.task.spec.generation.for_sample(job.sample).temperature


def _chunks(ctx: _Arm, wave: list[Job]) -> Iterator[tuple[list[Job], list[bool]]]:
    """Canonical chunks of a wave (the same boundaries on every run and resume), each with which of its
    records are still missing; complete chunks are skipped."""
    for start in range(0, len(wave), ctx.chunk):
        chunk = wave[start:start + ctx.chunk]
        missing = [job.key not in ctx.done for job in chunk]
        if any(missing):
            yield chunk, missing


def _run_wave(ctx: _Arm, wave: list[Job]) -> None:
    """Ask for the missing records of each chunk and store them in job order (the canonical order
    `merge` reproduces). Where a local model seeds sampling per batch, a sampled chunk is asked whole, so a
    resumed run forms the same batch and draws the same replies. A server with `num_concurrent` > 1 is asked
    through `_stream_wave` instead."""
    caps = ctx.backend.capabilities
    if caps.remote and caps.concurrency > 1:
        _stream_wave(ctx, wave)
        return
    for chunk, missing in _chunks(ctx, wave):
        whole = (any(job.kind == "generate" and _temperature(ctx, job) > 0 for job in chunk)
                 and not caps.per_request_seed and not caps.remote)
        send = [k for k in range(len(chunk)) if missing[k] or whole]
        prompts = {k: _prompt(ctx, chunk[k]) for k in send}
        requests = {k: _request(ctx, chunk[k], p) for k, p in prompts.items() if isinstance(p, Prompt)}
        step = caps.concurrency if caps.remote else len(chunk)
        for start in range(0, len(chunk), step):
            group = [k for k in requests if start <= k < start + step]
            batch = [requests[k] for k in group]
            answers = dict(zip(group, ctx.meter.ask(batch, lambda rs: _ask(ctx.backend, rs)))) if group else {}
            for k in range(start, min(start + step, len(chunk))):
                if missing[k]:
                    sent = requests.get(k)
                    _store(ctx, chunk[k], sent, answers[k] if sent is not None else prompts[k])  # type: ignore[arg-type]
        ctx.store.sync()


def _stream_wave(ctx: _Arm, wave: list[Job]) -> None:
    """A server's missing requests, one per call on `concurrency` threads kept busy across the whole wave: a
    slow reply holds its own thread, not a group of its neighbours. Records are stored in job order as soon as
    every earlier one is in, with at most `ctx.chunk` requests answered or in flight beyond the oldest one not
    yet stored, and the folder is synced every `ctx.chunk` records. The error budget is checked after every
    stored record; when it trips, requests not yet sent are cancelled (those already in flight, at most
    `concurrency`, are waited for and dropped). A run killed mid-wave keeps every record it stored; replies
    answered but not yet stored are asked again on resume."""
    jobs = [job for job in wave if job.key not in ctx.done]
    sent: dict[int, GenRequest | LLRequest] = {}
    answered: dict[int, Future[list[Outcome]] | Outcome] = {}
    submitted = stored = unsynced = 0
    with ctx.meter.concurrent(), ThreadPoolExecutor(max_workers=ctx.backend.capabilities.concurrency,
                                                    thread_name_prefix=f"psm-eval-{ctx.arm.name}") as pool:
        try:
            while stored < len(jobs):
                while submitted < len(jobs) and submitted - stored < ctx.chunk:
                    prompt = _prompt(ctx, jobs[submitted])
                    if isinstance(prompt, Prompt):
                        sent[submitted] = request = _request(ctx, jobs[submitted], prompt)
                        answered[submitted] = pool.submit(ctx.meter.ask, [request], lambda rs: _ask(ctx.backend, rs))
                    else:
                        answered[submitted] = prompt  # a failure found before sending (render error, upstream)
                    submitted += 1
                head = answered[stored]
                if isinstance(head, Future) and not head.done():
                    wait([f for f in answered.values() if isinstance(f, Future) and not f.done()],
                         return_when=FIRST_COMPLETED)
                    continue  # a later reply may have come first: refill the window, then look again
                outcome = head.result()[0] if isinstance(head, Future) else head
                _store(ctx, jobs[stored], sent.pop(stored, None), outcome)
                del answered[stored]
                stored += 1
                unsynced += 1
                if unsynced >= ctx.chunk:
                    ctx.store.sync()
                    unsynced = 0
        finally:
            for future in answered.values():  # not yet started: never sent
                if isinstance(future, Future):
                    future.cancel()
    ctx.store.sync()


def _ask(backend: Backend, requests: list[GenRequest | LLRequest]) -> list[Outcome]:
    if isinstance(requests[0], GenRequest):
        return backend.generate(requests)  # type: ignore[arg-type]
    return backend.loglikelihood(requests)  # type: ignore[arg-type]


def with_system(turns: Sequence[Turn], system: str | None) -> tuple[Turn, ...]:
    if system is None or (turns and turns[0].role == "system"):
        return tuple(turns)
    return (Turn("system", system), *turns)


def _render(ctx: _Arm, turns: Sequence[Turn]) -> Prompt | Outcome:
    try:
        return ctx.renderer.render(with_system(turns, ctx.arm.system), ctx.backend.info)
    except RenderError as exc:
        return Outcome.failure("render_error", str(exc))


def _prompt(ctx: _Arm, job: Job) -> Prompt | Outcome:
    """The job's prompt: the data's dialogue, or (rollout) the user turns with the arm's own earlier replies."""
    if job.kind == "loglikelihood" or job.task.spec.mode != "rollout":
        return _render(ctx, job.sample.turns)
    turns: list[Turn] = [x for x in job.sample.turns if x.role == "system"]
    users = [x for x in job.sample.turns if x.role == "user"]
    for j in range(job.turn):
        turns.append(users[j])
        earlier = ctx.done.get(record_key(job.task.name, job.sample.id, ctx.arm.name, j, job.repeat))
        if earlier is None or earlier[0] != "ok" or earlier[1] is None:
            return Outcome.failure("upstream_failed",
                                   f"turn {j} of this dialogue failed, so turn {job.turn} cannot be asked")
        turns.append(Turn("assistant", earlier[1].strip()))
    turns.append(users[job.turn])
    return _render(ctx, turns)


def _request(ctx: _Arm, job: Job, prompt: Prompt) -> GenRequest | LLRequest:
    if job.kind == "loglikelihood":
        return LLRequest(key=job.key, prompt=prompt,
                         continuations=tuple(prompt.answer_prefix + c for c in job.sample.choices))
    g = job.task.spec.generation.for_sample(job.sample)  # a per-category setting (MT-Bench) beats the task's
    return GenRequest(key=job.key, prompt=prompt, max_gen_toks=ctx.arm.max_gen_toks or g.max_gen_toks,
                      look_past=g.look_past_stop, temperature=_temperature(ctx, job),
                      top_p=ctx.arm.top_p if ctx.arm.top_p is not None else g.top_p,
                      until=tuple(dict.fromkeys((*prompt.stop, *g.until))), seed=request_seed(ctx.seed, job.key))


def _store(ctx: _Arm, job: Job, request: GenRequest | LLRequest | None, outcome: Outcome) -> None:
    """Append the job's record: what was sent (if anything) and what came back."""
    prompt = request.prompt if request is not None else None
    output, raw = (outcome.output, outcome.raw_output) if outcome.ok else (None, None)
    if output is not None and prompt is not None and prompt.postprocess:  # declared by the renderer (URIAL)
        cleaned = postprocess(output, prompt.postprocess)
        output, raw = cleaned, (raw if raw is not None else output) if cleaned != output else raw
    record = GenerationRecord(
        key=job.key, task=job.task.name, task_version=job.task.version, sample_id=job.sample.id, arm=ctx.arm.name,
        turn=job.turn, repeat=job.repeat, kind=job.kind,
        prompt=PromptRecord(**prompt.to_json()) if prompt is not None else None,
        gen=GenSettings(max_gen_toks=request.max_gen_toks, temperature=request.temperature, top_p=request.top_p,
                        until=list(request.until), seed=request.seed, look_past=request.look_past)
        if isinstance(request, GenRequest) else None,
        continuations=list(request.continuations) if isinstance(request, LLRequest) else None,
        status="ok" if outcome.ok else "failed", output=output,
        finish=outcome.finish,
        logprobs=[(ll, greedy) for ll, greedy in outcome.logprobs] if outcome.logprobs is not None else None,
        error=None if outcome.ok else ErrorInfo(kind=outcome.error_kind or "backend_error", message=outcome.error),
        attempts=outcome.attempts, cached=outcome.cached, capped_from=outcome.capped_from,
        stop_sequence=outcome.stop_sequence, raw_output=raw, after_stop=outcome.after_stop)
    ctx.store.append(record)
    ctx.done[record.key] = (record.status, record.output)
    if ctx.bar is not None:
        ctx.bar.update(1)
    ctx.budget.count(outcome.ok)

