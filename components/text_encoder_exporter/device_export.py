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
from components.common import device_search  # noqa: E402
from components.common.tflite_metadata import (  # noqa: E402
    image_model_with_metadata,
    text_model_for,
)


def text_embeddings(model_path: str, texts: list[str]) -> np.ndarray:
    embedder = device_search.open_text_embedder(model_path)
    with device_search.native_stderr_silenced():
        return np.stack([device_search.embedding_of(embedder.embed(t)) for t in texts])


def image_embeddings(model_path: str, pixels: np.ndarray) -> np.ndarray:
    embedder = device_search.open_image_embedder(model_path)
    with device_search.native_stderr_silenced():
        return np.stack(
            [
                device_search.embedding_of(embedder.embed(device_search.tensor_image(p)))
                for p in pixels
            ]
        )


def run(request: dict) -> dict:
    with open(request["text_raw"], "rb") as f:
        text_model = text_model_for(f.read(), request)
    with open(request["text_out"], "wb") as f:
        f.write(text_model)
    np.save(request["text_embeddings_out"], text_embeddings(request["text_out"], request["texts"]))
    if "image_raw" not in request:
        return {"text_bytes": len(text_model)}

    with open(request["image_raw"], "rb") as f:
        image_model = image_model_with_metadata(
            f.read(), request["norm_mean"], request["norm_std"], request["image_general"]
        )
    with open(request["image_out"], "wb") as f:
        f.write(image_model)
    pixels = np.load(request["pixels"])
    np.save(request["image_embeddings_out"], image_embeddings(request["image_out"], pixels))
    return {"text_bytes": len(text_model), "image_bytes": len(image_model)}


def main() -> None:
    print(json.dumps(run(json.load(sys.stdin))))


if __name__ == "__main__":
    main()
