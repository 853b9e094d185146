"""`psm-eval run --executor ray --shards N`: the N shards of a run (`run --shard K/N`) as Ray tasks.

Each shard runs in a Ray worker into its own run folder under `<out>/shards/<id>/`, asking the cluster for
what its arms need. A shard whose worker dies or whose node goes away is submitted again and resumes its
folder (the records it stored are kept, none is asked twice); an error of the run itself (a bad config, the
error budget) is not retried. When every shard is complete they are merged (`run.shard.merge_runs`) into
one run folder under `<out>/`, identical to an unsharded run. Ray is optional and imported only here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from psm_eval.data.task import load_task
from psm_eval.errors import ConfigError, PsmError, RunInterrupted, StoreError
from psm_eval.records import GENERATIONS, RunConfig, is_run_folder, read_manifest
from psm_eval.run.manifest import new_run_dir
from psm_eval.run.runner import BackendFactory, planned_keys, run
from psm_eval.run.shard import merge_runs

__all__ = ["run_on_ray", "shard_resources", "import_ray", "RAY_MISSING", "MAX_RETRIES", "ShardBackends"]

RAY_MISSING = "--executor ray needs Ray, which is not installed: pip install 'psm_eval[ray]'"
MAX_RETRIES = 3
"""Times a shard is resubmitted after its worker died, before the run gives up."""
ShardBackends = Callable[[int, int], BackendFactory | None]
"""(shard, attempt) → the backend factory that attempt of that shard runs with; None: the arms' own models."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


def shard_resources(config: RunConfig, cluster_has_gpus: bool) -> dict[str, float]:
    """What one shard asks of the cluster. Its arms run one after another, so the largest arm's need:
    a `vllm` arm its tensor_parallel_size GPUs (one replica: data_parallel_size > 1 is refused), an `hf` arm one
    GPU on a cuda device
    (no `device` argument: cuda where the cluster has GPUs, as the backend chooses), else one CPU."""
    from psm_eval.backends.probe import HF_TYPES

    gpus = 0
    for arm in config.arms:
        spec = arm.model_spec()
        if spec.type == "vllm":
            gpus = max(gpus, int(spec.args.get("tensor_parallel_size", 1)))
        elif spec.type in HF_TYPES:
            device = str(spec.args.get("device", "cuda" if cluster_has_gpus else "cpu"))
            gpus = max(gpus, 1 if device.startswith("cuda") else 0)
    return {"num_cpus": 1, "num_gpus": gpus}


def run_on_ray(config: RunConfig, shards: int, *, address: str | None = None, progress: bool = True,
               max_retries: int = MAX_RETRIES, log: Callable[[str], None] | None = None,
               backends: ShardBackends | None = None) -> Path:
    """Run the config's N shards as Ray tasks (on the cluster at `address`, else a local one started here),
    resubmitting a shard whose worker died, and merge them; return the merged run folder. `backends` (pickled
    to the workers) chooses each shard attempt's backend factory, as `run(backend_factory=)` does in-process."""
    ray = import_ray()
    if shards < 1:
        raise ConfigError(f"--shards {shards}: expected a number of shards >= 1")
    say = log or (lambda line: print(f"psm-eval: {line}", file=sys.stderr))
    expected = sum(1 for ref in config.tasks for task in [load_task(ref, limit=config.limit)]
                   for arm in config.arms for _ in planned_keys(task, arm.name))
    root = new_run_dir(Path(config.out).resolve() / "shards", config)
    root.mkdir(parents=True)
    shard_config = config.model_copy(update={"out": str(root)})  # one config for every shard: merge checks it
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        resources = shard_resources(config, ray.cluster_resources().get("GPU", 0) > 0)
        task = ray.remote(_run_shard).options(max_retries=0, **resources)  # retried here, by resuming

        def submit(k: int, attempt: int) -> Any:
            return task.remote(shard_config, k, shards, attempt, backends, os.getcwd())

        say(f"{shards} shards on Ray ({resources['num_cpus']:g} CPU, {resources['num_gpus']:g} GPU each) "
            f"into {root}")
        folders = _wait(ray, submit, shards, max_retries, _Progress(root, expected, progress, say), say, root)
    finally:
        if started:
            ray.shutdown()
    return merge_runs([folders[k] for k in range(shards)], Path(config.out))


