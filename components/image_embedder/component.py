"""ImageEmbedder: embeds the Examples' index split with the model's image tower (the DAG
runs it only for a blessed model).

Every EmbedderOptions field is an execution parameter of the same name, plus `code_version`.
"""

from __future__ import annotations

import os

from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import channel, component_spec, standard_artifacts

from components.common.artifacts import Embeddings
from components.common.code_version import code_version
from components.common.options import as_properties
from components.common.spec import execution_parameters
from components.image_embedder import executor
from components.image_embedder.options import EmbedderOptions


class ImageEmbedderSpec(component_spec.ComponentSpec):
    PARAMETERS = {
        **execution_parameters(EmbedderOptions),
        "code_version": component_spec.ExecutionParameter(type=str),
    }
    INPUTS = {
        executor.EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples),
        executor.MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model),
        executor.PREVIOUS_EMBEDDINGS_KEY: component_spec.ChannelParameter(
            type=Embeddings, optional=True, allow_empty=True
        ),
    }
    OUTPUTS = {
        executor.EMBEDDINGS_KEY: component_spec.ChannelParameter(type=Embeddings),
    }


class ImageEmbedder(base_beam_component.BaseBeamComponent):
    """Runs the model's image encoder over every image of the `index` split with Beam
    RunInference and writes a t2i.Embeddings artifact (formats.py). With
    `previous_embeddings` made by the same model and `incremental`, embeds only new ids
    and writes the union. Small collections run in-process on the DirectRunner; from
    `multiprocessing_min_images` on, one worker process per core (or `num_workers`)."""

    SPEC_CLASS = ImageEmbedderSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        examples: channel.BaseChannel,
        model: channel.BaseChannel,
        previous_embeddings: channel.BaseChannel | None = None,
        *,
        options: EmbedderOptions | None = None,
        code_version: str | None = None,
    ):
        super().__init__(
            spec=ImageEmbedderSpec(
                examples=examples,
                model=model,
                previous_embeddings=previous_embeddings,
                **as_properties(options or EmbedderOptions()),
                code_version=code_version or _code_version(),
                embeddings=channel.Channel(type=Embeddings),
            )
        )

    @classmethod
    def from_config(
        cls,
        embedder: EmbedderOptions,
        examples: channel.BaseChannel,
        model: channel.BaseChannel,
        previous_embeddings: channel.BaseChannel | None = None,
        code_version: str | None = None,
    ) -> "ImageEmbedder":
        """From the `embedder` section of the app's Config (EmbedderOptions)."""
        return cls(
            examples, model, previous_embeddings, options=embedder, code_version=code_version
        )


def _code_version() -> str:
    return code_version(os.path.dirname(os.path.abspath(__file__)))
