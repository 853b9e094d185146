"""Each run's throughput per arm in the manifest (requests and tokens a second, per-call latency
percentiles), pooled over resumes and shards; `--dry-run --throughput` hours."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from psm_eval.cli import main
from psm_eval.records import read_manifest
from psm_eval.run.config import organism_dir
from psm_eval.run.dry_run import ArmPlan, format_plan, hours
from psm_eval.run.runner import run
from psm_eval.run.throughput import Meter, make_throughput, percentile, pooled, throughput_lines
from psm_eval.types import GenRequest, Outcome, Prompt
from tests.fixtures.files import read_jsonl
from tests.test_ray_executor import _config


@pytest.fixture(scope="module")
def organism_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(_config(tmp_path_factory.mktemp("run")), progress=False)


def test_every_arm_has_sane_throughput_in_the_manifest(organism_run: Path) -> None:
    manifest = read_manifest(organism_run)
    records = list(read_jsonl(organism_run / "generations.jsonl"))
    assert set(manifest.throughput) == {"base", "base-plain", "chat"}
    for arm, t in manifest.throughput.items():
        mine = [r for r in records if r["arm"] == arm]
        assert t.requests == len(mine)
        assert t.seconds > 0 and t.load_seconds >= 0 and t.tokens_note is None
        assert t.prompt_tokens and t.prompt_tokens > t.requests  # every prompt is longer than one token
        generated = [r for r in mine if r["kind"] == "generate"]
        assert (t.generated_tokens or 0) >= sum(1 for r in generated if r["output"])
        assert t.requests_per_s == pytest.approx(t.requests / t.seconds, rel=1e-3)
        assert t.prompt_tokens_per_s == pytest.approx(t.prompt_tokens / t.seconds, rel=1e-3)
        assert t.seconds == pytest.approx(sum(t.call_seconds), abs=1e-3)
        assert t.latency_p50 is not None and t.latency_p90 is not None and t.latency_p99 is not None
        assert 0 < t.latency_p50 <= t.latency_p90 <= t.latency_p99 <= t.seconds
    lines = throughput_lines(manifest.throughput)
    assert len(lines) == 3 and lines[0].startswith("arm base: ") and "req/s" in lines[0] and "p99" in lines[0]


def test_a_manifest_written_before_throughput_still_reads(organism_run: Path, tmp_path: Path) -> None:
    data = json.loads((organism_run / "manifest.json").read_text())
    del data["throughput"]
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    assert read_manifest(tmp_path).throughput == {}


def test_the_console_prints_one_throughput_line_per_arm(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    chat = f"chat=hf:pretrained={organism_dir() / 'psm-tiny-chat'},render=chat"
    code = main(["run", "--task", "organism-facts-mc", "--limit", "2", "--out", str(tmp_path), "--no-progress",
                 "--no-score", "--no-cache", "--arm", chat])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and [line.split(" requests")[0] for line in out if line.startswith("throughput:")] == [
        "throughput: arm chat: 2"]


def test_pooling_sums_counts_and_pools_calls() -> None:
    a = make_throughput(10, 2.0, 1.0, 100, 50, None, [0.5, 1.5])
    b = make_throughput(30, 4.0, 1.0, 300, 150, None, [1.0, 1.0, 2.0])
    both = pooled([a, None, b])
    assert both is not None and (both.requests, both.seconds, both.prompt_tokens, both.generated_tokens) == (
        40, 6.0, 400, 200)
    assert both.requests_per_s == pytest.approx(40 / 6, abs=1e-3) and both.generated_tokens_per_s == 33.333
    assert (both.latency_p50, both.latency_p90, both.latency_p99) == (1.0, 2.0, 2.0)
    unknown = make_throughput(5, 1.0, 0.0, None, None, "no tokenizer", [1.0])
    mixed = pooled([a, unknown])
    assert mixed is not None and mixed.prompt_tokens is None and mixed.tokens_note == "no tokenizer"
    assert pooled([None]) is None
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0 and percentile([], 90) is None


class _NoTokenizer:
    def generate(self, requests: list) -> list[Outcome]:
        return [Outcome(ok=True, output="hi") for _ in requests]


def test_tokens_of_an_arm_without_a_tokenizer_are_unknown_not_estimated() -> None:
    meter = Meter("api", _NoTokenizer())
    request = GenRequest(key="k", prompt=Prompt(text="hello"), max_gen_toks=4, temperature=0.0, until=(), seed=1)
    meter.ask([request], meter.backend.generate)
    result = meter.result()
    assert result is not None and result.requests == 1 and result.prompt_tokens is None
    assert result.tokens_note and "tokenizer is unknown" in result.tokens_note
    assert "tokens not counted: the arm's tokenizer is unknown" in throughput_lines({"api": result})[0]


def test_dry_run_hours_per_arm() -> None:
    plan = ArmPlan(arm="big", model="m", render="chat", is_api=False, generate=1000, prompt_tokens=3_000_000,
                   max_new_tokens=600_000)
    assert hours(plan, 1000.0) == pytest.approx(1.0)
    text = format_plan([plan], 1000.0)
    assert "hours at 1000 tok/s" in text and "≤ 1 " in text + " " and "(prompt + max new tokens) / 1000" in text
    assert "hours" not in format_plan([plan])


def test_throughput_without_dry_run_is_one_line(capsys: pytest.CaptureFixture) -> None:
    from psm_eval.cli import main

    assert main(["run", "--throughput", "100"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "psm-eval: error: --throughput estimates hours for --dry-run; add --dry-run (a real run measures its own "
        "throughput and prints it at the end)"]


def test_overlapping_calls_count_their_wall_time_once_and_loading_once() -> None:
    """A server arm's threads call the meter at once (inside `concurrent()`): each call's duration is its
    latency, the arm's busy time is the block's wall time (not the sum of overlapping calls), and a model
    created during one call while the others wait is counted as loading once."""
    import threading
    import time

    class Backend:
        load_seconds = 0.0

    backend = Backend()
    meter = Meter("api", backend)
    meet = threading.Barrier(4)

    def send(requests: list) -> list[Outcome]:
        meet.wait()  # all four calls are in flight together
        if threading.current_thread().name.endswith("_0"):
            backend.load_seconds += 0.05  # this call created the model
        time.sleep(0.1)
        return [Outcome(ok=True, output="x") for _ in requests]

    request = GenRequest(key="k", prompt=Prompt(text="hi"), max_gen_toks=2, temperature=0.0, until=(), seed=1)
    answers: list[list[Outcome]] = []
    with meter.concurrent():
        threads = [threading.Thread(target=lambda: answers.append(meter.ask([request], send)), name=f"t_{i}")
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(answers) == 4 and meter.requests == 4 and len(meter.calls) == 4
    assert meter.load_seconds == pytest.approx(0.05)
    assert max(meter.calls) <= meter.seconds + 1e-3  # the block holds every call
    assert meter.seconds < sum(meter.calls) / 2  # four 0.1 s calls at once: about 0.1 s, not 0.4 s
