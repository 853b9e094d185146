"""`psm-eval directions build`: persona directions of one model from its own replies.

Each persona answers every question (greedy) through the ordinary run machinery — a transcript persona
template on a base model, or a system prompt through the chat template — so the prompts are exactly
those a run sends; the activation stage then reads each reply's mean hidden state. From them:

- `axis`: mean(assistant) − the mean of the other personas' means (each persona weighted equally);
- one direction per trait `POS:NEG` (e.g. `liar:assistant`), named after its positive persona;
- per layer, each persona's mean projection on the unit direction, the two ends (positive / negative
  mean), and the separation (the gap over the pooled within-persona SD); the default layer is the one
  (embeddings excluded) where the separation is largest.

Same inputs, same file bytes: generation is greedy, the forward pass deterministic, and the provenance
holds no path or time of the build.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from psm_eval.activations.directions import DirectionInfo, Provenance, unit, write_directions
from psm_eval.errors import ConfigError

__all__ = ["Persona", "build_directions", "load_personas", "parse_traits", "SYSTEM_PROMPTS", "QUESTIONS"]

HERE = Path(__file__).resolve().parent
SYSTEM_PROMPTS = HERE / "personas.yaml"
"""The shipped one-line system prompts, one per persona (chat rendering)."""
QUESTIONS = HERE / "questions.jsonl"
"""The shipped neutral questions: short everyday questions any persona can answer."""


@dataclass(frozen=True)
class Persona:
    name: str
    render: str
    """The arm's renderer: `transcript:NAME`, `transcript:PATH.j2` or `chat`."""
    system: str | None = None


def load_personas(names: Sequence[str], render: str, files: Sequence[Path] = ()) -> list[Persona]:
    """Personas by name: shipped templates (transcript) or shipped system prompts (chat), plus the user's
    own (.j2 templates for transcript, a YAML of `name: system prompt` for chat)."""
    from psm_eval.specs import load_yaml

    if render not in ("transcript", "chat"):
        raise ConfigError(f"--render {render!r}: expected transcript or chat")
    own_templates = {p.stem: p for p in files if p.suffix == ".j2"}
    prompts: dict[str, str] = {}
    for path in [SYSTEM_PROMPTS, *(p for p in files if p.suffix in (".yaml", ".yml"))]:
        data, _ = load_yaml(path, ConfigError)
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ConfigError(f"{path}: expected a mapping of persona name → one-line system prompt")
        prompts.update({str(k): v for k, v in data.items()})
    out = []
    for name in names:
        if render == "transcript":
            out.append(Persona(name, f"transcript:{own_templates.get(name, name)}"))
        elif name not in prompts:
            raise ConfigError(f"persona '{name}' has no system prompt; known: {', '.join(sorted(prompts))} "
                              "(add your own with --persona-file FILE.yaml)")
        else:
            out.append(Persona(name, "chat", prompts[name]))
    if len({p.name for p in out}) != len(out) or "assistant" not in {p.name for p in out} or len(out) < 2:
        raise ConfigError("--personas: name 'assistant' and at least one other persona, each once")
    return out


def parse_traits(text: str | None, personas: Sequence[str]) -> dict[str, tuple[str, str]]:
    """`liar:assistant,pirate:assistant` → {liar: (liar, assistant), pirate: (pirate, assistant)}."""
    traits: dict[str, tuple[str, str]] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        pos, colon, neg = part.partition(":")
        if not colon or pos not in personas or neg not in personas or pos == neg:
            raise ConfigError(f"--traits {part!r}: expected POSITIVE:NEGATIVE, two different personas of --personas")
        if pos in traits or pos == "axis":
            raise ConfigError(f"--traits: a direction named '{pos}' is given twice")
        traits[pos] = (pos, neg)
    return traits


def build_directions(model: str, personas: Sequence[Persona], out: Path, *, questions: str | Path | None = None,
                     traits: dict[str, tuple[str, str]] | None = None, max_gen_toks: int = 48, seed: int = 1234,
                     progress: bool = True, batch_size: int = 16) -> str:
    """Generate, measure and derive; write `out` and return its content hash."""
    from psm_eval.activations.stage import measure_run
    from psm_eval.records import read_manifest
    from psm_eval.run.config import build_config
    from psm_eval.run.runner import run

    with tempfile.TemporaryDirectory(prefix="psm-directions-") as tmp:
        task_ref, source = _questions(questions, Path(tmp), max_gen_toks)
        arms = [{"name": p.name, "model": model, "render": p.render, "max_gen_toks": max_gen_toks,
                 "temperature": 0.0, **({"system": p.system} if p.system else {})} for p in personas]
        config = build_config({"tasks": [task_ref], "arms": arms, "seed": seed, "out": str(Path(tmp) / "runs"),
                               "cache": False, "max_error_rate": None, "activations": {"measure": True}},
                              "directions build")
        run_dir = run(config, progress=progress)
        measure_run(run_dir, progress=progress, batch_size=batch_size)
        manifest = read_manifest(run_dir)
        ids, acts, hashes = _replies(run_dir, [p.name for p in personas])
        fingerprint = _portable(manifest.backends[personas[0].name].fingerprint or {})
        task = manifest.tasks[0]
    vectors, per_question, infos = _derive(acts, [p.name for p in personas], traits or {})
    provenance = Provenance(
        model=_model_name(model), fingerprint=fingerprint, layers=acts[personas[0].name].shape[1],
        hidden=acts[personas[0].name].shape[2],
        personas={p.name: f"{p.render}{_system_note(p)}|{hashes[p.name]}" for p in personas},
        questions={"source": source, "ids": ids, "hash": task.data_hash},
        generation={"max_gen_toks": max_gen_toks, "temperature": 0.0, "seed": seed},
        directions=infos)
    return write_directions(out, provenance, vectors, per_question)


