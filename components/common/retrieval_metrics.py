"""Retrieval metrics over L2-normalized embeddings (numpy only, TF-free).

Text -> image: each caption's one positive is its own image; the gallery is every eval
image. Image -> text: an image's positives are all of its captions; the rank is that of
its best-ranked caption (the usual COCO/Flickr retrieval protocol); captionless images
take no part as queries. Ranks are 1-based and pessimistic about ties: a negative that
scores exactly as high as the positive counts as ranked above it, so a collapsed model
(every embedding equal) gets the worst rank, not a perfect one.

The Trainer's per-epoch progress and the RetrievalEvaluator both use these functions.
"""

from __future__ import annotations

import numpy as np

RECALL_KS = (1, 5, 10)
_CHUNK = 1024  # queries per similarity block: bounds memory at large eval sets


def text_to_image_ranks(
    text_embeddings: np.ndarray, image_embeddings: np.ndarray, caption_image_index: np.ndarray
) -> np.ndarray:
    """[captions] ranks of each caption's own image among all images."""
    text_embeddings, image_embeddings = _as_matrix(text_embeddings), _as_matrix(image_embeddings)
    caption_image_index = np.asarray(caption_image_index, dtype=np.int64)
    ranks = np.empty(len(caption_image_index), dtype=np.int64)
    for start in range(0, len(caption_image_index), _CHUNK):
        stop = start + _CHUNK
        scores = text_embeddings[start:stop] @ image_embeddings.T  # [chunk, images]
        rows = np.arange(scores.shape[0])
        positive = scores[rows, caption_image_index[start:stop]]
        # >= counts the positive itself once: that is the 1 of a 1-based rank.
        ranks[start:stop] = (scores >= positive[:, None]).sum(axis=1)
    return ranks


def image_to_text_ranks(
    text_embeddings: np.ndarray, image_embeddings: np.ndarray, caption_image_index: np.ndarray
) -> np.ndarray:
    """[captioned images] rank of each image's best caption among all captions."""
    text_embeddings, image_embeddings = _as_matrix(text_embeddings), _as_matrix(image_embeddings)
    caption_image_index = np.asarray(caption_image_index, dtype=np.int64)
    captioned = np.unique(caption_image_index)
    ranks = np.empty(len(captioned), dtype=np.int64)
    for start in range(0, len(captioned), _CHUNK):
        images = captioned[start : start + _CHUNK]
        scores = image_embeddings[images] @ text_embeddings.T  # [chunk, captions]
        is_positive = caption_image_index[None, :] == images[:, None]
        best = np.where(is_positive, scores, -np.inf).max(axis=1)
        negatives_above = ((scores >= best[:, None]) & ~is_positive).sum(axis=1)
        ranks[start : start + len(images)] = negatives_above + 1
    return ranks


def summarize(ranks: np.ndarray, ks=RECALL_KS) -> dict:
    """{"recall@K": fraction of queries ranked <= K, "median_rank", "mean_rank", "queries"}."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("no queries to summarize (an eval split without captions?)")
    summary = {f"recall@{k}": float((ranks <= k).mean()) for k in ks}
    summary["median_rank"] = float(np.median(ranks))
    summary["mean_rank"] = float(ranks.mean())
    summary["queries"] = int(ranks.size)
    return summary


def recall_curve(ranks: np.ndarray, max_k: int) -> list[float]:
    """Recall@K for K = 1..max_k (for the recall plot)."""
    ranks = np.asarray(ranks)
    return [float((ranks <= k).mean()) for k in range(1, max_k + 1)]


def _as_matrix(embeddings: np.ndarray) -> np.ndarray:
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be [n, dim], got shape {embeddings.shape}")
    return embeddings
