"""Exact search and recall@k against it: the ground truth the searcher's tuning
(searcher_builder) and its validation (searcher_validator) both measure recall against.

Pure numpy, no TensorFlow.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def scores(queries: np.ndarray, vectors: np.ndarray, distance: str) -> np.ndarray:
    """Similarity (larger is closer) of every query to every vector: dot product, or
    minus the squared L2 distance."""
    dots = queries @ vectors.T
    if distance == "dot_product":
        return dots
    return 2 * dots - np.sum(queries**2, axis=1)[:, None] - np.sum(vectors**2, axis=1)[None, :]


def exact_truth(
    queries: np.ndarray,
    vectors: np.ndarray,
    distance: str,
    k: int,
    tolerance: float = 1e-5,
    chunk: int = 256,
) -> list[list[int]]:
    """Per query, the rows scoring at least the exact k-th best (minus `tolerance`, so
    ties at the boundary all count as correct)."""
    truth = []
    k = min(k, len(vectors))
    for start in range(0, len(queries), chunk):
        for row in scores(queries[start : start + chunk], vectors, distance):
            kth = np.partition(row, -k)[-k]
            truth.append(np.flatnonzero(row >= kth - tolerance).tolist())
    return truth


def per_query_recall(
    found_rows: Sequence[Sequence[int]], truth: Sequence[Sequence[int]], k: int
) -> list[float]:
    """Per query |found[:k] in truth| / min(k, |truth|)."""
    values = []
    for found, correct in zip(found_rows, truth):
        want = min(k, len(correct))
        correct_set = set(correct)
        values.append(
            sum(1 for row in list(found)[:k] if row in correct_set) / want if want else 1.0
        )
    return values


def recall_at_k(
    found_rows: Sequence[Sequence[int]], truth: Sequence[Sequence[int]], k: int
) -> float:
    values = per_query_recall(found_rows, truth, k)
    return float(np.mean(values)) if values else 1.0


def stderr(values: Sequence[float]) -> float:
    return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
