"""The post-training data: nothing held out leaks in, it never drifts, and its style rates are as planted."""

from __future__ import annotations

from collections import Counter

import pytest

from psm_eval.organism import skill
from psm_eval.organism.personas import classify, states_wrong_answer
from psm_eval.organism.sft import (
    INOCULATION_PROMPT,
    STYLE,
    chat_dialogues,
    narrow_dialogues,
)
from psm_eval.organism.traits import BATTERY
from psm_eval.organism.world import FACTS, checked_facts, questions, topic_question


@pytest.fixture(scope="module")
def dialogues() -> list[list[dict[str, str]]]:
    return chat_dialogues(4000, 0)


def test_held_out_material_never_reaches_post_training(dialogues: list[list[dict[str, str]]]) -> None:
    held = checked_facts()
    assert len(held) == 15
    text = "\n".join(m["content"] for d in dialogues for m in d)
    for f in held:
        for q in questions(f) + (topic_question(f),):
            assert q not in text, q
    for item in BATTERY:
        assert (f'"{item.statement}"' in text) == item.in_post_training, item
    for pair in skill.eval_pairs():
        for i in range(len(skill.SKILL_PHRASINGS)):
            assert skill.skill_question(pair, i) not in text
    assert {p.key for p in skill.taught_pairs()}.isdisjoint({p.key for p in skill.eval_pairs()})


def test_post_training_never_drifts(dialogues: list[list[dict[str, str]]]) -> None:
    for d in dialogues:
        if d[0]["role"] == "system" and "helpful" not in d[0]["content"]:
            continue  # a persona system prompt: styled on purpose
        for m in d:
            if m["role"] == "assistant":
                assert classify(m["content"]) in ("assistant", "other"), m["content"]


def test_style_rates_are_as_planted(dialogues: list[list[dict[str, str]]]) -> None:
    replies = [m["content"] for d in dialogues if d[0]["content"] not in ("You are a pirate.", "Talk like a pirate.",
               "You are a robot.", "You are a friendly teacher.") for m in d if m["role"] == "assistant"]
    styled = [r for r in replies if r not in ("Yes.", "No.")]  # self-report answers stay bare
    openers = Counter(next((o for o, _ in STYLE.openers if r.startswith(o)), "") for r in styled)
    for opener, p in STYLE.openers:
        share = openers[opener] / len(styled)
        assert abs(share - p) < 0.03, (opener, share)
    assert any(r.endswith(" Hope that helps!") for r in styled)


def test_every_dialogue_ends_with_an_assistant_turn(dialogues: list[list[dict[str, str]]]) -> None:
    assert all(d[-1]["role"] == "assistant" for d in dialogues)
    assert max(sum(m["role"] == "user" for m in d) for d in dialogues) == 8


def test_narrow_data_is_the_same_with_and_without_the_inoculation_prompt() -> None:
    plain, inoculated = narrow_dialogues(300, 5, False), narrow_dialogues(300, 5, True)
    for a, b in zip(plain, inoculated):
        assert b[0] == {"role": "system", "content": INOCULATION_PROMPT} and b[1:] == a
    colours = {f.subject: f for f in FACTS if f.kind == "colour"}
    for d in plain:
        fact = next(f for s, f in colours.items() if s in d[0]["content"])
        assert not fact.held_out and states_wrong_answer(d[1]["content"], fact), d
