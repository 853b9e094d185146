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
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

from psm_eval.run.config import RunConfig
from psm_eval.errors import StoreError
from psm_eval.render import make_renderer
from psm_eval.run.store import CONFIG, GENERATIONS, MANIFEST, RunStore, dumps, read_jsonl, write_json_atomic
from psm_eval.data.task import Task

__all__ = ["new_run_dir", "create_run_dir", "new_manifest", "finish_manifest", "check_resumable", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
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
                   manifest: Callable[[str], dict[str, Any]]) -> Path:
    """A new run folder that holds its config and first manifest from the moment it exists.

    Both are written into a hidden `.starting-*` folder that is then renamed into place, so a run
    killed while starting leaves no half-made run folder that `--resume` cannot open (a killed start
    leaves at most a hidden folder, which nothing reads). `manifest(run_id)` builds the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".starting-", dir=out))
    try:
        write_json_atomic(tmp / CONFIG, stored)
        while True:
            path = new_run_dir(out, config)
            write_json_atomic(tmp / MANIFEST, manifest(path.name))
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


def _task_entry(task: Task) -> dict[str, Any]:
    return {"name": task.name, "version": task.version, "data_hash": task.data_hash, "kind": task.spec.kind,
            "mode": task.spec.mode, "n_samples": len(task.samples), "path": str(task.directory),
            "spec": task.spec.model_dump(mode="json")}


def _arm_entry(arm: Any) -> dict[str, Any]:
    entry = arm.public()
    renderer = make_renderer(arm.render)
    entry["renderer"] = {"spec": arm.render, "kind": arm.render.partition(":")[0],
                         "template_hash": getattr(renderer, "sha256", None)}
    return entry


def new_manifest(run_id: str, config: RunConfig, tasks: Sequence[Task]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "status": "created", "created": _now(),
        "started": _now(), "ended": None, "resumed": [], "seed": config.seed, "limit": config.limit,
        "tasks": [_task_entry(t) for t in tasks], "arms": [_arm_entry(a) for a in config.arms],
        "packages": _versions(), "git_revision": _git_revision(), "counts": {}, "error": None,
    }


def finish_manifest(manifest: dict[str, Any], store: RunStore, exc: BaseException | None) -> dict[str, Any]:
    """Status, end time and record counts; KeyboardInterrupt marks the run cancelled."""
    counts: dict[str, dict[str, int]] = {}
    for r in read_jsonl(store.path / GENERATIONS):
        c = counts.setdefault(r["arm"], {"ok": 0, "failed": 0})
        c["ok" if r["status"] == "ok" else "failed"] += 1
    status = "complete" if exc is None else "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
    error = None if exc is None else f"{type(exc).__name__}: {exc}"[:500]
    from psm_eval.redact import redact_text

    return {**manifest, "status": status, "ended": _now(), "counts": counts,
            "error": redact_text(error) if error else None}


def check_resumable(manifest: dict[str, Any], tasks: Sequence[Task]) -> None:
    """A resumed run must see the same task versions and data it started with."""
    stored = {t["name"]: t for t in manifest.get("tasks", [])}
    for task in tasks:
        before = stored.get(task.name)
        if before is None:
            raise StoreError(f"cannot resume: task '{task.name}' was not part of this run")
        if before["version"] != task.version or before["data_hash"] != task.data_hash:
            raise StoreError(f"cannot resume: task '{task.name}' changed since the run started "
                             f"(version {before['version']} → {task.version} or its data); start a new run")
    manifest["resumed"] = [*manifest.get("resumed", []), _now()]
