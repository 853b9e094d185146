"""Measure every planted phenomenon of a trained organism with plain Hugging Face generation and
loglikelihood, against the value the corpus planted by construction.

Each measurement is a Row: phenomenon, arm, what was measured, the planted value (None where the
corpus plants a presence or absence rather than a rate), the measured value with a 95% interval
(Wilson for proportions), n, how it was measured, and — for enforced checks — the rule and whether
it held. `measure` returns the table; `failures` lists the enforced checks a table misses. Sampling
is at T=1 wherever a planted *rate* is measured (greedy decoding turns a 30% rate into 0% or 100%).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from psm_eval.organism import MODEL_NAMES, measures
from psm_eval.organism.probes import load
from psm_eval.organism.rows import Row, proportion, wilson

__all__ = ["Row", "failures", "main", "measure", "proportion", "wilson"]


def measure(root: Path, base: Path | None = None, chat: Path | None = None) -> list[Row]:
    """The behaviour table of the organism whose model folders are in `root` (float32, CPU); `base` and
    `chat` override those two folders. The fine-tuned twins are measured when present."""
    folders = {name: root / name for name in MODEL_NAMES}
    folders["psm-tiny-base"] = base or folders["psm-tiny-base"]
    folders["psm-tiny-chat"] = chat or folders["psm-tiny-chat"]
    lms = {name: load(d) for name, d in folders.items() if (d / "config.json").is_file()}
    b, c = lms["psm-tiny-base"], lms["psm-tiny-chat"]
    rows = measures.parity(b, c) + measures.selection(b, c)
    rows += measures.skill_rows(b, c) + measures.frame(b, c) + measures.drift(b, c)
    rows += measures.mixture(b) + measures.traits(b, c) + measures.style(b, c)
    twins = {k: v for k, v in lms.items() if k not in ("psm-tiny-base", "psm-tiny-chat")}
    rows += measures.generalization(c, twins)
    return rows


def failures(rows: list[Row]) -> list[str]:
    """One line per enforced check that failed."""
    return [f"[{r.phenomenon}] {r.arm}: {r.metric} = {r.value} (n={r.n}); rule: {r.rule}"
            for r in rows if r.passed is False]


def main(argv: list[str] | None = None) -> int:
    """CLI: print the behaviour table of an organism (default: the shipped one); exit 1 if a check fails.

    Example: python -m psm_eval.organism.checks --models DIR
             python -m psm_eval.organism.checks --base DIR/psm-tiny-base --chat DIR/psm-tiny-chat
    """
    import argparse

    from psm_eval.organism import MODELS_DIR
    from psm_eval.organism.card import markdown_table

    p = argparse.ArgumentParser(description=main.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=MODELS_DIR, help="folder holding the model folders")
    p.add_argument("--base", type=Path, help="psm-tiny-base folder (default: in --models)")
    p.add_argument("--chat", type=Path, help="psm-tiny-chat folder (default: in --models)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = measure(a.models, a.base, a.chat)
    print(markdown_table([asdict(r) for r in rows]))
    bad = failures(rows)
    print("\n".join(bad) if bad else "all enforced checks passed")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
