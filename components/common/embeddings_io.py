"""The t2i.Embeddings artifact's files (formats.py): how they are named, encoded and read.

    embeddings-00000-of-0000N.tfrecord.gz   gzipped TFRecord of tf.Example
                                            {image_id int64, embedding float list [D],
                                             metadata bytes (item_metadata format)}
    embeddings_summary.json                 count, dim, model, norms, timing, mode, ...
    dead_letters.jsonl                      {"image_id", "file_name", "reason"} per line

The ImageEmbedder writes rows with `encode_example`; consumers (SearcherBuilder,
SearcherValidator, tests) read the whole artifact with `read_embeddings`, which refuses
anything a searcher could not index faithfully. `write_embeddings` writes the format
without Beam, for consumers' tests and benchmarks.

TensorFlow is imported inside the functions: Beam workers import this module, and the
TFRecord and tf.Example code is all it needs of it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from components.common import formats

SHARD_SUFFIX = ".tfrecord.gz"
FILE_GLOB = f"{formats.EMBEDDINGS_FILE_PREFIX}-*{SHARD_SUFFIX}"
_READ_BATCH = 4096


class EmbeddingsFormatError(ValueError):
    """The Embeddings artifact is missing, empty or malformed; the message names the file."""


@dataclass
class EmbeddingSet:
    """Rows of an Embeddings artifact (read_embeddings sorts them by image id)."""

    image_ids: np.ndarray  # int64 [N]
    vectors: np.ndarray  # float32 [N, D]
    metadata: list[bytes]  # [N]

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def take(self, rows: Sequence[int]) -> "EmbeddingSet":
        """The given rows, in that order."""
        index = np.asarray(rows, np.int64)
        return EmbeddingSet(
            self.image_ids[index], self.vectors[index], [self.metadata[row] for row in index]
        )


def embedding_files(uri: str) -> list[str]:
    """The artifact's shards, sorted; empty when there are none."""
    import tensorflow as tf

    return sorted(tf.io.gfile.glob(os.path.join(uri, FILE_GLOB)))


def encode_example(image_id: int, vector: Sequence[float], metadata: bytes) -> bytes:
    from tensorflow.core.example import example_pb2, feature_pb2

    feature = feature_pb2.Feature
    return example_pb2.Example(
        features=feature_pb2.Features(
            feature={
                formats.FEATURE_IMAGE_ID: feature(
                    int64_list=feature_pb2.Int64List(value=[int(image_id)])
                ),
                formats.EMBEDDING_FEATURE: feature(float_list=feature_pb2.FloatList(value=vector)),
                formats.FEATURE_METADATA: feature(
                    bytes_list=feature_pb2.BytesList(value=[metadata])
                ),
            }
        )
    ).SerializeToString()


def read_embeddings(uri: str) -> EmbeddingSet:
    """Every row, sorted by image id (so nothing downstream depends on how the producer
    sharded or ordered its output). Raises EmbeddingsFormatError for no shards, unreadable
    shards, ragged or empty vectors, no rows, non-finite values, duplicate image ids or
    metadata strings, and a disagreeing embeddings_summary.json."""
    import tensorflow as tf

    files = embedding_files(uri)
    if not files:
        raise EmbeddingsFormatError(f"{uri}: no {FILE_GLOB} files")
    all_ids, all_vectors, all_metadata, dim = [], [], [], None
    for path in files:
        try:
            ids, vectors, metadata, dim = _read_shard(path, dim)
        except tf.errors.OpError as e:  # not gzip, truncated, or not tf.Example records
            raise EmbeddingsFormatError(
                f"{path}: unreadable Embeddings records: {e.message.splitlines()[0]}"
            ) from e
        all_ids += ids
        all_vectors += vectors
        all_metadata += metadata
    if not all_metadata:
        raise EmbeddingsFormatError(f"{uri}: the Embeddings artifact holds no items")
    items = EmbeddingSet(
        np.concatenate(all_ids).astype(np.int64),
        np.concatenate(all_vectors).astype(np.float32),
        all_metadata,
    )
    _check_rows(uri, items)
    _check_summary(uri, len(items), items.dim)
    order = np.argsort(items.image_ids, kind="stable")
    return EmbeddingSet(
        items.image_ids[order], items.vectors[order], [items.metadata[i] for i in order]
    )


