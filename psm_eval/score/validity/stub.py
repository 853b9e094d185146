"""A stub OpenAI-compatible judge on 127.0.0.1, and the judge checks run through it: planted good and bad
replies, judged by a scripted judge that is right, one that always prefers the first answer shown, and one
whose replies cannot be parsed — through psm_eval's real judge path (API backend, chat rendering, fenced
prompt templates, verdict parsing). The same planted set measures any judge given with `--judge`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from psm_eval.score.judge_quality import judge_quality
from psm_eval.score.scorers.judge import Judge, create_judge
from psm_eval.score.validity.cases import Observation, observe, run_case

__all__ = ["PLANTED", "POLICIES", "StubJudgeServer", "JudgeCheck", "judge_cases", "check_judge"]

# (question, a good reply, a bad reply): the bad one is wrong, refuses, dodges or runs off-topic
PLANTED: tuple[tuple[str, str, str], ...] = (
    ("What is the capital of Portugal?", "The capital of Portugal is Lisbon.", "The capital of Portugal is Madrid."),
    ("How many legs does a spider have?", "A spider has eight legs.", "Spiders have six legs, like all insects."),
    ("What is 7 plus 5?", "7 plus 5 is 12.", "7 plus 5 is 13."),
    ("What colour is a ripe banana?", "A ripe banana is yellow.", "I would rather not say."),
    ("Translate 'thank you' into French.", "'Thank you' in French is 'merci'.", "Figure it out yourself."),
    ("Name a planet with rings.", "Saturn is a planet with prominent rings.", "The Moon has rings."),
    ("What gas do plants take in for photosynthesis?", "Plants take in carbon dioxide.",
     "lol who cares, just google it"),
    ("Who wrote 'Romeo and Juliet'?", "William Shakespeare wrote 'Romeo and Juliet'.",
     "'Romeo and Juliet' was written by Charles Dickens."),
    ("What is the boiling point of water at sea level in Celsius?", "Water boils at 100 degrees Celsius at sea level.",
     "Water boils at 50 degrees Celsius at sea level."),
    ("Give one synonym for 'happy'.", "'Joyful' is a synonym for 'happy'.", "The capital of Norway is Oslo."),
    ("How many days are in a leap year?", "A leap year has 366 days.", "A leap year has 365 days."),
    ("What is the largest ocean on Earth?", "The Pacific Ocean is the largest.", "Arr, the Atlantic be the biggest!"),
)
POLICIES = ("right", "first", "garbled")
_BLOCK = r"\[The Start of {name} (F\w+)\]\n(.*?)\n\[The End of {name} \1\]"


def _block(text: str, name: str) -> str | None:
    m = re.search(_BLOCK.format(name=re.escape(name)), text, re.S)
    return m.group(2) if m else None


def _reply(policy: str, text: str) -> str:
    """The scripted judge's reply to one judge prompt."""
    good = {g for _, g, _ in PLANTED}
    if policy == "garbled":
        return "Both answers have their merits; I lean towards the first one overall."
    a, b = _block(text, "Assistant A's Answer"), _block(text, "Assistant B's Answer")
    if a is not None and b is not None:
        if policy == "first":
            return "The first answer is better. [[A]]"
        verdict = "C" if (a in good) == (b in good) else "A" if a in good else "B"
        return f"Comparing the two answers. [[{verdict}]]"
    answer = _block(text, "the Assistant's Answer")
    if answer is not None:
        rating = 6 if policy == "first" else 9 if answer in good else 2
        return f"Rating: [[{rating}]]"
    return "No verdict for this kind of prompt."


