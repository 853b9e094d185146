"""One exception type per failure family a user can cause; each carries a one-line message.

The CLI prints `str(error)` and exits with `error.exit_code`; a traceback is only for bugs.
"""

from __future__ import annotations

__all__ = [
    "PsmError",
    "TaskError",
    "ConfigError",
    "SpecError",
    "RenderError",
    "BackendError",
    "StoreError",
    "RunLockedError",
    "ErrorBudgetError",
    "RunInterrupted",
    "ScoringError",
    "GateError",
    "PreconditionError",
]


class PsmError(Exception):
    """Base of every user-facing error. `str()` is the one-line message."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class TaskError(PsmError):
    """A task file or its data is malformed (names file, place and field)."""


class ConfigError(PsmError):
    """A run configuration (CLI flags or run.yaml) is malformed."""


class SpecError(PsmError):
    """A model spec or renderer spec cannot be parsed or names an unknown type."""


class RenderError(PsmError):
    """A prompt cannot be rendered (missing chat template, unsafe persona template …)."""


class BackendError(PsmError):
    """A model backend could not be created or used."""


class StoreError(PsmError):
    """The run folder is unreadable, corrupt, or does not match the run being resumed."""


class RunLockedError(StoreError):
    """Another live process holds the run folder."""


class ErrorBudgetError(PsmError):
    """More of a run's requests failed than its `max_error_rate` allows (records kept; resumable)."""


class RunInterrupted(PsmError):
    """A run stopped by Ctrl-C or SIGTERM; its records are kept and it resumes. Two lines: what happened
    (with the run folder), and the exact command that continues it."""

    exit_code = 130

    def __init__(self, message: str) -> None:
        Exception.__init__(self, "\n".join(" ".join(line.split()) for line in str(message).splitlines()))


class ScoringError(PsmError):
    """A scorer name, its arguments, or the run being scored is wrong (one line, names the place)."""


class GateError(PsmError):
    """A gate policy, baseline file or gate option is malformed (exit 2, a usage error)."""


class PreconditionError(PsmError):
    """A run and its baseline cannot be compared (task versions, coverage, error budget …): exit 3."""

    exit_code = 3
