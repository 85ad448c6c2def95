"""What every rule family shares: the text split once, and loading configs from YAML.

Beam-free. `TextView` splits a document into lines and whitespace words exactly once, so
the Gopher, C4 and FineWeb families all read the same lists instead of re-splitting.
`config_from_dict` builds a frozen dataclass config from a mapping (a `stages:` section of
a YAML config) and rejects unknown keys and non-numeric thresholds with a clear ValueError.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

# Sources whose documents are source code: no language ID, only the code rules.
DEFAULT_CODE_SOURCES = ("code", "github", "stack")

T = TypeVar("T")


class TextView:
    """A text with its lines (split on "\\n") and whitespace words, computed once.

    `nonempty_lines` (lines with a non-space character) is computed on first use.
    """

    __slots__ = ("text", "lines", "words", "_nonempty")

    def __init__(self, text: str):
        self.text = text
        self.lines = text.split("\n")
        self.words = text.split()
        self._nonempty: list[str] | None = None

    @property
    def nonempty_lines(self) -> list[str]:
        if self._nonempty is None:
            self._nonempty = [line for line in self.lines if line and not line.isspace()]
        return self._nonempty


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0.0 when the denominator is 0 (an empty document)."""
    return numerator / denominator if denominator else 0.0


def config_from_dict(cls: type[T], mapping: Mapping[str, Any] | None, section: str) -> T:
    """A `cls` instance from `mapping`; missing keys keep their defaults.

    Lists become tuples (configs are frozen and hashable), `null` stays None (which
    disables a threshold), and a key that is not a field of `cls` raises ValueError that
    names the section and the known keys.
    """
    if mapping is None:
        return cls()
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{section}: expected a mapping of settings, got {type(mapping).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in mapping if k not in fields)
    if unknown:
        raise ValueError(
            f"{section}: unknown setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(fields))}"
        )
    values = {}
    for key, value in mapping.items():
        values[key] = _coerce(value, str(fields[key].type), f"{section}.{key}")
    return cls(**values)


def _coerce(value: Any, annotation: str, where: str) -> Any:
    if value is None:
        # null disables: a threshold becomes None, a switch becomes false.
        return False if annotation.startswith("bool") else None
    if annotation.startswith("tuple"):
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list | tuple):
            return tuple(tuple(v) if isinstance(v, list) else v for v in value)
        raise ValueError(f"{where}: expected a list, got {value!r}")
    if annotation.startswith("bool"):
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation.startswith(("float", "int")):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: expected a number or null, got {value!r}")
        return value
    return value
