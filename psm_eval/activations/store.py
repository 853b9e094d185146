"""The activation store of a run folder: `activations/index.json` and each arm's parts.

A part is one safetensors file of at most `part_size` records, written whole (temp file + rename), so a
part on disk is always complete: a stopped stage resumes after the last part it wrote. Readers stream part
by part; nothing holds more than one part of an arm in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from psm_eval.errors import StoreError
from psm_eval.records import ACTIVATIONS, ACTIVATIONS_INDEX, ACTIVATIONS_VERSION, ActivationIndex, ArmActivations
from psm_eval.records.base import parse
from psm_eval.records.io import read_json, write_json_atomic

__all__ = ["PART_SIZE", "ActivationStore", "PartWriter", "open_activations", "read_index", "write_index",
           "arm_folder", "part_name", "PartMeta", "read_part_meta", "activations_folder"]

PART_SIZE = 256
_TENSORS = ("reply_mean", "prompt_last", "reply_tokens")


def activations_folder(run_dir: Path | str) -> Path:
    return Path(run_dir) / ACTIVATIONS


def arm_folder(run_dir: Path | str, arm: str) -> Path:
    return activations_folder(run_dir) / arm


def part_name(index: int) -> str:
    return f"part-{index:05d}.safetensors"


def read_index(run_dir: Path | str) -> ActivationIndex | None:
    """The run's activation index; None when the run has no activations folder."""
    path = activations_folder(run_dir) / ACTIVATIONS_INDEX
    if not path.parent.is_dir():
        return None
    if not path.is_file():
        return ActivationIndex()
    data = read_json(path)
    version = data.get("version") if isinstance(data, dict) else None
    if version != ACTIVATIONS_VERSION:
        raise StoreError(f"{path}: activation store format {version!r}; this psm_eval reads {ACTIVATIONS_VERSION}: "
                         f"measure the run again (`psm-eval activations {Path(run_dir)}` after removing the folder)")
    return parse(ActivationIndex, data, str(path))


def write_index(run_dir: Path | str, index: ActivationIndex) -> None:
    folder = activations_folder(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / ACTIVATIONS_INDEX, index.to_json())


def _keys(path: Path, meta: dict[str, str] | None) -> list[str]:
    raw = (meta or {}).get("keys")
    if raw is None:
        raise StoreError(f"{path}: no 'keys' metadata (not a psm_eval activation part)")
    try:
        keys = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise StoreError(f"{path}: metadata 'keys' is not JSON ({exc})") from None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise StoreError(f"{path}: metadata 'keys' must be a JSON list of record keys")
    return keys


@dataclass(frozen=True)
class PartMeta:
    """What a part's metadata says."""

    keys: list[str]
    """Stored records, in order (the rows of its tensors)."""
    skipped: dict[str, str]
    """Records of the part's span not stored, with why (`empty_reply`)."""
    truncated: list[str]
    """Stored records cut from the left to the model's length."""


