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

from psm_eval.data.task import Task
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
                return path
            except OSError as exc:  # another process took the name in between: take the next one
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
                     spec=task.spec.model_dump(mode="json"))


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
    """Stored generation records per arm, by status."""
    counts: dict[str, dict[str, int]] = {}
    for r in iter_generations(folder):
        c = counts.setdefault(r.arm, {"ok": 0, "failed": 0})
        c["ok" if r.ok else "failed"] += 1
    return {arm: Counts(**c) for arm, c in counts.items()}


def finish_manifest(manifest: Manifest, folder: Path, exc: BaseException | None) -> Manifest:
    """Status, end time and record counts; KeyboardInterrupt marks the run cancelled."""
    status = "complete" if exc is None else "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
    error = None if exc is None else redact_text(f"{type(exc).__name__}: {exc}"[:500])
    return manifest.model_copy(update={"status": status, "ended": _now(), "counts": count_records(folder),
                                       "error": error})


def check_resumable(manifest: Manifest, tasks: Sequence[Task]) -> Manifest:
    """A resumed run must see the same task versions and data it started with; returns the manifest
    with this resume's time added."""
    for task in tasks:
        before = manifest.task(task.name)
        if before is None:
            raise StoreError(f"cannot resume: task '{task.name}' was not part of this run")
        if before.version != task.version or before.data_hash != task.data_hash:
            raise StoreError(f"cannot resume: task '{task.name}' changed since the run started "
                             f"(version {before.version} → {task.version} or its data); start a new run")
    return manifest.model_copy(update={"resumed": [*manifest.resumed, _now()]})
