"""Target 4: API arm throughput at concurrency 16 vs sequential, against a local OpenAI-compatible
server that adds 200 ms of latency per request (it serves a canned reply, so this measures the
harness, not a model). Prints the ratio; the target is >= 10x.

Then replies of mixed lengths (every 8th request takes 5x as long, as a long reply would): the
concurrent arm's time against the ideal of `concurrency` threads never idle, requests started in job
order (list scheduling's makespan), and what sending in groups of `concurrency` that each wait for
their slowest would take for the same latencies (computed, not run).

    python benchmarks/api_concurrency.py [--requests 128] [--latency 0.2] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from psm_eval.run.runner import run  # noqa: E402
from psm_eval.run.start import resolve_config  # noqa: E402
from tests.fixtures.openai_server import ModelServer, ServerFaults  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=128)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="psm-bench-api-"))
    task = work / "task"
    task.mkdir()
    (task / "data.jsonl").write_text("".join(json.dumps({"id": f"s{i}", "q": f"question {i}"}) + "\n"
                                             for i in range(args.requests)))
    (task / "task.yaml").write_text("name: bench\nversion: 1\ndescription: d\ndata: {path: data.jsonl}\n"
                                    "fields: {id: id, prompt: q}\ngeneration: {max_gen_toks: 16}\n")
    def slow(i: int) -> float:
        return args.latency * (5 if i % 8 == 3 else 1)

    def latency_of(body: dict) -> float:
        return slow(int(json.dumps(body).split("question ")[1].split('"')[0].split("\\")[0]))

    server = ModelServer(None, ServerFaults(latency_s=args.latency))
    times = {}

    def timed(name: str, n: int) -> float:
        arm = (f"api=local-chat-completions:base_url={server.url}/chat/completions,model=m,"
               f"tokenizer_backend=none,num_concurrent={n},render=chat")
        config = resolve_config(tasks=[str(task)], arms=[arm], out=str(work / f"runs-{name}"), cache=False)
        start = time.perf_counter()
        out = run(config, progress=False)
        took = time.perf_counter() - start
        ok = sum(json.loads(line)["status"] == "ok" for line in (out / "generations.jsonl").read_text().splitlines())
        assert ok == args.requests, f"{ok} of {args.requests} ok"
        return took

    try:
        for n in (1, args.concurrency):
            times[n] = timed(f"even{n}", n)
        server.faults.latency_of = latency_of
        mixed = timed("mixed", args.concurrency)
    finally:
        server.close()
    seq, conc = times[1], times[args.concurrency]
    print(f"requests: {args.requests}, server latency: {args.latency * 1000:.0f} ms")
    print(f"sequential:     {seq:7.2f} s  ({args.requests / seq:6.1f} req/s)")
    print(f"concurrency {args.concurrency}: {conc:7.2f} s  ({args.requests / conc:6.1f} req/s)")
    print(f"throughput ratio: {seq / conc:.1f}x (target >= 10x); efficiency against "
          f"{args.requests} x {args.latency:g} s / {args.concurrency}: {args.requests * args.latency / args.concurrency / conc:.2f}")
    c, lat = args.concurrency, [slow(i) for i in range(args.requests)]
    free = [0.0] * c  # threads never idle, requests started in job order: list scheduling's makespan
    for x in lat:
        heapq.heapreplace(free, free[0] + x)
    ideal = max(free)
    grouped = sum(max(lat[k:k + c]) for k in range(0, len(lat), c))
    print(f"mixed latencies (every 8th x5), concurrency {c}: {mixed:7.2f} s ({args.requests / mixed:6.1f} req/s); "
          f"ideal {ideal:.2f} s -> efficiency {ideal / mixed:.2f}; groups waiting for their slowest would take "
          f">= {grouped:.2f} s ({grouped / mixed:.1f}x this run)")


if __name__ == "__main__":
    main()
