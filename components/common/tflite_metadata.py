"""TFLite Task Library metadata for the two encoders: the text encoder's tokenizer (regex:
delimiter + vocab file; or the BERT layout's WordPiece / SentencePiece file) and the image
encoder's normalization, plus name, version and
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
    return metadata_info.GeneralMd(
        name=info["name"],
        version=info["version"],
        description=info["description"],
        author=info["author"],
    )


def _embedding_output(description: str) -> metadata_info.TensorMd:
    return metadata_info.TensorMd(name="embedding", description=description)


def text_model_with_metadata(raw: bytes, vocab_path: str, delimiter: str, general: dict) -> bytes:
    """Input: the regex tokenizer (delimiter + vocab file); output: the search embedding."""
    tokenizer_md = metadata_info.RegexTokenizerMd(delimiter, vocab_path)
    writer = metadata_writer.MetadataWriter.create_from_metadata_info(
        bytearray(raw),
        general_md=_general(general),
        input_md=[
            metadata_info.InputTextTensorMd(
                name="query",
                description="The query text, tokenized on device.",
                tokenizer_md=tokenizer_md,
            )
        ],
        output_md=[_embedding_output("L2-normalized text embedding in the shared space.")],
        associated_files=[vocab_path],
    )
    return bytes(writer.populate())


# The names the exporter gives the three BERT-layout inputs (the text_encoder_exporter's
# convert.BERT_INPUT_NAMES) as the converter names them in the .tflite.
BERT_TENSOR_NAMES = {
    "ids": "serving_default_ids:0",
    "segment_ids": "serving_default_segment_ids:0",
    "mask": "serving_default_mask:0",
}


def bert_text_model_with_metadata(
    raw: bytes, kind: str, tokenizer_path: str, general: dict
) -> bytes:
    """Three inputs (ids, segment ids, mask) and a subgraph-level WordPiece or SentencePiece
    tokenizer (the Task Library's BERT route); output: the search embedding."""
    if kind == "wordpiece":
        tokenizer_md = metadata_info.BertTokenizerMd(tokenizer_path)
    elif kind == "sentencepiece":
        tokenizer_md = metadata_info.SentencePieceTokenizerMd(tokenizer_path)
    else:
        raise ValueError(f"{tokenizer_path}: unknown tokenizer kind {kind!r}")
    model = bytearray(raw)
    inputs = metadata_info.BertInputTensorsMd(
        model,
        BERT_TENSOR_NAMES["ids"],
        BERT_TENSOR_NAMES["mask"],
        BERT_TENSOR_NAMES["segment_ids"],
        tokenizer_md=tokenizer_md,
    )
    writer = metadata_writer.MetadataWriter.create_from_metadata(
        model,
        model_metadata=_general(general).create_metadata(),
        input_metadata=inputs.create_input_tesnor_metadata(),
        output_metadata=[
            _embedding_output("L2-normalized text embedding in the shared space.").create_metadata()
        ],
        associated_files=inputs.get_tokenizer_associated_files(),
        input_process_units=inputs.create_input_process_unit_metadata(),
    )
    return bytes(writer.populate())


def text_model_for(raw: bytes, request: dict) -> bytes:
    """The text model with the metadata its input style needs (the request names either
    tokenizer_kind + tokenizer_file, or vocab + delimiter)."""
    if request.get("tokenizer_kind"):
        return bert_text_model_with_metadata(
            raw, request["tokenizer_kind"], request["tokenizer_file"], request["text_general"]
        )
    return text_model_with_metadata(
        raw, request["vocab"], request["delimiter"], request["text_general"]
    )


def image_model_with_metadata(
    raw: bytes, norm_mean: float, norm_std: float, general: dict
) -> bytes:
    """Input: an RGB image normalized as (pixel - mean) / std; output: the embedding."""
    image_md = metadata_info.InputImageTensorMd(
        name="image",
        description="RGB image, resized by the Task Library to the input size.",
        norm_mean=[norm_mean],
        norm_std=[norm_std],
        color_space_type=metadata_fb.ColorSpaceType.RGB,
        tensor_type=tflite_fb.TensorType.FLOAT32,
    )
    writer = metadata_writer.MetadataWriter.create_from_metadata_info(
        bytearray(raw),
        general_md=_general(general),
        input_md=[image_md],
        output_md=[_embedding_output("L2-normalized image embedding in the shared space.")],
    )
    return bytes(writer.populate())
