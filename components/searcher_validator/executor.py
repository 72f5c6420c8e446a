"""SearcherValidator executor: unpacks artifacts, calls work.validate_searcher and
records the verdict as custom properties of the blessing."""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.common import formats
from components.common.options import from_properties
from components.searcher_validator import work
from components.searcher_validator.options import ValidatorOptions


class Executor(base_executor.BaseExecutor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        blessing = artifact_utils.get_single_instance(output_dict["blessing"])
        options = from_properties(ValidatorOptions, exec_properties)
        summary = work.validate_searcher(
            artifact_utils.get_single_uri(input_dict["searcher"]),
            artifact_utils.get_single_uri(input_dict["embeddings"]),
            artifact_utils.get_single_uri(input_dict["text_encoder"]),
            artifact_utils.get_split_uri(input_dict["examples"], formats.SPLIT_EVAL),
            blessing.uri,
            options,
        )
        blessing.set_int_custom_property("blessed", int(summary["blessed"]))
        blessing.set_int_custom_property("num_queries", int(summary["num_queries"]))
        for key in ("recall_at_10", "top1_agreement", "p50_ms", "p95_ms"):
            blessing.set_float_custom_property(key, float(summary[key]))
        blessing.set_string_custom_property("reasons", "; ".join(summary["reasons"]))
