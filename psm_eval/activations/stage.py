"""The activation stage: every arm of a run, its stored replies' hidden states into `activations/`.

Arms whose model runs in-process through transformers are measured (one forward pass per batch of
stored records, exact prompt + stored reply); every other arm is recorded `not_measurable` with its
reason, never skipped in silence. Resumable: records already in a part on disk are not measured again,
and a stopped stage loses at most the part it was filling.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from psm_eval.activations.store import PART_SIZE, PartWriter, arm_folder, read_index, write_index
from psm_eval.backends import KeptModel
from psm_eval.backends.spec import ModelSpec
from psm_eval.records import ActivationIndex, ArmActivations, ArmEntry, iter_generations, read_manifest

__all__ = ["measure_run", "MeasureResult", "ModelFactory", "arm_items", "existing_parts"]

ModelFactory = Callable[[ModelSpec, int], Any]
"""(model spec, batch size) → an object with `layers`, `hidden`, `measure(items)` and `close()`."""


@dataclass(frozen=True)
class MeasureResult:
    """What one call of the stage did."""

    run_dir: Path
    arms: dict[str, ArmActivations]
    """Every arm's index entry after the call."""
    measured: dict[str, int]
    """Arm → records measured by this call (0: all were stored already, or not measurable)."""


def measure_run(run_dir: Path | str, *, progress: bool = True, batch_size: int = 16,
                model_factory: ModelFactory | None = None, part_size: int = PART_SIZE,
                arms: list[str] | None = None) -> MeasureResult:
    """Measure every arm of the run (or the named ones) that is not measured yet; return the index entries."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    index = read_index(run_dir) or ActivationIndex()
    measured: dict[str, int] = {}
    shared: KeptModel[Any] = KeptModel()  # consecutive arms of one model load it once
    try:
        for arm in manifest.arms:
            if arms is not None and arm.name not in arms:
                continue
            backend = manifest.backends.get(arm.name)
            fingerprint = backend.fingerprint if backend is not None else None
            entry, n = _measure_arm(run_dir, arm, fingerprint, index, progress, shared, batch_size,
                                    model_factory, part_size)
            index = ActivationIndex(arms={**index.arms, arm.name: entry})
            write_index(run_dir, index)
            measured[arm.name] = n
    finally:
        shared.close()
    return MeasureResult(run_dir, dict(index.arms), measured)


def _measure_arm(run_dir: Path, arm: ArmEntry, fingerprint: dict[str, Any] | None, index: ActivationIndex,
                 progress: bool, shared: KeptModel[Any], batch_size: int, factory: ModelFactory | None,
                 part_size: int) -> tuple[ArmActivations, int]:
    from psm_eval.backends.activations import create_hidden_states, not_measurable_reason

    spec = ModelSpec(type=arm.model.type, args=dict(arm.model.args))
    reason = not_measurable_reason(spec)
    if reason is not None:
        return ArmActivations(status="not_measurable", reason=reason, model_type=spec.type,
                              fingerprint=fingerprint), 0
    folder = arm_folder(run_dir, arm.name)
    parts, done, truncated, skipped = existing_parts(folder)
    previous = index.arms.get(arm.name)
    part_size = previous.part_size if previous is not None and previous.status == "measured" else part_size
    not_measured, pending_n = _count(run_dir, arm.name, done)
    base: dict[str, Any] = {"model_type": spec.type, "fingerprint": fingerprint, "part_size": part_size}
    if pending_n == 0 and previous is not None and previous.status == "measured":
        entry = previous.model_copy(update={"parts": parts, "n_records": len(done) - len(skipped), "complete": True,
                                            "truncated": truncated,
                                            "not_measured": _with_skipped(not_measured, skipped)})
        return entry, 0
    model = shared.get(spec, lambda: (factory or create_hidden_states)(spec, batch_size))
    writer = PartWriter(folder, layers=model.layers, hidden=model.hidden, start=len(parts), part_size=part_size)
    entry = ArmActivations(status="measured", layers=model.layers, hidden=model.hidden, parts=parts,
                           n_records=len(done) - len(skipped), truncated=truncated,
                           not_measured=_with_skipped(not_measured, skipped), **base)
    bar = tqdm(total=pending_n, desc=f"activations {arm.name}", unit="rec", disable=not progress, leave=False)
    n = 0
    try:
        for chunk in _chunks(arm_items(run_dir, arm.name, done), part_size):
            for m in model.measure(chunk):
                if m.reply_tokens == 0:  # nothing to average: kept out, counted
                    writer.skip(m.key, "empty_reply")
                    update: dict[str, Any] = {"not_measured": _with_skipped(entry.not_measured, {m.key: "empty_reply"})}
                else:
                    writer.add(m.key, m.reply_mean, m.prompt_last, m.reply_tokens, m.truncated)
                    update = {"n_records": entry.n_records + 1, "truncated": entry.truncated + int(m.truncated)}
                entry = entry.model_copy(update=update)
                n += 1
            writer.flush()
            entry = entry.model_copy(update={"parts": parts + writer.written})
            write_index(run_dir, ActivationIndex(arms={**index.arms, arm.name: entry}))
            bar.update(len(chunk))
    finally:
        bar.close()
    return entry.model_copy(update={"complete": True}), n


def _with_skipped(counts: dict[str, int], skipped: dict[str, str]) -> dict[str, int]:
    out = Counter(counts)
    out.update(skipped.values())
    return dict(sorted(out.items()))


def _count(run_dir: Path, arm: str, done: set[str]) -> tuple[dict[str, int], int]:
    """The arm's records that are never measured, by reason, and how many ok generate records are pending."""
    counts: Counter[str] = Counter()
    pending = 0
    for record in iter_generations(run_dir):
        if record.arm != arm:
            continue
        if record.kind == "loglikelihood":
            counts["loglikelihood"] += 1
        elif not record.ok:
            counts["failed"] += 1
        elif record.key not in done:
            pending += 1
    return dict(sorted(counts.items())), pending


def arm_items(run_dir: Path, arm: str, done: set[str] = frozenset()) -> Iterator[Any]:  # type: ignore[assignment]
    """The arm's ok generate records not yet measured, as items, in `generations.jsonl` order."""
    from psm_eval.backends.activations import ActivationItem

    for record in iter_generations(run_dir):
        if record.arm == arm and record.kind == "generate" and record.ok and record.key not in done:
            if record.prompt is None or record.prompt.text is None or record.output is None:
                continue  # a prompt a server rendered (messages): such arms are not measurable
            yield ActivationItem(record.key, record.prompt.text, record.output)


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def existing_parts(folder: Path) -> tuple[list[str], set[str], int, dict[str, str]]:
    """The complete parts already in an arm's folder: their names, the keys they cover (stored or skipped),
    how many stored records were truncated, and the skipped keys with why. A leftover temp file (a part
    being written when the stage stopped) is removed."""
    from psm_eval.activations.store import read_part_meta

    if not folder.is_dir():
        return [], set(), 0, {}
    for tmp in folder.glob(".part-*.tmp"):
        tmp.unlink()
    names = sorted(p.name for p in folder.glob("part-*.safetensors"))
    done: set[str] = set()
    truncated = 0
    skipped: dict[str, str] = {}
    for name in names:
        meta = read_part_meta(folder / name)
        done.update(meta.keys)
        done.update(meta.skipped)
        skipped.update(meta.skipped)
        truncated += len(meta.truncated)
    return names, done, truncated, skipped
