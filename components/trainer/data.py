"""Input pipeline: Examples (gzipped TFRecords of tf.Example, formats.py) -> tf.data.

One element per image: its pixels and one of its captions, sampled afresh each epoch, so
an image appears once per batch and two captions of one image are never each other's
negatives. Decoding and resizing happen once (before the cache); `decode_and_resize` is
the very function the image SavedModel's bytes signature runs, so training and serving
see the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from components.common import formats, tf_text
from components.common.examples_io import SplitScan


def decode_and_resize(encoded: tf.Tensor, image_size: int) -> tf.Tensor:
    """Encoded JPEG/PNG bytes -> uint8 [S, S, 3] RGB.

    The whole image is resized to a square (no crop: a caption may be about what is at
    the edge, "on the left"); antialiasing keeps large photos from aliasing. Rounding to
    uint8 lets the training cache hold a quarter of the bytes, and serving rounds too.
    """
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image = tf.image.resize(image, [image_size, image_size], method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


_PARSE_SPEC = {
    formats.FEATURE_IMAGE: tf.io.FixedLenFeature([], tf.string),
    formats.FEATURE_CAPTIONS: tf.io.VarLenFeature(tf.string),
}


def _parse(record: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    parsed = tf.io.parse_single_example(record, _PARSE_SPEC)
    return parsed[formats.FEATURE_IMAGE], tf.sparse.to_dense(parsed[formats.FEATURE_CAPTIONS])


def caption_encoder(table, max_tokens: int):
    """[n] strings -> what the text tower takes: [n, max_tokens] ids, or the strings as they
    are for a string-input (hub) tower."""
    if table is None:
        return lambda captions: captions
    return lambda captions: tf_text.token_ids(captions, table, max_tokens)


def training_dataset(
    files: list[str], encode_captions, image_size: int, batch_size: int, seed: int, num_images: int
) -> tf.data.Dataset:
    """Batches of (uint8 pixels [B, S, S, 3], one caption per image [B, T] ids or [B] strings)."""

    def prepare(record):
        encoded, captions = _parse(record)
        return decode_and_resize(encoded, image_size), encode_captions(captions)

    dataset = (
        tf.data.TFRecordDataset(files, "GZIP")
        .map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
        .filter(lambda image, captions: tf.shape(captions)[0] > 0)
        .cache()
        # A full-size buffer is a uniform shuffle; reshuffled every epoch.
        .shuffle(num_images, seed=seed, reshuffle_each_iteration=True)
        .enumerate()
    )

    def sample_caption(position, element):
        image, captions = element
        # Stateless: the choice depends on (seed, position in this epoch's order) only,
        # so parallel map calls cannot change it; the order changes every epoch.
        pick = tf.random.stateless_uniform(
            [],
            seed=tf.stack([tf.cast(seed, tf.int64), position]),
            maxval=tf.shape(captions)[0],
            dtype=tf.int32,
        )
        return image, captions[pick]

    return (
        dataset.map(sample_caption, num_parallel_calls=tf.data.AUTOTUNE)
        # Whole batches only: every step contrasts batch_size pairs.
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )


@dataclass
class EvalSet:
    """An eval split in memory: every image (the gallery) and every caption (the queries)."""

    images: np.ndarray  # uint8 [images, S, S, 3]
    image_ids: np.ndarray  # int64 [images]
    captions: list[str]
    caption_image_index: np.ndarray  # int64 [captions], row in `images`

    @property
    def has_queries(self) -> bool:
        return len(self.captions) > 0


def load_eval_set(files: list[str], scan: SplitScan, image_size: int) -> EvalSet:
    def prepare(record):
        encoded, _ = _parse(record)
        return decode_and_resize(encoded, image_size)

    dataset = (
        tf.data.TFRecordDataset(files, "GZIP")
        .map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(256)
    )
    batches = [batch.numpy() for batch in dataset]
    images = (
        np.concatenate(batches) if batches else np.zeros([0, image_size, image_size, 3], np.uint8)
    )
    captions, index = [], []
    for row, image_captions in enumerate(scan.captions):
        captions.extend(image_captions)
        index.extend([row] * len(image_captions))
    return EvalSet(
        images, np.asarray(scan.image_ids, np.int64), captions, np.asarray(index, np.int64)
    )
