"""The scoring stage: a stored run → `scores.jsonl` + `summary.json`, without calling the evaluated models.

`score_run` reloads each task from the folder the manifest names (refusing one whose data changed),
runs each task's scorers (its `scorers:` list, or the names asked for) over the stored generations,
and writes both files atomically. Scores of scorers not re-run this time are kept, so re-judging one
scorer needs neither regeneration nor re-running the rest.
"""

from __future__ import annotations

import datetime as _dt
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from psm_eval.backends import Backend, ModelSpec, create_backend
from psm_eval.data.task import Task, load_task
from psm_eval.errors import StoreError
from psm_eval.records import (
    SUMMARY,
    Manifest,
    MetricInfo,
    PsmBlock,
    RunStore,
    ScorerRun,
    SkippedScorer,
    Summary,
    TaskEntry,
    read_config,
    read_generations,
    read_manifest,
    read_scores,
    read_summary,
    write_scores,
    write_summary,
)
from psm_eval.run.manifest import task_changes
from psm_eval.score.activation_summary import activation_tables, shared_axis_findings
from psm_eval.score.judge_quality import judge_quality
from psm_eval.score.scorers.base import ArmInfo, GenerationRecord, NotApplicable, Score, TaskView
from psm_eval.score.scorers.judge import Judge, create_judge, judge_arms
from psm_eval.score.scorers.registry import ScorerInfo, ScoringError, build_scorer, get_scorer
from psm_eval.score.summary import summarize
from psm_eval.score.verdict import evaluate

__all__ = ["score_run", "ScorePaths"]

ModelFactory = Callable[[ModelSpec], Backend]


@dataclass(frozen=True)
class ScorePaths:
    """What a scoring pass wrote, and what it could not run."""

    scores: Path
    summary: Path
    skipped: tuple[str, ...] = ()
    """One line per (task, scorer) that did not run, with the reason."""
    warnings: tuple[str, ...] = ()
    """What a reader of this run must know: a judge that is an evaluated arm, experimental metrics."""


@dataclass(frozen=True)
class _Job:
    task: Task
    info: ScorerInfo
    args: Any
    scorer: Any
    requested: bool


def score_run(run_dir: str | Path, scorers: Sequence[str] | None = None, judge: str | Judge | None = None, *,
              tasks: Sequence[str] | None = None, progress: bool = True, model_factory: ModelFactory | None = None,
              allow_self_judge: bool = False) -> ScorePaths:
    """Score a stored run (all its tasks, or those named); return the paths of scores.jsonl and summary.json.
    A judge that is one of the evaluated arms is refused unless `allow_self_judge` (then flagged)."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    arms = _arms(manifest)
    loaded = [_load_task(entry, manifest.limit) for entry in _entries(manifest, tasks)]
    directions = _activation_directions(run_dir)  # read once per scoring pass, not once per task
    jobs = _plan(loaded, scorers, {"activation": lambda task: _activation_args(directions, task)})
    make = model_factory or (lambda spec: create_backend(spec, retries=3))
    models: dict[str, Backend] = {}
    with RunStore(run_dir):
        records = read_generations(run_dir)
        the_judge = _judge(judge, arms, jobs, make, allow_self_judge)
        try:
            new, skipped = _run_jobs(jobs, records, arms, the_judge, _model_for(arms, models, make), progress,
                                     run_dir)
        finally:
            for backend in models.values():
                backend.close()
            if the_judge is not None and the_judge is not judge:
                the_judge.close()
        previous = _previous(run_dir)
        redone = {(j.task.name, j.info.name) for j in jobs}
        kept = [s for s in read_scores(run_dir) if (s.task, s.scorer) not in redone]
        versions = {t.name: t.version for t in manifest.tasks}
        scores = sorted([s.model_copy(update={"task_version": versions.get(s.task, "")}) for s in kept + new],
                        key=lambda s: (s.task, s.scorer))
        scores_path = write_scores(run_dir, scores)
        summary = _summary(manifest, scores, arms, jobs, skipped, the_judge, previous, run_dir)
        summary = summary.model_copy(update={"psm": _with_findings(_verdict(run_dir, manifest, loaded, scores,
                                                                           summary), summary)})
        summary_path = write_summary(run_dir, summary)
    return ScorePaths(scores_path, summary_path, tuple(f"{t}/{s}: {why}" for t, s, why in skipped),
                      _warnings(summary))


def _verdict(run_dir: Path, manifest: Manifest, loaded: list[Task], scores: list[Score],
             summary: Summary) -> PsmBlock | None:
    """The declared predictions (config.json) decided on the run's scores; None when it declares none."""
    try:
        config = read_config(run_dir)
    except StoreError:
        return None
    if not config.predictions:
        return None
    tasks = {t.name: t for t in loaded}
    wanted = {e.task for p in config.predictions for e in p.endpoints if e.statistic == "profile"}
    for entry in manifest.tasks:
        if entry.name in wanted and entry.name not in tasks:
            tasks[entry.name] = _load_task(entry, manifest.limit)
    metadata = {name: {s.id: s.metadata for s in t.samples} for name, t in tasks.items()}
    return evaluate(config.predictions, config.roles, scores, summary.metrics, metadata,
                    [a.name for a in manifest.arms], seed=manifest.seed)


