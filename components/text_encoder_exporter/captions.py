"""Reads evaluation captions from an Examples split (TensorFlow process).

The exporter checks its TFLite files on them and the SearcherValidator queries with
them; both want many different images, so the first caption of every example comes
first and later captions only fill up a short split.
"""
from __future__ import annotations

import glob
import os

import tensorflow as tf

from components.common import formats


def split_files(split_dir: str) -> list[str]:
    files = sorted(glob.glob(os.path.join(split_dir, "*.gz")))
    if not files:
        raise FileNotFoundError(f"{split_dir}: no gzipped TFRecord files (*.gz) in the split")
    return files


def read_captions(split_dir: str, max_count: int) -> list[str]:
    """Up to `max_count` distinct non-empty captions, round-robin over the examples."""
    per_example = []
    for record in tf.data.TFRecordDataset(split_files(split_dir), compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        feature = example.features.feature.get(formats.FEATURE_CAPTIONS)
        if feature is not None and feature.bytes_list.value:
            per_example.append([c.decode("utf-8") for c in feature.bytes_list.value])
        if len(per_example) >= max_count:
            break
    captions, seen = [], set()
    for position in range(max((len(c) for c in per_example), default=0)):
        for example_captions in per_example:
            if position < len(example_captions):
                caption = example_captions[position].strip()
                if caption and caption not in seen:
                    seen.add(caption)
                    captions.append(caption)
    if not captions:
        raise ValueError(f"{split_dir}: no example has a caption ({formats.FEATURE_CAPTIONS})")
    return captions[:max_count]
