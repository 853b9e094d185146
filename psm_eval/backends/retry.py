"""Bounded retries for transient request failures, each failure classified into a kind.

A request gets at most `retries + 1` attempts and `RequestLimits.retry_deadline` seconds in all,
waits included; each attempt at most `RequestLimits.timeout` seconds (the HTTP layer, `http.py`,
reads its end from `attempt_deadline()`). A request that runs out of its deadline is a `timeout`.
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple

from psm_eval.backends.spec import RequestLimits
from psm_eval.redact import redact_text
from psm_eval.types import Outcome

__all__ = ["with_retries", "classify", "one_line", "attempt_deadline", "ResponseError", "Verdict"]

_ATTEMPT_ENDS: contextvars.ContextVar[float | None] = contextvars.ContextVar("psm_eval_attempt_ends", default=None)


class ResponseError(Exception):
    """A reply psm_eval refuses to use (wrong shape, too large), raised before lm-eval parses it."""

    def __init__(self, kind: str, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


class Verdict(NamedTuple):
    """What a failed attempt means: its kind, whether to try again, after how many seconds, and a
    note for the stored message."""

    kind: str
    retryable: bool
    wait: float
    note: str = ""


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return redact_text(f"{type(exc).__name__}: {text[0] if text else ''}")[:400]


def attempt_deadline(timeout: float) -> float:
    """When the current attempt must be over (`time.monotonic()` clock): set by `with_retries` for
    its attempts; outside it (a batch call), `timeout` seconds from now."""
    ends = _ATTEMPT_ENDS.get()
    return ends if ends is not None else time.monotonic() + timeout


def _pause(seconds: float) -> None:
    """Backoff between retries (a seam for tests)."""
    time.sleep(seconds)


def with_retries(call: Callable[[], Outcome], retries: int, limits: RequestLimits | None = None) -> Outcome:
    """Retry transient failures (429, 5xx, connection, timeout, malformed reply) up to `retries`
    times with exponential backoff (honouring Retry-After up to `limits.max_retry_after`), within
    `limits.retry_deadline` seconds in all; other errors end at once."""
    limits = limits or RequestLimits()
    deadline = time.monotonic() + limits.retry_deadline
    attempts = 0
    while True:
        attempts += 1
        token = _ATTEMPT_ENDS.set(min(time.monotonic() + limits.timeout, deadline))
        try:
            return dataclasses.replace(call(), attempts=attempts)
        except Exception as exc:  # classified below; even a bug ends as a stored failure
            verdict = classify(exc, attempts, limits.max_retry_after)
            message = one_line(exc) + verdict.note
            if not verdict.retryable or attempts > retries:
                return Outcome.failure(verdict.kind, message, attempts)
            if verdict.wait >= deadline - time.monotonic():  # no time left for another attempt
                return Outcome.failure("timeout", f"no answer within the retry deadline of {limits.retry_deadline:g} s "
                                       f"({attempts} attempts); last: {verdict.kind}: {message}", attempts)
            _pause(verdict.wait)
        finally:
            _ATTEMPT_ENDS.reset(token)


def classify(exc: BaseException, attempt: int, max_retry_after: float = 60.0) -> Verdict:
    """The verdict on an exception from one attempt of a request."""
    import requests

    inner = exc
    last_attempt = getattr(exc, "last_attempt", None)  # tenacity.RetryError from inside lm-eval
    if last_attempt is not None and last_attempt.exception() is not None:
        inner = last_attempt.exception()
    backoff = min(8.0, 0.5 * 2 ** (attempt - 1))
    if isinstance(inner, ResponseError):
        return Verdict(inner.kind, inner.retryable, backoff if inner.retryable else 0.0)
    if isinstance(inner, requests.HTTPError) and inner.response is not None:
        status = inner.response.status_code
        if status == 429:
            asked = _retry_after(inner.response)
            if asked is not None and asked > max_retry_after:
                return Verdict("rate_limited", False, 0.0, f" (the server asked to retry after {asked:g} s, more "
                               f"than this arm's max_retry_after of {max_retry_after:g} s)")
            return Verdict("rate_limited", True, backoff if asked is None else asked)
        if status >= 500:
            return Verdict("server_error", True, backoff)
        return Verdict("http_error", False, 0.0)
    if isinstance(inner, requests.Timeout):
        return Verdict("timeout", True, backoff)
    if isinstance(inner, requests.ConnectionError):
        return Verdict("connection_error", True, backoff)
    # a body cut off mid-way (Content-Length not met, broken chunking) is as transient as bad JSON
    if isinstance(inner, (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError,
                          requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return Verdict("malformed_response", True, backoff)
    return Verdict("backend_error", False, 0.0)


def _retry_after(response: Any) -> float | None:
    """Seconds a 429 asks to wait (`Retry-After` in seconds or as an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())
