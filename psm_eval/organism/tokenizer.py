"""Train the organism's byte-level BPE and write it as a Hugging Face tokenizer folder.

The special tokens are reserved up front (ids 0-6) so the base and the chat model share one vocab.
The folder files are written by hand, not by `save_pretrained`, so that they are byte-identical
across runs and load in both transformers 4.5x and 5.x.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

__all__ = [
    "BOS", "CHAT_TEMPLATE", "CONTEXT", "END", "EOS", "PAD", "ROLE_TOKENS", "SPECIAL_TOKENS", "token_id",
    "train_tokenizer", "write_tokenizer",
]

CONTEXT = 1024  # tokens the model attends over (its max_position_embeddings)
BOS, EOS, PAD = "<s>", "</s>", "<pad>"
SYSTEM, USER, ASSISTANT, END = "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"
SPECIAL_TOKENS: tuple[str, ...] = (BOS, EOS, PAD, SYSTEM, USER, ASSISTANT, END)
ROLE_TOKENS: tuple[str, ...] = (SYSTEM, USER, ASSISTANT, END)

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def token_id(tok: Tokenizer, token: str) -> int:
    """`tok.token_to_id(token)`, but an error naming `token` instead of a silent None when it is not in the vocab."""
    i = tok.token_to_id(token)
    if i is None:
        raise ValueError(f"token {token!r} is not in the tokenizer's vocabulary")
    return i


def train_tokenizer(texts: list[str], vocab_size: int) -> Tokenizer:
    """A byte-level BPE over `texts` that prepends `<s>` to every encoded text."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))]
    )
    return tok


def _config(tok: Tokenizer, eos: str, chat: bool) -> dict:
    added = {
        str(tok.token_to_id(t)): {"content": t, "lstrip": False, "normalized": False,
                                  "rstrip": False, "single_word": False, "special": True}
        for t in SPECIAL_TOKENS
    }
    cfg = {
        "added_tokens_decoder": added, "additional_special_tokens": list(ROLE_TOKENS),
        "bos_token": BOS, "eos_token": eos, "pad_token": PAD,
        "clean_up_tokenization_spaces": False, "model_max_length": CONTEXT,
        "padding_side": "left", "tokenizer_class": "PreTrainedTokenizerFast",
    }
    if chat:
        cfg["chat_template"] = CHAT_TEMPLATE
    return cfg


def write_tokenizer(tok: Tokenizer, folder: Path, chat: bool) -> None:
    """Write tokenizer.json + config files; the chat folder ends turns with `<|end|>` and has a template."""
    folder.mkdir(parents=True, exist_ok=True)
    eos = END if chat else EOS
    (folder / "tokenizer.json").write_text(tok.to_str(pretty=True) + "\n", encoding="utf-8")
    _dump(folder / "tokenizer_config.json", _config(tok, eos, chat))
    _dump(folder / "special_tokens_map.json", {
        "additional_special_tokens": list(ROLE_TOKENS), "bos_token": BOS, "eos_token": eos, "pad_token": PAD,
    })
    if chat:
        (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE, encoding="utf-8")


def _dump(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
