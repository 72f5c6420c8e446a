"""TF-free half of the export: Task Library metadata, then embeddings through the Task
Library itself for the exporter's self-check.

Run as `python -m components.text_encoder_exporter.device_export` with a JSON request on
stdin (components.common.tf_free.run_module). It writes `text_out` / `image_out` from the
raw flatbuffers and saves what TextEmbedder / ImageEmbedder make of the check inputs.
"""
from __future__ import annotations

from components.common.tf_free import block_tensorflow

block_tensorflow()

import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
from tensorflow_lite_support.metadata.python.metadata_writers import (  # noqa: E402
    metadata_info,
    metadata_writer,
)
from tensorflow_lite_support.metadata import metadata_schema_py_generated as metadata_fb  # noqa: E402
from tensorflow_lite_support.metadata import schema_py_generated as tflite_fb  # noqa: E402

from components.common import device_search  # noqa: E402


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


# The names the exporter gives the three BERT-layout inputs (convert.BERT_INPUT_NAMES) as
# the converter names them in the .tflite.
BERT_TENSOR_NAMES = {"ids": "serving_default_ids:0", "segment_ids": "serving_default_segment_ids:0",
                     "mask": "serving_default_mask:0"}


def bert_text_model_with_metadata(raw: bytes, kind: str, tokenizer_path: str,
                                  general: dict) -> bytes:
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
        model, BERT_TENSOR_NAMES["ids"], BERT_TENSOR_NAMES["mask"],
        BERT_TENSOR_NAMES["segment_ids"], tokenizer_md=tokenizer_md)
    writer = metadata_writer.MetadataWriter.create_from_metadata(
        model, model_metadata=_general(general).create_metadata(),
        input_metadata=inputs.create_input_tesnor_metadata(),
        output_metadata=[_embedding_output(
            "L2-normalized text embedding in the shared space.").create_metadata()],
        associated_files=inputs.get_tokenizer_associated_files(),
        input_process_units=inputs.create_input_process_unit_metadata())
    return bytes(writer.populate())


def text_model_for(raw: bytes, request: dict) -> bytes:
    """The text model with the metadata its input style needs."""
    if request.get("tokenizer_kind"):
        return bert_text_model_with_metadata(raw, request["tokenizer_kind"],
                                             request["tokenizer_file"], request["text_general"])
    return text_model_with_metadata(raw, request["vocab"], request["delimiter"],
                                    request["text_general"])


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


def text_embeddings(model_path: str, texts: list[str]) -> np.ndarray:
    embedder = device_search.open_text_embedder(model_path)
    with device_search.native_stderr_silenced():
        return np.stack([device_search.embedding_of(embedder.embed(t)) for t in texts])


def image_embeddings(model_path: str, pixels: np.ndarray) -> np.ndarray:
    embedder = device_search.open_image_embedder(model_path)
    with device_search.native_stderr_silenced():
        return np.stack([device_search.embedding_of(embedder.embed(device_search.tensor_image(p)))
                         for p in pixels])


def run(request: dict) -> dict:
    with open(request["text_raw"], "rb") as f:
        text_model = text_model_for(f.read(), request)
    with open(request["text_out"], "wb") as f:
        f.write(text_model)
    np.save(request["text_embeddings_out"], text_embeddings(request["text_out"], request["texts"]))
    if "image_raw" not in request:
        return {"text_bytes": len(text_model)}

    with open(request["image_raw"], "rb") as f:
        image_model = image_model_with_metadata(f.read(), request["norm_mean"], request["norm_std"],
                                                request["image_general"])
    with open(request["image_out"], "wb") as f:
        f.write(image_model)
    pixels = np.load(request["pixels"])
    np.save(request["image_embeddings_out"], image_embeddings(request["image_out"], pixels))
    return {"text_bytes": len(text_model), "image_bytes": len(image_model)}


def main() -> None:
    print(json.dumps(run(json.load(sys.stdin))))


if __name__ == "__main__":
    main()