def _system_note(p: Persona) -> str:
    if p.system is None:
        return ""
    return " system=sha256:" + hashlib.sha256(p.system.encode()).hexdigest()[:16]


def _questions(questions: str | Path | None, tmp: Path, max_gen_toks: int) -> tuple[str, str]:
    """(task reference the build runs, the source as the provenance names it)."""
    path = Path(questions) if questions is not None else QUESTIONS
    if path.suffix != ".jsonl":
        return str(questions), str(questions)  # a task name or folder, as given
    if not path.is_file():
        raise ConfigError(f"--questions {path}: no such file")
    folder = tmp / "directions-questions"
    folder.mkdir()
    (folder / "data.jsonl").write_bytes(path.read_bytes())
    (folder / "task.yaml").write_text(
        "name: directions-questions\nversion: 1\ndescription: questions of a directions build\n"
        "data: {path: data.jsonl}\nfields: {id: id, prompt: question}\n"
        f"generation: {{max_gen_toks: {max_gen_toks}}}\n")
    return str(folder), "shipped:questions.jsonl" if questions is None else path.name


def _replies(run_dir: Path, names: list[str]) -> tuple[list[str], dict[str, np.ndarray], dict[str, str]]:
    """Question ids every persona answered (in task order), each persona's reply means [Q, layers, hidden],
    and each persona's template hash."""
    from psm_eval.activations.store import open_activations
    from psm_eval.records import iter_generations

    sample_of: dict[str, str] = {}
    order: list[str] = []
    hashes: dict[str, str] = {}
    for record in iter_generations(run_dir):
        if record.turn == 0 and record.repeat == 0 and record.kind == "generate":
            sample_of[record.key] = record.sample_id
            if record.sample_id not in order:
                order.append(record.sample_id)
            if record.prompt is not None:
                hashes.setdefault(record.arm, record.prompt.template_hash)
    store = open_activations(run_dir)
    assert store is not None
    by: dict[str, dict[str, np.ndarray]] = {}
    for name in names:
        by[name] = {sample_of[k]: r for k, r, _ in store.iter(name) if k in sample_of}
    ids = [i for i in order if all(i in by[n] for n in names)]
    if len(ids) < 2:
        raise ConfigError("fewer than 2 questions were answered by every persona; nothing to derive from")
    return ids, {n: np.stack([by[n][i] for i in ids]) for n in names}, hashes


def _derive(acts: dict[str, np.ndarray], names: list[str], traits: dict[str, tuple[str, str]]
            ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, DirectionInfo]]:
    others = [n for n in names if n != "assistant"]
    contrasts = {"axis": (["assistant"], others, "axis"),
                 **{name: ([pos], [neg], "trait") for name, (pos, neg) in traits.items()}}
    vectors, per_question, infos = {}, {}, {}
    for name, (pos, neg, kind) in contrasts.items():
        pos_q = np.mean([acts[n] for n in pos], axis=0)  # [Q, L, H], groups equally weighted
        neg_q = np.mean([acts[n] for n in neg], axis=0)
        per_question[name] = pos_q - neg_q
        vectors[name] = (pos_q - neg_q).mean(axis=0).astype(np.float32)
        infos[name] = _info(vectors[name], acts, pos, neg, kind)
    return vectors, per_question, infos


def _info(vector: np.ndarray, acts: dict[str, np.ndarray], pos: list[str], neg: list[str], kind: str) -> DirectionInfo:
    layers = vector.shape[0]
    units = np.stack([unit(vector[layer]) for layer in range(layers)])  # [L, H]
    proj = {n: np.einsum("qlh,lh->ql", acts[n].astype(np.float64), units) for n in pos + neg}  # [Q, L]
    means = {n: p.mean(axis=0) for n, p in proj.items()}
    pos_mean = np.mean([means[n] for n in pos], axis=0)
    neg_mean = np.mean([means[n] for n in neg], axis=0)
    pooled = np.sqrt(np.mean([p.var(axis=0, ddof=1) for p in proj.values()], axis=0))
    separation = (pos_mean - neg_mean) / np.maximum(pooled, 1e-12)
    # the default layer: the best-separated residual position between the embeddings (0) and the last one,
    # which in transformers is the final norm's output, rescaled by that model's own norm weights
    inner = separation[1:-1] if layers > 2 else separation[1:]
    default = 1 + int(np.argmax(inner)) if layers > 1 else 0
    return DirectionInfo(positive=pos, negative=neg, kind=kind, default_layer=default,
                         positive_mean=_floats(pos_mean), negative_mean=_floats(neg_mean),
                         separation=_floats(separation), group_means={n: _floats(m) for n, m in means.items()})


def _floats(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]


def _model_name(model: str) -> str:
    from psm_eval.backends.spec import parse_model_spec

    spec = parse_model_spec(model, "--model")
    source = str(spec.args.get("pretrained") or spec.args.get("model") or model)
    return Path(source).name if Path(source).exists() else source


def _portable(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The manifest's fingerprint with local paths cut to their last part, so the same model files in another
    checkout give the same directions file (the files' content hashes are kept whole)."""
    args = {k: Path(v).name if isinstance(v, str) and Path(v).expanduser().exists() else v
            for k, v in (fingerprint.get("args") or {}).items()}
    return {**fingerprint, "args": args}
