"""Shareable reports: absolute local paths (model folders, persona or chat template files, task folders)
are shown relative to the run folder, home-shortened (`~/…`), or as the file's or folder's own name
(`…/psm-tiny-base`). The full paths stay in the run folder's manifest."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["shorten_path", "shorten_paths"]

# An absolute POSIX path inside free text: `/` after start, whitespace, a quote, `=`, `:` or `(`, then
# path characters. Requires two segments, so `/C` or `a/b` is not taken for a path.
_ABS_PATH = re.compile(r"(?:^|(?<=[\s'\"=:(\[,{]))/(?:[\w.+@~-]+/)+[\w.+@~-]*")


def shorten_path(path: str, run_dir: Path | None = None) -> str:
    """One absolute path as a report shows it."""
    p = Path(path)
    if run_dir is not None:
        try:
            return "./" + p.relative_to(run_dir.resolve()).as_posix()
        except ValueError:
            pass
        try:
            return "./" + p.relative_to(run_dir).as_posix()
        except ValueError:
            pass
    home = Path.home()
    if str(home) not in ("/", "") and p.is_relative_to(home) and not p.is_relative_to("/tmp"):
        return "~/" + p.relative_to(home).as_posix()
    name = p.name or p.parent.name
    return f"…/{name}" if name else "…"


def shorten_paths(text: str, run_dir: Path | None = None) -> str:
    """Every absolute path in `text` shortened (`shorten_path`); other text unchanged."""
    if "/" not in text:
        return text
    return _ABS_PATH.sub(lambda m: shorten_path(m.group(0), run_dir), text)
