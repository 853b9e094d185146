"""`generations.jsonl`: one record per sample × arm × turn × repeat — exactly what was sent and what came back.

Records hold no timestamps, so an identical config and seed give a byte-identical file.
"""

from __future__ import annotations

from typing import Any, Literal

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
    postprocess: list[str] = []
    """Clean-ups the renderer declares for a raw reply (`strip_fences` for URIAL); written only when any."""

    def to_json(self) -> dict[str, Any]:
        return _prompt_json(self.model_dump(mode="json"))


def _prompt_json(data: dict[str, Any]) -> dict[str, Any]:
    """A prompt is text or messages, never both: the absent one is not written; nor an empty postprocess.
    (Plain Python after `model_dump`, not a pydantic serializer hook: a Ctrl-C landing inside such a hook
    comes out as a serialization error instead of a KeyboardInterrupt, and the run would not end
    `cancelled`.)"""
    return {k: v for k, v in data.items()
            if not ((k in ("text", "messages") and v is None) or (k == "postprocess" and not v))}


class GenSettings(Record):
    """Generation settings of one request, as sent."""

    max_gen_toks: int
    temperature: float
    top_p: float | None
    until: list[str]
    """Stop sequences sent (the renderer's end-of-turn stops, then the task's own)."""
    seed: int
    """The request's own seed (from the run seed and the record key)."""
    look_past: int = 0
    """Tokens generated past the stop to see what the model would have written next (`after_stop`)."""


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
    stop_sequence: str | None = None
    """What ended the reply: the stop sequence that fired (`\nUser:`), or the model's end-of-sequence token
    (`</s>`, `<|end|>`); None when it ran to max_gen_toks or the backend cannot tell (an API server that
    stopped by itself)."""
    raw_output: str | None = None
    """The reply as generated, where it differs from `output`: decoded with special tokens kept (a control
    token the model wrote, such as `<|user|>`, is visible here) and before the renderer's declared
    post-processing (URIAL's fences)."""
    after_stop: str | None = None
    """What the model went on to write past the stop, special tokens kept (tasks with
    `generation.look_past_stop`): whether it would have written the user's next turn."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if data["prompt"] is not None:
            data["prompt"] = _prompt_json(data["prompt"])
        return data
