"""SearcherBuilder executor: unpacks artifacts and calls work.build_searcher."""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.common import captions as captions_reader
from components.common import formats
from components.common.options import from_properties
from components.searcher_builder import work
from components.searcher_builder.options import SearcherOptions


class Executor(base_executor.BaseExecutor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        embeddings = artifact_utils.get_single_uri(input_dict["embeddings"])
        text_encoder = artifact_utils.get_single_uri(input_dict["text_encoder"])
        output = artifact_utils.get_single_instance(output_dict["searcher"])
        config = from_properties(SearcherOptions, exec_properties)
        captions = None
        if input_dict.get("examples"):
            # Train captions: real text queries, and none of the validator's eval captions.
            train = artifact_utils.get_split_uri(input_dict["examples"], formats.SPLIT_TRAIN)
            captions = captions_reader.read_captions(train, config.tuning_queries)
        previous = input_dict.get("previous_searcher")
        summary = work.build_searcher(
            embeddings,
            text_encoder,
            output.uri,
            config,
            tuning_captions=captions,
            previous_searcher_dir=artifact_utils.get_single_uri(previous) if previous else None,
        )
        chosen = summary["chosen"]
        for key in ("num_items", "index_bytes", "searcher_bytes", "text_encoder_bytes"):
            if summary.get(key) is not None:
                output.set_int_custom_property(key, int(summary[key]))
        output.set_int_custom_property("num_leaves", int(chosen["num_leaves"]))
        output.set_int_custom_property("leaves_to_search", int(chosen["leaves_to_search"]))
        output.set_string_custom_property("lookup", str(chosen["lookup"]))
        output.set_float_custom_property("bytes_per_item", float(summary["bytes_per_item"]))
        output.set_float_custom_property("build_seconds", float(summary["build_seconds"]))
        output.set_int_custom_property("incremental", int(summary["incremental"]["used"]))
        if summary["tuning"]:
            output.set_float_custom_property(
                "tuning_recall_at_10", float(summary["tuning"]["chosen"]["recall_at_10"])
            )