def _read_shard(path: str, dim: int | None):
    """(ids, vectors, metadata) batches of one shard, and the dimension, which every row
    of every shard must share (`dim`: the earlier shards' one, None for the first)."""
    import tensorflow as tf

    ids, vectors, metadata = [], [], []
    for batch in tf.data.TFRecordDataset(path, compression_type="GZIP").batch(_READ_BATCH):
        parsed = tf.io.parse_example(
            batch,
            {
                formats.FEATURE_IMAGE_ID: tf.io.FixedLenFeature([], tf.int64),
                formats.EMBEDDING_FEATURE: tf.io.VarLenFeature(tf.float32),
                formats.FEATURE_METADATA: tf.io.FixedLenFeature([], tf.string),
            },
        )
        ragged = tf.RaggedTensor.from_sparse(parsed[formats.EMBEDDING_FEATURE])
        lengths = set(ragged.row_lengths().numpy().tolist())
        dim = dim if dim is not None else max(lengths)
        if lengths != {dim} or dim == 0:
            raise EmbeddingsFormatError(
                f"{path}: embedding lengths {sorted(lengths)}; expected all {dim} (and not 0)"
            )
        ids.append(parsed[formats.FEATURE_IMAGE_ID].numpy())
        vectors.append(ragged.to_tensor().numpy())
        metadata.extend(parsed[formats.FEATURE_METADATA].numpy().tolist())
    return ids, vectors, metadata, dim


def _check_rows(uri: str, items: EmbeddingSet) -> None:
    finite = np.all(np.isfinite(items.vectors), axis=1)
    if not np.all(finite):
        bad = items.image_ids[~finite][:5].tolist()
        raise EmbeddingsFormatError(f"{uri}: non-finite embedding values (image ids {bad})")
    unique, counts = np.unique(items.image_ids, return_counts=True)
    if len(unique) != len(items):
        raise EmbeddingsFormatError(f"{uri}: duplicate image ids {unique[counts > 1][:5].tolist()}")
    if len(set(items.metadata)) != len(items.metadata):
        # Search results carry only the metadata: two items with the same string could
        # not be told apart (the item_metadata format starts with the unique image id).
        raise EmbeddingsFormatError(f"{uri}: several items share one metadata string")


def _check_summary(uri: str, count: int, dim: int) -> None:
    """The producer's embeddings_summary.json ("count", "dim"), when present, must agree:
    a mismatch means lost or extra shards."""
    summary = read_summary(uri)
    if summary is None:
        return
    path = os.path.join(uri, formats.EMBEDDINGS_SUMMARY)
    if summary.get("count") is not None and summary["count"] != count:
        raise EmbeddingsFormatError(
            f"{path}: says {summary['count']} rows, the shards hold {count}"
        )
    if summary.get("dim") and summary["dim"] != dim:
        raise EmbeddingsFormatError(f"{path}: says dimension {summary['dim']}, the rows have {dim}")


def write_embeddings(
    uri: str,
    ids: Iterable[int],
    vectors: np.ndarray,
    metadata: Sequence[bytes],
    summary: dict | None = None,
    shards: int = 1,
) -> None:
    """Writes the rows round-robin over `shards` shards (and the summary, when given) in
    the artifact format."""
    import tensorflow as tf

    tf.io.gfile.makedirs(uri)
    writers = [
        tf.io.TFRecordWriter(
            os.path.join(
                uri, f"{formats.EMBEDDINGS_FILE_PREFIX}-{s:05d}-of-{shards:05d}{SHARD_SUFFIX}"
            ),
            options="GZIP",
        )
        for s in range(shards)
    ]
    try:
        rows = zip(ids, vectors, metadata, strict=True)
        for row, (image_id, vector, meta) in enumerate(rows):
            writers[row % shards].write(
                encode_example(image_id, np.asarray(vector, np.float32).tolist(), meta)
            )
    finally:
        for writer in writers:
            writer.close()
    if summary is not None:
        write_json(os.path.join(uri, formats.EMBEDDINGS_SUMMARY), summary)


def read_summary(uri: str) -> dict | None:
    import tensorflow as tf

    path = os.path.join(uri, formats.EMBEDDINGS_SUMMARY)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def same_model(previous: dict, current: dict) -> bool:
    """Same serving directory, and the same MLMD artifact id when both runs know it."""
    if not previous.get("uri") or os.path.normpath(previous["uri"]) != os.path.normpath(
        current["uri"]
    ):
        return False
    ids = (previous.get("artifact_id"), current.get("artifact_id"))
    return None in ids or ids[0] == ids[1]


def write_json(path: str, value: dict) -> None:
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(value, indent=2, sort_keys=True) + "\n")
