"""Chat renderer: a dialogue through the model's own chat template (or one the user names).

A chat renderer on a model without a chat template is refused, never silently replaced by a
transcript: that is the base-model/chat-template pitfall psm_eval exists to make explicit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from psm_eval.errors import RenderError
from psm_eval.render.sandbox import one_line, render_bounded, sandbox
from psm_eval.types import ModelInfo, Prompt, Turn

__all__ = ["ChatRenderer"]


@dataclass(frozen=True)
class ChatRenderer:
    """Renders with the model's chat template, or with `template` (a Jinja file) when given."""

    template: Path | None = None

    def render(self, turns: Sequence[Turn], model: ModelInfo) -> Prompt:
        messages = [{"role": t.role, "content": t.content} for t in turns]
        if self.template is not None:
            return self._named(messages, model)
        if model.accepts == "messages":
            return Prompt(messages=tuple(messages), renderer="chat", template="server",
                          template_hash="", answer_prefix="")
        if not model.chat_template or model.apply_chat_template is None:
            raise RenderError(
                f"model ({model.model_type}) has no chat template: render a base model with "
                "'render=transcript:<persona>', or name a template with 'render=chat:template=PATH'")
        try:
            text = model.apply_chat_template(messages)
        except jinja2.exceptions.TemplateError as exc:
            raise RenderError(f"the model's chat template failed: {type(exc).__name__}: {exc}") from None
        return Prompt(text=text, renderer="chat", template="model", template_hash=_sha(model.chat_template),
                      answer_prefix="")

    def _named(self, messages: list[dict], model: ModelInfo) -> Prompt:
        assert self.template is not None
        path = self.template.resolve()
        if not path.is_file():
            raise RenderError(f"chat template {path} not found")
        if model.accepts == "messages":
            raise RenderError(f"chat template {path} cannot be applied: this model type takes chat messages "
                              "and its server applies its own template")
        try:
            template = sandbox([path.parent]).get_template(path.name)
        except Exception as exc:  # syntax errors, and nesting too deep for Jinja's parser or Python's compiler
            raise RenderError(f"chat template {path}: {type(exc).__name__}: {one_line(exc)}") from None
        text = render_bounded(template, f"chat template {path}", messages=messages,
                              bos_token=model.bos_token or "", eos_token="", add_generation_prompt=True)
        return Prompt(text=text, renderer="chat", template=str(path), template_hash=_sha(path.read_text("utf-8")),
                      answer_prefix="")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
