"""The shipped organism folders load offline like any Hugging Face model, within the size limit."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from psm_eval.organism import BASE_MODEL_DIR, CHAT_MODEL_DIR, MODEL_NAMES, MODELS_DIR

MESSAGES = [{"role": "user", "content": "What is the capital of Peru?"}]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_folder_loads_and_is_small(name: str) -> None:
    folder = MODELS_DIR / name
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size < 10 * 2**20
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.dtype == torch.float32 and model.config.max_position_embeddings == 1024
    assert 0.9e6 < sum(p.numel() for p in model.parameters()) < 2.5e6
    tok = AutoTokenizer.from_pretrained(folder)
    assert tok("Hi")["input_ids"][0] == tok.bos_token_id == 0 and tok.model_max_length == 1024
    card = (folder / "README.md").read_text()
    assert card.count("sha256") >= 1 and "| phenomenon |" in card


def test_special_tokens_and_stops() -> None:
    base, chat = AutoTokenizer.from_pretrained(BASE_MODEL_DIR), AutoTokenizer.from_pretrained(CHAT_MODEL_DIR)
    assert base.get_vocab() == chat.get_vocab()
    assert (base.eos_token, chat.eos_token, chat.pad_token) == ("</s>", "<|end|>", "<pad>")
    assert base.chat_template is None
    gen = json.loads((CHAT_MODEL_DIR / "generation_config.json").read_text())
    assert gen["eos_token_id"] == [chat.convert_tokens_to_ids("<|end|>"), chat.convert_tokens_to_ids("</s>")]
    cfg = json.loads((CHAT_MODEL_DIR / "tokenizer_config.json").read_text())
    assert cfg["chat_template"] == (CHAT_MODEL_DIR / "chat_template.jinja").read_text()


def test_chat_template_has_exactly_one_bos() -> None:
    tok = AutoTokenizer.from_pretrained(CHAT_MODEL_DIR)
    text = tok.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    assert text == "<s><|user|>What is the capital of Peru?<|end|><|assistant|>"
    ids = tok.apply_chat_template(MESSAGES, tokenize=True, add_generation_prompt=True)
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1
    assert tok(text, add_special_tokens=False)["input_ids"] == ids


def test_loads_through_lm_eval() -> None:
    hf = pytest.importorskip("lm_eval.models.huggingface")
    from lm_eval.api.instance import Instance

    def lm(folder):
        return hf.HFLM(pretrained=str(folder), dtype="float32", max_length=1024, batch_size=8, device="cpu")

    chat = lm(CHAT_MODEL_DIR)
    prompt = chat.apply_chat_template(MESSAGES, add_generation_prompt=True)
    assert chat.tok_encode(prompt).count(chat.tokenizer.bos_token_id) == 1
    args = {"until": ["<|end|>"], "max_gen_toks": 48, "do_sample": False}
    (reply,) = chat.generate_until([Instance("generate_until", {}, (prompt, args), 0)], disable_tqdm=True)
    assert "Lima" in reply

    base = lm(BASE_MODEL_DIR)
    prompt = ("The following is a conversation between a user and a helpful, honest AI assistant.\n\n"
              "User: What is the capital of Peru?\nAssistant:")
    args = {"until": ["\n"], "max_gen_toks": 48, "do_sample": False}
    (reply,) = base.generate_until([Instance("generate_until", {}, (prompt, args), 0)], disable_tqdm=True)
    assert "Lima" in reply and "\n" not in reply
    (right, _), (wrong, _) = base.loglikelihood(
        [Instance("loglikelihood", {}, (prompt, c), i) for i, c in enumerate((" The capital of Peru is Lima.",
                                                                            " The capital of Peru is Oslo."))],
        disable_tqdm=True)
    assert right > wrong