def _with_findings(block: PsmBlock | None, summary: Summary) -> PsmBlock | None:
    """The verdict with the exploratory activation-space findings beside it (the axis shared by two models)."""
    findings = shared_axis_findings(summary.tables)
    if block is None or not findings:
        return block
    return block.model_copy(update={"exploratory": findings})


def _roles(run_dir: Path | None) -> dict[str, str]:
    if run_dir is None:
        return {}
    try:
        return dict(read_config(run_dir).roles)
    except StoreError:
        return {}


def _warnings(summary: Summary) -> tuple[str, ...]:
    out = []
    if summary.judge_arms:
        out.append(f"the judge is the evaluated arm {', '.join(summary.judge_arms)} (--allow-self-judge): it grades "
                   "its own replies against the others, and judges tend to prefer their own (self-preference bias)")
    shown = sorted({f"{m.scorer}.{m.metric}" for m in summary.metrics if m.experimental})
    if shown:
        out.append(f"experimental metrics (below their validity bar, see docs/scorers.md): {', '.join(shown)}")
    return tuple(out)


def _previous(run_dir: Path) -> Summary | None:
    """The last summary, for the declarations of scorers not re-run; None if absent or unreadable."""
    if not (run_dir / SUMMARY).exists():
        return None
    try:
        return read_summary(run_dir)
    except StoreError:
        return None


def _arms(manifest: Manifest) -> list[ArmInfo]:
    return [ArmInfo(name=a.name, model=ModelSpec(type=a.model.type, args=dict(a.model.args)), render=a.render,
                    system=a.system) for a in manifest.arms]


def _entries(manifest: Manifest, names: Sequence[str] | None) -> list[TaskEntry]:
    known = manifest.task_names
    for name in names or ():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; this run has: {', '.join(known)}"
            raise ScoringError(f"task '{name}' is not part of this run{hint}")
    return [e for e in manifest.tasks if names is None or e.name in names]


def _load_task(entry: TaskEntry, limit: int | None) -> Task:
    task = load_task(entry.path, limit=limit)
    changes = task_changes(entry, task)
    if changes:
        raise ScoringError(f"task '{entry.name}' at {entry.path} changed since the run ({'; '.join(changes[:3])}); "
                           "scores would not match the stored generations: restore the task or start a new run")
    return task


def _plan(tasks: Sequence[Task], names: Sequence[str] | None,
          run_level: dict[str, Callable[[Task], dict[str, Any] | None]] | None = None) -> list[_Job]:
    """(task, scorer) jobs: the asked-for names on every task they apply to, else each task's own list.
    `run_level`: scorers that come from the run rather than the task (the activation scorer, where the run
    stored activations and names directions), with their arguments for a task (None: not for this task)."""
    jobs = []
    for task in tasks:
        refs = {r if isinstance(r, str) else r.name: ({} if isinstance(r, str) else dict(r.args))
                for r in task.spec.scorers}
        for name, args_for in (run_level or {}).items():
            args = args_for(task)
            if args is not None and name not in refs:
                refs[name] = args
        wanted = [n for n in names if _fits(get_scorer(n), task)] if names else list(refs)
        for name in dict.fromkeys(wanted):
            info, args, scorer = build_scorer(name, refs.get(name, {}), f"task '{task.name}'")
            jobs.append(_Job(task, info, args, scorer, requested=bool(names)))
    for name in names or ():
        if not any(j.info.name == name for j in jobs):
            info = get_scorer(name)
            raise ScoringError(f"scorer '{name}' applies to no task of this run (it takes "
                               f"{'/'.join(sorted(info.kinds))} tasks in {'/'.join(sorted(info.modes))} mode)")
    return jobs


