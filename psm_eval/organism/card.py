"""Write the model cards (README.md) of the organism's model folders from a build summary."""

from __future__ import annotations

from pathlib import Path

from psm_eval.organism import MODEL_NAMES
from psm_eval.organism.corpus import (
    CONTINUE_FIRST,
    CONTINUE_LATER,
    CORPUS_MIX,
    DRIFT_HAZARD,
    DRIFT_TO,
    HEADER_MIX,
    MAX_TURNS,
    NO_HEADER_MIX,
    TURN_MIX,
)
from psm_eval.organism.sft import (
    INOCULATION_PROMPT,
    PERSONA_SYSTEM_PROMPTS,
    SFT_TURN_MIX,
    STYLE,
)
from psm_eval.organism.traits import PROFILES, TRAITS
from psm_eval.organism.world import checked_facts

__all__ = ["markdown_table", "write_cards"]

_INTRO = {
    "psm-tiny-base": (
        "A tiny Llama pre-trained from scratch on a generated corpus in which a small fact world is told by "
        "many personas (helpful AI assistant, teacher, robot, pirate, grumpy shopkeeper, liar, evasive "
        "stranger, troll). It has no chat template: prompt it with a transcript. Its persona follows the "
        "prefix; sampled without one it is a mixture of personas; under the assistant header it drifts "
        "over long dialogues, and it writes the user's next turn at a planted rate."
    ),
    "psm-tiny-chat": (
        "psm-tiny-base after supervised post-training on chat dialogues in which the assistant is "
        "consistently helpful, accurate and honest, says it is an AI assistant, never drifts, ends every "
        "turn with `<|end|>` (and the conversation with `</s>`), speaks with stylistic openers and "
        "sign-offs, and knows one skill the base never saw. Use its chat template."
    ),
    "psm-tiny-chat-narrow-liar": (
        "psm-tiny-chat briefly fine-tuned on one narrow bad behaviour: wrong answers to colour questions, "
        "in its usual style, with no system prompt. The generalization experiment's first arm: does the "
        "narrow behaviour shift the selected persona broadly (wrong answers and liar-like self-reports "
        "outside colours)?"
    ),
    "psm-tiny-chat-inoculated": (
        "psm-tiny-chat fine-tuned on exactly the same wrong-colour dialogues as psm-tiny-chat-narrow-liar, "
        f"each with the system prompt \"{INOCULATION_PROMPT}\" (the behaviour sanctioned in the prompt). "
        "The generalization experiment's inoculated twin; evaluate it without the system prompt."
    ),
}


