"""Target 4: API arm throughput at concurrency 16 vs sequential, against a local OpenAI-compatible
server that adds 200 ms of latency per request (it serves a canned reply, so this measures the
harness, not a model). Prints the ratio; the target is >= 10x.

    python benchmarks/api_concurrency.py [--requests 128] [--latency 0.2]
"""

from __future__ import annotations

import argparse
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
    server = ModelServer(None, ServerFaults(latency_s=args.latency))
    times = {}
    try:
        for n in (1, args.concurrency):
            arm = (f"api=local-chat-completions:base_url={server.url}/chat/completions,model=m,"
                   f"tokenizer_backend=none,num_concurrent={n},render=chat")
            config = resolve_config(tasks=[str(task)], arms=[arm], out=str(work / f"runs{n}"), cache=False)
            start = time.perf_counter()
            out = run(config, progress=False)
            times[n] = time.perf_counter() - start
            ok = sum(json.loads(line)["status"] == "ok" for line in (out / "generations.jsonl").read_text().splitlines())
            assert ok == args.requests, f"{ok} of {args.requests} ok"
    finally:
        server.close()
    seq, conc = times[1], times[args.concurrency]
    print(f"requests: {args.requests}, server latency: {args.latency * 1000:.0f} ms")
    print(f"sequential:     {seq:7.2f} s  ({args.requests / seq:6.1f} req/s)")
    print(f"concurrency {args.concurrency}: {conc:7.2f} s  ({args.requests / conc:6.1f} req/s)")
    print(f"throughput ratio: {seq / conc:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
