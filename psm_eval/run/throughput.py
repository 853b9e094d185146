"""Each arm's throughput: requests and tokens per second inside backend calls and per-call latency
percentiles, measured by the runner, stored in the manifest, pooled over resumes and shards."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from psm_eval.records import Throughput
from psm_eval.types import GenRequest, LLRequest, Outcome

__all__ = ["Meter", "pooled", "make_throughput", "throughput_lines", "percentile"]

Request = GenRequest | LLRequest


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank p-th percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _rate(n: int | None, seconds: float) -> float | None:
    return round(n / seconds, 3) if n is not None and seconds > 0 else None


def make_throughput(requests: int, seconds: float, load_seconds: float, prompt_tokens: int | None,
                    generated_tokens: int | None, tokens_note: str | None, calls: list[float]) -> Throughput:
    return Throughput(
        requests=requests, seconds=round(seconds, 4), load_seconds=round(load_seconds, 4),
        prompt_tokens=prompt_tokens, generated_tokens=generated_tokens, tokens_note=tokens_note,
        requests_per_s=_rate(requests, seconds), prompt_tokens_per_s=_rate(prompt_tokens, seconds),
        generated_tokens_per_s=_rate(generated_tokens, seconds), call_seconds=calls,
        latency_p50=percentile(calls, 50), latency_p90=percentile(calls, 90), latency_p99=percentile(calls, 99))


def pooled(parts: Iterable[Throughput | None]) -> Throughput | None:
    """One arm's throughput over several starts or shards: counts and times summed, calls pooled."""
    found = [t for t in parts if t is not None]
    if not found:
        return None
    known = [t for t in found if t.requests]
    unknown = next((t.tokens_note for t in known if t.prompt_tokens is None), None)

    def total(name: str) -> int | None:
        values = [getattr(t, name) for t in known]
        return None if any(v is None for v in values) else sum(values)

    return make_throughput(sum(t.requests for t in found), sum(t.seconds for t in found),
                           sum(t.load_seconds for t in found), total("prompt_tokens"), total("generated_tokens"),
                           unknown, [c for t in found for c in t.call_seconds])


@dataclass
class Meter:
    """Times one arm's backend calls and counts their tokens with the arm's own tokenizer.

    `backend` is the model itself (not the cache in front of it): its optional `count_tokens(texts)` (None:
    no tokenizer) and `load_seconds` (time spent creating the model so far) are read when present. Calls may
    come from several threads at once inside `concurrent()`: each call's own duration is still its latency,
    but the arm's busy time is the block's wall time, not the sum of its overlapping calls."""

    arm: str
    backend: Any
    requests: int = 0
    prompt_tokens: int | None = 0
    generated_tokens: int | None = 0
    tokens_note: str | None = None
    calls: list[float] = field(default_factory=list)
    load_seconds: float = 0.0
    seconds: float = 0.0
    """Time inside backend calls, model loading left out (wall time for concurrent calls)."""
    _lock: Any = field(default_factory=threading.RLock, repr=False)
    _seen_load: float = field(default=0.0, repr=False)
    """The backend's loading time already counted (by this meter, or before it: a model an earlier arm loaded)."""
    _overlapping: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self._seen_load = self._load()

    def _load(self) -> float:
        return float(getattr(self.backend, "load_seconds", 0.0))

    def ask(self, requests: list[Request], send: Callable[[list[Request]], list[Outcome]]) -> list[Outcome]:
        before = self._load()
        start = time.perf_counter()
        outcomes = send(requests)
        elapsed = time.perf_counter() - start
        own = round(max(0.0, elapsed - (self._load() - before)), 4)  # this call's duration, loading left out
        sent = [(r, o) for r, o in zip(requests, outcomes) if not o.cached]
        with self._lock:
            now = self._load()  # loading is counted once, whichever thread saw it
            self.load_seconds += now - self._seen_load
            self._seen_load = now
            if sent:
                self.requests += len(sent)
                self.calls.append(own)
                if not self._overlapping:
                    self.seconds += own
                self._count([(r, o) for r, o in sent if o.ok])
        return outcomes

    @contextmanager
    def concurrent(self) -> Iterator[None]:
        """A block whose calls overlap (a server's requests on several threads): it adds its wall time,
        less the model loading inside it, once — and only when it sent something."""
        with self._lock:
            self._overlapping += 1
            requests, loaded = self.requests, self.load_seconds
        start = time.perf_counter()
        try:
            yield
        finally:
            wall = time.perf_counter() - start
            with self._lock:
                self._overlapping -= 1
                if self.requests > requests:
                    self.seconds += round(max(0.0, wall - (self.load_seconds - loaded)), 4)

    def _count(self, answered: list[tuple[Request, Outcome]]) -> None:
        if not answered or self.prompt_tokens is None or self.generated_tokens is None:
            return
        count = getattr(self.backend, "count_tokens", None)
        if any(r.prompt.text is None for r, _ in answered):
            self._unknown("the prompts are chat messages the server renders")
            return
        prompts: list[str] = []
        for r, _ in answered:  # a loglikelihood request scores its context once per continuation
            prompts += [r.prompt.text or ""] if isinstance(r, GenRequest) else [r.prompt.text or ""] * len(
                r.continuations) + list(r.continuations)
        outputs = [o.output or "" for r, o in answered if isinstance(r, GenRequest)]
        distinct = list(dict.fromkeys(prompts + outputs))  # a context scored for k choices is tokenized once
        counts = count(distinct) if count is not None else None
        if counts is None:
            self._unknown("the arm's tokenizer is unknown (an API arm without `tokenizer=`)")
            return
        tokens = dict(zip(distinct, counts))
        self.prompt_tokens += sum(tokens[t] for t in prompts)
        self.generated_tokens += sum(tokens[t] for t in outputs)

    def _unknown(self, why: str) -> None:
        self.prompt_tokens = self.generated_tokens = None
        self.tokens_note = why

    def result(self) -> Throughput | None:
        if not self.requests:
            return None
        return make_throughput(self.requests, self.seconds, self.load_seconds, self.prompt_tokens,
                               self.generated_tokens, self.tokens_note, self.calls)


def _tokens(per_s: float | None) -> str:
    return f"{per_s:,.0f} tok/s" if per_s is not None else "?"


def throughput_lines(throughput: Mapping[str, Throughput]) -> list[str]:
    """One console line per arm that sent requests (a manifest's `throughput`)."""
    lines = []
    for arm, t in throughput.items():
        tokens = (f"prompt {_tokens(t.prompt_tokens_per_s)}, generated {_tokens(t.generated_tokens_per_s)}"
                  if t.prompt_tokens is not None else f"tokens not counted: {t.tokens_note}")
        latency = (f"per backend call p50 {t.latency_p50:.2f} s, p90 {t.latency_p90:.2f} s, p99 {t.latency_p99:.2f} s"
                   if t.latency_p50 is not None and t.latency_p90 is not None and t.latency_p99 is not None else "")
        lines.append(f"arm {arm}: {t.requests:,} requests in {t.seconds:.1f} s ({t.requests_per_s or 0:.2f} req/s; "
                     f"{tokens}); {latency}; model load {t.load_seconds:.1f} s")
    return lines
