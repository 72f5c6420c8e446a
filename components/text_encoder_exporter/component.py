"""TextEncoderExporter: Model -> t2i.TextEncoder.

The self-check runs on the eval captions inside the Model artifact (eval_captions.txt),
not on an Examples input: a new span of data leaves the model, and so this component's
cache key, unchanged.
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
from components.text_encoder_exporter import executor
from components.text_encoder_exporter.options import ExporterOptions

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class TextEncoderExporterSpec(ComponentSpec):
    PARAMETERS = {
        **execution_parameters(ExporterOptions),
        "code_version": ExecutionParameter(type=str),
    }
    INPUTS = {"model": ChannelParameter(type=standard_artifacts.Model)}
    OUTPUTS = {"text_encoder": ChannelParameter(type=artifacts.TextEncoder)}


class TextEncoderExporter(base_component.BaseComponent):
    """Outputs `text_encoder`: text_encoder.tflite (regex tokenizer + vocab metadata),
    image_encoder.tflite (image metadata) and export_summary.json, checked against the
    SavedModel on the model's eval captions; quantized, size and check figures as
    properties."""

    SPEC_CLASS = TextEncoderExporterSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        *,
        options: Optional[ExporterOptions] = None,
        code_version: Optional[str] = None,
    ):
        super().__init__(
            spec=TextEncoderExporterSpec(
                model=model,
                **as_properties(options or ExporterOptions()),
                code_version=code_version or code_version_lib.code_version(PACKAGE_DIR),
                text_encoder=types.Channel(type=artifacts.TextEncoder),
            )
        )

    @classmethod
    def from_config(
        cls, exporter: ExporterOptions, model: types.BaseChannel, code_version: Optional[str] = None
    ) -> "TextEncoderExporter":
        """From the `exporter` section of the app's Config (ExporterOptions)."""
        return cls(model, options=exporter, code_version=code_version)
