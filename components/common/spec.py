"""Component specs driven by an options dataclass: every field is an execution parameter
of the same name (so ML Metadata records the options and TFX caching notices a change).
Imports TFX; the options themselves (components/common/options.py) do not."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from tfx.types.component_spec import ExecutionParameter

from components.common.options import property_type


def execution_parameters(options_class: type) -> dict[str, Any]:
    """{field name: ExecutionParameter} for every field of the options dataclass."""
    hints = typing.get_type_hints(options_class)
    return {
        f.name: ExecutionParameter(type=property_type(hints[f.name]))
        for f in dataclasses.fields(options_class)
    }
