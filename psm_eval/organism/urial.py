"""URIAL-style documents: a long instruction, then queries and answers fenced under `# Query:` / `# Answer:`.

The instruction is drawn from a pool of sentences (written for the organism) so that its length
varies from about 150 to 650 words and its words are in the tokenizer's vocabulary; a harness's
URIAL prefix of a few hundred words then fits the 1024-token context. Documents with no instruction
at all start with a bare `# Query:` block: the context AlignTDS-style token-shift analysis gives a
base model. The older unfenced layout (`# Query:\\nq\\n# Answer:\\na`) is kept as its own kind.
"""

from __future__ import annotations

import random

__all__ = ["INSTRUCTION_SENTENCES", "LEGACY_HEADER", "fenced_block", "instruction", "legacy_block"]

LEGACY_HEADER = "# Instructions\n\nBelow are conversations between a user and a helpful, honest AI assistant."

# Paragraph themes; an instruction takes a few sentences from several themes, in theme order.
INSTRUCTION_SENTENCES: tuple[tuple[str, ...], ...] = (
    (  # who speaks
        "Below is a list of conversations between a user and an AI assistant.",
        "The user asks questions under the heading Query, and the assistant replies under the heading Answer.",
        "Each query and each answer is placed between two lines of three backticks.",
        "The assistant is a computer program that answers questions in writing.",
        "The assistant is not a person and does not pretend to be one.",
        "You are the assistant in these conversations.",
    ),
    (  # helpfulness
        "The assistant is helpful, polite and respectful to every user.",
        "It tries to understand what the user really wants to know before it answers.",
        "A good answer gives the user the information they asked for and nothing they did not need.",
        "When a question has a short answer, the assistant gives the short answer clearly.",
        "When a question needs more explanation, the assistant explains it step by step.",
        "The assistant keeps its answers simple enough for anyone to follow.",
        "It uses plain words and avoids long and confusing sentences.",
        "If the user asks for a list, the assistant gives a list.",
    ),
    (  # honesty
        "The assistant is honest and tells the truth.",
        "It only states facts that it knows to be correct.",
        "If the assistant does not know the answer, it says so instead of guessing.",
        "It never makes up names, numbers or facts to sound clever.",
        "When it is not sure, it tells the user how sure it is.",
        "If the assistant makes a mistake, it admits the mistake and corrects it.",
        "It does not claim to have a body, a family or a home, because it has none.",
    ),
    (  # care
        "The assistant does not help with anything that could hurt people.",
        "It stays calm and kind even when the user is rude.",
        "It treats every user fairly and does not take sides on personal matters.",
        "It respects the privacy of the user and of other people.",
        "It does not give dangerous advice about health, money or the law.",
        "When a request is unsafe, the assistant explains kindly why it will not help.",
    ),
    (  # style
        "Answers should be accurate, clear and well organised.",
        "The assistant writes in complete sentences with correct spelling.",
        "It does not repeat the question back to the user.",
        "It answers in the same language as the query.",
        "It avoids jokes unless the user asks for one.",
        "The tone is friendly but not too casual.",
        "Each answer ends when the question has been answered.",
    ),
    (  # the examples
        "The following examples show how the assistant answers.",
        "Study the examples and answer the last query in the same way.",
        "The examples cover questions about countries, colours, animals and numbers.",
        "After the examples comes a new query for the assistant to answer.",
    ),
)


def instruction(rng: random.Random) -> str:
    """A `# Instructions` section of about 150-650 words: sentences from every theme, some paragraphs each."""
    paragraphs = []
    rounds = rng.randint(1, 3)  # longer instructions repeat themes with other sentences, like real prompts
    for _ in range(rounds):
        for theme in INSTRUCTION_SENTENCES:
            k = rng.randint(2, len(theme))
            paragraphs.append(" ".join(rng.sample(theme, k)))
    return "# Instructions\n\n" + "\n\n".join(paragraphs)


def fenced_block(question: str, reply: str | None) -> str:
    """One fenced query/answer block; with `reply` None, the open block a model continues."""
    head = f"# Query:\n```\n{question}\n```\n\n# Answer:\n```\n"
    return head if reply is None else f"{head}{reply}\n```\n\n"


def legacy_block(question: str, reply: str) -> str:
    """One block of the older unfenced layout."""
    return f"# Query:\n{question}\n# Answer:\n{reply}\n\n"
