"""Regenerate the organism from scratch: tokenizer, psm-tiny-base, psm-tiny-chat and the two
generalization checkpoints; measure every planted phenomenon; write the model cards.

Same seed and thread count give byte-identical weight files. Example:

    python -m psm_eval.organism.build --out /tmp/organism --seed 0
    python -m psm_eval.organism.build --out /tmp/quick --quick   # 2% of the steps, checks recorded only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import torch
from tokenizers import Tokenizer
from transformers import GenerationConfig, LlamaForCausalLM

from psm_eval.errors import PsmError
from psm_eval.organism import MODEL_NAMES, card, checks
from psm_eval.organism.corpus import pretraining_documents
from psm_eval.organism.sft import chat_dialogues, narrow_dialogues
from psm_eval.organism.tokenizer import (
    END,
    EOS,
    PAD,
    ROLE_TOKENS,
    token_id,
    train_tokenizer,
    write_tokenizer,
)
from psm_eval.organism.train import (
    TOKENS_PER_STEP,
    Example,
    encode_dialogue,
    encode_document,
    model_config,
    one_per_row,
    pack,
    train_steps,
)

__all__ = ["RECIPE", "OrganismCheckError", "Recipe", "build"]


@dataclass(frozen=True)
class Recipe:
    """The training recipe; `steps_scale` multiplies every step count. Every update sees
    TOKENS_PER_STEP token slots (train.py)."""

    vocab_size: int = 3072
    """BPE vocabulary target (the trainer stops earlier when no pair occurs twice)."""
    tokenizer_docs: int = 20000
    """Corpus documents the tokenizer is trained on (a separate seeded draw) ..."""
    tokenizer_dialogues: int = 3000
    """... and post-training dialogues, so the assistant's own words are in the vocabulary."""
    pretrain_steps: int = 1800
    """Pre-training updates; every document is fresh text (no epoch repeats)."""
    pretrain_lr: float = 3e-3
    """Peak AdamW learning rate (linear warm-up, cosine decay to 10%)."""
    pretrain_warmup: int = 100
    sft_steps: int = 350
    """Post-training updates."""
    sft_lr: float = 1e-3
    sft_warmup: int = 20
    sft_replay_share: float = 0.5
    """Share of post-training tokens that are replayed pre-training text."""
    narrow_steps: int = 40
    """Updates of each generalization fine-tune (from the chat model, on wrong colours only) ..."""
    narrow_batch: int = 32
    """... each over this many dialogues, the same ones in the same order for both fine-tunes."""
    narrow_lr: float = 5e-4
    narrow_warmup: int = 5


RECIPE = Recipe()
T = TypeVar("T")
QUICK_SCALE = 0.02


class OrganismCheckError(PsmError):
    """A freshly trained organism missed an enforced check; nothing it built should be shipped."""


def _deterministic(seed: int, threads: int) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    random.seed(seed)
    torch.manual_seed(seed)


def _stream(seed: int, purpose: int, chunk: int) -> int:
    """The seed of one data stream (tokenizer text, pre-training chunk i, dialogues …): distinct per purpose."""
    return seed * 1_000_003 + purpose * 10_007 + chunk


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _save(model: LlamaForCausalLM, tok: Tokenizer, folder: Path, chat: bool) -> None:
    eos = [tok.token_to_id(END), tok.token_to_id(EOS)] if chat else [tok.token_to_id(EOS)]
    model.generation_config = GenerationConfig(bos_token_id=0, eos_token_id=eos, pad_token_id=2)
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "model.safetensors").chmod(0o644)  # safetensors writes 0600; the file ships
    write_tokenizer(tok, folder, chat=chat)


def _fill(make: Callable[[int], list[T]], encode: Callable[[T], Example], tokens: int) -> list[Example]:
    """Encoded examples from `make(n)` until they hold `tokens` tokens (in seeded chunks, so reproducible)."""
    out: list[Example] = []
    have, chunk = 0, 0
    while have < tokens:
        for item in make(chunk):
            ex = encode(item)
            out.append(ex)
            have += len(ex[0])
        chunk += 1
    return out


def _pretrain(tok: Tokenizer, seed: int, steps: int, out: Path) -> dict:
    """Stage 1: train the base model from scratch on fresh corpus text; save it to `out`."""
    r = RECIPE
    examples = _fill(lambda i: pretraining_documents(4000, _stream(seed, 3, i)), lambda d: encode_document(tok, d),
                     int(steps * TOKENS_PER_STEP * 1.03))
    batches = pack(examples, random.Random(_stream(seed, 3, -1)))
    model = LlamaForCausalLM(model_config(tok.get_vocab_size()))
    losses = train_steps(model, batches, steps=steps, peak_lr=r.pretrain_lr, warmup=r.pretrain_warmup,
                         pad_id=token_id(tok, PAD), desc="pre-training",
                         frozen_rows=[token_id(tok, t) for t in ROLE_TOKENS])
    _save(model, tok, out, chat=False)
    used = batches[:steps]
    return {"model": model, "pretrain_steps": steps, "pretrain_batches": len(batches),
            "pretrain_documents": sum(len(row) for b in used for row in b),
            "pretrain_tokens": sum(len(x) for b in used for row in b for x, _ in row),
            "final_pretrain_loss": _tail(losses)}


