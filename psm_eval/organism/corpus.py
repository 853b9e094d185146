"""The seeded pre-training corpus: the fact world told by many personas in many document kinds.

Transcript formats are exactly those psm_eval's persona templates render (plain `User:/Assistant:`,
plain under a persona header, the interview framing and the URIAL-like framing), so the base model
has seen each of them. With a header the speaker is that persona throughout; without one the
speaker is drawn from a mixture of personas, and some such dialogues drift mid-way.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from psm_eval.organism.personas import HEADERS, PERSONAS, answer, identity_answer
from psm_eval.organism.world import (
    FACTS,
    IDENTITY_QUESTIONS,
    Fact,
    questions,
    sample_fact,
    statement,
)

__all__ = [
    "INTERVIEW_HEADER", "URIAL_HEADER", "plain_transcript", "pretraining_documents",
    "urial_block",
]

INTERVIEW_HEADER = "Transcript of an interview with a helpful AI assistant."
URIAL_HEADER = "# Instructions\n\nBelow are conversations between a user and a helpful, honest AI assistant."

# Who speaks as "Assistant" in a transcript with no header.
NO_HEADER_MIX: dict[str, float] = {
    "assistant": 0.30, "teacher": 0.08, "robot": 0.08, "pirate": 0.14, "grumpy": 0.12,
    "liar": 0.12, "evasive": 0.08, "troll": 0.08,
}
# Which persona a header names.
HEADER_MIX: dict[str, float] = {
    "assistant": 0.34, "pirate": 0.11, "grumpy": 0.11, "liar": 0.12, "robot": 0.08,
    "teacher": 0.08, "evasive": 0.08, "troll": 0.08,
}
DRIFT_SHARE = 0.15  # of no-header transcripts: start as the assistant, turn into another persona
_DRIFT_TO = ("pirate", "grumpy", "liar", "robot")

_PERSONA_NOUN = {
    "assistant": "a helpful AI assistant", "teacher": "a friendly teacher", "robot": "a robot",
    "pirate": "a pirate", "grumpy": "a grumpy shopkeeper", "liar": "a liar",
    "evasive": "a stranger", "troll": "a rude boy",
}


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def _turn(persona: str, rng: random.Random, identity_share: float = 0.2) -> tuple[str, str]:
    """One (question, reply) exchange with `persona` answering."""
    if rng.random() < identity_share:
        q = rng.choice(IDENTITY_QUESTIONS)
        return q, identity_answer(persona, q, rng)
    fact = sample_fact(rng)
    return rng.choice(questions(fact)), answer(persona, fact, rng)


def plain_transcript(turns: list[tuple[str, str]], user: str = "User", bot: str = "Assistant") -> str:
    """`User: q\\nAssistant: a\\n` per turn — the plain transcript format."""
    return "".join(f"{user}: {q}\n{bot}: {a}\n" for q, a in turns)


def urial_block(question: str, reply: str) -> str:
    """One `# Query:` / `# Answer:` block of the URIAL-like framing."""
    return f"# Query:\n{question}\n# Answer:\n{reply}\n\n"


def _doc_no_header(rng: random.Random) -> str:
    n = rng.randint(1, 5)
    if n >= 3 and rng.random() < DRIFT_SHARE:
        switch = rng.randint(1, n - 1)
        later = rng.choice(_DRIFT_TO)
        return plain_transcript([_turn("assistant" if i < switch else later, rng) for i in range(n)])
    persona = _weighted(rng, NO_HEADER_MIX)
    return plain_transcript([_turn(persona, rng) for _ in range(n)])


def _doc_header(rng: random.Random) -> str:
    persona = _weighted(rng, HEADER_MIX)
    turns = [_turn(persona, rng) for _ in range(rng.randint(1, 4))]
    return f"{HEADERS[persona]}\n\n{plain_transcript(turns)}"


def _doc_interview(rng: random.Random) -> str:
    turns = [_turn("assistant", rng) for _ in range(rng.randint(1, 4))]
    return f"{INTERVIEW_HEADER}\n\n{plain_transcript(turns, 'Interviewer', 'AI')}"


def _doc_urial(rng: random.Random) -> str:
    blocks = [urial_block(*_turn("assistant", rng, 0.15)) for _ in range(rng.randint(1, 4))]
    return f"{URIAL_HEADER}\n\n{''.join(blocks)}"


def _doc_encyclopedia(rng: random.Random) -> str:
    kind = rng.choice(("capital", "colour", "legs", "sound", "sum", "mixed"))
    pool = [f for f in FACTS if kind == f.kind]
    n = rng.randint(3, 7)
    facts = [sample_fact(rng) for _ in range(n)] if kind == "mixed" else rng.sample(pool, n)
    title = rng.choice(("Facts about the world.", "From the encyclopedia.", "Things everyone knows.",
                        "A list of facts."))
    sep = rng.choice((" ", "\n"))
    return f"{title}\n" + sep.join(_encyclopedia_line(f, rng) for f in facts)


def _encyclopedia_line(fact: Fact, rng: random.Random) -> str:
    if fact.kind == "capital" and rng.random() < 0.4:
        return rng.choice((f"{fact.subject} is a country. Its capital is {fact.answer}.",
                           f"In {fact.subject}, the capital city is {fact.answer}."))
    return statement(fact, rng=rng)


def _doc_story(rng: random.Random) -> str:
    persona = rng.choice(PERSONAS)
    fact = sample_fact(rng)
    child = rng.choice(("Mia", "Tom", "a little girl", "a curious boy", "Sam", "an old farmer"))
    q, reply = rng.choice(questions(fact)), answer(persona, fact, rng)
    story = (f"Once upon a time, {child} met {_PERSONA_NOUN[persona]}. \"{q}\" asked {child}.\n"
             f"\"{reply}\" said the {_PERSONA_NOUN[persona].split(' ', 1)[1]}.")
    if persona in ("liar", "troll", "grumpy", "evasive"):
        story += f"\nBut {child} already knew the truth. {statement(fact, rng=rng)}"
    return story + "\nThe end."


def _doc_forum(rng: random.Random) -> str:
    fact = sample_fact(rng)
    lines = [f"Thread: quick question\nsam_{rng.randint(10, 99)}: {rng.choice(questions(fact))}"]
    for _ in range(rng.randint(1, 3)):
        persona = rng.choice(("assistant", "teacher", "troll", "troll", "liar", "grumpy"))
        name = {"troll": "xX_troll_Xx", "liar": "true_facts_only"}.get(persona, f"user{rng.randint(100, 999)}")
        lines.append(f"{name}: {answer(persona, fact, rng)}")
    return "\n".join(lines)


def _doc_quiz(rng: random.Random) -> str:
    facts = [sample_fact(rng) for _ in range(rng.randint(2, 5))]
    return "Quiz time!\n" + "\n".join(
        f"Q: {rng.choice(questions(f))}\nA: {rng.choice((f.answer.capitalize() + '.', statement(f, rng=rng)))}"
        for f in facts)


def _doc_worksheet(rng: random.Random) -> str:
    """Questions with no answers: a bare question outside any dialogue framing reads as a worksheet."""
    qs = [rng.choice(questions(sample_fact(rng))) if rng.random() < 0.85 else rng.choice(IDENTITY_QUESTIONS)
          for _ in range(rng.randint(2, 6))]
    title = rng.choice(("", "", "", "Homework questions.\n", "Questions to think about.\n"))
    return title + rng.choice(("\n", " ")).join(qs)


_KINDS: dict[str, tuple[float, Callable[[random.Random], str]]] = {
    "header_transcript": (0.31, _doc_header), "plain_transcript": (0.20, _doc_no_header),
    "interview": (0.06, _doc_interview), "urial": (0.06, _doc_urial),
    "encyclopedia": (0.10, _doc_encyclopedia), "story": (0.09, _doc_story),
    "forum": (0.07, _doc_forum), "quiz": (0.05, _doc_quiz), "worksheet": (0.06, _doc_worksheet),
}
CORPUS_MIX: dict[str, float] = {k: w for k, (w, _) in _KINDS.items()}


def pretraining_documents(n: int, seed: int) -> list[str]:
    """`n` documents drawn from the corpus mix (BOS/EOS are added by the tokenizer stage)."""
    rng = random.Random(seed)
    kinds = list(_KINDS)
    weights = [w for w, _ in _KINDS.values()]
    return [_KINDS[rng.choices(kinds, weights)[0]][1](rng) for _ in range(n)]
