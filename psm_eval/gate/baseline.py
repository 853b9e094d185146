"""Portable baselines: the per-sample scores of a run, without its generations or prompts.

`export_baseline(run_dir)` builds the file `psm-eval baseline export` writes; `load_side(path)` reads
either a run folder or such a file into the same `Side`, which is all the gate ever looks at.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from psm_eval.errors import GateError, PreconditionError
from psm_eval.run.store import GENERATIONS, MANIFEST, dumps, read_json, read_jsonl

__all__ = ["Row", "Side", "MetricKey", "export_baseline", "write_baseline", "load_side", "FORMAT", "SCHEMA_VERSION"]

FORMAT = "psm_eval.baseline"
SCHEMA_VERSION = 1
SCORES = "scores.jsonl"
COLUMNS = ("sample_id", "cluster", "turn", "repeat", "value", "unscored")

MetricKey = tuple[str, str, str, str | None]
"""(task, scorer, metric, other_arm): one gated metric of an arm (overall, stratum None)."""


@dataclass(frozen=True)
class Row:
    """One overall score record, reduced to what the gate needs."""

    sample_id: str
    cluster: str
    turn: int | None
    repeat: int | None
    value: float | None
    unscored: str | None


@dataclass(frozen=True)
class Side:
    """One side of a gate comparison (the run or the baseline), read from a run folder or a baseline file."""

    source: str
    run_id: str
    tasks: dict[str, dict[str, Any]]
    """task name → {version, data_hash, n_samples}."""
    arms: list[str]
    generations: dict[tuple[str, str], tuple[int, int]]
    """(task, arm) → (generation records, failed ones)."""
    judges: dict[tuple[str, str], tuple[str, ...]]
    """(task, scorer) → the judge specs behind its scores (empty for judge-free scorers)."""
    scores: dict[tuple[str, MetricKey], list[Row]]
    """(arm, metric key) → its overall score records."""
    versions: dict[tuple[str, str], str]
    """(task, scorer) → scorer version."""
    binary: dict[MetricKey, bool]


def _portable_arm(arm: dict[str, Any]) -> dict[str, Any]:
    """An arm as the manifest records it, minus anything machine-specific or prompt-like."""
    model = dict(arm.get("model") or {})
    args = {k: (Path(v).name if isinstance(v, str) and v.startswith("/") else v)
            for k, v in (model.get("args") or {}).items()}
    system = arm.get("system")
    renderer = arm.get("renderer") or {}
    return {"name": arm.get("name"), "model": {"type": model.get("type"), "args": args},
            "renderer": {"kind": renderer.get("kind"), "template_hash": renderer.get("template_hash")},
            "system_sha256": hashlib.sha256(system.encode()).hexdigest() if system else None,
            **{k: arm.get(k) for k in ("max_gen_toks", "temperature", "top_p")}}


def _generation_counts(run_dir: Path) -> Counter:
    counts: Counter = Counter()
    for r in read_jsonl(run_dir / GENERATIONS):
        counts[(r["task"], r["arm"], "total")] += 1
        counts[(r["task"], r["arm"], "failed")] += r.get("status") != "ok"
    return counts


def _score_records(run_dir: Path) -> Iterable[dict[str, Any]]:
    path = run_dir / SCORES
    if not path.exists():
        raise PreconditionError(f"{run_dir}: no {SCORES}: the run was not scored (run `psm-eval score {run_dir}`)")
    return read_jsonl(path)


def export_baseline(run_dir: Path) -> dict[str, Any]:
    """The portable baseline of a scored run (see docs/ci.md for the format)."""
    run_dir = Path(run_dir)
    manifest = read_json(run_dir / MANIFEST)
    groups: dict[tuple, list[list[Any]]] = {}
    judges: set[tuple[str, str, str]] = set()
    for r in _score_records(run_dir):
        for j in r.get("judge") or []:
            judges.add((r["task"], r["scorer"], j.get("spec")))
        if r.get("stratum") is not None:
            continue
        key = (r["task"], r["scorer"], r["scorer_version"], r["metric"], r["arm"], r.get("other_arm"), bool(r["binary"]))
        cluster = r.get("cluster") if r.get("cluster") != r["sample_id"] else None  # null: the sample itself
        groups.setdefault(key, []).append([r["sample_id"], cluster, r.get("turn"),
                                           r.get("repeat"), r["value"], r["unscored"]])
    counts = _generation_counts(run_dir)
    pairs = sorted({(t, a) for t, a, _ in counts})
    return {
        "format": FORMAT, "schema_version": SCHEMA_VERSION, "run_id": manifest.get("run_id"),
        "exported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": manifest.get("seed"), "git_revision": manifest.get("git_revision"),
        "packages": manifest.get("packages"),
        "tasks": [{k: t.get(k) for k in ("name", "version", "data_hash", "kind", "mode", "n_samples")}
                  for t in manifest.get("tasks", [])],
        "arms": [_portable_arm(a) for a in manifest.get("arms", [])],
        "generations": [{"task": t, "arm": a, "total": counts[(t, a, "total")], "failed": counts[(t, a, "failed")]}
                        for t, a in pairs],
        "judges": [{"task": t, "scorer": s, "spec": j} for t, s, j in sorted(judges, key=str)],
        "columns": list(COLUMNS),
        "metrics": [{"task": k[0], "scorer": k[1], "scorer_version": k[2], "metric": k[3], "arm": k[4],
                     "other_arm": k[5], "binary": k[6], "rows": rows} for k, rows in sorted(groups.items(), key=str)],
    }


def write_baseline(run_dir: Path, out: Path) -> Path:
    """Write the baseline atomically: strict JSON, one metric per line (readable diffs, small files)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = export_baseline(run_dir)
    parts = [f"{dumps(k)}: " + ("[\n" + ",\n".join(dumps(i) for i in v) + "\n]" if isinstance(v, list) and v
                                  else dumps(v)) for k, v in sorted(data.items())]
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_bytes(("{\n" + ",\n".join(parts) + "\n}\n").encode("utf-8", errors="backslashreplace"))
    os.replace(tmp, out)
    return out


