"""Planted cases: replies whose truth is known by construction, run through a registered scorer.

A case file holds one JSON object per line (`cases/<scorer>.jsonl`, or any file given to `load_cases`):

```
{"scorer": "frame_integrity", "name": "what the case set plants", "source": "synthetic",
 "args": {...}, "task": {"kind": "generate", "mode": "gold"},
 "defaults": {...record fields every record starts from...},
 "items": [{"question": "...", "reply": "...", "truth": {"in_frame": 0}, "record": {...}, "metadata": {...}}]}
```

`items` is the short form: one sample and one reply each. The long form gives `samples` (id, prompt or
dialogue, references, choices, gold, metadata) and `records` (stored generation records; the omitted
fields take neutral defaults), each record with its own `truth`. A truth maps a metric to its known
value, or to null when the reply has no truth to score (it must come out *unscored*). `truths` adds
truths of scores that belong to no single record (`{"sample_id", "arm", "metric", "value", "repeat": null}`).
Optional: `base_ranks` (token_shift: per reply, the planted rank of each continuation token under the base
model), `judge` (`right`, `first` or `garbled`: the stub judge that answers this case's judge calls).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psm_eval.backends import ModelSpec
from psm_eval.data.task import TaskSpec
from psm_eval.records import GenerationRecord
from psm_eval.score.scorers.base import ArmInfo, Score, TaskView
from psm_eval.score.scorers.registry import ScoringError, build_scorer
from psm_eval.types import Sample, Turn

__all__ = ["CASES_DIR", "Observation", "load_cases", "run_case", "observe"]

CASES_DIR = Path(__file__).parent / "cases"
ARMS = ({"name": "base", "render": "transcript:plain"}, {"name": "chat", "render": "chat"})
_PROMPT = {"text": "", "renderer": "chat", "template": "model", "template_hash": "", "stop": []}


@dataclass(frozen=True)
class Observation:
    """One scorer output next to the truth planted for it."""

    scorer: str
    metric: str
    source: str
    """`synthetic`, `organism` (a real model run whose truth is known by construction), `stub` (through a
    stub server on 127.0.0.1), `simulation` (statistics on draws from known distributions)."""
    case: str
    truth: float | None
    """The known value; None: the reply has none, and the scorer must leave it unscored."""
    predicted: float | None
    """The scorer's value; None when it left the reply unscored."""
    interval: tuple[float | None, float | None] | None = None
    """The reported interval, for statistics that have one (coverage)."""
    item: str = ""


def load_cases(paths: Iterable[Path] | None = None) -> list[dict[str, Any]]:
    """Every case of the given files (default: the shipped `cases/*.jsonl`)."""
    out = []
    for path in sorted(paths if paths is not None else CASES_DIR.glob("*.jsonl")):
        for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                case = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ScoringError(f"{path}:{n}: a planted case is not JSON ({exc.msg})") from None
            if not isinstance(case, dict) or not isinstance(case.get("scorer"), str):
                raise ScoringError(f"{path}:{n}: a planted case needs a \"scorer\" name")
            case.setdefault("name", f"{Path(path).stem}:{n}")
            out.append(case)
    return out


def _spec(case: dict[str, Any]) -> TaskSpec:
    t = case.get("task", {})
    mc = t.get("kind") == "multiple_choice"
    return TaskSpec.model_validate({
        "name": "planted", "version": 1, "description": case.get("name", "planted cases"),
        "kind": t.get("kind", "generate"), "mode": t.get("mode", "gold"), "data": {"path": "data.jsonl"},
        "fields": {"prompt": "q", **({"choices": "c", "answer": "a"} if mc else {})}})


def _sample(d: dict[str, Any]) -> Sample:
    turns = ([Turn(m["role"], m["content"]) for m in d["dialogue"]] if "dialogue" in d
             else [Turn("user", d.get("prompt", "Q?"))])
    return Sample(id=d["id"], task="planted", turns=tuple(turns), references=tuple(d.get("references", [])),
                  choices=tuple(d.get("choices", [])), gold=d.get("gold"), metadata=d.get("metadata", {}))


def _record(d: dict[str, Any], kind: str, defaults: dict[str, Any]) -> GenerationRecord:
    full: dict[str, Any] = {"task": "planted", "task_version": "1", "turn": 0, "repeat": 0, "kind": kind,
                            "status": "ok", "finish": "stop", "gen": None, "continuations": None, "output": None,
                            "logprobs": None, "error": None, "attempts": 1, **defaults,
                            **{k: v for k, v in d.items() if k != "truth"}}
    full["prompt"] = {**_PROMPT, **(defaults.get("prompt") or {}), **(d.get("prompt") or {})}
    full.setdefault("key", f"planted/{full['sample_id']}/{full['arm']}/t{full['turn']}/r{full['repeat']}")
    if full["status"] != "ok":
        full["error"] = full["error"] or {"kind": "backend_error", "message": "planted failure"}
    return GenerationRecord.model_validate(full)


