"""Rendering, an explicit and pure stage: dialogue + renderer + model info → the exact prompt.

Renderer specs: `transcript:<persona>` (a shipped persona name or a template path) and `chat`
(the model's own chat template) or `chat:template=PATH`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from psm_eval.errors import SpecError
from psm_eval.render.chat import ChatRenderer
from psm_eval.render.transcript import PersonaTemplate, load_persona, shipped_personas
from psm_eval.types import ModelInfo, Prompt, Turn

__all__ = ["Renderer", "make_renderer", "shipped_personas", "load_persona", "PersonaTemplate", "ChatRenderer"]


class Renderer(Protocol):
    """Turns a dialogue into the exact prompt for one model."""

    def render(self, turns: Sequence[Turn], model: ModelInfo) -> Prompt: ...


def make_renderer(spec: str) -> Renderer:
    """Build a renderer from its spec string (see module docstring)."""
    kind, _, arg = spec.partition(":")
    if kind == "transcript":
        return load_persona(arg or "assistant")
    if kind == "chat":
        if not arg:
            return ChatRenderer()
        key, eq, value = arg.partition("=")
        if key != "template" or not eq or not value:
            raise SpecError(f"renderer '{spec}': chat takes 'chat' or 'chat:template=PATH'")
        return ChatRenderer(template=Path(value))
    raise SpecError(f"unknown renderer '{spec}': use 'transcript:<persona>' (personas: "
                    f"{', '.join(shipped_personas())}) or 'chat'")
