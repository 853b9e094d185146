"""`generations.jsonl`: one record per sample × arm × turn × repeat — exactly what was sent and what came back.

Records hold no timestamps, so an identical config and seed give a byte-identical file.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import model_serializer

from psm_eval.records.base import Record

__all__ = ["GENERATIONS", "PromptRecord", "GenSettings", "ErrorInfo", "GenerationRecord", "record_key"]

GENERATIONS = "generations.jsonl"


def record_key(task: str, sample_id: str, arm: str, turn: int, repeat: int) -> str:
    """The unique key of a generation record (resume skips stored keys)."""
    return f"{task}/{sample_id}/{arm}/t{turn}/r{repeat}"


class PromptRecord(Record):
    """Exactly what was sent: text, or chat messages for servers that apply their own template."""

    text: str | None = None
    """The rendered prompt text (transcript, or a chat template applied locally)."""
    messages: list[dict[str, str]] | None = None
    """Chat messages, when the server applies the model's template."""
    renderer: str
    """`transcript` or `chat`."""
    template: str
    """Persona template name, `model` (the model's own chat template), `server`, or a template path."""
    template_hash: str
    """sha256 of the template source that produced the prompt."""
    stop: list[str]
    """Stop sequences that end the assistant's turn in this rendering."""

    @model_serializer(mode="wrap")
    def _one_body(self, handler: Any) -> dict[str, Any]:
        # a prompt is text or messages, never both: the absent one is not written
        data: dict[str, Any] = handler(self)
        for name in ("text", "messages"):
            if data.get(name) is None:
                data.pop(name, None)
        return data


class GenSettings(Record):
    """Generation settings of one request, as sent."""

    max_gen_toks: int
    temperature: float
    top_p: float | None
    until: list[str]
    """Stop sequences sent (the renderer's end-of-turn stops, then the task's own)."""
    seed: int
    """The request's own seed (from the run seed and the record key)."""


class ErrorInfo(Record):
    """Why a request failed."""

    kind: str
    """Failure family: `context_too_long`, `http_error`, `timeout`, `render_error` …"""
    message: str | None
    """One line, secrets redacted."""


class GenerationRecord(Record):
    """One line of generations.jsonl."""

    key: str
    """`<task>/<sample_id>/<arm>/t<turn>/r<repeat>` (unique)."""
    task: str
    task_version: str
    sample_id: str
    arm: str
    turn: int
    """User-turn index of the reply (the last one in gold mode)."""
    repeat: int
    kind: Literal["generate", "loglikelihood"]
    prompt: PromptRecord | None
    """None when the prompt could not be rendered (then `error` says why)."""
    gen: GenSettings | None
    """Generation settings (generate records that were sent)."""
    continuations: list[str] | None
    """The scored continuations (loglikelihood records that were sent)."""
    status: Literal["ok", "failed"]
    output: str | None
    """The reply; None exactly when the request failed (a failure is never an empty answer)."""
    finish: Literal["stop", "length"] | None
    """Why generation ended, when the backend can tell."""
    logprobs: list[tuple[float, bool]] | None
    """(loglikelihood, is_greedy) per continuation."""
    error: ErrorInfo | None
    attempts: int
    cached: bool = False
    """The outcome came from the response cache (an identical request to the identical model)."""
    capped_from: int | None = None
    """The reply's length in characters before it was cut to the stored-reply cap; None: stored whole."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"
