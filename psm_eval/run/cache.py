"""Local response cache: identical requests to an identical model are answered from SQLite rows.

The key is a sha256 over the model fingerprint (weights hash for local folders, served model id +
URL for APIs, every output-relevant argument), the exact prompt, the generation settings and the
seed — so a hit can never cross models. Only successes are stored, and never truncated replies.
Values are JSON text, never pickle.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from psm_eval.records.io import dumps
from psm_eval.types import GenRequest, LLRequest, Outcome

__all__ = ["ResponseCache", "CachedBackend", "default_cache_dir"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS digests (path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                                    sha256 TEXT NOT NULL, PRIMARY KEY (path, size, mtime_ns));
"""


def default_cache_dir() -> Path:
    """`$PSM_EVAL_CACHE_DIR`, else `~/.cache/psm_eval`."""
    env = os.environ.get("PSM_EVAL_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "psm_eval"


class ResponseCache:
    """SQLite file of request key → JSON outcome, plus memoised file digests."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "responses.sqlite"
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def get(self, key: str) -> Outcome | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        import json

        data = json.loads(row[0])
        if data.get("logprobs") is not None:
            data["logprobs"] = tuple(tuple(p) for p in data["logprobs"])
        return Outcome(**data)

    def put(self, key: str, outcome: Outcome) -> None:
        if not outcome.ok or outcome.finish == "length":
            return
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)",
                             (key, dumps(asdict(outcome))))

    def digest_file(self, path: Path) -> str:
        """sha256 of a file, remembered by (path, size, mtime) so large weights hash once."""
        st = path.stat()
        ident = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        with self._lock:
            row = self._db.execute("SELECT sha256 FROM digests WHERE path=? AND size=? AND mtime_ns=?",
                                   ident).fetchone()
        if row:
            return row[0]
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?)", (*ident, h.hexdigest()))
        return h.hexdigest()

    def close(self) -> None:
        self._db.close()


class CachedBackend:
    """A Backend that answers from the cache and sends only the misses to `inner`."""

    def __init__(self, inner: Any, cache: ResponseCache):
        self.inner = inner
        self.cache = cache
        self.info = inner.info
        self.capabilities = inner.capabilities
        self._fingerprint = inner.fingerprint(cache.digest_file)
        self._model = hashlib.sha256(dumps(self._fingerprint).encode()).hexdigest()
        self.hits = 0
        self.misses = 0

    def _key(self, kind: str, body: dict[str, Any]) -> str:
        return hashlib.sha256(dumps({"model": self._model, "kind": kind, **body}).encode()).hexdigest()

    def generate(self, requests: Sequence[GenRequest]) -> list[Outcome]:
        keys = [self._key("generate", {"prompt": _prompt(r), "max_gen_toks": r.max_gen_toks, "seed": r.seed,
                                       "temperature": r.temperature, "top_p": r.top_p, "until": list(r.until)})
                for r in requests]
        return self._serve(requests, keys, self.inner.generate)

    def loglikelihood(self, requests: Sequence[LLRequest]) -> list[Outcome]:
        keys = [self._key("loglikelihood", {"prompt": _prompt(r), "continuations": list(r.continuations)})
                for r in requests]
        return self._serve(requests, keys, self.inner.loglikelihood)

    def _serve(self, requests: Sequence[Any], keys: list[str], send: Any) -> list[Outcome]:
        out: list[Outcome | None] = [self.cache.get(k) for k in keys]
        missing = [i for i, o in enumerate(out) if o is None]
        self.hits += len(requests) - len(missing)
        self.misses += len(missing)
        if missing:
            for i, outcome in zip(missing, send([requests[i] for i in missing])):
                out[i] = outcome
                self.cache.put(keys[i], outcome)
        return [o for o in out if o is not None]

    def fingerprint(self, digest_file: Any = None) -> dict[str, Any] | None:
        return self._fingerprint

    def close(self) -> None:
        self.inner.close()


def _prompt(r: Any) -> Any:
    return {"text": r.prompt.text} if r.prompt.text is not None else {"messages": [dict(m) for m in r.prompt.messages]}
