"""TextEncoderExporter executor: unpacks artifacts and calls work.export_encoders."""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.common.options import from_properties
from components.text_encoder_exporter import work
from components.text_encoder_exporter.options import ExporterOptions


class Executor(base_executor.BaseExecutor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        model = artifact_utils.get_single_instance(input_dict["model"])
        output = artifact_utils.get_single_instance(output_dict["text_encoder"])
        options = from_properties(ExporterOptions, exec_properties)
        summary = work.export_encoders(
            path_utils.serving_model_path(model.uri), output.uri, options
        )
        output.set_int_custom_property("quantized", int(options.quantize))
        output.set_int_custom_property("text_encoder_bytes", summary["text_encoder_bytes"])
        output.set_float_custom_property("text_min_cosine", summary["check"]["text_min_cosine"])
        output.set_string_custom_property("model_version", summary["version"])
