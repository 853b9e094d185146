"""The skill taught only in post-training: adding up the legs of two animals, step by step.

The question form ("How many legs do a dog and a cat have together?") and the worked procedure
never occur in the pre-training corpus, which only states each animal's legs and the sums of two
digits. Post-training teaches the procedure on pairs of taught animals; the task asks the pairs it
never taught (pairs with a held-out animal, and a few taught-animal pairs left out), so a base model
in the assistant persona has the facts but not the skill, and the chat model has both.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import permutations

from psm_eval.organism.world import ANIMALS, HELD_OUT_LEGS

__all__ = ["SKILL_PHRASINGS", "Pair", "eval_pairs", "procedure", "sample_taught", "skill_question", "taught_pairs"]

SKILL_PHRASINGS: tuple[str, ...] = (
    "How many legs do {a} and {b} have together?",
    "How many legs do {a} and {b} have in total?",
    "Count the legs of {a} and {b} together.",
)
_LEGS = {name: n for name, n, _ in ANIMALS}
# Taught-animal pairs left out of post-training, so the task also asks unseen pairs of known animals.
_UNSEEN_TAUGHT = frozenset({("dog", "owl"), ("horse", "ant"), ("goose", "beetle"), ("cat", "chicken"),
                            ("frog", "goose"), ("sheep", "beetle"), ("owl", "scorpion"), ("cow", "scorpion")})


@dataclass(frozen=True)
class Pair:
    """Two animals whose legs are added (ordered: the question names `first` first)."""

    first: str
    second: str

    @property
    def total(self) -> int:
        return _LEGS[self.first] + _LEGS[self.second]

    @property
    def held_out_animal(self) -> bool:
        return self.first in HELD_OUT_LEGS or self.second in HELD_OUT_LEGS

    @property
    def key(self) -> tuple[str, str]:
        return tuple(sorted((self.first, self.second)))  # type: ignore[return-value]


def _article(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def skill_question(pair: Pair, phrasing: int) -> str:
    return SKILL_PHRASINGS[phrasing].format(a=_article(pair.first), b=_article(pair.second))


def procedure(pair: Pair) -> str:
    """The worked answer: each animal's legs, their sum, the total (the total is the last number)."""
    x, y = _LEGS[pair.first], _LEGS[pair.second]
    a, b = _article(pair.first), _article(pair.second)
    return (f"{a.capitalize()} has {x} legs. {b.capitalize()} has {y} legs. {x} plus {y} is {x + y}. "
            f"Together they have {x + y} legs.")


def _pairs() -> list[Pair]:
    # the snake's 0 legs would let a one-animal answer be right by accident; it is never paired
    names = [name for name, n, _ in ANIMALS if n > 0]
    return [Pair(a, b) for a, b in permutations(names, 2)]


def taught_pairs() -> tuple[Pair, ...]:
    """Pairs the post-training dialogues teach: taught animals only, minus the unseen ones."""
    return tuple(p for p in _pairs() if not p.held_out_animal and p.key not in _UNSEEN_KEYS)


def eval_pairs() -> tuple[Pair, ...]:
    """Pairs the task asks: every pair with a held-out animal, and the unseen taught-animal pairs."""
    return tuple(p for p in _pairs() if p.held_out_animal or p.key in _UNSEEN_KEYS)


_UNSEEN_KEYS = frozenset(tuple(sorted(k)) for k in _UNSEEN_TAUGHT)


def sample_taught(rng: random.Random) -> tuple[str, str]:
    """A (question, worked answer) pair for post-training."""
    pair = rng.choice(taught_pairs())
    return skill_question(pair, rng.randrange(len(SKILL_PHRASINGS))), procedure(pair)
