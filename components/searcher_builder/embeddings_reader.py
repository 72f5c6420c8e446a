"""Reads a t2i.Embeddings artifact (TensorFlow process).

Format (components/common/formats.py): sharded gzipped TFRecord files
`embeddings-*.tfrecord.gz` of tf.Example {image_id int64, embedding float list,
metadata bytes}. Rows come back sorted by image id, so the index does not depend on
how the producer sharded or ordered its output.
"""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from components.common import formats


class EmbeddingsError(ValueError):
    """The Embeddings artifact is missing, empty or malformed; the message names the file."""


@dataclass
class EmbeddingSet:
    image_ids: np.ndarray  # int64 [N]
    vectors: np.ndarray  # float32 [N, D]
    metadata: list[bytes]  # [N]

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def embedding_files(directory: str) -> list[str]:
    files = sorted(glob.glob(os.path.join(directory, f"{formats.EMBEDDINGS_FILE_PREFIX}-*.tfrecord.gz")))
    if not files:
        raise EmbeddingsError(f"{directory}: no {formats.EMBEDDINGS_FILE_PREFIX}-*.tfrecord.gz files")
    return files


def _parse_file(path: str, dim: int | None):
    records = tf.data.TFRecordDataset(path, compression_type="GZIP")
    ids, vectors, metadata = [], [], []
    for batch in records.batch(4096):
        parsed = tf.io.parse_example(batch, {
            formats.FEATURE_IMAGE_ID: tf.io.FixedLenFeature([], tf.int64),
            formats.EMBEDDING_FEATURE: tf.io.VarLenFeature(tf.float32),
            formats.FEATURE_METADATA: tf.io.FixedLenFeature([], tf.string),
        })
        ragged = tf.RaggedTensor.from_sparse(parsed[formats.EMBEDDING_FEATURE])
        lengths = set(ragged.row_lengths().numpy().tolist())
        dim = dim if dim is not None else max(lengths)
        if lengths != {dim} or dim == 0:
            raise EmbeddingsError(f"{path}: embedding lengths {sorted(lengths)}; "
                                  f"expected all {dim} (and not 0)")
        ids.append(parsed[formats.FEATURE_IMAGE_ID].numpy())
        vectors.append(ragged.to_tensor().numpy())
        metadata.extend(parsed[formats.FEATURE_METADATA].numpy().tolist())
    return ids, vectors, metadata, dim


def read_embeddings(directory: str) -> EmbeddingSet:
    all_ids, all_vectors, all_metadata, dim = [], [], [], None
    for path in embedding_files(directory):
        try:
            ids, vectors, metadata, dim = _parse_file(path, dim)
        except tf.errors.OpError as e:  # not gzip, truncated, or not tf.Example records
            raise EmbeddingsError(f"{path}: unreadable Embeddings records: "
                                  f"{e.message.splitlines()[0]}") from e
        all_ids += ids
        all_vectors += vectors
        all_metadata += metadata
    if not all_metadata:
        raise EmbeddingsError(f"{directory}: the Embeddings artifact holds no items")
    image_ids = np.concatenate(all_ids).astype(np.int64)
    vectors = np.concatenate(all_vectors).astype(np.float32)
    if not np.all(np.isfinite(vectors)):
        bad = image_ids[~np.all(np.isfinite(vectors), axis=1)][:5].tolist()
        raise EmbeddingsError(f"{directory}: non-finite embedding values (image ids {bad})")
    unique, counts = np.unique(image_ids, return_counts=True)
    if len(unique) != len(image_ids):
        raise EmbeddingsError(f"{directory}: duplicate image ids {unique[counts > 1][:5].tolist()}")
    if len(set(all_metadata)) != len(all_metadata):
        # Search results carry only the metadata: two items with the same string could
        # not be told apart (the item_metadata format starts with the unique image id).
        raise EmbeddingsError(f"{directory}: several items share one metadata string")
    _check_summary(directory, len(image_ids), vectors.shape[1])
    order = np.argsort(image_ids, kind="stable")
    return EmbeddingSet(image_ids[order], vectors[order], [all_metadata[i] for i in order])


def _check_summary(directory: str, count: int, dim: int) -> None:
    """The producer's embeddings_summary.json ("count", "dim"), when present, must agree:
    a mismatch means lost or extra shards."""
    path = os.path.join(directory, formats.EMBEDDINGS_SUMMARY)
    if not os.path.isfile(path):
        return
    with open(path) as f:
        summary = json.load(f)
    if summary.get("count") is not None and summary["count"] != count:
        raise EmbeddingsError(f"{path}: says {summary['count']} rows, the shards hold {count}")
    if summary.get("dim") and summary["dim"] != dim:
        raise EmbeddingsError(f"{path}: says dimension {summary['dim']}, the rows have {dim}")
