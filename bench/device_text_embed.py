"""TF-free: embeds texts with the Task Library TextEmbedder, timing each query.

echo '{"model": "text_encoder.tflite", "texts": [...], "out": "emb.npy"}' |
    .venv/bin/python -m bench.device_text_embed
"""

from __future__ import annotations

from components.common.tf_free import block_tensorflow

block_tensorflow()

import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

from components.common import device_search  # noqa: E402


def main() -> None:
    request = json.load(sys.stdin)
    embedder = device_search.open_text_embedder(request["model"])
    texts = request["texts"]
    with device_search.native_stderr_silenced():
        embedder.embed(texts[0])  # warm-up, not timed
        results, millis = device_search.timed_map(embedder.embed, texts)
    np.save(request["out"], np.stack([device_search.embedding_of(r) for r in results]))
    print(
        json.dumps(
            {
                "p50_ms": round(device_search.percentile_ms(millis, 50), 3),
                "p95_ms": round(device_search.percentile_ms(millis, 95), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