def _value(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _row(sample_id: str, cluster: str | None, turn: Any, repeat: Any, value: Any, unscored: Any) -> Row:
    v = _value(value)
    reason = unscored if v is None else None
    if v is None and not reason:
        reason = "non-finite value" if value is not None else "unscored"
    return Row(str(sample_id), str(cluster or sample_id), turn, repeat, v, reason)


def _side_from_file(path: Path) -> Side:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))  # NaN tokens parse; they become unscored rows
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GateError(f"{path}: not a readable baseline file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise GateError(f"{path}: not a psm_eval baseline (expected \"format\": \"{FORMAT}\"); "
                        "pass a run folder or a file from `psm-eval baseline export`")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise GateError(f"{path}: baseline schema_version {data.get('schema_version')!r} is not {SCHEMA_VERSION}; "
                        "re-export it with this psm-eval")
    try:
        cols = data.get("columns", list(COLUMNS))
        at = [cols.index(c) for c in COLUMNS]
        scores: dict[tuple[str, MetricKey], list[Row]] = {}
        versions, binary = {}, {}
        for m in data["metrics"]:
            key = (m["task"], m["scorer"], m["metric"], m.get("other_arm"))
            scores[(m["arm"], key)] = [_row(*(r[i] for i in at)) for r in m["rows"]]
            versions[(m["task"], m["scorer"])] = str(m["scorer_version"])
            binary[key] = bool(m.get("binary"))
        return Side(
            source=str(path), run_id=str(data.get("run_id")),
            tasks={t["name"]: t for t in data["tasks"]}, arms=[a["name"] for a in data["arms"]],
            generations={(g["task"], g["arm"]): (int(g["total"]), int(g["failed"])) for g in data["generations"]},
            judges=_judge_map((j["task"], j["scorer"], j["spec"]) for j in data.get("judges", [])),
            scores=scores, versions=versions, binary=binary)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise GateError(f"{path}: malformed baseline file ({type(exc).__name__}: {exc})") from None


def _judge_map(items: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], tuple[str, ...]]:
    out: dict[tuple[str, str], set[str]] = {}
    for task, scorer, spec in items:
        out.setdefault((task, scorer), set()).add(str(spec))
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _side_from_run(run_dir: Path) -> Side:
    manifest = read_json(run_dir / MANIFEST)
    scores: dict[tuple[str, MetricKey], list[Row]] = {}
    versions, binary, judges = {}, {}, []
    for r in _score_records(run_dir):
        for j in r.get("judge") or []:
            judges.append((r["task"], r["scorer"], j.get("spec")))
        if r.get("stratum") is not None:
            continue
        key = (r["task"], r["scorer"], r["metric"], r.get("other_arm"))
        scores.setdefault((r["arm"], key), []).append(
            _row(r["sample_id"], r.get("cluster"), r.get("turn"), r.get("repeat"), r["value"], r["unscored"]))
        versions[(r["task"], r["scorer"])] = str(r["scorer_version"])
        binary[key] = bool(r.get("binary"))
    counts = _generation_counts(run_dir)
    return Side(source=str(run_dir), run_id=str(manifest.get("run_id")),
                tasks={t["name"]: t for t in manifest.get("tasks", [])},
                arms=[a["name"] for a in manifest.get("arms", [])],
                generations={(t, a): (counts[(t, a, "total")], counts[(t, a, "failed")]) for t, a, _ in counts},
                judges=_judge_map(judges), scores=scores, versions=versions, binary=binary)


def load_side(path: Path) -> Side:
    """A run folder (with scores.jsonl) or a baseline file, as the gate sees it."""
    path = Path(path)
    if path.is_dir():
        return _side_from_run(path)
    if path.is_file():
        return _side_from_file(path)
    raise GateError(f"{path}: no such run folder or baseline file")
