"""The activation store and stage on real organism runs (lm-eval's hf backend, offline)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from psm_eval.activations import stage as stage_module
from psm_eval.activations.store import PartWriter, open_activations, write_index
from psm_eval.backends.activations import create_hidden_states
from psm_eval.errors import StoreError
from psm_eval.records import ActivationIndex, ArmActivations, iter_generations
from psm_eval.run.config import organism_dir
from psm_eval.run.runner import run
from psm_eval.run.shard import merge_runs
from psm_eval.run.start import resolve_config

BASE = organism_dir() / "psm-tiny-base"
CHAT = organism_dir() / "psm-tiny-chat"
ARMS = [f"base=hf:pretrained={BASE},dtype=float32,render=transcript:assistant",
        f"chat=hf:pretrained={CHAT},dtype=float32,render=chat",
        "api=local-chat-completions:base_url=http://127.0.0.1:9/v1/chat/completions,model=m,render=chat,retries=0"]


class _Models:
    """The real forward pass, one model per spec for the whole module (model loading dominates the time)."""

    def __init__(self) -> None:
        self.models: dict[str, object] = {}
        self.calls = 0
        self.stop_after: int | None = None

    def __call__(self, spec, batch_size):  # type: ignore[no-untyped-def]
        key = json.dumps(spec.args, sort_keys=True)
        if key not in self.models:
            self.models[key] = create_hidden_states(spec, batch_size)
        return _Counting(self.models[key], self)


class _Counting:
    def __init__(self, inner, owner: _Models):  # type: ignore[no-untyped-def]
        self.inner, self.owner = inner, owner
        self.layers, self.hidden = inner.layers, inner.hidden

    def measure(self, items):  # type: ignore[no-untyped-def]
        if self.owner.stop_after is not None and self.owner.calls >= self.owner.stop_after:
            raise KeyboardInterrupt  # a kill after the first part
        self.owner.calls += 1
        return self.inner.measure(items)

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def models() -> _Models:
    return _Models()


@pytest.fixture(scope="module")
def organism_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("act")
    config = resolve_config(tasks=["organism-open", "organism-facts-mc"], arms=ARMS, limit=3, out=str(out),
                            cache=False, max_error_rate=1.0)
    return run(config, progress=False)


def _ok_keys(run_dir: Path, arm: str) -> list[str]:
    return [r.key for r in iter_generations(run_dir) if r.arm == arm and r.kind == "generate" and r.ok]


def test_store_round_trip_and_located_errors(tmp_path: Path) -> None:
    writer = PartWriter(tmp_path / "activations" / "a", layers=3, hidden=4, part_size=2)
    rng = np.random.default_rng(0)
    rows = [(f"k{i}", rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(3, 4)).astype(np.float32))
            for i in range(5)]
    for key, r, p in rows:
        writer.add(key, r, p, 7)
    writer.skip("k5", "empty_reply")
    writer.flush()
    assert writer.written == ["part-00000.safetensors", "part-00001.safetensors", "part-00002.safetensors"]
    assert writer.max_buffered == 2
    entry = ArmActivations(status="measured", model_type="hf", layers=3, hidden=4, part_size=2, parts=writer.written,
                           n_records=5, complete=True, not_measured={"empty_reply": 1})
    write_index(tmp_path, ActivationIndex(arms={"a": entry, "b": ArmActivations(status="not_measurable",
                                                                                  reason="API arm", model_type="x")}))
    store = open_activations(tmp_path)
    assert store is not None and set(store.arms) == {"a", "b"}
    got = list(store.iter("a"))
    assert [k for k, _, _ in got] == [k for k, _, _ in rows]
    for (_, r, p), (_, r2, p2) in zip(rows, got):
        assert r2.dtype == np.float32 and np.allclose(r, r2, atol=1e-2) and np.allclose(p, p2, atol=1e-2)
    keys, layer = store.layer("a", 1)
    assert keys == [k for k, _, _ in rows] and layer.shape == (5, 4) and np.allclose(layer[2], rows[2][1][1], atol=1e-2)
    with pytest.raises(StoreError, match="not measurable: API arm"):
        list(store.iter("b"))
    assert open_activations(tmp_path / "nothing") is None
    # a part whose tensor disagrees with the index, and a malformed index: located errors
    bad = writer.folder / "part-00001.safetensors"
    from safetensors.numpy import save_file

    save_file({"reply_mean": np.zeros((2, 2, 4), np.float16), "prompt_last": np.zeros((2, 3, 4), np.float16),
               "reply_tokens": np.zeros(2, np.int32)}, str(bad), metadata={"keys": json.dumps(["k2", "k3"])})
    with pytest.raises(StoreError, match=r"part-00001.safetensors: tensor 'reply_mean' has shape \(2, 2, 4\)"):
        list(open_activations(tmp_path).iter("a"))  # type: ignore[union-attr]
    index = tmp_path / "activations" / "index.json"
    data = json.loads(index.read_text())
    data["arms"]["a"]["layers"] = "many"
    index.write_text(json.dumps(data))
    with pytest.raises(StoreError, match=r"index.json.*arms.a.layers"):
        open_activations(tmp_path)


def test_stage_measures_ok_generate_records_as_a_direct_forward_pass(organism_run: Path, models: _Models) -> None:
    result = stage_module.measure_run(organism_run, progress=False, part_size=2, model_factory=models)
    store = open_activations(organism_run)
    assert store is not None
    assert store.arms["api"].status == "not_measurable" and store.arms["api"].reason == "API arm"
    for arm in ("base", "chat"):
        entry = store.arms[arm]
        assert entry.status == "measured" and entry.complete and (entry.layers, entry.hidden) == (5, 128)
        assert [k for k, _, _ in store.iter(arm)] == _ok_keys(organism_run, arm) and entry.n_records == 3
        assert entry.not_measured == {"loglikelihood": 3} and entry.parts == ["part-00000.safetensors",
                                                                              "part-00001.safetensors"]
    assert result.measured == {"base": 3, "chat": 3, "api": 0}
    # one record against transformers directly, on the same token ids
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    record = next(r for r in iter_generations(organism_run) if r.arm == "chat" and r.kind == "generate")
    assert record.prompt is not None and record.prompt.text and record.output
    tok = AutoTokenizer.from_pretrained(CHAT)
    context = tok(record.prompt.text, add_special_tokens=False)["input_ids"]
    whole = tok(record.prompt.text + record.output, add_special_tokens=False)["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(CHAT, dtype=torch.float32)
    with torch.no_grad():
        states = model(torch.tensor([whole]), output_hidden_states=True).hidden_states
    reply = len(whole) - len(context)
    expect_mean = np.stack([h[0, -reply:].mean(0).numpy() for h in states])
    expect_last = np.stack([h[0, len(context) - 1].numpy() for h in states])
    key, got_mean, got_last = next(iter(store.iter("chat")))
    assert key == record.key
    np.testing.assert_allclose(got_mean, expect_mean, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(got_last, expect_last, rtol=2e-3, atol=2e-3)
    # nothing left: a second call measures nothing and loads no model
    before = models.calls
    assert stage_module.measure_run(organism_run, progress=False, model_factory=models).measured["base"] == 0
    assert models.calls == before


def test_a_stopped_stage_resumes_losing_and_repeating_nothing(organism_run: Path, models: _Models,
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = tmp_path / "whole"
    shutil.copytree(organism_run, whole, ignore=shutil.ignore_patterns("activations"))
    stage_module.measure_run(whole, progress=False, part_size=1, model_factory=models, arms=["base"])
    stopped = tmp_path / "stopped"
    shutil.copytree(organism_run, stopped, ignore=shutil.ignore_patterns("activations"))
    held: list[int] = []

    class Watched(PartWriter):
        def flush(self) -> None:
            held.append(self.max_buffered)
            super().flush()

    monkeypatch.setattr(stage_module, "PartWriter", Watched)
    models.stop_after, models.calls = 1, 0
    with pytest.raises(KeyboardInterrupt):
        stage_module.measure_run(stopped, progress=False, part_size=1, model_factory=models, arms=["base"])
    models.stop_after = None
    assert sorted(p.name for p in (stopped / "activations" / "base").iterdir()) == ["part-00000.safetensors"]
    result = stage_module.measure_run(stopped, progress=False, part_size=1, model_factory=models, arms=["base"])
    assert result.measured["base"] == 2  # the two records the stopped call had not stored, nothing again
    assert max(held) == 1  # the stage never held more than one part of records
    a, b = open_activations(whole), open_activations(stopped)
    assert a is not None and b is not None
    assert a.arms["base"].parts == b.arms["base"].parts and b.arms["base"].n_records == 3
    for (k1, r1, p1), (k2, r2, p2) in zip(a.iter("base"), b.iter("base"), strict=True):
        assert k1 == k2 and np.array_equal(r1, r2) and np.array_equal(p1, p2)


def test_merged_shards_hold_the_unsharded_store(models: _Models, tmp_path: Path) -> None:
    arms = ARMS[:2]
    config = resolve_config(tasks=["organism-open"], arms=arms, limit=4, out=str(tmp_path / "whole"), cache=False)
    whole = run(config, progress=False)
    stage_module.measure_run(whole, progress=False, part_size=3, model_factory=models)
    shard_config = resolve_config(tasks=["organism-open"], arms=arms, limit=4, out=str(tmp_path / "shards"),
                                  cache=False)
    shards = [run(shard_config, progress=False, shard=(k, 2)) for k in range(2)]
    for s in shards:
        stage_module.measure_run(s, progress=False, part_size=3, model_factory=models)
    merged = merge_runs(shards, tmp_path / "merged")
    a, b = open_activations(whole), open_activations(merged)
    assert a is not None and b is not None
    for arm in ("base", "chat"):
        assert a.arms[arm].parts == b.arms[arm].parts and a.arms[arm].n_records == b.arms[arm].n_records == 4
        pairs = list(zip(a.iter(arm), b.iter(arm), strict=True))
        assert [x[0] for x, _ in pairs] == [y[0] for _, y in pairs]
        for (_, r1, p1), (_, r2, p2) in pairs:
            np.testing.assert_allclose(r1, r2, rtol=1e-2, atol=1e-2)
            np.testing.assert_allclose(p1, p2, rtol=1e-2, atol=1e-2)
