"""Typed options dataclasses filled from mappings and `key=value` strings.

Each component declares its options as a dataclass in its own package (`<component>/
options.py`); the app's Config composes them into sections. This module is the one way a
value from a config file, the command line or a component's `custom_config` becomes a
field of such a dataclass: parsed to the field's type, or a ConfigError naming the source,
the section and the field.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override that does not fit the schema; the message says where."""


def from_mapping(cls: type[T], values: dict[str, Any], *, section: str, source: str) -> T:
    """A `cls` with its defaults overridden by `values` (not strings parsed: a file's or a
    custom_config's values already have their types)."""
    options = cls()
    apply_values(options, values, section=section, source=source)
    return options


def apply_values(options: Any, values: dict[str, Any], *, section: str, source: str) -> None:
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: section {section!r} must be a mapping")
    for name, value in values.items():
        assign(options, section, name, value, source, parse_strings=False)


def assign(
    options: Any, section: str, name: str, value: Any, source: str, parse_strings: bool
) -> None:
    """Sets `options.<name>` to `value` coerced to the field's type; strings are parsed
    (`"3"` -> 3, `"a,b"` -> ["a", "b"]) when `parse_strings`."""
    hints = typing.get_type_hints(type(options))
    if name not in hints:
        known = ", ".join(f.name for f in dataclasses.fields(options))
        raise ConfigError(f"{source}: unknown field {section}.{name} (fields: {known})")
    try:
        setattr(options, name, coerce(hints[name], value, parse_strings))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{source}: {section}.{name}: {e}") from e


def coerce(hint: Any, value: Any, parse_strings: bool) -> Any:
    origin = typing.get_origin(hint)
    if origin is list:
        if parse_strings and isinstance(value, str):
            value = [v for v in value.split(",") if v] if value else []
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {value!r}")
        (item_type,) = typing.get_args(hint)
        return [coerce(item_type, v, parse_strings) for v in value]
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise TypeError(f"expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise TypeError(f"expected an integer, got {value!r}")
        try:
            return int(str(value).replace("_", "")) if isinstance(value, str) else int(value)
        except ValueError:
            raise TypeError(f"expected an integer, got {value!r}") from None
    if hint is float:
        if isinstance(value, bool):
            raise TypeError(f"expected a number, got {value!r}")
        try:
            return float(value)
        except ValueError:
            raise TypeError(f"expected a number, got {value!r}") from None
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported field type {hint!r}")


def as_properties(options: Any) -> dict[str, Any]:
    """The options as TFX execution properties: one per field, booleans as 0/1 (KFP v2 has
    no boolean execution parameters in TFX 1.16)."""
    hints = typing.get_type_hints(type(options))
    return {
        f.name: property_type(hints[f.name])(getattr(options, f.name))
        for f in dataclasses.fields(options)
    }


def from_properties(cls: type[T], exec_properties: dict[str, Any]) -> T:
    """The options a component's executor was given (as_properties' inverse); a field with
    no property keeps its default."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in exec_properties:
            value = exec_properties[f.name]
            values[f.name] = bool(int(value)) if hints[f.name] is bool else hints[f.name](value)
    return cls(**values)


def property_type(hint: Any) -> Any:
    """The execution parameter type of an options field's type hint."""
    return int if hint is bool else hint
