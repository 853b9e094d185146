"""The generation stage: samples × arms → `generations.jsonl`, batched, resumable, deterministic.

`run()` is the whole pipeline in named steps: load tasks, open the run folder, then for each arm
create its backend, render, request in chunks and append one record per sample × arm × turn ×
repeat. Records already stored are never requested again; failures are stored as failures.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from tqdm import tqdm

from psm_eval.backends import Backend, check_model_type, create_backend
from psm_eval.run.cache import CachedBackend, ResponseCache, default_cache_dir
from psm_eval.run.config import ArmConfig, RunConfig, stored_config
from psm_eval.errors import ConfigError, ErrorBudgetError, RenderError
from psm_eval.run.manifest import check_resumable, create_run_dir, finish_manifest, new_manifest
from psm_eval.render import Renderer, make_renderer
from psm_eval.run.store import GENERATIONS, RunStore, read_jsonl
from psm_eval.data.task import Task, load_task
from psm_eval.types import GenRequest, LLRequest, Outcome, Prompt, Sample, Turn

__all__ = ["run", "with_system", "record_key", "planned_keys", "shard_of", "parse_shard", "CHUNK"]

CHUNK = 32
BackendFactory = Callable[[ArmConfig], Backend]


def record_key(task: str, sample_id: str, arm: str, turn: int, repeat: int) -> str:
    return f"{task}/{sample_id}/{arm}/t{turn}/r{repeat}"


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


def run(config: RunConfig, *, resume: Path | None = None, progress: bool = True,
        backend_factory: BackendFactory | None = None, shard: tuple[int, int] | None = None) -> Path:
    """Generate every record the config asks for (this shard's samples only); return the run folder."""
    if resume is not None:
        stored = RunStore(resume).read_manifest().get("shard")
        shard = parse_shard(stored) if stored else None
    tasks = [_shard(load_task(ref, limit=config.limit), shard) for ref in config.tasks]
    renderers = {arm.name: make_renderer(arm.render) for arm in config.arms}  # fail before loading models
    for arm in config.arms:
        check_model_type(arm.model_spec())
    if resume is None:
        shard_text = f"{shard[0]}/{shard[1]}" if shard else None
        path = create_run_dir(Path(config.out), config, stored_config(config),
                              lambda run_id: {**new_manifest(run_id, config, tasks), "shard": shard_text})
    else:
        path = resume
    make = backend_factory or (lambda arm: create_backend(arm.model_spec(), retries=arm.retries))
    cache = ResponseCache(Path(config.cache_dir) if config.cache_dir else default_cache_dir()) if config.cache else None
    with RunStore(path) as store:
        # only what later turns need (status, output), never whole records: runs stream
        done = {r["key"]: (r["status"], r["output"]) for r in read_jsonl(store.path / GENERATIONS, repair=True)}
        manifest = store.read_manifest()
        if resume is not None:
            check_resumable(manifest, tasks)
        manifest["status"] = "running"
        budget = _Budget(config.max_error_rate, sum(1 for s, _ in done.values() if s == "ok"),
                         sum(1 for s, _ in done.values() if s != "ok"))
        try:
            store.write_manifest(manifest)  # inside the try: a SIGINT just after it still ends `cancelled`
            for arm in config.arms:
                hits = _run_arm(store, arm, renderers[arm.name], tasks, done, config.seed, make, progress, cache,
                                budget)
                manifest.setdefault("cache", {})[arm.name] = hits
            budget.check()  # a resumed run with nothing left to ask still answers to its budget
            store.write_manifest(finish_manifest(manifest, store, None))
        except BaseException as exc:
            store.write_manifest(finish_manifest(manifest, store, exc))
            raise
        finally:
            if cache is not None:
                cache.close()
    return path


@dataclass
class _Budget:
    """The run's error budget: running ok/failed counts, checked after each chunk."""

    max_rate: float | None
    ok: int = 0
    failed: int = 0

    def count(self, ok: bool) -> None:
        if ok:
            self.ok += 1
        else:
            self.failed += 1

    def check(self) -> None:
        total = self.ok + self.failed
        if self.max_rate is not None and total and self.failed / total > self.max_rate:
            raise ErrorBudgetError(f"error budget exceeded: {self.failed} of {total} records failed "
                                   f"(> max_error_rate {self.max_rate:g}); records are kept — fix the cause, "
                                   "then `psm-eval run --resume RUN_DIR` or start a new run")


@dataclass
class _Ctx:
    store: RunStore
    arm: ArmConfig
    renderer: Renderer
    backend: Backend | None
    done: dict[str, tuple[str, str | None]]
    seed: int
    bar: Any
    chunk: int = CHUNK
    budget: _Budget | None = None


def _run_arm(store: RunStore, arm: ArmConfig, renderer: Renderer, tasks: Sequence[Task], done: dict[str, tuple],
             seed: int, make: BackendFactory, progress: bool, cache: ResponseCache | None,
             budget: _Budget | None = None) -> dict[str, int]:
    """Generate an arm's missing records; return its cache hits and misses."""
    todo = sum(1 for t in tasks for _, key in planned_keys(t, arm.name) if key not in done)
    if todo == 0:
        return {"hits": 0, "misses": 0}
    backend: Any = make(arm)
    if cache is not None and hasattr(backend, "fingerprint"):
        backend = CachedBackend(backend, cache)
    bar = tqdm(total=todo, desc=f"arm {arm.name}", unit="req", disable=not progress, leave=True)
    # concurrent API arms get chunks long enough to keep every worker busy between syncs
    chunk = max(CHUNK, 4 * getattr(backend, "concurrency", 1))
    ctx = _Ctx(store, arm, renderer, backend, done, seed, bar, chunk, budget)
    try:
        for task in tasks:
            if task.spec.kind == "multiple_choice":
                _run_choice(ctx, task)
            elif task.spec.mode == "rollout":
                _run_rollout(ctx, task)
            else:
                _run_gold(ctx, task)
    finally:
        bar.close()
        backend.close()
    return {"hits": getattr(backend, "hits", 0), "misses": getattr(backend, "misses", todo)}


def planned_keys(task: Task, arm: str) -> Iterable[tuple[tuple[int, int, int], str]]:
    """Every record key an arm owes for a task, with its canonical (turn, sample, repeat) order."""
    repeats = task.spec.generation.repeats if task.spec.kind == "generate" else 1
    rollout = task.spec.mode == "rollout" and task.spec.kind == "generate"
    for i, s in enumerate(task.samples):
        n_user = len(s.user_turn_indices())
        for t in (range(n_user) if rollout else [n_user - 1]):
            for r in range(repeats):
                yield (t if rollout else 0, i, r), record_key(task.name, s.id, arm, t, r)


def with_system(turns: Sequence[Turn], system: str | None) -> tuple[Turn, ...]:
    if system is None or (turns and turns[0].role == "system"):
        return tuple(turns)
    return (Turn("system", system), *turns)


def _render(ctx: _Ctx, turns: Sequence[Turn]) -> Prompt | Outcome:
    assert ctx.backend is not None
    try:
        return ctx.renderer.render(with_system(turns, ctx.arm.system), ctx.backend.info)
    except RenderError as exc:
        return Outcome.failure("render_error", str(exc))


def _base_record(ctx: _Ctx, task: Task, sample: Sample, turn: int, repeat: int, kind: str) -> dict[str, Any]:
    return {"key": record_key(task.name, sample.id, ctx.arm.name, turn, repeat), "task": task.name,
            "task_version": task.version, "sample_id": sample.id, "arm": ctx.arm.name, "turn": turn,
            "repeat": repeat, "kind": kind, "gen": None, "continuations": None}


def _store(ctx: _Ctx, record: dict, prompt: Prompt | None, outcome: Outcome) -> None:
    record.update({
        "prompt": prompt.to_json() if prompt is not None else None,
        "status": "ok" if outcome.ok else "failed",
        "output": outcome.output if outcome.ok else None,
        "finish": outcome.finish,
        "logprobs": [list(p) for p in outcome.logprobs] if outcome.logprobs is not None else None,
        "error": None if outcome.ok else {"kind": outcome.error_kind, "message": outcome.error},
        "attempts": outcome.attempts,
    })
    ctx.store.append(record)
    ctx.done[record["key"]] = (record["status"], record["output"])
    ctx.bar.update(1)
    if ctx.budget is not None:
        ctx.budget.count(outcome.ok)


def _gen_request(ctx: _Ctx, task: Task, key: str, prompt: Prompt) -> GenRequest:
    g = task.spec.generation
    temperature = ctx.arm.temperature if ctx.arm.temperature is not None else g.temperature
    return GenRequest(key=key, prompt=prompt, max_gen_toks=ctx.arm.max_gen_toks or g.max_gen_toks,
                      temperature=temperature, top_p=ctx.arm.top_p if ctx.arm.top_p is not None else g.top_p,
                      until=tuple(dict.fromkeys((*prompt.stop, *g.until))), seed=request_seed(ctx.seed, key))


def _gen_settings(req: GenRequest) -> dict[str, Any]:
    return {"max_gen_toks": req.max_gen_toks, "temperature": req.temperature, "top_p": req.top_p,
            "until": list(req.until), "seed": req.seed}


Job = tuple[dict, Callable[[], "Prompt | Outcome"]]


def _chunks(ctx: _Ctx, jobs: list[Job]) -> Iterable[tuple[list[Job], list[bool]]]:
    """Canonical chunks over an arm's full plan for a task (the same boundaries on every run and
    resume), each with which of its records are still missing; complete chunks are skipped."""
    for start in range(0, len(jobs), ctx.chunk):
        chunk = jobs[start:start + ctx.chunk]
        missing = [record["key"] not in ctx.done for record, _ in chunk]
        if any(missing):
            yield chunk, missing


def _generate(ctx: _Ctx, task: Task, jobs: list[Job]) -> None:
    """Generate the missing records of each chunk and store them in job order (the canonical
    order `merge` reproduces). Sampled chunks are regenerated whole: sampling is seeded per batch,
    so the same batch must be formed again for a resumed run to draw the same replies."""
    assert ctx.backend is not None
    temperature = ctx.arm.temperature if ctx.arm.temperature is not None else task.spec.generation.temperature
    for chunk, missing in _chunks(ctx, jobs):
        send = [k for k in range(len(chunk)) if missing[k] or temperature > 0]
        prompts = {k: chunk[k][1]() for k in send}
        requests = {k: _gen_request(ctx, task, chunk[k][0]["key"], p) for k, p in prompts.items()
                    if not isinstance(p, Outcome)}
        answers = dict(zip(requests, ctx.backend.generate(list(requests.values())))) if requests else {}
        for k, (record, _) in enumerate(chunk):
            if not missing[k]:
                continue
            prompt = prompts[k]
            if isinstance(prompt, Outcome):
                _store(ctx, record, None, prompt)
            else:
                _store(ctx, {**record, "gen": _gen_settings(requests[k])}, prompt, answers[k])
        ctx.store.sync()
        if ctx.budget is not None:
            ctx.budget.check()


def _run_gold(ctx: _Ctx, task: Task) -> None:
    jobs: list[Job] = []
    for sample in task.samples:
        turn = len(sample.user_turn_indices()) - 1
        for r in range(task.spec.generation.repeats):
            jobs.append((_base_record(ctx, task, sample, turn, r, "generate"),
                         lambda s=sample: _render(ctx, s.turns)))
    _generate(ctx, task, jobs)


def _run_rollout(ctx: _Ctx, task: Task) -> None:
    """Turn by turn: each arm's own earlier replies are fed back; user turns come from the data."""
    max_turns = max((len(s.user_turn_indices()) for s in task.samples), default=0)
    for t in range(max_turns):
        jobs: list[Job] = []
        for sample in task.samples:
            if t >= len(sample.user_turn_indices()):
                continue
            for r in range(task.spec.generation.repeats):
                jobs.append((_base_record(ctx, task, sample, t, r, "generate"),
                             lambda s=sample, t=t, r=r: _rollout_prompt(ctx, task, s, t, r)))
        _generate(ctx, task, jobs)


def _rollout_prompt(ctx: _Ctx, task: Task, sample: Sample, t: int, r: int) -> Prompt | Outcome:
    turns: list[Turn] = [x for x in sample.turns if x.role == "system"]
    users = [x for x in sample.turns if x.role == "user"]
    for j in range(t):
        turns.append(users[j])
        earlier = ctx.done.get(record_key(task.name, sample.id, ctx.arm.name, j, r))
        if earlier is None or earlier[0] != "ok":
            return Outcome.failure("upstream_failed", f"turn {j} of this dialogue failed, so turn {t} cannot be asked")
        turns.append(Turn("assistant", earlier[1].strip()))
    turns.append(users[t])
    return _render(ctx, turns)


def _run_choice(ctx: _Ctx, task: Task) -> None:
    """Multiple choice: loglikelihood of each choice after the arm's own rendering of the question."""
    jobs: list[Job] = [(_base_record(ctx, task, s, len(s.user_turn_indices()) - 1, 0, "loglikelihood"),
                        lambda s=s: _render(ctx, s.turns)) for s in task.samples]
    samples = {s.id: s for s in task.samples}
    assert ctx.backend is not None
    for chunk, missing in _chunks(ctx, jobs):
        prompts = {k: chunk[k][1]() for k in range(len(chunk)) if missing[k]}
        requests = {k: LLRequest(key=chunk[k][0]["key"], prompt=p, continuations=tuple(
                        p.answer_prefix + c for c in samples[chunk[k][0]["sample_id"]].choices))
                    for k, p in prompts.items() if not isinstance(p, Outcome)}
        answers = dict(zip(requests, ctx.backend.loglikelihood(list(requests.values())))) if requests else {}
        for k, prompt in prompts.items():
            record = chunk[k][0]
            if isinstance(prompt, Outcome):
                _store(ctx, record, None, prompt)
            else:
                _store(ctx, {**record, "continuations": list(requests[k].continuations)}, prompt, answers[k])
        ctx.store.sync()
        if ctx.budget is not None:
            ctx.budget.check()
