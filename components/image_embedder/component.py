"""ImageEmbedder: embeds the Examples' index split with the (blessed) model's image tower."""
from __future__ import annotations

import os

from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import channel, component_spec, standard_artifacts

from components.common.artifacts import Embeddings
from components.common.code_version import code_version
from components.image_embedder import executor


class ImageEmbedderSpec(component_spec.ComponentSpec):
    PARAMETERS = {
        "batch_size": component_spec.ExecutionParameter(type=int),
        "num_workers": component_spec.ExecutionParameter(type=int),
        "multiprocessing_min_images": component_spec.ExecutionParameter(type=int),
        # 0/1: an int, because KFP v2 has no boolean execution parameters in TFX 1.16.
        "incremental": component_spec.ExecutionParameter(type=int),
        "code_version": component_spec.ExecutionParameter(type=str),
    }
    INPUTS = {
        executor.EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples),
        executor.MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model),
        executor.MODEL_BLESSING_KEY: component_spec.ChannelParameter(
            type=standard_artifacts.ModelBlessing, optional=True),
        executor.PREVIOUS_EMBEDDINGS_KEY: component_spec.ChannelParameter(
            type=Embeddings, optional=True, allow_empty=True),
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

    def __init__(self, examples: channel.BaseChannel, model: channel.BaseChannel,
                 model_blessing: channel.BaseChannel | None = None,
                 previous_embeddings: channel.BaseChannel | None = None, *,
                 batch_size: int = 64, num_workers: int = 0,
                 multiprocessing_min_images: int = 100_000, incremental: bool = True,
                 code_version: str | None = None):
        super().__init__(spec=ImageEmbedderSpec(
            examples=examples,
            model=model,
            model_blessing=model_blessing,
            previous_embeddings=previous_embeddings,
            batch_size=batch_size,
            num_workers=num_workers,
            multiprocessing_min_images=multiprocessing_min_images,
            incremental=int(bool(incremental)),
            code_version=code_version or _code_version(),
            embeddings=channel.Channel(type=Embeddings),
        ))


def _code_version() -> str:
    return code_version(os.path.dirname(os.path.abspath(__file__)))
