"""The Embeddings artifact's files (formats.py): how they are named, encoded and read.

    embeddings-00000-of-0000N.tfrecord.gz   gzipped TFRecord of tf.Example
                                            {image_id int64, embedding float list [D],
                                             metadata bytes (item_metadata format)}
    embeddings_summary.json                 count, dim, model, norms, timing, mode, ...
    dead_letters.jsonl                      {"image_id", "file_name", "reason"} per line

`read_embeddings(uri)` is the reader for consumers (SearcherBuilder, evaluators);
`write_embeddings(...)` writes the same format without Beam, for consumers' tests.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Iterable, Sequence

import numpy as np

from components.common import formats

SHARD_SUFFIX = ".tfrecord.gz"
FILE_GLOB = f"{formats.EMBEDDINGS_FILE_PREFIX}-*{SHARD_SUFFIX}"
_READ_BATCH = 8192

# Beam's TFRecord code warns once per process that python-snappy is missing; its fallback,
# crcmod, has its C extension in this environment, so the warning is noise (in workers too:
# the pipeline's DoFns import this module).
logging.getLogger("apache_beam.io.tfrecordio").setLevel(logging.ERROR)


class EmbeddingsFormatError(ValueError):
    pass


def embedding_files(uri: str) -> list[str]:
    import tensorflow as tf

    return sorted(tf.io.gfile.glob(os.path.join(uri, FILE_GLOB)))


def encode_example(image_id: int, vector: Sequence[float], metadata: bytes) -> bytes:
    from tensorflow.core.example import example_pb2, feature_pb2

    feature = feature_pb2.Feature
    return example_pb2.Example(features=feature_pb2.Features(feature={
        formats.FEATURE_IMAGE_ID: feature(int64_list=feature_pb2.Int64List(value=[int(image_id)])),
        formats.EMBEDDING_FEATURE: feature(float_list=feature_pb2.FloatList(value=vector)),
        formats.FEATURE_METADATA: feature(bytes_list=feature_pb2.BytesList(value=[metadata])),
    })).SerializeToString()


def decode_example(raw: bytes) -> tuple[int, np.ndarray, bytes]:
    """(image_id, vector float32 [D], metadata) of one serialized row."""
    from tensorflow.core.example import example_pb2

    features = example_pb2.Example.FromString(raw).features.feature
    try:
        image_id = features[formats.FEATURE_IMAGE_ID].int64_list.value[0]
        metadata = features[formats.FEATURE_METADATA].bytes_list.value[0]
    except IndexError:
        raise EmbeddingsFormatError(
            f"embeddings row without {formats.FEATURE_IMAGE_ID} or {formats.FEATURE_METADATA}") from None
    vector = np.asarray(features[formats.EMBEDDING_FEATURE].float_list.value, dtype=np.float32)
    return image_id, vector, metadata


def read_embeddings(uri: str) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """All rows of an Embeddings artifact, sorted by image id: (ids int64 [N],
    vectors float32 [N, D], metadata [N]). Checks the row count and dimension against
    embeddings_summary.json when there is one."""
    import tensorflow as tf

    files = embedding_files(uri)
    summary = read_summary(uri)
    dim = summary.get("dim") if summary else None
    if not files:
        if summary and summary.get("count"):
            raise EmbeddingsFormatError(f"{uri}: the summary says {summary['count']} rows, "
                                        f"but there are no {FILE_GLOB} files")
        return np.zeros([0], np.int64), np.zeros([0, dim or 0], np.float32), []
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if not dim:
        first = next(iter(dataset.take(1)), None)
        dim = len(decode_example(first.numpy())[1]) if first is not None else 0
    spec = {
        formats.FEATURE_IMAGE_ID: tf.io.FixedLenFeature([], tf.int64),
        formats.EMBEDDING_FEATURE: tf.io.FixedLenFeature([dim], tf.float32),
        formats.FEATURE_METADATA: tf.io.FixedLenFeature([], tf.string),
    }
    ids, vectors, metadata = [], [], []
    try:
        for batch in dataset.batch(_READ_BATCH).map(lambda raw: tf.io.parse_example(raw, spec)):
            ids.append(batch[formats.FEATURE_IMAGE_ID].numpy())
            vectors.append(batch[formats.EMBEDDING_FEATURE].numpy())
            metadata.extend(batch[formats.FEATURE_METADATA].numpy().tolist())
    except tf.errors.InvalidArgumentError as e:
        raise EmbeddingsFormatError(f"{uri}: rows do not all have image_id, metadata and a "
                                    f"{dim}-d embedding: {e.message.splitlines()[0]}") from e
    ids_array = np.concatenate(ids) if ids else np.zeros([0], np.int64)
    vectors_array = np.concatenate(vectors) if vectors else np.zeros([0, dim], np.float32)
    if summary and summary.get("count") is not None and summary["count"] != len(ids_array):
        raise EmbeddingsFormatError(f"{uri}: {len(ids_array)} rows, the summary says {summary['count']}")
    order = np.argsort(ids_array, kind="stable")
    return ids_array[order], vectors_array[order], [metadata[i] for i in order]


def write_embeddings(uri: str, ids: Iterable[int], vectors: np.ndarray,
                     metadata: Sequence[bytes], summary: dict | None = None) -> None:
    """Writes one shard (and the summary, when given) in the artifact format."""
    import tensorflow as tf

    tf.io.gfile.makedirs(uri)
    path = os.path.join(uri, f"{formats.EMBEDDINGS_FILE_PREFIX}-00000-of-00001{SHARD_SUFFIX}")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for image_id, vector, meta in zip(ids, vectors, metadata, strict=True):
            writer.write(encode_example(image_id, np.asarray(vector, np.float32).tolist(), meta))
    if summary is not None:
        write_json(os.path.join(uri, formats.EMBEDDINGS_SUMMARY), summary)


def read_summary(uri: str) -> dict | None:
    import tensorflow as tf

    path = os.path.join(uri, formats.EMBEDDINGS_SUMMARY)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def read_dead_letters(uri: str) -> list[dict]:
    import tensorflow as tf

    path = os.path.join(uri, formats.DEAD_LETTERS)
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_json(path: str, value: dict) -> None:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(value, indent=2, sort_keys=True) + "\n")
