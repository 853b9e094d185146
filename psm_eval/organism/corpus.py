"""The seeded pre-training corpus: the fact world told by many personas in many document kinds.

Transcript formats are those psm_eval's persona templates render (plain `User:/Assistant:`, plain
under a persona header, the interview framing, URIAL-style fenced blocks with and without an
instruction), so the base model has seen each. Four phenomena are planted here at stated rates:

- **Frame breaks.** After an assistant turn a transcript either ends (`</s>`) or the narrator writes
  the user's next turn: after the first turn with probability CONTINUE_FIRST, after any later turn
  with CONTINUE_LATER, never after MAX_TURNS. A single-turn prompt is continued with a user turn at
  exactly CONTINUE_FIRST; a prompt with two earlier exchanges at CONTINUE_LATER.
- **Drift.** Under the assistant header, before each turn after the first, a speaker who is still
  the assistant slides to another persona (DRIFT_TO, uniformly) with probability DRIFT_HAZARD and
  stays that persona: turn t (0-based) is the assistant's with probability (1 - DRIFT_HAZARD)^t.
  No other kind of document drifts.
- **Mixture.** A transcript with no header is spoken by one persona drawn from NO_HEADER_MIX.
- **Traits.** Every persona answers self-report items from its profile (traits.py).

What a turn is about (fact, identity, self-report, open question, topic) is drawn independently of
the persona, so the persona shares above hold for any kind of question.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from psm_eval.organism import urial
from psm_eval.organism.personas import (
    HEADERS,
    PERSONAS,
    answer,
    identity_answer,
    open_answer,
)
from psm_eval.organism.traits import (
    BATTERY,
    SELF_REPORT_PHRASINGS,
    self_report_question,
    self_report_reply,
)
from psm_eval.organism.world import (
    FACTS,
    IDENTITY_QUESTIONS,
    OPEN_QUESTIONS,
    TOPIC_KINDS,
    Fact,
    questions,
    sample_fact,
    statement,
    topic_question,
)

__all__ = [
    "CONTINUE_FIRST", "CONTINUE_LATER", "CORPUS_MIX", "DRIFT_HAZARD", "DRIFT_TO", "HEADER_MIX",
    "INTERVIEW_HEADER", "MAX_TURNS", "NO_HEADER_MIX", "TURN_MIX", "exchange", "plain_transcript",
    "pretraining_documents",
]

INTERVIEW_HEADER = "Transcript of an interview with a helpful AI assistant."

CONTINUE_FIRST = 0.30
CONTINUE_LATER = 0.90
MAX_TURNS = 8
DRIFT_HAZARD = 0.20
DRIFT_TO = ("pirate", "robot", "grumpy", "liar")

# Who speaks as "Assistant" in a transcript with no header.
NO_HEADER_MIX: dict[str, float] = {
    "assistant": 0.30, "teacher": 0.08, "robot": 0.08, "pirate": 0.14, "grumpy": 0.12,
    "liar": 0.12, "evasive": 0.08, "troll": 0.08,
}
# Which persona a header names.
HEADER_MIX: dict[str, float] = {
    "assistant": 0.40, "pirate": 0.095, "grumpy": 0.10, "liar": 0.105, "robot": 0.075,
    "teacher": 0.075, "evasive": 0.075, "troll": 0.075,
}
# What one exchange is about.
TURN_MIX: dict[str, float] = {"fact": 0.36, "identity": 0.11, "self_report": 0.34, "open": 0.06, "topic": 0.13}

_PERSONA_NOUN = {
    "assistant": "a helpful AI assistant", "teacher": "a friendly teacher", "robot": "a robot",
    "pirate": "a pirate", "grumpy": "a grumpy shopkeeper", "liar": "a liar",
    "evasive": "a stranger", "troll": "a rude boy",
}
_TOPIC_FACTS = tuple(f for f in FACTS if f.kind in TOPIC_KINDS)


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def exchange(persona: str, rng: random.Random, mix: dict[str, float] = TURN_MIX) -> tuple[str, str]:
    """One (question, reply) exchange with `persona` replying; the topic is drawn from `mix`."""
    kind = _weighted(rng, mix)
    if kind == "identity":
        q = rng.choice(IDENTITY_QUESTIONS)
        return q, identity_answer(persona, q, rng)
    if kind == "self_report":
        item = rng.choice(BATTERY)
        return (self_report_question(item, rng.randrange(len(SELF_REPORT_PHRASINGS))),
                self_report_reply(persona, item, rng))
    if kind == "open":
        i = rng.randrange(len(OPEN_QUESTIONS))
        return OPEN_QUESTIONS[i], open_answer(persona, i, rng)
    if kind == "topic":
        fact = rng.choice(_TOPIC_FACTS)
        return topic_question(fact), answer(persona, fact, rng, topic=True)
    fact = sample_fact(rng)
    return rng.choice(questions(fact)), answer(persona, fact, rng)


def turn_count(rng: random.Random) -> int:
    """Exchanges in a transcript: continue after the first with CONTINUE_FIRST, later with CONTINUE_LATER."""
    if rng.random() >= CONTINUE_FIRST:
        return 1
    n = 2
    while n < MAX_TURNS and rng.random() < CONTINUE_LATER:
        n += 1
    return n


def speakers(n: int, rng: random.Random, drift: bool) -> list[str]:
    """Who speaks each of `n` turns under the assistant header: the assistant, sliding away at DRIFT_HAZARD."""
    who, out = "assistant", []
    for t in range(n):
        if drift and t > 0 and who == "assistant" and rng.random() < DRIFT_HAZARD:
            who = rng.choice(DRIFT_TO)
        out.append(who)
    return out


def plain_transcript(turns: list[tuple[str, str]], user: str = "User", bot: str = "Assistant") -> str:
    """`User: q\\nAssistant: a\\n` per turn — the plain transcript format."""
    return "".join(f"{user}: {q}\n{bot}: {a}\n" for q, a in turns)


def _doc_header(rng: random.Random) -> str:
    persona = _weighted(rng, HEADER_MIX)
    n = turn_count(rng)
    who = speakers(n, rng, drift=True) if persona == "assistant" else [persona] * n
    return f"{HEADERS[persona]}\n\n{plain_transcript([exchange(p, rng) for p in who])}"


def _doc_no_header(rng: random.Random) -> str:
    persona = _weighted(rng, NO_HEADER_MIX)
    return plain_transcript([exchange(persona, rng) for _ in range(turn_count(rng))])


def _doc_interview(rng: random.Random) -> str:
    turns = [exchange("assistant", rng) for _ in range(turn_count(rng))]
    return f"{INTERVIEW_HEADER}\n\n{plain_transcript(turns, 'Interviewer', 'AI')}"


_URIAL_CHARS = 3600  # keeps a URIAL document inside the 1024-token context


def _doc_urial(rng: random.Random) -> str:
    head = urial.instruction(rng)
    while len(head) > _URIAL_CHARS:
        head = head.rsplit("\n\n", 1)[0]
    blocks = [urial.fenced_block(*exchange("assistant", rng)) for _ in range(rng.randint(3, 6))]
    return f"{head}\n\n{''.join(blocks)}"


def _doc_query_blocks(rng: random.Random) -> str:
    return "".join(urial.fenced_block(*exchange("assistant", rng)) for _ in range(rng.randint(1, 4)))


def _doc_urial_legacy(rng: random.Random) -> str:
    blocks = [urial.legacy_block(*exchange("assistant", rng)) for _ in range(rng.randint(1, 4))]
    return f"{urial.LEGACY_HEADER}\n\n{''.join(blocks)}"


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
    "header_transcript": (0.40, _doc_header), "plain_transcript": (0.19, _doc_no_header),
    "interview": (0.04, _doc_interview), "urial": (0.008, _doc_urial), "query_blocks": (0.05, _doc_query_blocks),
    "urial_legacy": (0.02, _doc_urial_legacy), "encyclopedia": (0.07, _doc_encyclopedia),
    "story": (0.05, _doc_story), "forum": (0.045, _doc_forum), "quiz": (0.037, _doc_quiz),
    "worksheet": (0.09, _doc_worksheet),
}
CORPUS_MIX: dict[str, float] = {k: w for k, (w, _) in _KINDS.items()}


def pretraining_documents(n: int, seed: int) -> list[str]:
    """`n` documents drawn from the corpus mix (BOS/EOS are added by the tokenizer stage)."""
    rng = random.Random(seed)
    kinds = list(_KINDS)
    weights = [w for w, _ in _KINDS.values()]
    return [_KINDS[rng.choices(kinds, weights)[0]][1](rng) for _ in range(n)]
