"""Local response cache: identical requests to an identical model are answered from SQLite rows.

The key is a sha256 over the model fingerprint (every argument that can change outputs and the content
of every local file the model reads — weights, config, tokenizer, adapters, steering vectors — or, for an
API arm that opts in, the server's own description of the served model), the exact prompt, the
generation settings and the seed, so a hit can never cross models. Only successes are stored; never
truncated or capped replies, and never a sampled reply of a backend whose sampling is not seeded per
request (it would not be the reply this request draws). Values are JSON text, never pickle.

A cache that cannot be used never stops a run: a corrupt file is moved aside, an unwritable folder or a
failing database is bypassed, each with one warning.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from psm_eval.records.io import dumps
from psm_eval.types import GenRequest, LLRequest, Outcome

__all__ = ["ResponseCache", "CachedBackend", "default_cache_dir", "open_cache"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS file_digests (path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                                         ino INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL,
                                         PRIMARY KEY (path, size, mtime_ns, ino, ctime_ns));
"""
_OUTCOME_FIELDS = {f.name for f in dataclasses.fields(Outcome)} - {"cached"}
# Part of every key: bumped whenever what an outcome holds changes, so an older row (without the newer
# fields: how a reply ended, its raw text) never answers for a request that would now record them.
CACHE_FORMAT = 2


def default_cache_dir() -> Path:
    """`$PSM_EVAL_CACHE_DIR`, else `~/.cache/psm_eval`."""
    env = os.environ.get("PSM_EVAL_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "psm_eval"


def _warn(message: str) -> None:
    print(f"psm-eval: warning: {message}", file=sys.stderr)


def open_cache(directory: Path) -> ResponseCache | None:
    """The cache in `directory`; a corrupt file is moved aside and replaced, and a folder that cannot
    hold a cache gives None (the run goes on uncached) — each with a one-line warning."""
    try:
        return ResponseCache(directory)
    except sqlite3.DatabaseError as exc:
        path = directory / "responses.sqlite"
        aside = path.with_name(f"responses.corrupt-{time.strftime('%Y%m%d-%H%M%S')}.sqlite")
        try:
            os.replace(path, aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            _warn(f"response cache {path} is corrupt ({exc}); moved it to {aside.name} and started a new one")
            return ResponseCache(directory)
        except (OSError, sqlite3.Error) as again:
            _warn(f"response cache {path} is unusable ({again}); running without a cache")
            return None
    except OSError as exc:
        _warn(f"response cache folder {directory} cannot be used ({exc.strerror or exc}); running without a cache")
        return None


class ResponseCache:
    """SQLite file of request key → JSON outcome, plus memoised file digests."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "responses.sqlite"
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            self._db.execute("SELECT count(*) FROM responses").fetchone()
        except sqlite3.Error:
            self._db.close()
            raise
        self._lock = threading.Lock()
        self.broken = False

    def _run(self, sql: str, args: tuple) -> Any:
        """One statement; a database error after opening disables the cache for the rest of the run."""
        if self.broken:
            return None
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            self.broken = True
            _warn(f"response cache {self.path} failed ({exc}); the rest of this run is uncached")
            return None

    def get(self, key: str) -> Outcome | None:
        row = self._run("SELECT value FROM responses WHERE key = ?", (key,))
        if row is None:
            return None
        data = {k: v for k, v in json.loads(row[0]).items() if k in _OUTCOME_FIELDS}
        if data.get("logprobs") is not None:
            data["logprobs"] = tuple(tuple(p) for p in data["logprobs"])
        return Outcome(**data)

    def put(self, key: str, outcome: Outcome) -> None:
        if not outcome.ok or outcome.finish == "length" or outcome.capped_from is not None:
            return
        value = {k: v for k, v in dataclasses.asdict(outcome).items() if k != "cached"}
        self._run("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)", (key, dumps(value)))

    def digest_file(self, path: Path) -> str:
        """sha256 of a file, remembered by (path, size, mtime, inode, ctime) so large weights hash once.
        A rewrite changes the inode or the ctime even when size and mtime are kept (`cp -p`, `rsync -a`)."""
        st = path.stat()
        ident = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
        row = self._run("SELECT sha256 FROM file_digests WHERE path=? AND size=? AND mtime_ns=? AND ino=? AND "
                        "ctime_ns=?", ident)
        if row:
            return str(row[0])
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        self._run("INSERT OR REPLACE INTO file_digests VALUES (?, ?, ?, ?, ?, ?)", (*ident, h.hexdigest()))
        return h.hexdigest()

    def close(self) -> None:
        self._db.close()


class CachedBackend:
    """A Backend that answers from the cache and sends only the misses to `inner`."""

    def __init__(self, inner: Any, cache: ResponseCache, fingerprint: dict[str, Any]):
        self.inner = inner
        self.cache = cache
        self.info = inner.info
        self.capabilities = inner.capabilities
        self._fingerprint = fingerprint
        self._model = hashlib.sha256(dumps(fingerprint).encode()).hexdigest()
        self.hits = 0
        self.misses = 0
        self._count = threading.Lock()  # the runner's threads share one backend on a concurrent API arm

    def _key(self, kind: str, body: dict[str, Any]) -> str:
        return hashlib.sha256(dumps({"format": CACHE_FORMAT, "model": self._model, "kind": kind,
                                     **body}).encode()).hexdigest()

    def generate(self, requests: Sequence[GenRequest]) -> list[Outcome]:
        # a sampled reply is this request's own only where sampling is seeded per request
        keys = [None if r.temperature > 0 and not self.capabilities.per_request_seed else
                self._key("generate", {"prompt": _prompt(r), "max_gen_toks": r.max_gen_toks, "seed": r.seed,
                                       "temperature": r.temperature, "top_p": r.top_p, "until": list(r.until),
                                       **({"look_past": r.look_past} if r.look_past else {})})
                for r in requests]
        return self._serve(requests, keys, self.inner.generate)

    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[Outcome]:
        keys = [self._key("loglikelihood", {"prompt": _prompt(r), "continuations": list(r.continuations)})
                for r in requests]
        return self._serve(requests, keys, self.inner.loglikelihood)

    def _serve(self, requests: Sequence[Any], keys: Sequence[str | None],
               send: Callable[[list[Any]], list[Outcome]]) -> list[Outcome]:
        found = [self.cache.get(k) if k is not None else None for k in keys]
        out: list[Outcome | None] = [dataclasses.replace(o, cached=True) if o is not None else None for o in found]
        missing = [i for i, o in enumerate(out) if o is None]
        with self._count:
            self.hits += len(requests) - len(missing)
            self.misses += len(missing)
        if missing:
            for i, outcome in zip(missing, send([requests[i] for i in missing])):
                out[i] = outcome
                key = keys[i]
                if key is not None:
                    self.cache.put(key, outcome)
        return [o for o in out if o is not None]

    def fingerprint(self, digest_file: Any = None) -> dict[str, Any] | None:
        return self._fingerprint

    def close(self) -> None:
        self.inner.close()


def _prompt(r: Any) -> Any:
    return {"text": r.prompt.text} if r.prompt.text is not None else {"messages": [dict(m) for m in r.prompt.messages]}
