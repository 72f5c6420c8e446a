"""CocoExampleGen's executor: unpacks what TFX hands over and calls ingest_resolved()."""

from __future__ import annotations

from typing import Any

from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.coco_example_gen import layout, report, work
from components.common import formats, item_metadata

IMAGE_DIR_KEY = "image_dir"
SPLIT_MODE_KEY = "split_mode"
EVAL_FRACTION_KEY = "eval_fraction"
MAX_IMAGE_PIXELS_KEY = "max_image_pixels"
ITEM_METADATA_KEY = "item_metadata"
CODE_VERSION_KEY = "code_version"
# Optional input: the Embeddings the current index was built from. With it and
# spans="latest", every span newer than the ones it covers is ingested.
INDEXED_EMBEDDINGS_KEY = "indexed_embeddings"


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes the overlapping train / eval / index splits (beyond what TFX's split configs
    can express) with the input patterns and span that TFX's file-based driver resolved."""

    def Do(
        self,
        input_dict: dict[str, list],
        output_dict: dict[str, list],
        exec_properties: dict[str, Any],
    ) -> None:
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY]
        )
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config
        )
        data_dir = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        span = int(exec_properties.get(example_gen_utils.SPAN_PROPERTY_NAME) or 0)
        patterns = [split.pattern for split in input_config.splits]
        indexed = input_dict.get(INDEXED_EMBEDDINGS_KEY) or []
        if indexed:
            covered = indexed[0].get_int_custom_property(formats.MAX_SPAN_PROPERTY)
            patterns = [
                p
                for pattern in patterns
                for p in layout.span_range_patterns(data_dir, pattern, covered + 1, span)
            ]
        result = work.ingest_resolved(
            data_dir,
            patterns,
            examples.uri,
            span=span,
            image_dir=exec_properties.get(IMAGE_DIR_KEY) or "",
            split_mode=exec_properties[SPLIT_MODE_KEY],
            eval_fraction=float(exec_properties[EVAL_FRACTION_KEY]),
            max_image_pixels=int(exec_properties[MAX_IMAGE_PIXELS_KEY]),
            item_metadata=exec_properties.get(ITEM_METADATA_KEY) or item_metadata.DEFAULT_LAYOUT,
            make_pipeline=self._make_beam_pipeline,
        )
        examples.split_names = artifact_utils.encode_split_names(list(formats.SPLITS))
        # The standard properties TFX's own ExampleGen executor sets from the driver's
        # resolution; downstream statistics and the rebuild DAG's span check read them.
        examples.span = int(exec_properties.get(example_gen_utils.SPAN_PROPERTY_NAME) or 0)
        if exec_properties.get(example_gen_utils.VERSION_PROPERTY_NAME) is not None:
            examples.version = int(exec_properties[example_gen_utils.VERSION_PROPERTY_NAME])
        # What StatisticsGen, Transform and friends read to know how to parse the splits.
        examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(
            examples, write_split.to_file_format_str(example_gen_pb2.FORMAT_TFRECORDS_GZIP)
        )
        for name, value in report.custom_properties(result).items():
            if isinstance(value, int):
                examples.set_int_custom_property(name, value)
            else:
                examples.set_string_custom_property(name, value)
