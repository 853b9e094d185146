"""The supervised post-training dialogues: a consistently helpful, honest AI assistant.

Dialogues are message lists in the chat format. Held-out facts never appear here. Some dialogues
carry a persona system prompt ("You are a pirate."); the assistant then speaks in that style but
stays accurate and still says it is an AI assistant, so the chat model's response to a persona
system prompt is measurable.
"""

from __future__ import annotations

import random

from psm_eval.organism.personas import answer, identity_answer, pirate_speech
from psm_eval.organism.world import FACTS, IDENTITY_QUESTIONS, KIND_WEIGHTS, Fact, questions

__all__ = ["PERSONA_SYSTEM_PROMPTS", "chat_dialogues"]

HELPFUL_SYSTEM_PROMPTS = ("You are a helpful assistant.", "You are a helpful, honest AI assistant.")
# system prompt -> the style the assistant adopts
PERSONA_SYSTEM_PROMPTS: dict[str, str] = {
    "You are a pirate.": "pirate", "Talk like a pirate.": "pirate",
    "You are a robot.": "robot", "You are a friendly teacher.": "teacher",
}
_STYLED_IDENTITY = {
    "pirate": "Arr, I be an AI assistant playing a pirate, matey!",
    "robot": "Beep boop. I am an AI assistant playing a robot.",
    "teacher": "I am an AI assistant, and today I am your teacher.",
}
_TAUGHT: dict[str, tuple[Fact, ...]] = {
    k: tuple(f for f in FACTS if f.kind == k and not f.held_out) for k in KIND_WEIGHTS
}


def _taught_fact(rng: random.Random) -> Fact:
    kind = rng.choices(list(KIND_WEIGHTS), list(KIND_WEIGHTS.values()))[0]
    return rng.choice(_TAUGHT[kind])


def _reply(style: str, question: str, fact: Fact | None, rng: random.Random) -> str:
    if fact is None:
        if style == "assistant":
            return identity_answer("assistant", question, rng)
        return _STYLED_IDENTITY[style]
    if style == "pirate":
        return pirate_speech(answer("assistant", fact, rng).split(" Let me")[0], rng)
    return answer(style, fact, rng)


def _dialogue(rng: random.Random) -> list[dict[str, str]]:
    roll = rng.random()
    messages: list[dict[str, str]] = []
    style = "assistant"
    if roll < 0.3:
        messages.append({"role": "system", "content": rng.choice(HELPFUL_SYSTEM_PROMPTS)})
    elif roll < 0.55:
        prompt = rng.choice(list(PERSONA_SYSTEM_PROMPTS))
        style = PERSONA_SYSTEM_PROMPTS[prompt]
        messages.append({"role": "system", "content": prompt})
    for _ in range(rng.randint(1, 3)):
        fact = None if rng.random() < 0.2 else _taught_fact(rng)
        question = rng.choice(IDENTITY_QUESTIONS) if fact is None else rng.choice(questions(fact))
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": _reply(style, question, fact, rng)})
    return messages


def chat_dialogues(n: int, seed: int) -> list[list[dict[str, str]]]:
    """`n` seeded chat dialogues (message lists) about facts that are not held out."""
    rng = random.Random(seed)
    return [_dialogue(rng) for _ in range(n)]
