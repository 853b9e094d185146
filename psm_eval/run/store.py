"""The run folder: `manifest.json`, `config.json` and the append-only `generations.jsonl`.

Whole files are written atomically (temp file + rename); JSONL records are flushed one by one (a
killed process loses at most the record being written) and fsynced at least once a second. A torn last line is dropped on
resume; a corrupt line elsewhere is an error naming it. One process at a time holds the folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

from psm_eval.errors import RunLockedError, StoreError

__all__ = ["RunStore", "dumps", "write_json_atomic", "read_json", "read_jsonl", "GENERATIONS", "MANIFEST", "CONFIG"]

MANIFEST = "manifest.json"
CONFIG = "config.json"
GENERATIONS = "generations.jsonl"
LOCK = ".lock"
SYNC_INTERVAL_S = 1.0


def dumps(obj: Any, indent: int | None = None) -> str:
    """Strict, deterministic JSON: sorted keys, no NaN/Infinity, lone surrogates kept as escapes."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False, indent=indent,
                      separators=(",", ":") if indent is None else (",", ": "))
    return text


def _encode(text: str) -> bytes:
    # A lone surrogate (possible in decoded model output) becomes the JSON escape "\udXXX",
    # which reads back as the same string: nothing is lost and the file stays valid UTF-8.
    return text.encode("utf-8", errors="backslashreplace")


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write a whole JSON file so readers see the old or the new version, never a mix."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(_encode(dumps(obj, indent=2) + "\n"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{path}: not found (is this a psm_eval run folder?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: corrupt JSON: {exc}") from None


def read_jsonl(path: Path, *, repair: bool = False) -> Iterator[dict]:
    """Records of a JSONL file. A torn last line is dropped (and cut from the file if `repair`);
    a corrupt line anywhere else is an error naming its number."""
    if not path.exists():
        return
    with open(path, "rb") as fh:
        data = fh.read()
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    for number, raw in enumerate(complete, start=1):
        if not raw.strip():
            continue
        try:
            yield json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StoreError(f"{path}:line {number}: corrupt record ({exc.__class__.__name__}); "
                             "the file was changed by something other than psm_eval") from None
    if tail.strip() and repair:
        with open(path, "r+b") as fh:
            fh.truncate(len(data) - len(tail))


class RunStore:
    """One run folder. Use as a context manager to hold its lock."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock_fd: int | None = None
        self._fh: Any = None
        self._synced = 0.0

    def __enter__(self) -> "RunStore":
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunLockedError(f"run folder {self.path} is in use by another psm-eval process (pid {holder}); "
                                 "wait for it to finish or stop it") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fh is not None:
            self.sync(force=True)
            self._fh.close()
            self._fh = None
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # whole files
    def write_manifest(self, manifest: dict) -> None:
        write_json_atomic(self.path / MANIFEST, manifest)

    def read_manifest(self) -> dict:
        return read_json(self.path / MANIFEST)

    def write_config(self, config: dict) -> None:
        write_json_atomic(self.path / CONFIG, config)

    def read_config(self) -> dict:
        return read_json(self.path / CONFIG)

    # generations
    def records(self, repair: bool = False) -> list[dict]:
        return list(read_jsonl(self.path / GENERATIONS, repair=repair))

    def append(self, record: dict) -> None:
        """Append one record and flush it to the OS (it survives the process being killed)."""
        if self._lock_fd is None:
            raise StoreError("RunStore.append needs the run lock (use `with RunStore(path) as store`)")
        if self._fh is None:
            self._fh = open(self.path / GENERATIONS, "ab")
        self._fh.write(_encode(dumps(record) + "\n"))
        self._fh.flush()

    def sync(self, force: bool = False) -> None:
        """Make appended records durable on disk: at most once a second (a killed process loses
        nothing already flushed; this guards against the OS crashing), and always on close."""
        now = time.monotonic()
        if self._fh is not None and (force or now - self._synced >= SYNC_INTERVAL_S):
            os.fsync(self._fh.fileno())
            self._synced = now
