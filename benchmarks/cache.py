"""Target 3: a re-run of an identical config is served from the local response cache; prints the
speed-up of the second run over the first, in the same process (target >= 50x).

The config is the organism suite on the default arms whose replies end their turn (the base model
forced through the chat template rambles to max_gen_toks, and truncated replies are, by design,
never cached: they would be re-asked).

    python benchmarks/cache.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))



def main() -> None:
    import torch

    torch.set_num_threads(1)
    from psm_eval.run.config import default_arms, load_suite
    from psm_eval.run.runner import run
    from psm_eval.run.start import build_config

    work = Path(tempfile.mkdtemp(prefix="psm-bench-cache-"))
    arms = [a for a in default_arms() if a["name"] != "base-chat-template"]
    config = build_config({"tasks": load_suite("organism"), "arms": arms, "out": str(work / "runs"), "cache_dir": str(work / "cache")},
                          "benchmark")
    start = time.perf_counter()
    first = run(config, progress=False)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    second = run(config, progress=False)
    warm = time.perf_counter() - start
    same = (first / "generations.jsonl").read_bytes() == (second / "generations.jsonl").read_bytes()
    cache = json.loads((second / "manifest.json").read_text())["cache"]
    hits = sum(c["hits"] for c in cache.values())
    total = hits + sum(c["misses"] for c in cache.values())
    print(f"{total} requests; second run: {hits} served from cache, generations identical: {same}")
    print(f"first run {cold:.2f} s, re-run {warm:.3f} s: speed-up {cold / warm:.0f}x (target >= 50x)")


if __name__ == "__main__":
    main()
