"""Stage settings from YAML: a frozen dataclass config built from a `stages:` mapping.

Beam-free. `config_from_dict(cls, mapping, section)` checks every value against the type
annotation of its field and names the offending key (`stages.read.verify_digests must be
true or false, not 'yes'`), so a typo in a config file fails before a run starts.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

# Sources whose documents are source code (`--code_sources`): normalized as code, no
# language ID, the code rules instead of the web-text rules, no toxicity model, only
# e-mail addresses redacted.
DEFAULT_CODE_SOURCES = ("code", "github", "stack")

_KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def config_from_dict(cls: type[T], mapping: Mapping[str, Any] | None, section: str) -> T:
    """A `cls` instance from `mapping`; missing keys keep their defaults.

    Lists become tuples (configs are frozen and hashable; a single string is a one-item
    list), ints are accepted for floats, and `null` is allowed where the field is
    optional (it disables a rule) or a switch (it turns the switch off). Raises ValueError
    naming `section.key` for an unknown key or a value of the wrong type.
    """
    if mapping is None:
        return cls()
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{section}: expected a mapping, got {type(mapping).__name__}")
    hints = _field_types(cls)
    unknown = sorted(str(key) for key in mapping if key not in hints)
    if unknown:
        raise ValueError(
            f"{section}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(hints))}"
        )
    return cls(
        **{key: checked(value, hints[key], f"{section}.{key}") for key, value in mapping.items()}
    )


@functools.cache
def _field_types(cls) -> dict[str, Any]:
    return {f.name: typing.get_type_hints(cls)[f.name] for f in dataclasses.fields(cls)}


def checked(value: Any, hint: Any, where: str) -> Any:
    """`value` converted to fit the type `hint`, or ValueError naming `where`."""
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    kinds = [o for o in options if o is not type(None)]
    if value is None:
        if type(None) in options:
            return None
        if kinds == [bool]:
            return False
        raise ValueError(f"{where} may not be null")
    if len(kinds) != 1:
        return value  # several non-None types: left to the config's own checks
    (kind,) = kinds
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any or kind is object:
        return value
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ValueError(f"{where} must be a list, not {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(checked(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ValueError(f"{where} must be a list of {len(args)} items, not {value!r}")
        pairs = enumerate(zip(value, args, strict=True))
        return tuple(checked(v, a, f"{where}[{i}]") for i, (v, a) in pairs)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ValueError(f"{where} must be a mapping, not {value!r}")
        key_type, value_type = args
        return {
            checked(k, key_type, where): checked(v, value_type, f"{where}.{k}")
            for k, v in value.items()
        }
    # bool is an int in Python, but `true` is no number and 1 is no switch.
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if (
        isinstance(kind, type)
        and isinstance(value, kind)
        and (kind is bool) == isinstance(value, bool)
    ):
        return value
    raise ValueError(f"{where} must be {_KIND_NAMES.get(kind, kind)}, not {value!r}")


def _is_union(hint: Any) -> bool:
    return isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
