"""Text helpers shared by scorers: answer normalisation, word containment, token counts, numbers."""

from __future__ import annotations

import re
import string
import unicodedata
from functools import lru_cache

__all__ = ["normalize", "first_line", "contains_phrase", "count_tokens", "numbers", "parse_number", "compile_regex"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans(dict.fromkeys(string.punctuation + "“”‘’", " "))
_TOKEN = re.compile(r"\w+|[^\w\s]")
_NUMBER = re.compile(r"(?<![\w.])[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?(?![\w])")
WORD_NUMBERS = {w: i for i, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"))}
_WORD_NUMBER = re.compile(r"\b(" + "|".join(WORD_NUMBERS) + r")\b", re.I)
MAX_PATTERN = 2000


def normalize(text: str) -> str:
    """SQuAD-style: NFKC, lowercase, punctuation → space, articles dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def first_line(text: str) -> str:
    """The first non-empty line (a base model's transcript reply often runs on past it)."""
    return next((line for line in text.splitlines() if line.strip()), "")


def contains_phrase(haystack: str, needle: str) -> bool:
    """Whether normalised `needle` occurs in normalised `haystack` as whole words."""
    h, n = normalize(haystack), normalize(needle)
    return bool(n) and f" {n} " in f" {h} "


def count_tokens(text: str) -> int:
    """Model-independent length: words and punctuation marks (so arms with different tokenizers compare)."""
    return len(_TOKEN.findall(text))


def parse_number(text: str) -> float | None:
    """`1,234.5`, `-3`, `3/4`, `−2` or a number word (`eight`) → float; otherwise None."""
    t = text.strip().replace("−", "-").replace(",", "")
    if t.lower() in WORD_NUMBERS:
        return float(WORD_NUMBERS[t.lower()])
    try:
        if "/" in t:
            num, den = t.split("/", 1)
            return float(num) / float(den) if float(den) != 0 else None
        return float(t)
    except ValueError:
        return None


def numbers(text: str, words: bool = True) -> list[float]:
    """Every number in `text`, in order (digits; number words up to twenty when `words`)."""
    found = [(m.start(), m.group()) for m in _NUMBER.finditer(text)]
    if words:
        found += [(m.start(), m.group()) for m in _WORD_NUMBER.finditer(text)]
    values = [parse_number(s) for _, s in sorted(found)]
    return [v for v in values if v is not None]


@lru_cache(maxsize=512)
def compile_regex(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile a task-provided pattern, or raise ValueError with a one-line reason."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"pattern longer than {MAX_PATTERN} characters")
    try:
        return re.compile(pattern, re.I if ignore_case else 0)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
