"""Fixture writers shared by the searcher tests (no tests here): Examples splits and
Embeddings artifacts in the formats of components/common/formats.py, built from scratch
in temp dirs, plus clustered unit vectors."""

from __future__ import annotations

import json
import os

import numpy as np

from components.common import embeddings_io, formats, item_metadata

SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross")
COLORS = ("red", "green", "blue", "yellow", "purple", "orange", "white", "black")
PLACES = ("on the left", "on the right", "at the top", "at the bottom", "in the middle")


def captions_for(image_index: int) -> list[str]:
    """Three paraphrased captions naming a colour, a shape and a place."""
    color = COLORS[image_index % len(COLORS)]
    shape = SHAPES[(image_index // len(COLORS)) % len(SHAPES)]
    place = PLACES[(image_index // 7) % len(PLACES)]
    return [
        f"A {color} {shape} {place}",
        f"a small {color} {shape} {place} of the picture",
        f"There is one {shape}, it is {color}.",
    ]


def all_captions(num_images: int) -> list[str]:
    return [c for i in range(num_images) for c in captions_for(i)]


def write_examples(split_dir: str, num_images: int, shards: int = 2, first: int = 0) -> None:
    """An Examples split (gzipped TFRecord of tf.Example) with image ids and captions of
    images first .. first + num_images - 1."""
    import tensorflow as tf

    os.makedirs(split_dir, exist_ok=True)
    writers = [
        tf.io.TFRecordWriter(
            os.path.join(split_dir, f"data_tfrecord-{s:05d}-of-{shards:05d}.gz"), options="GZIP"
        )
        for s in range(shards)
    ]
    for i in range(first, first + num_images):
        feature = {
            formats.FEATURE_IMAGE_ID: tf.train.Feature(
                int64_list=tf.train.Int64List(value=[i + 1])
            ),
            formats.FEATURE_CAPTIONS: tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[c.encode() for c in captions_for(i)])
            ),
        }
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        writers[i % shards].write(example.SerializeToString())
    for writer in writers:
        writer.close()


def item_metadata_for(image_id: int) -> bytes:
    """The id-carrying layout: these searchers index no real collection whose annotations
    could map a path back to its id (the default layout's results are tested end to end)."""
    flickr = str(2970773875 + image_id) if image_id % 2 else ""
    return item_metadata.ItemMetadata(image_id, f"val2017/{image_id:012d}.jpg", flickr).encode(
        item_metadata.ID_FLICKR_FILE
    )


def write_embeddings(
    out_dir: str,
    image_ids,
    vectors: np.ndarray,
    metadata=None,
    shards: int = 3,
    model: dict | None = None,
) -> None:
    """A t2i.Embeddings artifact directory, with item_metadata_for's metadata by default;
    `model` is recorded in its summary as the ImageEmbedder records the model it ran."""
    metadata = metadata or [item_metadata_for(int(i)) for i in image_ids]
    summary = {"count": len(vectors), "dim": int(vectors.shape[1])}
    if model:
        summary["model"] = model
    embeddings_io.write_embeddings(
        out_dir, image_ids, vectors, metadata, shards=shards, summary=summary
    )


def clustered_unit_vectors(
    n: int, dim: int, num_clusters: int = 20, spread: float = 0.35, seed: int = 0
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(num_clusters, dim))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    x = centers[rng.integers(0, num_clusters, n)] + spread * rng.normal(size=(n, dim)) / np.sqrt(
        dim
    )
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


# ------------------------------------------------------------------ TF-free and builds

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_tf_free(code: str, request: dict) -> dict:
    """Runs `code` in a fresh TF-free Python (the Task Library cannot share a process with
    TensorFlow); `code` reads `request` and sets `reply`, both JSON."""
    import subprocess
    import sys
    import textwrap

    script = (
        "from components.common.tf_free import block_tensorflow\nblock_tensorflow()\n"
        "import json, sys\nrequest = json.load(sys.stdin)\n"
        + textwrap.dedent(code)
        + "\nprint(json.dumps(reply))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=600,
    )
    if result.returncode != 0:
        raise AssertionError(f"TF-free script failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


_CACHE: dict = {}


def exported_encoders(
    root,
    num_images: int = 60,
    embedding_dim: int = 16,
    quantize: bool = False,
    max_tokens: int = 12,
) -> dict:
    """Fixture model + train/eval Examples + TextEncoderExporter output, built once per
    session for each argument set. Returns the directories."""
    key = ("export", num_images, embedding_dim, quantize, max_tokens)
    if key not in _CACHE:
        from model_fixtures import build_fixture_model

        from components.text_encoder_exporter import work
        from components.text_encoder_exporter.options import ExporterOptions

        base = os.path.join(
            str(root), f"export-{num_images}-{embedding_dim}-{int(quantize)}-{max_tokens}"
        )
        serving = build_fixture_model(
            os.path.join(base, "model", "Format-Serving"),
            all_captions(2 * num_images),
            embedding_dim=embedding_dim,
            max_tokens=max_tokens,
        )
        examples = os.path.join(base, "examples")
        write_examples(os.path.join(examples, "Split-eval"), num_images)
        write_examples(os.path.join(examples, "Split-train"), num_images, first=num_images)
        out = os.path.join(base, "text_encoder")
        summary = work.export_encoders(serving, out, ExporterOptions(quantize=quantize))
        _CACHE[key] = {
            "base": base,
            "model": os.path.dirname(serving),
            "serving": serving,
            "examples": examples,
            "eval_split": os.path.join(examples, "Split-eval"),
            "train_split": os.path.join(examples, "Split-train"),
            "text_encoder": out,
            "summary": summary,
        }
    return _CACHE[key]


def built_searcher(
    root,
    num_items: int = 2000,
    spread: float = 1.0,
    name: str = "default",
    tune_with_captions: bool = False,
    **config_overrides,
) -> dict:
    """Embeddings of clustered vectors + a searcher built from them (cached per session).
    `tune_with_captions`: auto-tune on the train split's captions (as the executor does
    when given Examples) instead of item copies."""
    key = (
        "searcher",
        num_items,
        spread,
        name,
        tune_with_captions,
        tuple(sorted(config_overrides.items())),
    )
    if key not in _CACHE:
        from components.searcher_builder import work
        from components.searcher_builder.options import SearcherOptions

        encoders = exported_encoders(root)
        base = os.path.join(str(root), f"searcher-{name}-{num_items}")
        vectors = clustered_unit_vectors(num_items, 16, spread=spread, seed=num_items)
        ids = np.arange(1, num_items + 1) * 7
        embeddings = os.path.join(base, "embeddings")
        write_embeddings(embeddings, ids, vectors)
        out = os.path.join(base, "searcher")
        captions = None
        if tune_with_captions:
            from components.common.captions import read_captions

            captions = read_captions(encoders["train_split"], 200)
        summary = work.build_searcher(
            embeddings,
            encoders["text_encoder"],
            out,
            SearcherOptions(**config_overrides),
            tuning_captions=captions,
        )
        _CACHE[key] = {
            **encoders,
            "embeddings": embeddings,
            "searcher": out,
            "ids": ids,
            "vectors": vectors,
            "summary": summary,
        }
    return _CACHE[key]


def make_searcher_dir(path, payload=b"tflite"):
    """A stand-in Searcher artifact directory: the files the pusher copies, with `payload`."""
    os.makedirs(path, exist_ok=True)
    for name in (formats.SEARCHER_TFLITE, formats.IMAGE_SEARCHER_TFLITE, formats.SEARCHER_SUMMARY):
        with open(os.path.join(path, name), "wb") as f:
            f.write(payload)
    return str(path)
