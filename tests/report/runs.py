"""Hand-written run folders for report tests (reports read only the store, so a folder written
here is a complete input), including one full of hostile strings."""

from __future__ import annotations

import json
import random
from pathlib import Path

from psm_eval.data.task import load_task
from psm_eval.records import Counts, MetricInfo, Score, SummaryRecord, TaskEntry, UnscoredCount
from tests.fixtures.records import arm_entry, declarations, generation, manifest, task_entry, write_folder

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


def _task_folder(root: Path, name: str, spec: str, rows: list[dict]) -> TaskEntry:
    """A real task folder, and its manifest entry as a run records it (so reports find its samples)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.yaml").write_text(spec, encoding="utf-8")
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    task = load_task(folder)
    return TaskEntry(name=task.name, version=task.version, data_hash=task.data_hash, kind=task.spec.kind,
                     mode=task.spec.mode, n_samples=len(task.samples), path=str(task.directory),
                     spec=task.spec.model_dump(mode="json"), spec_hash=task.spec_hash)


QA_SPEC = """name: qa
version: 1
description: Questions with reference answers.
data: {path: data.jsonl}
fields: {id: id, prompt: question, references: references, metadata: [category, pressure]}
scorers: [contains]
"""
TALK_SPEC = """name: talk
version: 1
description: Three-turn rollouts.
mode: rollout
data: {path: data.jsonl}
fields: {id: id, dialogue: dialogue, metadata: [pressure]}
"""


def rich_run(path: Path, n: int = 24, seed: int = 0) -> Path:
    """A scored run over real task folders (references, metadata, a rollout task): three arms (two
    transcript-rendered, one chat), score details, a drift-by-turn chart, declared directions (refused:
    lower, length: neither), one timeout failure, and absolute paths in its arms' specs."""
    rng = random.Random(seed)
    tasks_root = path.parent / "tasks"
    qa = _task_folder(tasks_root, "qa", QA_SPEC, [
        {"id": f"q{i:03d}", "question": f"What is the capital of land {i}?", "references": [f"City{i}", f"Town{i}"],
         "category": ["geo", "history"][i % 2], "pressure": ["none", "high"][i % 3 == 0]} for i in range(n)])
    talk = _task_folder(tasks_root, "talk", TALK_SPEC, [
        {"id": f"d{i:02d}", "pressure": "facts", "dialogue": [{"role": "user", "content": f"Who are you? ({i})"},
                                                              {"role": "user", "content": "What is 2 + 2?"},
                                                              {"role": "user", "content": "And your name?"}]}
        for i in range(6)])
    arms = ("base", "base-plain", "chat")
    model_dir = str(path.parent / "models" / "tiny-base")
    arm_entries = [arm_entry("base", f"transcript:{path.parent / 'personas' / 'query.j2'}", "hf",
                             {"pretrained": model_dir}),
                   arm_entry("base-plain", "transcript:plain", "hf", {"pretrained": model_dir}),
                   arm_entry("chat", "chat", "hf", {"pretrained": str(path.parent / "models" / "tiny-chat")})]
    gens, scores = [], []
    for i in range(n):
        sid = f"q{i:03d}"
        for arm in arms:
            failed = arm == "base" and i == 5
            good = rng.random() < (0.9 if arm == "chat" else 0.6)
            reply = f"It is City{i}." if good else "I am not sure."
            gens.append(generation("qa", sid, arm, output=reply, failed=failed,
                                   renderer="chat" if arm == "chat" else "transcript",
                                   prompt_text=f"User: What is the capital of land {i}?\nAssistant:"))
            for scorer, metric, value, detail in (
                    ("contains", "correct", float(good), {"matched": f"City{i}"} if good else {"matched": None}),
                    ("reply_signals", "refused", float(not good and rng.random() < 0.5), {}),
                    ("reply_signals", "length_tokens", float(len(reply.split())), {})):
                scores.append(Score(task="qa", task_version="1", sample_id=sid, arm=arm, turn=0, repeat=0,
                                    scorer=scorer, scorer_version="1", metric=metric,
                                    value=None if failed else value, unscored="generation failed" if failed else None,
                                    binary=metric != "length_tokens", detail={} if failed else detail))
    for i in range(6):
        sid = f"d{i:02d}"
        for arm in arms:
            for turn in range(3):
                keeps = arm == "chat" or rng.random() < 0.7
                gens.append(generation("talk", sid, arm, output="I am an AI assistant." if keeps else "Arr, matey.",
                                       turn=turn, renderer="chat" if arm == "chat" else "transcript",
                                       prompt_text=f"User: turn {turn}\nAssistant:"))
                scores.append(Score(task="talk", task_version="1", sample_id=sid, arm=arm, turn=turn, repeat=0,
                                    scorer="drift", scorer_version="1", metric="consistent", value=float(keeps),
                                    binary=True, detail={"claims": ["ai: an AI assistant"] if keeps else ["pirate"]}))
    decl = {(m.task, m.scorer, m.metric): m for m in declarations(scores)}
    decl[("talk", "drift", "consistent")] = MetricInfo(task="talk", scorer="drift", scorer_version="1",
                                                       metric="consistent", family="persona consistency",
                                                       direction="higher", kind="binary", chart="by_turn")
    records = []
    by_arm: dict[tuple[str, str], list[float]] = {}
    for s in scores:
        if s.task == "qa" and s.value is not None:
            by_arm.setdefault((s.metric, s.arm), []).append(s.value)
    for (metric, arm), v in by_arm.items():
        scorer = "contains" if metric == "correct" else "reply_signals"
        m = sum(v) / len(v)
        records.append(SummaryRecord(statistic="mean", task="qa", scorer=scorer, scorer_version="1", metric=metric,
                                     stratum=None, arm=arm, arm_pair=None, estimate=m, ci_low=m - 0.1,
                                     ci_high=m + 0.1, n=len(v), n_clusters=len(v), n_unscored=0, method="t"))
    for metric, scorer, est in (("correct", "contains", 0.3), ("refused", "reply_signals", 0.083),
                                ("length_tokens", "reply_signals", -0.69)):
        records.append(SummaryRecord(statistic="difference", task="qa", scorer=scorer, scorer_version="1",
                                     metric=metric, stratum=None, arm=None, arm_pair=("chat", "base"), estimate=est,
                                     ci_low=est - 0.05, ci_high=est + 0.05, n=n, n_clusters=n, n_unscored=1,
                                     p_value=0.01, method="paired"))
    run = manifest(path.name, [qa, talk], arm_entries, seed=seed).model_copy(update={"counts": {
        "base": Counts(ok=n + 17, failed=1, failures={"timeout": 1}), "base-plain": Counts(ok=n + 18),
        "chat": Counts(ok=n + 18)}})
    return write_folder(path, run, gens, scores, records=records, metrics=list(decl.values()))
