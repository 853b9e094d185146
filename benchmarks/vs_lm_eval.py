"""Target 2: a multiple-choice task through psm_eval vs `lm_eval.simple_evaluate` on the same model
and the same prompts: wall time (target: psm_eval <= lm-eval) and the same acc / acc_norm.

The lm-eval task is written so that its doc_to_text is the exact prompt psm_eval rendered and its
target_delimiter is the arm's answer prefix; both sides load the model, score every choice and
compute acc / acc_norm. Alternating repeats, medians.

    python benchmarks/vs_lm_eval.py [--task accuracy-mc] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def ours(task: str, arm: dict, out: Path) -> tuple[float, dict, Path]:
    from psm_eval.run.runner import run
    from psm_eval.run.start import build_config
    from psm_eval.score.stage import score_run

    config = build_config({"tasks": [task], "arms": [arm], "out": str(out), "cache": False}, "benchmark")
    start = time.perf_counter()
    path = run(config, progress=False)
    score_run(path, scorers=["choice_accuracy"], progress=False)
    seconds = time.perf_counter() - start
    summary = json.loads((path / "summary.json").read_text())
    metrics = {r["metric"]: r["estimate"] for r in summary["records"]
               if r["statistic"] == "mean" and r["scorer"] == "choice_accuracy" and r["stratum"] is None}
    return seconds, metrics, path


def lm_eval_task(run_dir: Path, root: Path) -> str:
    from psm_eval.data.task import load_task

    records = [json.loads(line) for line in (run_dir / "generations.jsonl").read_text().splitlines()]
    task = load_task(json.loads((run_dir / "manifest.json").read_text())["tasks"][0]["path"])
    samples = {s.id: s for s in task.samples}
    first = records[0]
    prefix = first["continuations"][0][: len(first["continuations"][0]) - len(samples[first["sample_id"]].choices[0])]
    docs = [{"prompt": r["prompt"]["text"], "choices": list(samples[r["sample_id"]].choices),
             "gold": samples[r["sample_id"]].gold} for r in records]
    (root / "bench_mc.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "bench_mc.yaml").write_text(
        f"task: bench_mc\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {root / 'bench_mc.jsonl'}\n"
        f"test_split: test\noutput_type: multiple_choice\ndoc_to_text: prompt\ndoc_to_choice: choices\n"
        f"doc_to_target: gold\ntarget_delimiter: {json.dumps(prefix)}\n"
        "metric_list:\n  - metric: acc\n  - metric: acc_norm\n")
    return "bench_mc"


def theirs(name: str, root: Path, pretrained: str) -> tuple[float, dict]:
    import lm_eval
    from lm_eval.tasks import TaskManager

    start = time.perf_counter()
    out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={pretrained},dtype=float32", tasks=[name],
                                  task_manager=TaskManager(include_path=str(root), include_defaults=False),
                                  num_fewshot=0, batch_size=16, device="cpu")
    seconds = time.perf_counter() - start
    res = out["results"][name]
    return seconds, {"acc": res["acc,none"], "acc_norm": res["acc_norm,none"]}


def main() -> None:
    import logging

    import torch

    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="accuracy-mc")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from psm_eval.run.config import default_arms

    arm = next(a for a in default_arms() if a["name"] == "base")
    work = Path(tempfile.mkdtemp(prefix="psm-bench-lmeval-"))
    _, _, first = ours(args.task, arm, work / "warm")
    name = lm_eval_task(first, work)
    theirs(name, work, arm["model"]["args"]["pretrained"])  # warm-up
    a, b = [], []
    for i in range(args.repeats):
        t_theirs, m_theirs = theirs(name, work, arm["model"]["args"]["pretrained"])
        t_ours, m_ours, _ = ours(args.task, arm, work / f"r{i}")
        a.append(t_ours)
        b.append(t_theirs)
    n = sum(1 for _ in open(first / "generations.jsonl"))
    print(f"task {args.task}: {n} questions, model psm-tiny-base through transcript:assistant")
    print(f"psm_eval run + score: median {statistics.median(a):.2f} s {['%.2f' % x for x in a]}")
    print(f"lm_eval.simple_evaluate: median {statistics.median(b):.2f} s {['%.2f' % x for x in b]}")
    print(f"time ratio psm_eval / lm-eval: {statistics.median(a) / statistics.median(b):.3f} (target <= 1)")
    print(f"acc      psm_eval {m_ours['acc']:.6f}  lm-eval {m_theirs['acc']:.6f}")
    print(f"acc_norm psm_eval {m_ours['acc_norm']:.6f}  lm-eval {m_theirs['acc_norm']:.6f}")
    same = abs(m_ours["acc"] - m_theirs["acc"]) < 1e-9 and abs(m_ours["acc_norm"] - m_theirs["acc_norm"]) < 1e-9
    print(f"same numbers: {same}")


if __name__ == "__main__":
    main()
