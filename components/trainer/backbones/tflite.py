"""Backbone -> TFLite with built-in ops only, and running it: the device check the catalogue's
tests and bench/backbones_bench.py make. (The exporter has its own path for whole towers.)"""

from __future__ import annotations

import tempfile

import numpy as np
import tensorflow as tf


class _Serving(tf.Module):
    def __init__(self, model: tf.keras.Model, specs: list[tf.TensorSpec]):
        super().__init__()
        # Only the variables are tracked, not the Keras model: saving a tracked tf_keras
        # model traces every layer's call for Keras' own SavedModel metadata (200 s for
        # EfficientNet-Lite0 on this machine), which TFLite conversion does not need.
        self._variables = list(model.variables)
        # A hub.KerasLayer's loaded SavedModel owns resources (assets, restored functions)
        # beyond its variables: track those objects too.
        self._loaded = [
            layer.resolved_object for layer in model.submodules if hasattr(layer, "resolved_object")
        ]

        # autograph=False: Keras would otherwise autograph-convert every layer call (over a
        # minute for EfficientNet on this machine); the model has no Python control flow.
        @tf.function(input_signature=specs, autograph=False)
        def serve(*inputs):
            return {
                "features": model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
            }

        self.serve = serve


def input_specs(model: tf.keras.Model, batch: int = 1, length: int = 0) -> list[tf.TensorSpec]:
    """The model's inputs with a fixed batch size, named as in the model; a text backbone's
    inputs of any length (contract.TextBackbone) get `length`, the device's T."""
    return [
        tf.TensorSpec(
            [batch, *(length if d is None and length else d for d in t.shape[1:])],
            t.dtype,
            name=t.name.split(":")[0],
        )
        for t in model.inputs
    ]


def convert(model: tf.keras.Model, batch: int = 1, length: int = 0) -> bytes:
    """Via a SavedModel (SEARCHER_FORMAT.md), TFLITE_BUILTINS only: the Task Library has no
    Flex delegate, so conversion fails here on any op a device could not run."""
    serving = _Serving(model, input_specs(model, batch, length))
    with tempfile.TemporaryDirectory(prefix="t2i-backbone-") as tmp:
        tf.saved_model.save(serving, tmp, signatures={"serving_default": serving.serve})
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()


def run(flatbuffer: bytes, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Runs the serving signature, one example at a time (the device's batch of one)."""
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    runner = interpreter.get_signature_runner("serving_default")
    count = len(next(iter(inputs.values())))
    return np.concatenate(
        [
            runner(**{name: value[i : i + 1] for name, value in inputs.items()})["features"]
            for i in range(count)
        ]
    )
