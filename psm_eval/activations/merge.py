"""The activations of a run's shards joined into the merged run: the same keys, order and parts as an
unsharded run's, vectors copied row by row (one part of the merged run in memory at a time)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from psm_eval.activations.store import PartWriter, arm_folder, read_index, read_part_meta, write_index
from psm_eval.errors import StoreError
from psm_eval.records import ActivationIndex, ArmActivations, iter_generations

__all__ = ["merge_activations"]


def merge_activations(shard_dirs: Sequence[Path], merged: Path) -> ActivationIndex | None:
    """Write `merged`'s activations from its shards'; None when no shard has any. A shard without them, or
    with an arm not fully measured, is refused naming the command that completes it."""
    indexes = [read_index(d) for d in shard_dirs]
    if all(i is None for i in indexes):
        return None
    for d, index in zip(shard_dirs, indexes):
        if index is None:
            raise StoreError(f"{d} has no activations while other shards do; store them with "
                             f"`psm-eval activations {d}`, then merge again")
    arms: dict[str, ArmActivations] = {}
    for arm in _arm_names(shard_dirs, indexes):
        entries = [i.arms[arm] for i in indexes if i is not None]
        first = entries[0]
        if first.status == "not_measurable":
            arms[arm] = first
            continue
        for d, entry in zip(shard_dirs, entries):
            if not entry.complete:
                raise StoreError(f"{d}: the activations of arm '{arm}' are not complete; finish them with "
                                 f"`psm-eval activations {d}`, then merge again")
        arms[arm] = _merge_arm(shard_dirs, merged, arm, entries)
        write_index(merged, ActivationIndex(arms=arms))
    index = ActivationIndex(arms=arms)
    write_index(merged, index)
    return index


def _arm_names(dirs: Sequence[Path], indexes: list[ActivationIndex | None]) -> list[str]:
    names = list(indexes[0].arms) if indexes[0] is not None else []
    for d, index in zip(dirs, indexes):
        if index is not None and sorted(index.arms) != sorted(names):
            raise StoreError(f"{d}: activations of arms {sorted(index.arms)}, another shard has {sorted(names)}; "
                             f"measure every shard with `psm-eval activations SHARD_DIR`")
    return names


def _merge_arm(dirs: Sequence[Path], merged: Path, arm: str, entries: list[ArmActivations]) -> ArmActivations:
    first = entries[0]
    where: dict[str, tuple[Path, int]] = {}
    skipped: dict[str, str] = {}
    truncated: set[str] = set()
    for d in dirs:
        for name in sorted(p.name for p in arm_folder(d, arm).glob("part-*.safetensors")):
            meta = read_part_meta(arm_folder(d, arm) / name)
            where.update({k: (arm_folder(d, arm) / name, row) for row, k in enumerate(meta.keys)})
            skipped.update(meta.skipped)
            truncated.update(meta.truncated)
    writer = PartWriter(arm_folder(merged, arm), layers=first.layers or 1, hidden=first.hidden or 1,
                        part_size=first.part_size)
    handles: dict[Path, Any] = {}
    n = 0
    try:
        for record in iter_generations(merged):
            if record.arm != arm or record.kind != "generate" or not record.ok:
                continue
            if record.key in skipped:
                writer.skip(record.key, skipped[record.key])
                continue
            if record.key not in where:
                raise StoreError(f"record {record.key!r} has no stored activations in any shard; measure the "
                                 "shards with `psm-eval activations SHARD_DIR`")
            path, row = where[record.key]
            f = handles.get(path) or handles.setdefault(path, _open(path))
            reply, prompt = (np.asarray(f.get_slice(name)[row]) for name in ("reply_mean", "prompt_last"))
            writer.add(record.key, reply, prompt,
                       int(f.get_slice("reply_tokens")[row:row + 1][0]), record.key in truncated)
            n += 1
    finally:
        handles.clear()
    writer.flush()
    counts: Counter[str] = Counter()
    for entry in entries:
        counts.update(entry.not_measured)
    return first.model_copy(update={"parts": writer.written, "n_records": n, "complete": True,
                                    "truncated": sum(e.truncated for e in entries),
                                    "not_measured": dict(sorted(counts.items()))})


def _open(path: Path) -> Any:
    from safetensors import safe_open

    return safe_open(str(path), framework="numpy")