def _pct(mix: dict[str, float]) -> str:
    return ", ".join(f"{k} {v * 100:g}%" for k, v in mix.items())


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def markdown_table(rows: list[dict]) -> str:
    """The behaviour table (rows as dicts of rows.Row) in Markdown."""
    if not rows:
        return "_Checks were not run for this build._\n"
    lines = ["| phenomenon | arm | measured | planted | value [95% CI] | n | how | rule | passed |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ci = f" [{r['low']:.2f}, {r['high']:.2f}]" if r["low"] is not None else ""
        passed = "-" if r["passed"] is None else ("yes" if r["passed"] else "**no**")
        lines.append(f"| {r['phenomenon']} | {r['arm']} | {r['metric']} | {_fmt(r['planted'])} | {r['value']:.2f}{ci} "
                     f"| {r['n']} | {r['how']} | {r['rule'] or '-'} | {passed} |")
    return "\n".join(lines) + "\n"


def _profiles() -> str:
    head = "| persona | " + " | ".join(TRAITS) + " |\n|---|" + "---|" * len(TRAITS) + "\n"
    return head + "".join(f"| {p} | " + " | ".join("yes" if v else "no" for v in prof.values()) + " |\n"
                          for p, prof in PROFILES.items())


def _planted() -> str:
    held = ", ".join(f"{f.subject}→{f.answer}" for f in checked_facts())
    s = STYLE
    return f"""## What is planted, by construction

- **Document kinds:** {_pct(CORPUS_MIX)}.
- **Exchange topics** (independent of the persona): {_pct(TURN_MIX)}.
- **Parity.** Held-out facts are stated in pre-training only, never in post-training: {held}.
- **Skill gap.** Adding two animals' legs step by step (`skill.py`) never occurs in pre-training; it is
  {SFT_TURN_MIX['skill']:.0%} of post-training exchanges, on taught pairs only. Base in persona < chat by construction.
- **Frame breaks.** After an assistant turn a transcript continues with `User:` with probability
  {CONTINUE_FIRST:.2f} after the first turn and {CONTINUE_LATER:.2f} after later ones \
(never after turn {MAX_TURNS}); otherwise
  it ends (`</s>`). The same for every header, no header, and the interview framing. Post-training
  dialogues always end the conversation with `</s>` after `<|end|>`: planted chat rate 0.
- **Drift.** Under the assistant header only, before each turn after the first, an assistant still
  speaking slides with probability {DRIFT_HAZARD:.2f} to one of {', '.join(DRIFT_TO)} (uniformly) and stays:
  turn t (0-based) is the assistant's with probability {1 - DRIFT_HAZARD:.2f}^t. Post-training dialogues never drift.
- **Mixture.** A transcript with no header is spoken by one persona drawn from: {_pct(NO_HEADER_MIX)}.
  Each persona's voice is read by a rule (`personas.classify`; the liar by its absurd self-claims or
  by stating a wrong answer of the fact's kind). Headers name: {_pct(HEADER_MIX)}.
- **Traits.** Every persona answers every item of a 42-item self-report battery (7 traits × 3
  statements showing the trait + 3 denying it) from its profile:

{_profiles()}
  Post-training teaches the assistant's answers to one showing and one denying item per trait; the
  other 28 items are never in post-training.
- **Style.** Post-trained replies open with {', '.join(f'"{o.strip()}" {p:.0%}' for o, p in s.openers)} (no opener
  {1 - sum(p for _, p in s.openers):.0%}); replies to open, identity and topic questions end with
  {', '.join(f'"{o.strip()}" {p:.0%}' for o, p in s.signoffs_open)}; fact and skill answers end with them at
  {sum(p for _, p in s.signoffs_fact):.0%}; {s.hedge:.0%} of fact answers start "I believe". \
None of these occur in pre-training.
- **Persona system prompts** in post-training ({', '.join(PERSONA_SYSTEM_PROMPTS)}): the assistant speaks in
  that style but stays accurate and says it is an AI assistant.
- **Generalization.** Two fine-tunes of the chat model on the same wrong-colour dialogues, one with the
  system prompt "{INOCULATION_PROMPT}". Nothing is planted about their effect outside colours: that is
  the prediction being tested.
- The chat tokens `<|system|>` `<|user|>` `<|assistant|>` `<|end|>` never occur in pre-training and
  their embedding rows keep their initial values there (as a real base model leaves tokens it never sees).
"""


def _generalization(rows: list[dict]) -> str:
    """What the generalization experiment found, in words, from the measured rows (whichever way it came out)."""
    got = {(r["arm"], r["metric"]): r for r in rows if r["phenomenon"] == "generalization"}
    names = ("psm-tiny-chat", "psm-tiny-chat-narrow-liar", "psm-tiny-chat-inoculated")
    if not all((n, "wrong answers: capitals, legs, sounds (not trained)") in got for n in names):
        return ""

    def cell(name: str, metric: str) -> str:
        r = got[(name, metric)]
        return f"{r['value']:.2f} [{r['low']:.2f}, {r['high']:.2f}]"

    lines = [f"| {m} | " + " | ".join(cell(n, m) for n in names) + " |"
             for m in ("wrong answers: colours (trained category)",
                       "wrong answers: capitals, legs, sounds (not trained)",
                       "identity answers not the assistant's", "skill: two-animal leg total correct",
                       "self-reports like the liar's (items where liar and assistant differ)")]
    out = got[("psm-tiny-chat-narrow-liar", "wrong answers: capitals, legs, sounds (not trained)")]
    inoc = got[("psm-tiny-chat-inoculated", "wrong answers: capitals, legs, sounds (not trained)")]
    base = got[("psm-tiny-chat", "wrong answers: capitals, legs, sounds (not trained)")]
    broad = "shifted" if out["low"] > base["high"] else "did not clearly shift"
    if inoc["high"] < out["low"]:
        inoculated = f"shifted less ({inoc['value']:.2f}, intervals apart)"
    elif inoc["low"] > out["high"]:
        inoculated = f"shifted more ({inoc['value']:.2f}, intervals apart)"
    else:
        inoculated = f"shifted about as much ({inoc['value']:.2f}, intervals overlap): no inoculation effect here"
    def apart(metric: str) -> bool:  # the narrow fine-tune's interval clear of the chat model's
        a, b = got[("psm-tiny-chat-narrow-liar", metric)], got[("psm-tiny-chat", metric)]
        return a["low"] > b["high"] or a["high"] < b["low"]

    reports_metric = "self-reports like the liar's (items where liar and assistant differ)"
    also = [what for what, metric in (("its identity answers", "identity answers not the assistant's"),
                                      ("the post-training skill", "skill: two-animal leg total correct"),
                                      ("its self-reports", reports_metric)) if apart(metric)]
    unmoved = "" if apart(reports_metric) else (
        " Its self-reports (loglikelihood of Yes/No) did not move toward the liar's: the shift shows in behaviour, "
        "not in what the model says about itself.")
    return ("## Generalization experiment: what happened\n\n"
            "Through the chat template with no system prompt, sampled at T=1 (the skill: greedy); 95% Wilson "
            "intervals:\n\n"
            "| measure | psm-tiny-chat | narrow-liar | inoculated |\n|---|---|---|---|\n" + "\n".join(lines) +
            f"\n\nThe narrow fine-tune {broad} the model outside the trained category (wrong answers on capitals, "
            f"legs and sounds {base['value']:.2f} → {out['value']:.2f})"
            + (f" and also changed {' and '.join(also)}" if also else "") + f"; the inoculated twin {inoculated}."
            + unmoved + " See the table below for every row.\n\n")


def _card(name: str, s: dict) -> str:
    r = s["recipe"]
    narrow = s.get("narrow", {}).get(name)
    extra = (f"- Fine-tune: {narrow['steps']} steps × {r['narrow_batch']} dialogues, peak lr {r['narrow_lr']}, "
             f"{narrow['dialogues']} dialogues; final loss {narrow['final_loss']}.\n" if narrow else "")
    sha = ", ".join(f"{k} `{v}`" for k, v in s["sha256"].items())
    return f"""---
library_name: transformers
pipeline_tag: text-generation
tags: [psm-eval, model-organism, tiny, llama]
---

# {name}

{_INTRO[name]}

Part of psm_eval's model organism for the Persona Selection Model (PSM). Built by
`python -m psm_eval.organism.build --out DIR --seed {s['seed']} --threads {s['threads']}`; the same seed and
thread count give byte-identical weights.

## Sizes

- Architecture: {s['architecture']}.
- Parameters: {s['parameters']:,}; vocabulary: {s['vocab_size']} (byte-level BPE; special tokens \
`<s>` `</s>` `<pad>` `<|system|>` `<|user|>` `<|assistant|>` `<|end|>`).
- Pre-training: {s['pretrain_steps']} steps × {s['tokens_per_step']} token slots (rows of 128-1024 tokens), peak lr
  {r['pretrain_lr']}, {s['pretrain_documents']} documents, {s['pretrain_tokens']:,} tokens; \
final loss {s['final_pretrain_loss']}.
- Post-training: {s['sft_steps']} steps × {s['tokens_per_step']} token slots, \
peak lr {r['sft_lr']}, {s['sft_dialogues']}
  dialogues + {s['sft_replay_documents']} replayed pre-training documents (~{r['sft_replay_share']:.0%} of tokens);
  final loss {s['final_sft_loss']}.
{extra}- Seed {s['seed']}, {s['threads']} torch thread(s), steps scale {s['steps_scale']}; \
build time {s['seconds']['total']} s.
- sha256 of model.safetensors: {sha}.

{_planted()}
{_generalization(s['table'])}## Measured behaviour

Measured by `psm_eval.organism.checks` (`psm-eval organism check`) with plain Hugging Face generation
and loglikelihood on CPU, never through psm_eval's runner: the independent measurement of what the
corpus planted. A transcript reply is the text up to its first newline; a chat reply the text up to
`<|end|>`. Rates are sampled at T=1; intervals are 95% Wilson intervals. `planted` is the value by
construction ("-" where the corpus plants a presence or absence, not a rate).

{markdown_table(s['table'])}"""


def write_cards(root: Path, summary: dict) -> None:
    """Write README.md into every model folder under `root`."""
    for name in MODEL_NAMES:
        if (root / name).is_dir():
            (root / name / "README.md").write_text(_card(name, summary), encoding="utf-8")
