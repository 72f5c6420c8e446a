"""Beam RunInference model handler for the image tower's SavedModel.

Beam's own TensorFlow handlers load with `tf.keras.models.load_model`, which depends on
the Keras flavour and save format (docs/STACK.md §4). This handler loads with
`tf.saved_model.load` and calls the `serving_default` signature (encoded image bytes ->
"embedding"), so decoding, resizing and normalization are the model's own: the embedder
has no second copy of the preprocessing.

A corrupt image makes the SavedModel fail the whole batch. The handler then re-runs that
batch one image at a time, so the good images are still embedded and each bad one comes
back as a `Failed` with the model's own error text. Only `InvalidArgumentError` (what
TensorFlow's decoders raise for bad input) is treated as a per-image failure; anything
else (out of memory, a broken model) fails the run.
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable, NamedTuple, Sequence

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from components.common import formats


class Failed(NamedTuple):
    """The inference result for an image the model could not embed."""

    reason: str


class ModelContractError(ValueError):
    """The SavedModel does not have the image signature formats.py promises."""


class LoadedEncoder:
    """The loaded SavedModel and its bytes signature. Keeps a reference to the loaded
    object: the signature's variables belong to it and vanish if it is collected."""

    def __init__(self, loaded: Any, signature: Any, input_name: str):
        self.loaded = loaded
        self.signature = signature
        self.input_name = input_name

    def embed(self, images: Sequence[bytes]):
        import tensorflow as tf

        outputs = self.signature(**{self.input_name: tf.constant(list(images), dtype=tf.string)})
        return outputs[formats.OUTPUT_EMBEDDING].numpy()


def worker_threads(intra_op_threads: int, workers_per_host: int) -> int:
    """TensorFlow intra-op threads for one worker: `intra_op_threads` when set (> 0), else
    this host's cores / the workers sharing it (0 workers = one per core: 1 thread each).
    Evaluated where the model loads, i.e. on the worker host, whatever the runner."""
    if intra_op_threads > 0:
        return intra_op_threads
    if workers_per_host <= 0:
        return 1
    return max(1, len(os.sched_getaffinity(0)) // workers_per_host)


class ImageEncoderHandler(ModelHandler[bytes, PredictionResult, LoadedEncoder]):
    """Examples are encoded image bytes; inferences are float32 [D] vectors or `Failed`.

    The PredictionResult's `example` is left empty: downstream needs only the key (id,
    file name, metadata) and the vector, and dropping the bytes keeps what flows to the
    writer small.
    """

    def __init__(
        self,
        saved_model_dir: str,
        *,
        batch_size: int = 64,
        intra_op_threads: int = 0,
        workers_per_host: int = 1,
    ):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._saved_model_dir = saved_model_dir
        self._batch_size = batch_size
        self._intra_op_threads = intra_op_threads
        self._workers_per_host = workers_per_host

    def load_model(self) -> LoadedEncoder:
        import tensorflow as tf

        threads = worker_threads(self._intra_op_threads, self._workers_per_host)
        if threads > 0:
            try:  # only possible before the process's TF runtime starts (a fresh worker)
                tf.config.threading.set_intra_op_parallelism_threads(threads)
            except RuntimeError:
                pass
        return load_encoder(self._saved_model_dir)

    def run_inference(
        self,
        batch: Sequence[bytes],
        model: LoadedEncoder,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        import tensorflow as tf

        try:
            vectors = model.embed(batch)
        except tf.errors.InvalidArgumentError:
            # Isolate the bad image(s): the rest of the batch still gets embedded.
            return [PredictionResult(None, _embed_one(model, image)) for image in batch]
        return [PredictionResult(None, vector) for vector in vectors]

    def get_num_bytes(self, batch: Sequence[bytes]) -> int:
        # The default pickles the whole batch of images just to measure it.
        return sum(len(image) for image in batch)

    def batch_elements_kwargs(self) -> dict[str, int]:
        # Fixed-size batches (the last of a bundle may be smaller): predictable memory,
        # and BatchElements' adaptive sizing would start from batches of one.
        return {"min_batch_size": self._batch_size, "max_batch_size": self._batch_size}

    def get_metrics_namespace(self) -> str:
        return "ImageEmbedder"

    def __repr__(self) -> str:
        return f"ImageEncoderHandler({self._saved_model_dir!r}, batch_size={self._batch_size})"


def load_encoder(saved_model_dir: str) -> LoadedEncoder:
    """Loads the image encoder and checks its bytes signature; errors name the path."""
    import tensorflow as tf

    if not tf.io.gfile.exists(os.path.join(saved_model_dir, "saved_model.pb")):
        raise ModelContractError(
            f"{saved_model_dir}: no saved_model.pb (expected the "
            f"{formats.MODEL_IMAGE_ENCODER} SavedModel)"
        )
    loaded = tf.saved_model.load(saved_model_dir)
    signature = loaded.signatures.get(formats.SIGNATURE_IMAGE_BYTES)
    if signature is None:
        raise ModelContractError(
            f"{saved_model_dir}: no {formats.SIGNATURE_IMAGE_BYTES!r} signature "
            f"(has {sorted(loaded.signatures)})"
        )
    inputs = signature.structured_input_signature[1]
    if len(inputs) != 1 or next(iter(inputs.values())).dtype != tf.string:
        raise ModelContractError(
            f"{saved_model_dir}: signature {formats.SIGNATURE_IMAGE_BYTES!r} must take one "
            f"string tensor of encoded images, takes {inputs}"
        )
    if formats.OUTPUT_EMBEDDING not in signature.structured_outputs:
        raise ModelContractError(
            f"{saved_model_dir}: signature {formats.SIGNATURE_IMAGE_BYTES!r} has no "
            f"{formats.OUTPUT_EMBEDDING!r} output (has {sorted(signature.structured_outputs)})"
        )
    return LoadedEncoder(loaded, signature, next(iter(inputs)))


def _embed_one(model: LoadedEncoder, image: bytes):
    import tensorflow as tf

    try:
        return model.embed([image])[0]
    except tf.errors.InvalidArgumentError as e:
        return Failed(failure_reason(e))


# TensorFlow wraps a graph error in lines naming nodes and ops; the reason keeps the
# decoder's own sentence, e.g. "Unknown image file format. One of JPEG, PNG, GIF, BMP required."
_NOISE_PREFIXES = ("Graph execution error", "Detected at node", "<stack traces")
_NOISE = re.compile(r"\{\{function_node [^}]*\}\}|\[\[.*?\]\]|\[Op:[^\]]*\]")


def failure_reason(error: Exception) -> str:
    text = getattr(error, "message", None) or str(error)
    lines = [_NOISE.sub("", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith(_NOISE_PREFIXES)]
    return f"{type(error).__name__}: {' '.join(lines) or text.strip()}"
