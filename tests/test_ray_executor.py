"""`run --executor ray`: shards as tasks on a real local Ray cluster, a killed worker's shard resumed,
merged into the unsharded run record for record (tests/test_one_experiment.py's identity)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from psm_eval.cli import main
from psm_eval.errors import ConfigError
from psm_eval.records import RunConfig, read_manifest
from psm_eval.run.config import build_config, default_config
from psm_eval.run.ray_executor import RAY_MISSING, ShardBackends, import_ray, run_on_ray, shard_resources
from psm_eval.run.runner import run
from tests.fixtures.files import read_jsonl
from tests.test_one_experiment import assert_same_records

ARMS = ("base", "base-plain", "chat")  # greedy transcript, sampled at T=1, chat template
TASKS = ["organism-facts-mc", "organism-mixture"]  # loglikelihoods; sampled generations


def _config(out: Path) -> RunConfig:
    default = default_config()
    arms = [a for a in default["arms"] if a["name"] in ARMS]
    return build_config({**default, "tasks": TASKS, "arms": arms, "predictions": [], "limit": 4, "out": str(out),
                         "cache": False}, "test")


def _records(run_dir: Path) -> dict[str, dict]:
    return {r["key"]: r for r in read_jsonl(run_dir / "generations.jsonl")}


def killed_at(shard: int, call: int) -> ShardBackends:
    """Shard `shard`'s first attempt SIGKILLs its own worker, as a preempted node's would, before its `call`-th
    model call (so exactly the records of the calls before it are stored); every other attempt runs as usual.
    Everything here is defined inside the function, so Ray sends it to the worker by value."""
    def backends(k: int, attempt: int) -> object:
        import os
        import signal

        from psm_eval.backends import create_backend

        if k != shard or attempt:
            return None
        calls = [0]

        class Killing:
            def __init__(self, inner: object):
                self._inner = inner

            def __getattr__(self, name: str) -> object:
                return getattr(self._inner, name)

            def _tick(self) -> None:
                calls[0] += 1
                if calls[0] >= call:
                    os.kill(os.getpid(), signal.SIGKILL)

            def generate(self, requests: object) -> object:
                self._tick()
                return self._inner.generate(requests)  # type: ignore[attr-defined]

            def loglikelihood(self, requests: object) -> object:
                self._tick()
                return self._inner.loglikelihood(requests)  # type: ignore[attr-defined]

        return lambda arm: Killing(create_backend(arm.model_spec(), retries=arm.retries))

    return backends  # type: ignore[return-value]


@pytest.fixture(scope="module")
def ray_cluster() -> object:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 ** 2, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def unsharded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(_config(tmp_path_factory.mktemp("full")), progress=False)


def test_two_shards_on_ray_merge_into_the_unsharded_run(ray_cluster: object, unsharded: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    merged = run_on_ray(_config(tmp_path), 2, progress=False, log=lines.append)
    assert_same_records(_records(unsharded), _records(merged))
    manifest = read_manifest(merged)
    assert manifest.status == "complete" and len(manifest.merged_from or []) == 2
    assert merged.parent == tmp_path and (tmp_path / "shards").is_dir()
    # every request of the run was asked exactly once, across the shards
    for arm, counts in manifest.counts.items():
        assert manifest.throughput[arm].requests == counts.ok + counts.failed
    assert not any("worker lost" in line for line in lines)


def test_a_killed_workers_shard_resumes_its_folder(ray_cluster: object, unsharded: Path, tmp_path: Path) -> None:
    # shard 1's first worker is SIGKILLed before its fourth model call: arm base done (an mc and a sampled
    # call), base-plain's mc records stored, its sampled chunk not yet asked
    lines: list[str] = []
    merged = run_on_ray(_config(tmp_path), 2, progress=False, log=lines.append, backends=killed_at(1, 4))
    assert [line for line in lines if "worker lost" in line] == [
        "shard 1/2: worker lost (WorkerCrashedError); resuming its folder (attempt 2 of 4)"]
    whole, got = _records(unsharded), _records(merged)
    assert_same_records(whole, got)
    shard = next(p for p in (tmp_path / "shards").glob("*/*") if read_manifest(p).shard == "1/2")
    keys = Counter(r["key"] for r in read_jsonl(shard / "generations.jsonl"))
    assert keys and max(keys.values()) == 1  # nothing stored twice
    manifest = read_manifest(shard)
    assert manifest.status == "complete" and len(manifest.resumed) == 1
    # throughput pools the starts: each arm asked at most once per record; base-plain's records stored by the
    # killed start were not asked again (that start's count of them died with it)
    records = Counter(key.split("/")[2] for key in keys)
    assert manifest.throughput["base"].requests == records["base"]
    assert 0 < manifest.throughput["base-plain"].requests < records["base-plain"]
    assert manifest.throughput["chat"].requests == records["chat"]


def test_without_ray_the_executor_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                             tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ConfigError) as err:
        import_ray()
    assert str(err.value) == RAY_MISSING and "pip install 'psm_eval[ray]'" in RAY_MISSING
    code = main(["run", "--executor", "ray", "--shards", "2", "--task", "organism-facts", "--limit", "1",
                 "--out", str(tmp_path), "--no-progress", "--no-score"])
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err_lines == [f"psm-eval: error: {RAY_MISSING}"]


def test_shard_resources_follow_the_arms() -> None:
    def config(*models: dict) -> RunConfig:
        arms = [{"name": f"a{i}", "model": m, "render": "chat"} for i, m in enumerate(models)]
        return build_config({"tasks": ["organism-facts"], "arms": arms}, "test")

    hf = {"type": "hf", "args": {"pretrained": "x"}}
    assert shard_resources(config(hf), cluster_has_gpus=False) == {"num_cpus": 1, "num_gpus": 0}
    assert shard_resources(config(hf), cluster_has_gpus=True) == {"num_cpus": 1, "num_gpus": 1}
    cpu = {"type": "hf", "args": {"pretrained": "x", "device": "cpu"}}
    assert shard_resources(config(cpu), cluster_has_gpus=True)["num_gpus"] == 0
    vllm = {"type": "vllm", "args": {"pretrained": "x", "tensor_parallel_size": 4}}
    assert shard_resources(config(cpu, vllm), cluster_has_gpus=True)["num_gpus"] == 4


def test_ray_flags_are_checked(tmp_path: Path) -> None:
    from psm_eval.run.start import run_from_cli

    common = {"config_path": None, "tasks": ["organism-facts"], "suite": None, "arms": [], "limit": 1, "seed": None,
              "out": str(tmp_path), "progress": False}
    with pytest.raises(ConfigError, match="go with --executor ray"):
        run_from_cli(**common, resume=None, shards=2)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="give neither --shard nor --resume"):
        run_from_cli(**common, resume=None, shard="0/2", executor="ray")  # type: ignore[arg-type]
    assert json.dumps(sorted(p.name for p in tmp_path.iterdir())) == "[]"
