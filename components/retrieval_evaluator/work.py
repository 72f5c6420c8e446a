"""RetrievalEvaluator's work: recall@K of the trained towers on the eval split, a blessing.

`evaluate()` does the work and is what tests call; executor.py's `Do` only unpacks artifacts.
The model is used the way consumers use it: images through the image SavedModel's
encoded-bytes signature, captions through the text SavedModel's string signature.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from components.common import examples_io, formats, text_model
from components.common import retrieval_metrics
from components.retrieval_evaluator import blessing as rule, figures

# t2i/progress.py shows this logger's lines under the running component.
progress = logging.getLogger("t2i.progress")
RECALL_PLOT = "recall_at_k.png"
CONTACT_SHEET = "contact_sheet.png"


class EvaluationError(ValueError):
    pass


@dataclass
class Embedded:
    """An eval split embedded by one model."""

    image_ids: np.ndarray  # [images]
    image_embeddings: np.ndarray  # [images, dim]
    captions: list[str]
    caption_image_index: np.ndarray  # [captions] row in image_ids
    text_embeddings: np.ndarray  # [captions, dim]


def evaluate(
    eval_patterns: list[str],
    serving_dir: str,
    output_dir: str,
    *,
    min_recall_at_10: float,
    max_regression: float,
    contact_sheet_queries: int,
    baseline_serving_dir: str | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Writes retrieval_metrics.json, the recall plot and the contact sheet into output_dir;
    returns the summary (metrics, "blessed", "reason")."""
    started = time.perf_counter()
    files = examples_io.expand_patterns(eval_patterns, "eval")
    current = embed_split(files, serving_dir, batch_size)
    if not current.captions:
        raise EvaluationError(f"the eval split {files} has no captions: nothing to query with")
    current_metrics, current_ranks = _retrieval_metrics(current)
    baseline_metrics = None
    if baseline_serving_dir:
        # Same data for both models: the TFX Evaluator compares a candidate with its
        # baseline on the candidate's eval split, not with a number from another split.
        baseline_metrics, _ = _retrieval_metrics(
            embed_split(files, baseline_serving_dir, batch_size)
        )
    blessed, reason = rule.verdict(
        current_metrics["text_to_image"]["recall@10"],
        baseline_metrics["text_to_image"]["recall@10"] if baseline_metrics else None,
        min_recall_at_10,
        max_regression,
    )

    os.makedirs(output_dir, exist_ok=True)
    max_k = min(50, len(current.image_ids))
    figures.recall_plot(
        os.path.join(output_dir, RECALL_PLOT),
        {
            "text -> image": retrieval_metrics.recall_curve(current_ranks["text_to_image"], max_k),
            "image -> text": retrieval_metrics.recall_curve(current_ranks["image_to_text"], max_k),
        },
        title=f"Recall@K on {len(current.image_ids)} eval images, {len(current.captions)} captions",
    )
    queries = _contact_sheet_queries(current, contact_sheet_queries)
    if queries:
        figures.contact_sheet(
            os.path.join(output_dir, CONTACT_SHEET),
            queries,
            _images_by_row(files, {row for q in queries for row in q["top_rows"]}),
        )
    summary = {
        "model": serving_dir,
        "baseline_model": baseline_serving_dir,
        "eval_files": files,
        "eval_images": int(len(current.image_ids)),
        "eval_captions": len(current.captions),
        **current_metrics,
        "baseline": baseline_metrics,
        "min_recall_at_10": min_recall_at_10,
        "max_regression": max_regression,
        "blessed": blessed,
        "reason": reason,
        "figures": [RECALL_PLOT] + ([CONTACT_SHEET] if queries else []),
        "seconds": round(time.perf_counter() - started, 2),
    }
    with open(os.path.join(output_dir, formats.EVALUATION_SUMMARY), "w") as f:
        json.dump(summary, f, indent=2)
    line = f"{'BLESSED' if blessed else 'NOT BLESSED'}: {reason}"
    progress.info("%s", line)
    if not blessed:
        # Unblessed stops the index build downstream; say why where people look.
        logging.warning("RetrievalEvaluator: model %s %s", serving_dir, line)
    return summary


def embed_split(files: list[str], serving_dir: str, batch_size: int = 64) -> Embedded:
    """Embeds every image (streamed, batch by batch) and every caption of the split."""
    image_signature = _load_image_signature(serving_dir)
    try:
        embed_texts = text_model.text_embedder(serving_dir)
    except text_model.TextModelError as e:
        raise EvaluationError(str(e)) from e
    image_ids, image_embeddings, pending, captions, index = [], [], [], [], []

    def flush():
        if pending:
            out = image_signature(tf.constant([r.image for r in pending]))[formats.OUTPUT_EMBEDDING]
            image_embeddings.append(out.numpy())
            pending.clear()

    for record in examples_io.iter_records(files):
        captions.extend(record.captions)
        index.extend([len(image_ids)] * len(record.captions))
        image_ids.append(record.image_id)
        pending.append(record)
        if len(pending) == batch_size:
            flush()
    flush()
    if not image_ids:
        raise EvaluationError(f"the eval split {files} has no images")
    dim = image_embeddings[0].shape[1]
    text_embeddings = embed_texts(captions) if captions else np.zeros([0, dim], np.float32)
    return Embedded(
        np.asarray(image_ids, np.int64),
        np.concatenate(image_embeddings),
        captions,
        np.asarray(index, np.int64),
        text_embeddings,
    )


def _load_image_signature(serving_dir: str):
    path = os.path.join(serving_dir, formats.MODEL_IMAGE_ENCODER)
    key = formats.SIGNATURE_IMAGE_BYTES
    if not tf.saved_model.contains_saved_model(path):
        raise EvaluationError(
            f"{path}: no SavedModel (is {serving_dir} a Trainer's Format-Serving?)"
        )
    loaded = tf.saved_model.load(path)
    if key not in loaded.signatures:
        raise EvaluationError(f"{path}: no '{key}' signature (has {sorted(loaded.signatures)})")
    return loaded.signatures[key]


def _retrieval_metrics(embedded: Embedded) -> tuple[dict, dict]:
    ranks = {
        "text_to_image": retrieval_metrics.text_to_image_ranks(
            embedded.text_embeddings, embedded.image_embeddings, embedded.caption_image_index
        ),
        "image_to_text": retrieval_metrics.image_to_text_ranks(
            embedded.text_embeddings, embedded.image_embeddings, embedded.caption_image_index
        ),
    }
    return {name: retrieval_metrics.summarize(r) for name, r in ranks.items()}, ranks


def _contact_sheet_queries(embedded: Embedded, count: int) -> list[dict]:
    """`count` captions spread evenly over the split, each with its top-5 images."""
    if count <= 0:
        return []
    picks = np.unique(np.linspace(0, len(embedded.captions) - 1, count).round().astype(int))
    queries = []
    for caption_row in picks:
        scores = embedded.image_embeddings @ embedded.text_embeddings[caption_row]
        top = np.argsort(-scores, kind="stable")[:5]
        queries.append(
            {
                "caption": embedded.captions[caption_row],
                "top_rows": [int(r) for r in top],
                "scores": [float(scores[r]) for r in top],
                "positive_row": int(embedded.caption_image_index[caption_row]),
            }
        )
    return queries


def _images_by_row(files: list[str], rows: set[int]) -> dict[int, bytes]:
    """A second pass that keeps only the encoded images the contact sheet shows."""
    return {
        row: record.image
        for row, record in enumerate(examples_io.iter_records(files))
        if row in rows
    }
