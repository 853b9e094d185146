"""IFEval's verifiable instructions checked by lm-eval's own code (its `ifeval` task), offline.

lm-eval's checkers need two packages beyond lm-eval (`langdetect`, `immutabledict`: its `ifeval` extra,
also psm_eval's) and, for two instructions, nltk's `punkt_tab` data. A missing one is one line naming what
to install; nothing is ever downloaded (lm-eval's module would fetch `punkt_tab` when it is imported).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["IFEvalResult", "check", "known_instructions", "missing_resource", "missing_module_line",
           "missing_nltk_line", "nltk_resource", "PACKAGES", "NEEDS_PUNKT"]

PACKAGES = ("langdetect", "immutabledict")
"""Imported by lm-eval's IFEval checkers (lm-eval's and psm_eval's `ifeval` extra)."""
NEEDS_PUNKT = frozenset({"change_case:capital_word_frequency", "length_constraints:number_sentences"})
"""Instructions whose checkers tokenize with nltk's punkt data (word_tokenize, the sentence splitter)."""
INSTALL = "pip install 'psm_eval[ifeval]' (or pip install 'lm-eval[ifeval]')"
_NLTK_MISSING = re.compile(r"Resource\s+(?:\x1b\[\d+m)?([\w./-]+)(?:\x1b\[\d+m)?\s+not\s+found")


@dataclass(frozen=True)
class IFEvalResult:
    """One reply's verdicts, as lm-eval's `ifeval` process_results computes them."""

    strict: tuple[bool, ...]
    """Per instruction: followed by the reply as it is."""
    loose: tuple[bool, ...]
    """Per instruction: followed by the reply or one of lm-eval's loosened variants of it (first or last
    line removed, `*` removed)."""


def missing_module_line(module: str) -> str:
    """One line for a Python package an lm-eval task or checker imports but that is not installed."""
    top = module.split(".")[0]
    if top in PACKAGES:
        return f"lm-eval's IFEval checkers need the '{top}' package, which is not installed: {INSTALL}"
    return f"lm-eval needs the '{top}' package for this task or model, which is not installed: pip install {top}"


def missing_nltk_line(resource: str) -> str:
    name = resource.rstrip("/").split("/")[-1]
    return (f"nltk's '{name}' data is not installed (lm-eval's IFEval checkers tokenize with it): "
            f"python -m nltk.downloader {name}")


def nltk_resource(message: str) -> str | None:
    """The resource an nltk LookupError message names, or None when it is not nltk's message."""
    found = _NLTK_MISSING.search(message)
    return found.group(1) if found else None


def _has_punkt() -> bool:
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab")
    except LookupError:
        return False
    return True


def missing_resource(instruction_ids: Iterable[str]) -> str | None:
    """One line naming what is missing to check these instructions, or None when all is installed."""
    for package in PACKAGES:
        if importlib.util.find_spec(package) is None:
            return missing_module_line(package)
    if NEEDS_PUNKT & set(instruction_ids) and not _has_punkt():
        return missing_nltk_line("punkt_tab")
    return None


@lru_cache(maxsize=1)
def _utils() -> Any:
    """lm-eval's ifeval task module, imported without letting it download nltk data."""
    import nltk

    download = nltk.download
    # lm-eval's instructions_util calls nltk.download("punkt_tab") at import when the data is absent (and
    # prints that it did); the instructions that need it are refused before checking (missing_resource),
    # the others never use it
    nltk.download = lambda *a, **k: False
    try:
        import langdetect

        with contextlib.redirect_stdout(io.StringIO()):
            from lm_eval.tasks.ifeval import utils

        # langdetect samples at random unless seeded: the same reply must get the same verdict every time
        langdetect.DetectorFactory.seed = 0
    finally:
        nltk.download = download
    return utils


def known_instructions() -> frozenset[str]:
    """Every instruction id lm-eval's IFEval registry checks."""
    _utils()  # first: importing the registry imports the module that would download
    from lm_eval.tasks.ifeval import instructions_registry

    return frozenset(instructions_registry.INSTRUCTION_DICT)


def check(prompt: str, instruction_ids: Sequence[str], kwargs: Sequence[Mapping[str, Any]],
          response: str) -> IFEvalResult:
    """Strict and loose verdicts for each instruction, by lm-eval's `ifeval` functions unchanged."""
    utils = _utils()
    doc = utils.InputExample(key=0, instruction_id_list=list(instruction_ids), prompt=prompt,
                             kwargs=[dict(k) for k in kwargs])
    strict = utils.test_instruction_following_strict(doc, response)
    loose = utils.test_instruction_following_loose(doc, response)
    return IFEvalResult(tuple(strict.follow_instruction_list), tuple(loose.follow_instruction_list))