def read_part_meta(path: Path) -> PartMeta:
    """A part's metadata (no tensor is read)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except SafetensorError as exc:
        raise StoreError(f"{path}: not a readable safetensors part ({exc})") from None
    keys = _keys(path, meta)
    try:
        skipped = json.loads(meta.get("skipped", "{}"))
        truncated = json.loads(meta.get("truncated", "[]"))
    except json.JSONDecodeError as exc:
        raise StoreError(f"{path}: metadata 'skipped' or 'truncated' is not JSON ({exc})") from None
    if not isinstance(skipped, dict) or not isinstance(truncated, list):
        raise StoreError(f"{path}: metadata 'skipped' must be a JSON object and 'truncated' a JSON list")
    return PartMeta(keys, skipped, truncated)


class PartWriter:
    """Buffers one arm's records and writes a part every `part_size` records (stored or skipped), the last
    on `flush`."""

    def __init__(self, folder: Path, *, layers: int, hidden: int, start: int = 0, part_size: int = PART_SIZE):
        self.folder = folder
        self.layers, self.hidden = layers, hidden
        self.part_size = part_size
        self.next_part = start
        self.written: list[str] = []
        """Part files written by this writer, in order."""
        self.max_buffered = 0
        """The most records ever held at once (never more than `part_size`)."""
        self._keys: list[str] = []
        self._rows: list[tuple[np.ndarray, np.ndarray, int]] = []
        self._skipped: dict[str, str] = {}
        self._truncated: list[str] = []

    def add(self, key: str, reply_mean: np.ndarray, prompt_last: np.ndarray, reply_tokens: int,
            truncated: bool = False) -> None:
        if reply_mean.shape != (self.layers, self.hidden) or prompt_last.shape != (self.layers, self.hidden):
            raise ValueError(f"{key}: activation shape {reply_mean.shape}, expected {(self.layers, self.hidden)}")
        self._keys.append(key)
        self._rows.append((reply_mean.astype(np.float16), prompt_last.astype(np.float16), int(reply_tokens)))
        if truncated:
            self._truncated.append(key)
        self._grew()

    def skip(self, key: str, reason: str) -> None:
        """A record of this span that is not stored (its reason kept in the part's metadata)."""
        self._skipped[key] = reason
        self._grew()

    def _grew(self) -> None:
        held = len(self._rows) + len(self._skipped)
        self.max_buffered = max(self.max_buffered, held)
        if held >= self.part_size:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered as one part (nothing when empty)."""
        if not self._rows and not self._skipped:
            return
        from safetensors.numpy import save_file

        empty = np.zeros((0, self.layers, self.hidden), dtype=np.float16)
        tensors = {"reply_mean": np.stack([r[0] for r in self._rows]) if self._rows else empty,
                   "prompt_last": np.stack([r[1] for r in self._rows]) if self._rows else empty.copy(),
                   "reply_tokens": np.array([r[2] for r in self._rows], dtype=np.int32)}
        self.folder.mkdir(parents=True, exist_ok=True)
        name = part_name(self.next_part)
        tmp = self.folder / f".{name}.tmp"
        meta = {"keys": json.dumps(self._keys, ensure_ascii=False),
                "skipped": json.dumps(self._skipped, ensure_ascii=False, sort_keys=True),
                "truncated": json.dumps(self._truncated, ensure_ascii=False)}
        save_file(tensors, str(tmp), metadata=meta)
        tmp.replace(self.folder / name)
        self.written.append(name)
        self.next_part += 1
        self._keys, self._rows, self._skipped, self._truncated = [], [], {}, []


@dataclass
class ActivationStore:
    """A run's stored activations (read-only)."""

    run_dir: Path
    index: ActivationIndex
    _checked: set[str] = field(default_factory=set)

    @property
    def arms(self) -> dict[str, ArmActivations]:
        return dict(self.index.arms)

    def iter(self, arm: str) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """(key, reply_mean float32 [layers, hidden], prompt_last float32 [layers, hidden]) per stored record,
        in `generations.jsonl` order, read one part at a time."""
        for path, entry in self._parts(arm):
            with _open(path) as f:
                keys = _keys(path, f.metadata())
                reply, prompt = (_tensor(f, path, name, entry, len(keys)) for name in ("reply_mean", "prompt_last"))
            for i, key in enumerate(keys):
                yield key, reply[i].astype(np.float32), prompt[i].astype(np.float32)

    def layer(self, arm: str, layer: int, which: str = "reply_mean") -> tuple[list[str], np.ndarray]:
        """Every stored record's key and its `which` vector at one residual-stream index: float32 [n, hidden]."""
        entry = self._entry(arm)
        if which not in ("reply_mean", "prompt_last"):
            raise ValueError(f"which={which!r}: expected reply_mean or prompt_last")
        if not 0 <= layer < (entry.layers or 0):
            raise StoreError(f"arm '{arm}': layer {layer} is outside 0..{(entry.layers or 1) - 1}")
        keys: list[str] = []
        rows: list[np.ndarray] = []
        for path, _ in self._parts(arm):
            with _open(path) as f:
                part_keys = _keys(path, f.metadata())
                _check_shape(f, path, which, entry, len(part_keys))
                rows.append(np.asarray(f.get_slice(which)[:, layer, :], dtype=np.float32))
            keys += part_keys
        hidden = entry.hidden or 0
        return keys, (np.concatenate(rows) if rows else np.zeros((0, hidden), dtype=np.float32))

    def reply_tokens(self, arm: str) -> tuple[list[str], np.ndarray]:
        """Every stored record's key and its reply's token count."""
        keys: list[str] = []
        counts: list[np.ndarray] = []
        for path, entry in self._parts(arm):
            with _open(path) as f:
                part_keys = _keys(path, f.metadata())
                counts.append(_tensor(f, path, "reply_tokens", entry, len(part_keys)).astype(np.int64))
            keys += part_keys
        return keys, (np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64))

    def _entry(self, arm: str) -> ArmActivations:
        entry = self.index.arms.get(arm)
        where = activations_folder(self.run_dir) / ACTIVATIONS_INDEX
        if entry is None:
            raise StoreError(f"{where}: no activations for arm '{arm}' (arms: {', '.join(self.index.arms) or 'none'})")
        if entry.status != "measured":
            raise StoreError(f"{where}: arm '{arm}' is not measurable: {entry.reason}")
        return entry

    def _parts(self, arm: str) -> Iterator[tuple[Path, ArmActivations]]:
        entry = self._entry(arm)
        for name in entry.parts:
            path = arm_folder(self.run_dir, arm) / name
            if not path.is_file():
                raise StoreError(f"{path}: part listed in {ACTIVATIONS}/{ACTIVATIONS_INDEX} is missing")
            yield path, entry


def open_activations(run_dir: Path | str) -> ActivationStore | None:
    """The run's activation store; None when the run has no activations folder."""
    index = read_index(run_dir)
    return None if index is None else ActivationStore(Path(run_dir), index)


def _open(path: Path) -> Any:
    from safetensors import SafetensorError, safe_open

    try:
        return safe_open(str(path), framework="numpy")
    except SafetensorError as exc:
        raise StoreError(f"{path}: not a readable safetensors part ({exc})") from None


def _check_shape(f: object, path: Path, name: str, entry: ArmActivations, n: int) -> None:
    names = set(f.keys())  # type: ignore[attr-defined]
    if name not in names:
        raise StoreError(f"{path}: tensor '{name}' is missing")
    shape = tuple(f.get_slice(name).get_shape())  # type: ignore[attr-defined]
    expected = (n,) if name == "reply_tokens" else (n, entry.layers, entry.hidden)
    if shape != expected:
        raise StoreError(f"{path}: tensor '{name}' has shape {shape}; the index and the part's {n} keys say "
                         f"{expected}")


def _tensor(f: object, path: Path, name: str, entry: ArmActivations, n: int) -> np.ndarray:
    _check_shape(f, path, name, entry, n)
    return f.get_tensor(name)  # type: ignore[attr-defined]
