"""Run a data-driven scorer case (one line of tests/scorers/cases/*.jsonl) and check its expectations.

A case gives the task kind/mode, samples, stored generation records (defaults filled in), optional
judge rules and base-model script, and the scores it expects (matched on the fields they name).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from psm_eval.backends import ModelSpec
from psm_eval.records import GenerationRecord
from psm_eval.score.scorers.base import ArmInfo, Score, TaskView
from psm_eval.score.scorers.registry import build_scorer
from psm_eval.score.validity.cases import plant_activations
from psm_eval.data.task import TaskSpec
from psm_eval.types import Sample, Turn
from tests.scorers.fakes import CharBackend, scripted_judge

CASES_DIR = Path(__file__).parent / "cases"
ARMS = [{"name": "base", "render": "transcript:plain"}, {"name": "chat", "render": "chat"}]
MATCH_KEYS = ("sample_id", "arm", "metric", "turn", "repeat", "stratum", "other_arm")


def load_cases() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(CASES_DIR.glob("*.jsonl")):
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                case = json.loads(line)
                out.append((f"{path.stem}:{n}:{case['name']}", case))
    return out


def _spec(case: dict) -> TaskSpec:
    t = case.get("task", {})
    return TaskSpec.model_validate({
        "name": "t", "version": 1, "description": "case", "kind": t.get("kind", "generate"),
        "mode": t.get("mode", "gold"), "data": {"path": "data.jsonl"},
        "fields": {"prompt": "q", **({"choices": "c", "answer": "a"} if t.get("kind") == "multiple_choice" else {})}})


def _sample(d: dict) -> Sample:
    turns = [Turn(m["role"], m["content"]) for m in d["dialogue"]] if "dialogue" in d else [Turn("user", d.get("prompt", "Q?"))]
    return Sample(id=d["id"], task="t", turns=tuple(turns), references=tuple(d.get("references", [])),
                  choices=tuple(d.get("choices", [])), gold=d.get("gold"), metadata=d.get("metadata", {}))


PROMPT = {"text": "", "renderer": "transcript", "template": "plain", "template_hash": "", "stop": []}


def _record(d: dict, kind: str) -> GenerationRecord:
    """A stored generation record from a case's few fields; the rest take neutral defaults."""
    full = {"task": "t", "task_version": "1", "turn": 0, "repeat": 0, "kind": kind, "status": "ok", "finish": "stop",
            "gen": None, "continuations": None, "output": None, "logprobs": None, "error": None, "attempts": 1, **d}
    full["prompt"] = {**PROMPT, **(d.get("prompt") or {})}
    full.setdefault("key", f"t/{full['sample_id']}/{full['arm']}/t{full['turn']}/r{full['repeat']}")
    if full["status"] != "ok":
        full["error"] = full["error"] or {"kind": "backend_error", "message": "boom"}
    return GenerationRecord.model_validate(full)


def build_view(case: dict, run_dir: Path | None = None) -> TaskView:
    spec = _spec(case)
    kind = "loglikelihood" if spec.kind == "multiple_choice" else "generate"
    arms = tuple(ArmInfo(a["name"], ModelSpec("dummy"), a["render"], a.get("system")) for a in case.get("arms", ARMS))
    judge = scripted_judge([tuple(r) for r in case["judge"]], case.get("judge_default", "no verdict")) if "judge" in case else None
    model_for = (lambda arm: CharBackend(case["base_model"]["prefers"])) if "base_model" in case else None
    return TaskView(spec=spec, samples={s["id"]: _sample(s) for s in case["samples"]},
                    records=tuple(_record({k: v for k, v in r.items() if k != "activation"}, kind)
                                  for r in case["records"]), arms=arms, judge=judge,
                    model_for=model_for, run_dir=run_dir)


def run_case(case: dict) -> list[Score]:
    if "activations" in case:  # the activation scorer: a planted store and directions files in a run folder
        with tempfile.TemporaryDirectory(prefix="psm-case-") as tmp:
            args = {**case.get("args", {}), **plant_activations(case, Path(tmp), "t", case["records"])}
            info, _, scorer = build_scorer(case["scorer"], args, "case")
            return [s.model_copy(update={"scorer": info.name, "scorer_version": info.version})
                    for s in scorer(build_view(case, Path(tmp)))]
    info, _, scorer = build_scorer(case["scorer"], case.get("args", {}), "case")
    return [s.model_copy(update={"scorer": info.name, "scorer_version": info.version}) for s in scorer(build_view(case))]


def _matches(score: Score, want: dict[str, Any]) -> bool:
    """Fields the expectation names must be equal; stratum and other_arm default to None."""
    defaults = {"stratum": None, "other_arm": None}
    got = {k: getattr(score, k) for k in MATCH_KEYS}
    got["stratum"] = score.stratum.to_json() if score.stratum else None
    return all(got[k] == want.get(k, defaults.get(k)) for k in MATCH_KEYS if k in want or k in defaults)


def check(case: dict, scores: list[Score]) -> None:
    for want in case["expect"]:
        hits = [s for s in scores if _matches(s, want)]
        assert len(hits) == 1, f"{want}: expected one matching score, got {len(hits)}: {hits}"
        got = hits[0]
        if "unscored" in want:
            assert got.value is None and got.unscored == want["unscored"], f"{want}: got {got.value} / {got.unscored}"
        else:
            assert got.unscored is None and got.value is not None, f"{want}: unscored: {got.unscored}"
            assert math.isclose(got.value, want["value"], abs_tol=want.get("tol", 1e-9)), f"{want}: got {got.value}"
        for key, value in want.get("detail", {}).items():
            assert got.detail.get(key) == value, f"{want}: detail {key} = {got.detail.get(key)}"
        if want.get("judged"):
            assert got.judge and all(j.prompt for j in got.judge), f"{want}: no judge trace"
    if "n_scores" in case:
        assert len(scores) == case["n_scores"], f"expected {case['n_scores']} scores, got {len(scores)}"
    for s in scores:
        assert (s.value is None) == (s.unscored is not None), f"value/unscored mismatch: {s}"
