"""The SearcherBuilder's work (TensorFlow process).

`build_searcher(embeddings_dir, text_encoder_dir, output_dir, config)`:
1. reads the Embeddings, plans the index for its size (plan.py);
2. trains ScaNN (or, for tiny collections, a flat float index) and serializes it as the
   server-side index, converting it to on-device parts;
3. when the leaves to search or the lookup type are "auto", prepares tuning queries:
   real captions when the caller has them (`tuning_captions`, the executor passes train
   captions; the TF-free side embeds them once with TextEmbedder on the text encoder, as a
   phone would), else perturbed copies of items (`tuning_queries`); either way the query
   vectors reach the real TextSearcher through a lookup query encoder, so no trial runs
   the text encoder again; exact ground truth for each;
4. runs device_index.py TF-free: tuning, index file, attachment to both encoders;
5. writes searcher_summary.json.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time

import numpy as np

from components.common import embeddings_io, formats, tf_free, tokenizer
from components.searcher_builder import (
    build_search,
    incremental,
    query_encoder,
    scann_index,
    server_index,
)
from components.searcher_builder.plan import IndexPlan, plan_index
from components.common.recall import exact_truth

DEVICE_MODULE = "components.searcher_builder.device_index"
RECALL_K = 10
TUNING_QUERY_COSINE = 0.8


def build_searcher(
    embeddings_dir: str,
    text_encoder_dir: str,
    output_dir: str,
    config,
    tuning_captions: list[str] | None = None,
    tuning_vectors: np.ndarray | None = None,
    previous_searcher_dir: str | None = None,
) -> dict:
    """`config` has SearcherOptions's fields. Writes the t2i.Searcher files; returns the summary.

    Auto-tuning queries, best first: `tuning_captions` (real query texts, not the
    validator's eval captions), `tuning_vectors` (query embeddings, e.g. from a query
    log), else perturbed copies of items. `previous_searcher_dir`: a t2i.Searcher whose
    index is extended rather than retrained when it can be (incremental.py).
    """
    start = time.time()
    encoders = _encoder_files(text_encoder_dir)
    items = embeddings_io.read_embeddings(embeddings_dir)
    model = (embeddings_io.read_summary(embeddings_dir) or {}).get("model") or {}
    plan = plan_index(config, len(items), items.dim)
    os.makedirs(output_dir, exist_ok=True)
    server_dir = os.path.join(output_dir, formats.SERVER_INDEX_DIR)
    if os.path.exists(server_dir):
        shutil.rmtree(server_dir)
    docids = [m.decode("utf-8", "replace") for m in items.metadata]
    extension = incremental.decide(previous_searcher_dir, plan, config, docids, model)

    train_start = time.time()
    build_search_summary = None
    with tempfile.TemporaryDirectory(prefix="t2i-searcher-") as tmp:
        metadata_path = _save_metadata(items.metadata, os.path.join(tmp, "metadata.npy"))
        tuning = None
        if extension.extends:
            plan = dataclasses.replace(
                plan, num_leaves=extension.num_leaves, notes=plan.notes + [extension.reason]
            )
            order = incremental.extend(extension, items.vectors, docids, server_dir)
            # The extended index keeps its old rows first: every row-indexed part follows it.
            items = items.take(_rows_of(docids, order))
            metadata_path = _save_metadata(items.metadata, metadata_path)
        elif plan.flat:
            _flat_server_searcher(items.vectors, plan, docids).serialize(_made(server_dir))
        else:
            cache = build_search.BuildCache(items.vectors, docids, os.path.join(tmp, "builds"))
            if plan.needs_tuning and plan.build_search != "off":
                tuning = _tuning_request(
                    items, plan, tmp, tuning_captions, tuning_vectors, None, encoders["text"]
                )
                outcome = build_search.search(
                    plan,
                    cache,
                    lambda candidate, parts: _device_request(
                        candidate, parts, metadata_path, encoders, tuning, output_dir
                    ),
                    leaves_pinned=bool(config.num_leaves),
                )
                plan = dataclasses.replace(
                    outcome.plan,
                    num_leaves_to_search=outcome.best.result.chosen.leaves_to_search,
                    lookup=outcome.best.result.chosen.lookup,
                )
                build_search_summary = dict(outcome.tuning_reply, build_search=outcome.to_dict())
                shutil.copytree(outcome.index_dir, server_dir)
                tuning = None  # tuned: the final run writes the chosen setting
            else:
                shutil.copytree(cache.index_dir(plan), server_dir)
        train_seconds = time.time() - train_start
        parts = (
            scann_index.flat_parts(items.vectors, plan)
            if plan.flat
            else scann_index.on_device_parts(server_dir, plan)
        )
        if plan.needs_tuning and build_search_summary is None:
            tuning = _tuning_request(
                items,
                plan,
                tmp,
                tuning_captions,
                tuning_vectors,
                extension.previous_setting,
                encoders["text"],
            )
        request = _device_request(
            plan,
            parts.save(os.path.join(tmp, "parts")),
            metadata_path,
            encoders,
            tuning,
            output_dir,
        )
        device_start = time.time()
        reply = tf_free.run_module(DEVICE_MODULE, request)
        device_seconds = time.time() - device_start
    if build_search_summary is not None:
        reply["tuning"] = build_search_summary

    server_index.finalize(
        server_dir,
        {
            "distance": plan.distance,
            "num_items": plan.num_items,
            "embedding_dim": plan.embedding_dim,
            "leaves_to_search": 0 if plan.flat else reply["leaves_to_search"],
        },
    )
    summary = _summary(plan, reply, encoders["summary"], start, train_seconds, device_seconds)
    summary["embedding_model"] = model
    summary["incremental"] = extension.to_dict()
    with open(os.path.join(output_dir, formats.SEARCHER_SUMMARY), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def _made(directory: str) -> str:
    os.makedirs(directory)
    return directory


def _device_request(
    plan: IndexPlan,
    parts: dict,
    metadata_path: str,
    encoders: dict,
    tuning: dict | None,
    output_dir: str,
) -> dict:
    """What device_index.run needs: tune (when `tuning`) and write both searchers."""
    return {
        "parts": parts,
        "metadata": metadata_path,
        "userinfo": _userinfo(plan, encoders["summary"]),
        "num_leaves": plan.num_leaves,
        "leaves_to_search": plan.num_leaves_to_search,
        "lookup": plan.lookup,
        "delimiter": tokenizer.DELIMITER_REGEX,
        "tuning": tuning,
        "text_encoder": encoders["text"],
        "image_encoder": encoders["image"],
        "searcher_out": os.path.join(output_dir, formats.SEARCHER_TFLITE),
        "image_searcher_out": os.path.join(output_dir, formats.IMAGE_SEARCHER_TFLITE),
    }


def _rows_of(docids: list[str], order: list[str]) -> list[int]:
    row = {docid: i for i, docid in enumerate(docids)}
    return [row[docid] for docid in order]


def _encoder_files(text_encoder_dir: str) -> dict:
    files = {
        "text": os.path.join(text_encoder_dir, formats.TEXT_ENCODER_TFLITE),
        "image": os.path.join(text_encoder_dir, formats.IMAGE_ENCODER_TFLITE),
    }
    for path in files.values():
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: missing; the TextEncoder artifact is incomplete")
    summary_path = os.path.join(text_encoder_dir, formats.EXPORT_SUMMARY)
    files["summary"] = {}
    if os.path.isfile(summary_path):
        with open(summary_path) as f:
            files["summary"] = json.load(f)
    return files


def _flat_server_searcher(vectors: np.ndarray, plan: IndexPlan, docids: list[str]):
    from scann.scann_ops.py import scann_ops_pybind

    return (
        scann_ops_pybind.builder(vectors, 10, plan.distance)
        .score_brute_force()
        .build(docids=docids)
    )


def _save_metadata(metadata: list[bytes], path: str) -> str:
    np.save(path, np.array(metadata, dtype=object), allow_pickle=True)
    return path


def _userinfo(plan: IndexPlan, export_summary: dict) -> dict:
    """Plain text stored in the index (TextSearcher.get_user_info()): what built it."""
    return {
        "producer": "t2i-searcher",
        "format_version": formats.FORMAT_VERSION,
        "num_items": plan.num_items,
        "embedding_dim": plan.embedding_dim,
        "distance": plan.distance,
        "scoring": plan.scoring,
        "num_leaves": plan.num_leaves,
        "model_version": export_summary.get("version", ""),
    }


def tuning_queries(vectors: np.ndarray, count: int, seed: int, cosine: float) -> np.ndarray:
    """Perturbed copies of a random sample of the items, each at `cosine` to its item:
    the tuning queries when no captions are given.

    Text queries do not sit on the image embeddings: a caption's embedding is only
    moderately similar to its image's (the modality gap), and the further a query lies
    from the data, the more partitions hold its true neighbours. Measured on the test
    collection at a fixed setting: recall@10 0.951 for the items themselves
    (leave-one-out), 0.947 / 0.914 / 0.834 for copies at cosine 0.98 / 0.86 / 0.64. So
    the items themselves would tune optimistically; copies pushed off the data by a
    random orthogonal direction stand in for off-manifold text queries. They are still a
    stand-in: real captions (`tuning_captions`) measure the modality gap of the actual
    model, and the SearcherValidator measures recall with real eval captions.
    """
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(vectors), size=min(count, len(vectors)), replace=False))
    items = vectors[rows].astype(np.float64)
    norms = np.linalg.norm(items, axis=1, keepdims=True)
    unit = items / np.maximum(norms, 1e-12)
    noise = rng.normal(size=items.shape)
    noise -= np.sum(noise * unit, axis=1, keepdims=True) * unit  # orthogonal to the item
    noise /= np.maximum(np.linalg.norm(noise, axis=1, keepdims=True), 1e-12)
    queries = cosine * unit + np.sqrt(1 - cosine**2) * noise
    return (queries * norms).astype(np.float32)


def _tuning_request(
    items,
    plan: IndexPlan,
    tmp: str,
    captions: list[str] | None,
    vectors: np.ndarray | None,
    start: tuple[int, str] | None,
    text_encoder: str,
) -> dict:
    """The tuning queries as a lookup encoder (query_encoder.py) with their exact answers.
    Captions are embedded by the real TextEmbedder on the text encoder once, here: every
    trial then searches with those vectors instead of running the text encoder (90 MB
    with MiniLM, ~30 ms a query) again for every query of every trial."""
    lookups = ["float", "int8"] if plan.lookup == "auto" else [plan.lookup]
    request = {
        "k": RECALL_K,
        "target": plan.target_recall_at_10,
        "lookups": lookups,
        "start": list(start) if start else None,
    }
    if captions:
        embedded = os.path.join(tmp, "caption_embeddings.npy")
        tf_free.run_module(
            DEVICE_MODULE,
            {
                "embed_captions": {
                    "captions": captions[: plan.tuning_queries],
                    "text_encoder": text_encoder,
                    "out": embedded,
                }
            },
        )
        queries, source = np.load(embedded), "captions"
    elif vectors is not None:
        queries, source = np.asarray(vectors, np.float32)[: plan.tuning_queries], "query vectors"
    else:
        queries = tuning_queries(items.vectors, plan.tuning_queries, plan.seed, TUNING_QUERY_COSINE)
        source = f"item copies at cosine {TUNING_QUERY_COSINE}"
    os.makedirs(os.path.join(tmp, "lookup"))
    model = os.path.join(tmp, "lookup", "lookup.tflite")
    vocab = os.path.join(tmp, "lookup", formats.MODEL_VOCAB)
    texts = query_encoder.write_lookup_encoder(queries, model, vocab)
    truth = exact_truth(queries, items.vectors, plan.distance, RECALL_K)
    return dict(request, model=model, vocab=vocab, texts=texts, truth=truth, source=source)


def _tuning_method(tuning: dict | None) -> str | None:
    if not tuning:
        return None
    source = (
        "captions embedded by TextEmbedder"
        if tuning["query_source"] == "captions"
        else tuning["query_source"]
    )
    return (
        f"{tuning['num_queries']} {source}, searched by the Task Library TextSearcher; "
        "a setting meets the target when the 95% lower bound of its recall@10 does"
    )


def _summary(
    plan: IndexPlan,
    reply: dict,
    export_summary: dict,
    start: float,
    train_seconds: float,
    device_seconds: float,
) -> dict:
    tuning = reply.get("tuning")
    return {
        "format_version": formats.FORMAT_VERSION,
        "num_items": plan.num_items,
        "embedding_dim": plan.embedding_dim,
        "plan": plan.to_dict(),
        "chosen": {
            "num_leaves": plan.num_leaves,
            "leaves_to_search": reply["leaves_to_search"],
            "lookup": reply["lookup"] if plan.scoring == "ah" else "n/a (float vectors)",
            "scoring": plan.scoring,
            "distance": plan.distance,
            "dimensions_per_block": plan.dimensions_per_block if plan.scoring == "ah" else None,
        },
        "tuning": tuning,
        "tuning_method": _tuning_method(tuning),
        "index_bytes": reply["index_bytes"],
        "bytes_per_item": round(reply["index_bytes"] / plan.num_items, 1),
        "searcher_bytes": reply["searcher_bytes"],
        "image_searcher_bytes": reply["image_searcher_bytes"],
        # What of searcher.tflite is the text encoder (with its tokenizer file); the rest
        # is the index and metadata.
        "text_encoder_bytes": export_summary.get("text_encoder_bytes"),
        "text_encoder_quantized": bool(export_summary.get("options", {}).get("quantize")),
        "text_encoder_version": export_summary.get("version", ""),
        "build_seconds": round(time.time() - start, 2),
        "train_seconds": round(train_seconds, 2),
        "device_seconds": round(device_seconds, 2),
        "notes": plan.notes,
    }
