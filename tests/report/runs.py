"""Hand-written run folders for report tests (reports read only the store, so a folder written
here is a complete input), including one full of hostile strings."""

from __future__ import annotations

import random
from pathlib import Path

from psm_eval.records import Score, SummaryRecord, UnscoredCount
from tests.fixtures.records import arm_entry, generation, manifest, task_entry, write_folder

HOSTILE = [
    "<script>window.__pwned = 1</script>",
    '"><img src=x onerror="window.__pwned=2">',
    "[click](javascript:window.__pwned=3) <a href=\"javascript:window.__pwned=3\">x</a>",
    "{{ 7*7 }} {% raw %} {{ config }}",
    "</script><script>window.__pwned=4</script><!--",
    "\u202eRTL override\u202c and controls \x00\x01\x07\x1b[31m \u2028 \u2029 end",
    "=1+1", "+SUM(A1:A2)", "-2+3", "@cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example","x")',
]
BIG = "A" * (1024 * 1024)


def write_run(path: Path, n: int = 20, arms: tuple[str, ...] = ("base", "chat"), replies: list[str] | None = None,
              prompt_len: int = 200, seed: int = 0, run_id: str | None = None, sample_prefix: str = "s") -> Path:
    """A scored run: `n` samples of task `facts`, a `contains.correct` and a `frame_integrity.in_frame` score
    per reply, a summary with means and a difference. `replies` cycle over the samples (hostile tests)."""
    rng = random.Random(seed)
    run_id = run_id or path.name
    arm_entries = [arm_entry(a, "transcript:assistant" if i == 0 else "chat", "hf",
                             {"pretrained": "base-model" if i == 0 else f"model-{a}"}) for i, a in enumerate(arms)]
    values: dict[str, list[float]] = {a: [] for a in arms}
    gens, scores = [], []
    header = "The following is a conversation between a user and a helpful, honest AI assistant.\n" * (prompt_len // 80)
    for i in range(n):
        sid = f"{sample_prefix}{i:05d}"
        question = f"Question {i}: what is {i} + {i}?"
        for k, arm in enumerate(arms):
            failed = i == 3 and k == 0
            reply = replies[i % len(replies)] if replies else f"The answer is {2 * i if rng.random() < 0.8 else i}."
            gens.append(generation("facts", sid, arm, output=reply, failed=failed,
                                   renderer="transcript" if k == 0 else "chat",
                                   prompt_text=(header + f"User: {question}\nAssistant:") if k == 0 else
                                   f"<|user|>{question}<|end|><|assistant|>"))
            correct = None if failed else float(str(2 * i) in reply)
            for scorer, metric, value in (("contains", "correct", correct),
                                          ("frame_integrity", "in_frame", None if failed else float(k > 0 or i % 4 != 0))):
                scores.append(Score(task="facts", task_version="1", sample_id=sid, arm=arm, turn=0, repeat=0,
                                    scorer=scorer, scorer_version="1", metric=metric, value=value,
                                    unscored="generation failed" if value is None else None, binary=True))
            if correct is not None:
                values[arm].append(correct)
    records = []
    for arm in arms:
        v = values[arm]
        m = sum(v) / len(v) if v else None
        records.append(SummaryRecord(statistic="mean", task="facts", scorer="contains", scorer_version="1",
                                     metric="correct", stratum=None, arm=arm, arm_pair=None, estimate=m,
                                     ci_low=None if m is None else max(0.0, m - 0.1),
                                     ci_high=None if m is None else min(1.0, m + 0.1), n=len(v), n_clusters=len(v),
                                     n_unscored=n - len(v), method="bootstrap"))
    if len(arms) > 1:
        a, b = arms[1], arms[0]
        ma, mb = records[1].estimate, records[0].estimate
        assert ma is not None and mb is not None
        records.append(SummaryRecord(statistic="difference", task="facts", scorer="contains", scorer_version="1",
                                     metric="correct", stratum=None, arm=None, arm_pair=(a, b), estimate=ma - mb,
                                     ci_low=ma - mb - 0.05, ci_high=ma - mb + 0.05, n=n, n_clusters=n, n_unscored=1,
                                     p_value=0.001, p_holm=0.002, method="paired"))
    run = manifest(run_id, [task_entry("facts", data_hash="d" * 16, n_samples=n)], arm_entries)
    return write_folder(path, run, gens, scores, records=records, unscored=[
        UnscoredCount(task="facts", scorer="contains", arm=arms[0], reason="generation failed", count=1)])


def hostile_run(path: Path) -> Path:
    """A run whose replies (and so prompts' neighbours, ids and scores) carry hostile strings and a 1 MB reply."""
    return write_run(path, n=len(HOSTILE) + 2, replies=[*HOSTILE, BIG, "plain"])
