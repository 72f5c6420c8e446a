"""Small inputs for the ImageEmbedder tests: an Examples-like index split of tiny JPEGs.

A stand-in for CocoExampleGen's output (components/coco_example_gen): `Split-index/`
with gzipped TFRecord shards of tf.Example carrying the features formats.py names.
"""

from __future__ import annotations

import io
import json
import os
import random

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw

from components.common import formats, item_metadata

CORRUPT_IMAGE = b"\x89PNG\r\n\x1a\n this is not really a PNG"


def jpeg(seed: int, size: int = 24) -> bytes:
    """A deterministic little picture: a coloured rectangle on a coloured background."""
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size), tuple(rng.randrange(256) for _ in range(3)))
    x0, y0 = rng.randrange(size // 2), rng.randrange(size // 2)
    ImageDraw.Draw(image).rectangle(
        [x0, y0, x0 + size // 3, y0 + size // 3], fill=tuple(rng.randrange(256) for _ in range(3))
    )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def file_name(image_id: int) -> str:
    return f"train2017/{image_id:012d}.jpg"


def example(image_id: int, image: bytes, span: int = 0) -> bytes:
    name = file_name(image_id)

    def ints(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    def strings(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                formats.FEATURE_IMAGE_ID: ints(image_id),
                formats.FEATURE_FILE_NAME: strings([name.encode()]),
                formats.FEATURE_IMAGE: strings([image]),
                formats.FEATURE_HEIGHT: ints(24),
                formats.FEATURE_WIDTH: ints(24),
                formats.FEATURE_CAPTIONS: strings([f"picture {image_id}".encode()]),
                formats.FEATURE_COCO_URL: strings([b""]),
                formats.FEATURE_FLICKR_URL: strings([b""]),
                formats.FEATURE_METADATA: strings(
                    [item_metadata.ItemMetadata(image_id, name).encode()]
                ),
                formats.FEATURE_SPAN: ints(span),
            }
        )
    ).SerializeToString()


def write_index_split(examples_dir: str, images: dict[int, bytes], shards: int = 2) -> str:
    """Writes `<examples_dir>/Split-index/data_tfrecord-0000k-of-0000n.gz`; returns the glob."""
    split_dir = os.path.join(examples_dir, f"Split-{formats.SPLIT_INDEX}")
    os.makedirs(split_dir, exist_ok=True)
    items = sorted(images.items())
    for shard in range(shards):
        path = os.path.join(split_dir, f"data_tfrecord-{shard:05d}-of-{shards:05d}.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for image_id, image in items[shard::shards]:
                writer.write(example(image_id, image))
    return os.path.join(split_dir, "*")


def direct_embeddings(serving_dir: str, images: dict[int, bytes]) -> dict[int, np.ndarray]:
    """The reference: each image through the SavedModel's bytes signature, one at a time."""
    loaded = tf.saved_model.load(os.path.join(serving_dir, formats.MODEL_IMAGE_ENCODER))
    signature = loaded.signatures[formats.SIGNATURE_IMAGE_BYTES]
    (input_name,) = signature.structured_input_signature[1]
    return {
        image_id: signature(**{input_name: tf.constant([image])})[formats.OUTPUT_EMBEDDING].numpy()[
            0
        ]
        for image_id, image in images.items()
    }


def read_dead_letters(uri: str) -> list[dict]:
    """The dead-letter records an Embeddings directory holds (none when the file is absent)."""
    path = os.path.join(uri, formats.DEAD_LETTERS)
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as f:
        return [json.loads(line) for line in f if line.strip()]
