"""SearcherValidator: Searcher + Embeddings + TextEncoder + eval Examples ->
t2i.SearcherBlessing (custom property `blessed` 1/0 and the figures)."""

from __future__ import annotations

import os
from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.common import artifacts
from components.common import code_version as code_version_lib
from components.common.options import as_properties
from components.common.spec import execution_parameters
from components.searcher_validator import executor
from components.searcher_validator.options import ValidatorOptions

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class SearcherValidatorSpec(ComponentSpec):
    PARAMETERS = {
        **execution_parameters(ValidatorOptions),
        "code_version": ExecutionParameter(type=str),
    }
    INPUTS = {
        "searcher": ChannelParameter(type=artifacts.Searcher),
        "embeddings": ChannelParameter(type=artifacts.Embeddings),
        "text_encoder": ChannelParameter(type=artifacts.TextEncoder),
        "examples": ChannelParameter(type=standard_artifacts.Examples),
    }
    OUTPUTS = {"blessing": ChannelParameter(type=artifacts.SearcherBlessing)}


class SearcherValidator(base_component.BaseComponent):
    """Outputs `blessing`: validation_summary.json; `blessed` (1/0), recall@10, top-1
    agreement, p50/p95 latency and the reasons as custom properties."""

    SPEC_CLASS = SearcherValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        searcher: types.BaseChannel,
        embeddings: types.BaseChannel,
        text_encoder: types.BaseChannel,
        examples: types.BaseChannel,
        *,
        options: Optional[ValidatorOptions] = None,
        code_version: Optional[str] = None,
    ):
        super().__init__(
            spec=SearcherValidatorSpec(
                searcher=searcher,
                embeddings=embeddings,
                text_encoder=text_encoder,
                examples=examples,
                **as_properties(options or ValidatorOptions()),
                code_version=code_version or code_version_lib.code_version(PACKAGE_DIR),
                blessing=types.Channel(type=artifacts.SearcherBlessing),
            )
        )

    @classmethod
    def from_config(
        cls,
        validator: ValidatorOptions,
        searcher: types.BaseChannel,
        embeddings: types.BaseChannel,
        text_encoder: types.BaseChannel,
        examples: types.BaseChannel,
        code_version: Optional[str] = None,
    ) -> "SearcherValidator":
        """From the `validator` section of the app's Config (ValidatorOptions)."""
        return cls(
            searcher,
            embeddings,
            text_encoder,
            examples,
            options=validator,
            code_version=code_version,
        )
