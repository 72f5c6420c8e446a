"""SavedModel towers -> raw .tflite flatbuffers with fixed input shapes (TensorFlow process).

The Task Library feeds a batch of one with a fixed token length (the regex tokenizer pads
to the input tensor's size) and a fixed image size, so each tower's signature is wrapped
in a function with a fully known input shape, saved as a SavedModel and converted from
there (Keras 3's `from_keras_model` aborts the process; docs/STACK.md §7). Only the
signature's own variables are tracked by the wrapper: the text SavedModel also holds the
string signature's vocabulary hash table, which TFLite builtins cannot express.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import tensorflow as tf

from components.common import formats
from components.common.device_search import native_stderr_silenced
from components.common import runtime_env

TEXT_INPUT_NAME = "token_ids"
IMAGE_INPUT_NAME = "pixels"
# The BERT layout's inputs in the order the Task Library feeds them (bert_preprocessor.cc:
# tensor 0 ids, 1 segment ids, 2 mask); the text SavedModel's token-id signature takes them
# under these names.
BERT_INPUT_NAMES = ("ids", "segment_ids", "mask")


class ExportError(RuntimeError):
    """The model cannot be exported as asked; the message says why."""


class _FixedShapeWrapper(tf.Module):
    def __init__(self, signature, input_names: tuple[str, ...], specs: list[tf.TensorSpec]):
        super().__init__()
        self._signature = signature
        self._signature_variables = list(signature.variables)  # tracked, so they are saved
        self._input_names = input_names

        @tf.function(input_signature=specs)
        def serve(*inputs):
            outputs = self._signature(**dict(zip(self._input_names, inputs)))
            return {formats.OUTPUT_EMBEDDING: outputs[formats.OUTPUT_EMBEDDING]}

        self.serve = serve


def load_signature(saved_model_dir: str, name: str):
    """(loaded object, signature); callers keep the object referenced while they use the
    signature, whose variables it owns."""
    if not os.path.isdir(saved_model_dir):
        raise ExportError(f"{saved_model_dir}: no SavedModel directory")
    loaded = tf.saved_model.load(saved_model_dir)
    if name not in loaded.signatures:
        raise ExportError(
            f"{saved_model_dir}: no signature {name!r} (has {sorted(loaded.signatures.keys())})"
        )
    return loaded, loaded.signatures[name]


def _only_input_name(signature, where: str) -> str:
    _, kwargs = signature.structured_input_signature
    if len(kwargs) != 1:
        raise ExportError(f"{where}: expected one input, got {sorted(kwargs)}")
    return next(iter(kwargs))


def _convert(signature, input_names, specs, quantize: bool) -> bytes:
    if isinstance(input_names, str):
        input_names, specs = (input_names,), [specs]
    wrapper = _FixedShapeWrapper(signature, tuple(input_names), list(specs))
    with tempfile.TemporaryDirectory(prefix="t2i-tflite-") as tmp:
        tf.saved_model.save(wrapper, tmp, signatures={"serving_default": wrapper.serve})
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if quantize:
            # Dynamic-range quantization: int8 weights, float activations.
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        # The converter's C++ side prints absl/MLIR lines straight to fd 2.
        with native_stderr_silenced(not runtime_env.is_verbose()):
            return converter.convert()


def convert_text_encoder(saved_model_dir: str, max_tokens: int, quantize: bool) -> bytes:
    """The token-id signature as [1, max_tokens] int32 -> [1, D] float32."""
    loaded, signature = load_signature(saved_model_dir, formats.SIGNATURE_TEXT_TOKEN_IDS)
    name = _only_input_name(signature, saved_model_dir)
    spec = tf.TensorSpec([1, max_tokens], tf.int32, name=TEXT_INPUT_NAME)
    return _convert(signature, name, spec, quantize)


def convert_bert_text_encoder(saved_model_dir: str, max_tokens: int, quantize: bool) -> bytes:
    """The three-input token-id signature as [1, max_tokens] int32 x3 -> [1, D] float32,
    its inputs in the order the Task Library feeds them."""
    loaded, signature = load_signature(saved_model_dir, formats.SIGNATURE_TEXT_TOKEN_IDS)
    _, kwargs = signature.structured_input_signature
    if sorted(kwargs) != sorted(BERT_INPUT_NAMES):
        raise ExportError(
            f"{saved_model_dir}: signature {formats.SIGNATURE_TEXT_TOKEN_IDS!r} must "
            f"take {list(BERT_INPUT_NAMES)} (the BERT layout), takes {sorted(kwargs)}"
        )
    specs = [tf.TensorSpec([1, max_tokens], tf.int32, name=name) for name in BERT_INPUT_NAMES]
    raw = _convert(signature, BERT_INPUT_NAMES, specs, quantize)
    return order_inputs(raw, BERT_INPUT_NAMES, saved_model_dir)


def input_tensor_names(model: bytes) -> list[str]:
    from tensorflow_lite_support.metadata import schema_py_generated as tflite_fb

    graph = tflite_fb.Model.GetRootAsModel(model, 0).Subgraphs(0)
    return [graph.Tensors(graph.Inputs(i)).Name().decode() for i in range(graph.InputsLength())]


def order_inputs(model: bytes, wanted: tuple[str, ...], where: str) -> bytes:
    """The model with its subgraph inputs in the `wanted` order (by input name).

    The converter does not keep the signature's order (it once produced mask, ids,
    segment ids), while the Task Library feeds tensors by position. Reordering the input
    list changes nothing else: tensors keep their indices, the signature maps names.
    """
    import flatbuffers
    from tensorflow_lite_support.metadata import schema_py_generated as tflite_fb

    names = input_tensor_names(model)

    def position(name: str) -> int:
        matches = [
            i
            for i, tensor in enumerate(names)
            if tensor == name or tensor.endswith(f"_{name}:0") or tensor == f"{name}:0"
        ]
        # "ids" also ends "segment_ids": prefer the exact serving_default_<name>:0.
        exact = [i for i in matches if names[i] == f"serving_default_{name}:0"]
        found = exact or matches
        if len(found) != 1:
            raise ExportError(
                f"{where}: after conversion the TFLite inputs are {names}; cannot "
                f"tell which one is {name!r}, so the Task Library would feed "
                "them in the wrong order"
            )
        return found[0]

    order = [position(name) for name in wanted]
    if order == list(range(len(names))):
        return model
    parsed = tflite_fb.ModelT.InitFromObj(tflite_fb.Model.GetRootAsModel(model, 0))
    graph = parsed.subgraphs[0]
    graph.inputs = [graph.inputs[i] for i in order]
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(parsed.Pack(builder), file_identifier=b"TFL3")
    reordered = bytes(builder.Output())
    if input_tensor_names(reordered) != [names[i] for i in order]:
        raise ExportError(f"{where}: reordering the TFLite inputs {names} failed")
    return reordered


def convert_image_encoder(saved_model_dir: str, image_size: int, quantize: bool) -> bytes:
    """The pixel signature as [1, S, S, 3] float32 RGB 0..255 -> [1, D] float32."""
    loaded, signature = load_signature(saved_model_dir, formats.SIGNATURE_IMAGE_PIXELS)
    name = _only_input_name(signature, saved_model_dir)
    spec = tf.TensorSpec([1, image_size, image_size, 3], tf.float32, name=IMAGE_INPUT_NAME)
    return _convert(signature, name, spec, quantize)


def embed_texts(saved_model_dir: str, texts: list[str]) -> np.ndarray:
    """The SavedModel's own string signature: the training-side reference."""
    loaded, signature = load_signature(saved_model_dir, formats.SIGNATURE_TEXT_STRINGS)
    name = _only_input_name(signature, saved_model_dir)
    out = signature(**{name: tf.constant(texts, tf.string)})[formats.OUTPUT_EMBEDDING]
    return out.numpy().astype(np.float32)


def embed_pixels(saved_model_dir: str, pixels: np.ndarray) -> np.ndarray:
    loaded, signature = load_signature(saved_model_dir, formats.SIGNATURE_IMAGE_PIXELS)
    name = _only_input_name(signature, saved_model_dir)
    out = signature(**{name: tf.constant(pixels, tf.float32)})[formats.OUTPUT_EMBEDDING]
    return out.numpy().astype(np.float32)