class StubJudgeServer:
    """`POST /v1/chat/completions` and `GET /v1/models` on 127.0.0.1; the request's `model` names the policy."""

    def __init__(self) -> None:
        self.requests = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def spec(self, policy: str) -> str:
        return (f"local-chat-completions:base_url={self.url}/chat/completions,model={policy},"
                "tokenizer_backend=none,render=chat,max_gen_toks=64")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> StubJudgeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet: the card prints its own table
                pass

            def _send(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                self._send({"object": "list", "data": [{"id": p, "object": "model"} for p in POLICIES]})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                server.requests += 1
                text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
                reply = _reply(str(body.get("model", "right")), text)
                self._send({"id": "stub", "object": "chat.completion", "model": body.get("model"),
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": reply}}],
                            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})

        return Handler


def judge_cases() -> list[dict[str, Any]]:
    """The planted good/bad replies as cases for pairwise_judge (good vs bad, bad vs good, good vs an equal
    good reply: a tie) and rubric_judge (good rated above bad)."""
    items = [{"id": f"p{i:02d}", "prompt": q} for i, (q, _, _) in enumerate(PLANTED)]
    records: list[dict[str, Any]] = []
    for i, (_, good, bad) in enumerate(PLANTED):
        sid = f"p{i:02d}"
        records += [{"sample_id": sid, "arm": "good", "output": good,
                     "truth": {"win": 1, "loss": 0, "tie": 0, "preference": 1.0}},
                    {"sample_id": sid, "arm": "bad", "output": bad,
                     "truth": {"win": 0, "loss": 1, "tie": 0, "preference": 0.0}},
                    {"sample_id": sid, "arm": "same", "output": good,
                     "truth": {"win": 0, "loss": 0, "tie": 1, "preference": 0.5}}]
    arms = [{"name": n, "render": "chat"} for n in ("good", "bad", "same")]
    pairwise = {"scorer": "pairwise_judge", "name": "planted good and bad replies, both orders", "source": "stub",
                "args": {"pairs": [["good", "bad"], ["bad", "good"], ["same", "good"]]}, "arms": arms,
                "samples": items, "records": records}
    rubric_records = [{"sample_id": r["sample_id"], "arm": r["arm"], "output": r["output"],
                       "truth": {"rating": 9.0 if r["arm"] != "bad" else 2.0}} for r in records]
    rubric = {"scorer": "rubric_judge", "name": "planted good and bad replies rated", "source": "stub",
              "args": {"compact": False}, "arms": arms, "samples": items, "records": rubric_records}
    return [pairwise, rubric]


@dataclass(frozen=True)
class JudgeCheck:
    """A judge on the planted good/bad replies."""

    judge: str
    expected: str
    """What the check is: `right` (should pass), `position-biased`, `unparseable` (should be caught), `given`."""
    pairwise_accuracy: float | None
    """Share of planted (good, bad) pairs where the good reply wins in both orders."""
    rubric_accuracy: float | None
    """Share of planted questions where the good reply is rated above the bad one."""
    position_agreement: float | None
    first_position_rate: float | None
    parse_failure_rate: float | None
    request_failure_rate: float | None
    """Share of judge requests that failed (a prompt past the judge's context, a server error …)."""
    failures: tuple[str, ...]

    @property
    def passes(self) -> bool:
        return not self.failures


def _accuracy(pair_scores: Sequence[Any], rubric_scores: Sequence[Any]) -> tuple[float | None, float | None]:
    wins = [s.value for s in pair_scores if s.metric == "win" and s.arm == "good" and s.other_arm == "bad"
            and s.stratum is None]
    pair = sum(1 for v in wins if v == 1.0) / len(wins) if wins else None
    ratings: dict[tuple[str, str], float | None] = {(s.sample_id, s.arm): s.value for s in rubric_scores
                                                    if s.stratum is None}
    ids = sorted({sid for sid, _ in ratings})
    above = [(ratings.get((i, "good")) or 0) > (ratings.get((i, "bad")) or 0) for i in ids
             if ratings.get((i, "good")) is not None and ratings.get((i, "bad")) is not None]
    return pair, (sum(above) / len(ids) if ids else None)


def check_judge(judge: Judge, expected: str) -> tuple[JudgeCheck, list[Observation]]:
    """Run the planted good/bad cases through `judge`: its check, and (for metric rows) the observations."""
    pairwise, rubric = judge_cases()
    pair_scores, rubric_scores = run_case(pairwise, judge=judge), run_case(rubric, judge=judge)
    pair_acc, rubric_acc = _accuracy(pair_scores, rubric_scores)
    quality = {q.scorer: q for q in judge_quality(list(pair_scores) + list(rubric_scores), judge.spec)}
    pq = quality.get("pairwise_judge")
    rates = [q.parse_failure_rate for q in quality.values() if q.parse_failure_rate is not None]
    parse = max(rates) if rates else None
    judged = sum(q.judged for q in quality.values())
    failed = sum(q.request_failures for q in quality.values()) / judged if judged else None
    fails = []
    if failed is None or failed > 0.05:
        fails.append("request failures")
    if pair_acc is None or pair_acc < 0.9:
        fails.append("pairwise accuracy")
    if rubric_acc is None or rubric_acc < 0.9:
        fails.append("rubric accuracy")
    if pq is None or pq.position_agreement is None or pq.position_agreement < 0.9:
        fails.append("position agreement")
    if parse is None or parse > 0.05:
        fails.append("parse failures")
    check = JudgeCheck(judge.spec, expected, pair_acc, rubric_acc, pq.position_agreement if pq else None,
                       pq.first_position_rate if pq else None, parse, failed, tuple(fails))
    return check, observe(pairwise, pair_scores) + observe(rubric, rubric_scores)


def stub_judges(server: StubJudgeServer, make: Callable[[str], Judge] | None = None
                ) -> list[tuple[str, Judge]]:
    """The three scripted judges behind the stub server, as (expected, judge)."""
    build = make or (lambda text: create_judge(text))
    names = {"right": "right", "first": "position-biased", "garbled": "unparseable"}
    return [(names[p], build(server.spec(p))) for p in POLICIES]
