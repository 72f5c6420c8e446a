"""TFLite Task Library metadata for the two encoders: the text encoder's regex tokenizer
(delimiter + vocab file) and the image encoder's normalization, plus name, version and
author. Used by the exporter (text_encoder.tflite, image_encoder.tflite) and by the
searcher builder (the query encoder inside searcher.tflite).

tflite_support's pybind clashes with TensorFlow's in one process: only TF-free processes
import this module (it blocks TensorFlow itself, as their entry points do).
"""
from __future__ import annotations

from components.common.tf_free import block_tensorflow

block_tensorflow()

from tensorflow_lite_support.metadata import metadata_schema_py_generated as metadata_fb  # noqa: E402
from tensorflow_lite_support.metadata import schema_py_generated as tflite_fb  # noqa: E402
from tensorflow_lite_support.metadata.python.metadata_writers import (  # noqa: E402
    metadata_info,
    metadata_writer,
)


def _general(info: dict) -> metadata_info.GeneralMd:
    return metadata_info.GeneralMd(name=info["name"], version=info["version"],
                                   description=info["description"], author=info["author"])


def _embedding_output(description: str) -> metadata_info.TensorMd:
    return metadata_info.TensorMd(name="embedding", description=description)


def text_model_with_metadata(raw: bytes, vocab_path: str, delimiter: str, general: dict) -> bytes:
    """Input: the regex tokenizer (delimiter + vocab file); output: the search embedding."""
    tokenizer_md = metadata_info.RegexTokenizerMd(delimiter, vocab_path)
    writer = metadata_writer.MetadataWriter.create_from_metadata_info(
        bytearray(raw), general_md=_general(general),
        input_md=[metadata_info.InputTextTensorMd(
            name="query", description="The query text, tokenized on device.",
            tokenizer_md=tokenizer_md)],
        output_md=[_embedding_output("L2-normalized text embedding in the shared space.")],
        associated_files=[vocab_path])
    return bytes(writer.populate())


def image_model_with_metadata(raw: bytes, norm_mean: float, norm_std: float, general: dict) -> bytes:
    """Input: an RGB image normalized as (pixel - mean) / std; output: the embedding."""
    image_md = metadata_info.InputImageTensorMd(
        name="image", description="RGB image, resized by the Task Library to the input size.",
        norm_mean=[norm_mean], norm_std=[norm_std],
        color_space_type=metadata_fb.ColorSpaceType.RGB,
        tensor_type=tflite_fb.TensorType.FLOAT32)
    writer = metadata_writer.MetadataWriter.create_from_metadata_info(
        bytearray(raw), general_md=_general(general), input_md=[image_md],
        output_md=[_embedding_output("L2-normalized image embedding in the shared space.")])
    return bytes(writer.populate())