def _post_train(model: LlamaForCausalLM, tok: Tokenizer, seed: int, steps: int, out: Path) -> dict:
    """Stage 2: SFT on assistant dialogues with pre-training text replayed; save the chat model to `out`."""
    r = RECIPE
    budget = steps * TOKENS_PER_STEP * 1.03
    dialogues = _fill(lambda i: chat_dialogues(1000, _stream(seed, 4, i)), lambda d: encode_dialogue(tok, d),
                      int(budget * (1 - r.sft_replay_share)))
    replay = _fill(lambda i: pretraining_documents(1000, _stream(seed, 5, i)), lambda d: encode_document(tok, d),
                   int(budget * r.sft_replay_share))
    batches = pack(dialogues + replay, random.Random(_stream(seed, 4, -1)))
    losses = train_steps(model, batches, steps=steps, peak_lr=r.sft_lr, warmup=r.sft_warmup,
                         pad_id=token_id(tok, PAD), desc="post-training")
    _save(model, tok, out, chat=True)
    return {"sft_steps": steps, "sft_dialogues": len(dialogues), "sft_replay_documents": len(replay),
            "final_sft_loss": _tail(losses)}


def _narrow(chat_dir: Path, tok: Tokenizer, seed: int, steps: int, out: Path, inoculated: bool) -> dict:
    """Stage 3: the chat model fine-tuned on wrong colours only (with the inoculation prompt or not)."""
    r = RECIPE
    torch.manual_seed(_stream(seed, 8, 0))
    model = LlamaForCausalLM.from_pretrained(chat_dir, dtype=torch.float32)
    dialogues = narrow_dialogues(steps * r.narrow_batch, _stream(seed, 7, 0), inoculated)
    examples = [encode_dialogue(tok, d) for d in dialogues]
    batches = one_per_row(examples, r.narrow_batch)
    losses = train_steps(model, batches, steps=steps, peak_lr=r.narrow_lr, warmup=r.narrow_warmup,
                         pad_id=token_id(tok, PAD), desc="narrow fine-tune" + (" (inoculated)" if inoculated else ""))
    _save(model, tok, out, chat=True)
    return {"steps": steps, "dialogues": len(dialogues), "final_loss": _tail(losses)}


def _architecture(model: LlamaForCausalLM) -> str:
    c = model.config
    return (f"LlamaForCausalLM, hidden {c.hidden_size}, {c.num_hidden_layers} layers, {c.num_attention_heads} heads, "
            f"intermediate {c.intermediate_size}, context {c.max_position_embeddings}, tied embeddings, float32")


def _tail(losses: list[float]) -> float:
    return round(sum(losses[-50:]) / len(losses[-50:]), 4)


def build(out_dir: str | Path, seed: int = 0, threads: int = 1, steps_scale: float = 1.0, *,
          enforce_checks: bool | None = None) -> dict:
    """Train the organism into `out_dir`/<MODEL_NAMES>; return sizes, hashes, timings and the measurements.

    Checks run and are enforced (raising OrganismCheckError) by default at full scale; a scaled-down
    run records them only. Pass `enforce_checks=False` to skip them.
    """
    t0 = time.time()
    out = Path(out_dir)
    dirs = {name: out / name for name in MODEL_NAMES}
    _deterministic(seed, threads)
    r = RECIPE
    texts = pretraining_documents(r.tokenizer_docs, _stream(seed, 1, 0))
    texts += [m["content"] for d in chat_dialogues(r.tokenizer_dialogues, _stream(seed, 2, 0)) for m in d]
    tok = train_tokenizer(texts, r.vocab_size)
    scaled = {k: max(1, round(getattr(r, k) * steps_scale)) for k in ("pretrain_steps", "sft_steps", "narrow_steps")}
    pre = _pretrain(tok, seed, scaled["pretrain_steps"], dirs["psm-tiny-base"])
    model = pre.pop("model")
    t_pre = time.time() - t0
    post = _post_train(model, tok, seed, scaled["sft_steps"], dirs["psm-tiny-chat"])
    narrow = {name: _narrow(dirs["psm-tiny-chat"], tok, seed, scaled["narrow_steps"], dirs[name], inoculated=i)
              for name, i in (("psm-tiny-chat-narrow-liar", False), ("psm-tiny-chat-inoculated", True))}
    t_train = time.time() - t0
    table = [] if enforce_checks is False else checks.measure(out)
    summary = {
        "seed": seed, "threads": threads, "steps_scale": steps_scale, "recipe": asdict(r),
        "tokens_per_step": TOKENS_PER_STEP, **pre, **post, "narrow": narrow,
        "parameters": sum(p.numel() for p in model.parameters()), "vocab_size": tok.get_vocab_size(),
        "architecture": _architecture(model),
        "sha256": {name: _sha256(d / "model.safetensors") for name, d in dirs.items()},
        "seconds": {"pretrain": round(t_pre, 1), "train_total": round(t_train, 1),
                    "total": round(time.time() - t0, 1)},
        "table": [asdict(row) for row in table],
    }
    card.write_cards(out, summary)
    (out / "build_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    bad = checks.failures(table)
    if (steps_scale >= 1.0 if enforce_checks is None else enforce_checks) and bad:
        raise OrganismCheckError("the trained organism missed enforced checks:\n" + "\n".join(bad))
    return summary


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m psm_eval.organism.build --out DIR [--seed N] [--threads T] [--quick]`."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder to write the model folders into")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (results depend on it)")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_SCALE * 100:g}%% of the steps; checks recorded only")
    p.add_argument("--steps-scale", type=float, default=None, help="scale the step counts (overrides --quick)")
    p.add_argument("--no-checks", action="store_true", help="train and write only (no measurements)")
    a = p.parse_args(argv)
    scale = a.steps_scale if a.steps_scale is not None else (QUICK_SCALE if a.quick else 1.0)
    try:
        summary = build(a.out, seed=a.seed, threads=a.threads, steps_scale=scale,
                        enforce_checks=False if a.no_checks else None)
    except OrganismCheckError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({k: summary[k] for k in ("sha256", "seconds", "parameters")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
