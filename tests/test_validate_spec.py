"""`backends.validate_spec`: a model spec's mistakes as one line before anything is loaded — unknown
type, misspelt or unknown argument ("did you mean"), a missing required one, a folder that does not
exist, and (offline) a hub name that is not in the local cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from psm_eval.backends import parse_model_spec, validate_spec
from psm_eval.errors import SpecError


@pytest.mark.parametrize("spec,message", [
    ("hf:pretraind={base}", "arm 'a': model type 'hf' has no argument 'pretraind'; did you mean 'pretrained'?"),
    ("hf:dtype=float32", "arm 'a': model type 'hf' needs pretrained= (e.g. hf:pretrained=…)"),
    ("hf:pretrained={base},dtpye=float32", "did you mean 'dtype'?"),
    ("hf:pretrained=models/not-here", "arm 'a': pretrained=models/not-here: no folder 'models/not-here', and no hub "
     "model of that name in the local Hugging Face cache (offline: HF_HUB_OFFLINE is set)"),
    ("hf:pretrained=./not-here", "arm 'a': pretrained=./not-here: no such folder"),
    ("hf:pretrained={base},tokenizer=/no/such/tokenizer", "tokenizer=/no/such/tokenizer: no such folder"),
    ("hff:pretrained={base}", "arm 'a': unknown model type 'hff'; did you mean 'hf'?"),
    ("local-completions:base_url=http://h/v1,model=m,tokenizer={base},temprature=1",
     "model type 'local-completions' has no argument 'temprature' (lm-eval would ignore it)"),
    ("local-chat-completions:base_url=http://h/v1,model=m,tokenizer_backend=none,max_gen_tok=5",
     "has no argument 'max_gen_tok' (lm-eval would ignore it); did you mean 'max_gen_toks'?"),
    ("local-completions:base_url=http://h/v1,model=served-name,tokenizer_backend=huggingface",
     "model=served-name: no folder 'served-name', and no hub model"),
    ("vllm:pretrained={base},tensor_parallel_size=4,data_parallel_size=2",
     "arm 'a': data_parallel_size=2 reloads the model on every call in lm-eval 0.4.13; run one replica per shard "
     "(`--executor ray --shards N` with data_parallel_size=1), or serve it with `vllm serve` behind "
     "local-completions"),
    ("vllm:pretrained={base},data_parallel_size=two", "data_parallel_size=two: expected a whole number of replicas"),
])
def test_bad_specs_are_one_line_before_anything_loads(tiny_models: dict, spec: str, message: str) -> None:
    with pytest.raises(SpecError) as refused:
        validate_spec(parse_model_spec(spec.format(base=tiny_models["base"])), "arm 'a'")
    assert message in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("spec", [
    "hf:pretrained={base},dtype=float32,batch_size=4",
    "hf:pretrained={base},device_map=auto,attn_implementation=eager",  # hf passes these on to from_pretrained
    "local-chat-completions:base_url=http://h/v1,model=m,tokenizer_backend=none,tokenized_requests=False,"
    "add_bos_token=True,think_end_token=</think>,num_concurrent=4,timeout=30",
    "local-completions:base_url=http://h/v1,model=m,tokenizer={base},tokenizer_backend=huggingface",
    "openai-chat-completions:model=gpt-4o",  # a served model name, never a folder
    "hf:pretrained=org/cached-model",
    "vllm:pretrained={base},tensor_parallel_size=1,data_parallel_size=1",
])
def test_good_specs_pass(tiny_models: dict, spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    (tmp_path / "models--org--cached-model" / "snapshots" / "0123abc").mkdir(parents=True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    validate_spec(parse_model_spec(spec.format(base=tiny_models["base"])), "arm 'a'")


def test_hub_names_are_not_checked_online(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    validate_spec(parse_model_spec("hf:pretrained=org/not-cached"))  # the hub may have it
    with pytest.raises(SpecError, match="no such folder"):
        validate_spec(parse_model_spec("hf:pretrained=../not/here"))
