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


class ExportError(RuntimeError):
    """The model cannot be exported as asked; the message says why."""


class _FixedShapeWrapper(tf.Module):
    def __init__(self, signature, input_name: str, spec: tf.TensorSpec):
        super().__init__()
        self._signature = signature
        self._signature_variables = list(signature.variables)  # tracked, so they are saved
        self._input_name = input_name

        @tf.function(input_signature=[spec])
        def serve(x):
            outputs = self._signature(**{self._input_name: x})
            return {formats.OUTPUT_EMBEDDING: outputs[formats.OUTPUT_EMBEDDING]}

        self.serve = serve


def load_signature(saved_model_dir: str, name: str):
    """(loaded object, signature); callers keep the object referenced while they use the
    signature, whose variables it owns."""
    if not os.path.isdir(saved_model_dir):
        raise ExportError(f"{saved_model_dir}: no SavedModel directory")
    loaded = tf.saved_model.load(saved_model_dir)
    if name not in loaded.signatures:
        raise ExportError(f"{saved_model_dir}: no signature {name!r} "
                          f"(has {sorted(loaded.signatures.keys())})")
    return loaded, loaded.signatures[name]


def _only_input_name(signature, where: str) -> str:
    _, kwargs = signature.structured_input_signature
    if len(kwargs) != 1:
        raise ExportError(f"{where}: expected one input, got {sorted(kwargs)}")
    return next(iter(kwargs))


def _convert(signature, input_name: str, spec: tf.TensorSpec, quantize: bool) -> bytes:
    wrapper = _FixedShapeWrapper(signature, input_name, spec)
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
