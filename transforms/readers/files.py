"""Input files: which source they belong to and how records in them get stable ids."""

from __future__ import annotations

import re
from dataclasses import dataclass

_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True)
class InputFile:
    """A matched input file. `relative_path` is the path below the pattern's fixed prefix."""

    source: str
    path: str
    relative_path: str
    size: int
    mtime: float | None = None  # seconds since the epoch, where the filesystem says

    def record_id(self, position: int) -> str:
        """Stable id for a record without one: source, path below the glob root, position.

        Moving the whole input tree or running on another machine keeps the id.
        """
        return f"{self.source}:{self.relative_path}:{position}"


def glob_root(pattern: str) -> str:
    """The directory part of `pattern` before its first glob character ('' if none)."""
    match = _GLOB_CHARS.search(pattern)
    fixed = pattern if match is None else pattern[: match.start()]
    return fixed[: fixed.rfind("/") + 1]


def relative_to_root(path: str, pattern: str) -> str:
    """`path` relative to `glob_root(pattern)`, or its base name if it is not below it."""
    root = glob_root(pattern)
    if root and path.startswith(root):
        return path[len(root) :]
    return path.rsplit("/", 1)[-1]
