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
value, or to null when the reply has no truth to score (it must come out *unscored*). A key
`metric@by=value` is the metric's score in that stratum (`endorse@direction=Yes`). A list of values is
matched in order to the scores a scorer gives one record under one key (ifeval: one per instruction).
`truths` adds truths of scores that belong to no single record (`{"sample_id", "arm", "metric", "value",
"repeat": null, "stratum": "by=value"}`). `summary_truths` plants the statistics of the scorer's own
summary (`summarize`, seed 0): `{"metric", "value", "arm"}` (statistic `mean`) or `{"metric", "value",
"arm_pair": [a, b]}` (statistic `difference`), optionally `"statistic"` and `"stratum": "by=value"`; a null
value says the summary must hold no such statistic.
`activations` (the activation scorer) plants a run's stored activations and its directions files:
`{"directions": {LABEL: {"hidden": H, "layers": L, "directions": {NAME: {"kind": "axis"|"trait", "vector":
[[...] × L], "positive_mean": [...], "negative_mean": [...], "default_layer": l}}}}, "not_measurable": {ARM:
REASON}}`, and each record's `activation` gives its reply mean per layer ([[...] × L]; a record without one
is not stored).
Optional: `base_ranks` (token_shift: per reply, the planted rank of each continuation token under the base
model; `post_ranks`: the same under the post-trained arms' model, else the base ranks), `judge` (`right`,
`first` or `garbled`: the stub judge that answers this case's judge calls).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psm_eval.backends import ModelSpec
from psm_eval.data.task import TaskSpec
from psm_eval.records import GenerationRecord
from psm_eval.score.scorers.base import ArmInfo, Score, TaskView
from psm_eval.score.scorers.registry import ScoringError, build_scorer, get_scorer
from psm_eval.types import Sample, Turn

__all__ = ["CASES_DIR", "Observation", "load_cases", "run_case", "observe", "plant_activations",
           "activation_args"]

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
                            **{k: v for k, v in d.items() if k not in ("truth", "activation")}}
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
    if "activations" in case:
        with tempfile.TemporaryDirectory(prefix="psm-planted-") as tmp:
            return _run_case(case, judge, model_for, Path(tmp))
    return _run_case(case, judge, model_for, None)


def _run_case(case: dict[str, Any], judge: Any, model_for: Callable[[str], Any] | None,
              run_dir: Path | None) -> list[Score]:
    args = dict(case.get("args", {}))
    if run_dir is not None:
        args.update(plant_activations(case, run_dir))
    info, _, scorer = build_scorer(case["scorer"], args, f"planted case '{case.get('name')}'")
    spec = _spec(case)
    kind = "loglikelihood" if spec.kind == "multiple_choice" else "generate"
    samples, records = expand(case)
    arms = tuple(ArmInfo(a["name"], ModelSpec("planted"), a["render"], a.get("system"))
                 for a in case.get("arms", ARMS))
    view = TaskView(spec=spec, samples={s["id"]: _sample(s) for s in samples}, arms=arms, judge=judge,
                    records=tuple(_record(r, kind, case.get("defaults", {})) for r in records), model_for=model_for,
                    run_dir=run_dir)
    return [s.model_copy(update={"scorer": info.name, "scorer_version": info.version}) for s in scorer(view)]


def activation_args(case: dict[str, Any]) -> dict[str, Any]:
    """The activation scorer's arguments a case's planted directions declare (no files written)."""
    names: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}
    for label, spec in case.get("activations", {}).get("directions", {}).items():
        own = {n: d.get("kind", "trait") for n, d in spec["directions"].items()}
        names[label] = sorted(own, key=lambda n: (own[n] != "axis", n))
        kinds.update({f"{n}_{label}": k for n, k in own.items()})
    return {**case.get("args", {}), "directions": names, "kinds": kinds,
            "rollout": case.get("task", {}).get("mode") == "rollout"}


