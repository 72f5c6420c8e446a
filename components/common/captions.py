"""Captions the searcher side checks, tunes and validates with.

The exporter checks its TFLite files on eval captions, the SearcherBuilder tunes on
train captions and the SearcherValidator queries with eval captions. Each wants many
different images, so one rule orders them (`first_captions_first`): the first caption of
every example comes first, later captions only fill up a short split.

The exporter's captions travel inside the Model artifact (formats.MODEL_EVAL_CAPTIONS,
written by the Trainer): with the Examples as an input, every new span of data would
re-run the exporter although the model had not changed.

TensorFlow is imported inside `read_captions` only (it reads TFRecords).
"""

from __future__ import annotations

import glob
import os
from typing import Iterable, Sequence

from components.common import formats

EVAL_CAPTIONS_LIMIT = 200  # captions in the Model artifact's eval_captions.txt


def first_captions_first(per_example: Iterable[Sequence[str]], max_count: int) -> list[str]:
    """Up to `max_count` distinct non-empty captions of the first `max_count` captioned
    examples: every example's first caption, then every second one, and so on."""
    examples = [captions for captions in per_example if captions][:max_count]
    ordered, seen = [], set()
    for position in range(max((len(c) for c in examples), default=0)):
        for example_captions in examples:
            if position < len(example_captions):
                caption = example_captions[position].strip()
                if caption and caption not in seen:
                    seen.add(caption)
                    ordered.append(caption)
    return ordered[:max_count]


def split_files(split_dir: str) -> list[str]:
    files = sorted(glob.glob(os.path.join(split_dir, "*.gz")))
    if not files:
        raise FileNotFoundError(f"{split_dir}: no gzipped TFRecord files (*.gz) in the split")
    return files


def read_captions(split_dir: str, max_count: int) -> list[str]:
    """Up to `max_count` captions of an Examples split, in `first_captions_first` order."""
    import tensorflow as tf

    per_example = []
    for record in tf.data.TFRecordDataset(split_files(split_dir), compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        feature = example.features.feature.get(formats.FEATURE_CAPTIONS)
        if feature is not None and feature.bytes_list.value:
            per_example.append([c.decode("utf-8") for c in feature.bytes_list.value])
        if len(per_example) >= max_count:
            break
    captions = first_captions_first(per_example, max_count)
    if not captions:
        raise ValueError(f"{split_dir}: no example has a caption ({formats.FEATURE_CAPTIONS})")
    return captions


def write_eval_captions(serving_dir: str, captions: Iterable[str]) -> str:
    """Writes the Model artifact's eval_captions.txt: the first EVAL_CAPTIONS_LIMIT distinct
    captions, one a line (possibly none). Returns its path."""
    lines: list[str] = []
    seen: set[str] = set()
    for caption in captions:
        if len(lines) == EVAL_CAPTIONS_LIMIT:
            break
        # A line break inside a caption would split it in two; to a tokenizer it is only
        # a delimiter, as a space is.
        line = " ".join(caption.splitlines()).strip()
        if line and line not in seen:
            seen.add(line)
            lines.append(line)
    path = os.path.join(serving_dir, formats.MODEL_EVAL_CAPTIONS)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{line}\n" for line in lines)
    return path


def read_eval_captions(serving_dir: str) -> list[str]:
    """The Model artifact's eval captions; raises naming the file when there are none."""
    path = os.path.join(serving_dir, formats.MODEL_EVAL_CAPTIONS)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: missing; the Model artifact has no eval captions "
            "(a model from before the Trainer wrote them: retrain it)"
        )
    with open(path, encoding="utf-8") as f:
        captions = [line for line in f.read().splitlines() if line.strip()]
    if not captions:
        raise ValueError(
            f"{path}: empty; the Trainer had no captioned eval images to write "
            "(data.eval_fraction 0?)"
        )
    return captions