def _wait(ray: Any, submit: Callable[[int, int], Any], n: int, max_retries: int, bar: _Progress,
          say: Callable[[str], None], root: Path) -> dict[int, Path]:
    """Every shard's folder once complete; a lost worker's shard is resubmitted to resume its folder."""
    pending = {submit(k, 0): (k, 0) for k in range(n)}
    folders: dict[int, Path] = {}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            bar.update()
            for ref in ready:
                k, attempt = pending.pop(ref)
                try:
                    folders[k] = Path(ray.get(ref))
                except ray.exceptions.RayTaskError as exc:  # the run itself failed: retrying would fail again
                    _cancel(ray, pending)
                    cause = getattr(exc, "cause", None)
                    raise (cause if isinstance(cause, PsmError) else exc) from None
                except ray.exceptions.RayError as exc:  # the worker or its node died: resume the folder
                    if attempt >= max_retries:
                        _cancel(ray, pending)
                        raise StoreError(f"shard {k}/{n}: its worker was lost {attempt + 1} times "
                                         f"({type(exc).__name__}); its records are kept under {root}: finish it "
                                         "with `psm-eval run --resume SHARD_DIR`, then `psm-eval merge`") from None
                    say(f"shard {k}/{n}: worker lost ({type(exc).__name__}); resuming its folder "
                        f"(attempt {attempt + 2} of {max_retries + 1})")
                    pending[submit(k, attempt + 1)] = (k, attempt + 1)
                else:
                    bar.shard_done(k, n, folders[k])
    except KeyboardInterrupt:
        _cancel(ray, pending)
        raise RunInterrupted(f"interrupted; the shards' records are kept under {root}: finish each with "
                             "`psm-eval run --resume SHARD_DIR`, then `psm-eval merge`") from None
    finally:
        bar.close()
    return folders


def _cancel(ray: Any, pending: dict[Any, tuple[int, int]]) -> None:
    for ref in pending:  # a cancelled shard stops as after Ctrl-C: `cancelled`, resumable
        ray.cancel(ref)


class _Progress:
    """Records stored across the shards' folders (complete lines of their generations.jsonl), as one bar;
    without a bar, one line per completed shard."""

    def __init__(self, root: Path, total: int, show: bool, say: Callable[[str], None]):
        self.root = root
        self.show = show
        self.say = say
        self.seen: dict[Path, tuple[int, int]] = {}  # file → (bytes read, complete lines in them)
        self.bar = tqdm(total=total, desc="shards", unit="rec", disable=not show)

    def update(self) -> None:
        count = 0
        for path in sorted(self.root.glob(f"[!.]*/{GENERATIONS}")):
            offset, lines = self.seen.get(path, (0, 0))
            try:
                with path.open("rb") as f:
                    if f.seek(0, 2) < offset:  # the torn tail a resume cut off: count again
                        offset, lines = 0, 0
                    f.seek(offset)
                    data = f.read()
            except OSError:
                continue
            self.seen[path] = (offset + len(data), lines + data.count(b"\n"))
            count += self.seen[path][1]
        self.bar.update(count - self.bar.n)

    def shard_done(self, k: int, n: int, folder: Path) -> None:
        self.update()
        if not self.show:
            counts = read_manifest(folder).counts
            records = sum(c.ok + c.failed for c in counts.values())
            self.say(f"shard {k}/{n} complete: {records} records in {folder}")

    def close(self) -> None:
        self.bar.close()


# ---- in the Ray worker --------------------------------------------------------------------------------

def _run_shard(config: RunConfig, k: int, n: int, attempt: int, backends: ShardBackends | None, cwd: str) -> str:
    """One shard: resume the folder an earlier attempt made (found by its manifest's `shard`), else start it."""
    if Path(cwd).is_dir():  # task names resolve under ./tasks, as on the driver
        os.chdir(cwd)
    factory = backends(k, attempt) if backends is not None else None
    folder = _shard_folder(Path(config.out), f"{k}/{n}")
    if folder is None:
        return str(run(config, shard=(k, n), progress=False, backend_factory=factory))
    if read_manifest(folder).status == "complete":
        return str(folder)
    return str(run(config, resume=folder, progress=False, backend_factory=factory))


def _shard_folder(root: Path, shard: str) -> Path | None:
    """A run folder appears whole (it is renamed into place), so one that exists can be resumed."""
    for folder in sorted(root.iterdir()):
        if not folder.name.startswith(".") and is_run_folder(folder) and read_manifest(folder).shard == shard:
            return folder
    return None

