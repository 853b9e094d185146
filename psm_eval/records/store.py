"""The run folder on disk: its lock, and the append-only writer of `generations.jsonl`.

JSONL records are flushed one by one (a killed process loses at most the record being written) and
fsynced at least once a second. One process at a time holds a folder: a second is refused, a dead
one releases it.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Any

from psm_eval.errors import RunLockedError, StoreError
from psm_eval.records.generation import GENERATIONS, GenerationRecord
from psm_eval.records.io import dumps, encode

__all__ = ["RunStore", "LOCK", "SYNC_INTERVAL_S"]

LOCK = ".lock"
SYNC_INTERVAL_S = 1.0


class RunStore:
    """One run folder. Use as a context manager to hold its lock."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock_fd: int | None = None
        self._fh: Any = None
        self._synced = 0.0

    def __enter__(self) -> RunStore:
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

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    def append(self, record: GenerationRecord) -> None:
        """Append one generation record and flush it to the OS (it survives the process being killed)."""
        if self._lock_fd is None:
            raise StoreError("RunStore.append needs the run lock (use `with RunStore(path) as store`)")
        if self._fh is None:  # kept open across appends; closed (after an fsync) on __exit__
            self._fh = open(self.path / GENERATIONS, "ab")  # noqa: SIM115
        self._fh.write(encode(dumps(record.to_json()) + "\n"))
        self._fh.flush()

    def sync(self, force: bool = False) -> None:
        """Make appended records durable on disk: at most once a second (a killed process loses
        nothing already flushed; this guards against the OS crashing), and always on close."""
        now = time.monotonic()
        if self._fh is not None and (force or now - self._synced >= SYNC_INTERVAL_S):
            os.fsync(self._fh.fileno())
            self._synced = now
