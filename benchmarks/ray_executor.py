"""The Ray executor's wall time for N shards against one in-process run of the same requests.

Both sides run the same organism config (3 tasks × 3 arms, `--limit`) from a cold start of their own:
the in-process run in this process (its imports paid by a warm-up run first); the Ray side from submitting
the shards to the merged folder, on a local cluster started beforehand (its start is printed, not counted).
The first Ray run starts fresh workers; later ones reuse them (Ray keeps idle workers), as a long run's
retries and a second run on a live cluster would. The per-shard start-up cost is a fresh shard's time to
its first stored record minus the in-process run's (worker start, imports, model load), paid once a shard.

    python benchmarks/ray_executor.py [--shards 2] [--limit 6] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

ARMS = ("base", "base-plain", "chat")
TASKS = ["organism-facts", "organism-facts-mc", "organism-mixture"]


def _config(out: Path, limit: int):  # type: ignore[no-untyped-def]
    from psm_eval.run.config import build_config, default_config

    default = default_config()
    arms = [a for a in default["arms"] if a["name"] in ARMS]
    return build_config({**default, "tasks": TASKS, "arms": arms, "predictions": [], "limit": limit,
                         "out": str(out), "cache": False}, "benchmark")


def _first_record(root: Path, pattern: str, start: float, found: dict[str, float], stop: threading.Event) -> None:
    """Watch for each run folder's first stored record (its time after `start`)."""
    while not stop.is_set():
        for path in root.glob(pattern):
            gen = path / "generations.jsonl"
            if str(path) not in found and gen.is_file() and gen.stat().st_size > 0:
                found[str(path)] = time.perf_counter() - start
        time.sleep(0.05)


def _timed(root: Path, pattern: str, work):  # type: ignore[no-untyped-def]
    found: dict[str, float] = {}
    stop = threading.Event()
    start = time.perf_counter()
    watcher = threading.Thread(target=_first_record, args=(root, pattern, start, found, stop), daemon=True)
    watcher.start()
    path = work()
    seconds = time.perf_counter() - start
    stop.set()
    watcher.join()
    return path, seconds, sorted(found.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--limit", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import ray

    from psm_eval.records import read_manifest
    from psm_eval.run.ray_executor import run_on_ray
    from psm_eval.run.runner import run

    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"load before: {load}")
    t = time.perf_counter()
    ray.init(num_cpus=args.shards, include_dashboard=False, object_store_memory=80 * 1024 ** 2, log_to_driver=False)
    print(f"local Ray cluster started in {time.perf_counter() - t:.1f} s (not counted)")
    with tempfile.TemporaryDirectory(prefix="psm-ray-bench-") as tmp:
        def local(i: int):  # type: ignore[no-untyped-def]
            out = Path(tmp) / f"local{i}"
            return _timed(out, "2*", lambda: run(_config(out, args.limit), progress=False))

        def on_ray(i: int):  # type: ignore[no-untyped-def]
            out = Path(tmp) / f"ray{i}"
            return _timed(out / "shards", "*/2*", lambda: run_on_ray(
                _config(out, args.limit), args.shards, progress=False, log=lambda _line: None))

        run(_config(Path(tmp) / "warm", 1), progress=False)  # this process's imports, paid before timing
        path, inproc, first = local(0)
        records = sum(c.ok + c.failed for c in read_manifest(path).counts.values())
        _, cold, firsts = on_ray(0)  # fresh workers: start, imports and model loads in every shard
        fresh = cold / inproc
        start_up = statistics.median(f - first[0] for f in firsts)
        print(f"{records} records; in-process {inproc:.1f} s (first record {first[0]:.2f} s); Ray {args.shards} shards "
              f"on fresh workers {cold:.1f} s (first records {', '.join(f'{f:.1f}' for f in firsts)} s) "
              f"→ ratio {fresh:.2f}; per-shard start-up {start_up:.1f} s")
        ratios = []
        for i in range(1, args.repeats + 1):  # alternate, so that load changes hit both sides
            _, inproc, _ = local(i)
            _, warm, _ = on_ray(i)
            ratios.append(warm / inproc)
            print(f"repeat {i}: in-process {inproc:.1f} s; Ray {args.shards} shards on reused workers {warm:.1f} s "
                  f"→ ratio {warm / inproc:.2f}")
    ray.shutdown()
    print(f"Ray / in-process wall time: fresh workers {fresh:.2f}, reused workers median "
          f"{statistics.median(ratios):.2f}; per-shard start-up cost {start_up:.1f} s")
    print(f"load after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
