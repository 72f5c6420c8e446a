"""SearcherBuilder: Embeddings + TextEncoder (+ optional Examples) -> t2i.Searcher.

With `examples`, auto-tuning queries are the train split's captions embedded on device;
without, perturbed copies of items (work.py explains why real captions are better).
With `previous_searcher` (the index rebuild passes the latest one), its index is extended
with the new items instead of retrained when it can be (incremental.py).

Every SearcherOptions field is an execution parameter of the same name (so MLMD records
the options and TFX caching notices a change), plus `code_version`.
"""

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
from components.searcher_builder import executor
from components.searcher_builder.options import SearcherOptions

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class SearcherBuilderSpec(ComponentSpec):
    PARAMETERS = {
        **execution_parameters(SearcherOptions),
        "code_version": ExecutionParameter(type=str),
    }
    INPUTS = {
        "embeddings": ChannelParameter(type=artifacts.Embeddings),
        "text_encoder": ChannelParameter(type=artifacts.TextEncoder),
        # Optional: train captions to auto-tune with real text queries (else item copies).
        "examples": ChannelParameter(type=standard_artifacts.Examples, optional=True),
        # Optional: the searcher this one follows; its index is extended when it can be.
        "previous_searcher": ChannelParameter(type=artifacts.Searcher, optional=True),
    }
    OUTPUTS = {"searcher": ChannelParameter(type=artifacts.Searcher)}


class SearcherBuilder(base_component.BaseComponent):
    """Outputs `searcher`: searcher.tflite, image_searcher.tflite, scann_server_index/ and
    searcher_summary.json; size, settings and build time as properties."""

    SPEC_CLASS = SearcherBuilderSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        embeddings: types.BaseChannel,
        text_encoder: types.BaseChannel,
        options: Optional[SearcherOptions] = None,
        examples: Optional[types.BaseChannel] = None,
        previous_searcher: Optional[types.BaseChannel] = None,
        code_version: Optional[str] = None,
    ):
        super().__init__(
            spec=SearcherBuilderSpec(
                embeddings=embeddings,
                text_encoder=text_encoder,
                examples=examples,
                previous_searcher=previous_searcher,
                **as_properties(options or SearcherOptions()),
                code_version=code_version or code_version_lib.code_version(PACKAGE_DIR),
                searcher=types.Channel(type=artifacts.Searcher),
            )
        )

    @classmethod
    def from_config(
        cls,
        searcher: SearcherOptions,
        embeddings: types.BaseChannel,
        text_encoder: types.BaseChannel,
        examples: Optional[types.BaseChannel] = None,
        previous_searcher: Optional[types.BaseChannel] = None,
        code_version: Optional[str] = None,
    ) -> "SearcherBuilder":
        """From the `searcher` section of the app's Config (SearcherOptions)."""
        return cls(
            embeddings,
            text_encoder,
            options=searcher,
            examples=examples,
            previous_searcher=previous_searcher,
            code_version=code_version,
        )
