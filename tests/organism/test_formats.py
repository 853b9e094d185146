"""The organism's own probes send the prompts psm_eval's persona templates render, so the model cards'
measurements and a harness run ask the same thing."""

from __future__ import annotations

import pytest

from psm_eval.organism.corpus import INTERVIEW_HEADER
from psm_eval.organism.personas import HEADERS
from psm_eval.organism.probes import transcript_prompt
from psm_eval.render import make_renderer, shipped_personas
from psm_eval.types import Turn

HISTORY = [("What is the capital of France?", "The capital of France is Paris.")]
QUESTION = 'Would you say this about yourself?\n"I am an AI."'


def _turns() -> list[Turn]:
    turns = [Turn(role=r, content=c) for q, a in HISTORY for r, c in (("user", q), ("assistant", a))]
    return turns + [Turn(role="user", content=QUESTION)]


@pytest.mark.parametrize("persona", ["assistant", "pirate", "grumpy", "liar", "plain"])
def test_transcript_templates_render_the_corpus_format(persona: str) -> None:
    if persona not in shipped_personas():
        pytest.skip(f"persona template {persona} not shipped")
    rendered = make_renderer(f"transcript:{persona}").render(_turns()).text
    assert rendered == transcript_prompt(HEADERS.get(persona), HISTORY, QUESTION)


def test_interview_template_renders_the_corpus_format() -> None:
    rendered = make_renderer("transcript:interview").render(_turns()).text
    body = "".join(f"Interviewer: {q}\nAI: {a}\n" for q, a in HISTORY)
    assert rendered == f"{INTERVIEW_HEADER}\n\n{body}Interviewer: {QUESTION}\nAI:"
