"""The run manifest: what was run (tasks + versions + data hashes, arms redacted, renderers,
package versions, seed, git revision), when, and how it ended."""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from psm_eval.data.task import NOT_REQUEST_FIELDS, Task, TaskSpec, changed_fields, request_spec
from psm_eval.errors import StoreError
from psm_eval.records import (
    ArmConfig,
    ArmEntry,
    Counts,
    Manifest,
    RendererEntry,
    RunConfig,
    TaskEntry,
    dumps,
    iter_generations,
    write_config,
    write_manifest,
)
from psm_eval.redact import redact_text
from psm_eval.render import make_renderer

__all__ = ["new_run_dir", "create_run_dir", "new_manifest", "finish_manifest", "check_resumable"]

PACKAGES = ("psm_eval", "lm_eval", "torch", "transformers", "datasets", "tokenizers", "jinja2", "pandas")
# the packages whose version can change what is asked or answered: a resume across them is refused
OUTPUT_PACKAGES = ("psm_eval", "lm_eval", "torch", "transformers", "datasets", "tokenizers", "jinja2")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def config_hash(config: RunConfig) -> str:
    return hashlib.sha256(dumps(config.model_dump(mode="json")).encode()).hexdigest()[:8]


def new_run_dir(out: Path, config: RunConfig) -> Path:
    """`<out>/<UTC timestamp>-<config hash>`, made unique if two runs start in one second."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = out / f"{stamp}-{config_hash(config)}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def create_run_dir(out: Path, config: RunConfig, stored: dict[str, Any],
                   manifest: Callable[[str], Manifest]) -> Path:
    """A new run folder that holds its config and first manifest from the moment it exists.

    Both are written into a hidden `.starting-*` folder that is then renamed into place, so a run
    killed while starting leaves no half-made run folder that `--resume` cannot open (a killed start
    leaves at most a hidden folder, which nothing reads). `manifest(run_id)` builds the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".starting-", dir=out))
    try:
        write_config(tmp, stored)
        while True:
            path = new_run_dir(out, config)
            write_manifest(tmp, manifest(path.name))
            try:
                os.rename(tmp, path)
                path.chmod(0o777 & ~_umask())  # mkdtemp made it private; a run folder follows the user's umask
                return path
            except OSError as exc:  # another process took the name in between: take the next one
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _task_entry(task: Task) -> TaskEntry:
    return TaskEntry(name=task.name, version=task.version, data_hash=task.data_hash, kind=task.spec.kind,
                     mode=task.spec.mode, n_samples=len(task.samples), path=str(task.directory),
                     spec=task.spec.model_dump(mode="json"), spec_hash=task.spec_hash)


def arm_entry(arm: ArmConfig) -> ArmEntry:
    """An arm as the manifest records it: its config (secrets masked) and its renderer."""
    renderer = make_renderer(arm.render)
    return ArmEntry(**arm.public(), renderer=RendererEntry(
        spec=arm.render, kind=arm.render.partition(":")[0], template_hash=getattr(renderer, "sha256", None)))


def new_manifest(run_id: str, config: RunConfig, tasks: Sequence[Task], shard: str | None = None) -> Manifest:
    return Manifest(run_id=run_id, status="created", created=_now(), started=_now(), seed=config.seed,
                    limit=config.limit, shard=shard, tasks=[_task_entry(t) for t in tasks],
                    arms=[arm_entry(a) for a in config.arms], packages=_versions(), git_revision=_git_revision())


def count_records(folder: Path) -> dict[str, Counts]:
    """Stored generation records per arm: ok, failed, and failures by kind."""
    ok: dict[str, int] = {}
    failures: dict[str, dict[str, int]] = {}
    for r in iter_generations(folder):
        ok.setdefault(r.arm, 0)
        kinds = failures.setdefault(r.arm, {})
        if r.ok:
            ok[r.arm] += 1
        else:
            kind = r.error.kind if r.error else "failed"
            kinds[kind] = kinds.get(kind, 0) + 1
    return {arm: Counts(ok=ok[arm], failed=sum(failures[arm].values()), failures=dict(sorted(failures[arm].items())))
            for arm in ok}


def finish_manifest(manifest: Manifest, folder: Path, exc: BaseException | None) -> Manifest:
    """Status, end time and record counts; KeyboardInterrupt marks the run cancelled."""
    status = "complete" if exc is None else "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
    error = None if exc is None else redact_text(f"{type(exc).__name__}: {exc}")[:500]  # cut after masking
    return manifest.model_copy(update={"status": status, "ended": _now(), "counts": count_records(folder),
                                       "error": error})


def task_changes(before: TaskEntry, task: Task) -> list[str]:
    """What differs between a task as a run recorded it and as it is now (empty: the same task)."""
    changes = [f"version: {before.version} → {task.version}"] if before.version != task.version else []
    if before.spec_hash != task.spec_hash:
        try:  # both sides through today's schema, so an option added since is not listed as a change
            stored = request_spec(TaskSpec.model_validate(before.spec), exclude_defaults=True)
        except ValueError:
            stored = {k: v for k, v in before.spec.items() if k not in NOT_REQUEST_FIELDS}
        changes += changed_fields(stored, request_spec(task.spec, exclude_defaults=True))
        if before.data_hash != task.data_hash:
            changes.append(f"data: {before.data_hash[:19]}… → {task.data_hash[:19]}…")
    return changes


def _refuse(what: str, changes: list[str]) -> None:
    if changes:
        more = f" (+{len(changes) - 3} more)" if len(changes) > 3 else ""
        raise StoreError(f"cannot resume: {what} changed since the run started ({'; '.join(changes[:3])}{more}); "
                         "a run folder holds one experiment: start a new run")


def check_resumable(manifest: Manifest, tasks: Sequence[Task], config: RunConfig) -> Manifest:
    """A resumed run must ask what it started asking: the same tasks (every field that shapes a request,
    the data), arms (model, renderer, settings) and output-shaping packages. Returns the manifest with
    this resume's time added; a difference is a StoreError naming it."""
    names = [t.name for t in tasks]
    _refuse("the task list", [f"{n}: added" for n in names if manifest.task(n) is None]
            + [f"{n}: removed" for n in manifest.task_names if n not in names])
    for task in tasks:
        _refuse(f"task '{task.name}'", task_changes(manifest.task(task.name), task))  # type: ignore[arg-type]
    _refuse("the arm list", [f"{a.name}: added" for a in config.arms if manifest.arm(a.name) is None]
            + [f"{n}: removed" for n in manifest.arm_names if n not in [a.name for a in config.arms]])
    for arm in config.arms:
        before = manifest.arm(arm.name)
        _refuse(f"arm '{arm.name}'", changed_fields(before.model_dump(mode="json") if before else {},
                                                    arm_entry(arm).model_dump(mode="json")))
    now = _versions()
    _refuse("the installed packages", [f"{p}: {manifest.packages.get(p)} → {now.get(p)}" for p in OUTPUT_PACKAGES
                                       if manifest.packages.get(p) != now.get(p)])
    return manifest.model_copy(update={"resumed": [*manifest.resumed, _now()]})
