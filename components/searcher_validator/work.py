"""The SearcherValidator's work (TensorFlow process): read inputs, run the TF-free device
check, decide the blessing, write validation_summary.json.

Blessed when recall@10 of the on-device searcher against exact search over the
Embeddings reaches `min_recall_at_10`, every returned item's metadata is an item of the
Embeddings, and image_searcher.tflite loads and answers with items of the index.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

import numpy as np

from components.common import captions as captions_reader
from components.common import embeddings_io, formats, tf_free

DEVICE_MODULE = "components.searcher_validator.device_check"
RECALL_K = 10


def validate_searcher(
    searcher_dir: str,
    embeddings_dir: str,
    text_encoder_dir: str,
    eval_split_dir: str,
    output_dir: str,
    config,
) -> dict:
    """`config` has ValidatorOptions's fields. Returns the summary (with "blessed")."""
    start = time.time()
    searcher_path = os.path.join(searcher_dir, formats.SEARCHER_TFLITE)
    image_searcher_path = os.path.join(searcher_dir, formats.IMAGE_SEARCHER_TFLITE)
    text_encoder_path = os.path.join(text_encoder_dir, formats.TEXT_ENCODER_TFLITE)
    distance = _searcher_distance(searcher_dir)
    items = embeddings_io.read_embeddings(embeddings_dir)
    captions = captions_reader.read_captions(eval_split_dir, config.max_queries)
    with tempfile.TemporaryDirectory(prefix="t2i-validate-") as tmp:
        paths = {name: os.path.join(tmp, f"{name}.npy") for name in ("vectors", "metadata")}
        np.save(paths["vectors"], items.vectors)
        np.save(paths["metadata"], np.array(items.metadata, dtype=object), allow_pickle=True)
        figures = tf_free.run_module(
            DEVICE_MODULE,
            {
                **paths,
                "searcher": searcher_path,
                "text_encoder": text_encoder_path,
                "image_searcher": image_searcher_path
                if os.path.isfile(image_searcher_path)
                else None,
                "captions": captions,
                "k": RECALL_K,
                "distance": distance,
            },
        )
    reasons = _refusals(figures, config.min_recall_at_10)
    summary = {
        "format_version": formats.FORMAT_VERSION,
        "blessed": not reasons,
        "reasons": reasons,
        "min_recall_at_10": config.min_recall_at_10,
        "num_items": len(items),
        "distance": distance,
        **figures,
        "validation_seconds": round(time.time() - start, 2),
    }
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, formats.VALIDATION_SUMMARY), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def _searcher_distance(searcher_dir: str) -> str:
    path = os.path.join(searcher_dir, formats.SEARCHER_SUMMARY)
    if not os.path.isfile(path):
        return "dot_product"
    with open(path) as f:
        return json.load(f).get("chosen", {}).get("distance", "dot_product")


def _refusals(figures: dict, min_recall: float) -> list[str]:
    reasons = []
    if figures["recall_at_10"] < min_recall:
        reasons.append(f"recall@10 {figures['recall_at_10']} < {min_recall}")
    if figures["metadata_problems"]:
        reasons.append(f"{figures['metadata_problems']} results carry metadata of no indexed item")
    image = figures["image_searcher"]
    if not image.get("checked"):
        reasons.append("image_searcher.tflite is missing")
    elif not image.get("ok"):
        reasons.append("image_searcher.tflite returned no hits or unknown items")
    return reasons