def plant_activations(case: dict[str, Any], run_dir: Path, task: str = "planted",
                      records: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Write a case's planted directions files and activation store under `run_dir`; return the activation
    scorer's arguments for them."""
    import numpy as np

    from psm_eval.activations.directions import DirectionInfo, Provenance, write_directions
    from psm_eval.activations.store import PartWriter, arm_folder, write_index
    from psm_eval.records.activations import ActivationIndex, ArmActivations

    planted = case["activations"]
    names: dict[str, list[str]] = {}
    files: dict[str, str] = {}
    kinds: dict[str, str] = {}
    shape = (0, 0)
    for label, spec in planted["directions"].items():
        layers, hidden = int(spec["layers"]), int(spec["hidden"])
        shape = (layers, hidden)
        infos = {n: DirectionInfo(positive=["assistant"], negative=["other"], kind=d.get("kind", "trait"),
                                  default_layer=d["default_layer"], positive_mean=d["positive_mean"],
                                  negative_mean=d["negative_mean"], separation=[1.0] * layers)
                 for n, d in spec["directions"].items()}
        path = run_dir / f"{label}.safetensors"
        write_directions(path, Provenance(model="planted", fingerprint={}, layers=layers, hidden=hidden,
                                          personas={}, questions={"ids": []}, directions=infos),
                         {n: np.asarray(d["vector"], dtype=np.float32) for n, d in spec["directions"].items()})
        files[label] = str(path)
        names[label] = sorted(infos, key=lambda n: (infos[n].kind != "axis", n))
        kinds.update({f"{n}_{label}": infos[n].kind for n in infos})
    if records is None:
        _, records = expand(case)
    arms: dict[str, ArmActivations] = {}
    by_arm: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_arm.setdefault(r.get("arm", "chat"), []).append(r)
    layers, hidden = shape
    for arm, rows in by_arm.items():
        if arm in planted.get("not_measurable", {}):
            arms[arm] = ArmActivations(status="not_measurable", reason=planted["not_measurable"][arm],
                                       model_type="local-chat-completions")
            continue
        writer = PartWriter(arm_folder(run_dir, arm), layers=layers, hidden=hidden)
        n = 0
        for r in rows:
            if "activation" in r:
                key = f"{task}/{r['sample_id']}/{arm}/t{r.get('turn', 0)}/r{r.get('repeat', 0)}"
                v = np.asarray(r["activation"], dtype=np.float32)
                writer.add(key, v, v, 1)
                n += 1
        writer.flush()
        arms[arm] = ArmActivations(status="measured", model_type="hf", layers=layers, hidden=hidden,
                                   parts=writer.written, n_records=n, complete=True)
    write_index(run_dir, ActivationIndex(arms=arms))
    return {"directions": names, "files": files, "kinds": kinds,
            "rollout": case.get("task", {}).get("mode") == "rollout"}


def _key_of(metric: str) -> tuple[str, str | None]:
    """`metric` or `metric@by=value` → (metric, stratum text)."""
    name, _, stratum = metric.partition("@")
    return name, stratum or None


def _planted(case: dict[str, Any]) -> list[tuple[tuple, Any]]:
    """(score key, truth) of every per-record truth and `truths` entry; key (sample, arm, turn, repeat,
    metric, stratum)."""
    _, records = expand(case)
    out = []
    for r in records:
        for m, v in r.get("truth", {}).items():
            name, stratum = _key_of(m)
            out.append(((r["sample_id"], r.get("arm", "chat"), r.get("turn", 0), r.get("repeat", 0), name, stratum), v))
    out += [((t["sample_id"], t.get("arm", "chat"), t.get("turn", 0), t.get("repeat"), t["metric"],
              t.get("stratum")), t["value"]) for t in case.get("truths", [])]
    return out


def _summary_observations(case: dict[str, Any], scores: Sequence[Score]) -> list[Observation]:
    """Each `summary_truths` entry beside the statistic of the scorer's own summary it planted for."""
    wanted = case.get("summary_truths", [])
    if not wanted:
        return []
    summarize = get_scorer(case["scorer"]).summarize
    name = case.get("name", "")
    if summarize is None:
        raise ScoringError(f"planted case '{name}': scorer '{case['scorer']}' has no summary to plant truths for")
    got: dict[tuple, Any] = {}
    for rec in summarize(scores, seed=0)["records"]:
        pair = tuple(rec.arm_pair) if rec.arm_pair else None
        got.setdefault((rec.statistic, rec.metric, rec.arm, pair, str(rec.stratum) if rec.stratum else None), rec)
    out = []
    for t in wanted:
        pair = tuple(t["arm_pair"]) if t.get("arm_pair") else None
        statistic = t.get("statistic", "difference" if pair else "mean")
        found = got.get((statistic, t["metric"], t.get("arm"), pair, t.get("stratum")))
        truth = t["value"]
        item = f"{statistic} {'−'.join(pair) if pair else t.get('arm')}" + (f" @{t['stratum']}" if t.get("stratum")
                                                                                else "")
        out.append(Observation(case["scorer"], t["metric"], case.get("source", "synthetic"), name,
                               None if truth is None else float(truth),
                               None if found is None else found.estimate, item=item))
    return out


def observe(case: dict[str, Any], scores: Sequence[Score]) -> list[Observation]:
    """Each planted truth of the case beside the score it planted for (overall scores, and the strata a
    truth names), and beside the summary statistics it plants (`summary_truths`)."""
    got: dict[tuple, list[Score]] = {}
    for s in scores:
        got.setdefault((s.sample_id, s.arm, s.turn, s.repeat, s.metric, str(s.stratum) if s.stratum else None),
                       []).append(s)
    source, name = case.get("source", "synthetic"), case.get("name", "")
    out = []
    for key, truth in _planted(case):
        found = got.get(key)
        where = "/".join(str(k) for k in key[:4]) + (f" @{key[5]}" if key[5] else "")
        if found is None:
            raise ScoringError(f"planted case '{name}': the scorer gave no '{key[4]}' score for {where}")
        truths = truth if isinstance(truth, list) else [truth]
        if len(truths) != len(found):
            raise ScoringError(f"planted case '{name}': {len(truths)} '{key[4]}' truth(s) planted for {where}, "
                               f"the scorer gave {len(found)} score(s)")
        for i, (t, s) in enumerate(zip(truths, found)):
            item = f"{key[0]}/{key[1]}" + (f"#{i}" if isinstance(truth, list) else "") + (f" @{key[5]}" if key[5]
                                                                                          else "")
            out.append(Observation(case["scorer"], key[4], source, name, None if t is None else float(t), s.value,
                                   item=item))
    return out + _summary_observations(case, scores)


class _Chars:
    """A character-level tokenizer (one token per character, ids mod 256)."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) % 256 for c in text]}

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(chr(i) for i in ids)


def planted_logits(token: int, rank: int, vocab: int = 256) -> list[float]:
    """Next-token logits under which `token` has rank `rank`: the first `rank - 1` other ids rank above it
    (logits 1 + 0.01 × their place from the bottom), `token` at 0, every other id at −10 − 0.001 × id, so
    that every logit differs and the top 10 are determined."""
    logits = [-10.0 - 0.001 * x for x in range(vocab)]
    ahead = [x for x in range(vocab) if x != token][:rank - 1]
    for j, x in enumerate(ahead):
        logits[x] = 1.0 + 0.01 * (len(ahead) - j)
    logits[token] = 0.0
    return logits


class _PlantedLM:
    """A character-level 'model' under which each token of a planted continuation has its planted rank."""

    tokenizer = _Chars()
    device = "cpu"
    max_length = 4096

    def __init__(self, ranks: dict[str, list[int]]):
        self.ranks = {k.strip(): v for k, v in ranks.items()}
        self._ctx = 0

    def tok_encode(self, context: str) -> list[int]:
        self._ctx = len(context)
        return [ord(c) % 256 for c in context]

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        return self.tok_encode(context), [ord(c) % 256 for c in continuation]

    def model(self, ids: Any) -> Any:
        import torch

        row = ids[0].tolist()
        cont = row[self._ctx:]
        planted = self.ranks.get("".join(chr(i) for i in cont).strip(), [])
        logits = torch.full((1, len(row), 256), -10.0)
        for i, tok in enumerate(cont):
            rank = planted[i] if i < len(planted) else 1
            logits[0, self._ctx - 1 + i] = torch.tensor(planted_logits(tok, rank))
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
