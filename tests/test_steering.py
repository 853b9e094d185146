"""Steering arms (`psm-steered`, backends/steer.py) on the organism's real model folders through lm-eval's
real `hf` backend: what validation refuses (one line, nothing loaded, no pickle run), the hook (off at
coef 0 and after removal), identity (fingerprint, manifest, cache key), `render=chat`, and the behavioural
check: +axis raises the assistant persona's share of sampled replies; a random direction of equal norm
does not."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from psm_eval.activations.directions import read_directions
from psm_eval.backends import create_backend, parse_model_spec, validate_spec
from psm_eval.errors import SpecError
from psm_eval.run.config import organism_dir
from psm_eval.run.runner import run
from psm_eval.run.start import resolve_config
from psm_eval.score import stats
from psm_eval.score.stage import score_run
from tests.fixtures.persona_axis import build_axis
from tests.test_runner import records

REPO = Path(__file__).resolve().parent.parent
BASE = organism_dir() / "psm-tiny-base"
CHAT = organism_dir() / "psm-tiny-chat"


@pytest.fixture(scope="module")
def axis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("directions") / "base-axis.safetensors"
    build_axis(BASE, path)
    return path


def _spec(directions: Path | str, extra: str = "", model: Path = BASE) -> str:
    return f"psm-steered:pretrained={model},dtype=float32,directions={directions}{extra}"


class _Boom:
    """Unpickling this writes a file: proof that a loader ran code from the vector file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.write_text, (self.marker, "ran"))


def test_bad_steering_specs_are_one_line_before_anything_loads(axis: Path, tmp_path: Path) -> None:
    from psm_eval.activations.directions import Provenance, write_directions

    text = tmp_path / "notes.safetensors"
    text.write_text("not a tensor file")
    marker = tmp_path / "ran.txt"
    pickled = tmp_path / "vectors.pt"
    pickled.write_bytes(pickle.dumps({"model.layers.1": _Boom(marker)}))
    narrow = tmp_path / "narrow.safetensors"
    prov = read_directions(axis).provenance.model_dump()
    prov["hidden"] = 64
    write_directions(narrow, Provenance.model_validate(prov), {"axis": np.zeros((5, 64), np.float32)})
    cases = [
        (_spec(tmp_path / "missing.safetensors", ",coef=1"), "no such directions file"),
        (_spec(text, ",coef=1"), "not a readable safetensors file"),
        (_spec(pickled, ",coef=1"), "not a readable safetensors file"),
        (_spec(axis, ",coef=1,direction=axsi"), "direction=axsi: " + str(axis) + " has no such direction (it has: "
         "axis); did you mean 'axis'?"),
        (_spec(axis, ",coef=1,layer=9"), "layer=9 is out of range: residual positions 0–4"),
        (_spec(narrow, ",coef=1"), "holds directions of hidden size 64; the model's hidden size is 128"),
        (_spec(axis, ",coef=1,hookpoint=model.layer.1"), "hookpoint=model.layer.1: the model has no module of "
         "that name; did you mean 'model.layers.1'?"),
        (_spec(axis, ",coef=strong"), "coef='strong' is not a number"),
        (_spec(axis), "model type 'psm-steered' needs coef="),
        (_spec(axis, ",cof=1"), "has no argument 'cof'; did you mean 'coef'?"),
        (f"steered:pretrained={BASE},steer_path={pickled}", "torch.load(weights_only=False), which can run code"),
    ]
    for spec, message in cases:
        with pytest.raises(SpecError) as refused:
            validate_spec(parse_model_spec(spec), "arm 'steer'")
        line = str(refused.value)
        assert line.startswith("arm 'steer': ") and message in line and "\n" not in line, (spec, line)
    assert not marker.exists(), "a pickle in the vector file was executed"


