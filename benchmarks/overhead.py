"""Target 1: harness overhead. `psm-eval run` on the model organism (generation + loglikelihood)
vs the very same requests (read back from that run's records) sent directly to lm-eval's HFLM in
the same process: each model loaded once, every request of an arm in one call per kind, plus the
look past the stop that tasks with `look_past_stop` ask for. Runs alternate and the medians are
compared; the target ratio is <= 1.10.

    python benchmarks/overhead.py [--repeats 3] [--tasks organism-facts organism-facts-mc]
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


def psm_run(tasks: list[str], out: Path) -> tuple[float, Path]:
    from psm_eval.run.runner import run
    from psm_eval.run.start import resolve_config

    config = resolve_config(tasks=tasks, out=str(out), cache=False)
    start = time.perf_counter()
    path = run(config, progress=False)
    return time.perf_counter() - start, path


def direct_run(run_dir: Path) -> float:
    """The same requests straight to HFLM: each model loaded once (consecutive arms of one model share it, as
    psm-eval's do), all of an arm's requests in one call per kind."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    config = json.loads((run_dir / "config.json").read_text())
    records = [json.loads(line) for line in (run_dir / "generations.jsonl").read_text().splitlines()]
    start = time.perf_counter()
    lm, loaded = None, None
    for arm in config["arms"]:
        if arm["model"]["args"]["pretrained"] != loaded:
            del lm
            loaded = arm["model"]["args"]["pretrained"]
            lm = HFLM(pretrained=loaded, dtype="float32", batch_size=16, device="cpu")
        mine = [r for r in records if r["arm"] == arm["name"] and r["status"] == "ok"]
        gen = [Instance("generate_until", {}, (r["prompt"]["text"], {
                   "until": r["gen"]["until"], "max_gen_toks": r["gen"]["max_gen_toks"],
                   "do_sample": r["gen"]["temperature"] > 0, "temperature": r["gen"]["temperature"]}), 0)
               for r in mine if r["kind"] == "generate"]
        ll = [Instance("loglikelihood", {}, (r["prompt"]["text"], c), 0)
              for r in mine if r["kind"] == "loglikelihood" for c in r["continuations"]]
        # what a task's `look_past_stop` asks for too: the next tokens after the stop that ended a reply
        past = [Instance("generate_until", {}, (r["prompt"]["text"] + (r["raw_output"] or r["output"]) +
                                                r["stop_sequence"], {
                    "until": [], "max_gen_toks": r["gen"]["look_past"], "do_sample": r["gen"]["temperature"] > 0,
                    "temperature": r["gen"]["temperature"]}), 0)
                for r in mine if r["kind"] == "generate" and r["after_stop"] is not None]
        if gen:
            lm.generate_until(gen, disable_tqdm=True)
        if past:
            lm.generate_until(past, disable_tqdm=True)
        if ll:
            lm.loglikelihood(ll, disable_tqdm=True)
    del lm
    return time.perf_counter() - start


def main() -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tasks", nargs="+", default=None, help="task refs (default: the organism suite)")
    args = ap.parse_args()
    from psm_eval.run.config import load_suite

    tasks = args.tasks or load_suite("organism")
    work = Path(tempfile.mkdtemp(prefix="psm-bench-overhead-"))
    _, first = psm_run(tasks, work / "warm")  # warm caches (datasets, imports) for both sides
    direct_run(first)
    ours, theirs = [], []
    for i in range(args.repeats):
        theirs.append(direct_run(first))
        seconds, _ = psm_run(tasks, work / f"r{i}")
        ours.append(seconds)
    n = sum(1 for _ in open(first / "generations.jsonl"))
    a, b = statistics.median(ours), statistics.median(theirs)
    arms = len(json.loads((first / "config.json").read_text())["arms"])
    print(f"{n} records over {len(tasks)} tasks x {arms} arms; {args.repeats} alternating repeats")
    print(f"psm-eval run (render, check, batch, store): median {a:.2f} s  {['%.2f' % x for x in ours]}")
    print(f"direct HFLM, same requests:               median {b:.2f} s  {['%.2f' % x for x in theirs]}")
    pairs = [x / y for x, y in zip(ours, theirs)]
    print(f"overhead ratio: {a / b:.3f} of medians; {statistics.median(pairs):.3f} median of adjacent pairs "
          f"{['%.2f' % p for p in pairs]} (target <= 1.10)")


if __name__ == "__main__":
    main()
