"""ImageEmbedder executor: unpacks artifacts and calls work.embed_images."""

from __future__ import annotations

import os
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.common import formats
from components.common.options import from_properties
from components.image_embedder.options import EmbedderOptions
from components.image_embedder.work import embed_images

EXAMPLES_KEY = "examples"
MODEL_KEY = "model"
PREVIOUS_EMBEDDINGS_KEY = "previous_embeddings"
EMBEDDINGS_KEY = "embeddings"

# Summary figures copied to the artifact's custom properties (MLMD queries, the UI).
_INT_PROPERTIES = (
    "count",
    "dim",
    "model_artifact_id",
    "input_images",
    "embedded_new",
    "reused",
    "dead_letters",
)
_FLOAT_PROPERTIES = (
    "norm_min",
    "norm_max",
    "norm_mean",
    "wall_seconds",
    "images_per_second",
    "startup_seconds",
    "steady_images_per_second",
)


class Executor(base_beam_executor.BaseBeamExecutor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
        model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
        previous = input_dict.get(PREVIOUS_EMBEDDINGS_KEY) or []
        if len(previous) > 1:
            raise ValueError(
                f"{PREVIOUS_EMBEDDINGS_KEY}: expected at most one artifact, got {len(previous)}"
            )
        embeddings = artifact_utils.get_single_instance(output_dict[EMBEDDINGS_KEY])

        splits = artifact_utils.decode_split_names(examples.split_names)
        if formats.SPLIT_INDEX not in splits:
            raise ValueError(
                f"Examples {examples.uri} has splits {splits}, no {formats.SPLIT_INDEX!r}"
            )
        split_dir = os.path.join(examples.uri, f"Split-{formats.SPLIT_INDEX}")

        options = from_properties(EmbedderOptions, exec_properties)
        make_pipeline = None
        if self._make_beam_pipeline_fn is not None:  # an orchestrator-supplied pipeline wins
            orchestrator_pipeline = self._make_beam_pipeline_fn

            def make_pipeline(_args):
                return orchestrator_pipeline()

        summary = embed_images(
            os.path.join(split_dir, "*"),
            path_utils.serving_model_path(model.uri),
            embeddings.uri,
            model_artifact_id=model.id or None,
            previous_embeddings_uri=previous[0].uri if previous else None,
            incremental=options.incremental,
            batch_size=options.batch_size,
            num_workers=options.num_workers,
            multiprocessing_min_images=options.multiprocessing_min_images,
            beam_pipeline_args=self._beam_pipeline_args,
            make_pipeline=make_pipeline,
            code_version=exec_properties.get("code_version"),
        )
        for name in _INT_PROPERTIES:
            if summary.get(name) is not None:
                embeddings.set_int_custom_property(name, int(summary[name]))
        for name in _FLOAT_PROPERTIES:
            if summary.get(name) is not None:
                embeddings.set_float_custom_property(name, float(summary[name]))
        embeddings.set_string_custom_property("execution_mode", summary["execution"]["mode"])
        embeddings.set_int_custom_property("num_workers", summary["execution"]["workers"])
        embeddings.set_int_custom_property("incremental", int(summary["incremental"]["used"]))
        embeddings.set_string_custom_property("model_uri", summary["model"]["uri"])
        previous_span = (
            previous[0].get_int_custom_property(formats.MAX_SPAN_PROPERTY)
            if previous and summary["incremental"]["used"]
            else 0
        )
        embeddings.set_int_custom_property(
            formats.MAX_SPAN_PROPERTY, max(newest_span(examples), previous_span)
        )


def newest_span(examples: types.Artifact) -> int:
    """The newest input span in an Examples artifact: CocoExampleGen records the spans it
    ingested ("1,2") and TFX the span it resolved (0 when all spans went in at once)."""
    ingested = examples.get_string_custom_property("spans_ingested")
    spans = [int(s) for s in ingested.split(",") if s.strip().isdigit()]
    return max(spans + [int(examples.span or 0)])
