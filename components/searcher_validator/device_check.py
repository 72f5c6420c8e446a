"""TF-free half of the validation: the searcher as a phone runs it, against exact search.

Run as `python -m components.searcher_validator.device_check` with a JSON request on
stdin. Query embeddings come from the Task Library TextEmbedder on text_encoder.tflite
(the device's tokenization), exact answers from dot products (or squared L2) over the
Embeddings, ANN answers from TextSearcher on searcher.tflite.
"""

from __future__ import annotations

from components.common.tf_free import block_tensorflow

block_tensorflow()

import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

from components.common import device_search  # noqa: E402
from components.common import recall  # noqa: E402


def usable_queries(captions: list[str], check) -> tuple[list[str], int]:
    """Captions the searcher would answer (device_search.query_check: not empty, not all
    unknown words)."""
    kept = []
    for caption in captions:
        try:
            check(caption)
            kept.append(caption)
        except device_search.QueryError:
            pass
    return kept, len(captions) - len(kept)


def metadata_problems(results: list[list[device_search.Hit]], row_of: dict) -> list[str]:
    problems = []
    for hits in results:
        for hit in hits:
            if hit.item is None:
                problems.append(f"unparseable metadata {hit.metadata[:60]!r}")
            elif hit.metadata not in row_of:
                problems.append(f"metadata {hit.metadata[:60]!r} is no item of the Embeddings")
    return problems


def image_searcher_check(path: str | None, row_of: dict) -> dict:
    if not path:
        return {"checked": False}
    searcher = device_search.open_image_searcher(path)
    gray = np.full((64, 64, 3), 127, np.uint8)
    with device_search.native_stderr_silenced():
        hits = device_search.search_image(searcher, gray)
    return {
        "checked": True,
        "hits": len(hits),
        "ok": bool(hits) and all(hit.metadata in row_of for hit in hits),
    }


def exact_comparison(queries, vectors, distance: str, results, found, chunk: int = 256):
    """Per query: is the searcher's first hit an exact best (ties allowed)? And the
    |reported similarity - exact similarity| of every hit. Chunked: 500 queries x 123k
    items would be a quarter gigabyte at once."""
    top1_same, errors = [], []
    for start in range(0, len(queries), chunk):
        exact = recall.scores(queries[start : start + chunk], vectors, distance)
        for offset, row_scores in enumerate(exact):
            hits, rows = results[start + offset], found[start + offset]
            best = float(row_scores.max())
            top1_same.append(bool(rows) and rows[0] >= 0 and row_scores[rows[0]] >= best - 1e-5)
            errors += [
                abs(hit.similarity - float(row_scores[row]))
                for hit, row in zip(hits, rows)
                if row >= 0
            ]
    return top1_same, errors


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def run(request: dict) -> dict:
    k = request["k"]
    vectors = np.load(request["vectors"])
    metadata = [bytes(m) for m in np.load(request["metadata"], allow_pickle=True)]
    row_of = {m: row for row, m in enumerate(metadata)}

    searcher = device_search.open_text_searcher(request["searcher"], max_results=k)
    embedder = device_search.open_text_embedder(request["text_encoder"])
    captions, refused = usable_queries(
        request["captions"], device_search.query_check(request["searcher"])
    )
    if not captions:
        raise ValueError("no usable eval caption: every one is empty or made of unknown words")
    with device_search.native_stderr_silenced():
        queries = np.stack([device_search.embedding_of(embedder.embed(c)) for c in captions])
        searcher.search(captions[0])  # warm-up, not timed
        results, millis = device_search.timed_map(
            lambda text: device_search.search_text(searcher, text), captions
        )

    truth = recall.exact_truth(queries, vectors, request["distance"], k)
    found = [[row_of.get(hit.metadata, -1) for hit in hits] for hits in results]
    top1_same, errors = exact_comparison(queries, vectors, request["distance"], results, found)
    problems = metadata_problems(results, row_of)
    return {
        "num_queries": len(captions),
        "refused_queries": refused,
        "k": k,
        "recall_at_10": round(recall.recall_at_k(found, truth, k), 4),
        "top1_agreement": round(float(np.mean(top1_same)), 4),
        "mean_abs_similarity_error": round(float(np.mean(errors)), 5) if errors else None,
        "metadata_problems": len(problems),
        "metadata_problem_examples": problems[:5],
        "p50_ms": round(device_search.percentile_ms(millis, 50), 4),
        "p95_ms": round(device_search.percentile_ms(millis, 95), 4),
        "user_info": _text(searcher.get_user_info()),
        "image_searcher": image_searcher_check(request.get("image_searcher"), row_of),
        "examples": [
            {"query": captions[i], "hits": [h.to_dict() for h in results[i][:3]]}
            for i in range(min(3, len(captions)))
        ],
    }


def main() -> None:
    print(json.dumps(run(json.load(sys.stdin))))


if __name__ == "__main__":
    main()