def test_the_hook_adds_the_vector_where_the_file_measured_it_and_comes_off(axis: Path) -> None:
    import torch

    plain = create_backend(parse_model_spec(f"hf:pretrained={BASE},dtype=float32")).lm
    ids = torch.tensor([plain.tok_encode("User: Who are you?\nAssistant:")])
    with torch.no_grad():
        reference = plain.model(ids, output_hidden_states=True)
    for layer, hookpoint in ((0, "model.embed_tokens"), (2, "model.layers.1"), (4, "model.norm")):
        backend = create_backend(parse_model_spec(_spec(axis, f",coef=1.5,layer={layer}")))
        lm = backend.lm
        assert lm.steering.hookpoint == hookpoint and backend.fingerprint()["steering"]["hookpoint"] == hookpoint
        module = dict(lm.model.named_modules())[hookpoint]
        seen: list = []  # a hook after the steering hook sees the output the next module receives
        later = module.register_forward_hook(lambda _m, _i, o, seen=seen: seen.append(o[0] if isinstance(o, tuple)
                                                                                    else o))
        with torch.no_grad():
            logits = lm.model(ids).logits
        later.remove()
        assert not torch.allclose(logits, reference.logits)
        added = (seen[0] - reference.hidden_states[layer])[0]
        expected = 1.5 * torch.from_numpy(read_directions(axis).vectors["axis"][layer])
        assert torch.allclose(added, expected.expand_as(added), atol=1e-4)  # every position
        with torch.no_grad():  # transformers' own capture of hidden_states records the steered residual
            assert torch.equal(lm.model(ids, output_hidden_states=True).hidden_states[layer], seen[0])
        ours = [h for h in module._forward_hooks.values() if getattr(h, "__self__", None) is lm]
        assert len(ours) == 1
        lm.remove_steering()
        lm.remove_steering()  # idempotent
        assert not [h for h in module._forward_hooks.values() if getattr(h, "__self__", None) is lm]
        with torch.no_grad():
            assert torch.equal(lm.model(ids).logits, reference.logits)


def test_identity_goes_into_the_fingerprint_and_the_cache_key(axis: Path, tmp_path: Path) -> None:
    one = create_backend(parse_model_spec(_spec(axis, ",coef=1"))).fingerprint()["steering"]
    assert one == {"directions": read_directions(axis).content_hash, "direction": "axis", "layer": 2, "coef": 1.0,
                   "hookpoint": "model.layers.1", "random": None,
                   "norm": pytest.approx(float(np.linalg.norm(read_directions(axis).vectors["axis"][2])))}
    for extra in (",coef=2", ",coef=1,random=3", ",coef=1,layer=3", ",coef=1,hookpoint=model.layers.2"):
        assert create_backend(parse_model_spec(_spec(axis, extra))).fingerprint()["steering"] != one, extra
    # through the runner: a second coef misses the cache, the same coef hits it
    task = str(REPO / "tasks" / "organism-identity")
    cache = str(tmp_path / "cache")

    def go(*coefs: str) -> dict:
        arms = [f"c{i}={_spec(axis, ',coef=' + c)},render=transcript:plain" for i, c in enumerate(coefs)]
        config = resolve_config(tasks=[task], arms=arms, limit=2, out=str(tmp_path / "runs"), cache_dir=cache)
        folder = run(config, progress=False)
        return json.loads((folder / "manifest.json").read_text())

    first = go("1")
    assert first["backends"]["c0"]["fingerprint"]["steering"]["coef"] == 1.0
    second = go("1", "2")
    assert second["cache"]["c0"] == {"hits": 2, "misses": 0} and second["cache"]["c1"] == {"hits": 0, "misses": 2}


def test_render_chat_works_on_a_steered_chat_model(axis: Path, tmp_path: Path) -> None:
    arms = [f"steered-chat={_spec(axis, ',coef=1', model=CHAT)},render=chat"]
    config = resolve_config(tasks=[str(REPO / "tasks" / "organism-identity")], arms=arms, limit=2,
                            out=str(tmp_path / "runs"), cache=False)
    rows = records(run(config, progress=False))
    assert rows and all(r["status"] == "ok" and r["prompt"]["renderer"] == "chat" for r in rows)