def expand(case: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(samples, records) of a case, the short `items` form expanded."""
    samples, records = list(case.get("samples", [])), list(case.get("records", []))
    arm = case.get("defaults", {}).get("arm", "chat")
    for i, item in enumerate(case.get("items", [])):
        sid = item.get("id", f"i{i:03d}")
        sample = {"id": sid, "metadata": item.get("metadata", {}), "references": item.get("references", []),
                  "choices": item.get("choices", []), "gold": item.get("gold")}
        sample.update({"dialogue": item["dialogue"]} if "dialogue" in item else {"prompt": item.get("question", "Q?")})
        samples.append(sample)
        records.append({"sample_id": sid, "arm": item.get("arm", arm), "output": item.get("reply"),
                        **item.get("record", {}), "truth": item.get("truth", {})})
    return samples, records


def run_case(case: dict[str, Any], judge: Any = None, model_for: Callable[[str], Any] | None = None
             ) -> list[Score]:
    """The scorer's scores on a case (named and versioned as the stage names them)."""
    info, _, scorer = build_scorer(case["scorer"], case.get("args", {}), f"planted case '{case.get('name')}'")
    spec = _spec(case)
    kind = "loglikelihood" if spec.kind == "multiple_choice" else "generate"
    samples, records = expand(case)
    arms = tuple(ArmInfo(a["name"], ModelSpec("planted"), a["render"], a.get("system"))
                 for a in case.get("arms", ARMS))
    view = TaskView(spec=spec, samples={s["id"]: _sample(s) for s in samples}, arms=arms, judge=judge,
                    records=tuple(_record(r, kind, case.get("defaults", {})) for r in records), model_for=model_for)
    return [s.model_copy(update={"scorer": info.name, "scorer_version": info.version}) for s in scorer(view)]


def observe(case: dict[str, Any], scores: Sequence[Score]) -> list[Observation]:
    """Each planted truth of the case beside the score it planted for (overall scores only)."""
    got: dict[tuple, Score] = {}
    for s in scores:
        if s.stratum is None:
            got.setdefault((s.sample_id, s.arm, s.turn, s.repeat, s.metric), s)
    _, records = expand(case)
    wanted = [((r["sample_id"], r.get("arm", "chat"), r.get("turn", 0), r.get("repeat", 0), m), v)
              for r in records for m, v in r.get("truth", {}).items()]
    wanted += [((t["sample_id"], t.get("arm", "chat"), t.get("turn", 0), t.get("repeat"), t["metric"]), t["value"])
               for t in case.get("truths", [])]
    source, name = case.get("source", "synthetic"), case.get("name", "")
    out = []
    for key, truth in wanted:
        found = got.get(key)
        if found is None:
            raise ScoringError(f"planted case '{name}': the scorer gave no '{key[-1]}' score for "
                               f"{'/'.join(str(k) for k in key[:4])}")
        s = found
        out.append(Observation(case["scorer"], key[-1], source, name, None if truth is None else float(truth),
                               s.value, item=f"{key[0]}/{key[1]}"))
    return out


class _Chars:
    def decode(self, ids: Sequence[int]) -> str:
        return "".join(chr(i) for i in ids)


class _PlantedLM:
    """A character-level 'model' under which each token of a planted continuation has its planted rank."""

    tokenizer = _Chars()
    device = "cpu"
    max_length = 4096

    def __init__(self, ranks: dict[str, list[int]]):
        self.ranks = {k.strip(): v for k, v in ranks.items()}
        self._ctx = 0

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        self._ctx = len(context)
        return [ord(c) % 256 for c in context], [ord(c) % 256 for c in continuation]

    def model(self, ids: Any) -> Any:
        import torch

        row = ids[0].tolist()
        cont = row[self._ctx:]
        planted = self.ranks.get("".join(chr(i) for i in cont).strip(), [])
        logits = torch.full((1, len(row), 256), -10.0)
        for i, tok in enumerate(cont):
            rank = planted[i] if i < len(planted) else 1
            ahead = [x for x in range(256) if x != tok][:rank - 1]
            logits[0, self._ctx - 1 + i, ahead] = 1.0
            logits[0, self._ctx - 1 + i, tok] = 0.0
        return type("Out", (), {"logits": logits})()


@dataclass
class PlantedRanks:
    """An `hf`-typed backend whose token ranks are planted (token_shift cases: `base_ranks`)."""

    ranks: dict[str, list[int]]

    def __post_init__(self) -> None:
        from psm_eval.types import ModelInfo

        self.lm = _PlantedLM(self.ranks)
        self.info = ModelInfo(model_type="hf", accepts="text")
        self.spec = ModelSpec(type="hf", args={})

    def close(self) -> None:
        pass
