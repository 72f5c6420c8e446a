"""The embedding pipeline's DoFns and its statistics combiner.

Elements: the Examples' serialized tf.Examples are parsed into (ImageKey, image bytes);
RunInference (keyed) turns those into (ImageKey, PredictionResult); `ToEmbeddingRow` checks
each vector and serializes the output row, or routes a `Failed` image to the dead letters.
Every stage that can drop an image instead emits it on a tagged output that is counted,
so the driver can reconcile input = reused + embedded + dead letters.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import time
from typing import NamedTuple

import apache_beam as beam
import numpy as np

from components.common import embeddings_io, formats
from components.image_embedder.model_handler import Failed

# Beam's TFRecord code warns once per process that python-snappy is missing; its fallback,
# crcmod, has its C extension in this environment, so the warning is noise (in workers too:
# they import this module for the DoFns).
logging.getLogger("apache_beam.io.tfrecordio").setLevel(logging.ERROR)

# Which process embedded an image: the summary shows how the work spread over workers.
WORKER = f"{socket.gethostname()}:{os.getpid()}"
DEAD = "dead"
IDS = "ids"
REUSED = "reused"
CONFLICTS = "conflicts"
STATS = "stats"
# An L2-normalized float32 vector's norm is 1 to ~1e-6; anything further off is a model
# that does not keep the contract (formats.py: embeddings are L2-normalized).
NORM_TOLERANCE = 1e-3
_MAX_LISTED = 20


class ImageKey(NamedTuple):
    image_id: int
    file_name: str
    metadata: bytes


class EmbeddingCheckError(ValueError):
    """A vector that is not finite or not unit-norm: the model breaks its contract."""


def dead_letter(image_id, file_name: str, reason: str) -> str:
    return json.dumps({"image_id": image_id, "file_name": file_name, "reason": reason})


class ParseExample(beam.DoFn):
    """Serialized Examples -> (ImageKey, image bytes); a malformed record -> DEAD.
    Every image id also goes to IDS, for the duplicate check."""

    def process(self, raw: bytes):
        from tensorflow.core.example import example_pb2

        try:
            features = example_pb2.Example.FromString(raw).features.feature
        except Exception as e:  # protobuf's DecodeError, or anything else unparseable
            yield beam.pvalue.TaggedOutput(DEAD, dead_letter(None, "", f"not a tf.Example: {e}"))
            return
        ids = _values(features, formats.FEATURE_IMAGE_ID, "int64_list")
        names = _values(features, formats.FEATURE_FILE_NAME, "bytes_list")
        file_name = names[0].decode("utf-8", "replace") if names else ""
        if len(ids) != 1:
            yield beam.pvalue.TaggedOutput(
                DEAD,
                dead_letter(
                    None,
                    file_name,
                    (
                        f"malformed record: {formats.FEATURE_IMAGE_ID} has {len(ids)} values, expected 1"
                    ),
                ),
            )
            return
        image_id = int(ids[0])
        yield beam.pvalue.TaggedOutput(IDS, image_id)
        missing = [
            key
            for key in (formats.FEATURE_IMAGE, formats.FEATURE_METADATA)
            if key not in features or len(features[key].bytes_list.value) != 1
        ]
        if missing:
            yield beam.pvalue.TaggedOutput(
                DEAD,
                dead_letter(
                    image_id, file_name, f"malformed record: no single {' / '.join(missing)} value"
                ),
            )
            return
        key = ImageKey(image_id, file_name, features[formats.FEATURE_METADATA].bytes_list.value[0])
        yield key, features[formats.FEATURE_IMAGE].bytes_list.value[0]


def _values(features, key: str, kind: str):
    return getattr(features[key], kind).value if key in features else []


class SkipEmbedded(beam.DoFn):
    """Incremental mode: an image whose id the previous artifact has from the same file goes
    to REUSED (already indexed); from another file, to CONFLICTS as (id, indexed file, new
    file): one id cannot name two images."""

    def process(self, element, previous_files):
        key = element[0]
        if key.image_id not in previous_files:
            yield element
        elif previous_files[key.image_id] == key.file_name:
            yield beam.pvalue.TaggedOutput(REUSED, key.image_id)
        else:
            yield beam.pvalue.TaggedOutput(
                CONFLICTS, (key.image_id, previous_files[key.image_id], key.file_name)
            )


class ToEmbeddingRow(beam.DoFn):
    """(ImageKey, PredictionResult) -> serialized output row, with (norm, dim, time) on
    STATS; a `Failed` inference -> DEAD. A non-finite or non-unit vector fails the run."""

    def process(self, element):
        key, result = element
        inference = result.inference
        if isinstance(inference, Failed):
            yield beam.pvalue.TaggedOutput(
                DEAD, dead_letter(key.image_id, key.file_name, inference.reason)
            )
            return
        vector = np.asarray(inference, dtype=np.float32)
        norm = check_vector(vector, key.image_id, key.file_name)
        yield embeddings_io.encode_example(key.image_id, vector.tolist(), key.metadata)
        yield beam.pvalue.TaggedOutput(STATS, (norm, int(vector.shape[0]), time.time(), WORKER))


def check_vector(vector: np.ndarray, image_id, file_name: str) -> float:
    if vector.ndim != 1 or vector.size == 0:
        raise EmbeddingCheckError(
            f"image {image_id} ({file_name}): embedding has shape {vector.shape}"
        )
    if not np.all(np.isfinite(vector)):
        raise EmbeddingCheckError(f"image {image_id} ({file_name}): embedding is not finite")
    norm = float(np.linalg.norm(vector.astype(np.float64)))
    if abs(norm - 1.0) > NORM_TOLERANCE:
        raise EmbeddingCheckError(
            f"image {image_id} ({file_name}): embedding norm {norm:.6f} is not 1 "
            f"(tolerance {NORM_TOLERANCE}); the image encoder must L2-normalize"
        )
    return norm


class VectorStats(beam.CombineFn):
    """(norm, dim, time or None, worker or None) -> count, norm min/max/mean/std, dims,
    first/last time, images per worker."""

    def create_accumulator(self):
        return [0, math.inf, -math.inf, 0.0, 0.0, set(), math.inf, -math.inf, {}]

    def add_input(self, acc, item):
        norm, dim, at, worker = item
        if worker is not None:
            count, first, last = acc[8].get(worker, (0, math.inf, -math.inf))
            acc[8][worker] = (count + 1, min(first, at), max(last, at))
        acc[0] += 1
        acc[1] = min(acc[1], norm)
        acc[2] = max(acc[2], norm)
        acc[3] += norm
        acc[4] += norm * norm
        acc[5].add(dim)
        if at is not None:
            acc[6] = min(acc[6], at)
            acc[7] = max(acc[7], at)
        return acc

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for acc in accumulators:
            merged[0] += acc[0]
            merged[1] = min(merged[1], acc[1])
            merged[2] = max(merged[2], acc[2])
            merged[3] += acc[3]
            merged[4] += acc[4]
            merged[5] |= acc[5]
            merged[6] = min(merged[6], acc[6])
            merged[7] = max(merged[7], acc[7])
            for worker, (count, first, last) in acc[8].items():
                had = merged[8].get(worker, (0, math.inf, -math.inf))
                merged[8][worker] = (had[0] + count, min(had[1], first), max(had[2], last))
        return merged

    def extract_output(self, acc):
        count = acc[0]
        if not count:
            return {"count": 0, "dims": []}
        mean = acc[3] / count
        return {
            "count": count,
            "dims": sorted(acc[5]),
            "norm_sum": acc[3],
            "norm_sum_squares": acc[4],
            "norm_min": acc[1],
            "norm_max": acc[2],
            "norm_mean": mean,
            "norm_std": math.sqrt(max(acc[4] / count - mean * mean, 0.0)),
            "first_time": acc[6] if acc[6] != math.inf else None,
            "last_time": acc[7] if acc[7] != -math.inf else None,
            # Per worker: images and (first, last) embedded-batch times; worker start-up
            # is staggered, so the steady rate is the sum of the workers' own rates.
            "workers": sorted(acc[8].values(), reverse=True),
        }


class DeadLetterStats(beam.CombineFn):
    """Dead-letter JSON lines -> count and the most frequent reasons."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, line):
        reason = json.loads(line)["reason"]
        acc[reason] = acc.get(reason, 0) + 1
        return acc

    def merge_accumulators(self, accumulators):
        merged = {}
        for acc in accumulators:
            for reason, count in acc.items():
                merged[reason] = merged.get(reason, 0) + count
        return merged

    def extract_output(self, acc):
        top = sorted(acc.items(), key=lambda item: (-item[1], item[0]))[:_MAX_LISTED]
        return {"count": sum(acc.values()), "reasons": dict(top)}


def duplicate_ids(ids: beam.PCollection) -> beam.PCollection:
    """The first few ids that occur more than once, with their counts."""
    return (
        ids
        | "CountIds" >> beam.combiners.Count.PerElement()
        | "KeepRepeated" >> beam.Filter(lambda pair: pair[1] > 1)
        | "FirstRepeated" >> beam.combiners.Top.Smallest(_MAX_LISTED)
    )