SHIPPED = organism_dir() / "directions" / "psm-tiny-base.safetensors"


@pytest.fixture(scope="module")
def mixture_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """organism-mixture (10 questions about the speaker × 10 replies at T=1) under the plain transcript: the
    base model unsteered, steered along the shipped assistant axis (`psm-eval directions build`, the one the
    default run projects on) at layer 2 with coef 3, the same with a random direction of equal norm; and the
    chat model, for the share of the gap the axis closes."""
    arms = [f"base=hf:pretrained={BASE},dtype=float32,render=transcript:plain",
            f"axis={_spec(SHIPPED, ',layer=2,coef=3')},render=transcript:plain",
            f"random={_spec(SHIPPED, ',layer=2,coef=3,random=7')},render=transcript:plain",
            f"chat=hf:pretrained={CHAT},dtype=float32,render=chat"]
    out = tmp_path_factory.mktemp("runs")
    config = resolve_config(tasks=[str(REPO / "tasks" / "organism-mixture")], arms=arms, out=str(out), cache=False)
    folder = run(config, progress=False)
    score_run(folder, progress=False)
    return folder


def test_coef_zero_is_the_unsteered_model_and_coef_two_is_not(axis: Path, tmp_path: Path) -> None:
    """One arm name (a record's seed depends on it), three models: sampled records byte for byte."""
    def generations(model: str) -> bytes:
        config = resolve_config(tasks=[str(REPO / "tasks" / "organism-mixture")], limit=2, cache=False,
                                arms=[f"a={model},render=transcript:plain"], out=str(tmp_path / "runs"))
        return (run(config, progress=False) / "generations.jsonl").read_bytes()

    plain = generations(f"hf:pretrained={BASE},dtype=float32")
    assert generations(_spec(axis, ",layer=2,coef=0")) == plain
    assert generations(_spec(axis, ",layer=2,coef=2")) != plain


def test_axis_raises_the_assistant_share_and_a_random_direction_does_not(mixture_run: Path) -> None:
    shares: dict[str, dict[str, list[float]]] = {}
    for line in (mixture_run / "scores.jsonl").read_text().splitlines():
        s = json.loads(line)
        if s["metric"] == "assistant" and s["value"] is not None:
            shares.setdefault(s["arm"], {}).setdefault(s["sample_id"], []).append(s["value"])
    cases = stats.complete_cases(shares, {i: i for i in shares["base"]})
    ids = list(cases.ids)
    up = stats.difference_interval(cases.values["axis"], cases.values["base"], ids, kind="binary")
    control = stats.difference_interval(cases.values["random"], cases.values["base"], ids, kind="binary")
    # measured (10 samples × 10 replies, seed 1234): base 0.14; +axis +0.34 [0.21, 0.47]; random −0.07
    # (the sweep over layer and coef: docs/steering.md)
    assert up.ci_low is not None and up.ci_low > 0, up
    assert control.ci_low is not None and control.ci_high is not None
    assert control.ci_low <= 0 <= control.ci_high, control


def test_the_summary_says_how_much_of_the_gap_the_axis_closes(mixture_run: Path) -> None:
    from psm_eval.records import read_summary

    rows = next(t.rows for t in read_summary(mixture_run).tables if t.scorer == "activation" and
                t.name == "gap closed")
    axis = next(r for r in rows if (r["metric"], r["steered"]) == ("assistant", "axis"))
    random = next(r for r in rows if (r["metric"], r["steered"]) == ("assistant", "random"))
    assert 0 < axis["ci_low"] < axis["estimate"] < axis["ci_high"] < 1, axis  # some of the gap, not all of it
    assert random["ci_low"] is not None and random["ci_low"] < 0 < random["ci_high"], random