def _activation_directions(run_dir: Path) -> dict[str, Any] | None:
    """The activation scorer's arguments common to every task of a run with stored activations and directions
    files: each file's direction names (axis first) and content hash; None when there is nothing to score."""
    from psm_eval.activations.directions import read_directions
    from psm_eval.activations.store import open_activations
    from psm_eval.score.scorers.activation import directions_paths, metric_name

    if not (run_dir / "activations").is_dir() or open_activations(run_dir) is None:
        return None
    paths = directions_paths(run_dir)
    if not paths:
        return None
    names: dict[str, list[str]] = {}
    hashes: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for label, path in paths.items():
        d = read_directions(path)
        infos = d.provenance.directions
        names[label] = sorted(infos, key=lambda n: (infos[n].kind != "axis", n))
        hashes[label] = d.content_hash
        kinds.update({metric_name(n, label): infos[n].kind for n in infos})
    return {"directions": names, "hashes": hashes, "kinds": kinds}


def _activation_args(directions: dict[str, Any] | None, task: Task) -> dict[str, Any] | None:
    """The activation scorer's arguments for a generate task (None: not for this task or run)."""
    if directions is None or task.spec.kind != "generate":
        return None
    return {**directions, "rollout": task.spec.mode == "rollout"}


def _fits(info: ScorerInfo, task: Task) -> bool:
    return task.spec.kind in info.kinds and task.spec.mode in info.modes


def _judge(judge: str | Judge | None, arms: list[ArmInfo], jobs: list[_Job], make: ModelFactory,
           allow_self: bool = False) -> Judge | None:
    needed = [j for j in jobs if j.info.needs_judge(j.args)]
    usable = [j for j in jobs if j.info.uses_judge(j.args)]
    if judge is not None and usable and not allow_self:
        own = judge.arms if isinstance(judge, Judge) else judge_arms(judge, arms)
        if own:
            shown = judge.spec if isinstance(judge, Judge) else judge
            raise ScoringError(f"--judge {shown}: the judge is the evaluated arm {', '.join(own)} and would grade its "
                               "own replies (self-preference bias); judge with a model that is not an arm, or pass "
                               "--allow-self-judge to accept it (flagged in every output)")
    if judge is None:
        asked = next((j for j in needed if j.requested), None)
        if asked is not None:
            raise ScoringError(f"scorer '{asked.info.name}' needs a judge: pass --judge SPEC "
                               "(e.g. --judge hf:pretrained=PATH,render=chat or --judge arm:chat)")
        return None
    if isinstance(judge, Judge) or not usable:
        return judge if isinstance(judge, Judge) else None
    return create_judge(judge, arms, factory=make)


def _model_for(arms: list[ArmInfo], cache: dict[str, Backend], make: ModelFactory) -> Callable[[str], Backend]:
    def get(name: str) -> Backend:
        if name not in cache:
            cache[name] = make(next(a for a in arms if a.name == name).model)
        return cache[name]

    return get


def _not_applicable(job: _Job, judge: Judge | None) -> str | None:
    spec = job.task.spec
    if spec.kind not in job.info.kinds:
        return f"applies to {'/'.join(sorted(job.info.kinds))} tasks, not {spec.kind}"
    if spec.mode not in job.info.modes:
        return f"applies to {'/'.join(sorted(job.info.modes))} mode, not {spec.mode}"
    if judge is None and job.info.needs_judge(job.args):
        return "needs a judge: pass --judge SPEC"
    return None


