"""CocoExampleGen: a TFX file-based ExampleGen for COCO captions collections.

Built on FileBasedExampleGen so TFX's own driver (LocalDagRunner, and the pre-cache-check
hook KubeflowV2DagRunner adds for FileBasedExampleGen) resolves {SPAN} to the latest span
and records the span and a fingerprint of the matched annotation files before the cache
lookup: new or changed annotations re-run it, unchanged input is served from the cache.
"""

from __future__ import annotations

import os
from typing import Optional

from tfx import types
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.types.standard_component_specs import FileBasedExampleGenSpec

from components.coco_example_gen import executor, layout, storage
from components.coco_example_gen.options import DataOptions
from components.common import formats
from components.common.artifacts import Embeddings
from components.common.code_version import code_version as _code_version

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class CocoExampleGenSpec(FileBasedExampleGenSpec):
    INPUTS = {
        executor.INDEXED_EMBEDDINGS_KEY: ChannelParameter(type=Embeddings, optional=True),
    }
    PARAMETERS = {
        **FileBasedExampleGenSpec.PARAMETERS,
        executor.IMAGE_DIR_KEY: ExecutionParameter(type=str),
        executor.SPLIT_MODE_KEY: ExecutionParameter(type=str),
        executor.EVAL_FRACTION_KEY: ExecutionParameter(type=float),
        executor.MAX_IMAGE_PIXELS_KEY: ExecutionParameter(type=int),
        executor.ITEM_METADATA_KEY: ExecutionParameter(type=str),
        executor.CODE_VERSION_KEY: ExecutionParameter(type=str),
    }


class CocoExampleGen(FileBasedExampleGen):
    """Outputs `examples`: Examples with splits train, eval (captioned images) and index
    (every ingested image), ingest_report.json, and the report's counts as properties."""

    SPEC_CLASS = CocoExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        options: DataOptions,
        *,
        indexed_embeddings: Optional[types.BaseChannel] = None,
        code_version: Optional[str] = None,
    ):
        """The options are checked before the DAG is built (the app's config validation,
        options.problems) and again by the executor's ingest."""
        data_dir = options.data_dir
        if not storage.is_remote(data_dir):
            data_dir = os.path.abspath(data_dir)  # the executor may run from another cwd
        inputs = layout.input_patterns(
            layout.annotations_glob(data_dir, options.annotations_file), options.spans
        )
        input_config = example_gen_pb2.Input(
            splits=[
                example_gen_pb2.Input.Split(name=name, pattern=pattern) for name, pattern in inputs
            ]
        )
        # Records the split names in MLMD; the executor decides membership, not hash buckets.
        output_config = example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(
                splits=[example_gen_pb2.SplitConfig.Split(name=name) for name in formats.SPLITS]
            )
        )
        spec = CocoExampleGenSpec(
            input_base=data_dir,
            input_config=input_config,
            output_config=output_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            image_dir=options.image_dir,
            split_mode=options.split,
            eval_fraction=float(options.eval_fraction),
            max_image_pixels=int(options.max_image_pixels),
            item_metadata=options.item_metadata,
            code_version=code_version or _code_version(PACKAGE_DIR),
            indexed_embeddings=indexed_embeddings,
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        # FileBasedExampleGen.__init__ would build the stock spec; only its base's is wanted.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)

    @classmethod
    def from_config(
        cls,
        data: DataOptions,
        indexed_embeddings: Optional[types.BaseChannel] = None,
        code_version: Optional[str] = None,
    ) -> "CocoExampleGen":
        """From the `data` section of the app's Config (DataOptions)."""
        return cls(data, indexed_embeddings=indexed_embeddings, code_version=code_version)
