"""`psm-eval merge`: the shards of a job array (`run --shard K/N`) → one run folder, record for
record identical to an unsharded run of the same config."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from psm_eval.activations.merge import merge_activations
from psm_eval.data.task import load_task
from psm_eval.errors import StoreError
from psm_eval.records import (
    CONFIG,
    GenerationRecord,
    Manifest,
    RunStore,
    dumps,
    iter_generations,
    read_config_data,
    read_manifest,
    write_config,
    write_manifest,
)
from psm_eval.run.config import build_config
from psm_eval.run.manifest import finish_manifest, new_manifest, new_run_dir
from psm_eval.run.runner import parse_shard, planned_keys
from psm_eval.run.throughput import pooled

__all__ = ["merge_runs"]


def merge_runs(shard_dirs: Sequence[Path], out: Path) -> Path:
    """Check the shards belong together and are complete, then write the merged run."""
    configs = [read_config_data(d) for d in shard_dirs]
    manifests = [read_manifest(d) for d in shard_dirs]
    _check_shards(shard_dirs, configs, manifests)
    config = build_config(configs[0], str(shard_dirs[0] / CONFIG))
    tasks = [load_task(ref, limit=config.limit) for ref in config.tasks]
    hashes = {t.name: t.data_hash for t in manifests[0].tasks}
    for task in tasks:
        if hashes.get(task.name) != task.data_hash:
            raise StoreError(f"task '{task.name}' changed since the shards ran; merge needs the same data")
    order = {key: (a, ti, *rank) for a, arm in enumerate(config.arms) for ti, task in enumerate(tasks)
             for rank, key in planned_keys(task, arm.name)}
    records = _collect(shard_dirs, order)
    path = new_run_dir(out, config)
    with RunStore(path) as store:
        write_config(path, configs[0])
        for record in sorted(records, key=lambda r: order[r.key]):
            store.append(record)
        throughput = {arm.name: pooled(m.throughput.get(arm.name) for m in manifests) for arm in config.arms}
        manifest = new_manifest(path.name, config, tasks).model_copy(
            update={"merged_from": [m.run_id for m in manifests],
                    "throughput": {arm: t for arm, t in throughput.items() if t is not None}})
        store.sync(force=True)
        merge_activations(shard_dirs, path)  # before the manifest says complete
        write_manifest(path, finish_manifest(manifest, path, None))
    return path


def _check_shards(dirs: Sequence[Path], configs: list[dict], manifests: list[Manifest]) -> None:
    for d, c, m in zip(dirs, configs, manifests):
        if dumps(c) != dumps(configs[0]):
            raise StoreError(f"{d} was run with a different config than {dirs[0]}; only shards of one run merge")
        if m.status != "complete":
            raise StoreError(f"{d} is {m.status}, not complete; finish it with `psm-eval run --resume {d}`")
        if not m.shard:
            raise StoreError(f"{d} is not a shard (run with --shard K/N)")
    shards = [parse_shard(m.shard or "") for m in manifests]
    n = shards[0][1]
    found = sorted(k for k, _ in shards)
    if any(s[1] != n for s in shards) or found != list(range(n)):
        raise StoreError(f"shards {', '.join(m.shard or '' for m in manifests)} do not cover 0..{n - 1} exactly once")


def _collect(dirs: Sequence[Path], order: dict[str, tuple]) -> list[GenerationRecord]:
    records: dict[str, GenerationRecord] = {}
    for d in dirs:
        for record in iter_generations(d):
            if record.key not in order:
                raise StoreError(f"{d}: record {record.key!r} is not part of this run's plan")
            if record.key in records:
                raise StoreError(f"{d}: record {record.key!r} also appears in another shard")
            records[record.key] = record
    missing = len(order) - len(records)
    if missing:
        raise StoreError(f"the shards hold {len(records)} of {len(order)} records; {missing} are missing")
    return list(records.values())
