"""Bounded retries for transient request failures, each failure classified into a kind."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from psm_eval.redact import redact_text
from psm_eval.types import Outcome

__all__ = ["with_retries", "classify", "one_line"]


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return redact_text(f"{type(exc).__name__}: {text[0] if text else ''}")[:400]


def _pause(seconds: float) -> None:
    """Backoff between retries (a seam for tests)."""
    time.sleep(seconds)


def with_retries(call: Callable[[], Outcome], retries: int) -> Outcome:
    """Retry transient failures (429, 5xx, connection, timeout, malformed reply) up to `retries`
    times with exponential backoff (honouring Retry-After); other errors end at once."""
    attempts = 0
    while True:
        attempts += 1
        try:
            outcome = call()
            return Outcome(**{**outcome.__dict__, "attempts": attempts})
        except Exception as exc:  # classified below; even a bug ends as a stored failure
            kind, retryable, wait = classify(exc, attempts)
            if not retryable or attempts > retries:
                return Outcome.failure(kind, one_line(exc), attempts)
            _pause(wait)


def classify(exc: BaseException, attempt: int) -> tuple[str, bool, float]:
    """(failure kind, retryable, seconds to wait) for an exception from a request."""
    import requests

    inner = exc
    last_attempt = getattr(exc, "last_attempt", None)  # tenacity.RetryError from inside lm-eval
    if last_attempt is not None and last_attempt.exception() is not None:
        inner = last_attempt.exception()
    backoff = min(8.0, 0.5 * 2 ** (attempt - 1))
    if isinstance(inner, requests.HTTPError) and inner.response is not None:
        status = inner.response.status_code
        if status == 429:
            return "rate_limited", True, _retry_after(inner.response, backoff)
        if status >= 500:
            return "server_error", True, backoff
        return "http_error", False, 0.0
    if isinstance(inner, requests.Timeout):
        return "timeout", True, backoff
    if isinstance(inner, requests.ConnectionError):
        return "connection_error", True, backoff
    # a body cut off mid-way (Content-Length not met, broken chunking) is as transient as bad JSON
    if isinstance(inner, (json.JSONDecodeError, KeyError, IndexError, TypeError,
                          requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return "malformed_response", True, backoff
    return "backend_error", False, 0.0


def _retry_after(response: Any, default: float) -> float:
    value = response.headers.get("Retry-After")
    try:
        return min(60.0, max(0.0, float(value)))
    except (TypeError, ValueError):
        return default
