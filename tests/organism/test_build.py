"""A scaled-down build runs end to end and is byte-identical for the same seed and thread count."""

from __future__ import annotations

from pathlib import Path

from psm_eval.organism import MODEL_NAMES
from psm_eval.organism.build import build

SCALE = 0.004  # ~6 pre-training steps: plumbing and determinism only


def _weights(root: Path) -> dict[str, bytes]:
    return {d: (root / d / "model.safetensors").read_bytes() for d in MODEL_NAMES}


def test_quick_build_is_byte_identical(tmp_path: Path) -> None:
    first = build(tmp_path / "one", seed=1, threads=1, steps_scale=SCALE, enforce_checks=False)
    second = build(tmp_path / "two", seed=1, threads=1, steps_scale=SCALE, enforce_checks=False)
    assert _weights(tmp_path / "one") == _weights(tmp_path / "two")
    assert first["sha256"] == second["sha256"] and len(set(first["sha256"].values())) == len(MODEL_NAMES)
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json", "generation_config.json"):
        for model in MODEL_NAMES:
            assert (tmp_path / "one" / model / name).read_bytes() == (tmp_path / "two" / model / name).read_bytes()
    assert all((tmp_path / "one" / model / "README.md").exists() for model in MODEL_NAMES)