def _run_jobs(jobs: list[_Job], records: list[GenerationRecord], arms: list[ArmInfo], judge: Judge | None,
              model_for: Callable[[str], Backend], progress: bool,
              run_dir: Path | None = None) -> tuple[list[Score], list[tuple[str, str, str]]]:
    scores: list[Score] = []
    skipped: list[tuple[str, str, str]] = []
    for job in tqdm(jobs, desc="scoring", unit="scorer", disable=not progress):
        why = _not_applicable(job, judge)
        task = job.task
        samples = {s.id: s for s in task.samples}
        view = TaskView(spec=task.spec, samples=samples, arms=tuple(arms), judge=judge, model_for=model_for,
                        records=tuple(r for r in records if r.task == task.name and r.sample_id in samples),
                        directory=task.directory, run_dir=run_dir)
        try:
            if why is None:
                named = {"scorer": job.info.name, "scorer_version": job.info.version}
                scores += _declared(job, [_clustered(s.model_copy(update=named), samples)
                                          for s in job.scorer(view)])
                skipped += [(task.name, job.info.name, note) for note in view.notes]
        except NotApplicable as exc:
            why = str(exc)
        if why is not None:
            skipped.append((task.name, job.info.name, why))
    return scores, skipped


def _clustered(score: Score, samples: dict[str, Any]) -> Score:
    """A score left in its sample's own cluster joins the task's cluster for that sample (`fields.cluster`):
    the paraphrases of one fact are one unit of evidence, not several."""
    sample = samples.get(score.sample_id)
    if sample is not None and sample.cluster is not None and score.cluster == score.sample_id:
        return score.model_copy(update={"cluster": f"{score.task}/{sample.cluster}"})
    return score


def _declared(job: _Job, scores: list[Score]) -> list[Score]:
    """The scores, after checking the scorer declared every metric it emitted (a scorer bug otherwise)."""
    declared = {m.metric for m in job.info.declarations(job.args)}
    extra = sorted({s.metric for s in scores} - declared)
    if extra:
        raise ScoringError(f"scorer '{job.info.name}' emitted metrics it does not declare: {', '.join(extra)}")
    return scores


def _declarations(jobs: list[_Job], previous: Summary | None, present: set[tuple[str, str]]) -> list[MetricInfo]:
    """Every metric's declaration: from the scorers run now, else from the summary that scored it."""
    out = [m.model_copy(update={"task": j.task.name, "scorer": j.info.name, "scorer_version": j.info.version})
           for j in jobs for m in j.info.declarations(j.args)]
    redone = {(j.task.name, j.info.name) for j in jobs}
    if previous is not None:
        out += [m for m in previous.metrics if (m.task, m.scorer) in present - redone]
    return out


def _summary(manifest: Manifest, scores: list[Score], arms: list[ArmInfo], jobs: list[_Job],
             skipped: list[tuple[str, str, str]], judge: Judge | None, previous: Summary | None,
             run_dir: Path | None = None) -> Summary:
    present = {(s.task, s.scorer) for s in scores}
    metrics = _declarations(jobs, previous, present)
    sections = summarize(scores, [a.name for a in arms], metrics, seed=manifest.seed)
    roles = _roles(run_dir)
    activation = activation_tables(scores, metrics, run_dir, roles, {a.name: a.model.type for a in arms},
                                   seed=manifest.seed)
    ran = [ScorerRun(task=j.task.name, scorer=j.info.name, scorer_version=j.info.version,
                     args=j.args.model_dump(mode="json")) for j in jobs]
    redone = {(j.task.name, j.info.name) for j in jobs}
    if previous is not None:
        ran = [r for r in previous.scorers if (r.task, r.scorer) in present - redone] + ran
    own = list(judge.arms) if judge is not None else []
    quality = judge_quality([s for s in scores if (s.task, s.scorer) in redone], judge.spec, own) if judge else []
    if previous is not None:
        quality = [q for q in previous.judge_quality if (q.task, q.scorer) in present - redone] + quality
        own = own or (previous.judge_arms if any((q.task, q.scorer) in present - redone
                                                 for q in previous.judge_quality) else [])
    return Summary(run_id=manifest.run_id, run_status=manifest.status,
                   scored_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                   judge=judge.spec if judge is not None else None, scorers=ran,
                   skipped=[SkippedScorer(task=t, scorer=s, reason=r) for t, s, r in skipped], metrics=metrics,
                   records=sections.records, unscored=sections.unscored, tables=sections.tables + activation,
                   judge_arms=own,
                   judge_quality=quality)
