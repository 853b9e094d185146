"""Cost of the activation stage: its forward passes against lm-eval's `HFLM.loglikelihood` over the same
(prompt, reply) pairs (the same tokens), in one process; and its peak memory for N and 4N records.

    python benchmarks/activations.py RUN_DIR [--arm base] [--part-size 32]

RUN_DIR is a run folder with an in-process arm (e.g. `psm-eval run --no-score`). Target: ratio <= 1.5, and
the same peak (Python heap, tracemalloc) for N and 4N records: the stage holds one part at a time.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

from psm_eval.activations import stage
from psm_eval.backends.activations import create_hidden_states
from psm_eval.backends.spec import ModelSpec
from psm_eval.records import read_manifest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--arm", default="base")
    p.add_argument("--part-size", type=int, default=32)
    args = p.parse_args()
    arm = read_manifest(args.run_dir).arm(args.arm)
    assert arm is not None, f"no arm {args.arm}"
    spec = ModelSpec(type=arm.model.type, args=dict(arm.model.args))
    model = create_hidden_states(spec)
    items = list(stage.arm_items(args.run_dir, args.arm))
    from lm_eval.api.instance import Instance

    instances = [Instance(request_type="loglikelihood", doc={}, arguments=(i.context, i.reply), idx=0) for i in items]
    model.lm.loglikelihood(instances[:4], disable_tqdm=True)  # warm up both paths
    model.measure(items[:4])
    best_ll, best_act = float("inf"), float("inf")
    for _ in range(3):
        t = time.perf_counter()
        model.lm.loglikelihood(instances, disable_tqdm=True)
        best_ll = min(best_ll, time.perf_counter() - t)
        t = time.perf_counter()
        model.measure(items)
        best_act = min(best_act, time.perf_counter() - t)
    print(f"{len(items)} records of arm {args.arm}: activation pass {best_act:.3f} s, HFLM.loglikelihood "
          f"{best_ll:.3f} s, ratio {best_act / best_ll:.2f} (target <= 1.5)")
    peaks = {}
    for n in (len(items) // 4, len(items)):
        peaks[n] = _peak(args.run_dir, args.arm, n, args.part_size, model)
    print("stage peak Python heap (tracemalloc): " + ", ".join(f"{n} records {b / 1e6:.2f} MB" for n, b in peaks.items()))


def _peak(run_dir: Path, arm: str, n: int, part_size: int, model: object) -> int:
    """Peak traced memory of the stage over the arm's first n records (a copy of the run cut to them)."""
    with tempfile.TemporaryDirectory() as tmp:
        cut = Path(tmp) / "run"
        shutil.copytree(run_dir, cut, ignore=shutil.ignore_patterns("activations", "scores.jsonl"))
        lines = [line for line in (run_dir / "generations.jsonl").read_text().splitlines()
                 if f'"arm":"{arm}"' in line and '"kind":"generate"' in line and '"status":"ok"' in line][:n]
        (cut / "generations.jsonl").write_text("\n".join(lines) + "\n")
        tracemalloc.start()
        stage.measure_run(cut, progress=False, part_size=part_size, arms=[arm],
                          model_factory=lambda spec, batch: _Keep(model))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak


class _Keep:
    """The loaded model, not closed between measurements."""

    def __init__(self, inner: object):
        self.inner = inner
        self.layers, self.hidden = inner.layers, inner.hidden  # type: ignore[attr-defined]

    def measure(self, items: list) -> list:
        return self.inner.measure(items)  # type: ignore[attr-defined,no-any-return]

    def close(self) -> None:
        pass


if __name__ == "__main__":
    main()
